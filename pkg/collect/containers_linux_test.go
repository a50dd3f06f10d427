//go:build linux

package collect

import (
	"testing"
	"time"

	"github.com/whippet-agent/whippet/pkg/collect/hostfs"
	"github.com/whippet-agent/whippet/pkg/container"
)

// fakeSource is a container.Source fed by the test.
type fakeSource struct{ pending []container.Change }

func (f *fakeSource) Drain(fn func(container.Change)) {
	for _, c := range f.pending {
		fn(c)
	}
	f.pending = f.pending[:0]
}

func (f *fakeSource) up(m *container.Meta) {
	f.pending = append(f.pending, container.Change{ID: m.ID, Meta: m})
}
func (f *fakeSource) rm(id string) {
	f.pending = append(f.pending, container.Change{ID: id, Removed: true})
}

const (
	v1Web     = "0cbed5dba142072315d496a4f4f21230c74020775cb2f6249dc24ea7f8a2129f"
	v1Billing = "2840cb82852a3dc8063896aa9ec42f2d966e5a8f1180b0acd2b379d28feaa3ad"
)

func meta(id, name string, pid int, state string) *container.Meta {
	m := &container.Meta{ID: id, Name: name, Pid: pid, State: state, Image: "whippet-busybox:latest"}
	m.Finish()
	return m
}

func findCtr(s *Snapshot, id string) *Container {
	for _, c := range s.Containers {
		if c.ID == id {
			return c
		}
	}
	return nil
}

// TestContainerTableFixture drives the table with changes over the v1 fixture's
// real cgroup files: add, read, rename, stop, restart, remove; a steady cycle
// allocates nothing.
func TestContainerTableFixture(t *testing.T) {
	src := &fakeSource{}
	c := newCollector(t, hostfs.At("../../testdata/fakehost/v1"), Options{Containers: src})
	if c.ctrs == nil {
		t.Fatal("no container table on a fixture with cgroups")
	}
	t0 := time.Unix(1_700_000_000, 0)
	src.up(meta(v1Web, "web", 32351, "running"))
	src.up(meta(v1Billing, "billing-worker", 32496, "running"))
	s, err := c.Collect(t0)
	if err != nil {
		t.Fatal(err)
	}
	web := findCtr(s, v1Web)
	if web == nil || !web.Sampled() {
		t.Fatalf("web container not sampled: %+v (errors %d)", web, s.Stats.ContainerErrors)
	}
	if web.Cur.Stats.CPU.Usage == 0 || web.Cur.Stats.Memory.Usage == 0 || web.Cur.Stats.Pids.Current == 0 {
		t.Errorf("web stats look empty: %+v", web.Cur.Stats)
	}
	if web.HasPrev {
		t.Errorf("first cycle has a previous sample")
	}
	// The web container's processes in the fixture: sh 32351 and three sleeps.
	if a := web.Procs; a.Count != 4 || a.Threads != 4 || a.RSS == 0 {
		t.Errorf("web process aggregate = %+v, want 4 processes, 4 threads", a)
	}
	if len(s.Containers) != 2 || s.Stats.ContainerErrors != 0 {
		t.Errorf("%d containers, %d errors; want 2, 0", len(s.Containers), s.Stats.ContainerErrors)
	}

	// Steady state: no changes, nothing allocates (after a second cycle has filled
	// the previous-sample buffers).
	next := t0.Add(15 * time.Second)
	c.Collect(next)
	if n := testing.AllocsPerRun(10, func() { next = next.Add(15 * time.Second); s, _ = c.Collect(next) }); n != 0 {
		t.Errorf("steady cycle with containers: %v allocs, want 0", n)
	}
	web = findCtr(s, v1Web)
	if pct, ok := web.CPUPercent(); !web.HasPrev || !ok || pct != 0 {
		t.Errorf("unchanging fixture: CPUPercent = %v, %v (HasPrev %v), want 0, true", pct, ok, web.HasPrev)
	}

	// Rename: same run, new Meta, counters kept.
	src.up(meta(v1Web, "web-renamed", 32351, "running"))
	s, _ = c.Collect(next.Add(15 * time.Second))
	if web = findCtr(s, v1Web); web.Meta.Name != "web-renamed" || !web.HasPrev {
		t.Errorf("after rename: name %q HasPrev %v", web.Meta.Name, web.HasPrev)
	}
	// Stop: no sample, no previous.
	src.up(meta(v1Web, "web-renamed", 0, "exited"))
	s, _ = c.Collect(next.Add(30 * time.Second))
	if web = findCtr(s, v1Web); web == nil || web.Sampled() || web.HasPrev || web.h.Held() != 0 {
		t.Errorf("stopped container: %+v", web)
	}
	// Restart with the same init pid (the fixture has no other): sampled again,
	// without a previous sample across the restart.
	src.up(meta(v1Web, "web-renamed", 32351, "running"))
	s, _ = c.Collect(next.Add(45 * time.Second))
	if web = findCtr(s, v1Web); !web.Sampled() || web.HasPrev {
		t.Errorf("restarted container: sampled %v HasPrev %v", web.Sampled(), web.HasPrev)
	}
	// Remove: gone from the table, descriptors released.
	held := c.cg.HeldFDs()
	src.rm(v1Web)
	s, _ = c.Collect(next.Add(60 * time.Second))
	if findCtr(s, v1Web) != nil || len(s.Containers) != 1 || c.cg.HeldFDs() >= held {
		t.Errorf("after remove: %d containers, held fds %d (was %d)", len(s.Containers), c.cg.HeldFDs(), held)
	}
	// A container whose init pid has no cgroup file: counted, not fatal.
	src.up(meta("ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", "ghost", 999999, "running"))
	s, _ = c.Collect(next.Add(75 * time.Second))
	if s.Stats.ContainerErrors == 0 {
		t.Errorf("unlocatable container not counted")
	}
}

