package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/DataDog/agent-payload/v5/process"
	"github.com/klauspost/compress/zlib"

	"github.com/whippet-agent/whippet/pkg/batch"
	"github.com/whippet-agent/whippet/pkg/encode"
)

// One op of the encode benchmarks is one cycle of a 200-container ECS host:
// ~40 series per container (container.* and docker.*, tagged with the ECS tag
// set) plus ~100 host series, and a 5,000-process Live Processes run.
//
//	series/zstd, /deflate,    pkg/encode.SeriesEncoder, protobuf v2 bodies (none: the
//	series/none               marshalling alone, and the uncompressed size)
//	series/v1-json-zlib       the same points as v1 JSON, zlib-compressed: what
//	                          Telegraf's Datadog output sends (a size baseline)
//	processes/whippet         pkg/encode.ProcessEncoder, hand-marshalled chunks
//	processes/agent-payload   the same chunks built as agent-payload structs and
//	                          encoded with process.EncodeMessage (encoding 5)
//
// Metrics: B/cycle is the compressed bytes a cycle puts on the wire; payloads/cycle
// the request count; v1/v2 the v1 JSON+zlib size over the v2 protobuf+zstd size.
//
//	cd bench && go test -run '^$' -bench 'Encode' -benchmem -count 5
const (
	encContainers = 200
	encProcesses  = 5000
)

var encContainerMetrics = []string{
	"container.cpu.usage", "container.cpu.user", "container.cpu.system", "container.cpu.throttled",
	"container.cpu.throttled.periods", "container.cpu.limit", "container.memory.usage", "container.memory.limit",
	"container.memory.rss", "container.memory.cache", "container.memory.working_set", "container.memory.swap",
	"container.memory.oom_events", "container.memory.page_faults", "container.memory.major_page_faults",
	"container.io.read", "container.io.write", "container.io.read.operations", "container.io.write.operations",
	"container.net.sent", "container.net.rcvd", "container.net.sent.packets", "container.net.rcvd.packets",
	"container.pid.thread_count", "container.pid.open_files", "container.uptime",
}

var encDockerMetrics = []string{
	"docker.cpu.usage", "docker.cpu.user", "docker.cpu.system", "docker.cpu.throttled", "docker.cpu.shares",
	"docker.mem.rss", "docker.mem.cache", "docker.mem.limit", "docker.mem.in_use", "docker.io.read_bytes",
	"docker.io.write_bytes", "docker.net.bytes_rcvd", "docker.net.bytes_sent", "docker.thread.count",
}

var encHostMetrics = []string{
	"system.cpu.user", "system.cpu.system", "system.cpu.idle", "system.cpu.iowait", "system.cpu.stolen",
	"system.cpu.guest", "system.cpu.interrupt", "system.cpu.num_cores", "system.cpu.context_switches",
	"system.load.1", "system.load.5", "system.load.15", "system.load.norm.1", "system.load.norm.5",
	"system.load.norm.15", "system.uptime", "system.mem.total", "system.mem.free", "system.mem.used",
	"system.mem.usable", "system.mem.cached", "system.mem.buffers", "system.mem.shared", "system.mem.slab",
	"system.mem.page_tables", "system.mem.pct_usable", "system.mem.commit_limit", "system.mem.committed_as",
	"system.swap.total", "system.swap.free", "system.swap.used", "system.swap.pct_free", "system.processes.count",
}

var encDeviceMetrics = []string{
	"system.io.r_s", "system.io.w_s", "system.io.rkb_s", "system.io.wkb_s", "system.io.await", "system.io.util",
	"system.disk.total", "system.disk.used", "system.disk.free", "system.disk.in_use",
	"system.net.bytes_rcvd", "system.net.bytes_sent", "system.net.packets_in.count", "system.net.packets_out.count",
	"system.net.packets_in.error", "system.net.packets_out.error",
}

// encCycleMetrics builds one cycle's metrics batch.
func encCycleMetrics() *batch.Metrics { return encMetrics(encContainers) }

