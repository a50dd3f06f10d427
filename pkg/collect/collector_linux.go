//go:build linux

package collect

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"syscall"
	"time"

	"github.com/whippet-agent/whippet/bpf"
	"github.com/whippet-agent/whippet/pkg/collect/cgroup"
	"github.com/whippet-agent/whippet/pkg/collect/host"
	"github.com/whippet-agent/whippet/pkg/collect/hostfs"
	"github.com/whippet-agent/whippet/pkg/collect/pfile"
	"github.com/whippet-agent/whippet/pkg/collect/proc"
	"github.com/whippet-agent/whippet/pkg/container"
)

// pfKthread is PF_KTHREAD in the flags field of /proc/<pid>/stat.
const pfKthread = 0x00200000

// Collector collects cycles of one host. It is not safe for concurrent use: one
// goroutine runs the cycles.
type Collector struct {
	root  hostfs.Root
	host  *host.Reader
	procs *proc.Reader
	users UserNames
	log   *slog.Logger

	table    map[int32]*Process
	ids      map[string]*idRef // interned container ids of live processes
	free     []*Process
	pids     []int32
	gen      uint64
	pageSize uint64

	snap Snapshot

	// Event-driven process table (nil feed: scan /proc every cycle).
	feed       *EventFeed
	lost       func() uint64
	events     []procEvent
	eventNames []byte             // the events' exec file names
	pending    map[int32]int      // pid → index in events of its exec/fork, this interval
	exited     map[int32]struct{} // pids with an exit event this interval
	// gone are processes listed in an earlier snapshot that a sample found
	// gone before their exit event was applied: the event, still on its way
	// (the reader drains the ring on a timer), comes in the next cycle's
	// events and is an exit, not a short-lived process.
	gone          map[int32]struct{}
	lastScan      time.Time
	lastLost      uint64
	reconcile     time.Duration
	maxShortLived int

	// Bulk sampling through the BPF task iterator (nil: /proc per process).
	tasks   TaskSource
	taskBuf []byte
	taskRec bpf.TaskRecord
	now     time.Time // the cycle's time, for applyTask

	ctrs *containerTable // nil without a container source
	cg   *cgroup.Reader
	pfd  int // proc mount fd for per-container net/dev

	// scratch, reused every process
	stat    proc.Stat
	status  proc.StatusSample
	sched   proc.Schedstat
	cgroups proc.Cgroups
	io      proc.IO
}

// New opens the host's readers. Close releases them.
func New(root hostfs.Root, opt Options) (*Collector, error) {
	log := opt.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	hr, err := host.NewReader(root)
	if err != nil {
		return nil, fmt.Errorf("host readers: %w", err)
	}
	pr, err := proc.NewReader(root, opt.Proc)
	if err != nil {
		hr.Close()
		return nil, fmt.Errorf("process reader: %w", err)
	}
	c := &Collector{
		root: root, host: hr, procs: pr, users: opt.Users, log: log,
		table:    make(map[int32]*Process, 1024),
		pageSize: uint64(os.Getpagesize()),
		pfd:      -1,
		feed:     opt.Events,
		tasks:    opt.Tasks,
		lost:     opt.EventsLost,
		pending:  map[int32]int{},
		exited:   map[int32]struct{}{},
		gone:     map[int32]struct{}{},
	}
	c.snap.Stats.Sampler = "proc"
	if c.tasks != nil {
		c.snap.Stats.Sampler = "task-iterator"
	}
	c.snap.Stats.EventMode = "poll"
	if c.feed != nil {
		c.snap.Stats.EventMode = opt.EventMode
	}
	c.reconcile = opt.Reconcile
	if c.reconcile <= 0 {
		c.reconcile = DefaultReconcile
	}
	c.maxShortLived = opt.MaxShortLived
	if c.maxShortLived <= 0 {
		c.maxShortLived = DefaultMaxShortLived
	}
	if opt.Containers != nil {
		// Without readable cgroups the agent still reports host and processes.
		cg, err := cgroup.NewReader(root, opt.Cgroup)
		if err != nil {
			log.Warn("container metrics unavailable", "err", err)
		} else {
			var p pfile.Path
			fd, err := pfile.OpenDir(pfile.AtCWD, p.Str(root.Proc()))
			if err != nil {
				cg.Close()
				c.Close()
				return nil, fmt.Errorf("open proc dir %s: %w", root.Proc(), err)
			}
			c.cg, c.pfd = cg, fd
			c.ctrs = newContainerTable(opt.Containers, cg, fd, &c.snap.Stats)
		}
	}
	return c, nil
}

