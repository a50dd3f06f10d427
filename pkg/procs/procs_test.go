package procs

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/whippet-agent/whippet/pkg/batch"
	"github.com/whippet-agent/whippet/pkg/collect"
	"github.com/whippet-agent/whippet/pkg/collect/cgroup"
	"github.com/whippet-agent/whippet/pkg/collect/host"
	"github.com/whippet-agent/whippet/pkg/collect/proc"
	"github.com/whippet-agent/whippet/pkg/container"
)

var t0 = time.Unix(1_700_000_000, 0)

const btime = 1_699_990_000 // boot, unix seconds

func snapshot(now time.Time, procs []*collect.Process, ctrs []*collect.Container) *collect.Snapshot {
	s := &collect.Snapshot{Time: now, Processes: procs, Containers: ctrs}
	s.Host.Stat.Btime, s.Host.Stat.Has = btime, host.StatBtime
	return s
}

// busy is a process sampled twice 10 s apart: 3 s user and 1 s system CPU, and
// 100 read / 50 write syscalls, 4096 / 8192 bytes per second.
func busy() *collect.Process {
	p := &collect.Process{PID: 42, PPID: 1, StartTime: 12345, State: 'S', Comm: []byte("mysqld"),
		Cmdline: []byte("mysqld\x00--password=hunter2\x00--port=3306\x00"), UID: 999, GID: 998, User: "mysql",
		Threads: 30, ContainerID: "abc", RSS: 1 << 20, VMS: 4 << 20, Swap: 4096, Nice: -5, HasPrev: true}
	p.Prev = collect.Sample{Time: t0.Add(-10 * time.Second), UTime: 1000, STime: 500, HasIO: true,
		IO: proc.IO{SyscR: 1000, SyscW: 2000, ReadBytes: 1 << 20, WriteBytes: 2 << 20}}
	p.Cur = collect.Sample{Time: t0, UTime: 1300, STime: 600, VolCtxt: 77, NonVolCtxt: 7, HasIO: true,
		IO: proc.IO{SyscR: 2000, SyscW: 2500, ReadBytes: 1<<20 + 40960, WriteBytes: 2<<20 + 81920}}
	return p
}

func TestBuildProcess(t *testing.T) {
	t.Parallel()
	fresh := busy()
	fresh.HasPrev, fresh.Prev = false, collect.Sample{}
	noIO := busy()
	noIO.Cur.HasIO = false
	kthread := &collect.Process{PID: 2, StartTime: 1, State: 'I', Kernel: true, Comm: []byte("kthreadd"), User: "root",
		Cur: collect.Sample{Time: t0}}
	common := batch.Process{PID: 42, PPID: 1, Args: []byte("mysqld\x00--password=********\x00--port=3306\x00"),
		Comm: []byte("mysqld"), User: "mysql", UID: 999, GID: 998, State: 'S',
		CreateTime: btime*1000 + 123450, Nice: -5, Threads: 30, OpenFDs: batch.Unknown,
		UserTime: 1300, SystemTime: 600, RSS: 1 << 20, VMS: 4 << 20, Swap: 4096,
		VolCtxSwitches: 77, InvolCtxSwitches: 7, ContainerID: "abc"}
	with := func(f func(*batch.Process)) batch.Process {
		p := common
		f(&p)
		return p
	}
	tests := []struct {
		name string
		opt  Options
		in   *collect.Process
		want []batch.Process
	}{
		{"two samples", Options{}, busy(), []batch.Process{with(func(p *batch.Process) {
			p.UserPct, p.SystemPct, p.TotalPct = 30, 10, 40
			p.ReadRate, p.WriteRate, p.ReadBytesRate, p.WriteBytesRate = 100, 50, 4096, 8192
		})}},
		{"first sample: listed, CPU 0, IO unknown", Options{}, fresh, []batch.Process{with(func(p *batch.Process) {
			p.ReadRate, p.WriteRate, p.ReadBytesRate, p.WriteBytesRate = batch.Unknown, batch.Unknown, batch.Unknown, batch.Unknown
		})}},
		{"io unreadable", Options{}, noIO, []batch.Process{with(func(p *batch.Process) {
			p.UserPct, p.SystemPct, p.TotalPct = 30, 10, 40
			p.ReadRate, p.WriteRate, p.ReadBytesRate, p.WriteBytesRate = batch.Unknown, batch.Unknown, batch.Unknown, batch.Unknown
		})}},
		{"kernel thread listed", Options{}, kthread, []batch.Process{{PID: 2, Comm: []byte("kthreadd"), User: "root",
			State: 'I', CreateTime: btime*1000 + 10, OpenFDs: batch.Unknown, ReadRate: batch.Unknown, WriteRate: batch.Unknown,
			ReadBytesRate: batch.Unknown, WriteBytesRate: batch.Unknown}}},
		{"kernel thread skipped", Options{SkipKernelThreads: true}, kthread, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := New(tt.opt)
			var out batch.Processes
			b.Build(snapshot(t0, []*collect.Process{tt.in}, nil), &out)
			if diff := cmp.Diff(tt.want, out.Procs, cmpopts.EquateEmpty(), cmpopts.EquateApprox(0, 1e-3)); diff != "" {
				t.Errorf("Build(%s) procs (-want +got):\n%s", tt.name, diff)
			}
		})
	}
}

