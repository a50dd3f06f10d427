package mpack

import (
	"bytes"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/whippet-agent/whippet/pkg/batch"
)

var update = flag.Bool("update", false, "rewrite golden files, FORMAT.md's example and the fuzz seed corpus")

// bitsEqual compares floats by their bits: a record must give back the very
// NaN it was given.
var bitsEqual = cmp.Options{
	cmp.Comparer(func(a, b float64) bool { return math.Float64bits(a) == math.Float64bits(b) }),
	cmp.Comparer(func(a, b float32) bool { return math.Float32bits(a) == math.Float32bits(b) }),
	// Element-wise reflection is slow on long args; EquateEmpty handles two empty slices.
	cmp.FilterValues(func(a, b []byte) bool { return len(a)+len(b) > 0 }, cmp.Comparer(bytes.Equal)),
	cmpopts.EquateEmpty(),
}

func ecsTags(id, name string) []string {
	return []string{
		"container_id:" + id, "container_name:" + name, "docker_image:nginx:1.27",
		"ecs_cluster_name:prod", "image_name:nginx", "image_tag:1.27", "short_image:nginx",
		"task_arn:arn:aws:ecs:eu-west-1:123456789012:task/prod/0f1e2d", "task_family:web", "task_version:42",
	}
}

// exampleMetrics is the small batch of the golden record and FORMAT.md.
func exampleMetrics() *batch.Metrics {
	m := &batch.Metrics{Host: "i-0abc", Timestamp: 1764167400, Interval: 15}
	web := m.AddTagSet([]string{"container_name:web", "short_image:nginx"})
	m.Add("container.cpu.usage", batch.Gauge, 1.5e7, web)
	m.Add("container.io.read", batch.Count, 4096, web)
	m.Add("whippet.cycle.points", batch.Gauge, 3, batch.NoTags)
	return m
}

func exampleProcesses() *batch.Processes {
	tags := []string{"container_name:web", "short_image:nginx"}
	return &batch.Processes{
		Host: "i-0abc", Timestamp: 1764167400123, Interval: 10,
		System: batch.System{CPUs: 2, TotalMemory: 4 << 30, KernelVersion: "6.18.0", OS: "linux"},
		Containers: []batch.Container{{
			ID: "c0ffee", Name: "web", Runtime: "docker", Tags: tags, State: batch.StateRunning,
			Created: 1764160000, Started: 1764160001, CPULimit: 50, MemoryLimit: 512 << 20,
			UserPct: 1, SystemPct: 0.5, TotalPct: 1.5, CPUUsageNs: 15e6, ReadBps: 10, WriteBps: 20,
			NetRcvdPs: 3, NetSentPs: 4, NetRcvdBps: 300, NetSentBps: 400,
			MemRSS: 10 << 20, MemCache: 1 << 20, MemUsage: 11 << 20, MemAccounted: 10 << 20, ThreadCount: 3, ThreadLimit: 100,
		}},
		Procs: []batch.Process{
			{PID: 1, PPID: 0, Args: []byte("/sbin/init\x00"), Comm: []byte("systemd"), Exe: []byte("/usr/lib/systemd/systemd"),
				User: "root", State: 'S', CreateTime: 1764000000000, Threads: 1, OpenFDs: 120, UserTime: 300, SystemTime: 200,
				RSS: 12 << 20, VMS: 20 << 20, ReadRate: batch.Unknown, WriteRate: batch.Unknown, ReadBytesRate: batch.Unknown, WriteBytesRate: batch.Unknown},
			{PID: 4242, PPID: 4200, NsPID: 1, Args: []byte("nginx: master process\x00"), Comm: []byte("nginx"), User: "www-data",
				UID: 33, GID: 33, State: 'S', CreateTime: 1764160001000, Nice: -5, Threads: 1, OpenFDs: batch.Unknown,
				UserPct: 0.5, SystemPct: 0.25, TotalPct: 0.75, RSS: 4 << 20, VMS: 30 << 20, VolCtxSwitches: 10, InvolCtxSwitches: 2,
				ContainerID: "c0ffee"},
		},
	}
}

