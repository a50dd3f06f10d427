package bench

import (
	"fmt"
	"slices"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/whippet-agent/whippet/pkg/batch"
	"github.com/whippet-agent/whippet/pkg/encode/mpack"
)

// BenchmarkMpack encodes and decodes one cycle in the spool's record format
// (pkg/encode/mpack: every string once per record, referred to by index)
// beside the same batch marshalled naively by msgpack with inline strings (a
// struct per point or process, encoded as an array so that field names do not
// count against it: only the string table differs).
//
//	metrics    200 containers × 40 points = 8,000 points, ECS-like tags (18 per container)
//	processes  200 containers × 25 processes, ECS-like container tags
//
// B/record is the record's size; zstdB/record its size after zstd (level 3,
// the spool's likely compression), which shows how much of the string table's
// gain survives compression.
const (
	mpackContainers = 200
	mpackPoints     = 40 // per container
	mpackProcs      = 25 // per container
)

// mpackNaive is the batch as a consumer would marshal it without a string
// table: each point carries its name and tags.
type mpackNaive struct {
	//lint:ignore U1000 the msgpack library reads this field's tag
	_msgpack  struct{} `msgpack:",as_array"`
	Host      string
	Timestamp int64
	Interval  int64
	Points    []mpackNaivePoint
}

type mpackNaivePoint struct {
	//lint:ignore U1000 the msgpack library reads this field's tag
	_msgpack struct{} `msgpack:",as_array"`
	Name     string
	Type     batch.MetricType
	Value    float64
	Tags     []string
}

func mpackToNaive(m *batch.Metrics) *mpackNaive {
	n := &mpackNaive{Host: m.Host, Timestamp: m.Timestamp, Interval: m.Interval}
	for i := range m.Points {
		p := &m.Points[i]
		n.Points = append(n.Points, mpackNaivePoint{Name: p.Name, Type: p.Type, Value: p.Value, Tags: m.Tags(p)})
	}
	return n
}

func mpackECSTags(i int) []string {
	svc := fmt.Sprintf("svc%02d", i%10)
	tags := []string{
		fmt.Sprintf("container_id:%064x", i*7919+1),
		fmt.Sprintf("container_name:ecs-%s-%d-%s-%016x", svc, 40+i%3, svc, i*104729),
		"docker_image:123456789012.dkr.ecr.eu-west-1.amazonaws.com/" + svc + ":v1.2." + fmt.Sprint(i%3),
		"ecs_cluster_name:prod-cluster",
		"ecs_container_name:" + svc,
		"image_id:sha256:" + fmt.Sprintf("%064x", i%10+99),
		"image_name:123456789012.dkr.ecr.eu-west-1.amazonaws.com/" + svc,
		"image_tag:v1.2." + fmt.Sprint(i%3),
		"short_image:" + svc,
		fmt.Sprintf("task_arn:arn:aws:ecs:eu-west-1:123456789012:task/prod-cluster/%032x", i*31337),
		"task_family:" + svc,
		"task_version:" + fmt.Sprint(40+i%3),
		"task_name:" + svc,
		"cluster_name:prod-cluster",
		"region:eu-west-1",
		"availability_zone:eu-west-1a",
		"env:prod",
		"service:" + svc,
	}
	slices.Sort(tags)
	return tags
}

func mpackMetrics() *batch.Metrics {
	names := make([]string, mpackPoints)
	for i := range names {
		names[i] = [...]string{"container.", "docker."}[i%2] + [...]string{"cpu.", "memory.", "io.", "net.", "pid."}[i%5] + fmt.Sprintf("metric_%02d", i)
	}
	m := &batch.Metrics{Host: "i-0123456789abcdef0", Timestamp: 1764167400, Interval: 15}
	for c := range mpackContainers {
		base := mpackECSTags(c)
		ts := m.AddTagSet(base)
		net := m.AddTagSet(slices.Sorted(slices.Values(append(slices.Clone(base), "interface:eth0"))))
		for i, name := range names {
			tags := ts
			if i%5 == 3 {
				tags = net
			}
			m.Add(name, batch.MetricType(1+2*(i%2)), float64(c*1000+i)*1.25, tags)
		}
	}
	return m
}

