package cgroup

import (
	"bytes"

	"github.com/whippet-agent/whippet/pkg/collect/decimal"
)

// Parsers: pure functions over the bytes of one cgroup file. They keep nothing of b,
// never allocate (but for a *ParseError on malformed input and IO.Devices growing
// past its capacity), and set the Has bits of the fields they found. Unknown keys are
// skipped: kernels add lines.

func indexByte(b []byte, c byte) int { return bytes.IndexByte(b, c) }

// nextLine splits b at the first newline.
func nextLine(b []byte) (line, rest []byte) {
	if i := indexByte(b, '\n'); i >= 0 {
		return b[:i], b[i+1:]
	}
	return b, nil
}

// cutSpace splits b at the first space.
func cutSpace(b []byte) (before, after []byte, ok bool) {
	if i := indexByte(b, ' '); i >= 0 {
		return b[:i], b[i+1:], true
	}
	return b, nil, false
}

// ParseValue parses a file holding one unsigned number and a newline
// (cpuacct.usage, memory.usage_in_bytes, memory.current, pids.current, …).
func ParseValue(b []byte) (uint64, error) {
	return parseUint(trimSpace(b))
}

// ParseLimit parses a limit file: a number, or "max" for none (v2 memory.max,
// memory.swap.max, memory.low, pids.max on both versions). A v1 value at or above
// the kernel's unlimited sentinel is no limit too. ok is false for no limit (v is
// then 0); "0" is a limit of zero (memory.swap.max 0: no swap allowed).
func ParseLimit(b []byte) (v uint64, ok bool, err error) {
	b = trimSpace(b)
	if string(b) == "max" {
		return 0, false, nil
	}
	v, err = parseUint(b)
	if err != nil {
		return 0, false, err
	}
	if v >= unlimitedV1 {
		return 0, false, nil
	}
	return v, true, nil
}

// ParseQuota parses v1 cpu.cfs_quota_us: a count of µs, or -1 for none.
func ParseQuota(b []byte) (int64, error) {
	b = trimSpace(b)
	if string(b) == "-1" {
		return -1, nil
	}
	v, err := parseUint(b)
	if err != nil {
		return 0, err
	}
	if v > 1<<63-1 {
		return 0, errRange
	}
	return int64(v), nil
}

// userHZNS converts v1 cpuacct.stat ticks to ns. USER_HZ is 100 by ABI on every
// architecture Docker runs on (include/asm-generic/param.h), whatever CONFIG_HZ is.
const userHZNS = 10_000_000

// ParseCPUAcctStat parses v1 cpuacct.stat ("user <ticks>\nsystem <ticks>\n") into
// s.CPU.User and s.CPU.System in ns.
func ParseCPUAcctStat(b []byte, s *Stats) error {
	return eachValue(b, "cpuacct.stat", s, func(k []byte) (*uint64, Fields, uint64, bool) {
		switch string(k) {
		case "user":
			return &s.CPU.User, CPUUser, userHZNS, true
		case "system":
			return &s.CPU.System, CPUSystem, userHZNS, true
		}
		return nil, 0, 0, false
	})
}

// ParseCPUStat parses cpu.stat of either version: v1 (cpu controller) nr_periods,
// nr_throttled, throttled_time (ns); v2 usage_usec, user_usec, system_usec,
// nr_periods, nr_throttled, throttled_usec (µs, stored in ns).
func ParseCPUStat(b []byte, s *Stats) error {
	return eachValue(b, "cpu.stat", s, func(k []byte) (*uint64, Fields, uint64, bool) {
		switch string(k) {
		case "usage_usec":
			return &s.CPU.Usage, CPUUsage, 1000, true
		case "user_usec":
			return &s.CPU.User, CPUUser, 1000, true
		case "system_usec":
			return &s.CPU.System, CPUSystem, 1000, true
		case "nr_periods":
			return &s.CPU.Periods, CPUPeriods, 1, true
		case "nr_throttled":
			return &s.CPU.Throttled, CPUThrottled, 1, true
		case "throttled_time":
			return &s.CPU.ThrottledTime, CPUThrottledTime, 1, true
		case "throttled_usec":
			return &s.CPU.ThrottledTime, CPUThrottledTime, 1000, true
		}
		return nil, 0, 0, false
	})
}

