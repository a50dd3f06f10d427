//go:build linux

package collect

import (
	"time"

	"github.com/whippet-agent/whippet/pkg/collect/cgroup"
	"github.com/whippet-agent/whippet/pkg/collect/host"
	"github.com/whippet-agent/whippet/pkg/collect/pfile"
	"github.com/whippet-agent/whippet/pkg/container"
)

// containerTable follows a container.Source: changes are applied at the start of
// each cycle, then every running container's cgroup and network counters are read
// through descriptors held since it was first seen.
type containerTable struct {
	src    container.Source
	cg     *cgroup.Reader
	procfd int // the proc mount, for <pid>/net/dev
	byID   map[string]*Container
	// byMemcg and byCgroup2 map the inode of a container's memory (v1) and
	// unified (v2) cgroup directory to it: eBPF events carry those ids.
	byMemcg, byCgroup2 map[uint64]*Container
	list               []*Container // live entries in a stable order for the snapshot
	path               pfile.Path
	buf                []byte
	fds                pfile.FDCounter        // countFDs's counter
	apply              func(container.Change) // bound once: no closure per cycle
	cycle              time.Time
	stats              *Stats
}

func newContainerTable(src container.Source, cg *cgroup.Reader, procfd int, stats *Stats) *containerTable {
	t := &containerTable{src: src, cg: cg, procfd: procfd, byID: map[string]*Container{}, stats: stats,
		byMemcg: map[uint64]*Container{}, byCgroup2: map[uint64]*Container{}, buf: make([]byte, pfile.MinBuf)}
	t.apply = t.applyChange
	return t
}

// update applies the source's pending changes and samples every running
// container, or with cached only those never sampled (see ProcessesOnly).
func (t *containerTable) update(now time.Time, cached bool) {
	t.cycle = now
	if t.src != nil {
		t.src.Drain(t.apply)
	}
	for _, c := range t.list {
		if cached && c.Sampled() {
			continue
		}
		t.sample(c, now)
	}
}

func (t *containerTable) applyChange(ch container.Change) {
	c := t.byID[ch.ID]
	if ch.Removed {
		if c != nil {
			t.remove(c)
		}
		return
	}
	m := ch.Meta
	if c == nil {
		c = &Container{ID: ch.ID}
		t.byID[ch.ID] = c
		t.list = append(t.list, c)
		t.stats.ContainersNew++
	}
	if c.Meta != nil && (c.Meta.Pid != m.Pid || !m.Running()) {
		// Restarted (a new init pid, perhaps a new cgroup) or stopped: start over.
		t.close(c)
	}
	c.Meta = m
}

func (t *containerTable) remove(c *Container) {
	t.close(c)
	delete(t.byID, c.ID)
	for i, x := range t.list {
		if x == c {
			t.list = append(t.list[:i], t.list[i+1:]...)
			break
		}
	}
}

// index records the cgroup ids of a located container.
func (t *containerTable) index(c *Container) {
	if c.memcgIno, _ = t.cg.Inode(&c.paths, cgroup.Memory); c.memcgIno != 0 {
		t.byMemcg[c.memcgIno] = c
	}
	if c.cgroup2Ino, _ = t.cg.Inode(&c.paths, cgroup.Unified); c.cgroup2Ino != 0 {
		t.byCgroup2[c.cgroup2Ino] = c
	}
}

// byCgroup returns the container whose memory cgroup (v1) or unified cgroup (v2)
// has the given id, or nil.
func (t *containerTable) byCgroup(memcg, cgroup2 uint64) *Container {
	if c := t.byMemcg[memcg]; c != nil && memcg != 0 {
		return c
	}
	if c := t.byCgroup2[cgroup2]; c != nil && cgroup2 != 0 {
		return c
	}
	return nil
}

