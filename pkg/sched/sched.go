// Package sched places a host's collection ticks on the wall clock: every
// interval, aligned to multiples of it (so a host's points land on stable
// timestamps), shifted by a per-host offset so that thousands of hosts started by
// the same deployment do not all flush in the same second.
package sched

import (
	"hash/fnv"
	"time"
)

// Offset is host's fixed shift within interval: a hash of the host name, so it
// is stable across restarts and spread evenly across a fleet.
func Offset(host string, interval time.Duration) time.Duration {
	if interval <= 0 {
		return 0
	}
	h := fnv.New64a()
	h.Write([]byte(host))
	return time.Duration(h.Sum64() % uint64(interval))
}

// Next is the first tick strictly after now: a multiple of interval since the
// Unix epoch, plus offset.
func Next(now time.Time, interval, offset time.Duration) time.Time {
	if interval <= 0 {
		return now
	}
	base := now.Add(-offset).Truncate(interval) // Truncate works on absolute time since the zero Time: aligned for any interval dividing a day
	t := base.Add(offset)
	for !t.After(now) {
		t = t.Add(interval)
	}
	return t
}

// Ticker yields the ticks of one or more schedules from one goroutine, so a
// cycle never overlaps the next: a tick that falls while a cycle is still running
// is skipped and counted, never queued.
type Ticker struct {
	interval []time.Duration
	offset   []time.Duration
	next     []time.Time
	// Skipped counts, per schedule, ticks missed because the previous cycle ran
	// past them.
	Skipped []uint64
}

// NewTicker schedules each interval with its offset, starting after now.
func NewTicker(now time.Time, intervals, offsets []time.Duration) *Ticker {
	t := &Ticker{
		interval: intervals, offset: offsets,
		next: make([]time.Time, len(intervals)), Skipped: make([]uint64, len(intervals)),
	}
	for i := range intervals {
		t.next[i] = Next(now, intervals[i], offsets[i])
	}
	return t
}

// Wait returns the time of the next tick (the earliest over all schedules).
func (t *Ticker) Wait() time.Time {
	var w time.Time
	for i, n := range t.next {
		if i == 0 || n.Before(w) {
			w = n
		}
	}
	return w
}

// Due reports, into due (one flag per schedule), which schedules tick at or before
// now, and advances them past now; ticks more than one interval late are
// counted in Skipped.
func (t *Ticker) Due(now time.Time, due []bool) {
	for i := range t.next {
		due[i] = !t.next[i].After(now)
		if !due[i] {
			continue
		}
		n := Next(now, t.interval[i], t.offset[i])
		// Ticks strictly between the one being served and n were missed.
		if missed := int64(n.Sub(t.next[i])/t.interval[i]) - 1; missed > 0 {
			t.Skipped[i] += uint64(missed)
		}
		t.next[i] = n
	}
}