// ParseCPUMax parses v2 cpu.max: "<quota|max> <period>" in µs.
func ParseCPUMax(b []byte, s *Stats) error {
	q, p, ok := cutSpace(trimSpace(b))
	if !ok {
		return perr("cpu.max", "line", errSyntax)
	}
	period, err := parseUint(p)
	if err != nil {
		return perr("cpu.max", "period", err)
	}
	quota := int64(-1)
	if string(q) != "max" {
		v, err := parseUint(q)
		if err != nil {
			return perr("cpu.max", "quota", err)
		}
		if v > 1<<63-1 {
			return perr("cpu.max", "quota", errRange)
		}
		quota = int64(v)
	}
	s.CPU.Quota, s.CPU.Period = quota, period
	s.Has |= CPUQuota
	return nil
}

// maxCPU bounds CPU numbers in a cpuset list (NR_CPUS is at most 8192 on x86 MAXSMP).
const maxCPU = 1 << 16

// ParseCPUSet counts the CPUs of a cpuset list such as "0-3,8,10-11\n" (v1
// cpuset.cpus, v2 cpuset.cpus.effective). An empty list counts 0.
func ParseCPUSet(b []byte) (uint32, error) {
	b = trimSpace(b)
	var n uint32
	for len(b) > 0 {
		var part []byte
		if i := indexByte(b, ','); i >= 0 {
			part, b = b[:i], b[i+1:]
			if len(b) == 0 {
				return 0, perr("cpuset", "list", errSyntax) // trailing comma
			}
		} else {
			part, b = b, nil
		}
		lo, hi := part, part
		if i := indexByte(part, '-'); i >= 0 {
			lo, hi = part[:i], part[i+1:]
		}
		l, err := parseUint(lo)
		if err != nil {
			return 0, perr("cpuset", "cpu", err)
		}
		h, err := parseUint(hi)
		if err != nil {
			return 0, perr("cpuset", "cpu", err)
		}
		if l > h || h >= maxCPU {
			return 0, perr("cpuset", "range", errRange)
		}
		n += uint32(h - l + 1)
		if n > maxCPU {
			return 0, perr("cpuset", "count", errRange)
		}
	}
	return n, nil
}

// ParseMemoryStatV1 parses v1 memory.stat: the hierarchical total_* counters and
// the hierarchical_memory_limit / hierarchical_memsw_limit lines (the tightest limit
// up the hierarchy; the unlimited sentinel gives 0).
func ParseMemoryStatV1(b []byte, s *Stats) error {
	for len(b) > 0 {
		var line []byte
		line, b = nextLine(b)
		if len(line) == 0 || (line[0] != 't' && line[0] != 'h') {
			continue // the cgroup's own counters; only total_* and hierarchical_* are read
		}
		k, v, ok := cutSpace(line)
		if !ok {
			return perr("memory.stat", "line", errSyntax)
		}
		var dst *uint64
		var f Fields
		limit := false
		switch string(k) {
		case "total_rss":
			dst, f = &s.Memory.RSS, MemoryRSS
		case "total_cache":
			dst, f = &s.Memory.Cache, MemoryCache
		case "total_swap":
			dst, f = &s.Memory.Swap, MemorySwap
		case "total_inactive_file":
			dst, f = &s.Memory.InactiveFile, MemoryInactiveFile
		case "total_pgfault":
			dst, f = &s.Memory.PgFault, MemoryPgFault
		case "total_pgmajfault":
			dst, f = &s.Memory.PgMajFault, MemoryPgMajFault
		case "hierarchical_memory_limit":
			dst, f, limit = &s.Memory.Limit, MemoryLimit, true
		case "hierarchical_memsw_limit":
			dst, f, limit = &s.Memory.SwapLimit, MemorySwapLimit, true
		default:
			continue
		}
		n, err := parseUint(v)
		if err != nil {
			return perr("memory.stat", string(k), err)
		}
		if limit && n >= unlimitedV1 {
			n = 0
		}
		*dst = n
		s.Has |= f
	}
	return nil
}

