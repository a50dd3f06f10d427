// Package cgroup reads container resource figures from cgroup v1 (including the
// hybrid layout with a cgroup2 "unified" mount beside the v1 controllers) and cgroup v2,
// without allocating.
//
// A collection cycle reads a dozen small files per container. Each costs an
// openat+read+close (≈3 µs of kernfs work for the open and close alone) or one pread
// on a descriptor held across cycles (≈0.5 µs), so the Reader keeps descriptors open
// (up to Options.MaxHeld; the files read every cycle first) and re-reads the limits,
// which change only with `docker update`, every Options.LimitsEvery-th cycle. Parsers
// are pure functions over a file's bytes into the caller's Stats; the Reader does the
// I/O with raw syscalls into one reused buffer.
//
// Which file gives which field (the Datadog agent's pkg/util/cgroups reads the same):
//
//	field                v1 (controller/file)                          v2 (file)
//	CPU.Usage            cpuacct/cpuacct.usage (ns)                   cpu.stat usage_usec ×1000
//	CPU.User, .System    cpuacct/cpuacct.stat user/system (USER_HZ    cpu.stat user_usec/system_usec ×1000
//	                     ticks ×10,000,000)
//	CPU.Periods          cpu/cpu.stat nr_periods                      cpu.stat nr_periods
//	CPU.Throttled        cpu/cpu.stat nr_throttled                    cpu.stat nr_throttled
//	CPU.ThrottledTime    cpu/cpu.stat throttled_time (ns)             cpu.stat throttled_usec ×1000
//	CPU.Quota, .Period   cpu/cpu.cfs_quota_us, cpu.cfs_period_us      cpu.max ("max 100000": Quota -1)
//	CPU.Shares           cpu/cpu.shares                               –
//	CPU.Weight           –                                            cpu.weight (WeightToShares converts)
//	CPU.CPUs             cpuset/cpuset.cpus (count)                   cpuset.cpus.effective (count)
//	Memory.Usage         memory/memory.usage_in_bytes                 memory.current
//	Memory.Limit         memory/memory.stat hierarchical_memory_limit memory.max
//	Memory.SoftLimit     memory/memory.soft_limit_in_bytes            memory.low
//	Memory.SwapLimit     memory/memory.stat hierarchical_memsw_limit  memory.max + memory.swap.max
//	Memory.RSS           memory/memory.stat total_rss                 memory.stat anon
//	Memory.Cache         memory/memory.stat total_cache               memory.stat file
//	Memory.Swap          memory/memory.stat total_swap                memory.swap.current
//	Memory.InactiveFile  memory/memory.stat total_inactive_file       memory.stat inactive_file
//	Memory.WorkingSet    Usage − InactiveFile (not below 0)           same
//	Memory.Kernel        memory/memory.kmem.usage_in_bytes            memory.stat kernel (or kernel_stack+slab)
//	Memory.Failcnt       memory/memory.failcnt                        –
//	Memory.OOMEvents     –                                            memory.events oom
//	Memory.OOMKills      memory/memory.oom_control oom_kill           memory.events oom_kill
//	Memory.Peak          memory/memory.max_usage_in_bytes             memory.peak (kernel ≥ 5.19)
//	Memory.PgFault       memory/memory.stat total_pgfault             memory.stat pgfault
//	Memory.PgMajFault    memory/memory.stat total_pgmajfault          memory.stat pgmajfault
//	IO.Devices           blkio/blkio.throttle.io_service_bytes and    io.stat rbytes/wbytes/rios/wios
//	                     blkio.throttle.io_serviced, Read/Write rows
//	Pids.Current, .Limit pids/pids.current, pids.max                  pids.current, pids.max
//	PSI                  unified/cpu,memory,io.pressure (hybrid, only  cpu.pressure some; memory.pressure,
//	                     with Options.HybridPSI)                       io.pressure some and full
//
// Notes that change numbers:
//   - v1 memory limits come from memory.stat's hierarchical_* lines, as the agent reads
//     them: the tightest limit up the hierarchy, so an ECS container without its own
//     limit reports its task's. v2 has no such line: memory.max is the cgroup's own, and
//     Paths.Parent gives the task cgroup to fall back to.
//   - Memory.SwapLimit is a memory+swap limit on both versions (v1 memsw semantics): on v2
//     it is memory.max + memory.swap.max, absent (0) when either is "max".
//   - The oom_events metric is Memory.Failcnt on v1 and Memory.OOMEvents on v2.
//   - v1 blkio: the non-recursive blkio.throttle.* files are read, as the agent reads
//     them; for a container (a leaf cgroup) they equal the _recursive ones. Since Linux
//     6.9 blk-throttle counts nothing on a disk until some cgroup has a throttle rule
//     on it (blk_throtl_activated() in block/blk-throttle.h); without one both files
//     hold only "Total 0" and IO.Devices stays empty, for the agent too.
//   - The v1 "unlimited" sentinel (PAGE_COUNTER_MAX × PAGE_SIZE = (MaxInt64/pagesize) ×
//     pagesize) and v2 "max" give 0: no limit.
//
// The presence of every field is in Stats.Has: a file this kernel or cgroup version
// lacks leaves its fields absent, and is not an error.
package cgroup

