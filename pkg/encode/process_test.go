package encode

import (
	"bytes"
	"errors"
	"fmt"
	"hash/fnv"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/DataDog/agent-payload/v5/process"
	"github.com/google/go-cmp/cmp"

	"github.com/whippet-agent/whippet/pkg/batch"
)

// fixtureProcesses is the representative run behind testdata/processes.pb:
// two containers with processes and one without, a process in a container the
// batch does not list, kernel threads, unreadable IO and fds, a 20 KiB
// command line, and stat letters the agent's enum lacks.
func fixtureProcesses() *batch.Processes {
	p := &batch.Processes{
		Host: "i-0123456789abcdef0", Timestamp: 1717000000123, Interval: 10,
		System: batch.System{CPUs: 2, TotalMemory: 8 << 30, KernelVersion: "6.1.0-amzn2023", OS: "linux"},
	}
	ecs := []string{"ecs_cluster_name:prod", "region:eu-west-1", "runtime:docker"}
	p.Containers = []batch.Container{
		{
			ID: "3f2a9c" + strings.Repeat("0", 58), Name: "ecs-web-1-web", Runtime: "docker",
			Tags:  append([]string{"container_name:ecs-web-1-web", "image_name:nginx"}, ecs...),
			State: batch.StateRunning, Created: 1716990000, Started: 1716990002,
			CPULimit: 50, MemoryLimit: 512 << 20,
			UserPct: 1.5, SystemPct: 0.5, TotalPct: 2, CPUUsageNs: 2e7,
			ReadBps: 4096, WriteBps: 8192, NetRcvdPs: 10, NetSentPs: 12, NetRcvdBps: 1500, NetSentBps: 3000,
			MemRSS: 30 << 20, MemCache: 4 << 20, MemUsage: 40 << 20, MemAccounted: 34 << 20,
			ThreadCount: 5, ThreadLimit: 4096,
		},
		{
			ID: "77b1e0" + strings.Repeat("1", 58), Name: "ecs-web-1-agent", Runtime: "docker",
			Tags:  append([]string{"container_name:ecs-web-1-agent", "image_name:java"}, ecs...),
			State: batch.StateRunning, Created: 1716990000, Started: 1716990001,
			UserPct: batch.Unknown, SystemPct: batch.Unknown, TotalPct: batch.Unknown,
			MemRSS: 300 << 20, MemUsage: 310 << 20, ThreadCount: 40,
		},
		{
			ID: "c0ffee" + strings.Repeat("2", 58), Name: "ecs-web-1-init", Runtime: "docker",
			Tags: []string{"container_name:ecs-web-1-init"}, State: batch.StateExited, Created: 1716990000,
		},
	}
	longArgs := "java\x00-Xmx256m\x00" + strings.Repeat("-Dkey=value\x00", 1800) + "-jar\x00app.jar\x00"
	add := func(pid, ppid int32, ctr, args, comm, exe, user string, state byte, fn func(*batch.Process)) {
		pr := p.Next()
		pr.PID, pr.PPID, pr.ContainerID = pid, ppid, ctr
		pr.Args = append(pr.Args, args...)
		pr.Comm = append(pr.Comm, comm...)
		pr.Exe = append(pr.Exe, exe...)
		pr.User, pr.State = user, state
		pr.CreateTime = 1716990000000 + int64(pid)
		pr.Threads, pr.OpenFDs = 1, 8
		pr.UserPct, pr.SystemPct, pr.TotalPct = 0.25, 0.5, 0.75
		pr.UserTime, pr.SystemTime = 1000+uint64(pid), 500
		pr.RSS, pr.VMS = 4<<20, 16<<20
		pr.VolCtxSwitches, pr.InvolCtxSwitches = 300, 20
		if fn != nil {
			fn(pr)
		}
	}
	unknownIO := func(pr *batch.Process) {
		pr.ReadRate, pr.WriteRate, pr.ReadBytesRate, pr.WriteBytesRate = batch.Unknown, batch.Unknown, batch.Unknown, batch.Unknown
	}
	kernel := func(pr *batch.Process) {
		pr.VMS, pr.RSS, pr.OpenFDs, pr.UserPct, pr.SystemPct, pr.TotalPct = 0, 0, 0, 0, 0, 0
	}
	web, agent := p.Containers[0].ID, p.Containers[1].ID
	add(1, 0, "", "/sbin/init\x00", "systemd", "/usr/lib/systemd/systemd", "root", 'S', func(pr *batch.Process) {
		pr.ReadRate, pr.WriteRate, pr.ReadBytesRate, pr.WriteBytesRate = 1, 2, 4096, 8192
		pr.Swap = 1 << 20
	})
	add(2, 0, "", "", "kthreadd", "", "root", 'S', kernel)
	add(14, 2, "", "", "kworker/0:1H-kblockd", "", "root", 'I', kernel)
	add(900, 1, web, "nginx: master process /usr/sbin/nginx -g daemon off;\x00", "nginx", "/usr/sbin/nginx", "root", 'S',
		func(pr *batch.Process) { pr.NsPID = 1 })
	add(901, 900, web, "nginx: worker process\x00", "nginx", "", "101", 'R', func(pr *batch.Process) {
		pr.NsPID, pr.UID, pr.GID = 7, 101, 101
		pr.OpenFDs = batch.Unknown
		unknownIO(pr)
	})
	add(950, 1, agent, longArgs, "java", "/usr/bin/java", "app", 'S', func(pr *batch.Process) {
		pr.NsPID, pr.UID, pr.GID, pr.Threads, pr.Nice = 1, 1000, 1000, 40, -5
	})
	add(951, 950, agent, "sh\x00-c\x00\x00echo \"hi\"\x00", "sh", "/bin/sh", "app", 'Z', nil)
	add(980, 1, "deadbeef", "/pause\x00", "pause", "/pause", "65535", 'D', func(pr *batch.Process) { pr.UID, pr.GID = 65535, 65535 })
	add(1200, 1, "", "/usr/bin/strace\x00-p\x001\x00", "strace", "/usr/bin/strace", "nobody", 't', func(pr *batch.Process) {
		pr.UID, pr.GID, pr.Nice = 4294967294, 4294967294, 19
		unknownIO(pr)
	})
	return p
}

