//go:build linux

package faults

import (
	"fmt"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/whippet-agent/whippet/pkg/ship/fakeintake"
	"github.com/whippet-agent/whippet/pkg/status"
)

// drained reports whether everything the agent submitted was delivered or
// dropped. A negative queue is a defect TestKillRestart reports; here it must
// not hide an empty spool.
func drained(r status.Report) bool { return r.Queue <= 0 && r.Spool.Records == 0 }

// sumDrops is every counted drop but short-lived processes left unlisted
// (those are counted in a metric, not lost payloads).
func sumDrops(r status.Report) uint64 {
	var n uint64
	for k, v := range r.Drops {
		if k != "short_lived_unlisted" {
			n += v
		}
	}
	return n
}

// ledger is the datadog.agent.running accounting of one quiet moment: the
// cycles the agent ran against the points the intake accepted.
type ledger struct {
	cycles  uint64
	drops   uint64
	points  int // points accepted
	stamps  int // distinct timestamps
	repeats int // points beyond the first at a timestamp
}

// settle waits until the agent has delivered everything and reads the report
// and the intake with no cycle in between.
func settle(t *testing.T, a *agent, in *fakeintake.Intake) ledger {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		r1, err1 := a.report()
		m := runningStamps(in)
		r2, err2 := a.report()
		if err1 == nil && err2 == nil && drained(r1) && drained(r2) && r1.Cycles == r2.Cycles {
			l := ledger{cycles: r1.Cycles, drops: sumDrops(r1), stamps: len(m)}
			for _, n := range m {
				l.points += n
				l.repeats += n - 1
			}
			if uint64(l.points) >= l.cycles || time.Now().After(deadline) {
				return l
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("agent not drained within 2 min: %s\n%s", brief(r2), a.tail())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestIntakeOutage makes the intake answer 503 to everything for 20 s: the
// agent spools, probes with backoff, and after recovery every cycle's
// datadog.agent.running point arrives exactly once (or is a counted drop).
func TestIntakeOutage(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	const outage = 20 * time.Second
	in, url := newIntake(t)
	a := startAgent(t, agentOpts{intake: url})
	waitIntake(t, in, "first cycles delivered", time.Minute, func(in *fakeintake.Intake) bool { return len(runningStamps(in)) >= 3 })

	before := in.Stats()
	in.SetFault(fakeintake.Fault{Status: 503})
	start := time.Now()
	var peak status.Report
	for time.Since(start) < outage {
		if r, err := a.report(); err == nil && r.Spool.Bytes >= peak.Spool.Bytes {
			peak = r
		}
		time.Sleep(time.Second)
	}
	atClear := a.waitReport("report", time.Minute, func(status.Report) bool { return true })
	in.ClearFaults()
	cleared := time.Now()
	during := in.Stats()
	n503 := map[string]int{}
	for k, n := range during.Requests {
		if k.Status == 503 {
			n503[k.Route] = n - before.Requests[k]
		}
	}

	// Replay: every cycle run before the intake came back is there.
	waitIntake(t, in, "outage cycles replayed", 2*time.Minute, func(in *fakeintake.Intake) bool {
		n := 0
		for ts, c := range runningStamps(in) {
			if ts <= cleared.Unix() {
				n += c
			}
		}
		return uint64(n) >= atClear.Cycles
	})
	replay := time.Since(cleared)
	l := settle(t, a, in)
	drain := time.Since(cleared)
	final, _ := a.report()
	a.stop()
	st := in.Stats()

	t.Logf("outage %v: 503 answers by route %v (%.2f requests/s); peak spool %d records / %d B, queue %d; %d cycles by then",
		outage, n503, float64(sum(n503))/outage.Seconds(), peak.Spool.Records, peak.Spool.Bytes, peak.Queue, atClear.Cycles)
	t.Logf("recovery: outage cycles replayed after %v, spool and queue empty after %v", replay.Round(time.Millisecond), drain.Round(time.Millisecond))
	t.Logf("ledger: %d cycles, %d %s points at %d distinct timestamps (%d repeated), %d counted drops; intake duplicates: %d bodies, %d request ids; report %s",
		l.cycles, l.points, mRunning, l.stamps, l.repeats, l.drops, st.DuplicateBodies, st.DuplicateRequestIDs, brief(final))
	if peak.Spool.Records == 0 {
		t.Errorf("spool empty throughout the outage, want the undelivered records spooled")
	}
	if lost := int64(l.cycles) - int64(l.points) - int64(l.drops); lost > 0 {
		t.Errorf("%d cycles, %d points accepted, %d counted drops: %d points lost", l.cycles, l.points, l.drops, lost)
	}
	if l.points > int(l.cycles) {
		t.Errorf("%d points for %d cycles: %d delivered twice", l.points, l.cycles, l.points-int(l.cycles))
	}
	if st.DuplicateBodies != 0 {
		t.Errorf("intake saw %d duplicate bodies, want none (no kill, every answer was a clean 503 or 2xx)", st.DuplicateBodies)
	}
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// TestKillRestart SIGKILLs the agent five times while the intake black-holes
// every request, restarting it on the same spool; once the intake answers
// again, the spool replays the cycles of every killed run, with at most one
// duplicate payload per kill.
func TestKillRestart(t *testing.T) {
	requireRoot(t)
	t.Parallel()
	const kills = 5
	in, url := newIntake(t)
	in.SetFault(fakeintake.Fault{BlackHole: true})
	spool := filepath.Join(t.TempDir(), "spool")
	a := startAgent(t, agentOpts{intake: url, spool: spool})

	type runWindow struct {
		from, to time.Time
		cycles   uint64
	}
	var runs []runWindow
	for i := range kills {
		want := uint64(2 + i%3) // kill at varying points of the cycle
		r := a.waitReport(fmt.Sprintf("run %d cycles", i), time.Minute, func(r status.Report) bool { return r.Cycles >= want })
		// The cycle after the last report may be half written: kill mid-run.
		time.Sleep(time.Duration(300+137*i) * time.Millisecond)
		a.kill()
		runs = append(runs, runWindow{from: a.started, to: time.Now(), cycles: r.Cycles})
		// Restart in another second, so that runs never share a timestamp.
		time.Sleep(1100 * time.Millisecond)
		a.start(a.logPath)
	}
	live := a.waitReport("last run", time.Minute, func(r status.Report) bool { return r.Cycles >= 3 })
	spooled := live.Spool
	in.ClearFaults()
	cleared := time.Now()

	missing := func(m map[int64]int) (n int) {
		for _, w := range runs {
			if got := stampsIn(m, w.from, w.to); uint64(got) < w.cycles {
				n += int(w.cycles) - got
			}
		}
		return n
	}
	waitIntake(t, in, "killed runs replayed", 3*time.Minute, func(in *fakeintake.Intake) bool { return missing(runningStamps(in)) == 0 })
	replay := time.Since(cleared)
	l := settle(t, a, in)
	final, _ := a.report()
	a.stop()

	m := runningStamps(in)
	var per []string
	for i, w := range runs {
		per = append(per, fmt.Sprintf("run %d: %d cycles reported, %d stamps", i, w.cycles, stampsIn(m, w.from, w.to)))
	}
	repeated := []int64{}
	for ts, n := range m {
		if n > 1 {
			repeated = append(repeated, ts)
		}
	}
	sort.Slice(repeated, func(i, j int) bool { return repeated[i] < repeated[j] })
	st := in.Stats()
	t.Logf("%d SIGKILLs with the intake black-holed (%d requests swallowed); spool at recovery %d records / %d B", kills, st.BlackHoled, spooled.Records, spooled.Bytes)
	t.Logf("%v", per)
	t.Logf("killed runs replayed %v after recovery; ledger %+v; duplicates: %d bodies, %d request ids, points repeated at %v; report %s",
		replay.Round(time.Millisecond), l, st.DuplicateBodies, st.DuplicateRequestIDs, repeated, brief(final))
	if n := missing(m); n > 0 {
		t.Errorf("%d cycles of killed runs never arrived", n)
	}
	var killed uint64
	for _, w := range runs {
		killed += w.cycles
	}
	if uint64(l.points) < killed+l.cycles {
		t.Errorf("%d %s points, want at least the %d cycles the killed runs reported plus the live run's %d", l.points, mRunning, killed, l.cycles)
	}
	if st.DuplicateBodies > kills {
		t.Errorf("%d duplicate bodies after %d kills, want at most one per kill", st.DuplicateBodies, kills)
	}
	if len(repeated) > kills {
		t.Errorf("points repeated at %d timestamps after %d kills, want at most one payload per kill", len(repeated), kills)
	}
	if final.Queue < 0 {
		t.Errorf("status queue = %d after replaying the spool of killed runs, want >= 0 (records in memory cannot be negative)", final.Queue)
	}
	if spooled.Records == 0 {
		t.Errorf("spool empty before recovery, want the killed runs' records in it")
	}
}