import (
	"errors"
	"fmt"
	"math"
	"os"

	"github.com/whippet-agent/whippet/pkg/collect/decimal"
)

// Mode is the cgroup layout of a host.
type Mode uint8

// Layouts.
const (
	ModeUnknown Mode = iota
	ModeV1           // v1 controllers only
	ModeHybrid       // v1 controllers and a cgroup2 mount at <cgroup>/unified (no controllers there)
	ModeV2           // the unified hierarchy at the cgroup root
)

func (m Mode) String() string {
	switch m {
	case ModeV1:
		return "v1"
	case ModeHybrid:
		return "hybrid"
	case ModeV2:
		return "v2"
	}
	return "unknown"
}

// Controller names a cgroup v1 hierarchy a container has a path in; Unified is the
// cgroup2 hierarchy (the only one on v2, the "unified" mount on hybrid hosts).
type Controller uint8

// Controllers.
const (
	CPU Controller = iota
	CPUAcct
	CPUSet
	Memory
	Blkio
	Pids
	Unified
	NumControllers
)

var controllerNames = [NumControllers]string{"cpu", "cpuacct", "cpuset", "memory", "blkio", "pids", "unified"}

func (c Controller) String() string {
	if c < NumControllers {
		return controllerNames[c]
	}
	return "unknown"
}

// Errors callers branch on.
var (
	// ErrGone: the process (Locate) or the cgroup (Open, Read) no longer exists. Skip
	// the container and count it; it is not an error of the agent.
	ErrGone = errors.New("cgroup gone")
	// ErrNotContainer: the process's cgroup names no container (a host process).
	ErrNotContainer = errors.New("not in a container cgroup")
	// ErrNamespace: /proc/<pid>/cgroup shows paths relative to the agent's own cgroup
	// namespace ("/../…"), so the host's cgroup tree cannot be found from them. Run
	// the agent in the host cgroup namespace (docker --cgroupns host; the ECS task
	// definition's default on cgroup v1 hosts, required on v2).
	ErrNamespace = errors.New("the agent runs in a private cgroup namespace: cgroup paths are relative to it (run it with the host cgroup namespace, docker --cgroupns host)")
	// ErrNotSupported: cgroups are read on Linux only.
	ErrNotSupported = errors.New("cgroup: not supported on this OS")
)

// IsGone reports whether err means the process or cgroup no longer exists.
func IsGone(err error) bool { return errors.Is(err, ErrGone) }

// Fields is a presence bitmask over Stats: which groups and fields this kernel,
// cgroup version and container gave.
type Fields uint64

