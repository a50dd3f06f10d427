package ship

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Encoder turns a stored record into HTTP payloads. Encoding is deterministic,
// so payload i of a record is the same after a restart; split > 0 asks for
// finer payloads after a 413, carrying the same items in the same order.
// Encode stops at the first error emit returns and returns it (wrapped or
// not); emit does not retain the payload.
type Encoder interface {
	Encode(kind Kind, record []byte, split int, emit func(*Payload) error) error
}

// DropReason labels every record or payload the Shipper gives up on.
type DropReason uint8

const (
	DropBadRequest DropReason = iota // 400: malformed payload
	DropForbidden                    // 403: invalid API key
	DropTooLarge                     // 413 even after a finer split
	DropExpired                      // record older than the acceptance window
	DropCorrupt                      // unreadable record in the store
	DropEvicted                      // the store evicted the record before delivery
	DropEncode                       // the encoder refused the record
	DropOverflow                     // the store failed and the memory queue was full
	NumDropReasons
)

func (r DropReason) String() string {
	return [...]string{"bad_request", "forbidden", "too_large", "expired", "corrupt", "evicted", "encode", "overflow", "unknown"}[min(r, NumDropReasons)]
}

// Stats are the Shipper's counters since New.
type Stats struct {
	Submitted       uint64 // records accepted by Submit
	Completed       uint64 // records whose payloads were all delivered or dropped
	Payloads        uint64 // payloads the intake accepted
	Bytes           uint64 // body bytes of accepted payloads
	TransportErrors uint64 // requests without a reply (retried)
	HTTPErrors      uint64 // retried replies: 404, 408, 429, 5xx, ...
	StoreErrors     uint64 // store operations that failed
	// Dropped counts by DropReason: payloads for the HTTP reasons, records for
	// the others.
	Dropped [NumDropReasons]uint64
	// Endpoints is each kind's delivery state, for `whippet status`.
	Endpoints [numKinds]EndpointStats
}

// EndpointStats is one endpoint's last exchange and breaker state.
type EndpointStats struct {
	Payloads    uint64    // payloads accepted
	LastSuccess time.Time // last accepted payload
	LastStatus  int       // HTTP status of the last attempt, 0 without a reply
	LastError   string    // the last attempt's error or error reply, "" after a success
	Failures    uint64    // attempts retried
	Breaker     string    // closed, open, half-open
}

// Defaults.
const (
	DefaultMaxAge   = time.Hour // Datadog ignores points older than 1 h
	DefaultQueueLen = 256       // fresh records per kind held in memory
)

// Config wires a Shipper.
type Config struct {
	Store   Store
	Encoder Encoder
	Client  *Client
	Clock   Clock // SystemClock when nil
	Logger  *slog.Logger
	// MaxAge is the acceptance window: older records are dropped, not sent.
	MaxAge time.Duration
	// QueueLen bounds the fresh records held in memory per kind; older ones
	// wait in the store as backlog.
	QueueLen int
}

// ErrClosed is returned by Submit after Close.
var ErrClosed = errors.New("shipper closed")

// Sender control flow inside Encode's emit callback.
var (
	errRetry   = errors.New("retry later")
	errBlocked = errors.New("endpoint blocked")
	errResplit = errors.New("payload too large")
	errStopped = errors.New("shipper stopping")
)

// pending is a record in memory: an id in the store, or the record itself
// (data) when the store refused it.
type pending struct {
	id   uint64
	kind Kind
	data []byte // header and record; nil when in the store
	mark uint32 // progress of a memory-only record
}

// ring is a bounded FIFO that evicts its oldest entry when full.
type ring struct {
	buf     []pending
	head, n int
}

func (r *ring) push(p pending) (old pending, evicted bool) {
	if r.n == len(r.buf) {
		old = r.buf[r.head]
		r.buf[r.head] = p
		r.head = (r.head + 1) % len(r.buf)
		return old, true
	}
	r.buf[(r.head+r.n)%len(r.buf)] = p
	r.n++
	return pending{}, false
}