func roundTripMetrics(t *testing.T, in *batch.Metrics) {
	t.Helper()
	var (
		e   Encoder
		d   Decoder
		out batch.Metrics
	)
	rec := e.AppendMetrics(nil, in)
	k, err := d.Decode(rec, &out, nil)
	if err != nil || k != KindMetrics {
		t.Fatalf("Decode(AppendMetrics) = %v, %v; want metrics, nil", k, err)
	}
	if diff := cmp.Diff(in, &out, bitsEqual); diff != "" {
		t.Errorf("metrics round trip (-in +out):\n%s", diff)
	}
}

func roundTripProcesses(t *testing.T, in *batch.Processes) {
	t.Helper()
	var (
		e   Encoder
		d   Decoder
		out batch.Processes
	)
	rec := e.AppendProcesses(nil, in)
	k, err := d.Decode(rec, nil, &out)
	if err != nil || k != KindProcesses {
		t.Fatalf("Decode(AppendProcesses) = %v, %v; want processes, nil", k, err)
	}
	if diff := cmp.Diff(in, &out, bitsEqual); diff != "" {
		t.Errorf("processes round trip (-in +out):\n%s", diff)
	}
}

func TestRoundTripMetrics(t *testing.T) {
	t.Parallel()
	shared := ecsTags("c1", "web")
	tests := []struct {
		name string
		m    func() *batch.Metrics
	}{
		{"empty", func() *batch.Metrics { return &batch.Metrics{} }},
		{"example", exampleMetrics},
		{"tags shared across sets and points", func() *batch.Metrics {
			m := &batch.Metrics{Host: "h", Timestamp: 1, Interval: 15}
			a := m.AddTagSet(shared)
			b := m.AddTagSet(append(shared[:3:3], "extra:1"))
			empty := m.AddTagSet([]string{})
			for i := range 50 {
				m.Add(fmt.Sprintf("m.%d", i%7), batch.MetricType(i%4), float64(i), []int32{a, b, empty, batch.NoTags}[i%4])
			}
			return m
		}},
		{"NaN and Inf", func() *batch.Metrics {
			m := &batch.Metrics{Host: "h"}
			for _, v := range []float64{math.NaN(), math.Float64frombits(0x7ff0000000000001), math.Inf(1), math.Inf(-1),
				math.Copysign(0, -1), math.MaxFloat64, math.SmallestNonzeroFloat64} {
				m.Add("v", batch.Gauge, v, batch.NoTags)
			}
			return m
		}},
		{"unicode and invalid UTF-8", func() *batch.Metrics {
			m := &batch.Metrics{Host: "hôte-ünïcødé-🐕", Timestamp: -1, Interval: math.MaxInt64}
			ts := m.AddTagSet([]string{"ключ:значение", "名前:ウェブ", "bad:\xff\xfe", ""})
			m.Add("métrique.ñ", batch.Rate, 1, ts)
			m.Add("\x00\xc0", batch.Unspecified, 2, ts)
			return m
		}},
		{"long strings", func() *batch.Metrics {
			m := &batch.Metrics{Host: strings.Repeat("h", 70000)}
			ts := m.AddTagSet([]string{strings.Repeat("t", 300), strings.Repeat("u", 70000)})
			m.Add(strings.Repeat("n", 40), batch.Gauge, 1, ts)
			return m
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			roundTripMetrics(t, tt.m())
		})
	}
}

