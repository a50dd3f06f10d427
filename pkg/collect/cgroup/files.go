package cgroup

// kind says how a file is parsed and where its figures go.
type kind uint8

const (
	kCPUAcctUsage kind = iota // v1 cpuacct.usage
	kCPUAcctStat              // v1 cpuacct.stat
	kCPUStat                  // cpu.stat, both versions
	kMemStatV1
	kMemStatV2
	kMemUsage    // v1 memory.usage_in_bytes, v2 memory.current
	kMemKernel   // v1 memory.kmem.usage_in_bytes
	kMemFailcnt  // v1 memory.failcnt
	kMemPeak     // v1 memory.max_usage_in_bytes, v2 memory.peak
	kMemEvents   // v1 memory.oom_control, v2 memory.events
	kSwapCurrent // v2 memory.swap.current
	kBlkioBytes
	kBlkioOps
	kIOStat
	kPidsCurrent
	kPSICPU
	kPSIMemory
	kPSIIO
	// Limits, cached in the Handle between refreshes.
	kQuota     // v1 cpu.cfs_quota_us
	kPeriod    // v1 cpu.cfs_period_us
	kCPUMax    // v2 cpu.max
	kShares    // v1 cpu.shares
	kWeight    // v2 cpu.weight
	kCPUSet    // v1 cpuset.cpus, v2 cpuset.cpus.effective
	kSoftLimit // v1 memory.soft_limit_in_bytes, v2 memory.low
	kMemMax    // v2 memory.max
	kSwapMax   // v2 memory.swap.max
	kPidsMax
)

// file is one cgroup file a Reader reads.
type file struct {
	ctl   Controller
	name  string
	kind  kind
	limit bool // re-read every Options.LimitsEvery-th Read
}

// The files of each version, per-cycle ones first.
var (
	filesV1 = [...]file{
		{CPUAcct, "cpuacct.usage", kCPUAcctUsage, false},
		{CPUAcct, "cpuacct.stat", kCPUAcctStat, false},
		{CPU, "cpu.stat", kCPUStat, false},
		{Memory, "memory.stat", kMemStatV1, false},
		{Memory, "memory.usage_in_bytes", kMemUsage, false},
		{Memory, "memory.kmem.usage_in_bytes", kMemKernel, false},
		{Blkio, "blkio.throttle.io_service_bytes", kBlkioBytes, false},
		{Blkio, "blkio.throttle.io_serviced", kBlkioOps, false},
		{Pids, "pids.current", kPidsCurrent, false},
		// Slow-moving v1 counters on the limits schedule (at most LimitsEvery
		// cycles stale): failcnt and the peak only move when the container presses
		// its limit, and OOM kills also reach the agent as Docker "oom" events.
		// Reading them every cycle cost a third more per container.
		{Memory, "memory.failcnt", kMemFailcnt, true},
		{Memory, "memory.max_usage_in_bytes", kMemPeak, true},
		{Memory, "memory.oom_control", kMemEvents, true},
		{CPU, "cpu.cfs_quota_us", kQuota, true},
		{CPU, "cpu.cfs_period_us", kPeriod, true},
		{CPU, "cpu.shares", kShares, true},
		{CPUSet, "cpuset.cpus", kCPUSet, true},
		{Memory, "memory.soft_limit_in_bytes", kSoftLimit, true},
		{Pids, "pids.max", kPidsMax, true},
	}
	// filesPSI are read from the unified mount of a hybrid host with Options.HybridPSI.
	filesPSI = [...]file{
		{Unified, "cpu.pressure", kPSICPU, false},
		{Unified, "memory.pressure", kPSIMemory, false},
		{Unified, "io.pressure", kPSIIO, false},
	}
	filesV2 = [...]file{
		{Unified, "cpu.stat", kCPUStat, false},
		{Unified, "memory.current", kMemUsage, false},
		{Unified, "memory.stat", kMemStatV2, false},
		{Unified, "memory.swap.current", kSwapCurrent, false},
		{Unified, "memory.events", kMemEvents, false},
		{Unified, "memory.peak", kMemPeak, false},
		{Unified, "io.stat", kIOStat, false},
		{Unified, "pids.current", kPidsCurrent, false},
		{Unified, "cpu.pressure", kPSICPU, false},
		{Unified, "memory.pressure", kPSIMemory, false},
		{Unified, "io.pressure", kPSIIO, false},
		{Unified, "cpu.max", kCPUMax, true},
		{Unified, "cpu.weight", kWeight, true},
		{Unified, "cpuset.cpus.effective", kCPUSet, true},
		{Unified, "memory.low", kSoftLimit, true},
		{Unified, "memory.max", kMemMax, true},
		{Unified, "memory.swap.max", kSwapMax, true},
		{Unified, "pids.max", kPidsMax, true},
	}
)

