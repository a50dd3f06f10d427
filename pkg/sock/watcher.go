package sock

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/whippet-agent/whippet/pkg/container"
)

// WatcherOptions tune a Watcher. The zero value is the production default.
type WatcherOptions struct {
	Logger *slog.Logger // nil discards
	// Enrich, when set, completes each Meta before Finish (the ECS agent's task
	// status: ecs.Poller.Enrich). It runs under the watcher's lock, from the
	// watcher's goroutine and from Reenrich's caller: it must be fast and must
	// not call the watcher.
	Enrich func(*container.Meta)
	// QueueSize bounds the containers with changes not yet drained; 0 means 4096.
	// Changes of one container coalesce, so only that many distinct containers
	// changing between two Drains overflows it.
	QueueSize int
	// MinBackoff and MaxBackoff bound the wait before reconnecting (doubling,
	// with jitter); 0 means 100 ms and 5 s.
	MinBackoff, MaxBackoff time.Duration
	// ResyncInterval is how often the watcher re-opens the event stream and lists
	// and inspects everything even when the stream looks healthy: a stream can
	// hang silently, and the daemon keeps only its last 256 events for replay.
	// 0 means 5 minutes; negative disables it.
	ResyncInterval time.Duration
}

// Stats are a Watcher's counters since it was made.
type Stats struct {
	Events     uint64 // container events read from the stream
	Inspects   uint64 // inspect calls
	Inspect404 uint64 // containers gone before their inspect (not errors)
	Lists      uint64 // list calls
	Resyncs    uint64 // completed full resynchronisations (list + inspect of each)
	Reconnects uint64 // connection attempts after the stream was lost or could not be opened
	Errors     uint64 // failed calls and broken or garbled streams
	Drops      uint64 // undrained changes dropped by a queue overflow
	Overflows  uint64 // queue overflows, each answered by a full report at the next Drain
	Connected  bool   // following the daemon's events (also during a periodic resync)
	APIVersion string // negotiated Docker API version
	Containers int    // containers known
	LastError  string // the last error's text (Docker socket errors only: no secrets)
	LastResync time.Time
}

// Watcher keeps the set of Docker containers current and reports its changes as
// a container.Source. Run does the work in one goroutine (never one per
// container): it lists and inspects every container, then follows /events,
// inspecting each container an event is about; when the stream is lost it
// reconnects with backoff and resynchronises fully. Drain hands the changes over
// without I/O.
type Watcher struct {
	c           *Client
	log         *slog.Logger
	enrich      func(*container.Meta)
	qsize       int
	minBackoff  time.Duration
	maxBackoff  time.Duration
	resyncEvery time.Duration
	running     atomic.Bool
	connected   atomic.Bool

	events, inspects, inspect404, lists, resyncs, reconnects, errs, drops, overflows atomic.Uint64

	drainMu sync.Mutex // one Drain at a time

	mu         sync.Mutex
	known      map[string]*container.Meta // the current set, as last inspected
	seen       map[string]struct{}        // containers the consumer holds a Meta of (applied in Drain)
	queue      []container.Change         // undrained changes, one per container; ID "" is a cancelled slot
	index      map[string]int             // container id → queue slot
	full       bool                       // overflowed: the next Drain reports the whole set
	spare      []container.Change         // the drained queue, reused
	lastErr    string
	lastResync time.Time
}

// NewWatcher returns a watcher over c. Start it with Run.
func NewWatcher(c *Client, opts WatcherOptions) *Watcher {
	w := &Watcher{
		c:           c,
		log:         opts.Logger,
		enrich:      opts.Enrich,
		qsize:       opts.QueueSize,
		minBackoff:  opts.MinBackoff,
		maxBackoff:  opts.MaxBackoff,
		resyncEvery: opts.ResyncInterval,
		known:       make(map[string]*container.Meta),
		seen:        make(map[string]struct{}),
		index:       make(map[string]int),
	}
	if w.log == nil {
		w.log = slog.New(slog.DiscardHandler)
	}
	if w.qsize <= 0 {
		w.qsize = 4096
	}
	if w.minBackoff <= 0 {
		w.minBackoff = 100 * time.Millisecond
	}
	if w.maxBackoff <= 0 {
		w.maxBackoff = 5 * time.Second
	}
	if w.maxBackoff < w.minBackoff {
		w.maxBackoff = w.minBackoff
	}
	if w.resyncEvery == 0 {
		w.resyncEvery = 5 * time.Minute
	}
	return w
}