// ParseMemoryStatV2 parses v2 memory.stat: anon, file, inactive_file, kernel (or
// kernel_stack + slab before Linux 5.18), pgfault, pgmajfault.
//
// It keeps its own loop rather than eachValue: kernel_stack and slab are summed in
// locals, and a slot returning pointers to them would move them to the heap.
func ParseMemoryStatV2(b []byte, s *Stats) error {
	var stack, slab uint64
	var haveStack, haveSlab bool
	for len(b) > 0 {
		var line []byte
		line, b = nextLine(b)
		if len(line) == 0 {
			continue
		}
		k, v, ok := cutSpace(line)
		if !ok {
			return perr("memory.stat", "line", errSyntax)
		}
		var dst *uint64
		var f Fields
		switch string(k) {
		case "anon":
			dst, f = &s.Memory.RSS, MemoryRSS
		case "file":
			dst, f = &s.Memory.Cache, MemoryCache
		case "inactive_file":
			dst, f = &s.Memory.InactiveFile, MemoryInactiveFile
		case "kernel":
			dst, f = &s.Memory.Kernel, MemoryKernel
		case "kernel_stack":
			dst, haveStack = &stack, true
		case "slab":
			dst, haveSlab = &slab, true
		case "pgfault":
			dst, f = &s.Memory.PgFault, MemoryPgFault
		case "pgmajfault":
			dst, f = &s.Memory.PgMajFault, MemoryPgMajFault
		default:
			continue
		}
		n, err := parseUint(v)
		if err != nil {
			return perr("memory.stat", string(k), err)
		}
		*dst = n
		s.Has |= f
	}
	if s.Has&MemoryKernel == 0 && haveStack && haveSlab && stack+slab >= stack {
		s.Memory.Kernel = stack + slab
		s.Has |= MemoryKernel
	}
	return nil
}

// ParseMemoryEvents parses flat "key value" event files: v1 memory.oom_control
// (oom_kill) and v2 memory.events (oom, oom_kill).
func ParseMemoryEvents(b []byte, s *Stats) error {
	return eachValue(b, "memory.events", s, func(k []byte) (*uint64, Fields, uint64, bool) {
		switch string(k) {
		case "oom":
			return &s.Memory.OOMEvents, MemoryOOMEvents, 1, true
		case "oom_kill":
			return &s.Memory.OOMKills, MemoryOOMKills, 1, true
		}
		return nil, 0, 0, false
	})
}

// eachValue parses the "key value" lines of a flat cgroup file (cpu.stat,
// cpuacct.stat, memory.stat, memory.events). slot says where a key's value goes:
// its destination, presence bit and unit multiplier; ok false skips the line
// (kernels add keys). The value stored is value × mul; overflow is an error naming
// the file and key. slot does not escape, so the parsers still do not allocate.
func eachValue(b []byte, file string, s *Stats, slot func(k []byte) (dst *uint64, f Fields, mul uint64, ok bool)) error {
	for len(b) > 0 {
		var line []byte
		line, b = nextLine(b)
		if len(line) == 0 {
			continue
		}
		k, v, ok := cutSpace(line)
		if !ok {
			return perr(file, "line", errSyntax)
		}
		dst, f, mul, ok := slot(k)
		if !ok {
			continue
		}
		n, err := parseUint(v)
		if err != nil {
			return perr(file, string(k), err)
		}
		if n > (1<<64-1)/mul {
			return perr(file, string(k), errRange)
		}
		*dst = n * mul
		s.Has |= f
	}
	return nil
}

// parseDevice parses "<major>:<minor>".
func parseDevice(b []byte) (major, minor uint32, ok bool) {
	i := indexByte(b, ':')
	if i < 0 {
		return 0, 0, false
	}
	ma, err1 := parseUint(b[:i])
	mi, err2 := parseUint(b[i+1:])
	if err1 != nil || err2 != nil || ma > 1<<32-1 || mi > 1<<32-1 {
		return 0, 0, false
	}
	return uint32(ma), uint32(mi), true
}