// encMetrics builds one cycle's metrics batch for a host running containers
// ECS containers: ~97 host series and 40 per container.
func encMetrics(containers int) *batch.Metrics {
	m := &batch.Metrics{Host: "i-0123456789abcdef0", Timestamp: 1717000000, Interval: 15}
	v := 0.0
	next := func() float64 { v += 1234.5678; return v }
	for _, name := range encHostMetrics {
		m.Add(name, batch.Gauge, next(), batch.NoTags)
	}
	for _, dev := range []string{"nvme0n1", "nvme1n1", "eth0", "docker0"} {
		tags := m.AddTagSet([]string{"device:" + dev, "device_name:" + dev})
		for _, name := range encDeviceMetrics {
			m.Add(name, batch.Gauge, next(), tags)
		}
	}
	for c := range containers {
		svc := fmt.Sprintf("svc%02d", c%40)
		task := fmt.Sprintf("%032x", uint64(c)*0x9e3779b97f4a7c15)
		base := []string{
			"aws_account:123456789012", "cluster_name:prod-eu", "container_id:" + fmt.Sprintf("%064x", uint64(c+1)*0xc2b2ae3d27d4eb4f),
			fmt.Sprintf("container_name:ecs-%s-%d-%s-%x", svc, c%7, svc, c), "docker_image:123456789012.dkr.ecr.eu-west-1.amazonaws.com/" + svc + ":v1.4.2",
			"ecs_cluster_name:prod-eu", "ecs_container_name:" + svc, "ecs_launch_type:ec2", "ecs_service:" + svc,
			"image_id:sha256:" + fmt.Sprintf("%064x", uint64(c%40+7)*0x165667b19e3779f9), "image_name:123456789012.dkr.ecr.eu-west-1.amazonaws.com/" + svc,
			"image_tag:v1.4.2", "region:eu-west-1", "short_image:" + svc,
			"task_arn:arn:aws:ecs:eu-west-1:123456789012:task/prod-eu/" + task, "task_family:" + svc, "task_name:" + svc,
			"task_version:" + fmt.Sprint(c%9+1),
		}
		generic := m.AddTagSet(base)
		docker := m.AddTagSet(append(append([]string{}, base[:13]...), append([]string{"runtime:docker"}, base[13:]...)...))
		for i, name := range encContainerMetrics {
			typ := batch.Gauge
			if i == 13 || i == 14 || i == 12 {
				typ = batch.Count
			}
			m.Add(name, typ, next(), generic)
		}
		for _, name := range encDockerMetrics {
			m.Add(name, batch.Gauge, next(), docker)
		}
	}
	return m
}

var encCommands = []string{
	"java\x00-Xms512m\x00-Xmx2g\x00-XX:+UseG1GC\x00-Dspring.profiles.active=prod\x00-jar\x00/app/service.jar\x00",
	"nginx: worker process\x00",
	"/usr/local/bin/python3\x00/app/worker.py\x00--queue\x00jobs\x00--concurrency\x008\x00",
	"node\x00/app/dist/server.js\x00",
	"/bin/sh\x00-c\x00/entrypoint.sh\x00",
	"/usr/bin/envoy\x00-c\x00/etc/envoy/envoy.yaml\x00--service-cluster\x00mesh\x00",
}

// encCycleProcesses builds one process-check run: 20 processes in each
// container, the rest on the host (a fifth of them kernel threads).
func encCycleProcesses() *batch.Processes { return encProcessRun(encContainers, encProcesses) }