func TestBuildHeader(t *testing.T) {
	t.Parallel()
	b := New(Options{Host: "i-0abc", Interval: 10 * time.Second, NumCPU: 2, TotalMemory: 8 << 30, KernelVersion: "6.18.0"})
	var out batch.Processes
	b.Build(snapshot(t0, nil, nil), &out)
	want := batch.Processes{Host: "i-0abc", Timestamp: t0.UnixMilli(), Interval: 10,
		System: batch.System{CPUs: 2, TotalMemory: 8 << 30, KernelVersion: "6.18.0", OS: "linux"}}
	if diff := cmp.Diff(want, out, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("Build header (-want +got):\n%s", diff)
	}
}

// TestArgsCache: a process run is scrubbed once; an exec (same pid and start
// time, new command line) is scrubbed again; an exited process is forgotten.
func TestArgsCache(t *testing.T) {
	t.Parallel()
	b := New(Options{})
	p := busy()
	var out batch.Processes
	b.Build(snapshot(t0, []*collect.Process{p}, nil), &out)
	e := b.args[argKey{42, 12345}]
	if e == nil || len(b.args) != 1 {
		t.Fatalf("cache after one cycle: %d entries, %v", len(b.args), e)
	}
	first := &e.scrubbed[0]
	b.Build(snapshot(t0.Add(10*time.Second), []*collect.Process{p}, nil), &out)
	if e2 := b.args[argKey{42, 12345}]; e2 != e || &e2.scrubbed[0] != first {
		t.Errorf("an unchanged process was scrubbed again")
	}
	p.Cmdline = []byte("sh\x00-c\x00echo\x00--secret\x00x\x00")
	b.Build(snapshot(t0.Add(20*time.Second), []*collect.Process{p}, nil), &out)
	if got := string(out.Procs[0].Args); got != "sh\x00-c\x00echo\x00--secret\x00********\x00" {
		t.Errorf("after exec: args %q", got)
	}
	reused := *p
	reused.StartTime++ // the pid reused by another process
	reused.Cmdline = []byte("sleep\x001\x00")
	b.Build(snapshot(t0.Add(30*time.Second), []*collect.Process{&reused}, nil), &out)
	if _, ok := b.args[argKey{42, 12345}]; ok || len(b.args) != 1 || string(out.Procs[0].Args) != "sleep\x001\x00" {
		t.Errorf("after pid reuse: %d entries, args %q", len(b.args), out.Procs[0].Args)
	}
}

func meta(id, name, st string, pid int) *container.Meta {
	m := &container.Meta{ID: id, Name: name, State: st, Pid: pid, Image: "nginx:1.27", StartedAt: t0.Add(-time.Hour),
		Labels: map[string]string{container.LabelTaskARN: "arn:aws:ecs:us-east-1:123456789012:task/prod/0123",
			container.LabelFamily: "web", container.LabelVersion: "7"}}
	m.Finish()
	return m
}