// Fields of Stats.
const (
	CPUUsage           Fields = 1 << iota // CPU.Usage
	CPUUser                               // CPU.User
	CPUSystem                             // CPU.System
	CPUPeriods                            // CPU.Periods
	CPUThrottled                          // CPU.Throttled
	CPUThrottledTime                      // CPU.ThrottledTime
	CPUQuota                              // CPU.Quota and CPU.Period
	CPUShares                             // CPU.Shares (v1)
	CPUWeight                             // CPU.Weight (v2)
	CPUCount                              // CPU.CPUs
	MemoryUsage                           // Memory.Usage
	MemoryLimit                           // Memory.Limit (0: none)
	MemorySoftLimit                       // Memory.SoftLimit (0: none)
	MemorySwapLimit                       // Memory.SwapLimit (0: none)
	MemoryRSS                             // Memory.RSS
	MemoryCache                           // Memory.Cache
	MemorySwap                            // Memory.Swap
	MemoryInactiveFile                    // Memory.InactiveFile
	MemoryWorkingSet                      // Memory.WorkingSet
	MemoryKernel                          // Memory.Kernel
	MemoryFailcnt                         // Memory.Failcnt (v1)
	MemoryOOMEvents                       // Memory.OOMEvents (v2)
	MemoryOOMKills                        // Memory.OOMKills
	MemoryPeak                            // Memory.Peak
	MemoryPgFault                         // Memory.PgFault
	MemoryPgMajFault                      // Memory.PgMajFault
	IOBytes                               // IO.Devices Read/WriteBytes (the file was read; it may list no device)
	IOOps                                 // IO.Devices Read/WriteOps
	PidsCurrent                           // Pids.Current
	PidsLimit                             // Pids.Limit (0: none)
	PSICPU                                // PSI.CPUSome
	PSIMemory                             // PSI.MemSome and PSI.MemFull
	PSIIO                                 // PSI.IOSome and PSI.IOFull
)

// Has reports whether every field of g is present in f.
func (f Fields) Has(g Fields) bool { return f&g == g }

// CPUStats are a cgroup's CPU figures. Times are cumulative nanoseconds.
type CPUStats struct {
	Usage, User, System uint64 // ns
	Periods, Throttled  uint64 // CFS periods elapsed and throttled
	ThrottledTime       uint64 // ns
	Quota               int64  // µs per Period; -1: none
	Period              uint64 // µs
	Shares, Weight      uint64 // v1 cpu.shares, v2 cpu.weight
	CPUs                uint32 // CPUs in the cpuset
}

// MemoryStats are a cgroup's memory figures in bytes (counters in events). Limits
// are 0 when there is none.
type MemoryStats struct {
	Usage, Limit, SoftLimit, SwapLimit uint64
	RSS, Cache, Swap, InactiveFile     uint64
	WorkingSet, Kernel                 uint64
	Failcnt, OOMEvents, OOMKills       uint64
	Peak, PgFault, PgMajFault          uint64
}

// IODevice is one block device's cumulative I/O in a cgroup.
type IODevice struct {
	Major, Minor          uint32
	ReadBytes, WriteBytes uint64
	ReadOps, WriteOps     uint64
}

// IOStats are a cgroup's I/O per device. Devices is reused across reads.
type IOStats struct {
	Devices []IODevice
}

// Device returns the entry of major:minor, appending a zero one if missing.
func (s *IOStats) Device(major, minor uint32) *IODevice {
	for i := range s.Devices {
		if d := &s.Devices[i]; d.Major == major && d.Minor == minor {
			return d
		}
	}
	s.Devices = append(s.Devices, IODevice{Major: major, Minor: minor})
	return &s.Devices[len(s.Devices)-1]
}

// PidsStats are a cgroup's task count (threads, not processes) and limit (0: none).
type PidsStats struct {
	Current, Limit uint64
}

// PSIStats are pressure stall totals in µs.
type PSIStats struct {
	CPUSome, MemSome, MemFull, IOSome, IOFull uint64
}