func TestRoundTripProcesses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		p    func() *batch.Processes
	}{
		{"empty", func() *batch.Processes { return &batch.Processes{} }},
		{"example", exampleProcesses},
		{"long args", func() *batch.Processes {
			p := exampleProcesses()
			p.Procs[1].Args = bytes.Repeat([]byte("--flag=value\x00"), 10000)
			return p
		}},
		{"unicode and binary", func() *batch.Processes {
			p := exampleProcesses()
			p.Procs[0].User = "utilisateur-é"
			p.Procs[0].Args = []byte("python3\x00-c\x00print('\xff\xfe')\x00")
			p.Procs[0].Comm = []byte("\x80\x81")
			p.Containers[0].Name = "ウェブ"
			return p
		}},
		{"containers without processes and extremes", func() *batch.Processes {
			p := exampleProcesses()
			for i := range 40 {
				p.Containers = append(p.Containers, batch.Container{
					ID: fmt.Sprintf("%064x", i), Name: fmt.Sprintf("c%d", i), Runtime: "docker",
					Tags: ecsTags(fmt.Sprint(i), "svc"), State: batch.ContainerState(i % 7),
					MemoryLimit: math.MaxUint64, UserPct: float32(math.NaN()), TotalPct: float32(math.Inf(-1)),
				})
			}
			p.Procs[0].PID, p.Procs[0].Nice, p.Procs[0].CreateTime = math.MaxInt32, math.MinInt32, math.MinInt64
			p.Procs[0].UID, p.Procs[0].RSS, p.Procs[0].State = math.MaxUint32, math.MaxUint64, 0xff
			return p
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			roundTripProcesses(t, tt.p())
		})
	}
}

// TestTagsOutOfRange: a point naming a missing tag set is untagged, as
// batch.Metrics.Tags reads it, rather than an undecodable record.
func TestTagsOutOfRange(t *testing.T) {
	t.Parallel()
	in := &batch.Metrics{Host: "h"}
	in.Add("a", batch.Gauge, 1, 5)
	in.Add("b", batch.Gauge, 1, -7)
	var (
		e   Encoder
		d   Decoder
		out batch.Metrics
	)
	if _, err := d.Decode(e.AppendMetrics(nil, in), &out, nil); err != nil {
		t.Fatalf("Decode: %v", err)
	}
	for i, p := range out.Points {
		if p.Tags != batch.NoTags {
			t.Errorf("point %d Tags = %d, want NoTags", i, p.Tags)
		}
	}
}

// TestReuse runs records of both kinds and changing contents through one
// Encoder and one Decoder, as a spool replay does.
func TestReuse(t *testing.T) {
	t.Parallel()
	var (
		e   Encoder
		d   Decoder
		m   batch.Metrics
		p   batch.Processes
		buf []byte
	)
	for i := range 30 {
		in := exampleMetrics()
		in.Host = fmt.Sprintf("host-%d", i%4)
		in.Add(fmt.Sprintf("changing.%d", i), batch.Gauge, float64(i), in.AddTagSet([]string{fmt.Sprintf("i:%d", i)}))
		buf = e.AppendMetrics(buf[:0], in)
		if _, err := d.Decode(buf, &m, &p); err != nil {
			t.Fatalf("cycle %d: Decode metrics: %v", i, err)
		}
		if diff := cmp.Diff(in, &m, bitsEqual); diff != "" {
			t.Fatalf("cycle %d metrics (-in +out):\n%s", i, diff)
		}
		inp := exampleProcesses()
		inp.Procs = inp.Procs[:1+i%2]
		inp.Procs[0].Args = fmt.Appendf(nil, "worker\x00--n=%d\x00", i)
		buf = e.AppendProcesses(buf[:0], inp)
		if _, err := d.Decode(buf, &m, &p); err != nil {
			t.Fatalf("cycle %d: Decode processes: %v", i, err)
		}
		if diff := cmp.Diff(inp, &p, bitsEqual); diff != "" {
			t.Fatalf("cycle %d processes (-in +out):\n%s", i, diff)
		}
	}
}