func mpackProcesses() *batch.Processes {
	p := &batch.Processes{Host: "i-0123456789abcdef0", Timestamp: 1764167400123, Interval: 10,
		System: batch.System{CPUs: 16, TotalMemory: 64 << 30, KernelVersion: "6.18.0-1.amzn2023.x86_64", OS: "linux"}}
	args := []string{
		"java\x00-Xms512m\x00-Xmx2g\x00-XX:+UseG1GC\x00-Dspring.profiles.active=prod\x00-Dlogging.config=/app/logback.xml\x00-jar\x00/app/service.jar\x00--server.port=8080\x00",
		"/usr/local/bin/python3\x00/usr/local/bin/gunicorn\x00app.wsgi:application\x00--workers=8\x00--bind=0.0.0.0:8000\x00--timeout=30\x00",
		"nginx: worker process\x00",
		"node\x00/app/dist/server.js\x00",
		"/bin/sh\x00-c\x00/entrypoint.sh\x00",
	}
	users := []string{"root", "app", "www-data", "nobody"}
	pid := int32(1000)
	for c := range mpackContainers {
		tags := mpackECSTags(c)
		id := tags[slices.IndexFunc(tags, func(t string) bool { return len(t) > 13 && t[:13] == "container_id:" })][13:]
		p.Containers = append(p.Containers, batch.Container{
			ID: id, Name: fmt.Sprintf("ecs-svc%02d-%d", c%10, c), Runtime: "docker", Tags: tags, State: batch.StateRunning,
			Created: 1764160000, Started: 1764160001, CPULimit: 100, MemoryLimit: 1 << 30,
			UserPct: 3.5, SystemPct: 1.25, TotalPct: 4.75, CPUUsageNs: 47.5e6, ReadBps: 1024, WriteBps: 4096,
			NetRcvdPs: 120, NetSentPs: 110, NetRcvdBps: 96000, NetSentBps: 64000,
			MemRSS: 300 << 20, MemCache: 40 << 20, MemUsage: 350 << 20, MemAccounted: 310 << 20, ThreadCount: 60, ThreadLimit: 4096,
		})
		for i := range mpackProcs {
			pr := p.Next()
			a := args[(c+i/5)%len(args)]
			pr.PID, pr.PPID, pr.NsPID = pid, pid-int32(i), int32(i+1)
			pid++
			pr.Args = append(pr.Args, a...)
			pr.Comm = append(pr.Comm, a[:min(15, len(a))]...)
			pr.Exe = append(pr.Exe, "/usr/bin/"...)
			pr.User, pr.UID, pr.GID = users[i%len(users)], uint32(i%4*1000), uint32(i%4*1000)
			pr.State, pr.CreateTime, pr.Threads, pr.OpenFDs = 'S', 1764160001000+int64(i), 4, 32
			pr.UserPct, pr.SystemPct, pr.TotalPct = 0.5, 0.25, 0.75
			pr.UserTime, pr.SystemTime, pr.RSS, pr.VMS = uint64(i*100), uint64(i*50), uint64(i+20)<<20, uint64(i+200)<<20
			pr.ReadRate, pr.WriteRate, pr.ReadBytesRate, pr.WriteBytesRate = 10, 5, 4096, 2048
			pr.VolCtxSwitches, pr.InvolCtxSwitches, pr.ContainerID = uint64(i*1000), uint64(i*10), id
		}
	}
	return p
}

// mpackMarshalArrays is msgpack.Marshal with structs encoded as arrays, for the
// batch types, which carry no msgpack tags.
func mpackMarshalArrays(v any) []byte {
	enc := msgpack.GetEncoder()
	defer msgpack.PutEncoder(enc)
	var buf mpackBuffer
	enc.Reset(&buf)
	enc.UseArrayEncodedStructs(true)
	if err := enc.Encode(v); err != nil {
		panic(err)
	}
	return buf.b
}

type mpackBuffer struct{ b []byte }

func (w *mpackBuffer) Write(p []byte) (int, error) { w.b = append(w.b, p...); return len(p), nil }

