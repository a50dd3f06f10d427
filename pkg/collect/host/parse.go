package host

import (
	"bytes"
	"errors"
	"math"
	"strconv"
)

// Sentinels wrapped by ParseError, for callers that branch on the kind of fault.
var (
	ErrSyntax  = errors.New("invalid value")
	ErrRange   = errors.New("value out of range")
	ErrMissing = errors.New("missing")
)

// ParseError says which file and field a parser rejected, and why. Its text reads
// `meminfo: MemTotal: invalid value "x"`.
type ParseError struct {
	File  string // "stat", "meminfo", "net/dev", ...
	Field string // "MemTotal", "cpu: steal", "sda: read_ios"; empty for the whole file
	Value []byte // the rejected text, nil when missing
	Err   error  // ErrSyntax, ErrRange or ErrMissing
}

func (e *ParseError) Error() string {
	if e.Field == "" && e.Err == ErrMissing {
		return e.File + ": empty"
	}
	s := e.File + ": "
	if e.Field != "" {
		s += e.Field + ": "
	}
	s += e.Err.Error()
	if e.Value != nil {
		v := e.Value
		if len(v) > 64 {
			v = v[:64]
		}
		s += " " + strconv.Quote(string(v))
	}
	return s
}

func (e *ParseError) Unwrap() error { return e.Err }

// errAt builds the error for value v of field in file. It copies v: parsers keep
// nothing of their input, and neither do their errors.
func errAt(file, field string, v []byte, err error) error {
	if v != nil {
		v = append([]byte{}, v...)
	}
	return &ParseError{File: file, Field: field, Value: v, Err: err}
}

func missing(file, field string) error {
	return &ParseError{File: file, Field: field, Err: ErrMissing}
}

// parseUint parses a decimal uint64. It rejects signs, blanks and overflow (ErrRange)
// rather than wrapping.
func parseUint(b []byte) (uint64, error) {
	if len(b) == 0 {
		return 0, ErrSyntax
	}
	var n uint64
	for _, c := range b {
		d := uint64(c - '0')
		if d > 9 {
			return 0, ErrSyntax
		}
		if n >= cutoff && (n > cutoff || d > math.MaxUint64%10) {
			return 0, overflow(b)
		}
		n = n*10 + d
	}
	return n, nil
}

// cutoff is the largest n for which n*10+d may still fit in a uint64.
const cutoff = math.MaxUint64 / 10

// overflow is the error for the too-long decimal b: ErrSyntax if it has a
// non-digit too ("99999999999999999999x"), else ErrRange.
func overflow(b []byte) error {
	for _, c := range b {
		if c-'0' > 9 {
			return ErrSyntax
		}
	}
	return ErrRange
}

// nextUint parses the next blank-separated field of b as a decimal uint64 in one
// pass, where field+parseUint would take two. It returns the field (empty when b
// has no more) and what follows it; on error v is 0 and f is the whole bad field.
func nextUint(b []byte) (v uint64, f, rest []byte, err error) {
	i := 0
	for i < len(b) && (b[i] == ' ' || b[i] == '\t') {
		i++
	}
	b = b[i:]
	for j, c := range b {
		d := uint64(c - '0')
		if d > 9 {
			if c == ' ' || c == '\t' {
				return v, b[:j], b[j:], nil
			}
			f, rest = field(b)
			return 0, f, rest, ErrSyntax
		}
		if v >= cutoff && (v > cutoff || d > math.MaxUint64%10) {
			f, rest = field(b)
			return 0, f, rest, overflow(f)
		}
		v = v*10 + d
	}
	return v, b, nil, nil
}

// pow10 holds the powers of ten that float64 represents exactly.
var pow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
	1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// parseFixed parses an unsigned decimal "123" or "123.45", as the kernel prints
// loads and uptimes ("%lu.%02lu"). When the digits fit in 53 bits one IEEE division
// gives the correctly rounded value, the same float64 strconv.ParseFloat returns;
// longer inputs (never printed by the kernel) fall back to ParseFloat.
func parseFixed(b []byte) (float64, error) {
	var m uint64
	digits, frac := 0, -1
	for i, c := range b {
		if c == '.' {
			if frac >= 0 {
				return 0, ErrSyntax
			}
			frac = i
			continue
		}
		d := uint64(c - '0')
		if d > 9 {
			return 0, ErrSyntax
		}
		digits++
		if m <= (math.MaxUint64-d)/10 {
			m = m*10 + d
		} else {
			m = math.MaxUint64 // too long for the exact path
		}
	}
	if digits == 0 {
		return 0, ErrSyntax
	}
	k := 0
	if frac >= 0 {
		k = len(b) - frac - 1
	}
	if m < 1<<53 && k < len(pow10) {
		return float64(m) / pow10[k], nil
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return 0, ErrRange
	}
	return f, nil
}

var colon, slash = []byte{':'}, []byte{'/'}

// line returns the first line of b and the rest after its newline.
func line(b []byte) (ln, rest []byte) {
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		return b[:i], b[i+1:]
	}
	return b, nil
}

// field returns the first blank-separated field of b and what follows it.
func field(b []byte) (f, rest []byte) {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for i, c := range b {
		if c == ' ' || c == '\t' {
			return b[:i], b[i:]
		}
	}
	return b, nil
}

// trim strips blanks around b.
func trim(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// uints parses blank-separated decimals from b into dst in order and returns how
// many it found (at most len(dst); further fields are ignored). On a bad field it
// returns the field, whose index is n, with ErrSyntax or ErrRange. It is one pass
// over the bytes: the lists of numbers (diskstats, net/dev) are most of the work.
func uints(b []byte, dst []uint64) (n int, bad []byte, err error) {
	if len(dst) == 0 {
		return 0, nil, nil
	}
	var v uint64
	start := -1 // where the current field began, -1 between fields
	for i, c := range b {
		if d := uint64(c - '0'); d <= 9 {
			if start < 0 {
				start = i
			}
			if v >= cutoff && (v > cutoff || d > math.MaxUint64%10) {
				f, _ := field(b[start:])
				return n, f, overflow(f)
			}
			v = v*10 + d
			continue
		}
		if c != ' ' && c != '\t' {
			if start < 0 {
				start = i
			}
			f, _ := field(b[start:])
			return n, f, ErrSyntax
		}
		if start >= 0 {
			dst[n] = v
			if n++; n == len(dst) {
				return n, nil, nil
			}
			v, start = 0, -1
		}
	}
	if start >= 0 {
		dst[n] = v
		n++
	}
	return n, nil, nil
}

// names hands out, for a name seen in the previous parse, the string made then, so
// that a parse of unchanged devices allocates nothing and consumers may compare
// names by identity. Kernel lists keep their order between reads, so a cursor into
// the previous list finds almost every name at the first comparison; a vanished or
// new device costs one linear scan. Only the names of the last parse are kept, so
// churn (veths, loop devices) does not grow it.
type names struct {
	prev, cur []string
	next      int
}

func (n *names) begin() {
	n.prev, n.cur = n.cur, n.prev[:0]
	n.next = 0
}

func (n *names) get(b []byte) string {
	if n.next < len(n.prev) && n.prev[n.next] == string(b) {
		s := n.prev[n.next]
		n.next++
		n.cur = append(n.cur, s)
		return s
	}
	for i, s := range n.prev {
		if s == string(b) {
			n.next = i + 1
			n.cur = append(n.cur, s)
			return s
		}
	}
	s := string(b)
	n.cur = append(n.cur, s)
	return s
}