// decodeChunk checks a chunk's envelope and decodes it with agent-payload.
func decodeChunk(t *testing.T, body []byte) (*process.CollectorProc, []byte) {
	t.Helper()
	msg, err := process.DecodeMessage(body)
	if err != nil {
		t.Fatalf("process.DecodeMessage: %v", err)
	}
	h := msg.Header
	if h.Version != process.MessageV3 || h.Encoding != process.MessageEncodingZstdPBxNoCgo ||
		h.Type != process.TypeCollectorProc || h.OrgID != 0 || h.Timestamp != 0 {
		t.Errorf("envelope = %+v, want V3, encoding 5, type 12", h)
	}
	raw, err := Decompress("zstd", body[envelopeLen:])
	if err != nil {
		t.Fatal(err)
	}
	return msg.Body.(*process.CollectorProc), raw
}

// TestProcessGolden compares the fixture's one chunk with the golden file
// (the protobuf inside the envelope: compressed bytes depend on the zstd
// version), with agent-payload's decoding field by field, and byte for byte
// with gogo's marshalling of the expected message.
func TestProcessGolden(t *testing.T) {
	t.Parallel()
	p := fixtureProcesses()
	e, err := NewProcessEncoder(ProcessOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var chunks []*process.CollectorProc
	var raws, bodies [][]byte
	err = e.Encode(p, 42, func(pl *Payload) error {
		bodies = append(bodies, bytes.Clone(pl.Body))
		if pl.Kind != Processes || pl.ContentType != "application/x-protobuf" || pl.ContentEncoding != "" {
			t.Errorf("payload %v, %q, %q", pl.Kind, pl.ContentType, pl.ContentEncoding)
		}
		if pl.ContainerCount != 3 || pl.Points != len(p.Procs) || pl.ChunkIndex != 0 || pl.GroupSize != 1 {
			t.Errorf("payload counts %+v", *pl)
		}
		c, raw := decodeChunk(t, pl.Body)
		chunks, raws = append(chunks, c), append(raws, raw)
		return nil
	})
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	if len(chunks) != 1 {
		t.Fatalf("%d chunks, want 1", len(chunks))
	}
	golden(t, "processes.pb", raws[0])

	byPID := map[int32]*batch.Process{}
	for i := range p.Procs {
		byPID[p.Procs[i].PID] = &p.Procs[i]
	}
	want := &process.CollectorProc{
		HostName:  p.Host,
		Info:      wantInfo(&p.System),
		GroupId:   42,
		GroupSize: 1,
	}
	// Container groups in container order, unlisted containers, then the host.
	for _, pid := range []int32{900, 901, 950, 951, 980, 1, 2, 14, 1200} {
		want.Processes = append(want.Processes, wantProcess(byPID[pid]))
	}
	for i := range p.Containers {
		want.Containers = append(want.Containers, wantContainer(&p.Containers[i]))
	}
	if diff := cmp.Diff(want, chunks[0]); diff != "" {
		t.Errorf("decoded CollectorProc (-want +got):\n%s", diff)
	}
	// Spot checks of the mappings the oracle shares with the encoder.
	procs := chunks[0].Processes
	if got := procs[0].Command.Args; len(got) != 1 || got[0] != "nginx: master process /usr/sbin/nginx -g daemon off;" {
		t.Errorf("nginx args = %q", got)
	}
	if got := procs[3].Command.Args; !slices.Equal(got, []string{"sh", "-c", "", `echo "hi"`}) {
		t.Errorf("sh args = %q", got)
	}
	if got := procs[2].Command.Args; len(got) != 1804 {
		t.Errorf("java has %d args, want 1804", len(got))
	}
	if s := procs[3].State; s != process.ProcessState_Z {
		t.Errorf("zombie state = %v", s)
	}
	if s := procs[7].State; s != process.ProcessState_U {
		t.Errorf("idle kernel thread state = %v, want U as the agent maps I", s)
	}
	if io := procs[1].IoStat; io.ReadRate != -1 || io.WriteBytesRate != -1 || procs[1].OpenFdCount != -1 {
		t.Errorf("unknown IO/fds = %+v, %d, want -1", io, procs[1].OpenFdCount)
	}
	oracle, err := want.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(oracle, raws[0]); diff != "" {
		t.Errorf("body differs from gogo's Marshal (-gogo +ours):\n%.3000s", diff)
	}
	// The envelope is agent-payload's: its own decoder reads our message back
	// to the same header and body. (The compressed bytes differ from
	// process.EncodeMessage's: we compress at zstd's fastest level.)
	theirs, err := process.DecodeMessage(bodies[0])
	if err != nil {
		t.Fatalf("process.DecodeMessage: %v", err)
	}
	if h := theirs.Header; h.Version != process.MessageV3 || h.Encoding != process.MessageEncodingZstdPBxNoCgo || h.Type != process.TypeCollectorProc {
		t.Errorf("header = %+v", h)
	}
	back, err := theirs.Body.(*process.CollectorProc).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(back, oracle) {
		t.Errorf("body decoded by process.DecodeMessage (%d B) differs from gogo's Marshal (%d B)", len(back), len(oracle))
	}
}

type ctrSpec struct {
	id    string
	procs int
	list  bool // in Processes.Containers
}

// chunkLayout is what a chunk holds: processes per container ID ("" for the
// host) and the IDs of its Container objects.
type chunkLayout struct {
	Procs      map[string]int
	Containers []string
}

func TestProcessChunking(t *testing.T) {
	t.Parallel()
	type L = chunkLayout
	type M = map[string]int
	for _, tc := range []struct {
		name  string
		max   int
		ctrs  []ctrSpec
		host  int
		want  []L // nil: only the invariants are checked
		empty bool
	}{
		{
			name: "first fit then host fill", max: 100, host: 50,
			ctrs: []ctrSpec{{"a", 60, true}, {"b", 60, true}, {"c", 30, true}},
			want: []L{
				{M{"a": 60, "c": 30, "": 10}, []string{"a", "c"}},
				{M{"b": 60, "": 40}, []string{"b"}},
			},
		},
		{
			name: "container over a chunk", max: 100, host: 10,
			ctrs: []ctrSpec{{"big", 250, true}},
			want: []L{
				{M{"big": 100}, []string{"big"}},
				{M{"big": 100}, []string{"big"}},
				{M{"big": 50, "": 10}, []string{"big"}},
			},
		},
		{
			name: "containers without processes in the last chunk", max: 3, host: 4,
			ctrs: []ctrSpec{{"idle1", 0, true}, {"a", 2, true}, {"idle2", 0, true}},
			want: []L{
				{M{"a": 2, "": 1}, []string{"a"}},
				{M{"": 3}, []string{"idle1", "idle2"}},
			},
		},
		{
			name: "only containers without processes", max: 100,
			ctrs: []ctrSpec{{"x", 0, true}, {"y", 0, true}},
			want: []L{{M{}, []string{"x", "y"}}},
		},
		{
			name: "unlisted container kept together", max: 5, host: 3,
			ctrs: []ctrSpec{{"a", 3, true}, {"ghost", 4, false}},
			want: []L{
				{M{"a": 3, "": 2}, []string{"a"}},
				{M{"ghost": 4, "": 1}, nil},
			},
		},
		{name: "host only", max: 100, host: 250, want: []L{{M{"": 100}, nil}, {M{"": 100}, nil}, {M{"": 50}, nil}}},
		{name: "nothing", max: 100, empty: true},
		{name: "200 containers 5000 processes", max: 100, host: 1000, ctrs: manyContainers(200, 4000)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := &batch.Processes{Host: "h", System: batch.System{CPUs: 1}}
			// Interleave pids across containers, as /proc order would.
			pid := int32(1)
			left := map[string]int{"": tc.host}
			for _, c := range tc.ctrs {
				left[c.id] = c.procs
				if c.list {
					p.Containers = append(p.Containers, batch.Container{ID: c.id, Runtime: "docker"})
				}
			}
			for more := true; more; {
				more = false
				for _, id := range append([]string{""}, ids(tc.ctrs)...) {
					if left[id] > 0 {
						pr := p.Next()
						pr.PID, pr.ContainerID, pr.Comm = pid, id, append(pr.Comm, "x"...)
						pid++
						left[id]--
						more = true
					}
				}
			}
			e, err := NewProcessEncoder(ProcessOptions{MaxPerChunk: tc.max})
			if err != nil {
				t.Fatal(err)
			}
			var got []L
			seen := map[int32]int{}
			err = e.Encode(p, 7, func(pl *Payload) error {
				c, _ := decodeChunk(t, pl.Body)
				l := L{Procs: M{}}
				for _, ctr := range c.Containers {
					l.Containers = append(l.Containers, ctr.Id)
				}
				for _, pr := range c.Processes {
					l.Procs[pr.ContainerId]++
					seen[pr.Pid]++
					if listed(tc.ctrs, pr.ContainerId) && !slices.Contains(l.Containers, pr.ContainerId) {
						t.Errorf("chunk %d: process %d's container %q is not in the chunk", pl.ChunkIndex, pr.Pid, pr.ContainerId)
					}
				}
				if len(c.Processes) > tc.max || pl.Points != len(c.Processes) {
					t.Errorf("chunk %d: %d processes (Points %d), max %d", pl.ChunkIndex, len(c.Processes), pl.Points, tc.max)
				}
				if pl.ContainerCount != len(c.Containers) || pl.ChunkIndex != len(got) || c.GroupId != 7 ||
					int(c.GroupSize) != pl.GroupSize || c.HostName != "h" {
					t.Errorf("chunk %d: count %d/%d, group %d size %d/%d", len(got), pl.ContainerCount, len(c.Containers),
						c.GroupId, c.GroupSize, pl.GroupSize)
				}
				got = append(got, l)
				return nil
			})
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			if tc.empty != (len(got) == 0) {
				t.Fatalf("%d chunks, want empty %v", len(got), tc.empty)
			}
			if len(seen) != len(p.Procs) {
				t.Errorf("%d distinct processes sent, want %d", len(seen), len(p.Procs))
			}
			for pid, n := range seen {
				if n != 1 {
					t.Errorf("process %d sent %d times", pid, n)
				}
			}
			for i, l := range got {
				for id, n := range l.Procs {
					// A container that fits in a chunk is never split.
					if spec, ok := find(tc.ctrs, id); ok && spec.procs <= tc.max && n != spec.procs {
						t.Errorf("chunk %d holds %d of container %s's %d processes", i, n, id, spec.procs)
					}
				}
			}
			if tc.want != nil {
				if diff := cmp.Diff(tc.want, got); diff != "" {
					t.Errorf("chunks (-want +got):\n%s", diff)
				}
			}
			if min := (len(p.Procs) + tc.max - 1) / tc.max; tc.want == nil && len(got) > min+min/10+1 {
				t.Errorf("%d chunks for %d processes, want about %d", len(got), len(p.Procs), min)
			}
		})
	}
}