func (r *ring) pop() (pending, bool) {
	if r.n == 0 {
		return pending{}, false
	}
	p := r.buf[r.head]
	r.buf[r.head] = pending{}
	r.head = (r.head + 1) % len(r.buf)
	r.n--
	return p, true
}

// gone marks a backlog slot already handled.
const gone = ^uint64(0)

// idleWait is how long the sender sleeps with nothing to do; Submit wakes it.
const idleWait = time.Hour

// Shipper delivers records write-ahead: Submit stores a record before it is
// queued, and one sender goroutine delivers fresh records and the stored
// backlog alternately, so neither the present nor the replay starves.
type Shipper struct {
	store  Store
	enc    Encoder
	client *Client
	clock  Clock
	log    *slog.Logger
	maxAge time.Duration

	mu       sync.Mutex // guards the fields below, and orders Append before a backlog scan
	fresh    [numKinds]ring
	queued   map[uint64]struct{} // store ids held in fresh
	mem      []pending           // memory-only records waiting for a retry
	memCap   int
	hdr      []byte
	closed   bool
	stopping atomic.Bool
	dirty    atomic.Bool // the store holds records the backlog list lacks

	wake   chan struct{}
	ctx    context.Context // the sender's; cancelled when Close gives up
	cancel context.CancelFunc
	done   chan struct{}
	st     counters
	logs   logLimiter
	epMu   sync.Mutex
	ep     [numKinds]EndpointStats

	// Sender goroutine only.
	br         [numKinds]breaker
	backlog    []uint64 // store ids, oldest first; gone when handled
	pos        int
	kinds      map[uint64]Kind
	freshTurn  bool
	rr         int
	buf        []byte
	storeWait  time.Time // after a failed read, leave the store alone until then
	cur        delivery
	body       []byte // the record being delivered (aliases buf or a memory record)
	emitFn     func(*Payload) error
	pendingOut bool // records may remain: set when the sender stops early
}

// delivery is the state of the record being sent.
type delivery struct {
	id           uint64
	mem          *pending
	kind         Kind
	split        int
	done         int // payloads of this split level delivered or dropped
	marked       uint32
	idx          int // index of the next emitted payload
	points       int // items in payloads emitted so far
	skip         int // items delivered before a resplit
	pointsBefore int // items before the payload that got a 413
}

type counters struct {
	submitted, completed, payloads, bytes, transport, http, store atomic.Uint64
	dropped                                                       [NumDropReasons]atomic.Uint64
}

// New starts a Shipper. Records already in the store are replayed.
func New(cfg Config) (*Shipper, error) {
	if cfg.Store == nil || cfg.Encoder == nil || cfg.Client == nil {
		return nil, errors.New("new shipper: Store, Encoder and Client are required")
	}
	if cfg.Clock == nil {
		cfg.Clock = SystemClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = DefaultMaxAge
	}
	if cfg.QueueLen <= 0 {
		cfg.QueueLen = DefaultQueueLen
	}
	s := &Shipper{
		store:  cfg.Store,
		enc:    cfg.Encoder,
		client: cfg.Client,
		clock:  cfg.Clock,
		log:    cfg.Logger,
		maxAge: cfg.MaxAge,
		queued: make(map[uint64]struct{}, numKinds*cfg.QueueLen),
		memCap: cfg.QueueLen,
		wake:   make(chan struct{}, 1),
		done:   make(chan struct{}),
		kinds:  make(map[uint64]Kind),
	}
	for k := range s.fresh {
		s.fresh[k].buf = make([]pending, cfg.QueueLen)
	}
	s.emitFn = s.emit
	s.logs.clock = s.clock
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.dirty.Store(true) // replay what a previous run left
	go s.run()
	return s, nil
}

// Submit stores record (it is not retained) and queues it for delivery.
func (s *Shipper) Submit(kind Kind, ts time.Time, record []byte) error {
	return s.submit(kind, ts, nil, record)
}

