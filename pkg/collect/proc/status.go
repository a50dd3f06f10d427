package proc

import "bytes"

// Statm holds /proc/<pid>/statm, all in pages.
type Statm struct {
	Size, Resident, Shared, Text, Lib, Data, Dirty uint64
}

// ParseStatm parses the content of /proc/<pid>/statm into s.
func ParseStatm(b []byte, s *Statm) error {
	b = trimSpace(b)
	dst := [7]*uint64{&s.Size, &s.Resident, &s.Shared, &s.Text, &s.Lib, &s.Data, &s.Dirty}
	names := [7]string{"size", "resident", "shared", "text", "lib", "data", "dt"}
	for i := range dst {
		if len(b) == 0 {
			return perr("statm", names[i], errTooShort)
		}
		var f []byte
		f, b = nextField(b)
		v, err := parseUint(f)
		if err != nil {
			return perr("statm", names[i], err)
		}
		*dst[i] = v
	}
	return nil
}

// Status holds the fields of /proc/<pid>/status the agent uses. Memory is in bytes
// (the file says kB). Fields absent on a kernel or for a kind of task (kernel
// threads and zombies have no Vm* lines) are marked in Has.
type Status struct {
	Has         StatusFields
	State       byte
	Tgid        int32
	PPID        int32
	UID         [4]uint32 // real, effective, saved, filesystem
	GID         [4]uint32
	Threads     int64
	VmPeak      uint64
	VmSize      uint64
	VmHWM       uint64
	VmRSS       uint64
	RssAnon     uint64
	RssFile     uint64
	RssShmem    uint64
	VmData      uint64
	VmSwap      uint64
	VolCtxt     uint64 // voluntary_ctxt_switches
	NonVolCtxt  uint64 // nonvoluntary_ctxt_switches
	NSpid       int32  // innermost pid namespace's pid (last NSpid value)
	Kthread     bool
	FDSize      uint64
	HugetlbPage uint64
}

// StatusFields is a presence bitmask of Status fields.
type StatusFields uint32

// Status fields that may be absent.
const (
	StatusState StatusFields = 1 << iota
	StatusTgid
	StatusPPID
	StatusUID
	StatusGID
	StatusThreads
	StatusVmPeak
	StatusVmSize
	StatusVmHWM
	StatusVmRSS
	StatusRssAnon
	StatusRssFile
	StatusRssShmem
	StatusVmData
	StatusVmSwap
	StatusVolCtxt
	StatusNonVolCtxt
	StatusNSpid
	StatusKthread
	StatusFDSize
	StatusHugetlb
)