func manyContainers(n, procs int) []ctrSpec {
	out := make([]ctrSpec, n)
	for i := range out {
		out[i] = ctrSpec{id: fmt.Sprintf("c%03d", i), procs: (i*37)%(2*procs/n) + 1, list: true}
	}
	out[5].procs, out[6].procs = 0, 130
	return out
}

func ids(cs []ctrSpec) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.id
	}
	return out
}

func find(cs []ctrSpec, id string) (ctrSpec, bool) {
	for _, c := range cs {
		if c.id == id {
			return c, true
		}
	}
	return ctrSpec{}, false
}

func listed(cs []ctrSpec, id string) bool {
	c, ok := find(cs, id)
	return ok && c.list
}

func TestProcessDuplicateContainer(t *testing.T) {
	t.Parallel()
	p := fixtureProcesses()
	p.Containers = append(p.Containers, p.Containers[0], batch.Container{})
	e, _ := NewProcessEncoder(ProcessOptions{})
	var n int
	if err := e.Encode(p, 1, func(pl *Payload) error { n = pl.ContainerCount; return nil }); err != nil {
		t.Fatal(err)
	}
	if n != 3 || e.Stats().Skipped != 2 {
		t.Errorf("containers sent %d, skipped %d; want 3 and 2", n, e.Stats().Skipped)
	}
}