// maxFiles bounds the files of one version (a Handle keeps a descriptor slot each).
const maxFiles = max(len(filesV1)+len(filesPSI), len(filesV2))

// Files lists the files a Reader of mode m reads for a container, as
// "<controller>/<file>" (v2: the file name), per-cycle files first; the last
// nLimits are the limit files re-read every Options.LimitsEvery-th Read.
func Files(m Mode, hybridPSI bool) (names []string, nLimits int) {
	fs := filesV1[:]
	if m == ModeV2 {
		fs = filesV2[:]
	} else if m == ModeHybrid && hybridPSI {
		fs = append(append([]file(nil), filesV1[:]...), filesPSI[:]...)
	}
	for _, f := range fs {
		if m == ModeV2 {
			names = append(names, f.name)
		} else {
			names = append(names, f.ctl.String()+"/"+f.name)
		}
		if f.limit {
			nLimits++
		}
	}
	return names, nLimits
}

// limits are a container's limit figures, read every Options.LimitsEvery-th cycle.
type limits struct {
	quota                      int64
	period, shares, weight     uint64
	cpus                       uint32
	softLimit, memMax, swapMax uint64
	pidsLimit                  uint64
	memMaxSet, swapMaxSet      bool // v2 memory.max / memory.swap.max not "max"
	has                        Fields
	v2mem                      bool // memory.max was read (v2)
	v2swap                     bool // memory.swap.max was read (v2)
	// The v1 counters read on the limits schedule, as last read.
	failcnt, peak, oomKills uint64
	slowHas                 Fields
}

// slowFields are the Stats fields of v1 files read on the limits schedule.
const slowFields = MemoryFailcnt | MemoryPeak | MemoryOOMKills | MemoryOOMEvents

// keepSlow remembers the slow counters of a refreshing read; applySlow restores
// them on the reads in between.
func (l *limits) keepSlow(s *Stats) {
	l.failcnt, l.peak, l.oomKills = s.Memory.Failcnt, s.Memory.Peak, s.Memory.OOMKills
	l.slowHas = s.Has & slowFields
}

func (l *limits) applySlow(s *Stats) {
	if s.Has&slowFields != 0 {
		return // read this cycle (v2 reads memory.events and memory.peak every cycle)
	}
	s.Memory.Failcnt, s.Memory.Peak, s.Memory.OOMKills = l.failcnt, l.peak, l.oomKills
	s.Has |= l.slowHas
}

// apply copies the limits into s.
func (l *limits) apply(s *Stats) {
	s.CPU.Quota, s.CPU.Period = l.quota, l.period
	s.CPU.Shares, s.CPU.Weight, s.CPU.CPUs = l.shares, l.weight, l.cpus
	s.Memory.SoftLimit = l.softLimit
	s.Pids.Limit = l.pidsLimit
	s.Has |= l.has
	if l.v2mem {
		s.Memory.Limit = l.memMax
		s.Has |= MemoryLimit
	}
	if l.v2mem && l.v2swap {
		s.Memory.SwapLimit = 0
		if l.memMaxSet && l.swapMaxSet && l.memMax+l.swapMax >= l.memMax {
			s.Memory.SwapLimit = l.memMax + l.swapMax
		}
		s.Has |= MemorySwapLimit
	}
}