// encProcessRun builds one process-check run of procs processes on a host
// running containers containers: 20 in each of the first containers, while
// they last, the rest on the host.
func encProcessRun(containers, procs int) *batch.Processes {
	p := &batch.Processes{
		Host: "i-0123456789abcdef0", Timestamp: 1717000000000, Interval: 10,
		System: batch.System{CPUs: 16, TotalMemory: 64 << 30, KernelVersion: "6.1.112-124.190.amzn2023.x86_64", OS: "linux"},
	}
	m := encMetrics(containers)
	for c := range containers {
		p.Containers = append(p.Containers, batch.Container{
			ID: fmt.Sprintf("%064x", uint64(c+1)*0xc2b2ae3d27d4eb4f), Runtime: "docker", State: batch.StateRunning,
			Tags: m.TagSets[4+2*c], Created: 1716990000, Started: 1716990001, MemoryLimit: 1 << 30, CPULimit: 100,
			UserPct: 3.5, SystemPct: 1.25, TotalPct: 4.75, CPUUsageNs: 4.75e7, MemRSS: 200 << 20, MemUsage: 260 << 20,
			MemCache: 40 << 20, MemAccounted: 220 << 20, ThreadCount: 30, ThreadLimit: 4096,
		})
	}
	for i := range procs {
		pr := p.Next()
		pr.PID, pr.PPID = int32(100+i), 1
		pr.State, pr.User, pr.Threads, pr.OpenFDs = 'S', "root", 4, 12
		pr.CreateTime = 1716990000000 + int64(i)
		pr.UserPct, pr.SystemPct, pr.TotalPct = 0.5, 0.25, 0.75
		pr.UserTime, pr.SystemTime, pr.RSS, pr.VMS = uint64(i*7), uint64(i*3), 50<<20, 900<<20
		pr.VolCtxSwitches, pr.InvolCtxSwitches = uint64(i*11), uint64(i)
		pr.ReadRate, pr.WriteRate, pr.ReadBytesRate, pr.WriteBytesRate = batch.Unknown, batch.Unknown, batch.Unknown, batch.Unknown
		if c := i % 25; c < 20 && i/25 < containers {
			// Container processes.
			pr.ContainerID = p.Containers[i/25].ID
			cmd := encCommands[(i/25)%len(encCommands)]
			pr.Args = append(pr.Args, cmd...)
			pr.Comm = append(pr.Comm, cmd[:min(15, bytes.IndexByte([]byte(cmd), 0))]...)
			pr.Exe = append(pr.Exe, "/usr/bin/app"...)
			pr.NsPID = int32(c + 1)
			continue
		}
		if i%5 == 0 {
			pr.Comm = append(pr.Comm, fmt.Sprintf("kworker/%d:%d", i%16, i%3)...)
			pr.State, pr.PPID, pr.RSS, pr.VMS = 'I', 2, 0, 0
			continue
		}
		pr.Args = append(pr.Args, "/usr/lib/systemd/systemd-journald\x00"...)
		pr.Comm = append(pr.Comm, "systemd-journal"...)
	}
	return p
}

func BenchmarkEncode(b *testing.B) {
	m := encCycleMetrics()
	p := encCycleProcesses()
	for _, v := range []struct {
		name string
		opts encode.SeriesOptions
	}{
		{"zstd", encode.SeriesOptions{Compression: encode.Zstd}},
		// The agent's payloads: cut at 1 MiB uncompressed rather than the
		// intake's 5 MiB, so the encoder's buffer stays small.
		{"zstd-agent", encode.SeriesOptions{Compression: encode.Zstd, MaxUncompressed: encode.AgentSeriesUncompressed}},
		{"deflate", encode.SeriesOptions{Compression: encode.Zlib}},
		{"none", encode.SeriesOptions{Compression: encode.None}},
	} {
		b.Run("series/"+v.name, func(b *testing.B) {
			e, err := encode.NewSeriesEncoder(v.opts)
			if err != nil {
				b.Fatal(err)
			}
			var size, payloads int
			emit := func(pl *encode.Payload) error { size += len(pl.Body); payloads++; return nil }
			_ = e.Encode(m, emit) // grow the buffers: steady state is what a cycle costs
			b.ReportAllocs()
			for b.Loop() {
				size, payloads = 0, 0
				if err := e.Encode(m, emit); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(size), "B/cycle")
			b.ReportMetric(float64(payloads), "payloads/cycle")
			b.ReportMetric(float64(len(m.Points)), "series/cycle")
		})
	}
	b.Run("series/v1-json-zlib", func(b *testing.B) {
		var buf bytes.Buffer
		w := zlib.NewWriter(&buf)
		b.ReportAllocs()
		for b.Loop() {
			buf.Reset()
			w.Reset(&buf)
			if _, err := w.Write(v1SeriesJSON(m)); err != nil {
				b.Fatal(err)
			}
			if err := w.Close(); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(buf.Len()), "B/cycle")
		e, _ := encode.NewSeriesEncoder(encode.SeriesOptions{Compression: encode.Zstd})
		v2 := 0
		_ = e.Encode(m, func(pl *encode.Payload) error { v2 += len(pl.Body); return nil })
		b.ReportMetric(float64(buf.Len())/float64(v2), "v1/v2")
	})
	b.Run("processes/whippet", func(b *testing.B) {
		e, err := encode.NewProcessEncoder(encode.ProcessOptions{})
		if err != nil {
			b.Fatal(err)
		}
		var size, chunks int
		emit := func(pl *encode.Payload) error { size += len(pl.Body); chunks++; return nil }
		_ = e.Encode(p, 1, emit)
		b.ReportAllocs()
		for b.Loop() {
			size, chunks = 0, 0
			if err := e.Encode(p, 1, emit); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(size), "B/cycle")
		b.ReportMetric(float64(chunks), "payloads/cycle")
	})
	b.Run("processes/agent-payload", func(b *testing.B) {
		// The same chunks as the whippet encoder cuts, rebuilt as structs and
		// encoded per chunk the way the process agent does.
		e, _ := encode.NewProcessEncoder(encode.ProcessOptions{})
		var chunks []*process.CollectorProc
		_ = e.Encode(p, 1, func(pl *encode.Payload) error {
			msg, err := process.DecodeMessage(pl.Body)
			chunks = append(chunks, msg.Body.(*process.CollectorProc))
			return err
		})
		size := 0
		b.ReportAllocs()
		for b.Loop() {
			size = 0
			for _, c := range encRebuild(chunks) {
				body, err := process.EncodeMessage(process.Message{
					Header: process.MessageHeader{Version: process.MessageV3, Encoding: process.MessageEncodingZstdPBxNoCgo, Type: process.TypeCollectorProc},
					Body:   c,
				})
				if err != nil {
					b.Fatal(err)
				}
				size += len(body)
			}
		}
		b.ReportMetric(float64(size), "B/cycle")
	})
}

