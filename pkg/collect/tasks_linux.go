//go:build linux

package collect

import (
	"cmp"
	"slices"
	"time"

	"github.com/whippet-agent/whippet/bpf"
	"github.com/whippet-agent/whippet/pkg/collect/proc"
)

// taskPass samples every process from one read of the task iterator instead of
// three /proc files each: identity, CPU (exact), memory, faults and context
// switches come from the record; only io (when the process ran) and, for new
// processes, the command line and cgroup still come from /proc. Table entries the
// iterator did not return are checked through /proc: gone ones are dropped, the
// others (the iterator skips pid 1 on some kernels) sampled the /proc way.
// It returns false when the iterator could not be read; the caller then scans.
func (c *Collector) taskPass(now time.Time) bool {
	b, err := c.tasks.Read(&c.taskBuf)
	if err != nil {
		c.snap.Stats.TaskIterErrors++
		return false
	}
	c.now = now
	bpf.EachTask(b, &c.taskRec, c.applyTask)
	s := &c.snap
	sorted := true
	for _, p := range c.table {
		if p.gen == c.gen {
			continue
		}
		// From now on this process is sampled through /proc: one source per
		// process keeps its rates comparable.
		was := p.viaProc
		p.viaProc = true
		if !c.sample(p, now) {
			c.dropGone(p) // exited before its exit event was applied: not a miss
			continue
		}
		if !was {
			c.snap.Stats.TaskIterMissed++
		}
		p.gen = c.gen
		s.Processes = append(s.Processes, p)
		sorted = false
	}
	if !sorted {
		slices.SortFunc(s.Processes, func(a, b *Process) int { return cmp.Compare(a.PID, b.PID) })
	}
	return true
}

// applyTask samples the process of one iterator record (bound once as a method
// value: no closure per cycle).
func (c *Collector) applyTask(r *bpf.TaskRecord) {
	st := &c.snap.Stats
	p := c.table[r.Tgid]
	if p != nil && p.viaProc {
		return // sampled through /proc after the pass
	}
	if p == nil {
		p = c.alloc(r.Tgid)
		c.table[r.Tgid] = p
		st.ProcsNew++
	}
	now := c.now
	start := r.StartNs / (1e9 / UserHZ)
	fresh := p.Cur.Time.IsZero()
	if !fresh && start != p.StartTime {
		st.PidReused++
		c.releaseID(p.ContainerID)
		c.procs.Release(&p.h)
		p.reset(p.PID)
		fresh = true
	}
	comm := commBytes(&r.Comm)
	prevThreads := p.Threads
	if fresh || p.execed {
		p.execed = false
		p.StartTime = start
		p.Kernel = r.Flags&bpf.TaskKthread != 0
		c.readCmdline(p)
		if !fresh {
			c.releaseID(p.ContainerID)
		}
		p.ContainerID = c.taskContainer(p, r)
		if fresh {
			p.UID = ^uint32(0)
		}
	}
	if !fresh {
		p.Prev, p.HasPrev = p.Cur, true
	}
	if string(p.Comm) != string(comm) {
		p.Comm = append(p.Comm[:0], comm...)
	}
	p.PPID, p.State, p.Threads = r.Ppid, taskState(r.State), int64(r.Threads)
	p.RSS = uint64(max(r.RSS(), 0)) * c.pageSize
	p.VMS = r.TotalVM * c.pageSize
	c.setUID(p, r.UID)
	cur := &p.Cur
	*cur = Sample{Time: now, UTime: r.UtimeNs / (1e9 / UserHZ), STime: r.StimeNs / (1e9 / UserHZ), CPUNs: r.CPUNs, Exact: true,
		MinFlt: r.MinFlt, MajFlt: r.MajFlt, VolCtxt: r.Nvcsw, NonVolCtxt: r.Nivcsw}
	switch {
	case r.Flags&bpf.TaskHasIO != 0:
		if !p.Kernel { // as through /proc: kernel threads' io is not reported
			io := &r.IO
			cur.IO = proc.IO{SyscR: io.SyscR, SyscW: io.SyscW, ReadBytes: io.ReadBytes, WriteBytes: io.WriteBytes}
			cur.HasIO = true
		}
	// A kernel without per-task io accounting in BTF: read /proc/<pid>/io only
	// for a process that ran (exact CPU moved) or is multi-threaded (another
	// thread may have).
	case !fresh && p.HasPrev && r.CPUNs == p.Prev.CPUNs && r.Threads == 1 && prevThreads == 1:
		cur.IO, cur.HasIO = p.Prev.IO, p.Prev.HasIO
		st.IdleSkips++
	default:
		c.readIO(p)
	}
	p.gen = c.gen
	c.snap.Processes = append(c.snap.Processes, p)
}

// taskContainer attributes a new process by its cgroup ids when the container
// table knows them, else by its /proc cgroup path.
func (c *Collector) taskContainer(p *Process, r *bpf.TaskRecord) string {
	if c.ctrs != nil {
		if ct := c.ctrs.byCgroup(r.MemcgID, r.CgroupID); ct != nil {
			return c.internID([]byte(ct.ID))
		}
	}
	return c.containerOf(p)
}

// taskState maps a task's __state to the letter /proc/<pid>/stat shows.
func taskState(s uint32) byte {
	const (
		interruptible   = 0x1
		uninterruptible = 0x2
		stopped         = 0x4
		traced          = 0x8
		dead            = 0x80
		noload          = 0x400
	)
	switch {
	case s == 0:
		return 'R'
	case s&dead != 0:
		return 'Z'
	case s&uninterruptible != 0 && s&noload != 0:
		return 'I'
	case s&interruptible != 0:
		return 'S'
	case s&uninterruptible != 0:
		return 'D'
	case s&traced != 0:
		return 't'
	case s&stopped != 0:
		return 'T'
	}
	return 'S'
}