// TestProcessesOnlyCycle: a process-only cycle walks the processes but keeps
// the containers' counters of the last full cycle, except for a container
// never sampled; the next full cycle's rates span the two full cycles.
func TestProcessesOnlyCycle(t *testing.T) {
	src := &fakeSource{}
	c := newCollector(t, hostfs.At("../../testdata/fakehost/v1"), Options{Containers: src})
	t0 := time.Unix(1_700_000_000, 0)
	src.up(meta(v1Web, "web", 32351, "running"))
	if _, err := c.Collect(t0); err != nil {
		t.Fatal(err)
	}
	src.up(meta(v1Billing, "billing-worker", 32496, "running"))
	t1 := t0.Add(10 * time.Second)
	s, err := c.CollectWith(t1, ProcessesOnly)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Processes) == 0 || s.Processes[0].Cur.Time != t1 {
		t.Errorf("processes not walked on a process-only cycle: %d", len(s.Processes))
	}
	web, billing := findCtr(s, v1Web), findCtr(s, v1Billing)
	if web == nil || web.Cur.Time != t0 || web.HasPrev {
		t.Errorf("web re-read on a process-only cycle: %+v", web)
	}
	if billing == nil || billing.Cur.Time != t1 {
		t.Errorf("new container not sampled on a process-only cycle: %+v", billing)
	}
	t2 := t0.Add(15 * time.Second)
	s, _ = c.Collect(t2)
	if web = findCtr(s, v1Web); web.Cur.Time != t2 || !web.HasPrev || web.Prev.Time != t0 {
		t.Errorf("full cycle after a process-only one: cur %v prev %v has %v", web.Cur.Time, web.Prev.Time, web.HasPrev)
	}
	next := t2
	if n := testing.AllocsPerRun(10, func() { next = next.Add(10 * time.Second); s, _ = c.CollectWith(next, ProcessesOnly) }); n != 0 {
		t.Errorf("process-only cycle: %v allocs, want 0", n)
	}
}

// TestReuseProcessesCycle: a metrics cycle between process cycles keeps the
// last walk's processes and reads the containers afresh.
func TestReuseProcessesCycle(t *testing.T) {
	src := &fakeSource{}
	c := newCollector(t, hostfs.At("../../testdata/fakehost/v1"), Options{Containers: src})
	t0 := time.Unix(1_700_000_000, 0)
	src.up(meta(v1Web, "web", 32351, "running"))
	s, err := c.CollectWith(t0, ReuseProcesses) // no walk yet: walks
	if err != nil {
		t.Fatal(err)
	}
	n := len(s.Processes)
	if n == 0 || s.Processes[0].Cur.Time != t0 {
		t.Fatalf("first cycle did not walk: %d processes", n)
	}
	t1 := t0.Add(5 * time.Second)
	s, err = c.CollectWith(t1, ExtraFDs|ReuseProcesses)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Processes) != n || s.Processes[0].Cur.Time != t0 {
		t.Errorf("processes walked again: %d (was %d), sampled at %v", len(s.Processes), n, s.Processes[0].Cur.Time)
	}
	if web := findCtr(s, v1Web); web.Cur.Time != t1 || web.Procs.Count != 4 {
		t.Errorf("web: sampled at %v, %d processes; want %v, 4", web.Cur.Time, web.Procs.Count, t1)
	}
	next := t1
	if a := testing.AllocsPerRun(10, func() { next = next.Add(15 * time.Second); s, _ = c.CollectWith(next, ReuseProcesses) }); a != 0 {
		t.Errorf("reusing cycle: %v allocs, want 0", a)
	}
}
