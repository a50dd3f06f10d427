package collect

import (
	"time"

	"github.com/whippet-agent/whippet/pkg/collect/cgroup"
	"github.com/whippet-agent/whippet/pkg/collect/host"
	"github.com/whippet-agent/whippet/pkg/container"
)

// Container is one container known to the collector: its identity (from the
// runtime), and, while it runs, the current and previous cycle's counters.
type Container struct {
	ID        string
	Meta      *container.Meta // replaced, never modified, when the runtime reports a change
	Cur, Prev ContainerSample
	HasPrev   bool // Prev holds the previous cycle's sample of this same run
	// Procs aggregates the container's processes of this cycle.
	Procs ProcAggregate
	// ShortLived counts the container's processes that lived between two cycles
	// (event-driven tables), cumulative: whippet.process.short_lived.
	ShortLived uint64

	paths     cgroup.Paths
	h         cgroup.Handle
	located   bool
	locateErr error
	netfd     int // fd+1 of the held /proc/<pid>/net/dev
	// cgroup directory inodes (the kernel's cgroup ids) while located
	memcgIno, cgroup2Ino uint64
}

// ContainerSample is one cycle's counters of a container.
type ContainerSample struct {
	Time   time.Time // zero when the container was not sampled this cycle
	Stats  cgroup.Stats
	Net    host.NetDev // the container's network namespace, per interface
	HasNet bool
}

// Sampled reports whether c was read this cycle.
func (c *Container) Sampled() bool { return !c.Cur.Time.IsZero() }

// CPUPercent is the container's CPU use over the last cycle in percent of one
// core; ok is false without two samples.
func (c *Container) CPUPercent() (float64, bool) {
	if !c.HasPrev || !c.Sampled() {
		return 0, false
	}
	dt := c.Cur.Time.Sub(c.Prev.Time).Seconds()
	if dt <= 0 || c.Cur.Stats.CPU.Usage < c.Prev.Stats.CPU.Usage {
		return 0, false
	}
	return float64(c.Cur.Stats.CPU.Usage-c.Prev.Stats.CPU.Usage) / 1e9 / dt * 100, true
}

// NetTotals sums the container's interfaces but loopback.
func (s *ContainerSample) NetTotals() (rx, tx uint64) {
	for i := range s.Net.Ifaces {
		if f := &s.Net.Ifaces[i]; f.Name != "lo" {
			rx += f.RxBytes
			tx += f.TxBytes
		}
	}
	return rx, tx
}

// ProcAggregate sums a container's processes in one cycle.
type ProcAggregate struct {
	Count   int    // processes
	Threads int64  // their threads
	RSS     uint64 // bytes, summed (shared pages counted per process)
	CPUNs   uint64 // exact CPU time of the processes the task iterator sampled
	// OpenFDs sums the entries of /proc/<pid>/fd over the processes that could be
	// listed, on cycles that asked for ExtraFDs; FDsKnown says at least one could
	// (container.pid.open_files is not sent otherwise).
	OpenFDs  int64
	FDsKnown bool
}

// Extras are the costlier reads a cycle makes only when asked (CollectWith).
// The daemon asks for them on metrics cycles, which run less often than process
// cycles and are the only ones whose figures are sent.
type Extras uint8

const (
	// ExtraFDs counts the open descriptors of every process in a container
	// (ProcAggregate.OpenFDs): an openat, getdents and close per such process.
	// Host processes are not counted.
	ExtraFDs Extras = 1 << iota
	// ExtraFilesystems statfs's the host's block filesystems
	// (host.Snapshot.FS, see host.Reader.ReadFS).
	ExtraFilesystems
	// ProcessesOnly is a cycle for the process payload alone: the host's
	// counters and the containers' cgroup and network counters keep what the
	// last full cycle read (container changes still apply, and a container
	// never sampled is read), so the process ticks between two metrics ticks
	// cost the process walk only. The payload's container rates then span the
	// last two full cycles.
	ProcessesOnly
	// ReuseProcesses keeps the process list of the last walk (no walk, no
	// events taken) when there was one: for a metrics tick between process
	// ticks, which needs the processes only to count containers' descriptors
	// (ExtraFDs) and can take a list up to a process interval old.
	ReuseProcesses
)
