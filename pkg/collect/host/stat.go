package host

// CPU holds the times of the aggregate "cpu" line of /proc/stat, in USER_HZ ticks
// (USER_HZ is 100 on every architecture but alpha).
type CPU struct {
	User, Nice, System, Idle, Iowait, IRQ, SoftIRQ, Steal, Guest, GuestNice uint64
}

// StatField is a presence bit for the single-value lines of /proc/stat.
type StatField uint8

const (
	StatCtxt StatField = 1 << iota
	StatBtime
	StatProcesses
	StatProcsRunning
	StatProcsBlocked
)

// Stat is what the system.cpu.* and system.load.norm.* metrics need of /proc/stat.
type Stat struct {
	CPU CPU
	// CPUFields is how many times the cpu line has: 10 since Linux 2.6.33
	// (guest_nice), 9 since 2.6.24 (guest), 8 since 2.6.11 (steal), 7 since 2.6.0.
	// Times past CPUFields are zero.
	CPUFields int
	// NumCPU counts the cpuN lines: the online CPUs (system.cpu.num_cores).
	NumCPU int

	Ctxt         uint64 // context switches since boot
	Btime        uint64 // boot time, seconds since the epoch
	Processes    uint64 // forks since boot
	ProcsRunning uint64 // runnable tasks now
	ProcsBlocked uint64 // tasks in uninterruptible IO wait now

	Has StatField // which of the single-value lines were present
}

var cpuNames = []string{"user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal", "guest", "guest_nice"}

// ParseStat parses the content of /proc/stat into s. It requires the aggregate cpu
// line with at least four times, skips intr, softirq and unknown lines without
// reading their numbers, and keeps nothing of b.
func ParseStat(b []byte, s *Stat) error {
	*s = Stat{}
	seenCPU := false
	for len(b) > 0 {
		var ln []byte
		ln, b = line(b)
		key, rest := field(ln)
		var bit StatField
		var dst *uint64
		switch string(key) {
		case "cpu":
			var v [10]uint64
			n, bad, err := uints(rest, v[:])
			if err != nil {
				return errAt("stat", "cpu: "+cpuNames[n], bad, err)
			}
			if n < 4 {
				return missing("stat", "cpu: "+cpuNames[n])
			}
			s.CPU = CPU{v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9]}
			s.CPUFields = n
			seenCPU = true
			continue
		case "ctxt":
			bit, dst = StatCtxt, &s.Ctxt
		case "btime":
			bit, dst = StatBtime, &s.Btime
		case "processes":
			bit, dst = StatProcesses, &s.Processes
		case "procs_running":
			bit, dst = StatProcsRunning, &s.ProcsRunning
		case "procs_blocked":
			bit, dst = StatProcsBlocked, &s.ProcsBlocked
		default:
			if isCPUN(key) {
				s.NumCPU++
			}
			continue
		}
		v, f, _, err := nextUint(rest)
		if err != nil {
			return errAt("stat", string(key), f, err)
		}
		if len(f) == 0 {
			return missing("stat", string(key))
		}
		*dst = v
		s.Has |= bit
	}
	if !seenCPU {
		return missing("stat", "cpu")
	}
	return nil
}

// isCPUN reports whether key is "cpu" followed by a CPU number.
func isCPUN(key []byte) bool {
	if len(key) < 4 || string(key[:3]) != "cpu" {
		return false
	}
	for _, c := range key[3:] {
		if c-'0' > 9 {
			return false
		}
	}
	return true
}