// Stats is one read of a container's cgroup.
type Stats struct {
	CPU    CPUStats
	Memory MemoryStats
	IO     IOStats
	Pids   PidsStats
	PSI    PSIStats
	Has    Fields
}

// Reset clears s, keeping the capacity of IO.Devices.
func (s *Stats) Reset() {
	*s = Stats{IO: IOStats{Devices: s.IO.Devices[:0]}}
}

// finish derives the fields computed from others.
func (s *Stats) finish() {
	if s.Has.Has(MemoryUsage | MemoryInactiveFile) {
		s.Memory.WorkingSet = 0
		if s.Memory.Usage > s.Memory.InactiveFile {
			s.Memory.WorkingSet = s.Memory.Usage - s.Memory.InactiveFile
		}
		s.Has |= MemoryWorkingSet
	}
}

// WeightToShares converts a v2 cpu.weight back to v1 cpu.shares as the Datadog
// docker check does: ((w−1)×262142/9999)+2, rounded; 0 for 0.
func WeightToShares(w uint64) uint64 {
	if w == 0 {
		return 0
	}
	return uint64(math.Round(float64(w-1)*262142/9999)) + 2
}

// Options configure a Reader.
type Options struct {
	// MaxHeld caps the descriptors held open across cycles; 0 means DefaultMaxHeld,
	// a negative value holds none (open/read/close every time).
	MaxHeld int
	// LimitsEvery: the limit files (CPU quota, period, shares or weight, cpuset,
	// memory soft limit, v2 memory and swap max, pids.max) are re-read on every
	// LimitsEvery-th Read of a container and reported from the last read in between.
	// 0 means DefaultLimitsEvery; 1 reads them every time.
	LimitsEvery int
	// HybridPSI also reads cpu/memory/io.pressure from the unified mount of a hybrid
	// host. The agent reports PSI on v2 only; off by default.
	HybridPSI bool
}

// DefaultMaxHeld caps held descriptors. Each held cgroup file costs a struct file and
// a kernfs_open_file, and after its first read a page-sized seq_file buffer
// (seq_read_iter, GFP_KERNEL_ACCOUNT) charged to the agent's memory cgroup: about
// 4.5 KiB, so 4096 fds ≈ 18 MiB of the task's limit. A container has 12 per-cycle
// files on v1 (11 on v2) and 6 (7) limit files: the default holds all of them for
// 227 containers; past that the limit files are opened and closed when read, so the
// per-cycle files of up to 341 (372) containers stay held.
const DefaultMaxHeld = 4096

// DefaultLimitsEvery re-reads limits every 4th cycle: at a 15 s interval a
// `docker update` shows within a minute (ECS never changes a running task's limits).
// Reading the 6 (v2: 7) limit files every cycle instead made a v1 cycle 1.4× as long
// on live cgroups and 1.7× on the generated host, held descriptors both ways
// (bench/cgroup_test.go, whippet-limits-1 vs whippet).
const DefaultLimitsEvery = 4

// unlimitedV1 is what a v1 limit file holds when there is no limit:
// PAGE_COUNTER_MAX × PAGE_SIZE (mm/memcontrol-v1.c). Values at or above it are no limit.
var unlimitedV1 = uint64(math.MaxInt64) / uint64(os.Getpagesize()) * uint64(os.Getpagesize())

// ParseError says which file and field could not be parsed.
type ParseError struct {
	File  string // "memory.stat", ...
	Field string
	Err   error
}

func (e *ParseError) Error() string { return fmt.Sprintf("%s: %s: %v", e.File, e.Field, e.Err) }
func (e *ParseError) Unwrap() error { return e.Err }

var (
	errSyntax = decimal.ErrSyntax
	errRange  = decimal.ErrRange
)

func perr(file, field string, err error) error {
	return &ParseError{File: file, Field: field, Err: err}
}
