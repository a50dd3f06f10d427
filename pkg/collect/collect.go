// Package collect runs one collection cycle of a host into a reused Snapshot: the
// host-wide counters and every process, with the previous cycle's counters kept
// beside the current ones so rates need no second lookup.
//
// The collector owns the process table. Entries are recycled through a free list
// and their byte slices keep their capacity, so a cycle over an unchanged host
// allocates nothing.
package collect

import (
	"log/slog"
	"time"

	"github.com/whippet-agent/whippet/pkg/collect/cgroup"
	"github.com/whippet-agent/whippet/pkg/collect/host"
	"github.com/whippet-agent/whippet/pkg/collect/proc"
	"github.com/whippet-agent/whippet/pkg/container"
)

// UserHZ is the unit of the tick counters of /proc/<pid>/stat and /proc/stat.
// It is 100 on every architecture Linux runs ECS on (x86-64, arm64): the kernel
// exports USER_HZ, not its internal HZ (CONFIG_HZ=250 on this very machine).
const UserHZ = 100

// TaskSource reads every process at once: bpf.TaskIter implements it. Read fills
// *buf with whole bpf.TaskRecord records (see bpf.EachTask).
type TaskSource interface {
	Read(buf *[]byte) ([]byte, error)
}

// UserNames names uids; *passwd.DB implements it.
type UserNames interface {
	Lookup(uid uint32) string
	Refresh() (changed bool, err error)
}

// Sample is one cycle's counters of a process.
type Sample struct {
	Time       time.Time // the cycle's clock (carries the monotonic reading)
	UTime      uint64    // ticks
	STime      uint64    // ticks
	MinFlt     uint64
	MajFlt     uint64
	VolCtxt    uint64
	NonVolCtxt uint64
	IO         proc.IO
	HasIO      bool   // io was readable (needs ptrace access)
	CPUNs      uint64 // exact CPU time, when Exact
	Exact      bool   // sampled by the task iterator (CPUNs exact); else from /proc ticks
}

// Process is one live process. Its byte slices are owned by the collector and
// valid until the next cycle.
type Process struct {
	PID       int32
	PPID      int32
	StartTime uint64 // ticks after boot: with PID, the process's identity
	State     byte
	Kernel    bool // a kernel thread (PF_KTHREAD): no command line, no user memory
	Comm      []byte
	Cmdline   []byte // raw /proc/<pid>/cmdline, NUL-separated, bounded by proc.MaxCmdline
	UID       uint32 // real uid
	GID       uint32 // real gid
	User      string
	Threads   int64
	// ContainerID is the container the process runs in ("" on the host), from its
	// cgroup path when first seen.
	ContainerID string
	RSS         uint64 // bytes
	VMS         uint64 // bytes
	Swap        uint64 // bytes
	Nice        int64

	Cur, Prev Sample
	HasPrev   bool // Prev holds the previous cycle's sample of this same process

	h         proc.Handle
	gen       uint64
	execed    bool   // an exec event arrived since the last sample
	viaProc   bool   // sampled through /proc although a task iterator runs (it skipped this process)
	runTime   uint64 // schedstat run time at the last full read of status
	statusAge uint8  // cycles since status was last read
}

// DefaultMaxShortLived bounds the short-lived processes listed per cycle.
const DefaultMaxShortLived = 1000

// StatusRefreshCycles bounds how many cycles an idle process's status and io may
// be carried over unread (see Collector.sample): VmSwap can change without the
// process running (the kernel swaps an idle process out), so it is re-read at least
// this often.
const StatusRefreshCycles = 4

// CPUPercent is the process's CPU use between the previous and the current cycle,
// in percent of one core (200 = two cores busy), as the Live Processes view shows.
// ok is false on a process's first cycle.
func (p *Process) CPUPercent() (user, system float64, ok bool) {
	if !p.HasPrev {
		return 0, 0, false
	}
	dt := p.Cur.Time.Sub(p.Prev.Time).Seconds()
	if dt <= 0 {
		return 0, 0, false
	}
	du, ds := float64(sub(p.Cur.UTime, p.Prev.UTime)), float64(sub(p.Cur.STime, p.Prev.STime))
	if p.Cur.Exact != p.Prev.Exact {
		return 0, 0, false // sampled by different sources: not comparable
	}
	if p.Cur.Exact {
		// Exact total, split in the ratio of the tick-sampled user and system times.
		total := float64(sub(p.Cur.CPUNs, p.Prev.CPUNs)) / 1e9 / dt * 100
		if du+ds == 0 {
			return total, 0, true
		}
		return total * du / (du + ds), total * ds / (du + ds), true
	}
	return du / UserHZ / dt * 100, ds / UserHZ / dt * 100, true
}

