// Package decimal parses the ASCII decimal numbers of kernel pseudo-files without
// allocating. It is strict where strconv's callers usually are not: no sign on
// unsigned values, no blanks, and overflow is an error, because a wrapped counter
// would be reported as a huge rate.
package decimal

import "errors"

// Errors returned by the parsers; callers wrap them with the file and field.
var (
	ErrSyntax = errors.New("invalid syntax")
	ErrRange  = errors.New("value out of range")
)

// ParseUint parses a decimal unsigned integer.
func ParseUint(b []byte) (uint64, error) {
	if len(b) == 0 {
		return 0, ErrSyntax
	}
	var n uint64
	for _, c := range b {
		d := c - '0'
		if d > 9 {
			return 0, ErrSyntax
		}
		const max = 1<<64 - 1
		if n > max/10 || (n == max/10 && uint64(d) > max%10) {
			return 0, ErrRange
		}
		n = n*10 + uint64(d)
	}
	return n, nil
}

// ParseInt parses a decimal signed integer (procfs prints negative nice,
// priority, tpgid and cutime values).
func ParseInt(b []byte) (int64, error) {
	neg := false
	if len(b) > 0 && b[0] == '-' {
		neg = true
		b = b[1:]
	}
	u, err := ParseUint(b)
	if err != nil {
		return 0, err
	}
	if neg {
		if u > 1<<63 {
			return 0, ErrRange
		}
		return -int64(u), nil
	}
	if u > 1<<63-1 {
		return 0, ErrRange
	}
	return int64(u), nil
}

// TrimSpace trims ASCII spaces, tabs and newlines.
func TrimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t' || b[0] == '\n') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t' || b[len(b)-1] == '\n') {
		b = b[:len(b)-1]
	}
	return b
}