// ParseStatus parses the content of /proc/<pid>/status into s. Uid, Gid and State
// are required; everything else is optional. It keeps nothing of b.
func ParseStatus(b []byte, s *Status) error {
	*s = Status{}
	for len(b) > 0 {
		var line []byte
		if i := indexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			line, b = b, nil
		}
		colon := indexByte(line, ':')
		if colon < 0 {
			continue
		}
		key, val := line[:colon], trimSpace(line[colon+1:])
		var err error
		switch string(key) {
		case "State":
			if len(val) == 0 {
				err = errSyntax
				break
			}
			s.State, s.Has = val[0], s.Has|StatusState
		case "Tgid":
			s.Tgid, err = parseInt32(val)
			s.Has |= StatusTgid
		case "PPid":
			s.PPID, err = parseInt32(val)
			s.Has |= StatusPPID
		case "Uid":
			err = parseIDs(val, &s.UID)
			s.Has |= StatusUID
		case "Gid":
			err = parseIDs(val, &s.GID)
			s.Has |= StatusGID
		case "Threads":
			s.Threads, err = parseInt(val)
			s.Has |= StatusThreads
			// The first "voluntary_ctxt_switches:" is the voluntary line (the
			// nonvoluntary one follows it); searched without its '\n' (see volCtxtKey).
			if i := bytes.Index(b, volCtxtKey[1:]); i > 0 && b[i-1] == '\n' {
				b = b[i:]
			}
		case "FDSize":
			s.FDSize, err = parseUint(val)
			s.Has |= StatusFDSize
		case "NSpid":
			// Tab-separated, outermost first: the last is the pid inside the
			// process's own pid namespace (its container).
			last := val
			for i := len(val) - 1; i >= 0; i-- {
				if val[i] == '\t' || val[i] == ' ' {
					last = val[i+1:]
					break
				}
			}
			s.NSpid, err = parseInt32(last)
			s.Has |= StatusNSpid
		case "Kthread":
			s.Kthread, s.Has = len(val) == 1 && val[0] == '1', s.Has|StatusKthread
		case "VmPeak":
			s.VmPeak, err = parseKB(val)
			s.Has |= StatusVmPeak
		case "VmSize":
			s.VmSize, err = parseKB(val)
			s.Has |= StatusVmSize
		case "VmHWM":
			s.VmHWM, err = parseKB(val)
			s.Has |= StatusVmHWM
		case "VmRSS":
			s.VmRSS, err = parseKB(val)
			s.Has |= StatusVmRSS
		case "RssAnon":
			s.RssAnon, err = parseKB(val)
			s.Has |= StatusRssAnon
		case "RssFile":
			s.RssFile, err = parseKB(val)
			s.Has |= StatusRssFile
		case "RssShmem":
			s.RssShmem, err = parseKB(val)
			s.Has |= StatusRssShmem
		case "VmData":
			s.VmData, err = parseKB(val)
			s.Has |= StatusVmData
		case "VmSwap":
			s.VmSwap, err = parseKB(val)
			s.Has |= StatusVmSwap
		case "HugetlbPages":
			s.HugetlbPage, err = parseKB(val)
			s.Has |= StatusHugetlb
		case "voluntary_ctxt_switches":
			s.VolCtxt, err = parseUint(val)
			s.Has |= StatusVolCtxt
		case "nonvoluntary_ctxt_switches":
			s.NonVolCtxt, err = parseUint(val)
			s.Has |= StatusNonVolCtxt
		default:
			continue
		}
		if err != nil {
			return perr("status", statusKeyName(key), err)
		}
	}
	for _, req := range [...]struct {
		f    StatusFields
		name string
	}{{StatusState, "State"}, {StatusUID, "Uid"}, {StatusGID, "Gid"}} {
		if s.Has&req.f == 0 {
			return perr("status", req.name, errMissing)
		}
	}
	return nil
}

// statusKeyName returns a constant name for key so that errors do not retain b.
func statusKeyName(key []byte) string {
	switch string(key) {
	case "State", "Tgid", "PPid", "Uid", "Gid", "Threads", "FDSize", "NSpid", "Kthread",
		"VmPeak", "VmSize", "VmHWM", "VmRSS", "RssAnon", "RssFile", "RssShmem", "VmData",
		"VmSwap", "HugetlbPages", "voluntary_ctxt_switches", "nonvoluntary_ctxt_switches":
		return string(key) // error path only
	}
	return "field"
}

// parseIDs parses the four tab-separated ids of a Uid: or Gid: line.
func parseIDs(b []byte, ids *[4]uint32) error {
	for i := range ids {
		b = trimSpace(b)
		if len(b) == 0 {
			return errTooShort
		}
		end := len(b)
		for j, c := range b {
			if c == '\t' || c == ' ' {
				end = j
				break
			}
		}
		v, err := parseUint(b[:end])
		if err != nil {
			return err
		}
		if v > 1<<32-1 {
			return errRange
		}
		ids[i] = uint32(v)
		b = b[end:]
	}
	return nil
}

// parseKB parses "1724 kB" into bytes.
func parseKB(b []byte) (uint64, error) {
	n := len(b)
	if n >= 3 && b[n-3] == ' ' && b[n-2] == 'k' && b[n-1] == 'B' {
		b = trimSpace(b[:n-3])
	}
	v, err := parseUint(b)
	if err != nil {
		return 0, err
	}
	if v > (1<<64-1)/1024 {
		return 0, errRange
	}
	return v * 1024, nil
}

