package collect

import (
	"sync"
	"time"

	"github.com/whippet-agent/whippet/pkg/procevent"
)

// EventFeed carries process exec and exit events from an event source's goroutine
// to the collector's cycle. Add is called for every event; the cycle takes what
// accumulated. Memory is bounded: past Cap events in one interval the feed stops
// recording, counts the drop and asks the cycle for a /proc scan, which repairs
// the table (short-lived processes of that interval are then only counted).
type EventFeed struct {
	mu       sync.Mutex
	cur      []procEvent
	names    []byte // exec events' file names, which procEvent.name points into
	cap      int
	overflow bool
	received uint64
	dropped  uint64
}

// procEvent is the part of an event the collector keeps.
type procEvent struct {
	typ                   procevent.Type
	has                   procevent.Field
	pid, ppid             int32
	uid                   uint32
	cgroupID, memCgroupID uint64
	comm                  [16]byte
	// The file name of an exec, in the feed's name arena: only execs have one,
	// and inline it was more than half of every event's size.
	name            uint32
	nameLen         uint8
	startNs, exitNs uint64
	exitCode        int32
	cpuNs, maxRSSKB uint64
}

// DefaultFeedCap bounds the events kept between two cycles: at ~100 B each (plus
// up to 128 B of file name per exec), 64 Ki events are 6–10 MiB at most, and a
// 4,000 exec/s storm over a 15 s interval (one exec and one exit per process)
// fits in half of it.
const DefaultFeedCap = 64 << 10

// maxEventName bounds an exec's file name kept (the tracer's own bound).
const maxEventName = 128

// NewEventFeed returns a feed keeping at most capacity events per interval
// (0: DefaultFeedCap).
func NewEventFeed(capacity int) *EventFeed {
	if capacity <= 0 {
		capacity = DefaultFeedCap
	}
	return &EventFeed{cap: capacity}
}

// Add records e. It is the callback given to procevent.Source.Run: it copies what
// it keeps and never blocks on I/O. Thread events (PID != TGID) are ignored.
func (f *EventFeed) Add(e *procevent.Event) {
	if e.PID != e.TGID && e.TGID != 0 {
		return
	}
	f.mu.Lock()
	f.received++
	if len(f.cur) >= f.cap {
		f.overflow = true
		f.dropped++
		f.mu.Unlock()
		return
	}
	f.cur = append(f.cur, procEvent{})
	r := &f.cur[len(f.cur)-1]
	r.typ, r.has = e.Type, e.Has
	r.pid, r.ppid, r.uid = e.TGID, e.PPID, e.UID
	if r.pid == 0 {
		r.pid = e.PID
	}
	r.cgroupID, r.memCgroupID = e.CgroupID, e.MemCgroupID
	r.comm = e.Comm
	if fn := e.FilenameBytes(); len(fn) > 0 {
		fn = fn[:min(len(fn), maxEventName)]
		r.name, r.nameLen = uint32(len(f.names)), uint8(len(fn))
		f.names = append(f.names, fn...)
	}
	r.startNs, r.exitNs, r.exitCode = e.StartNs, e.ExitNs, e.ExitCode
	r.cpuNs, r.maxRSSKB = e.CPUNs, e.MaxRSSKB
	f.mu.Unlock()
}

// take swaps the recorded events and their file names into *into and *names
// (whose old contents are discarded, their capacity reused by the feed) and
// reports whether events were dropped.
func (f *EventFeed) take(into *[]procEvent, names *[]byte) (overflow bool) {
	f.mu.Lock()
	next, nextNames := (*into)[:0], (*names)[:0]
	if n := max(len(f.cur), 256); cap(next) > 4*n {
		// After a storm the buffers keep its size (up to the feed's cap, 6 MiB
		// each): let them shrink back to twice what an interval now needs.
		next = make([]procEvent, 0, 2*n)
	}
	if n := max(len(f.names), 4096); cap(nextNames) > 4*n {
		nextNames = make([]byte, 0, 2*n)
	}
	f.cur, *into = next, f.cur
	f.names, *names = nextNames, f.names
	overflow, f.overflow = f.overflow, false
	f.mu.Unlock()
	return overflow
}

// Counts returns the events received and dropped for lack of room since start.
func (f *EventFeed) Counts() (received, dropped uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.received, f.dropped
}

// ShortLived is a process that started and ended between two cycles: it was never
// sampled, and is reported from its events.
type ShortLived struct {
	PID, PPID   int32
	UID         uint32
	User        string
	Comm        []byte // valid until the next cycle
	Path        []byte // the executed file (eBPF sources), valid until the next cycle
	ContainerID string // "" on the host or when the source gives no cgroup
	Lifetime    time.Duration
	CPU         time.Duration // the process's whole CPU time (eBPF sources)
	MaxRSS      uint64        // bytes (eBPF sources)
	ExitStatus  int           // exit status, -1 when killed by a signal
	Signal      int
	HasExec     bool // the exec was seen (comm and path are the executed program's)
}