// ParseBlkio parses a v1 blkio.throttle.io_service_bytes (ops false) or
// blkio.throttle.io_serviced (ops true) file: "<major>:<minor> <Op> <value>" rows,
// of which Read and Write are kept per device, and a final "Total <n>".
func ParseBlkio(b []byte, ops bool, s *Stats) error {
	file := "blkio.throttle.io_service_bytes"
	f := IOBytes
	if ops {
		file, f = "blkio.throttle.io_serviced", IOOps
	}
	for len(b) > 0 {
		var line []byte
		line, b = nextLine(b)
		if len(line) == 0 {
			continue
		}
		dev, rest, ok := cutSpace(line)
		if !ok {
			return perr(file, "line", errSyntax)
		}
		if string(dev) == "Total" {
			continue
		}
		op, v, ok := cutSpace(rest)
		if !ok {
			return perr(file, "line", errSyntax)
		}
		read := string(op) == "Read"
		if !read && string(op) != "Write" {
			continue
		}
		major, minor, ok := parseDevice(dev)
		if !ok {
			return perr(file, "device", errSyntax)
		}
		n, err := parseUint(v)
		if err != nil {
			return perr(file, string(op), err)
		}
		d := s.IO.Device(major, minor)
		switch {
		case read && ops:
			d.ReadOps = n
		case read:
			d.ReadBytes = n
		case ops:
			d.WriteOps = n
		default:
			d.WriteBytes = n
		}
	}
	s.Has |= f
	return nil
}

// ParseIOStat parses v2 io.stat: "<major>:<minor> rbytes=… wbytes=… rios=… wios=…
// dbytes=… dios=…" per device. A device line without any of the four keys (6.18
// prints a blkg that did no I/O as "254:0 ") adds no device.
func ParseIOStat(b []byte, s *Stats) error {
	for len(b) > 0 {
		var line []byte
		line, b = nextLine(b)
		if len(line) == 0 {
			continue
		}
		dev, rest, _ := cutSpace(line)
		major, minor, ok := parseDevice(dev)
		if !ok {
			return perr("io.stat", "device", errSyntax)
		}
		var d IODevice
		found := false
		for len(rest) > 0 {
			var kv []byte
			kv, rest, _ = cutSpace(rest)
			if len(kv) == 0 {
				continue
			}
			eq := indexByte(kv, '=')
			if eq < 0 {
				return perr("io.stat", "key", errSyntax)
			}
			var dst *uint64
			switch string(kv[:eq]) {
			case "rbytes":
				dst = &d.ReadBytes
			case "wbytes":
				dst = &d.WriteBytes
			case "rios":
				dst = &d.ReadOps
			case "wios":
				dst = &d.WriteOps
			default:
				continue
			}
			n, err := parseUint(kv[eq+1:])
			if err != nil {
				return perr("io.stat", string(kv[:eq]), err)
			}
			*dst = n
			found = true
		}
		if found {
			p := s.IO.Device(major, minor)
			p.ReadBytes, p.WriteBytes, p.ReadOps, p.WriteOps = d.ReadBytes, d.WriteBytes, d.ReadOps, d.WriteOps
		}
	}
	s.Has |= IOBytes | IOOps
	return nil
}

// ParsePSI parses a pressure file ("some avg10=… avg60=… avg300=… total=<µs>",
// then a "full" line except in cpu.pressure before Linux 5.13) into the two totals.
// hasFull reports whether a full line was there.
func ParsePSI(b []byte) (some, full uint64, hasFull bool, err error) {
	hasSome := false
	for len(b) > 0 {
		var line []byte
		line, b = nextLine(b)
		if len(line) == 0 {
			continue
		}
		kind, rest, ok := cutSpace(line)
		if !ok {
			return 0, 0, false, perr("pressure", "line", errSyntax)
		}
		isSome := string(kind) == "some"
		if !isSome && string(kind) != "full" {
			continue
		}
		var total []byte
		for len(rest) > 0 {
			var kv []byte
			kv, rest, _ = cutSpace(rest)
			if len(kv) > 6 && string(kv[:6]) == "total=" {
				total = kv[6:]
			}
		}
		if total == nil {
			return 0, 0, false, perr("pressure", string(kind), errSyntax)
		}
		n, err := parseUint(total)
		if err != nil {
			return 0, 0, false, perr("pressure", string(kind), err)
		}
		if isSome {
			some, hasSome = n, true
		} else {
			full, hasFull = n, true
		}
	}
	if !hasSome {
		return 0, 0, false, perr("pressure", "some", errSyntax)
	}
	return some, full, hasFull, nil
}

// The number parsers are package decimal's, shared by every reader (wrappers,
// not function variables, so that they inline).
func parseUint(b []byte) (uint64, error) { return decimal.ParseUint(b) }
func trimSpace(b []byte) []byte          { return decimal.TrimSpace(b) }