func TestBuildContainers(t *testing.T) {
	t.Parallel()
	web := &collect.Container{ID: "web1", Meta: meta("web1", "web", "running", 100), HasPrev: true}
	full := cgroup.CPUUsage | cgroup.CPUUser | cgroup.CPUSystem | cgroup.CPUQuota | cgroup.MemoryLimit | cgroup.IOBytes
	web.Prev = collect.ContainerSample{Time: t0.Add(-10 * time.Second), HasNet: true, Stats: cgroup.Stats{Has: full,
		CPU: cgroup.CPUStats{Usage: 1e9, User: 6e8, System: 4e8},
		IO:  cgroup.IOStats{Devices: []cgroup.IODevice{{ReadBytes: 1000, WriteBytes: 2000}}}},
		Net: host.NetDev{Ifaces: []host.Iface{{Name: "eth0", RxBytes: 100, TxBytes: 200, RxPackets: 1, TxPackets: 2}, {Name: "lo", RxBytes: 1e9}}}}
	web.Cur = collect.ContainerSample{Time: t0, HasNet: true, Stats: cgroup.Stats{Has: full,
		CPU:    cgroup.CPUStats{Usage: 6e9, User: 4e9, System: 2e9, Quota: 50000, Period: 100000},
		Memory: cgroup.MemoryStats{Limit: 256 << 20, Usage: 100 << 20, RSS: 60 << 20, Cache: 30 << 20, WorkingSet: 80 << 20},
		Pids:   cgroup.PidsStats{Current: 12, Limit: 100},
		IO:     cgroup.IOStats{Devices: []cgroup.IODevice{{ReadBytes: 11000, WriteBytes: 42000}}}},
		Net: host.NetDev{Ifaces: []host.Iface{{Name: "eth0", RxBytes: 10100, TxBytes: 20200, RxPackets: 101, TxPackets: 202}, {Name: "lo", RxBytes: 5e9}}}}
	cpuset := &collect.Container{ID: "batch1", Meta: meta("batch1", "batch", "paused", 200)}
	cpuset.Cur = collect.ContainerSample{Time: t0, Stats: cgroup.Stats{Has: cgroup.CPUCount, CPU: cgroup.CPUStats{CPUs: 2, Quota: -1}}}
	stopped := &collect.Container{ID: "old", Meta: meta("old", "old", "exited", 0)}
	noMeta := &collect.Container{ID: "x"}

	b := New(Options{})
	var out batch.Processes
	b.Build(snapshot(t0, nil, []*collect.Container{web, cpuset, stopped, noMeta}), &out)
	u := float32(batch.Unknown)
	want := []batch.Container{
		{ID: "web1", Name: "web", Runtime: "docker", Tags: web.Meta.Tags.All(), State: batch.StateRunning,
			Started: t0.Add(-time.Hour).Unix(), CPULimit: 50, MemoryLimit: 256 << 20,
			UserPct: 34, SystemPct: 16, TotalPct: 50, CPUUsageNs: 5e8, ReadBps: 1000, WriteBps: 4000,
			NetRcvdPs: 10, NetSentPs: 20, NetRcvdBps: 1000, NetSentBps: 2000,
			MemRSS: 60 << 20, MemCache: 30 << 20, MemUsage: 100 << 20, MemAccounted: 80 << 20, ThreadCount: 12, ThreadLimit: 100},
		{ID: "batch1", Name: "batch", Runtime: "docker", Tags: cpuset.Meta.Tags.All(), State: batch.StatePaused,
			Started: t0.Add(-time.Hour).Unix(), CPULimit: 200,
			UserPct: u, SystemPct: u, TotalPct: u, CPUUsageNs: u, ReadBps: u, WriteBps: u, NetRcvdPs: u, NetSentPs: u, NetRcvdBps: u, NetSentBps: u},
	}
	if diff := cmp.Diff(want, out.Containers, cmpopts.EquateApprox(0, 1e-3)); diff != "" {
		t.Errorf("Build containers (-want +got):\n%s", diff)
	}
	for _, tag := range []string{"task_arn:arn:aws:ecs:us-east-1:123456789012:task/prod/0123", "container_id:web1", "task_family:web"} {
		found := false
		for _, got := range out.Containers[0].Tags {
			found = found || got == tag
		}
		if !found {
			t.Errorf("web tags %q lack %q", out.Containers[0].Tags, tag)
		}
	}
	// Tags are computed once per Meta and dropped with it.
	tags := &out.Containers[0].Tags[0]
	b.Build(snapshot(t0.Add(10*time.Second), nil, []*collect.Container{web}), &out)
	if &out.Containers[0].Tags[0] != tags || len(b.tags) != 1 {
		t.Errorf("tags recomputed for the same Meta, or not pruned: %d cached", len(b.tags))
	}
	web.Meta = meta("web1", "web-renamed", "running", 100)
	b.Build(snapshot(t0.Add(20*time.Second), nil, []*collect.Container{web}), &out)
	if out.Containers[0].Name != "web-renamed" || len(b.tags) != 1 || b.tags[web.Meta] == nil {
		t.Errorf("after a new Meta: name %q, %d cached", out.Containers[0].Name, len(b.tags))
	}
}

