// Package procs turns a collection cycle into the Live Processes batch: every
// process with its scrubbed command line, CPU, memory and IO rates, and every
// running container with its tags, limits and rates
// (shared/spec/datadog-compat.md §4.5, §4.6).
//
// Unlike the agent, which lists a process only once it has been seen in two
// runs (its CPU needs a previous sample), a Builder lists new processes at
// once with 0% CPU on their first run: processes living less than a check
// interval are what whippet exists to show.
//
// Like the current agent (procutil skipProcess falls back to the exe for an
// empty command line), kernel threads and zombies are listed; set
// Options.SkipKernelThreads to leave kernel threads out.
package procs

import (
	"bytes"
	"log/slog"
	"time"

	"github.com/whippet-agent/whippet/pkg/batch"
	"github.com/whippet-agent/whippet/pkg/collect"
	"github.com/whippet-agent/whippet/pkg/collect/cgroup"
	"github.com/whippet-agent/whippet/pkg/collect/host"
	"github.com/whippet-agent/whippet/pkg/container"
	"github.com/whippet-agent/whippet/pkg/scrub"
)

// Options configure a Builder.
type Options struct {
	Host          string        // the canonical host name
	Interval      time.Duration // between runs
	Scrubber      *scrub.Scrubber
	NumCPU        int
	TotalMemory   uint64 // bytes
	KernelVersion string
	// SkipKernelThreads leaves kernel threads out; the agent lists them.
	SkipKernelThreads bool
	Log               *slog.Logger // nil: discard
}

// Builder fills batch.Processes from snapshots. It keeps the scrubbed command
// line of every process (scrubbing runs once per process, not every cycle) and
// the tag list of every container Meta; both are pruned of what a cycle no
// longer shows. Not safe for concurrent use.
type Builder struct {
	opt  Options
	gen  uint64
	args map[argKey]*argEntry
	free []*argEntry
	tags map[*container.Meta]*tagEntry
	// noBoot: the missing boot time was logged
	noBoot bool
}

// maxFree bounds the recycled cache entries kept after a burst of exits.
const maxFree = 1024

// argKey identifies a process run: a reused pid has another start time.
type argKey struct {
	pid   int32
	start uint64
}

type argEntry struct {
	raw, scrubbed []byte // raw detects an exec (same pid and start time)
	seen          uint64
}

type tagEntry struct {
	tags []string
	seen uint64
}

// New returns a Builder. Without a Scrubber, command lines are scrubbed with
// the agent's defaults.
func New(opt Options) *Builder {
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	if opt.Scrubber == nil {
		opt.Scrubber = scrub.Default()
	}
	return &Builder{
		opt:  opt,
		args: make(map[argKey]*argEntry),
		tags: make(map[*container.Meta]*tagEntry),
	}
}

// Build fills out from s, reusing out's storage.
func (b *Builder) Build(s *collect.Snapshot, out *batch.Processes) {
	b.gen++
	out.Reset()
	out.Host = b.opt.Host
	out.Timestamp = s.Time.UnixMilli()
	out.Interval = int64(b.opt.Interval / time.Second)
	out.System = batch.System{CPUs: int32(b.opt.NumCPU), TotalMemory: b.opt.TotalMemory,
		KernelVersion: b.opt.KernelVersion, OS: "linux"}

	var bootMs int64
	if s.Host.Stat.Has&host.StatBtime != 0 {
		bootMs = int64(s.Host.Stat.Btime) * 1000
	} else if !b.noBoot {
		b.noBoot = true
		b.opt.Log.Warn("no boot time in /proc/stat: process create times are left 0")
	}
	for _, p := range s.Processes {
		if p.Kernel && b.opt.SkipKernelThreads {
			continue
		}
		b.process(p, bootMs, out.Next())
	}
	for _, c := range s.Containers {
		if c.Meta == nil || !c.Meta.Running() {
			continue
		}
		out.Containers = append(out.Containers, batch.Container{})
		b.container(c, &out.Containers[len(out.Containers)-1])
	}
	b.prune()
}