// SubmitAppend is Submit for a record that app appends to b: encoded straight
// into the Shipper's own buffer, after the header, the record needs no buffer
// of the caller's (one record's size less memory). app runs with the
// Shipper's lock held and must not call it.
func (s *Shipper) SubmitAppend(kind Kind, ts time.Time, app func(b []byte) []byte) error {
	return s.submit(kind, ts, app, nil)
}

func (s *Shipper) submit(kind Kind, ts time.Time, app func([]byte) []byte, record []byte) error {
	if kind >= numKinds {
		return fmt.Errorf("submit: unknown kind %d", kind)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	s.hdr = appendHeader(s.hdr[:0], kind, ts)
	if app != nil {
		s.hdr = app(s.hdr)
	} else {
		s.hdr = append(s.hdr, record...)
	}
	p := pending{kind: kind}
	id, err := s.store.Append(s.hdr)
	if err != nil {
		s.st.store.Add(1)
		s.logs.log(s.log, "store", "store append failed; keeping the record in memory only", "err", err)
		p.data = bytes.Clone(s.hdr)
	} else {
		p.id = id
		s.queued[id] = struct{}{}
	}
	if old, evicted := s.fresh[kind].push(p); evicted {
		s.demoteLocked(old)
	}
	s.mu.Unlock()
	s.st.submitted.Add(1)
	s.poke()
	return nil
}

// demoteLocked moves a fresh record to the backlog: the store's, or the
// bounded memory list for records the store refused.
func (s *Shipper) demoteLocked(p pending) {
	if p.data == nil {
		delete(s.queued, p.id)
		s.dirty.Store(true)
		return
	}
	if len(s.mem) >= s.memCap {
		s.st.dropped[DropOverflow].Add(1)
		s.logs.log(s.log, DropOverflow.String(), "dropped a record: the store failed and the memory queue is full")
		copy(s.mem, s.mem[1:]) // drop the oldest
		s.mem = s.mem[:len(s.mem)-1]
	}
	s.mem = append(s.mem, p)
}

// demoteFresh moves kind k's queued fresh records to the backlog when its
// endpoint fails: what arrives after the failure is the fresh data at recovery,
// and what came before is replayed oldest-first.
func (s *Shipper) demoteFresh(k Kind) {
	s.mu.Lock()
	for {
		p, ok := s.fresh[k].pop()
		if !ok {
			break
		}
		if p.data == nil {
			s.kinds[p.id] = k
		}
		s.demoteLocked(p)
	}
	s.mu.Unlock()
}

func (s *Shipper) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Stats returns a snapshot of the counters.
func (s *Shipper) Stats() Stats {
	st := Stats{
		Submitted:       s.st.submitted.Load(),
		Completed:       s.st.completed.Load(),
		Payloads:        s.st.payloads.Load(),
		Bytes:           s.st.bytes.Load(),
		TransportErrors: s.st.transport.Load(),
		HTTPErrors:      s.st.http.Load(),
		StoreErrors:     s.st.store.Load(),
	}
	for i := range st.Dropped {
		st.Dropped[i] = s.st.dropped[i].Load()
	}
	s.epMu.Lock()
	st.Endpoints = s.ep
	s.epMu.Unlock()
	return st
}

// noteOutcome records an attempt's result for Stats.
func (s *Shipper) noteOutcome(k Kind, out Outcome, ok bool, now time.Time, br *breaker) {
	s.epMu.Lock()
	e := &s.ep[k]
	e.LastStatus = out.Status
	e.Breaker = br.state.String()
	switch {
	case ok:
		e.LastSuccess, e.LastError = now, ""
		e.Payloads++
	case out.Err != nil:
		e.LastError = out.Err.Error()
		e.Failures++
	default:
		e.LastError = fmt.Sprintf("HTTP %d %s", out.Status, out.Detail)
		e.Failures++
	}
	s.epMu.Unlock()
}

// Close stops accepting records and delivers what it can until ctx ends; what
// is left stays in the store for the next run. It returns ctx's error when
// records were left.
func (s *Shipper) Close(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		<-s.done
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.stopping.Store(true)
	s.poke()
	select {
	case <-s.done:
	case <-ctx.Done():
		s.cancel()
		<-s.done
	}
	s.cancel()
	if s.pendingOut {
		return fmt.Errorf("close shipper: records left in the store: %w", context.Cause(ctx))
	}
	return nil
}

// run is the sender goroutine.
func (s *Shipper) run() {
	defer close(s.done)
	for s.ctx.Err() == nil {
		if s.step() {
			continue
		}
		if s.stopping.Load() && !s.hasWork() {
			return
		}
		s.clock.Sleep(s.ctx, s.waitFor(), s.wake)
	}
	s.pendingOut = s.hasWork()
}

// step handles one record, alternating fresh and backlog; false when nothing
// could be sent now.
func (s *Shipper) step() bool {
	for range 2 {
		var ok bool
		if s.freshTurn {
			ok = s.stepFresh()
		} else {
			ok = s.stepBacklog()
		}
		s.freshTurn = !s.freshTurn
		if ok {
			return true
		}
	}
	if s.dirty.Swap(false) {
		s.rescan()
		return s.stepBacklog()
	}
	return false
}

func (s *Shipper) stepFresh() bool {
	now := s.clock.Now()
	for i := range numKinds {
		k := Kind((s.rr + i) % numKinds)
		if !s.br[k].ready(now) {
			continue
		}
		s.mu.Lock()
		p, ok := s.fresh[k].pop()
		if ok && p.data == nil {
			delete(s.queued, p.id)
		}
		s.mu.Unlock()
		if !ok {
			continue
		}
		s.rr = int(k) + 1
		if p.data != nil {
			s.sendMem(p)
			return true
		}
		switch {
		case !s.storeReady(now):
		case !s.load(p.id):
			if s.storeReady(now) {
				return true // dropped and counted
			}
		case s.deliver():
			return true
		}
		// Not delivered yet, or the store failed: it waits in the backlog.
		s.kinds[p.id] = p.kind
		s.dirty.Store(true)
		return true
	}
	return false
}

func (s *Shipper) stepBacklog() bool {
	now := s.clock.Now()
	s.mu.Lock()
	for i, p := range s.mem {
		if s.br[p.kind].ready(now) {
			s.mem = append(s.mem[:i], s.mem[i+1:]...)
			s.mu.Unlock()
			s.sendMem(p)
			return true
		}
	}
	s.mu.Unlock()
	if !s.storeReady(now) {
		return false
	}
	for i := s.pos; i < len(s.backlog); i++ {
		id := s.backlog[i]
		if id == gone {
			if i == s.pos {
				s.pos++
			}
			continue
		}
		if k, ok := s.kinds[id]; ok && !s.br[k].ready(now) {
			continue
		}
		if !s.load(id) {
			if s.storeReady(now) { // dropped, not a transient failure
				s.backlog[i] = gone
				delete(s.kinds, id)
			}
			return true
		}
		s.kinds[id] = s.cur.kind
		if !s.br[s.cur.kind].ready(now) {
			continue
		}
		if s.deliver() {
			s.backlog[i] = gone
			delete(s.kinds, id)
		}
		return true
	}
	return false
}

// rescan rebuilds the backlog from the store, leaving out queued fresh records.
func (s *Shipper) rescan() {
	s.mu.Lock()
	ids := s.store.IDs(s.backlog[:0])
	n := 0
	for _, id := range ids {
		if _, q := s.queued[id]; !q {
			ids[n] = id
			n++
		}
	}
	s.mu.Unlock()
	s.backlog, s.pos = ids[:n], 0
	if len(s.kinds) > 2*n+64 { // forget ids the store evicted
		kinds := make(map[uint64]Kind, n)
		for _, id := range s.backlog {
			if k, ok := s.kinds[id]; ok {
				kinds[id] = k
			}
		}
		s.kinds = kinds
	}
}

func (s *Shipper) storeReady(now time.Time) bool { return !now.Before(s.storeWait) }

// hasWork reports whether records may still be waiting.
func (s *Shipper) hasWork() bool {
	if s.dirty.Load() {
		return true
	}
	for _, id := range s.backlog[s.pos:] {
		if id != gone {
			return true
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.mem)
	for k := range s.fresh {
		n += s.fresh[k].n
	}
	return n > 0
}

// waitFor is how long to sleep: until the first open breaker may probe, or
// the store may be retried.
func (s *Shipper) waitFor() time.Duration {
	now := s.clock.Now()
	d := idleWait
	for k := range s.br {
		if b := &s.br[k]; b.state == open {
			d = min(d, b.until.Sub(now))
		}
	}
	if now.Before(s.storeWait) {
		d = min(d, s.storeWait.Sub(now))
	}
	return max(d, 0)
}

// load reads store record id into s.cur; false when it cannot be sent now:
// dropped (counted), or the store failed and storeWait is set.
func (s *Shipper) load(id uint64) bool {
	data, mark, err := s.store.Read(id, s.buf[:0])
	if cap(data) > cap(s.buf) {
		s.buf = data[:0]
	}
	if err == nil {
		var k Kind
		var ts time.Time
		var body []byte
		if k, ts, body, err = parseHeader(data); err == nil {
			return s.start(id, nil, k, ts, body, mark)
		}
	}
	switch {
	case errors.Is(err, ErrNotFound):
		s.dropRecord(DropEvicted, "record evicted from the store before delivery", "id", id)
	case errors.Is(err, ErrCorrupt):
		s.dropRecord(DropCorrupt, "corrupt record in the store", "id", id, "err", err)
		s.ack(id)
	default:
		s.st.store.Add(1)
		s.logs.log(s.log, "store", "store read failed", "id", id, "err", err)
		s.storeWait = s.clock.Now().Add(time.Second)
	}
	return false
}

// start prepares s.cur, dropping records older than the acceptance window.
func (s *Shipper) start(id uint64, mem *pending, k Kind, ts time.Time, body []byte, mark uint32) bool {
	if age := s.clock.Now().Sub(ts); age > s.maxAge {
		s.dropRecord(DropExpired, "record older than the acceptance window", "kind", k, "age", age.Round(time.Second))
		if mem == nil {
			s.ack(id)
		}
		return false
	}
	split, done := unpackMark(mark)
	s.cur = delivery{id: id, mem: mem, kind: k, split: split, done: done, marked: mark}
	s.body = body
	return true
}

// sendMem delivers a memory-only record, returning it to the memory list when
// it must wait.
func (s *Shipper) sendMem(p pending) {
	k, ts, body, err := parseHeader(p.data)
	if err != nil { // cannot happen: Submit wrote it
		s.dropRecord(DropCorrupt, "corrupt memory record", "err", err)
		return
	}
	if !s.start(0, &p, k, ts, body, p.mark) || s.deliver() {
		return
	}
	s.mu.Lock()
	s.demoteLocked(p)
	s.mu.Unlock()
}

// deliver sends s.cur's payloads from its progress mark on; true when the
// record is finished (all payloads delivered or dropped), false when it waits.
func (s *Shipper) deliver() bool {
	c := &s.cur
	for {
		c.idx, c.points = 0, 0
		err := s.enc.Encode(c.kind, s.body, c.split, s.emitFn)
		switch {
		case err == nil:
			s.st.completed.Add(1)
			s.finish()
			return true
		case errors.Is(err, errResplit) && c.split == 0:
			// Re-encode finer once; the items of the payloads before the
			// refused one were delivered and are skipped by count.
			c.split, c.done, c.skip = 1, 0, c.pointsBefore
			continue
		case errors.Is(err, errRetry), errors.Is(err, errBlocked), errors.Is(err, errStopped):
			if c.skip == 0 { // after a resplit, progress is only marked once a finer payload went
				s.persist()
			}
			return false
		default:
			s.dropRecord(DropEncode, "encoder refused the record", "kind", c.kind, "err", err)
			s.finish()
			return true
		}
	}
}

// emit is Encode's callback: it sends one payload unless already delivered.
func (s *Shipper) emit(p *Payload) error {
	c := &s.cur
	i := c.idx
	c.idx++
	before := c.points
	c.points += p.Points
	if i < c.done {
		return nil
	}
	if c.skip > 0 {
		if c.points <= c.skip {
			c.done = i + 1
			return nil
		}
		c.skip = 0
	}
	if s.ctx.Err() != nil {
		return errStopped
	}
	br := &s.br[c.kind]
	now := s.clock.Now()
	if !br.begin(now) {
		return errBlocked
	}
	s.persist() // progress before this payload, so a crash resends at most it
	out := s.client.Send(s.ctx, p, now)
	if out.Err != nil && s.ctx.Err() != nil {
		br.abort()
		return errStopped
	}
	cls := classify(out)
	defer func() { s.noteOutcome(c.kind, out, cls == delivered, now, br) }()
	switch cls {
	case delivered:
		br.success()
		s.st.payloads.Add(1)
		s.st.bytes.Add(uint64(len(p.Body)))
	case dropBadRequest:
		br.success()
		s.dropPayload(DropBadRequest, out)
	case dropForbidden:
		br.success()
		s.dropPayload(DropForbidden, out)
	case tooLarge:
		br.success()
		if c.split == 0 {
			c.pointsBefore = before
			return errResplit
		}
		s.dropPayload(DropTooLarge, out)
	default:
		wait := br.failure(now, out.RetryAfter)
		s.demoteFresh(c.kind)
		if out.Err != nil {
			s.st.transport.Add(1)
			s.logs.log(s.log, "transport", "intake unreachable; retrying", "kind", c.kind, "err", out.Err, "retry_in", wait)
		} else {
			s.st.http.Add(1)
			s.logs.log(s.log, "http", "intake error; retrying", "kind", c.kind, "status", out.Status, "detail", out.Detail, "retry_in", wait)
		}
		return errRetry
	}
	c.done = i + 1
	return nil
}

// persist records progress when it changed.
func (s *Shipper) persist() {
	c := &s.cur
	m := packMark(c.split, c.done)
	if m == c.marked {
		return
	}
	c.marked = m
	if c.mem != nil {
		c.mem.mark = m
		return
	}
	if err := s.store.Mark(c.id, m); err != nil {
		s.st.store.Add(1)
		s.logs.log(s.log, "store", "store mark failed", "id", c.id, "err", err)
	}
}

func (s *Shipper) finish() {
	if s.cur.mem == nil {
		s.ack(s.cur.id)
	}
}

func (s *Shipper) ack(id uint64) {
	if err := s.store.Ack(id); err != nil && !errors.Is(err, ErrNotFound) {
		s.st.store.Add(1)
		s.logs.log(s.log, "store", "store ack failed", "id", id, "err", err)
	}
}

func (s *Shipper) dropRecord(r DropReason, msg string, args ...any) {
	s.st.dropped[r].Add(1)
	s.logs.log(s.log, r.String(), "dropped: "+msg, args...)
}

func (s *Shipper) dropPayload(r DropReason, out Outcome) {
	s.st.dropped[r].Add(1)
	msg := "dropped a payload the intake refused"
	if r == DropForbidden {
		msg = "dropped a payload: API key invalid (403)"
	}
	s.logs.log(s.log, r.String(), msg, "kind", s.cur.kind, "status", out.Status, "detail", out.Detail)
}

// logLimiter logs each reason at most once a minute, with the number of
// occurrences it held back, so an outage or a bad key does not flood the log.
type logLimiter struct {
	mu    sync.Mutex
	clock Clock
	last  map[string]time.Time
	held  map[string]int
}

const logEvery = time.Minute

func (l *logLimiter) log(log *slog.Logger, reason, msg string, args ...any) {
	l.mu.Lock()
	if l.last == nil {
		l.last, l.held = make(map[string]time.Time), make(map[string]int)
	}
	now := l.clock.Now()
	if t, ok := l.last[reason]; ok && now.Sub(t) < logEvery {
		l.held[reason]++
		l.mu.Unlock()
		return
	}
	held := l.held[reason]
	l.last[reason], l.held[reason] = now, 0
	l.mu.Unlock()
	log.Warn(msg, append(args, "reason", reason, "suppressed", held)...)
}