func parseInt32(b []byte) (int32, error) {
	v, err := parseInt(b)
	if err != nil {
		return 0, err
	}
	if v < -1<<31 || v > 1<<31-1 {
		return 0, errRange
	}
	return int32(v), nil
}

// indexByte is bytes.IndexByte (SIMD): status lines such as Mems_allowed run to
// hundreds of bytes.
func indexByte(b []byte, c byte) int { return bytes.IndexByte(b, c) }

// volCtxtKey starts the last lines of status that we read; everything between
// Threads and it (signal masks, capabilities, seccomp, cpu and memory node lists:
// half the file) is skipped with one SIMD search — for the key without its leading
// '\n', since bytes.Index over a pattern starting with a byte as common as '\n'
// degrades to a check per line.
var volCtxtKey = []byte("\nvoluntary_ctxt_switches:")

// IO holds /proc/<pid>/io. It needs ptrace read access to the process: without
// CAP_SYS_PTRACE the agent cannot read other users' io, which the caller records as
// absent rather than zero.
type IO struct {
	RChar, WChar, SyscR, SyscW, ReadBytes, WriteBytes, CancelledWriteBytes uint64
}

// ParseIO parses the content of /proc/<pid>/io into s; all seven fields are required.
func ParseIO(b []byte, s *IO) error {
	var seen uint8
	for len(b) > 0 {
		var line []byte
		if i := indexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			line, b = b, nil
		}
		colon := indexByte(line, ':')
		if colon < 0 {
			if len(trimSpace(line)) == 0 {
				continue
			}
			return perr("io", "line", errSyntax)
		}
		key, val := line[:colon], trimSpace(line[colon+1:])
		var dst *uint64
		var bit uint8
		switch string(key) {
		case "rchar":
			dst, bit = &s.RChar, 1
		case "wchar":
			dst, bit = &s.WChar, 2
		case "syscr":
			dst, bit = &s.SyscR, 4
		case "syscw":
			dst, bit = &s.SyscW, 8
		case "read_bytes":
			dst, bit = &s.ReadBytes, 16
		case "write_bytes":
			dst, bit = &s.WriteBytes, 32
		case "cancelled_write_bytes":
			dst, bit = &s.CancelledWriteBytes, 64
		default:
			continue
		}
		v, err := parseUint(val)
		if err != nil {
			return perr("io", ioKeyName(bit), err)
		}
		*dst, seen = v, seen|bit
	}
	if seen != 127 {
		for bit := uint8(1); bit < 128; bit <<= 1 {
			if seen&bit == 0 {
				return perr("io", ioKeyName(bit), errMissing)
			}
		}
	}
	return nil
}

func ioKeyName(bit uint8) string {
	switch bit {
	case 1:
		return "rchar"
	case 2:
		return "wchar"
	case 4:
		return "syscr"
	case 8:
		return "syscw"
	case 16:
		return "read_bytes"
	case 32:
		return "write_bytes"
	}
	return "cancelled_write_bytes"
}

// Schedstat holds /proc/<pid>/schedstat (CONFIG_SCHED_INFO): the thread group
// leader's exact CPU time, run-queue wait and number of times it was scheduled.
// Unlike stat's tick-sampled utime/stime it moves whenever the leader runs at all,
// which is what lets a cycle skip re-reading an idle process's status and io.
type Schedstat struct {
	RunTime    uint64 // ns on CPU
	WaitTime   uint64 // ns runnable but waiting
	Timeslices uint64
}

// ParseSchedstat parses the content of /proc/<pid>/schedstat into s.
func ParseSchedstat(b []byte, s *Schedstat) error {
	b = trimSpace(b)
	for i, dst := range [...]*uint64{&s.RunTime, &s.WaitTime, &s.Timeslices} {
		name := [...]string{"run_time", "wait_time", "timeslices"}[i]
		if len(b) == 0 {
			return perr("schedstat", name, errTooShort)
		}
		var f []byte
		f, b = nextField(b)
		v, err := parseUint(f)
		if err != nil {
			return perr("schedstat", name, err)
		}
		*dst = v
	}
	return nil
}