var _ container.Source = (*Watcher)(nil)

// errRefresh ends a healthy session for the periodic resync.
var errRefresh = errors.New("periodic resync")

// Run watches until ctx ends, then returns nil. Failures never end it: they are
// counted, logged on a change of health, and retried with backoff. Call it once.
func (w *Watcher) Run(ctx context.Context) error {
	if !w.running.CompareAndSwap(false, true) {
		return errors.New("sock: Watcher.Run called twice")
	}
	backoff := w.minBackoff
	how := "connected"
	quiet := false // a failure to connect was logged; log the next ones at debug
	for {
		connectedFor, err := w.session(ctx, how)
		if ctx.Err() != nil {
			w.connected.Store(false)
			return nil
		}
		if err == errRefresh {
			how, quiet, backoff = "", false, w.minBackoff
			continue // still connected: the stream is re-opened at once
		}
		w.connected.Store(false)
		w.fail(err)
		switch {
		case connectedFor > 0:
			w.log.Warn("docker event stream lost; reconnecting", "err", err, "connected_for", connectedFor.Round(time.Millisecond))
		case !quiet:
			w.log.Warn("docker unavailable; retrying with backoff", "socket", w.c.Socket(), "err", err)
		default:
			w.log.Debug("docker still unavailable", "err", err)
		}
		quiet = true
		if connectedFor >= w.maxBackoff {
			backoff = w.minBackoff // it had been working: retry quickly
		}
		if !sleep(ctx, jitter(backoff)) {
			return nil
		}
		backoff = min(2*backoff, w.maxBackoff)
		w.reconnects.Add(1)
		how = "reconnected"
	}
}

