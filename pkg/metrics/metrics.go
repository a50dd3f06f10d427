// Package metrics derives the Datadog agent's metric series from collection
// snapshots: the generic container.* and legacy docker.* families, the host's
// system.* series, the agent heartbeat and whippet's own health counters, under
// the agent's names, types, units and tags (shared/spec/datadog-compat.md §1–2).
//
// A Deriver keeps its own previous counters rather than the snapshot's previous
// cycle: the collector may run more often than metrics are flushed (processes every
// 10 s, metrics every 15 s), and a rate must span the time between two flushes, as
// the agent's sampler does. It caches each container's tag sets, so deriving a
// cycle of unchanged containers allocates nothing.
package metrics

import (
	"log/slog"
	"math"
	"slices"
	"time"

	"github.com/whippet-agent/whippet/pkg/batch"
	"github.com/whippet-agent/whippet/pkg/collect"
)

// Options configure a Deriver.
type Options struct {
	Host     string        // the canonical host name every point is sent under
	Interval time.Duration // the flush interval (carried by count and rate series)
	// GlobalTags (DD_TAGS, DD_ENV-style "key:value") are added to every point.
	GlobalTags []string
	// Docker and Container switch the docker.* and container.* families. The
	// agent runs both checks on a Docker host, so the caller turns both on by
	// default; the zero Options emits neither.
	Docker, Container bool
	Version           string // whippet's version, the version: tag of datadog.agent.running
	Log               *slog.Logger
}

// Deriver turns snapshots into metric batches. It is not safe for concurrent use.
type Deriver struct {
	opt     Options
	log     *slog.Logger
	global  []string // sorted GlobalTags; nil without any
	running []string // global + version:
	errTags [numCollectors][]string
	gen     uint64 // Derive calls, marks the state seen in the current one

	host   hostState
	ctrs   map[string]*ctrState // by container id
	images map[string]*imageGroup

	stats    collect.Stats // the previous Derive's, for the whippet.* counts
	hasStats bool
}

// The collectors whippet.collector.errors is tagged with.
const (
	collProc = iota
	collHost
	collCgroup
	collPasswd
	collTaskIter
	numCollectors
)

var collectorNames = [numCollectors]string{"proc", "host", "cgroup", "passwd", "task_iterator"}

// New returns a Deriver.
func New(opt Options) *Deriver {
	d := &Deriver{
		opt:    opt,
		log:    opt.Log,
		ctrs:   map[string]*ctrState{},
		images: map[string]*imageGroup{},
	}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	d.global = tagSet(opt.GlobalTags)
	if len(d.global) == 0 {
		d.global = nil
	}
	var version []string
	if opt.Version != "" {
		version = []string{"version:" + opt.Version}
	}
	d.running = tagSet(d.global, version)
	for i, n := range collectorNames {
		d.errTags[i] = tagSet(d.global, []string{"collector:" + n})
	}
	d.host.tags = map[string]*hostTags{}
	return d
}

// Derive resets out and fills it with the series of snapshot s. The first call
// only primes the counters: rates and counts start with the second.
func (d *Deriver) Derive(s *collect.Snapshot, out *batch.Metrics) {
	out.Reset()
	out.Host = d.opt.Host
	out.Timestamp = s.Time.Unix()
	out.Interval = int64(d.opt.Interval / time.Second)
	d.gen++
	g := batch.NoTags
	if d.global != nil {
		g = out.AddTagSet(d.global)
	}
	d.deriveHost(s, out, g)
	ctrShort := d.deriveContainers(s, out, g)
	d.deriveSelf(s, out, g, ctrShort)
}

// deriveSelf emits the heartbeat and whippet's own counters.
func (d *Deriver) deriveSelf(s *collect.Snapshot, out *batch.Metrics, g int32, ctrShort uint64) {
	out.Add(AgentRunning, batch.Gauge, 1, out.AddTagSet(d.running))
	st := &s.Stats
	out.Add(WhippetProcessesTracked, batch.Gauge, float64(st.TrackedProcs), g)
	out.Add(WhippetContainersTracked, batch.Gauge, float64(len(s.Containers)), g)
	out.Add(WhippetFDsHeld, batch.Gauge, float64(st.HeldFDs), g)
	out.Add(WhippetCollectorDuration, batch.Gauge, st.CycleDuration.Seconds(), g)
	if d.hasStats {
		p := &d.stats
		var errs [numCollectors]float64
		for i := range st.ReadErrors {
			errs[collProc] += delta(st.ReadErrors[i], p.ReadErrors[i]) + delta(st.ParseErrors[i], p.ParseErrors[i])
		}
		errs[collHost] = delta(st.HostErrors, p.HostErrors)
		errs[collCgroup] = delta(st.ContainerErrors, p.ContainerErrors)
		errs[collPasswd] = delta(st.UserErrors, p.UserErrors)
		errs[collTaskIter] = delta(st.TaskIterErrors, p.TaskIterErrors)
		for i, n := range errs {
			out.Add(WhippetCollectorErrors, batch.Count, n, out.AddTagSet(d.errTags[i]))
		}
		out.Add(WhippetEventsLost, batch.Count, delta(st.EventsLost, p.EventsLost), g)
		out.Add(WhippetEventsGaps, batch.Count, delta(st.EventGaps, p.EventGaps), g)
		out.Add(WhippetShortLivedDropped, batch.Count, delta(st.ShortLivedDropped, p.ShortLivedDropped), g)
		// Host processes' share: the total less what containers reported.
		hostShort := delta(st.ShortLivedCount, p.ShortLivedCount) - float64(ctrShort)
		out.Add(WhippetShortLived, batch.Count, max(hostShort, 0), g)
	}
	d.stats, d.hasStats = *st, true
}

// delta is a MonotonicCount's increment: a counter that went backwards (a reset)
// adds nothing, as in the agent's aggregator.
func delta(cur, prev uint64) float64 {
	if cur < prev {
		return 0
	}
	return float64(cur - prev)
}

// rate appends name = (cur−prev)/dt × scale as a gauge, the agent's Rate, or
// nothing when the counter went backwards. The caller checks that prev exists and
// dt > 0.
func rate(out *batch.Metrics, name string, cur, prev uint64, dt, scale float64, tags int32) {
	if cur < prev {
		return
	}
	out.Add(name, batch.Gauge, float64(cur-prev)/dt*scale, tags)
}

// tagSet concatenates lists into a new sorted list without duplicates or empty
// tags. It allocates: call it when a tag set is built, not per cycle.
func tagSet(lists ...[]string) []string {
	n := 0
	for _, l := range lists {
		n += len(l)
	}
	out := make([]string, 0, n)
	for _, l := range lists {
		for _, t := range l {
			if t != "" {
				out = append(out, t)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// round2 rounds to two decimals, as the agent's io check does.
func round2(v float64) float64 { return math.Round(v*100) / 100 }