func TestContainerState(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]batch.ContainerState{"created": 1, "restarting": 2, "running": 3, "paused": 4,
		"exited": 5, "dead": 6, "removing": 0, "": 0} {
		if got := state(in); got != want {
			t.Errorf("state(%q) = %d, want %d", in, got, want)
		}
	}
}

// synthetic is a steady host: n processes (a tenth with a secret), m containers.
func synthetic(n, m int) (*collect.Snapshot, *collect.Snapshot) {
	var procs []*collect.Process
	for i := range n {
		p := busy()
		p.PID, p.StartTime = int32(1000+i), uint64(5000+i)
		p.Cmdline = []byte(fmt.Sprintf("/usr/bin/app-%d\x00--workers=4\x00--config=/etc/app/%d.yaml\x00", i, i))
		if i%10 == 0 {
			p.Cmdline = append(p.Cmdline, "--api-key=abc\x00"...)
		}
		procs = append(procs, p)
	}
	var ctrs []*collect.Container
	for i := range m {
		c := &collect.Container{ID: fmt.Sprint("c", i), Meta: meta(fmt.Sprint("c", i), fmt.Sprint("n", i), "running", 10+i), HasPrev: true}
		c.Prev.Time, c.Cur.Time = t0.Add(-10*time.Second), t0
		c.Cur.Stats.Has, c.Prev.Stats.Has = cgroup.CPUUsage|cgroup.IOBytes, cgroup.CPUUsage|cgroup.IOBytes
		c.Cur.Stats.CPU.Usage = 1e9
		ctrs = append(ctrs, c)
	}
	return snapshot(t0, procs, ctrs), snapshot(t0.Add(10*time.Second), procs, ctrs)
}

func TestBuildAllocs(t *testing.T) {
	s1, s2 := synthetic(500, 20)
	b := New(Options{})
	var out batch.Processes
	b.Build(s1, &out)
	b.Build(s2, &out)
	if n := testing.AllocsPerRun(20, func() { b.Build(s2, &out) }); n != 0 {
		t.Errorf("steady Build of 500 processes, 20 containers: %v allocs, want 0", n)
	}
	if len(out.Procs) != 500 || len(out.Containers) != 20 {
		t.Fatalf("built %d processes, %d containers", len(out.Procs), len(out.Containers))
	}
	for _, p := range out.Procs {
		if bytes.Contains(p.Args, []byte("abc")) {
			t.Errorf("pid %d: secret in %q", p.PID, p.Args)
		}
	}
}

func BenchmarkBuild(b *testing.B) {
	s1, s2 := synthetic(500, 20)
	bl := New(Options{})
	var out batch.Processes
	bl.Build(s1, &out)
	b.ReportAllocs()
	for b.Loop() {
		bl.Build(s2, &out)
	}
}