// encRebuild copies the chunks into fresh structs with fresh strings, as the
// agent builds them from its process snapshots every run.
func encRebuild(chunks []*process.CollectorProc) []*process.CollectorProc {
	out := make([]*process.CollectorProc, len(chunks))
	for i, c := range chunks {
		n := *c
		n.Processes = make([]*process.Process, len(c.Processes))
		for j, p := range c.Processes {
			q := *p
			cmd := *p.Command
			cmd.Args = make([]string, len(p.Command.Args))
			for k, a := range p.Command.Args {
				cmd.Args[k] = string([]byte(a))
			}
			cmd.Comm, cmd.Exe = string([]byte(cmd.Comm)), string([]byte(cmd.Exe))
			q.Command = &cmd
			user, mem, cpu, io := *p.User, *p.Memory, *p.Cpu, *p.IoStat
			q.User, q.Memory, q.Cpu, q.IoStat = &user, &mem, &cpu, &io
			n.Processes[j] = &q
		}
		out[i] = &n
	}
	return out
}

// v1SeriesJSON renders m as /api/v1/series JSON the way Telegraf's Datadog
// output does: one series per point, [[timestamp, value]] points, the type as
// a word, host and tags on every series.
func v1SeriesJSON(m *batch.Metrics) []byte {
	type series struct {
		Metric   string       `json:"metric"`
		Points   [][2]float64 `json:"points"`
		Type     string       `json:"type"`
		Interval int64        `json:"interval,omitempty"`
		Host     string       `json:"host"`
		Tags     []string     `json:"tags,omitempty"`
	}
	body := struct {
		Series []series `json:"series"`
	}{Series: make([]series, 0, len(m.Points))}
	for i := range m.Points {
		p := &m.Points[i]
		s := series{
			Metric: p.Name, Points: [][2]float64{{float64(m.Timestamp), p.Value}},
			Type: p.Type.String(), Host: m.Host, Tags: m.Tags(p),
		}
		if p.Type == batch.Count || p.Type == batch.Rate {
			s.Interval = m.Interval
		}
		body.Series = append(body.Series, s)
	}
	out, err := json.Marshal(body)
	if err != nil {
		panic(err) // plain strings and finite floats: cannot fail
	}
	return out
}