// Close releases every held descriptor. It is idempotent.
func (c *Collector) Close() error {
	if c.procs == nil {
		return nil
	}
	for pid, p := range c.table {
		c.procs.Release(&p.h)
		delete(c.table, pid)
	}
	if c.ctrs != nil {
		c.ctrs.closeAll()
	}
	if c.cg != nil {
		c.cg.Close()
	}
	pfile.Close(c.pfd)
	c.procs.Close()
	c.host.Close()
	c.procs, c.host = nil, nil
	return nil
}

// Collect runs one cycle at now and returns the collector's Snapshot, valid until
// the next call. Unreadable host files and vanished or unreadable processes are
// counted in Snapshot.Stats, not returned: only a failure to list processes at all
// is an error.
func (c *Collector) Collect(now time.Time) (*Snapshot, error) {
	return c.CollectWith(now, 0)
}

// CollectWith runs one cycle like Collect, plus the extra reads x asks for.
func (c *Collector) CollectWith(now time.Time, x Extras) (*Snapshot, error) {
	if c.procs == nil {
		return nil, errors.New("collect: collector closed")
	}
	s := &c.snap
	s.Stats.Cycles++
	s.Time = now

	// Host counters: swap so the previous read stays available for rates, the
	// device and interface lists keeping their capacity in both.
	if x&ProcessesOnly == 0 || s.Stats.Cycles == 1 {
		s.Host, s.HostPrev = s.HostPrev, s.Host
		s.HasPrev = s.Stats.Cycles > 1
		// Read's error repeats the first per-file one: count the files.
		_ = c.host.Read(&s.Host)
		for _, err := range s.Host.Err {
			if err != nil {
				s.Stats.HostErrors++
			}
		}
	}
	if x&ExtraFilesystems != 0 {
		if err := c.host.ReadFS(&s.Host); err != nil {
			s.Stats.HostErrors++
		} else {
			s.Stats.HostErrors += uint64(s.Host.FS.Unreadable + s.Host.FS.Malformed)
		}
	}

	if c.users != nil {
		if _, err := c.users.Refresh(); err != nil {
			s.Stats.UserErrors++
		}
	}

	// The container table first: short-lived processes are attributed to
	// containers by cgroup id.
	if c.ctrs != nil {
		c.ctrs.update(now, x&ProcessesOnly != 0)
		s.Containers = c.ctrs.list
	}

	if x&ReuseProcesses == 0 || c.gen == 0 {
		if err := c.processPass(now); err != nil {
			return nil, err
		}
	}
	if c.ctrs != nil {
		c.ctrs.aggregate(s.Processes)
		if x&ExtraFDs != 0 {
			c.ctrs.countFDs(s.Processes)
		}
	}
	s.Stats.HeldFDs = c.procs.HeldFDs()
	s.Stats.TrackedProcs = len(c.table)
	s.Stats.CycleDuration = time.Since(now)
	return s, nil
}

