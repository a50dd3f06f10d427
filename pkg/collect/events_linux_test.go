//go:build linux

package collect

import (
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/whippet-agent/whippet/pkg/collect/hostfs"
	"github.com/whippet-agent/whippet/pkg/collect/passwd"
	"github.com/whippet-agent/whippet/pkg/procevent"
)

// ev builds a procevent.Event as an eBPF source fills it.
func ev(typ procevent.Type, pid, ppid int32, comm, file string, memcg uint64) *procevent.Event {
	e := &procevent.Event{Type: typ, PID: pid, TGID: pid, PPID: ppid, UID: 4242, MemCgroupID: memcg,
		Has: procevent.HasPPID | procevent.HasIDs | procevent.HasCgroup | procevent.HasComm | procevent.HasStart | procevent.HasTime}
	copy(e.Comm[:], comm)
	if file != "" {
		e.FilenameLen = uint16(copy(e.Filename[:], file))
		e.Has |= procevent.HasFilename
	}
	e.StartNs = 1_000_000_000
	if typ == procevent.Exit {
		e.ExitNs, e.TimeNs = 1_050_000_000, 1_050_000_000
		e.ExitCode = 3 << 8
		e.CPUNs, e.MaxRSSKB = 20_000_000, 1024
		e.Has |= procevent.HasExitCode | procevent.HasCPU | procevent.HasMaxRSS
	}
	return e
}

func inode(t *testing.T, path string) uint64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}

func hasPID(s *Snapshot, pid int32) bool {
	for _, p := range s.Processes {
		if p.PID == pid {
			return true
		}
	}
	return false
}

// TestEventDrivenTable drives the process table from synthetic events over the
// v1 fixture: exits remove without a scan, execs add, processes that came and
// went between cycles are reported as short-lived and attributed to their
// container by memory cgroup id, lost events and the reconcile interval force a
// scan, and a quiet cycle neither scans nor allocates.
func TestEventDrivenTable(t *testing.T) {
	dir := "../../testdata/fakehost/v1"
	root := hostfs.At(dir)
	users, _ := passwd.New(root)
	feed := NewEventFeed(8)
	var lost uint64
	src := &fakeSource{}
	c := newCollector(t, root, Options{Users: users, Containers: src, Events: feed,
		EventsLost: func() uint64 { return lost }, Reconcile: time.Hour, MaxShortLived: 2})
	src.up(meta(v1Web, "web", 32351, "running"))
	t0 := time.Unix(1_700_000_000, 0)
	s, err := c.Collect(t0)
	if err != nil {
		t.Fatal(err)
	}
	if s.Stats.Scans != 1 || !hasPID(s, 32245) || !hasPID(s, 32246) {
		t.Fatalf("first cycle: %d scans, want 1 with the fixture's processes", s.Stats.Scans)
	}
	n0 := len(s.Processes)

	// An exit of a tracked process: gone next cycle, no scan (its files remain in
	// the fixture, so a scan would bring it back).
	feed.Add(ev(procevent.Exit, 32245, 1, "sleep", "", 0))
	s, _ = c.Collect(t0.Add(15 * time.Second))
	if s.Stats.Scans != 1 || hasPID(s, 32245) || len(s.Processes) != n0-1 || s.Stats.Exits != 1 {
		t.Errorf("after exit: scans %d, 32245 listed %v, %d processes (want %d), exits %d",
			s.Stats.Scans, hasPID(s, 32245), len(s.Processes), n0-1, s.Stats.Exits)
	}

	// An exec of an untracked pid: added and sampled without a scan.
	feed.Add(ev(procevent.Exec, 32245, 1, "sleep", "/bin/sleep", 0))
	s, _ = c.Collect(t0.Add(30 * time.Second))
	if !hasPID(s, 32245) || s.Stats.Scans != 1 {
		t.Errorf("after exec: 32245 listed %v, scans %d", hasPID(s, 32245), s.Stats.Scans)
	}

	// Short-lived: exec+exit in one interval, in the web container; a fork+exit on
	// the host; and a third that only counts (MaxShortLived 2).
	memcg := inode(t, filepath.Join(dir, "sys/fs/cgroup/memory/ecs/df3680a1ae7b4506c757ecd12e08f10e", v1Web))
	feed.Add(ev(procevent.Exec, 60001, 32351, "true", "/bin/true", memcg))
	feed.Add(ev(procevent.Exit, 60001, 32351, "true", "", memcg))
	feed.Add(ev(procevent.Fork, 60002, 32233, "bash", "", 0))
	feed.Add(ev(procevent.Exit, 60002, 32233, "bash", "", 0))
	feed.Add(ev(procevent.Exit, 60003, 1, "x", "", 0))
	feed.Add(ev(procevent.Exit, 60003, 1, "x", "", 0)) // a duplicate: ignored
	s, _ = c.Collect(t0.Add(45 * time.Second))
	if s.Stats.ShortLivedCount != 3 || s.Stats.ShortLivedDropped != 1 || len(s.ShortLived) != 2 || s.Stats.EventDups != 1 {
		t.Fatalf("short-lived: count %d dropped %d listed %d dups %d; want 3, 1, 2, 1", s.Stats.ShortLivedCount, s.Stats.ShortLivedDropped, len(s.ShortLived), s.Stats.EventDups)
	}
	a, b := s.ShortLived[0], s.ShortLived[1]
	if a.PID != 60001 || string(a.Comm) != "true" || string(a.Path) != "/bin/true" || !a.HasExec || a.ContainerID != v1Web ||
		a.Lifetime != 50*time.Millisecond || a.CPU != 20*time.Millisecond || a.MaxRSS != 1<<20 || a.ExitStatus != 3 ||
		a.User != "4242" || a.PPID != 32351 {
		t.Errorf("short-lived exec'd process = %+v", a)
	}
	if b.PID != 60002 || b.HasExec || string(b.Comm) != "bash" || b.ContainerID != "" {
		t.Errorf("short-lived forked process = %+v", b)
	}
	if web := findCtr(s, v1Web); web == nil || web.ShortLived != 1 {
		t.Errorf("web container short-lived count = %+v, want 1", web)
	}
	if hasPID(s, 60001) || hasPID(s, 60002) || s.Stats.Scans != 1 {
		t.Errorf("short-lived processes listed as live, or a scan ran (%d)", s.Stats.Scans)
	}

	// Quiet cycles: no scan, no allocation.
	next := t0.Add(60 * time.Second)
	if n := testing.AllocsPerRun(10, func() { next = next.Add(15 * time.Second); s, _ = c.Collect(next) }); n != 0 {
		t.Errorf("quiet event-driven cycle: %v allocs, want 0", n)
	}
	if s.Stats.Scans != 1 {
		t.Errorf("quiet cycles scanned: %d scans", s.Stats.Scans)
	}

	// Lost events force a scan, which repairs the table (32245 and 32246 were
	// never reported gone, 32245 was re-added by its exec; nothing to repair).
	lost++
	s, _ = c.Collect(next.Add(15 * time.Second))
	if s.Stats.Scans != 2 || s.Stats.EventGaps != 1 {
		t.Errorf("after lost events: scans %d gaps %d, want 2, 1", s.Stats.Scans, s.Stats.EventGaps)
	}
	// An overflowing feed (capacity 8) drops, counts and forces a scan that
	// finds what the events missed.
	feed.Add(ev(procevent.Exit, 32246, 1, "sleep", "", 0))
	s, _ = c.Collect(next.Add(30 * time.Second))
	if hasPID(s, 32246) {
		t.Fatalf("32246 still listed after its exit")
	}
	for i := range 10 {
		feed.Add(ev(procevent.Fork, int32(61000+i), 1, "x", "", 0))
	}
	s, _ = c.Collect(next.Add(45 * time.Second))
	if _, dropped := feed.Counts(); dropped != 2 || s.Stats.Scans != 3 || !hasPID(s, 32246) || s.Stats.Repairs == 0 {
		t.Errorf("overflow: dropped %d, scans %d, 32246 back %v, repairs %d", dropped, s.Stats.Scans, hasPID(s, 32246), s.Stats.Repairs)
	}
	// The reconcile interval forces a scan by itself.
	s, _ = c.Collect(next.Add(2 * time.Hour))
	if s.Stats.Scans != 4 {
		t.Errorf("reconcile interval: scans %d, want 4", s.Stats.Scans)
	}
}

