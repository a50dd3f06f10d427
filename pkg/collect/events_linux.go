//go:build linux

package collect

import (
	"slices"
	"time"

	"github.com/whippet-agent/whippet/pkg/procevent"
)

// DefaultReconcile is how often an event-driven table is checked against a full
// /proc scan when no event was lost: every source can miss events (a full ring, a
// process that started before the source), and the scan repairs the table.
const DefaultReconcile = 5 * time.Minute

// eventCycle applies the events of the last interval to the table and says
// whether this cycle must scan /proc: on the first cycle, after lost or dropped
// events, and every reconcile interval. New processes are added to the table
// (and sampled this cycle), exited ones removed; those that came and went are
// reported as ShortLived.
func (c *Collector) eventCycle(now time.Time) (scan bool) {
	st := &c.snap.Stats
	overflow := c.feed.take(&c.events, &c.eventNames)
	lost := uint64(0)
	if c.lost != nil {
		lost = c.lost()
	}
	scan = c.lastScan.IsZero() || overflow || lost != c.lastLost || now.Sub(c.lastScan) >= c.reconcile
	if lost != c.lastLost || overflow {
		st.EventGaps++
	}
	c.lastLost = lost
	st.EventsLost = lost
	st.Events += uint64(len(c.events))

	c.snap.ShortLived = c.snap.ShortLived[:0]
	clear(c.pending)
	clear(c.exited)
	for i := range c.events {
		e := &c.events[i]
		switch e.typ {
		case procevent.Exec, procevent.Fork:
			delete(c.exited, e.pid) // the pid names a new process from here on
			if p := c.table[e.pid]; p != nil {
				if e.typ == procevent.Exec {
					p.execed = true // a new program: identity re-read at the next sample
				} else {
					// A fork of a pid we still track means we missed its exit.
					c.release(p)
					c.pending[e.pid] = i
				}
				continue
			}
			c.pending[e.pid] = i
		case procevent.Exit:
			// Two threads ending at once can both look like the last one; the
			// second exit of a pid in one interval is a duplicate.
			if _, dup := c.exited[e.pid]; dup {
				st.EventDups++
				continue
			}
			c.exited[e.pid] = struct{}{}
			if j, ok := c.pending[e.pid]; ok {
				delete(c.pending, e.pid)
				c.shortLived(e, &c.events[j])
				continue
			}
			if p := c.table[e.pid]; p != nil {
				c.release(p)
				st.Exits++
				continue
			}
			if _, ok := c.gone[e.pid]; ok {
				// Listed before, found gone by the last pass ahead of this event.
				delete(c.gone, e.pid)
				st.Exits++
				continue
			}
			// Started before the previous interval's events were taken yet never
			// listed (a missed fork), or forked and gone within the interval.
			c.shortLived(e, nil)
		}
	}
	// An exit event comes within one interval (the ring is drained at least
	// every poll interval); what the last pass found gone has had its turn.
	clear(c.gone)
	for pid := range c.pending {
		c.table[pid] = c.alloc(pid)
		st.ProcsNew++
	}
	return scan
}

// shortLived reports exit event e of a process never sampled; start is its exec
// or fork event in the same interval, if seen.
func (c *Collector) shortLived(e, start *procEvent) {
	st := &c.snap.Stats
	st.ShortLivedCount++
	src := e
	if start != nil && start.has&procevent.HasComm != 0 {
		src = start
	}
	var ctr *Container
	if c.ctrs != nil && src.has&procevent.HasCgroup != 0 {
		if ctr = c.ctrs.byCgroup(src.memCgroupID, src.cgroupID); ctr != nil {
			ctr.ShortLived++
		}
	}
	if len(c.snap.ShortLived) >= c.maxShortLived {
		st.ShortLivedDropped++
		return
	}
	c.snap.ShortLived = append(c.snap.ShortLived, ShortLived{})
	s := &c.snap.ShortLived[len(c.snap.ShortLived)-1]
	s.HasExec = src != e && src.typ == procevent.Exec
	s.PID, s.PPID, s.UID = e.pid, src.ppid, src.uid
	if e.has&procevent.HasPPID != 0 && e.ppid != 0 {
		s.PPID = e.ppid
	}
	s.Comm = commBytes(&src.comm)
	s.Path = c.eventNames[src.name : src.name+uint32(src.nameLen) : src.name+uint32(src.nameLen)]
	if src.has&procevent.HasIDs != 0 && c.users != nil {
		s.User = c.users.Lookup(src.uid)
	}
	if ctr != nil {
		s.ContainerID = ctr.ID
	}
	if e.exitNs > e.startNs && e.startNs != 0 {
		s.Lifetime = time.Duration(e.exitNs - e.startNs)
	}
	s.CPU = time.Duration(e.cpuNs)
	s.MaxRSS = e.maxRSSKB << 10
	if sig := int(e.exitCode & 0x7f); sig != 0 {
		s.ExitStatus, s.Signal = -1, sig
	} else {
		s.ExitStatus = int(e.exitCode>>8) & 0xff
	}
}

func commBytes(c *[16]byte) []byte {
	for i, b := range c {
		if b == 0 {
			return c[:i]
		}
	}
	return c[:]
}

// tablePids lists the table's pids in order: the cycle's processes without a
// directory scan.
func (c *Collector) tablePids() {
	c.pids = c.pids[:0]
	for pid := range c.table {
		c.pids = append(c.pids, pid)
	}
	slices.Sort(c.pids)
}