func (b *Builder) process(p *collect.Process, bootMs int64, q *batch.Process) {
	q.PID, q.PPID = p.PID, p.PPID
	q.Args = append(q.Args, b.scrubbed(p)...)
	q.Comm = append(q.Comm, p.Comm...)
	q.User, q.UID, q.GID = p.User, p.UID, p.GID
	q.State = p.State
	if bootMs > 0 {
		q.CreateTime = bootMs + int64(p.StartTime)*1000/collect.UserHZ
	}
	q.Nice, q.Threads = int32(p.Nice), int32(p.Threads)
	q.OpenFDs = batch.Unknown
	if u, sys, ok := p.CPUPercent(); ok {
		q.UserPct, q.SystemPct, q.TotalPct = float32(u), float32(sys), float32(u+sys)
	}
	q.UserTime, q.SystemTime = p.Cur.UTime, p.Cur.STime
	q.RSS, q.VMS, q.Swap = p.RSS, p.VMS, p.Swap
	q.ReadRate, q.WriteRate, q.ReadBytesRate, q.WriteBytesRate = batch.Unknown, batch.Unknown, batch.Unknown, batch.Unknown
	if p.HasPrev && p.Cur.HasIO && p.Prev.HasIO {
		if dt := p.Cur.Time.Sub(p.Prev.Time).Seconds(); dt > 0 {
			cur, prev := &p.Cur.IO, &p.Prev.IO
			q.ReadRate = rate(cur.SyscR, prev.SyscR, dt)
			q.WriteRate = rate(cur.SyscW, prev.SyscW, dt)
			q.ReadBytesRate = rate(cur.ReadBytes, prev.ReadBytes, dt)
			q.WriteBytesRate = rate(cur.WriteBytes, prev.WriteBytes, dt)
		}
	}
	q.VolCtxSwitches, q.InvolCtxSwitches = p.Cur.VolCtxt, p.Cur.NonVolCtxt
	q.ContainerID = p.ContainerID
}

// scrubbed returns p's scrubbed arguments, scrubbing only a process run not
// seen before or one whose command line changed (exec keeps pid and start).
func (b *Builder) scrubbed(p *collect.Process) []byte {
	k := argKey{p.PID, p.StartTime}
	e := b.args[k]
	if e == nil {
		if n := len(b.free); n > 0 {
			e, b.free = b.free[n-1], b.free[:n-1]
		} else {
			e = &argEntry{}
		}
		e.raw = append(e.raw[:0], p.Cmdline...)
		e.scrubbed = b.opt.Scrubber.Append(e.scrubbed[:0], p.Cmdline)
		b.args[k] = e
	} else if !bytes.Equal(e.raw, p.Cmdline) {
		e.raw = append(e.raw[:0], p.Cmdline...)
		e.scrubbed = b.opt.Scrubber.Append(e.scrubbed[:0], p.Cmdline)
	}
	e.seen = b.gen
	return e.scrubbed
}