// mpackReportSize reports a record's size plain and zstd-compressed; it runs after
// the timed loop, whose start discards metrics reported before it.
func mpackReportSize(b *testing.B, rec []byte) {
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault))
	if err != nil {
		b.Fatal(err)
	}
	defer enc.Close()
	b.ReportMetric(float64(len(rec)), "B/record")
	b.ReportMetric(float64(len(enc.EncodeAll(rec, nil))), "zstdB/record")
}

func BenchmarkMpack(b *testing.B) {
	m, p := mpackMetrics(), mpackProcesses()
	naive := mpackToNaive(m)

	b.Run("metrics/encode/whippet", func(b *testing.B) {
		var e mpack.Encoder
		buf := e.AppendMetrics(nil, m) // warm: the string table learns the strings
		b.ReportAllocs()
		for b.Loop() {
			buf = e.AppendMetrics(buf[:0], m)
		}
		mpackReportSize(b, buf)
	})
	b.Run("metrics/encode/naive", func(b *testing.B) {
		var rec []byte
		b.ReportAllocs()
		for b.Loop() {
			var err error
			if rec, err = msgpack.Marshal(naive); err != nil {
				b.Fatal(err)
			}
		}
		mpackReportSize(b, rec)
	})
	b.Run("metrics/decode/whippet", func(b *testing.B) {
		var (
			e   mpack.Encoder
			d   mpack.Decoder
			out batch.Metrics
		)
		rec := e.AppendMetrics(nil, m)
		if _, err := d.Decode(rec, &out, nil); err != nil { // warm: interned strings, batch capacity
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := d.Decode(rec, &out, nil); err != nil {
				b.Fatal(err)
			}
		}
		if len(out.Points) != len(m.Points) {
			b.Fatalf("decoded %d points, want %d", len(out.Points), len(m.Points))
		}
	})
	b.Run("metrics/decode/naive", func(b *testing.B) {
		rec, err := msgpack.Marshal(naive)
		if err != nil {
			b.Fatal(err)
		}
		var out mpackNaive
		if err := msgpack.Unmarshal(rec, &out); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			out.Points = out.Points[:0]
			if err := msgpack.Unmarshal(rec, &out); err != nil {
				b.Fatal(err)
			}
		}
		if len(out.Points) != len(m.Points) {
			b.Fatalf("decoded %d points, want %d", len(out.Points), len(m.Points))
		}
	})

	b.Run("processes/encode/whippet", func(b *testing.B) {
		var e mpack.Encoder
		buf := e.AppendProcesses(nil, p)
		b.ReportAllocs()
		for b.Loop() {
			buf = e.AppendProcesses(buf[:0], p)
		}
		mpackReportSize(b, buf)
	})
	b.Run("processes/encode/naive", func(b *testing.B) {
		var rec []byte
		b.ReportAllocs()
		for b.Loop() {
			rec = mpackMarshalArrays(p)
		}
		mpackReportSize(b, rec)
	})
	b.Run("processes/decode/whippet", func(b *testing.B) {
		var (
			e   mpack.Encoder
			d   mpack.Decoder
			out batch.Processes
		)
		rec := e.AppendProcesses(nil, p)
		if _, err := d.Decode(rec, nil, &out); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := d.Decode(rec, nil, &out); err != nil {
				b.Fatal(err)
			}
		}
		if len(out.Procs) != len(p.Procs) {
			b.Fatalf("decoded %d processes, want %d", len(out.Procs), len(p.Procs))
		}
	})
	b.Run("processes/decode/naive", func(b *testing.B) {
		rec := mpackMarshalArrays(p)
		var out batch.Processes
		if err := msgpack.Unmarshal(rec, &out); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			out.Procs, out.Containers = out.Procs[:0], out.Containers[:0]
			if err := msgpack.Unmarshal(rec, &out); err != nil {
				b.Fatal(err)
			}
		}
		if len(out.Procs) != len(p.Procs) {
			b.Fatalf("decoded %d processes, want %d", len(out.Procs), len(p.Procs))
		}
	})
}