// TestLateExitEvent: a listed process that a pass finds gone before its exit
// event arrives (the reader drains the ring on a timer) is an exit when the
// event comes in the next cycle, not a short-lived process; an exit of a pid
// never listed still is one.
func TestLateExitEvent(t *testing.T) {
	dir := t.TempDir()
	if out, err := exec.Command("cp", "-a", "../../testdata/fakehost/v1/.", dir).CombinedOutput(); err != nil {
		t.Fatalf("copy fixture: %v: %s", err, out)
	}
	root := hostfs.At(dir)
	feed := NewEventFeed(8)
	c := newCollector(t, root, Options{Events: feed, EventsLost: func() uint64 { return 0 }, Reconcile: time.Hour})
	t0 := time.Unix(1_700_000_000, 0)
	s, err := c.Collect(t0)
	if err != nil {
		t.Fatal(err)
	}
	if !hasPID(s, 32245) {
		t.Fatal("first cycle: 32245 not listed")
	}
	// It exits; its event is still in the ring when the next cycle samples. The
	// collector holds the stat file open, so the fixture's copy is emptied (the
	// sample fails as a real exited process's pread does) rather than removed.
	if err := os.Truncate(filepath.Join(dir, "proc/32245/stat"), 0); err != nil {
		t.Fatal(err)
	}
	s, _ = c.Collect(t0.Add(10 * time.Second))
	if hasPID(s, 32245) || s.Stats.ShortLivedCount != 0 {
		t.Fatalf("after the exit: 32245 listed %v, short-lived %d", hasPID(s, 32245), s.Stats.ShortLivedCount)
	}
	exits := s.Stats.Exits
	feed.Add(ev(procevent.Exit, 32245, 1, "sleep", "", 0))
	feed.Add(ev(procevent.Exit, 60010, 1, "true", "", 0)) // never listed
	s, _ = c.Collect(t0.Add(20 * time.Second))
	if s.Stats.ShortLivedCount != 1 || len(s.ShortLived) != 1 || s.ShortLived[0].PID != 60010 || s.Stats.Exits != exits+1 {
		t.Errorf("late exit event: short-lived %d %+v, exits %d (want 1 [60010], %d)", s.Stats.ShortLivedCount, s.ShortLived, s.Stats.Exits, exits+1)
	}
	// The grace lasts one cycle: a later exit event for the pid counts as short-lived.
	feed.Add(ev(procevent.Exit, 32245, 1, "sleep", "", 0))
	s, _ = c.Collect(t0.Add(30 * time.Second))
	if s.Stats.ShortLivedCount != 2 {
		t.Errorf("second exit event for 32245: short-lived %d, want 2", s.Stats.ShortLivedCount)
	}
}
