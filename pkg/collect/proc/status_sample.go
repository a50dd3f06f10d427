package proc

import (
	"bytes"
	"unsafe"
)

// StatusSample is the part of /proc/<pid>/status a cycle needs that stat and statm
// do not carry: user and group ids, swap and context switches.
type StatusSample struct {
	UID        [4]uint32 // real, effective, saved, filesystem
	GID        [4]uint32
	VmSwap     uint64 // bytes; absent (0) for kernel threads and zombies
	VolCtxt    uint64
	NonVolCtxt uint64
	HasVmSwap  bool
}

// Keys are searched by a rare suffix: bytes.Index skips ahead with a SIMD
// IndexByte of its pattern's first byte, which is hopeless for '\n' (a match every
// line: 750 ns over a status file) or 'V' (fifteen Vm lines) and fast for a letter
// the file rarely has (35 ns). Lines that follow one another in fs/proc/array.c
// (Gid after Uid, nonvoluntary after voluntary) are checked in place first.
var (
	keyUid        = statusKey{"Uid:", 0}
	keyGid        = statusKey{"Gid:", 0}
	keyVmSwap     = statusKey{"VmSwap:", 4} // search "wap:"
	keyVolCtxt    = statusKey{"voluntary_ctxt_switches:", 0}
	keyNonVolCtxt = statusKey{"nonvoluntary_ctxt_switches:", 0}
)

type statusKey struct {
	key   string
	probe int // search key[probe:], then check the bytes before it
}

// ParseStatusSample extracts a StatusSample from the content of /proc/<pid>/status.
//
// It is the per-cycle parser: instead of splitting all ~57 lines (1.5 KiB, a
// Mems_allowed line of hundreds of bytes) it jumps to the five lines it needs with
// SIMD searches, in the kernel's order (fs/proc/array.c: ids, then task_mem's
// VmSwap, then the context switches last), each search starting where the
// previous line ended. Uid, Gid and both context-switch lines are required.
func ParseStatusSample(b []byte, s *StatusSample) error {
	*s = StatusSample{}
	rest, val, ok := findLine(b, keyUid)
	if !ok {
		return perr("status", "Uid", errMissing)
	}
	if err := parseIDs(val, &s.UID); err != nil {
		return perr("status", "Uid", err)
	}
	if rest, val, ok = findLine(rest, keyGid); !ok {
		return perr("status", "Gid", errMissing)
	}
	if err := parseIDs(val, &s.GID); err != nil {
		return perr("status", "Gid", err)
	}
	if r, val, ok := findLine(rest, keyVmSwap); ok {
		v, err := parseKB(val)
		if err != nil {
			return perr("status", "VmSwap", err)
		}
		s.VmSwap, s.HasVmSwap, rest = v, true, r
	}
	var err error
	if rest, val, ok = findLine(rest, keyVolCtxt); !ok {
		return perr("status", "voluntary_ctxt_switches", errMissing)
	}
	if s.VolCtxt, err = parseUint(trimSpace(val)); err != nil {
		return perr("status", "voluntary_ctxt_switches", err)
	}
	if _, val, ok = findLine(rest, keyNonVolCtxt); !ok {
		return perr("status", "nonvoluntary_ctxt_switches", errMissing)
	}
	if s.NonVolCtxt, err = parseUint(trimSpace(val)); err != nil {
		return perr("status", "nonvoluntary_ctxt_switches", err)
	}
	return nil
}

// findLine finds the first line of b that starts with k and returns its value and
// what follows the line (from its newline on). b starts at a newline (or is the
// whole file, whose first line is never a key), so a match must follow a '\n'.
func findLine(b []byte, k statusKey) (rest, val []byte, ok bool) {
	// The expected line is often the very next one.
	if len(b) > 0 && b[0] == '\n' && len(b) > len(k.key) && string(b[1:1+len(k.key)]) == k.key {
		return lineValue(b, 1+len(k.key))
	}
	pat := k.key[k.probe:]
	off := 0
	for {
		i := bytealgIndex(b[off:], pat)
		if i < 0 {
			return b, nil, false
		}
		start := off + i - k.probe
		off += i + 1
		if start < 1 || b[start-1] != '\n' || string(b[start:start+k.probe]) != k.key[:k.probe] {
			continue
		}
		return lineValue(b, start+len(k.key))
	}
}

func lineValue(b []byte, from int) (rest, val []byte, ok bool) {
	v := b[from:]
	if j := bytes.IndexByte(v, '\n'); j >= 0 {
		return v[j:], v[:j], true
	}
	return nil, v, true
}

// bytealgIndex is bytes.Index for a string pattern without converting it.
func bytealgIndex(b []byte, pat string) int {
	return bytes.Index(b, unsafe.Slice(unsafe.StringData(pat), len(pat)))
}