func TestProcessEmitError(t *testing.T) {
	t.Parallel()
	stop := errors.New("queue full")
	e, _ := NewProcessEncoder(ProcessOptions{MaxPerChunk: 2})
	calls := 0
	err := e.Encode(fixtureProcesses(), 1, func(*Payload) error { calls++; return stop })
	if !errors.Is(err, stop) || calls != 1 {
		t.Errorf("Encode = %v after %d emits, want %v after 1", err, calls, stop)
	}
}

func TestProcessEncodeAllocs(t *testing.T) {
	p := fixtureProcesses()
	for range 40 { // more containers and chunks than the fixture alone
		for i := range 9 {
			q := p.Procs[i]
			pr := p.Next()
			pr.PID, pr.ContainerID, pr.Args, pr.Comm, pr.State = q.PID+10000, q.ContainerID, q.Args, q.Comm, q.State
		}
	}
	e, err := NewProcessEncoder(ProcessOptions{MaxPerChunk: 50})
	if err != nil {
		t.Fatal(err)
	}
	emit := func(*Payload) error { return nil }
	if err := e.Encode(p, 1, emit); err != nil {
		t.Fatal(err)
	}
	if a := testing.AllocsPerRun(5, func() { _ = e.Encode(p, 1, emit) }); a != 0 {
		t.Errorf("Encode allocates %v times per run, want 0", a)
	}
}