// processPass takes the events and walks the processes into c.snap.Processes.
func (c *Collector) processPass(now time.Time) error {
	s := &c.snap
	scan := true
	if c.feed != nil {
		scan = c.eventCycle(now)
	} else if c.tasks != nil {
		// The iterator finds new processes itself; /proc is also listed at start
		// and to reconcile, for the tasks it skips on some kernels.
		scan = c.lastScan.IsZero() || now.Sub(c.lastScan) >= c.reconcile
	}
	c.gen++
	s.Processes = s.Processes[:0]
	switch {
	case c.tasks != nil && c.taskPass(now):
		if scan {
			// Add what the iterator did not return, sampled through /proc (and
			// from then on: a process keeps one source, so its rates compare
			// like with like).
			if err := c.addUnlisted(now); err != nil {
				return err
			}
		}
	default:
		if err := c.listPass(now, scan || c.tasks != nil); err != nil {
			return err
		}
	}
	return nil
}

func (c *Collector) alloc(pid int32) *Process {
	var p *Process
	if n := len(c.free); n > 0 {
		p, c.free = c.free[n-1], c.free[:n-1]
	} else {
		p = new(Process)
	}
	p.reset(pid)
	return p
}

// reset makes p a fresh process with pid, keeping its buffers' capacity.
func (p *Process) reset(pid int32) {
	comm, cmd := p.Comm[:0], p.Cmdline[:0]
	*p = Process{PID: pid, Comm: comm, Cmdline: cmd, h: proc.Handle{PID: pid}}
}

// dropGone releases p, which a sample or the proc listing found gone.
func (c *Collector) dropGone(p *Process) {
	if c.feed != nil && !p.Cur.Time.IsZero() {
		c.gone[p.PID] = struct{}{}
	}
	c.release(p)
}

func (c *Collector) release(p *Process) {
	c.releaseID(p.ContainerID)
	c.procs.Release(&p.h)
	delete(c.table, p.PID)
	c.free = append(c.free, p)
}

// sample reads p's per-cycle files; false means the process is gone or its stat
// is unusable and it must be dropped this cycle.
func (c *Collector) sample(p *Process, now time.Time) bool {
	st := &c.snap.Stats
	b, err := c.procs.Read(&p.h, proc.FileStat)
	if err != nil {
		c.countErr(proc.FileStat, err)
		return false
	}
	if err := proc.ParseStat(b, &c.stat); err != nil {
		st.ParseErrors[proc.FileStat]++
		c.log.Debug("skip process", "path", c.procs.Path(p.PID, proc.FileStat), "err", err)
		return false
	}
	ps := &c.stat
	fresh := p.Cur.Time.IsZero()
	if p.execed && !fresh {
		// Same process, new program: keep its counters, re-read what exec changed.
		p.execed = false
		c.releaseID(p.ContainerID)
		p.ContainerID = c.containerOf(p)
		p.Kernel = ps.Flags&pfKthread != 0
		c.readCmdline(p)
	}
	if !fresh && ps.StartTime != p.StartTime {
		// The pid now names another process (only possible on the open/close path:
		// held descriptors fail with ESRCH instead).
		st.PidReused++
		c.releaseID(p.ContainerID)
		c.procs.Release(&p.h)
		p.reset(p.PID)
		fresh = true
	}
	if fresh {
		p.StartTime = ps.StartTime
		p.Kernel = ps.Flags&pfKthread != 0
		p.Comm = append(p.Comm[:0], ps.CommBytes()...)
		c.readCmdline(p)
		p.UID = ^uint32(0)
		p.ContainerID = c.containerOf(p)
	} else {
		p.Prev, p.HasPrev = p.Cur, true
	}
	if !ps.CommEqual(p.Comm) {
		p.Comm = append(p.Comm[:0], ps.CommBytes()...)
	}
	// An idle process need not have its status and io re-read. schedstat's run time
	// is the leader's exact CPU time: unchanged means the leader has not run, so its
	// context switches (per task) and uid (setuid runs every thread) are unchanged,
	// and for a process that is and was single-threaded so is io (whole process).
	idle, ioIdle := false, false
	if c.procs.HasSchedstat() {
		if b, err := c.procs.Read(&p.h, proc.FileSchedstat); err != nil {
			if c.countErr(proc.FileSchedstat, err) {
				return false
			}
		} else if err := proc.ParseSchedstat(b, &c.sched); err != nil {
			st.ParseErrors[proc.FileSchedstat]++
		} else {
			idle = !fresh && c.sched.RunTime == p.runTime && p.statusAge < StatusRefreshCycles
			ioIdle = idle && ps.NumThreads == 1 && p.Threads == 1
			if !idle {
				p.runTime = c.sched.RunTime
			}
		}
	}
	p.PPID, p.State, p.Threads, p.Nice = ps.PPID, ps.State, ps.NumThreads, ps.Nice
	p.VMS = ps.VSize
	if ps.RSS > 0 {
		p.RSS = uint64(ps.RSS) * c.pageSize
	} else {
		p.RSS = 0
	}
	cur := &p.Cur
	*cur = Sample{Time: now, UTime: ps.UTime, STime: ps.STime, MinFlt: ps.MinFlt, MajFlt: ps.MajFlt}

	if idle {
		cur.VolCtxt, cur.NonVolCtxt = p.Prev.VolCtxt, p.Prev.NonVolCtxt
		p.statusAge++
		st.IdleSkips++
	} else if b, err := c.procs.Read(&p.h, proc.FileStatus); err != nil {
		if c.countErr(proc.FileStatus, err) {
			return false
		}
	} else if err := proc.ParseStatusSample(b, &c.status); err != nil {
		st.ParseErrors[proc.FileStatus]++
	} else {
		p.statusAge = 0
		cur.VolCtxt, cur.NonVolCtxt = c.status.VolCtxt, c.status.NonVolCtxt
		p.Swap, p.GID = c.status.VmSwap, c.status.GID[0]
		c.setUID(p, c.status.UID[0])
	}

	if ioIdle {
		cur.IO, cur.HasIO = p.Prev.IO, p.Prev.HasIO
	} else {
		c.readIO(p)
	}
	return true
}

