//go:build linux

package collect

import (
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/whippet-agent/whippet/bpf"
	"github.com/whippet-agent/whippet/internal/testenv"
	"github.com/whippet-agent/whippet/pkg/collect/hostfs"
)

// TestTaskIterSampler runs the collector on the real kernel twice side by side,
// one sampling through the BPF task iterator, one through /proc: after the seed
// scan the iterator collector does not scan, and both report the same processes
// with the same identity (pid, ppid, uid, user, start time, comm, container,
// kernel thread), pid 1 included although the iterator skips it on this kernel.
func TestTaskIterSampler(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Skip(t, "the task iterator needs root")
	}
	it, err := bpf.OpenTaskIter()
	if err != nil {
		testenv.Skip(t, "no task iterator: %v", err)
	}
	defer it.Close()
	busy := exec.Command("sh", "-c", "while :; do :; done")
	if err := busy.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { busy.Process.Kill(); busy.Wait() })

	root := hostfs.New("/proc", "/sys", "/etc", "")
	u := users{0: "root"}
	ci := newCollector(t, root, Options{Tasks: it, Users: u})
	cp := newCollector(t, root, Options{Users: u})
	if _, err := ci.Collect(time.Now()); err != nil {
		t.Fatal(err)
	}
	first, err := cp.Collect(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	// Processes that exec between the two collectors' reads (other tests run
	// concurrently) change comm and command line: compare those that kept theirs
	// from the first /proc cycle to the last.
	firstComm := map[int32]string{}
	for _, q := range first.Processes {
		firstComm[q.PID] = string(q.Comm)
	}
	time.Sleep(300 * time.Millisecond)
	si, err := ci.Collect(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	sp, err := cp.Collect(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if si.Stats.Sampler != "task-iterator" || si.Stats.Scans != 1 || si.Stats.TaskIterErrors != 0 {
		t.Errorf("iterator collector: sampler %q, %d scans, %d errors; want task-iterator, 1 (the seed), 0",
			si.Stats.Sampler, si.Stats.Scans, si.Stats.TaskIterErrors)
	}
	byPID := map[int32]*Process{}
	for _, p := range si.Processes {
		byPID[p.PID] = p
	}
	common := 0
	for _, q := range sp.Processes {
		p := byPID[q.PID]
		if p == nil {
			continue
		}
		common++
		if p.StartTime != q.StartTime || firstComm[q.PID] != string(q.Comm) {
			continue // the pid was reused, or the process exec'd, in between
		}
		// A zombie's /proc cgroup paths read "/" on v1 hierarchies while the
		// iterator still sees its cgroup: its container is not compared.
		zombie := p.State == 'Z' || q.State == 'Z'
		if p.PPID != q.PPID || p.UID != q.UID || p.User != q.User || (p.ContainerID != q.ContainerID && !zombie) || p.Kernel != q.Kernel ||
			(!p.Kernel && string(p.Comm) != string(q.Comm)) {
			t.Errorf("pid %d: iterator ppid %d uid %d %q comm %q ctr %q kernel %v; /proc ppid %d uid %d %q comm %q ctr %q kernel %v",
				p.PID, p.PPID, p.UID, p.User, p.Comm, p.ContainerID, p.Kernel, q.PPID, q.UID, q.User, q.Comm, q.ContainerID, q.Kernel)
		}
		// io comes from the iterator record, read before /proc's: counters
		// only grow.
		if q.Cur.HasIO && (!p.Cur.HasIO || p.Cur.IO.SyscR > q.Cur.IO.SyscR || p.Cur.IO.SyscW > q.Cur.IO.SyscW ||
			p.Cur.IO.ReadBytes > q.Cur.IO.ReadBytes || p.Cur.IO.WriteBytes > q.Cur.IO.WriteBytes) {
			t.Errorf("pid %d io: iterator %+v (has %v), /proc after it %+v", p.PID, p.Cur.IO, p.Cur.HasIO, q.Cur.IO)
		}
		if string(p.Cmdline) != string(q.Cmdline) && !p.Kernel {
			t.Logf("pid %d cmdline differs (rewritten argv?): %q vs %q", p.PID, p.Cmdline, q.Cmdline)
		}
	}
	if common < len(sp.Processes)*95/100 {
		t.Errorf("%d processes in common of %d (/proc) and %d (iterator)", common, len(sp.Processes), len(si.Processes))
	}
	if byPID[1] == nil {
		t.Errorf("pid 1 missing from the iterator collector")
	}
	b := byPID[int32(busy.Process.Pid)]
	if b == nil {
		t.Fatal("busy child missing")
	}
	if q := find(sp, int(b.PID)); q == nil || !b.Cur.HasIO || b.Cur.IO.SyscR != q.Cur.IO.SyscR || b.Cur.IO.SyscW != q.Cur.IO.SyscW ||
		b.Cur.IO.ReadBytes != q.Cur.IO.ReadBytes || b.Cur.IO.WriteBytes != q.Cur.IO.WriteBytes {
		t.Errorf("busy child (no syscalls) io: iterator %+v, /proc %+v", b.Cur.IO, q)
	}
	if u, s, ok := b.CPUPercent(); !ok || u+s < 5 || u+s > 220 || b.Cur.Exact == b.viaProc {
		t.Errorf("busy child CPU %.1f+%.1f%% (%v), exact ns %d (prev %d, has prev %v, dt %v, ticks %d+%d prev %d+%d), via /proc %v", u, s, ok, b.Cur.CPUNs, b.Prev.CPUNs, b.HasPrev, b.Cur.Time.Sub(b.Prev.Time), b.Cur.UTime, b.Cur.STime, b.Prev.UTime, b.Prev.STime, b.viaProc)
	}
	if si.Stats.TaskIterMissed > uint64(len(si.Processes)/20) {
		t.Errorf("the iterator skipped %d of %d processes", si.Stats.TaskIterMissed, len(si.Processes))
	}
	for i := 1; i < len(si.Processes); i++ {
		if si.Processes[i-1].PID >= si.Processes[i].PID {
			t.Fatalf("processes not in pid order at %d", i)
		}
	}
}

func TestTaskState(t *testing.T) {
	t.Parallel()
	for in, want := range map[uint32]byte{0: 'R', 1: 'S', 2: 'D', 0x402: 'I', 4: 'T', 8: 't', 0x80: 'Z', 0x101: 'S'} {
		if got := taskState(in); got != want {
			t.Errorf("taskState(%#x) = %c, want %c", in, got, want)
		}
	}
}