// jitter returns a duration in [d/2, d).
func jitter(d time.Duration) time.Duration {
	if d < 2 {
		return d
	}
	return d/2 + rand.N(d/2)
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// session negotiates, resynchronises, then follows the event stream until it
// fails, ctx ends or the periodic resync is due. It returns how long the stream
// was open (0 if it never was). how names the connection in the log line ("" for
// a periodic resync, logged at debug).
func (w *Watcher) session(ctx context.Context, how string) (connectedFor time.Duration, err error) {
	api, err := w.c.Negotiate(ctx)
	if err != nil {
		return 0, err
	}
	// The stream starts a second before the list: events that happen while we
	// list and inspect are replayed by the daemon, so none falls in between.
	since := time.Now().Add(-time.Second)
	if err := w.resync(ctx); err != nil {
		return 0, err
	}

	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var refresh atomic.Bool
	if w.resyncEvery > 0 {
		t := time.AfterFunc(w.resyncEvery, func() { refresh.Store(true); cancel() })
		defer t.Stop()
	}
	st, err := w.c.Events(sctx, since)
	if err != nil {
		if refresh.Load() && ctx.Err() == nil {
			return 0, errRefresh
		}
		return 0, err
	}
	defer st.Close()
	start := time.Now()
	w.connected.Store(true)
	w.mu.Lock()
	n := len(w.known)
	w.mu.Unlock()
	if how != "" {
		w.log.Info("docker events "+how, "api", api, "socket", w.c.Socket(), "containers", n)
	} else {
		w.log.Debug("docker periodic resync done", "containers", n)
	}

	// end ends the session; an error caused by the periodic resync's cancel is
	// the resync, not a failure.
	end := func(err error) (time.Duration, error) {
		if refresh.Load() && ctx.Err() == nil {
			return time.Since(start), errRefresh
		}
		return time.Since(start), err
	}
	var (
		ev    Event
		batch eventBatch
		bad   int
	)
	for {
		err := st.Next(&ev)
		switch {
		case err == nil:
		case errors.Is(err, ErrTooLarge) || errors.Is(err, ErrBadEvent):
			// One event lost (a container with huge labels, a garbled line): the
			// stream is fine, the set may not be. Re-opening the stream would
			// only replay the bad line.
			if bad++; bad > maxBadEvents {
				return end(fmt.Errorf("docker events: %d bad lines, the last: %w", bad, err))
			}
			w.fail(err)
			w.log.Warn("docker event skipped; resynchronising", "err", err)
			if err := w.apply(sctx, &batch); err != nil {
				return end(err)
			}
			if err := w.resync(sctx); err != nil {
				return end(err)
			}
			continue
		case err == io.EOF:
			return end(errors.New("docker events: stream ended by the daemon"))
		default:
			return end(fmt.Errorf("docker events: %w", err))
		}
		w.events.Add(1)
		batch.add(&ev)
		if batch.len() >= 256 || !st.Buffered() {
			if err := w.apply(sctx, &batch); err != nil {
				return end(err)
			}
		}
	}
}

// maxBadEvents is how many skipped event lines a session tolerates (each costs a
// resync) before it gives up on the stream and reconnects with backoff.
const maxBadEvents = 10

// eventBatch is the containers named by the events read so far without waiting,
// each once, in order: a burst (create, start) costs one inspect.
type eventBatch struct {
	ids       []string
	destroyed []bool
}

func (b *eventBatch) len() int { return len(b.ids) }

func (b *eventBatch) add(e *Event) {
	i := slices.Index(b.ids, e.ID)
	if i < 0 {
		b.ids = append(b.ids, e.ID)
		b.destroyed = append(b.destroyed, false)
		i = len(b.ids) - 1
	}
	if e.Action == "destroy" {
		b.destroyed[i] = true
	}
}

// apply brings the containers of b up to date and empties b.
func (w *Watcher) apply(ctx context.Context, b *eventBatch) error {
	defer func() {
		b.ids, b.destroyed = b.ids[:0], b.destroyed[:0]
	}()
	for i, id := range b.ids {
		if b.destroyed[i] {
			w.remove(id)
			continue
		}
		m, err := w.inspect(ctx, id)
		switch {
		case errors.Is(err, ErrNotFound):
			w.remove(id)
		case err != nil:
			if ctx.Err() != nil || isConnError(err) {
				return err
			}
			w.fail(err)
			w.log.Warn("docker inspect failed; keeping the container's last state", "id", short(id), "err", err)
		default:
			w.publish(m)
		}
	}
	return nil
}

// inspect inspects one container, counting. The Meta is not finished yet: see
// finish.
func (w *Watcher) inspect(ctx context.Context, id string) (*container.Meta, error) {
	w.inspects.Add(1)
	m, err := w.c.inspect(ctx, id)
	if errors.Is(err, ErrNotFound) {
		w.inspect404.Add(1)
		w.log.Debug("docker container gone before inspect", "id", short(id))
	}
	return m, err
}

// finish enriches and finishes a freshly inspected Meta. w.mu is held, so that
// an ECS change that Reenrich applies can never be overwritten by a Meta
// enriched from the agent's previous view.
func (w *Watcher) finish(m *container.Meta) {
	if w.enrich != nil {
		w.enrich(m)
	}
	m.Finish()
}

// maxFailedInspects in a row ends a resync: the daemon is not answering.
const maxFailedInspects = 3

// resync lists and inspects every container, publishes a Meta for each and a
// removal for every known one that is gone.
func (w *Watcher) resync(ctx context.Context) error {
	w.lists.Add(1)
	list, err := w.c.List(ctx)
	if err != nil {
		return err
	}
	fresh := make(map[string]*container.Meta, len(list))
	order := make([]string, 0, len(list))
	kept := map[string]bool{} // already finished: the last known Meta
	failed := 0
	for _, s := range list {
		if _, dup := fresh[s.ID]; dup {
			continue
		}
		m, err := w.inspect(ctx, s.ID)
		switch {
		case errors.Is(err, ErrNotFound):
			continue
		case err != nil:
			if failed++; ctx.Err() != nil || isConnError(err) || failed >= maxFailedInspects {
				return err
			}
			// One container the daemon cannot describe now (a stuck container
			// holds its lock): keep what we knew, retry at its next event or resync.
			w.fail(err)
			w.log.Warn("docker inspect failed during resync; keeping the container's last state", "id", short(s.ID), "err", err)
			w.mu.Lock()
			m = w.known[s.ID]
			w.mu.Unlock()
			if m == nil {
				continue
			}
			kept[s.ID] = true
		default:
			failed = 0
		}
		fresh[s.ID] = m
		order = append(order, s.ID)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for id := range w.known {
		if fresh[id] == nil {
			w.push(container.Change{ID: id, Removed: true})
		}
	}
	for _, id := range order {
		if !kept[id] {
			w.finish(fresh[id])
		}
		w.push(container.Change{ID: id, Meta: fresh[id]})
	}
	w.known = fresh
	w.lastResync = time.Now()
	w.resyncs.Add(1)
	return nil
}

// isConnError reports whether err means the daemon cannot be reached at all, as
// opposed to one call failing.
func isConnError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

func (w *Watcher) publish(m *container.Meta) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.finish(m)
	w.known[m.ID] = m
	w.push(container.Change{ID: m.ID, Meta: m})
}

func (w *Watcher) remove(id string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.known, id)
	w.push(container.Change{ID: id, Removed: true})
}

