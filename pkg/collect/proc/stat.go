package proc

import "math/bits"

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
	if len(rest) == 0 {
		return perr("stat", "state", errTooShort)
	}
	if c := rest[0] | 0x20; (len(rest) > 1 && rest[1] != ' ') || c < 'a' || c > 'z' {
		return perr("stat", "state", errSyntax) // a state is one letter (R, S, D, Z, T, t, X, I…)
	}
	s.State = rest[0]

	// Fields 4..44 are decimal numbers, some signed. One tight loop collects them
	// (a call per field cost three times as much), then they are range-checked.
	var vals [45]uint64
	var neg uint64 // bit n: field n was negative
	n, i := 4, 2
	for ; n <= 44 && i < len(rest); n++ {
		if rest[i] == '-' {
			neg |= 1 << n
			i++
		}
		start := i
		var v uint64
		for ; i < len(rest) && rest[i] != ' '; i++ {
			d := rest[i] - '0'
			if d > 9 {
				return perr("stat", statFieldName(n), errSyntax)
			}
			v = v*10 + uint64(d) // may wrap past 19 digits: checked below
		}
		if i == start {
			return perr("stat", statFieldName(n), errSyntax)
		}
		if i-start > 19 {
			var err error
			if v, err = parseUint(rest[start:i]); err != nil {
				return perr("stat", statFieldName(n), err)
			}
		}
		vals[n] = v
		i++ // the separating space
	}
	if n <= 25 {
		return perr("stat", statFieldName(n), errTooShort)
	}
	// Unsigned fields must not be negative; signed ones must fit.
	const signed = 1<<4 | 1<<5 | 1<<6 | 1<<7 | 1<<8 | 1<<16 | 1<<17 | 1<<18 | 1<<19 | 1<<20 | 1<<21 | 1<<24 | 1<<39 | 1<<44
	if bad := neg &^ signed; bad != 0 {
		return perr("stat", statFieldName(bits.TrailingZeros64(bad)), errSyntax)
	}
	var ok bool
	for _, f := range [...]struct {
		n   int
		dst *int32
	}{{4, &s.PPID}, {5, &s.PGRP}, {6, &s.Session}, {7, &s.TTY}, {8, &s.TPGID}} {
		if *f.dst, ok = signedAt[int32](&vals, neg, f.n, 31); !ok {
			return perr("stat", statFieldName(f.n), errRange)
		}
	}
	if vals[9] > 1<<32-1 {
		return perr("stat", "flags", errRange)
	}
	s.Flags = uint32(vals[9])
	s.MinFlt, s.CMinFlt, s.MajFlt, s.CMajFlt = vals[10], vals[11], vals[12], vals[13]
	s.UTime, s.STime = vals[14], vals[15]
	for _, f := range [...]struct {
		n   int
		dst *int64
	}{{16, &s.CUTime}, {17, &s.CSTime}, {18, &s.Priority}, {19, &s.Nice}, {20, &s.NumThreads}, {24, &s.RSS}, {39, &s.Processor}, {44, &s.CGuestTime}} {
		v, ok := signedAt[int64](&vals, neg, f.n, 63)
		if !ok {
			return perr("stat", statFieldName(f.n), errRange)
		}
		*f.dst = v
	}
	s.StartTime, s.VSize, s.RSSLimit = vals[22], vals[23], vals[25]
	s.RTPriority, s.Policy, s.DelayAcctBlkIOTicks, s.GuestTime = vals[40], vals[41], vals[42], vals[43]
	for f, bit := range [...]StatFields{39: StatProcessor, 40: StatRTPriority, 41: StatPolicy, 42: StatDelayAcct, 43: StatGuestTime, 44: StatCGuestTime} {
		if bit != 0 && n > f {
			s.Has |= bit
		}
	}
	return nil
}

// signedAt returns field f of vals as a signed integer of width+1 bits.
func signedAt[T int32 | int64](vals *[45]uint64, neg uint64, f int, width uint) (T, bool) {
	v := vals[f]
	if neg&(1<<f) != 0 {
		return T(-int64(v)), v <= 1<<width
	}
	return T(v), v <= 1<<width-1
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