// sub is a counter delta that treats a decrease as a reset.
func sub(cur, prev uint64) uint64 {
	if cur < prev {
		return 0
	}
	return cur - prev
}

// Snapshot is one cycle of a host. The collector reuses it: read it before the
// next Collect.
type Snapshot struct {
	Time       time.Time
	Host       host.Snapshot
	HostPrev   host.Snapshot // the previous cycle's host counters
	HasPrev    bool          // HostPrev is valid
	Processes  []*Process    // live processes in pid order
	Containers []*Container  // known containers (running or not), in discovery order
	// ShortLived are processes that started and exited since the previous cycle,
	// never sampled, reported from their events (event-driven tables only).
	ShortLived []ShortLived
	Stats      Stats
}

// Stats counts what a cycle skipped. Counters are cumulative since start.
type Stats struct {
	Cycles            uint64
	ProcsGone         uint64 // processes that exited while being read
	ProcsNew          uint64
	PidReused         uint64                // a pid seen again with another start time
	ReadErrors        [proc.NumFiles]uint64 // per proc.File: read failures other than gone or denied
	Denied            [proc.NumFiles]uint64 // per proc.File: reads refused for lack of rights (EACCES/EPERM: io without ptrace rights)
	IdleSkips         uint64                // status+io reads saved because the process had not run
	ParseErrors       [proc.NumFiles]uint64 // per proc.File: malformed content, process skipped or field absent
	HostErrors        uint64                // host files unreadable or malformed this cycle
	ContainersNew     uint64                // containers added to the table
	ContainerErrors   uint64                // containers whose cgroup could not be located or read
	Scans             uint64                // /proc directory scans (every cycle without events)
	Events            uint64                // process events applied
	EventGaps         uint64                // intervals in which the source lost or the feed dropped events
	Repairs           uint64                // processes found by a reconciliation scan that events missed
	Exits             uint64                // tracked processes removed on their exit event
	ShortLivedCount   uint64                // processes that lived between two cycles
	ShortLivedDropped uint64                // of those, not listed (over MaxShortLived in a cycle); still counted
	EventDups         uint64                // duplicate exit events ignored
	EventsLost        uint64                // events the source reports lost (kernel buffer full)
	EventMode         string                // the process event source (tp_btf, netlink, …); "poll" without one
	Sampler           string                // "task-iterator" or "proc"
	TaskIterErrors    uint64                // iterator reads that failed (the cycle fell back to /proc)
	TaskIterMissed    uint64                // processes the iterator skipped, sampled through /proc since
	UserErrors        uint64                // passwd reload failures
	HeldFDs           int
	TrackedProcs      int
	CycleDuration     time.Duration
}

// Options configure a Collector.
type Options struct {
	Proc       proc.Options
	Cgroup     cgroup.Options
	Users      UserNames        // nil: uids are shown as numbers
	Containers container.Source // nil: no container table
	Log        *slog.Logger
	// Events, when set, maintains the process table from exec/fork/exit events
	// (run a procevent.Source with Events.Add) instead of scanning /proc each
	// cycle; EventsLost is the source's lost counter (a move forces a scan).
	Events     *EventFeed
	EventsLost func() uint64
	// EventMode names the source for reports ("tp_btf", "netlink", …).
	EventMode string
	// Tasks, when set, samples every process from one read of a BPF task
	// iterator (bpf.TaskIter) instead of /proc files; only a live host's.
	Tasks TaskSource
	// Reconcile is how often an event-driven table is checked by a full scan;
	// 0 means DefaultReconcile.
	Reconcile time.Duration
	// MaxShortLived bounds the short-lived processes listed per cycle (all are
	// counted); 0 means DefaultMaxShortLived.
	MaxShortLived int
}