// TestTablePrune: strings that stop appearing leave the Encoder's and the
// Decoder's tables, so a long run with churning strings stays bounded.
func TestTablePrune(t *testing.T) {
	t.Parallel()
	var (
		e   Encoder
		d   Decoder
		out batch.Metrics
		buf []byte
	)
	for i := range 3000 {
		m := &batch.Metrics{}
		m.Add(fmt.Sprintf("churn.%d", i), batch.Gauge, 1, batch.NoTags)
		buf = e.AppendMetrics(buf[:0], m)
		if _, err := d.Decode(buf, &out, nil); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(e.tab.m); n > 2*pruneSlack {
		t.Errorf("encoder table holds %d strings after 3000 one-string records, want ≤ %d", n, 2*pruneSlack)
	}
	if n := len(d.tab.m); n > 2*pruneSlack {
		t.Errorf("decoder table holds %d strings after 3000 one-string records, want ≤ %d", n, 2*pruneSlack)
	}
}

// TestSelfDescribing decodes records with the generic msgpack decoder, as a
// consumer without our types would, and checks the layout FORMAT.md gives.
func TestSelfDescribing(t *testing.T) {
	t.Parallel()
	var e Encoder
	var v []any
	if err := msgpack.Unmarshal(e.AppendMetrics(nil, exampleMetrics()), &v); err != nil {
		t.Fatalf("msgpack.Unmarshal(metrics record): %v", err)
	}
	want := []any{
		Magic, uint64(Version), uint64(KindMetrics), "i-0abc", uint64(1764167400), uint64(15),
		[]any{"container.cpu.usage", "container.io.read", "whippet.cycle.points", "container_name:web", "short_image:nginx"},
		[]any{[]any{uint64(3), uint64(4)}},
		[]any{
			[]any{uint64(0), uint64(batch.Gauge), 1.5e7, uint64(0)},
			[]any{uint64(1), uint64(batch.Count), 4096.0, uint64(0)},
			[]any{uint64(2), uint64(batch.Gauge), 3.0, int64(-1)},
		},
	}
	if diff := cmp.Diff(numbers(want), numbers(v)); diff != "" {
		t.Errorf("generic decode of the example record (-want +got):\n%s", diff)
	}
	v = nil // the library panics decoding into a filled []any
	if err := msgpack.Unmarshal(e.AppendProcesses(nil, exampleProcesses()), &v); err != nil {
		t.Fatalf("msgpack.Unmarshal(processes record): %v", err)
	}
	if len(v) != processesFields || v[0] != Magic {
		t.Errorf("generic decode of processes record: %d fields, magic %v; want %d, %q", len(v), v[0], processesFields, Magic)
	}
}

// numbers rewrites the integers in a generic decode as decimal strings: the
// generic decoder picks the narrowest Go type, and only values matter here.
func numbers(x any) any {
	switch n := x.(type) {
	case []any:
		out := make([]any, len(n))
		for i := range n {
			out[i] = numbers(n[i])
		}
		return out
	case int8, int16, int32, int64, uint8, uint16, uint32, uint64:
		return fmt.Sprint(n)
	}
	return x
}

func TestEncodeAllocs(t *testing.T) {
	m, p := exampleMetrics(), exampleProcesses()
	var e Encoder
	buf := make([]byte, 0, 4096)
	for _, tt := range []struct {
		name string
		fn   func()
	}{
		{"metrics", func() { buf = e.AppendMetrics(buf[:0], m) }},
		{"processes", func() { buf = e.AppendProcesses(buf[:0], p) }},
	} {
		tt.fn() // warm: the string table learns the strings
		if n := testing.AllocsPerRun(100, tt.fn); n != 0 {
			t.Errorf("Append %s: %v allocs per record in steady state, want 0", tt.name, n)
		}
	}
}

func TestDecodeAllocs(t *testing.T) {
	var (
		e   Encoder
		d   Decoder
		m   batch.Metrics
		p   batch.Processes
		err error
	)
	mrec := e.AppendMetrics(nil, exampleMetrics())
	prec := e.AppendProcesses(nil, exampleProcesses())
	for _, tt := range []struct {
		name string
		fn   func()
	}{
		{"metrics", func() { _, err = d.Decode(mrec, &m, &p) }},
		{"processes", func() { _, err = d.Decode(prec, &m, &p) }},
	} {
		tt.fn()
		if n := testing.AllocsPerRun(100, tt.fn); n != 0 {
			t.Errorf("Decode %s: %v allocs per record in steady state, want 0", tt.name, n)
		}
		if err != nil {
			t.Errorf("Decode %s: %v", tt.name, err)
		}
	}
}

func TestFrameAllocs(t *testing.T) {
	m := exampleMetrics()
	var e Encoder
	buf := make([]byte, 0, 4096)
	fn := func() {
		b, off := BeginFrame(buf[:0])
		b = e.AppendMetrics(b, m)
		if err := EndFrame(b, off); err != nil {
			t.Fatal(err)
		}
		buf = b
	}
	fn()
	if n := testing.AllocsPerRun(100, fn); n != 0 {
		t.Errorf("framed metrics record: %v allocs in steady state, want 0", n)
	}
}

// goldenCase is one record whose bytes and printed form are fixed in testdata.
type goldenCase struct {
	name string
	rec  []byte
}

func goldenCases() []goldenCase {
	var e Encoder
	return []goldenCase{
		{"metrics", e.AppendMetrics(nil, exampleMetrics())},
		{"processes", e.AppendProcesses(nil, exampleProcesses())},
	}
}

func checkGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from this build's output (run with -update if the change is intended; a layout change needs a Version bump):\n%s",
			path, cmp.Diff(hex.Dump(want), hex.Dump(got)))
	}
}