func TestRequestID(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 26, 14, 3, 7, 0, time.UTC)
	secs := uint64((25*24+14)*3600 + 3*60 + 7)
	h := fnv.New32()
	h.Write([]byte("i-0123456789abcdef0"))
	h.Write([]byte("4242"))
	want := secs<<42 | uint64(h.Sum32()&(1<<28-1))<<14 | 3
	if got := RequestID(now, "i-0123456789abcdef0", 4242, 3); got != want {
		t.Errorf("RequestID = %#x, want %#x", got, want)
	}
	if a, b := RequestID(now, "h", 1, 0), RequestID(now, "h", 1, 1<<14); a != b {
		t.Errorf("chunk index is not masked to 14 bits: %#x vs %#x", a, b)
	}
}

func TestProcessHeaders(t *testing.T) {
	t.Parallel()
	now := time.Unix(1717000000, 0)
	h := http.Header{}
	ProcessHeaders(h, "i-0abc", "0.1.0", &Payload{ContainerCount: 3, ChunkIndex: 2}, now, now.Add(-time.Hour))
	want := map[string]string{
		"X-Dd-Hostname":            "i-0abc",
		"X-Dd-Processagentversion": "0.1.0",
		"X-Dd-Containercount":      "3",
		"X-Dd-Agent-Timestamp":     "1717000000",
		"X-Dd-Agent-Start-Time":    "1716996400",
		"Content-Type":             "application/x-protobuf",
	}
	for k, v := range want {
		if got := h.Get(k); got != v {
			t.Errorf("header %s = %q, want %q", k, got, v)
		}
	}
	id, err := strconv.ParseUint(h.Get("X-DD-Request-ID"), 10, 64)
	if err != nil || id&(1<<14-1) != 2 {
		t.Errorf("X-DD-Request-ID = %q (%v), want chunk 2 in the low bits", h.Get("X-DD-Request-ID"), err)
	}
}