// push queues ch, coalescing with the container's undrained change. w.mu is held.
func (w *Watcher) push(ch container.Change) {
	if w.full {
		return // the next Drain reports the whole set
	}
	_, seen := w.seen[ch.ID]
	if i, ok := w.index[ch.ID]; ok {
		if ch.Removed && !seen {
			// Created and removed between two Drains: the consumer never hears of it.
			w.queue[i] = container.Change{}
			delete(w.index, ch.ID)
			return
		}
		w.queue[i] = ch
		return
	}
	if ch.Removed && !seen {
		return
	}
	if len(w.queue) >= w.qsize {
		n := uint64(len(w.index))
		w.drops.Add(n)
		if w.overflows.Add(1) == 1 {
			w.log.Warn("container change queue overflowed; the next drain reports every container", "dropped", n, "queue_size", w.qsize)
		}
		clear(w.queue)
		w.queue = w.queue[:0]
		clear(w.index)
		w.full = true
		return
	}
	w.index[ch.ID] = len(w.queue)
	w.queue = append(w.queue, ch)
}

// Drain calls fn for every change since the previous Drain, oldest first (one per
// container: intermediate states are coalesced). After a queue overflow it
// reports a Meta for every known container and a removal for every container it
// had reported that is gone. It never waits for I/O, and fn runs without the
// watcher's lock held.
func (w *Watcher) Drain(fn func(container.Change)) {
	w.drainMu.Lock()
	defer w.drainMu.Unlock()

	w.mu.Lock()
	out := w.spare[:0]
	if w.full {
		for id, m := range w.known {
			out = append(out, container.Change{ID: id, Meta: m})
		}
		slices.SortFunc(out, func(a, b container.Change) int { return strings.Compare(a.ID, b.ID) })
		for id := range w.seen {
			if w.known[id] == nil {
				out = append(out, container.Change{ID: id, Removed: true})
			}
		}
		w.full = false
	} else {
		out, w.queue = w.queue, out
		clear(w.index)
	}
	for _, ch := range out {
		switch {
		case ch.ID == "":
		case ch.Removed:
			delete(w.seen, ch.ID)
		default:
			w.seen[ch.ID] = struct{}{}
		}
	}
	w.spare = nil
	w.mu.Unlock()

	for _, ch := range out {
		if ch.ID != "" {
			fn(ch)
		}
	}
	clear(out)
	w.mu.Lock()
	w.spare = out[:0]
	w.mu.Unlock()
}

// Reenrich calls Enrich again on every known container and publishes a change for
// each whose ECS data changed. The ECS poller calls it when the ECS agent's view
// changed: a task's status changes without any Docker event.
func (w *Watcher) Reenrich() {
	if w.enrich == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for id, old := range w.known {
		m := *old
		m.ECS, m.Tags = container.ECS{}, container.Tags{}
		w.enrich(&m)
		m.Finish()
		if m.ECS != old.ECS {
			w.known[id] = &m
			w.push(container.Change{ID: id, Meta: &m})
		}
	}
}

func (w *Watcher) fail(err error) {
	w.errs.Add(1)
	w.mu.Lock()
	w.lastErr = err.Error()
	w.mu.Unlock()
}

// Stats returns the watcher's counters.
func (w *Watcher) Stats() Stats {
	s := Stats{
		Events:     w.events.Load(),
		Inspects:   w.inspects.Load(),
		Inspect404: w.inspect404.Load(),
		Lists:      w.lists.Load(),
		Resyncs:    w.resyncs.Load(),
		Reconnects: w.reconnects.Load(),
		Errors:     w.errs.Load(),
		Drops:      w.drops.Load(),
		Overflows:  w.overflows.Load(),
		Connected:  w.connected.Load(),
		APIVersion: w.c.APIVersion(),
	}
	w.mu.Lock()
	s.Containers = len(w.known)
	s.LastError = w.lastErr
	s.LastResync = w.lastResync
	w.mu.Unlock()
	return s
}