// TestGolden fixes the bytes of the example records and their Print output;
// the records are also the fuzz seeds.
func TestGolden(t *testing.T) {
	t.Parallel()
	for _, tc := range goldenCases() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			checkGolden(t, filepath.Join("testdata", tc.name+".mpack"), tc.rec)
			var out bytes.Buffer
			if err := Print(&out, tc.rec); err != nil {
				t.Fatalf("Print: %v", err)
			}
			checkGolden(t, filepath.Join("testdata", tc.name+".txt"), out.Bytes())
		})
	}
}

const (
	dumpBegin = "<!-- hexdump:metrics (generated by TestFormatExample -update) -->\n```\n"
	dumpEnd   = "```\n<!-- /hexdump -->"
)

// TestFormatExample keeps FORMAT.md's hex dump equal to the example record.
func TestFormatExample(t *testing.T) {
	t.Parallel()
	var e Encoder
	dump := hex.Dump(e.AppendMetrics(nil, exampleMetrics()))
	doc, err := os.ReadFile("FORMAT.md")
	if err != nil {
		t.Fatal(err)
	}
	before, rest, ok1 := strings.Cut(string(doc), dumpBegin)
	_, after, ok2 := strings.Cut(rest, dumpEnd)
	if !ok1 || !ok2 {
		t.Fatalf("FORMAT.md lacks the hex dump markers %q … %q", dumpBegin, dumpEnd)
	}
	want := before + dumpBegin + dump + dumpEnd + after
	if *update {
		if err := os.WriteFile("FORMAT.md", []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if want != string(doc) {
		t.Errorf("FORMAT.md's example is stale (run with -update):\n%s", cmp.Diff(string(doc), want))
	}
}

func TestDecodeErrors(t *testing.T) {
	t.Parallel()
	var e Encoder
	mrec := e.AppendMetrics(nil, exampleMetrics())
	// patch returns a copy of rec with old replaced once by new.
	patch := func(rec []byte, old, new string) []byte {
		i := bytes.Index(rec, []byte(old))
		if i < 0 {
			t.Fatalf("patch: %x not in record", old)
		}
		return append(append(append([]byte(nil), rec[:i]...), new...), rec[i+len(old):]...)
	}
	// The example's points: 94 00 03 cb <8 bytes> 00 (name 0, gauge, 1.5e7, tag set 0).
	point0 := "\x94\x00\x03\xcb\x41\x6c\x9c\x38\x00\x00\x00\x00\x00"
	tests := []struct {
		name    string
		rec     []byte
		want    error
		m       bool // give a batch.Metrics
		wantMsg string
	}{
		{"empty", nil, ErrCorrupt, true, ""},
		{"not an array", []byte{0xc0}, ErrCorrupt, true, ""},
		{"bad magic", patch(mrec, "whippet", "whippex"), ErrCorrupt, true, "magic"},
		{"future version", patch(mrec, "whippet\x01", "whippet\x02"), ErrVersion, true, ""},
		{"version zero", patch(mrec, "whippet\x01", "whippet\x00"), ErrVersion, true, ""},
		{"unknown kind", patch(mrec, "whippet\x01\x01", "whippet\x01\x07"), ErrCorrupt, true, "kind"},
		{"no metrics batch", mrec, nil, false, "no batch.Metrics"},
		{"name index out of range", patch(mrec, point0, "\x94\x09"+point0[2:]), ErrCorrupt, true, "string index 9"},
		{"type out of range", patch(mrec, point0, "\x94\x00\x04"+point0[3:]), ErrCorrupt, true, "type"},
		{"tag set out of range", patch(mrec, point0, point0[:12]+"\x01"), ErrCorrupt, true, "tag set"},
		{"string where a number belongs", patch(mrec, point0, "\x94\xa1x"+point0[2:]), ErrCorrupt, true, "name"},
		{"huge array length", patch(mrec, "\x93\x94", "\xdd\xff\xff\xff\xff\x94"), ErrCorrupt, true, "remaining"},
		{"huge string length", patch(mrec, "\xa7whippet", "\xdb\x7f\xff\xff\xffwhippet"), ErrCorrupt, true, "remaining"},
		{"wrong field count", patch(mrec, point0, "\x93"+point0[1:]), ErrCorrupt, true, "fields"},
		{"trailing byte", append(append([]byte(nil), mrec...), 0), ErrCorrupt, true, "trailing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var d Decoder
			var m *batch.Metrics
			if tt.m {
				m = new(batch.Metrics)
			}
			_, err := d.Decode(tt.rec, m, nil)
			if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("Decode(%s) = %v, want an error wrapping %v containing %q", tt.name, err, tt.want, tt.wantMsg)
			}
		})
	}
}

