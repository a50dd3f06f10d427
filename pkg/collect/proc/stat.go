package proc

// CommSize bounds the comm kept from /proc/<pid>/stat. TASK_COMM_LEN is 16, but
// since Linux 5.x workqueue kthreads show "kworker/u4:1-events_unbound"-style names
// of up to 64 bytes; longer names are truncated.
const CommSize = 64

// Stat holds the fields of /proc/<pid>/stat (proc(5) numbering in comments).
// Times are in USER_HZ ticks, memory in bytes or pages as noted.
type Stat struct {
	PID        int32          // 1
	Comm       [CommSize]byte // 2, without parentheses
	CommLen    uint8
	State      byte   // 3: R S D Z T t X I ...
	PPID       int32  // 4
	PGRP       int32  // 5
	Session    int32  // 6
	TTY        int32  // 7
	TPGID      int32  // 8
	Flags      uint32 // 9
	MinFlt     uint64 // 10
	CMinFlt    uint64 // 11
	MajFlt     uint64 // 12
	CMajFlt    uint64 // 13
	UTime      uint64 // 14
	STime      uint64 // 15
	CUTime     int64  // 16
	CSTime     int64  // 17
	Priority   int64  // 18
	Nice       int64  // 19
	NumThreads int64  // 20
	StartTime  uint64 // 22: ticks after boot
	VSize      uint64 // 23: bytes
	RSS        int64  // 24: pages
	RSSLimit   uint64 // 25: bytes

	// Optional trailing fields (present on every kernel since 2.6.24; kept
	// optional so a truncated line still yields the core fields).
	Has                 StatFields
	Processor           int64  // 39
	RTPriority          uint64 // 40
	Policy              uint64 // 41
	DelayAcctBlkIOTicks uint64 // 42
	GuestTime           uint64 // 43
	CGuestTime          int64  // 44
}

// StatFields is a presence bitmask of Stat's optional fields.
type StatFields uint8

// Optional /proc/<pid>/stat fields.
const (
	StatProcessor StatFields = 1 << iota
	StatRTPriority
	StatPolicy
	StatDelayAcct
	StatGuestTime
	StatCGuestTime
)

// CommBytes returns the comm as a slice of s (no copy).
func (s *Stat) CommBytes() []byte { return s.Comm[:s.CommLen] }

// CommEqual reports whether the comm equals b, without allocating.
func (s *Stat) CommEqual(b []byte) bool { return string(s.Comm[:s.CommLen]) == string(b) }

// ParseStat parses the content of /proc/<pid>/stat into s. It keeps nothing of b.
//
// comm may contain spaces, parentheses and newlines, so it ends at the LAST ')'
// of the line; the fields after it are space-separated numbers.
func ParseStat(b []byte, s *Stat) error {
	open := -1
	for i, c := range b {
		if c == '(' {
			open = i
			break
		}
	}
	if open < 0 {
		return perr("stat", "comm", errSyntax)
	}
	closing := -1
	for i := len(b) - 1; i > open; i-- {
		if b[i] == ')' {
			closing = i
			break
		}
	}
	if closing < 0 {
		return perr("stat", "comm", errSyntax)
	}
	pid, err := parseInt(trimSpace(b[:open]))
	if err != nil || pid < 0 || pid > 1<<31-1 {
		return perr("stat", "pid", errOr(err, errRange))
	}
	*s = Stat{PID: int32(pid)}
	comm := b[open+1 : closing]
	s.CommLen = uint8(copy(s.Comm[:], comm))

	rest := b[closing+1:]
	if len(rest) < 2 || rest[0] != ' ' {
		return perr("stat", "state", errTooShort)
	}
	rest = trimSpace(rest)
	// Fields numbered from 3 (state) as in proc(5).
	n := 3
	for ; len(rest) > 0 && n <= 44; n++ {
		var f []byte
		f, rest = nextField(rest)
		if err := s.setField(n, f); err != nil {
			return err
		}
	}
	if n <= 25 {
		return perr("stat", statFieldName(n), errTooShort)
	}
	return nil
}

// setField stores field number n (proc(5) numbering) of /proc/<pid>/stat.
func (s *Stat) setField(n int, f []byte) error {
	var err error
	var u uint64
	var i int64
	switch n {
	case 3:
		if len(f) != 1 {
			return perr("stat", "state", errSyntax)
		}
		s.State = f[0]
		return nil
	case 4, 5, 6, 7, 8:
		i, err = parseInt(f)
		if err == nil && (i < -1<<31 || i > 1<<31-1) {
			err = errRange
		}
		switch n {
		case 4:
			s.PPID = int32(i)
		case 5:
			s.PGRP = int32(i)
		case 6:
			s.Session = int32(i)
		case 7:
			s.TTY = int32(i)
		case 8:
			s.TPGID = int32(i)
		}
	case 9:
		u, err = parseUint(f)
		if err == nil && u > 1<<32-1 {
			err = errRange
		}
		s.Flags = uint32(u)
	case 10, 11, 12, 13, 14, 15, 22, 23, 25, 40, 41, 42, 43:
		u, err = parseUint(f)
		switch n {
		case 10:
			s.MinFlt = u
		case 11:
			s.CMinFlt = u
		case 12:
			s.MajFlt = u
		case 13:
			s.CMajFlt = u
		case 14:
			s.UTime = u
		case 15:
			s.STime = u
		case 22:
			s.StartTime = u
		case 23:
			s.VSize = u
		case 25:
			s.RSSLimit = u
		case 40:
			s.RTPriority, s.Has = u, s.Has|StatRTPriority
		case 41:
			s.Policy, s.Has = u, s.Has|StatPolicy
		case 42:
			s.DelayAcctBlkIOTicks, s.Has = u, s.Has|StatDelayAcct
		case 43:
			s.GuestTime, s.Has = u, s.Has|StatGuestTime
		}
	case 16, 17, 18, 19, 20, 24, 39, 44:
		i, err = parseInt(f)
		switch n {
		case 16:
			s.CUTime = i
		case 17:
			s.CSTime = i
		case 18:
			s.Priority = i
		case 19:
			s.Nice = i
		case 20:
			s.NumThreads = i
		case 24:
			s.RSS = i
		case 39:
			s.Processor, s.Has = i, s.Has|StatProcessor
		case 44:
			s.CGuestTime, s.Has = i, s.Has|StatCGuestTime
		}
	default:
		// Fields we do not keep (itrealvalue, addresses, signals...) are skipped
		// unparsed: the kernel zeroes several of them for other users' processes.
		return nil
	}
	if err != nil {
		return perr("stat", statFieldName(n), err)
	}
	return nil
}

var statNames = [...]string{3: "state", 4: "ppid", 5: "pgrp", 6: "session", 7: "tty_nr", 8: "tpgid",
	9: "flags", 10: "minflt", 11: "cminflt", 12: "majflt", 13: "cmajflt", 14: "utime", 15: "stime",
	16: "cutime", 17: "cstime", 18: "priority", 19: "nice", 20: "num_threads", 21: "itrealvalue",
	22: "starttime", 23: "vsize", 24: "rss", 25: "rsslim", 39: "processor", 40: "rt_priority",
	41: "policy", 42: "delayacct_blkio_ticks", 43: "guest_time", 44: "cguest_time"}

func statFieldName(n int) string {
	if n >= 0 && n < len(statNames) && statNames[n] != "" {
		return statNames[n]
	}
	return "field"
}

func errOr(err, def error) error {
	if err != nil {
		return err
	}
	return def
}
