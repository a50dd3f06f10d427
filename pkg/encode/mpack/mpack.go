// Package mpack is whippet's compact msgpack record format for one cycle's
// batch.Metrics or batch.Processes: the on-disk spool's record and the
// --output=msgpack stream. FORMAT.md documents it well enough to decode without
// these Go types.
//
// A record holds every string once, in a table at its head, and refers to it by
// index: metric names, tags, container ids and user names repeat thousands of
// times per cycle, and the table is what makes a record several times smaller
// than the same batch marshalled with inline strings. The Encoder and Decoder
// are reused from cycle to cycle so that neither allocates in steady state.
//
// The msgpack primitives are written and read here (wire.go) rather than
// through msgpack.Encoder and msgpack.Decoder: those make an io.Writer or
// io.Reader call per value, which cost several times the CPU per record, and a
// reader over a byte slice bounds every length by the bytes left. The tests
// hold the output byte for byte to what the library writes and decode every
// record with msgpack.Unmarshal.
package mpack

import (
	"errors"
	"fmt"
)

// Magic is the first element of every record.
const Magic = "whippet"

// Version is the record layout this package writes. Decoders read every
// version up to this one; a newer record is ErrVersion.
const Version = 1

// Kind says which batch a record holds.
type Kind uint8

const (
	KindMetrics   Kind = 1
	KindProcesses Kind = 2
)

func (k Kind) String() string {
	switch k {
	case KindMetrics:
		return "metrics"
	case KindProcesses:
		return "processes"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Element counts of the v1 arrays; a record whose arrays differ is corrupt.
const (
	metricsFields   = 9  // magic version kind host timestamp interval strings tagsets points
	processesFields = 10 // magic version kind host timestamp interval strings system containers procs
	pointFields     = 4
	systemFields    = 4
	containerFields = 25
	processFields   = 29
)

var (
	// ErrCorrupt is a record or frame that is truncated, malformed or
	// inconsistent (a wrong type, a bad index, trailing bytes, a bad checksum).
	ErrCorrupt = errors.New("mpack: corrupt record")
	// ErrVersion is a well-formed record of a version this package cannot read.
	ErrVersion = errors.New("mpack: unsupported version")
)

// strTable maps strings to their place in one record's string table. It is
// kept across records, so a string seen in the previous record costs a map
// lookup and no allocation; gen tells this record's entries from stale ones,
// and stale ones are pruned when they outnumber the live ones.
type strTable struct {
	m    map[string]strSlot
	list []string // this record's entries, in index order
	gen  uint32
}

type strSlot struct {
	s   string // the map key, kept to re-list a stale entry without allocating
	idx uint32
	gen uint32
}

// pruneSlack keeps small tables from being swept every record.
const pruneSlack = 1024

func (t *strTable) reset() {
	if t.m == nil {
		t.m = make(map[string]strSlot)
	}
	t.gen++
	if t.gen == 0 { // wrapped: every slot would look current
		clear(t.m)
		t.gen = 1
	}
	t.list = t.list[:0]
}

// prune drops entries not used by the current record once they dominate.
func (t *strTable) prune() {
	if len(t.m) <= 2*len(t.list)+pruneSlack {
		return
	}
	for k, v := range t.m {
		if v.gen != t.gen {
			delete(t.m, k)
		}
	}
}

// add returns the index of s in this record's table, listing it if new.
func (t *strTable) add(s string) uint32 {
	sl, ok := t.m[s]
	if ok && sl.gen == t.gen {
		return sl.idx
	}
	if !ok {
		sl.s = s
	}
	return t.list1(sl)
}

// addBytes is add for a byte slice; only a string never seen before allocates.
func (t *strTable) addBytes(b []byte) uint32 {
	sl, ok := t.m[string(b)]
	if ok && sl.gen == t.gen {
		return sl.idx
	}
	if !ok {
		sl.s = string(b)
	}
	return t.list1(sl)
}

func (t *strTable) list1(sl strSlot) uint32 {
	sl.idx, sl.gen = uint32(len(t.list)), t.gen
	t.list = append(t.list, sl.s)
	t.m[sl.s] = sl
	return sl.idx
}

// intern appends b to the table as a string shared with earlier records.
func (t *strTable) intern(b []byte) string {
	sl, ok := t.m[string(b)]
	if !ok {
		sl.s = string(b)
	}
	if !ok || sl.gen != t.gen {
		sl.gen = t.gen
		t.m[sl.s] = sl
	}
	t.list = append(t.list, sl.s)
	return sl.s
}