// TestTruncated: every proper prefix of a record is an error, never a panic.
func TestTruncated(t *testing.T) {
	t.Parallel()
	for _, tc := range goldenCases() {
		var (
			d Decoder
			m batch.Metrics
			p batch.Processes
		)
		for n := range len(tc.rec) {
			if _, err := d.Decode(tc.rec[:n], &m, &p); !errors.Is(err, ErrCorrupt) {
				t.Errorf("Decode(%s[:%d]) = %v, want ErrCorrupt", tc.name, n, err)
			}
		}
	}
}

func TestStream(t *testing.T) {
	t.Parallel()
	var (
		e   Encoder
		buf []byte
		off int
	)
	recs := goldenCases()
	for _, tc := range recs {
		buf, off = BeginFrame(buf)
		buf = append(buf, tc.rec...)
		if err := EndFrame(buf, off); err != nil {
			t.Fatal(err)
		}
	}
	buf, off = BeginFrame(buf)
	buf = e.AppendMetrics(buf, &batch.Metrics{Host: "last"})
	if err := EndFrame(buf, off); err != nil {
		t.Fatal(err)
	}

	t.Run("whole", func(t *testing.T) {
		t.Parallel()
		r := NewReader(bytes.NewReader(buf))
		var d Decoder
		var m batch.Metrics
		var p batch.Processes
		var kinds []Kind
		for {
			rec, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("Next: %v", err)
			}
			k, err := d.Decode(rec, &m, &p)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			kinds = append(kinds, k)
		}
		if diff := cmp.Diff([]Kind{KindMetrics, KindProcesses, KindMetrics}, kinds); diff != "" {
			t.Errorf("kinds read (-want +got):\n%s", diff)
		}
		if m.Host != "last" {
			t.Errorf("last record host = %q, want %q", m.Host, "last")
		}
	})
	t.Run("checksum mismatch skips one record", func(t *testing.T) {
		t.Parallel()
		bad := bytes.Clone(buf)
		bad[frameHeader+5] ^= 0x40 // inside the first record
		r := NewReader(bytes.NewReader(bad))
		if _, err := r.Next(); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "checksum") {
			t.Fatalf("Next on a flipped bit = %v, want a checksum error", err)
		}
		if rec, err := r.Next(); err != nil || !bytes.Equal(rec, recs[1].rec) {
			t.Errorf("Next after a checksum error = %d bytes, %v; want the second record", len(rec), err)
		}
	})
	t.Run("truncated", func(t *testing.T) {
		t.Parallel()
		for _, n := range []int{1, frameHeader - 1, frameHeader, frameHeader + 10, frameHeader + len(recs[0].rec) - 1} {
			r := NewReader(bytes.NewReader(buf[:n]))
			if _, err := r.Next(); !errors.Is(err, ErrCorrupt) {
				t.Errorf("Next on %d bytes = %v, want ErrCorrupt", n, err)
			}
		}
	})
	t.Run("huge length", func(t *testing.T) {
		t.Parallel()
		for _, hdr := range []string{"\xff\xff\xff\xff\x00\x00\x00\x00", "\x03\xff\xff\xff\x00\x00\x00\x00"} {
			r := NewReader(strings.NewReader(hdr + "short"))
			_, err := r.Next()
			if !errors.Is(err, ErrCorrupt) {
				t.Errorf("Next(%x) = %v, want ErrCorrupt", hdr, err)
			}
			if cap(r.buf) > growStep {
				t.Errorf("Next(%x) grew its buffer to %d bytes for 5 bytes of data", hdr, cap(r.buf))
			}
		}
	})
}