func (b *Builder) container(c *collect.Container, q *batch.Container) {
	m := c.Meta
	q.ID, q.Name, q.Runtime = c.ID, m.Name, "docker"
	q.Tags = b.tagsOf(m)
	q.State = state(m.State)
	if !m.StartedAt.IsZero() {
		q.Started = m.StartedAt.Unix()
	}
	cur, prev := &c.Cur.Stats, &c.Prev.Stats
	q.CPULimit = cpuLimit(&cur.CPU, cur.Has)
	if cur.Has.Has(cgroup.MemoryLimit) {
		q.MemoryLimit = cur.Memory.Limit
	}
	q.MemRSS, q.MemCache, q.MemUsage, q.MemAccounted = cur.Memory.RSS, cur.Memory.Cache, cur.Memory.Usage, cur.Memory.WorkingSet
	q.ThreadCount, q.ThreadLimit = cur.Pids.Current, cur.Pids.Limit

	u := float32(batch.Unknown)
	q.UserPct, q.SystemPct, q.TotalPct, q.CPUUsageNs = u, u, u, u
	q.ReadBps, q.WriteBps, q.NetRcvdPs, q.NetSentPs, q.NetRcvdBps, q.NetSentBps = u, u, u, u, u, u
	if !c.HasPrev || !c.Sampled() {
		return
	}
	dt := c.Cur.Time.Sub(c.Prev.Time).Seconds()
	if dt <= 0 {
		return
	}
	if pct, ok := c.CPUPercent(); ok {
		q.TotalPct = float32(pct)
		q.CPUUsageNs = rate(cur.CPU.Usage, prev.CPU.Usage, dt)
		if cur.Has.Has(cgroup.CPUUser|cgroup.CPUSystem) && prev.Has.Has(cgroup.CPUUser|cgroup.CPUSystem) {
			q.UserPct = rate(cur.CPU.User, prev.CPU.User, dt) / 1e7 // ns/s → percent of a core
			q.SystemPct = rate(cur.CPU.System, prev.CPU.System, dt) / 1e7
		}
	}
	if cur.Has.Has(cgroup.IOBytes) && prev.Has.Has(cgroup.IOBytes) {
		cr, cw := ioTotals(&cur.IO)
		pr, pw := ioTotals(&prev.IO)
		q.ReadBps, q.WriteBps = rate(cr, pr, dt), rate(cw, pw, dt)
	}
	if c.Cur.HasNet && c.Prev.HasNet {
		crb, ctb, crp, ctp := netTotals(&c.Cur.Net)
		prb, ptb, prp, ptp := netTotals(&c.Prev.Net)
		q.NetRcvdBps, q.NetSentBps = rate(crb, prb, dt), rate(ctb, ptb, dt)
		q.NetRcvdPs, q.NetSentPs = rate(crp, prp, dt), rate(ctp, ptp, dt)
	}
}

// tagsOf returns m's tags at every cardinality, computed once per Meta (a
// changed container gets a new Meta).
func (b *Builder) tagsOf(m *container.Meta) []string {
	e := b.tags[m]
	if e == nil {
		e = &tagEntry{tags: m.Tags.All()}
		b.tags[m] = e
	}
	e.seen = b.gen
	return e.tags
}

// prune forgets the processes and Metas this cycle did not show.
func (b *Builder) prune() {
	for k, e := range b.args {
		if e.seen != b.gen {
			delete(b.args, k)
			if len(b.free) < maxFree {
				b.free = append(b.free, e)
			}
		}
	}
	for m, e := range b.tags {
		if e.seen != b.gen {
			delete(b.tags, m)
		}
	}
}

// state maps Docker's state names to the payload's ContainerState.
func state(s string) batch.ContainerState {
	switch s {
	case "created":
		return batch.StateCreated
	case "restarting":
		return batch.StateRestarting
	case "running":
		return batch.StateRunning
	case "paused":
		return batch.StatePaused
	case "exited":
		return batch.StateExited
	case "dead":
		return batch.StateDead
	}
	return batch.StateUnknown
}

// cpuLimit is the CPU limit in percent of one core: the CFS quota, else the
// cpuset's size, else 0 (none).
func cpuLimit(c *cgroup.CPUStats, has cgroup.Fields) float32 {
	if has.Has(cgroup.CPUQuota) && c.Quota > 0 && c.Period > 0 {
		return float32(c.Quota) / float32(c.Period) * 100
	}
	if has.Has(cgroup.CPUCount) && c.CPUs > 0 {
		return float32(c.CPUs) * 100
	}
	return 0
}

func ioTotals(s *cgroup.IOStats) (read, write uint64) {
	for i := range s.Devices {
		read += s.Devices[i].ReadBytes
		write += s.Devices[i].WriteBytes
	}
	return read, write
}

// netTotals sums a container's interfaces but loopback.
func netTotals(n *host.NetDev) (rxBytes, txBytes, rxPackets, txPackets uint64) {
	for i := range n.Ifaces {
		if f := &n.Ifaces[i]; f.Name != "lo" {
			rxBytes += f.RxBytes
			txBytes += f.TxBytes
			rxPackets += f.RxPackets
			txPackets += f.TxPackets
		}
	}
	return
}

// rate is a counter's increase per second; a decrease (reset) is 0.
func rate(cur, prev uint64, dt float64) float32 {
	if cur < prev {
		return 0
	}
	return float32(float64(cur-prev) / dt)
}