// close releases c's descriptors and forgets its counters.
func (t *containerTable) close(c *Container) {
	if c.memcgIno != 0 && t.byMemcg[c.memcgIno] == c {
		delete(t.byMemcg, c.memcgIno)
	}
	if c.cgroup2Ino != 0 && t.byCgroup2[c.cgroup2Ino] == c {
		delete(t.byCgroup2, c.cgroup2Ino)
	}
	c.memcgIno, c.cgroup2Ino = 0, 0
	t.cg.Release(&c.h)
	if c.netfd > 0 {
		pfile.Close(c.netfd - 1)
		c.netfd = 0
	}
	c.located, c.HasPrev, c.Cur.Time, c.locateErr = false, false, time.Time{}, nil
}

// sample reads c's counters; a stopped container has none.
func (t *containerTable) sample(c *Container, now time.Time) {
	c.Prev, c.Cur = c.Cur, c.Prev // swap: both keep their slices
	c.HasPrev = !c.Prev.Time.IsZero()
	c.Cur.Time = time.Time{}
	if c.Meta == nil || !c.Meta.Running() {
		c.HasPrev = false
		return
	}
	if !c.located {
		if c.locateErr != nil {
			return // reported once; retried when the container changes
		}
		if err := t.cg.Locate(int32(c.Meta.Pid), &c.paths); err != nil {
			c.locateErr = err
			t.stats.ContainerErrors++
			return
		}
		if err := t.cg.Open(&c.h, &c.paths); err != nil {
			c.locateErr = err
			t.stats.ContainerErrors++
			return
		}
		c.located = true
		t.index(c)
	}
	if err := t.cg.Read(&c.h, &c.Cur.Stats); err != nil {
		// Gone between the event and this read: the destroy event follows.
		t.stats.ContainerErrors++
		c.HasPrev = false
		return
	}
	c.Cur.Time = now
	c.Cur.HasNet = false
	if c.Meta.NetworkMode != "host" {
		t.readNet(c)
	}
}

// readNet reads /proc/<init pid>/net/dev: the container's network namespace.
func (t *containerTable) readNet(c *Container) {
	var b []byte
	var err error
	if c.netfd == 0 {
		fd, oerr := pfile.Open(t.procfd, t.path.Reset().Uint(uint64(c.Meta.Pid)).Str("/net/dev"))
		if oerr != nil {
			return
		}
		c.netfd = fd + 1
	}
	b, err = pfile.PreadFD(c.netfd-1, &t.buf, false)
	if err != nil {
		pfile.Close(c.netfd - 1)
		c.netfd = 0
		return
	}
	if host.ParseNetDev(b, &c.Cur.Net) == nil {
		c.Cur.HasNet = true
	}
}

func (t *containerTable) closeAll() {
	for _, c := range t.list {
		t.close(c)
	}
	t.list, t.byID = nil, map[string]*Container{}
}

// aggregate sums each container's processes of this cycle.
func (t *containerTable) aggregate(procs []*Process) {
	for _, c := range t.list {
		c.Procs = ProcAggregate{}
	}
	for _, p := range procs {
		if p.ContainerID == "" {
			continue
		}
		if c := t.byID[p.ContainerID]; c != nil {
			a := &c.Procs
			a.Count++
			a.Threads += p.Threads
			a.RSS += p.RSS
			if p.Cur.Exact {
				a.CPUNs += p.Cur.CPUNs
			}
		}
	}
}

// countFDs sets each container's OpenFDs: the descriptors of its processes,
// from /proc/<pid>/fd's size where the kernel reports the count there (6.2+),
// else listed with raw getdents into one reused buffer. A process that
// exited (ENOENT) or whose fd directory is not ours to read (EACCES: another
// user's, without CAP_SYS_PTRACE) is skipped.
func (t *containerTable) countFDs(procs []*Process) {
	for _, p := range procs {
		if p.ContainerID == "" {
			continue
		}
		c := t.byID[p.ContainerID]
		if c == nil {
			continue
		}
		n, err := t.fds.Count(t.procfd, t.path.Reset().Uint(uint64(p.PID)).Str("/fd"), 0)
		if err != nil {
			continue
		}
		c.Procs.OpenFDs += n
		c.Procs.FDsKnown = true
	}
}