// readCmdline (re)reads a process's command line: once per program, since it
// does not change after exec (rewritten argv aside, which the Datadog agent does
// not track either). Kernel threads have none.
func (c *Collector) readCmdline(p *Process) {
	p.Cmdline = p.Cmdline[:0]
	if p.Kernel {
		return
	}
	if b, err := c.procs.Read(&p.h, proc.FileCmdline); err == nil {
		p.Cmdline = append(p.Cmdline, b...)
	} else {
		c.countErr(proc.FileCmdline, err)
	}
}

// readIO reads a user process's io counters into its current sample; they stay
// absent when unreadable (no ptrace access) or malformed.
func (c *Collector) readIO(p *Process) {
	if p.Kernel {
		return
	}
	if b, err := c.procs.Read(&p.h, proc.FileIO); err != nil {
		c.countErr(proc.FileIO, err)
	} else if err := proc.ParseIO(b, &c.io); err != nil {
		c.snap.Stats.ParseErrors[proc.FileIO]++
	} else {
		p.Cur.IO, p.Cur.HasIO = c.io, true
	}
}

// setUID records a process's real uid, naming it only when it changed.
func (c *Collector) setUID(p *Process, uid uint32) {
	if uid == p.UID {
		return
	}
	p.UID, p.User = uid, ""
	if c.users != nil {
		p.User = c.users.Lookup(uid)
	}
}

// countErr counts a read failure and reports whether it means the process is gone.
// Only stat and status decide that a process is gone: a process that exits after
// them is still reported this cycle (its figures were read), without io or a
// command line, and dropped next cycle when its stat fails.
func (c *Collector) countErr(f proc.File, err error) (gone bool) {
	if proc.IsGone(err) {
		if f == proc.FileStat || f == proc.FileStatus {
			c.snap.Stats.ProcsGone++
			return true
		}
		// Exited after its stat was read: not an error; the next cycle drops it
		// (and counts it gone).
		return false
	}
	if err == syscall.EACCES || err == syscall.EPERM { // bare errno on the hot path
		// Expected without the rights (io of pid 1 in a user namespace, of
		// others' processes without CAP_SYS_PTRACE): the field stays unknown.
		c.snap.Stats.Denied[f]++
		return false
	}
	c.snap.Stats.ReadErrors[f]++
	return false
}

