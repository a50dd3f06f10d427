package host

import (
	"bytes"
	"math"
)

// MemField is a presence bit for a /proc/meminfo line.
type MemField uint16

const (
	MemTotal MemField = 1 << iota
	MemFree
	MemAvailable // Linux 3.14+
	MemBuffers
	MemCached
	MemSwapCached
	MemShmem // 2.6.32+
	MemSlab
	MemSReclaimable // 2.6.19+
	MemPageTables
	MemCommitLimit
	MemCommittedAS
	MemSwapTotal
	MemSwapFree
)

const memAll = MemTotal | MemFree | MemAvailable | MemBuffers | MemCached | MemSwapCached | MemShmem |
	MemSlab | MemSReclaimable | MemPageTables | MemCommitLimit | MemCommittedAS | MemSwapTotal | MemSwapFree

// Meminfo is what the system.mem.* and system.swap.* metrics need of
// /proc/meminfo, in bytes.
type Meminfo struct {
	Total, Free, Available             uint64
	Buffers, Cached, SwapCached, Shmem uint64
	Slab, SReclaimable, PageTables     uint64
	CommitLimit, CommittedAS           uint64
	SwapTotal, SwapFree                uint64
	Has                                MemField // which lines were present
}

// ParseMeminfo parses the content of /proc/meminfo into m. MemTotal and MemFree
// are required; the other lines set their bit in m.Has. Values in kB (all of the
// ones read here) become bytes; a value without a unit is taken as bytes, as
// prometheus/procfs does. Unknown lines are skipped without reading their numbers.
// It keeps nothing of b.
func ParseMeminfo(b []byte, m *Meminfo) error {
	*m = Meminfo{}
	for len(b) > 0 {
		var ln []byte
		ln, b = line(b)
		key, rest, ok := bytes.Cut(ln, colon)
		if !ok {
			continue
		}
		var bit MemField
		var dst *uint64
		switch string(key) {
		case "MemTotal":
			bit, dst = MemTotal, &m.Total
		case "MemFree":
			bit, dst = MemFree, &m.Free
		case "MemAvailable":
			bit, dst = MemAvailable, &m.Available
		case "Buffers":
			bit, dst = MemBuffers, &m.Buffers
		case "Cached":
			bit, dst = MemCached, &m.Cached
		case "SwapCached":
			bit, dst = MemSwapCached, &m.SwapCached
		case "Shmem":
			bit, dst = MemShmem, &m.Shmem
		case "Slab":
			bit, dst = MemSlab, &m.Slab
		case "SReclaimable":
			bit, dst = MemSReclaimable, &m.SReclaimable
		case "PageTables":
			bit, dst = MemPageTables, &m.PageTables
		case "CommitLimit":
			bit, dst = MemCommitLimit, &m.CommitLimit
		case "Committed_AS":
			bit, dst = MemCommittedAS, &m.CommittedAS
		case "SwapTotal":
			bit, dst = MemSwapTotal, &m.SwapTotal
		case "SwapFree":
			bit, dst = MemSwapFree, &m.SwapFree
		default:
			continue
		}
		v, f, rest, err := nextUint(rest)
		if err != nil {
			return errAt("meminfo", string(key), f, err)
		}
		if len(f) == 0 {
			return missing("meminfo", string(key))
		}
		switch unit, _ := field(rest); string(unit) {
		case "":
		case "kB":
			if v > math.MaxUint64/1024 {
				return errAt("meminfo", string(key), f, ErrRange)
			}
			v *= 1024
		default:
			return errAt("meminfo", string(key)+": unit", unit, ErrSyntax)
		}
		*dst = v
		if m.Has |= bit; m.Has == memAll {
			break // the rest of the file is lines we do not read
		}
	}
	if m.Has&MemTotal == 0 {
		return missing("meminfo", "MemTotal")
	}
	if m.Has&MemFree == 0 {
		return missing("meminfo", "MemFree")
	}
	return nil
}
