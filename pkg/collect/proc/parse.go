// Package proc reads and parses per-process files under a proc mount
// (/proc/<pid>/{stat,statm,status,io,cmdline,cgroup}) without allocating.
//
// This is the hot path of every cycle: thousands of processes, several files each.
// Parsers are pure functions over the file's bytes into caller-owned structs; the
// Reader does the I/O with raw syscalls into one reused buffer and keeps descriptors
// of known processes open so that a cycle costs one pread per file.
package proc

import (
	"errors"
	"fmt"
)

// ErrGone means the process exited (or was reaped) while being read: skip it and
// count it, it is not an error of the agent.
var ErrGone = errors.New("process gone")

// ParseError says which file and field could not be parsed.
type ParseError struct {
	File  string // "stat", "status", ...
	Field string
	Err   error
}

func (e *ParseError) Error() string { return fmt.Sprintf("%s: %s: %v", e.File, e.Field, e.Err) }
func (e *ParseError) Unwrap() error { return e.Err }

var (
	errSyntax   = errors.New("invalid syntax")
	errRange    = errors.New("value out of range")
	errMissing  = errors.New("missing")
	errTooShort = errors.New("too few fields")
)

func perr(file, field string, err error) error {
	return &ParseError{File: file, Field: field, Err: err}
}

// parseUint parses a decimal unsigned integer, rejecting empty input, non-digits
// and overflow (a wrapped counter would be reported as a huge rate).
func parseUint(b []byte) (uint64, error) {
	if len(b) == 0 {
		return 0, errSyntax
	}
	var n uint64
	for _, c := range b {
		d := c - '0'
		if d > 9 {
			return 0, errSyntax
		}
		const max = 1<<64 - 1
		if n > max/10 || (n == max/10 && uint64(d) > max%10) {
			return 0, errRange
		}
		n = n*10 + uint64(d)
	}
	return n, nil
}

// parseInt parses a decimal signed integer (procfs prints negative nice, priority,
// tpgid and cutime values).
func parseInt(b []byte) (int64, error) {
	neg := false
	if len(b) > 0 && b[0] == '-' {
		neg = true
		b = b[1:]
	}
	u, err := parseUint(b)
	if err != nil {
		return 0, err
	}
	if neg {
		if u > 1<<63 {
			return 0, errRange
		}
		return -int64(u), nil
	}
	if u > 1<<63-1 {
		return 0, errRange
	}
	return int64(u), nil
}

// nextField splits b at the first space: the field and the rest after it.
func nextField(b []byte) (field, rest []byte) {
	for i, c := range b {
		if c == ' ' {
			return b[:i], b[i+1:]
		}
	}
	return b, nil
}

// trimSpace trims ASCII spaces, tabs and newlines.
func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t' || b[0] == '\n') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t' || b[len(b)-1] == '\n') {
		b = b[:len(b)-1]
	}
	return b
}