// listPass samples the processes of the table (scan false: an event-maintained
// table) or of the proc directory (scan true) one by one through /proc.
func (c *Collector) listPass(now time.Time, scan bool) error {
	s := &c.snap
	firstScan := c.lastScan.IsZero()
	if scan {
		var err error
		if c.pids, err = c.procs.Pids(c.pids); err != nil {
			return fmt.Errorf("collect: %w", err)
		}
		c.lastScan = now
		s.Stats.Scans++
	} else {
		c.tablePids()
	}
	for _, pid := range c.pids {
		p := c.table[pid]
		if p == nil {
			p = c.alloc(pid)
			c.table[pid] = p
			s.Stats.ProcsNew++
			if c.feed != nil && !firstScan {
				s.Stats.Repairs++ // found by the scan, missed by the events
			}
		}
		if !c.sample(p, now) {
			c.dropGone(p)
			continue
		}
		p.gen = c.gen
		s.Processes = append(s.Processes, p)
	}
	// Processes not listed this cycle have exited.
	for _, p := range c.table {
		if p.gen != c.gen {
			c.dropGone(p)
		}
	}
	return nil
}

// addUnlisted lists the proc directory and samples, through /proc, the processes
// the table does not have yet.
func (c *Collector) addUnlisted(now time.Time) error {
	s := &c.snap
	var err error
	if c.pids, err = c.procs.Pids(c.pids); err != nil {
		return fmt.Errorf("collect: %w", err)
	}
	c.lastScan = now
	s.Stats.Scans++
	added := false
	for _, pid := range c.pids {
		if c.table[pid] != nil {
			continue
		}
		p := c.alloc(pid)
		p.viaProc = true
		c.table[pid] = p
		s.Stats.ProcsNew++
		if !c.sample(p, now) {
			c.release(p)
			continue
		}
		p.gen = c.gen
		s.Processes = append(s.Processes, p)
		added = true
	}
	if added {
		slices.SortFunc(s.Processes, func(a, b *Process) int { return cmp.Compare(a.PID, b.PID) })
	}
	return nil
}

// containerOf reads a new process's /proc/<pid>/cgroup once and returns the id of
// the container it runs in, or "" for a host process. The id is the same string
// for every process of a container while the container table knows it.
func (c *Collector) containerOf(p *Process) string {
	b, err := c.procs.Read(&p.h, proc.FileCgroup)
	if err != nil {
		c.countErr(proc.FileCgroup, err)
		return ""
	}
	if err := proc.ParseCgroups(b, &c.cgroups); err != nil {
		c.snap.Stats.ParseErrors[proc.FileCgroup]++
		return ""
	}
	for _, l := range c.cgroups.Lines {
		if id, ok := container.IDFromCgroup(l.Path); ok {
			return c.internID(id)
		}
	}
	return ""
}

// Trim gives back what a past peak of processes left behind: recycled entries
// beyond a small reserve, and the process table's map, which Go never shrinks,
// rebuilt at its current size. The daemon calls it when the host's process count
// has fallen well below its peak; a steady host never needs it.
func (c *Collector) Trim() {
	if keep := len(c.table)/8 + 64; len(c.free) > keep {
		clear(c.free[keep:])
		c.free = slices.Clone(c.free[:keep])
	}
	t := make(map[int32]*Process, len(c.table))
	maps.Copy(t, c.table)
	c.table = t
	c.snap.Processes = slices.Clone(c.snap.Processes)
}