// TestPrintStream prints a spool file with a damaged record in the middle and
// a torn write at the end.
func TestPrintStream(t *testing.T) {
	t.Parallel()
	var buf []byte
	for _, tc := range goldenCases() {
		b, off := BeginFrame(buf)
		b = append(b, tc.rec...)
		if err := EndFrame(b, off); err != nil {
			t.Fatal(err)
		}
		buf = b
	}
	first := len(goldenCases()[0].rec) + frameHeader
	bad := bytes.Clone(buf)
	bad[first+frameHeader+3] ^= 1 // inside the second record: a checksum error
	b, off := BeginFrame(bytes.Clone(buf[:first]))
	b = append(b, "\x91"...) // checksummed, but not a record
	if err := EndFrame(b, off); err != nil {
		t.Fatal(err)
	}
	undecodable := append(b, buf[first:]...)

	tests := []struct {
		name    string
		in      []byte
		wantErr bool
		want    []string // substrings, in order
	}{
		{"clean", buf, false, []string{"# record 0: 165 bytes", "metrics v1", "# record 1:", "processes v1", "proc pid=4242"}},
		{"checksum", bad, false, []string{"metrics v1", "# record 1: skipped:", "checksum"}},
		{"undecodable", undecodable, false, []string{"# record 1: skipped:", "corrupt record", "# record 2:", "processes v1"}},
		{"torn", buf[:len(buf)-3], true, []string{"metrics v1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var out bytes.Buffer
			err := PrintStream(&out, bytes.NewReader(tt.in))
			if (err != nil) != tt.wantErr {
				t.Errorf("PrintStream error = %v, want error %v", err, tt.wantErr)
			}
			rest := out.String()
			for _, w := range tt.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("PrintStream output lacks %q (in order); output:\n%s", w, out.String())
				}
				rest = rest[i+len(w):]
			}
		})
	}
}