// parseFile parses the content b of a file of kind k into s, or into l for limits.
func parseFile(k kind, b []byte, s *Stats, l *limits) error {
	var err error
	switch k {
	case kCPUAcctUsage:
		if s.CPU.Usage, err = ParseValue(b); err == nil {
			s.Has |= CPUUsage
		}
	case kCPUAcctStat:
		return ParseCPUAcctStat(b, s)
	case kCPUStat:
		return ParseCPUStat(b, s)
	case kMemStatV1:
		if err = ParseMemoryStatV1(b, s); err == nil && s.Memory.RSS >= 1<<63 {
			// A transiently negative per-cpu sum printed unsigned (the agent drops it too).
			s.Memory.RSS = 0
			s.Has &^= MemoryRSS
		}
		return err
	case kMemStatV2:
		return ParseMemoryStatV2(b, s)
	case kMemUsage:
		if s.Memory.Usage, err = ParseValue(b); err == nil {
			s.Has |= MemoryUsage
		}
	case kMemKernel:
		if s.Memory.Kernel, err = ParseValue(b); err == nil {
			s.Has |= MemoryKernel
		}
	case kMemFailcnt:
		if s.Memory.Failcnt, err = ParseValue(b); err == nil {
			s.Has |= MemoryFailcnt
		}
	case kMemPeak:
		if s.Memory.Peak, err = ParseValue(b); err == nil {
			s.Has |= MemoryPeak
		}
	case kMemEvents:
		return ParseMemoryEvents(b, s)
	case kSwapCurrent:
		if s.Memory.Swap, err = ParseValue(b); err == nil {
			s.Has |= MemorySwap
		}
	case kBlkioBytes:
		return ParseBlkio(b, false, s)
	case kBlkioOps:
		return ParseBlkio(b, true, s)
	case kIOStat:
		return ParseIOStat(b, s)
	case kPidsCurrent:
		if s.Pids.Current, err = ParseValue(b); err == nil {
			s.Has |= PidsCurrent
		}
	case kPSICPU:
		if s.PSI.CPUSome, _, _, err = ParsePSI(b); err == nil {
			s.Has |= PSICPU
		}
	case kPSIMemory:
		if s.PSI.MemSome, s.PSI.MemFull, _, err = ParsePSI(b); err == nil {
			s.Has |= PSIMemory
		}
	case kPSIIO:
		if s.PSI.IOSome, s.PSI.IOFull, _, err = ParsePSI(b); err == nil {
			s.Has |= PSIIO
		}
	case kQuota:
		if l.quota, err = ParseQuota(b); err == nil {
			l.has |= CPUQuota
		}
	case kPeriod:
		if l.period, err = ParseValue(b); err == nil {
			l.has |= CPUQuota
		}
	case kCPUMax:
		var t Stats
		if err = ParseCPUMax(b, &t); err == nil {
			l.quota, l.period = t.CPU.Quota, t.CPU.Period
			l.has |= CPUQuota
		}
	case kShares:
		if l.shares, err = ParseValue(b); err == nil {
			l.has |= CPUShares
		}
	case kWeight:
		if l.weight, err = ParseValue(b); err == nil {
			l.has |= CPUWeight
		}
	case kCPUSet:
		if l.cpus, err = ParseCPUSet(b); err == nil {
			l.has |= CPUCount
		}
	case kSoftLimit:
		if l.softLimit, _, err = ParseLimit(b); err == nil {
			l.has |= MemorySoftLimit
		}
	case kMemMax:
		if l.memMax, l.memMaxSet, err = ParseLimit(b); err == nil {
			l.v2mem = true
		}
	case kSwapMax:
		if l.swapMax, l.swapMaxSet, err = ParseLimit(b); err == nil {
			l.v2swap = true
		}
	case kPidsMax:
		if l.pidsLimit, _, err = ParseLimit(b); err == nil {
			l.has |= PidsLimit
		}
	}
	return err
}
