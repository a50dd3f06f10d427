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

	"github.com/whippet-agent/whippet/pkg/collect/decimal"
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
	errSyntax   = decimal.ErrSyntax
	errRange    = decimal.ErrRange
	errMissing  = errors.New("missing")
	errTooShort = errors.New("too few fields")
)

func perr(file, field string, err error) error {
	return &ParseError{File: file, Field: field, Err: err}
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

// The number parsers are package decimal's, shared by every reader (wrappers,
// not function variables, so that they inline).
func parseUint(b []byte) (uint64, error) { return decimal.ParseUint(b) }
func trimSpace(b []byte) []byte          { return decimal.TrimSpace(b) }
func parseInt(b []byte) (int64, error)   { return decimal.ParseInt(b) }
