// Package fakeintake is a fake Datadog intake for tests and manual runs: it
// accepts what the real metrics and Live Processes intakes accept (series v2 as
// protobuf or JSON, series v1, key validation, V3 process envelopes), refuses
// what they refuse with the same status codes, keeps every decoded point and
// process message for inspection, and injects faults (forced statuses,
// latency, connection resets, black holes) on demand.
//
// It decodes with agent-payload's own types and klauspost's decompressors,
// never with whippet's encoders, so that it is an independent oracle for them.
// Main runs it standalone (`whippet fakeintake`) for manual runs.
package fakeintake

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/DataDog/agent-payload/v5/gogen"
	"github.com/DataDog/agent-payload/v5/process"
)

// Routes the intake serves.
const (
	RouteSeriesV2  = "/api/v2/series"
	RouteSeriesV1  = "/api/v1/series"
	RouteValidate  = "/api/v1/validate"
	RouteCollector = "/api/v1/collector"
)

// Default limits, from Datadog's API documentation and the agent's serializer
// settings (spec datadog-compat.md §3.2, §4.1).
const (
	DefaultSeriesMaxCompressed   = 512_000
	DefaultSeriesMaxUncompressed = 5_242_880
	// DefaultProcessMaxBytes bounds a process payload on the wire; the agent
	// chunks its messages at process_config.max_message_bytes = 1,000,000.
	DefaultProcessMaxBytes = 1_000_000
	// The legacy v1 series limits (3.2 MB compressed, 62 MB uncompressed).
	v1MaxCompressed   = 3_200_000
	v1MaxUncompressed = 62_000_000
)

// Options configure an Intake.
type Options struct {
	// APIKey is the only DD-API-KEY accepted; empty accepts any non-empty key.
	// Requests without an accepted key get 403 {"errors":["Forbidden"]}.
	APIKey string
	// Limits on request bodies (compressed, as received) and on the
	// decompressed series payload; 0 means the Default* constant. Bigger
	// bodies get 413.
	SeriesMaxCompressed   int64
	SeriesMaxUncompressed int64
	ProcessMaxBytes       int64
	// OnRequest, if set, is called after each request with its summary (from
	// the request's goroutine, without the intake's lock held).
	OnRequest func(Request)
	// Log receives a debug line per request; nil discards.
	Log *slog.Logger
}

// Point is one accepted series point, flattened.
type Point struct {
	Metric    string
	Type      gogen.MetricPayload_MetricType
	Host      string // the "host" resource (v2) or the host field (v1)
	Tags      []string
	Timestamp int64 // unix seconds
	Value     float64
	Interval  int64
}

// ProcMessage is one accepted CollectorProc with the headers the agent sends
// alongside it.
type ProcMessage struct {
	Msg            *process.CollectorProc
	Encoding       process.MessageEncoding
	Hostname       string // X-Dd-Hostname
	ContainerCount int    // X-Dd-ContainerCount
	RequestID      string // X-DD-Request-ID
	Header         http.Header
}

// Request summarises one request as the intake saw it.
type Request struct {
	Time         time.Time
	Method, Path string
	Status       int    // 0 when the intake never answered (reset, black hole)
	Reason       string // why a request was refused, or the injected fault
	ContentType  string
	Encoding     string // Content-Encoding, or the envelope encoding for processes
	Bytes        int    // body bytes as received
	Decompressed int
	Points       int
	Processes    int
	Containers   int
	Header       http.Header
}

// Key indexes Stats.Requests.
type Key struct {
	Route  string
	Status int
}

// Stats are the intake's counters since New or the last Reset.
type Stats struct {
	Requests            map[Key]int      // by route and status (0: no answer)
	Bytes               map[string]int64 // body bytes of accepted requests, by route
	Garbage             int              // bodies refused as undecodable (400)
	DuplicateBodies     int              // an accepted body seen accepted before on the same route
	DuplicateRequestIDs int              // an accepted X-DD-Request-ID seen before
	Resets              int              // connections reset by a fault
	BlackHoled          int              // requests swallowed by a fault
	Held                int              // requests held right now by latency or a black hole
}

// Fault is an injected misbehaviour. Latency delays the request; then, in
// order of precedence, BlackHole holds it unanswered until the fault is cleared
// or the intake closed (and then drops the connection), Reset drops the
// connection with an RST, and Status answers with that code (and Retry-After
// when set) without looking at the body. A Fault with only Latency lets the
// request through afterwards.
type Fault struct {
	Route      string // "" for every route
	Latency    time.Duration
	Status     int
	RetryAfter string
	Reset      bool
	BlackHole  bool
}

func (f Fault) String() string {
	var b []byte
	if f.Latency > 0 {
		b = fmt.Appendf(b, "latency %v ", f.Latency)
	}
	switch {
	case f.BlackHole:
		b = append(b, "black hole"...)
	case f.Reset:
		b = append(b, "reset"...)
	case f.Status != 0:
		b = fmt.Appendf(b, "status %d", f.Status)
		if f.RetryAfter != "" {
			b = fmt.Appendf(b, " Retry-After %s", f.RetryAfter)
		}
	}
	return "injected " + string(bytes.TrimSpace(b))
}

// Intake is the fake intake. It is an http.Handler; Start and StartTLS serve it
// on a local port. All methods are safe for concurrent use.
type Intake struct {
	opt Options
	log *slog.Logger

	mu         sync.Mutex
	points     []Point
	procs      []ProcMessage
	requests   []Request
	stats      Stats
	bodies     map[[sha256.Size]byte]struct{}
	requestIDs map[string]struct{}
	changed    chan struct{} // closed and replaced after every request

	queue   []Fault
	fixed   *Fault
	release chan struct{} // closed to release black-holed requests
	closed  bool
	servers []*httptest.Server
}

// New returns an intake with o's settings.
func New(o Options) *Intake {
	if o.SeriesMaxCompressed <= 0 {
		o.SeriesMaxCompressed = DefaultSeriesMaxCompressed
	}
	if o.SeriesMaxUncompressed <= 0 {
		o.SeriesMaxUncompressed = DefaultSeriesMaxUncompressed
	}
	if o.ProcessMaxBytes <= 0 {
		o.ProcessMaxBytes = DefaultProcessMaxBytes
	}
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	in := &Intake{opt: o, log: log, changed: make(chan struct{}), release: make(chan struct{})}
	in.resetLocked()
	return in
}

func (in *Intake) resetLocked() {
	in.points = nil
	in.procs = nil
	in.requests = nil
	in.stats = Stats{Requests: map[Key]int{}, Bytes: map[string]int64{}, Held: in.stats.Held}
	in.bodies = map[[sha256.Size]byte]struct{}{}
	in.requestIDs = map[string]struct{}{}
}

// Start serves the intake over plain HTTP on a loopback port and returns its
// base URL. Close stops it.
func (in *Intake) Start() string {
	s := in.newServer()
	s.Start()
	return s.URL
}

// StartTLS serves the intake over HTTPS (HTTP/1.1, a self-signed certificate
// for 127.0.0.1 and example.com) and returns its base URL and a pool holding
// the certificate for clients to trust.
func (in *Intake) StartTLS() (string, *x509.CertPool) {
	s := in.newServer()
	s.StartTLS()
	pool := x509.NewCertPool()
	pool.AddCert(s.Certificate())
	return s.URL, pool
}

// newServer returns an unstarted server whose errors (TLS handshakes of
// clients that do not trust it, dropped connections) go to the debug log.
func (in *Intake) newServer() *httptest.Server {
	s := httptest.NewUnstartedServer(in)
	s.Config.ErrorLog = slog.NewLogLogger(in.log.Handler(), slog.LevelDebug)
	in.mu.Lock()
	defer in.mu.Unlock()
	in.servers = append(in.servers, s)
	return s
}

// Close releases black-holed requests and stops the servers Start and
// StartTLS began. It is idempotent.
func (in *Intake) Close() {
	in.mu.Lock()
	if in.closed {
		in.mu.Unlock()
		return
	}
	in.closed = true
	close(in.release)
	servers := in.servers
	in.servers = nil
	in.mu.Unlock()
	for _, s := range servers {
		s.CloseClientConnections()
		s.Close()
	}
}

// QueueFaults makes the next n requests (to f.Route, or to any route) suffer f.
// Queued faults are used before a fault set with SetFault.
func (in *Intake) QueueFaults(f Fault, n int) {
	in.mu.Lock()
	defer in.mu.Unlock()
	for range n {
		in.queue = append(in.queue, f)
	}
}

// SetFault makes every request (to f.Route, or to any route) suffer f until
// ClearFaults.
func (in *Intake) SetFault(f Fault) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.fixed = &f
}

// ClearFaults drops queued and fixed faults and releases black-holed requests.
func (in *Intake) ClearFaults() {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.queue = nil
	in.fixed = nil
	if !in.closed {
		close(in.release)
		in.release = make(chan struct{})
	}
}

// takeFault returns the fault for a request to route, consuming a queued one.
func (in *Intake) takeFault(route string) (Fault, <-chan struct{}, bool) {
	in.mu.Lock()
	defer in.mu.Unlock()
	for i, f := range in.queue {
		if f.Route == "" || f.Route == route {
			in.queue = slices.Delete(in.queue, i, i+1)
			return f, in.release, true
		}
	}
	if in.fixed != nil && (in.fixed.Route == "" || in.fixed.Route == route) {
		return *in.fixed, in.release, true
	}
	return Fault{}, nil, false
}

// Points returns a copy of every accepted point, in arrival order.
func (in *Intake) Points() []Point {
	in.mu.Lock()
	defer in.mu.Unlock()
	return clonePoints(in.points, func(Point) bool { return true })
}

// Series returns a copy of the accepted points of one metric.
func (in *Intake) Series(metric string) []Point {
	in.mu.Lock()
	defer in.mu.Unlock()
	return clonePoints(in.points, func(p Point) bool { return p.Metric == metric })
}

func clonePoints(ps []Point, keep func(Point) bool) []Point {
	var out []Point
	for _, p := range ps {
		if keep(p) {
			p.Tags = slices.Clone(p.Tags)
			out = append(out, p)
		}
	}
	return out
}

// Processes returns a deep copy of every accepted CollectorProc message.
func (in *Intake) Processes() []ProcMessage {
	in.mu.Lock()
	defer in.mu.Unlock()
	out := make([]ProcMessage, 0, len(in.procs))
	for _, p := range in.procs {
		p.Msg = cloneProc(p.Msg)
		p.Header = p.Header.Clone()
		out = append(out, p)
	}
	return out
}

func cloneProc(m *process.CollectorProc) *process.CollectorProc {
	b, err := m.Marshal()
	c := &process.CollectorProc{}
	if err == nil {
		err = c.Unmarshal(b)
	}
	if err != nil {
		// A message we decoded always re-encodes; fall back to sharing it.
		return m
	}
	return c
}

// Requests returns a copy of every request's summary, in arrival order.
func (in *Intake) Requests() []Request {
	in.mu.Lock()
	defer in.mu.Unlock()
	out := slices.Clone(in.requests)
	for i := range out {
		out[i].Header = out[i].Header.Clone()
	}
	return out
}

// Stats returns a copy of the counters.
func (in *Intake) Stats() Stats {
	in.mu.Lock()
	defer in.mu.Unlock()
	s := in.stats
	s.Requests = maps.Clone(s.Requests)
	s.Bytes = maps.Clone(s.Bytes)
	return s
}

// Count returns how many requests to route got status.
func (in *Intake) Count(route string, status int) int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.stats.Requests[Key{route, status}]
}

// Reset forgets every point, message, request and counter. Faults stay.
func (in *Intake) Reset() {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.resetLocked()
}

// WaitFor returns when cond holds, checking it after every request, or with
// ctx's error. cond is called without the intake's lock, so it may use the
// accessors.
func (in *Intake) WaitFor(ctx context.Context, cond func(*Intake) bool) error {
	for {
		in.mu.Lock()
		ch := in.changed
		in.mu.Unlock()
		if cond(in) {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("wait for intake: %w", ctx.Err())
		}
	}
}

// outcome is what handling a request produced, recorded under the lock.
type outcome struct {
	req        Request
	points     []Point
	proc       *ProcMessage
	body       []byte // hashed for duplicates when accepted
	garbage    bool
	resetConn  bool
	blackHoled bool
}

// record stores an outcome and wakes WaitFor.
func (in *Intake) record(route string, o *outcome) {
	in.mu.Lock()
	in.stats.Requests[Key{route, o.req.Status}]++
	accepted := o.req.Status >= 200 && o.req.Status < 300
	if accepted && o.body != nil {
		in.stats.Bytes[route] += int64(len(o.body))
		h := sha256.New()
		h.Write([]byte(route))
		h.Write(o.body)
		var sum [sha256.Size]byte
		h.Sum(sum[:0])
		if _, ok := in.bodies[sum]; ok {
			in.stats.DuplicateBodies++
		}
		in.bodies[sum] = struct{}{}
	}
	if accepted {
		in.points = append(in.points, o.points...)
		if o.proc != nil {
			if id := o.proc.RequestID; id != "" {
				if _, ok := in.requestIDs[id]; ok {
					in.stats.DuplicateRequestIDs++
				}
				in.requestIDs[id] = struct{}{}
			}
			in.procs = append(in.procs, *o.proc)
		}
	}
	if o.garbage {
		in.stats.Garbage++
	}
	if o.resetConn {
		in.stats.Resets++
	}
	if o.blackHoled {
		in.stats.BlackHoled++
	}
	in.requests = append(in.requests, o.req)
	close(in.changed)
	in.changed = make(chan struct{})
	in.mu.Unlock()

	in.log.Debug("fakeintake request", "method", o.req.Method, "path", o.req.Path, "status", o.req.Status, "reason", o.req.Reason)
	if in.opt.OnRequest != nil {
		in.opt.OnRequest(o.req)
	}
}

// ServeHTTP implements http.Handler. Each request is recorded before its
// answer is written, so a client that got a 2xx finds its data stored.
func (in *Intake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	route := r.URL.Path
	o := &outcome{req: Request{
		Time:        time.Now(),
		Method:      r.Method,
		Path:        r.URL.Path,
		ContentType: r.Header.Get("Content-Type"),
		Encoding:    r.Header.Get("Content-Encoding"),
		Header:      r.Header.Clone(),
	}}
	if f, release, ok := in.takeFault(route); ok {
		if done := in.applyFault(w, r, route, f, release, o); done {
			return
		}
	}

	status, body := in.handle(route, r, o)
	if status >= 400 && o.req.Reason == "" {
		o.req.Reason = http.StatusText(status)
	}
	o.req.Status = status
	in.record(route, o)
	w.Header().Set("Content-Type", "application/json")
	if route == RouteCollector && status == http.StatusOK {
		w.Header().Set("Content-Type", "application/x-protobuf")
	}
	w.WriteHeader(status)
	w.Write(body)
}

// applyFault carries out f and reports whether the request is finished (and
// recorded).
func (in *Intake) applyFault(w http.ResponseWriter, r *http.Request, route string, f Fault, release <-chan struct{}, o *outcome) bool {
	o.req.Reason = f.String()
	in.hold(1)
	defer in.hold(-1)
	if f.Latency > 0 {
		t := time.NewTimer(f.Latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			o.req.Reason += "; client went away"
			in.record(route, o)
			return true
		case <-release:
			t.Stop()
		}
	}
	switch {
	case f.BlackHole:
		o.blackHoled = true
		in.record(route, o)
		select {
		case <-release:
		case <-r.Context().Done():
		}
		dropConn(w, false)
		return true
	case f.Reset:
		o.resetConn = true
		in.record(route, o)
		dropConn(w, true)
		return true
	case f.Status != 0:
		io.Copy(io.Discard, io.LimitReader(r.Body, in.opt.ProcessMaxBytes+in.opt.SeriesMaxCompressed))
		o.req.Status = f.Status
		in.record(route, o)
		if f.RetryAfter != "" {
			w.Header().Set("Retry-After", f.RetryAfter)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(f.Status)
		w.Write(errorBody(o.req.Reason))
		return true
	}
	o.req.Reason = ""
	return false
}

// hold counts requests a fault holds, and wakes WaitFor.
func (in *Intake) hold(n int) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.stats.Held += n
	close(in.changed)
	in.changed = make(chan struct{})
}

// dropConn closes the request's connection without an answer; with rst the
// kernel sends a TCP reset instead of a FIN.
func dropConn(w http.ResponseWriter, rst bool) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler) // HTTP/2 or a test recorder: abort the stream instead
	}
	if rst {
		c := conn
		if tc, ok := c.(interface{ NetConn() net.Conn }); ok {
			c = tc.NetConn()
		}
		if tcp, ok := c.(*net.TCPConn); ok {
			tcp.SetLinger(0)
		}
	}
	conn.Close()
}

func errorBody(reasons ...string) []byte {
	b, _ := json.Marshal(struct {
		Errors []string `json:"errors"`
	}{reasons})
	return b
}

var forbidden = errorBody("Forbidden")

// handle serves a request the faults let through.
func (in *Intake) handle(route string, r *http.Request, o *outcome) (int, []byte) {
	var method string
	switch route {
	case RouteSeriesV2, RouteSeriesV1, RouteCollector:
		method = http.MethodPost
	case RouteValidate:
		method = http.MethodGet
	default:
		return http.StatusNotFound, errorBody("no route " + route)
	}
	if r.Method != method {
		return http.StatusMethodNotAllowed, errorBody(r.Method + " not allowed on " + route)
	}
	if !in.keyOK(r.Header.Get("Dd-Api-Key")) {
		o.req.Reason = "API key missing or invalid"
		return http.StatusForbidden, forbidden
	}
	switch route {
	case RouteValidate:
		return http.StatusOK, []byte(`{"valid":true}`)
	case RouteSeriesV2:
		return in.series(r, o, in.opt.SeriesMaxCompressed, in.opt.SeriesMaxUncompressed, decodeV2)
	case RouteSeriesV1:
		return in.series(r, o, v1MaxCompressed, v1MaxUncompressed, decodeV1)
	default:
		return in.collector(r, o)
	}
}

func (in *Intake) keyOK(key string) bool {
	if in.opt.APIKey == "" {
		return key != ""
	}
	return key == in.opt.APIKey
}

// refuse records why a request was refused and returns the answer.
func refuse(o *outcome, status int, format string, args ...any) (int, []byte) {
	o.req.Reason = fmt.Sprintf(format, args...)
	if status == http.StatusBadRequest {
		o.garbage = true
	}
	return status, errorBody(o.req.Reason)
}

// readBody reads at most max bytes of the body, reporting whether it was longer.
func readBody(r *http.Request, max int64) ([]byte, bool, error) {
	b, err := io.ReadAll(io.LimitReader(r.Body, max+1))
	if err != nil {
		return nil, false, fmt.Errorf("read body: %w", err)
	}
	return b, int64(len(b)) > max, nil
}

func (in *Intake) series(r *http.Request, o *outcome, maxC, maxU int64, decode func(ct string, b []byte) ([]Point, error)) (int, []byte) {
	ct, err := mediaType(o.req.ContentType)
	if err != nil {
		return refuse(o, http.StatusUnsupportedMediaType, "Content-Type %q: %v", o.req.ContentType, err)
	}
	body, tooBig, err := readBody(r, maxC)
	if err != nil {
		return refuse(o, http.StatusBadRequest, "%v", err)
	}
	o.req.Bytes = len(body)
	if tooBig {
		return refuse(o, http.StatusRequestEntityTooLarge, "body larger than %d bytes", maxC)
	}
	raw, err := decompress(o.req.Encoding, body, maxU)
	o.req.Decompressed = len(raw)
	switch {
	case err == errUnsupportedEncoding:
		return refuse(o, http.StatusUnsupportedMediaType, "Content-Encoding %q not supported", o.req.Encoding)
	case err == errTooLarge:
		return refuse(o, http.StatusRequestEntityTooLarge, "decompressed body larger than %d bytes", maxU)
	case err != nil:
		return refuse(o, http.StatusBadRequest, "decompress %s: %v", o.req.Encoding, err)
	}
	points, err := decode(ct, raw)
	if err != nil {
		if err == errUnsupportedType {
			return refuse(o, http.StatusUnsupportedMediaType, "Content-Type %q not supported", o.req.ContentType)
		}
		return refuse(o, http.StatusBadRequest, "decode payload: %v", err)
	}
	for i := range points {
		if points[i].Metric == "" {
			return refuse(o, http.StatusBadRequest, "series without a metric name")
		}
	}
	o.points = points
	o.req.Points = len(points)
	o.body = body
	if r.URL.Path == RouteSeriesV1 {
		return http.StatusAccepted, []byte(`{"status":"ok"}`)
	}
	return http.StatusAccepted, []byte(`{"errors":[]}`)
}

// accepted process envelope encodings: protobuf, JSON, pure-Go zstd.
var procEncodings = map[process.MessageEncoding]string{
	process.MessageEncodingProtobuf:     "protobuf",
	process.MessageEncodingJSON:         "json",
	process.MessageEncodingZstdPBxNoCgo: "zstd-nocgo",
}

func (in *Intake) collector(r *http.Request, o *outcome) (int, []byte) {
	if e := o.req.Encoding; e != "" && e != "identity" {
		return refuse(o, http.StatusUnsupportedMediaType, "Content-Encoding %q on a process payload (compression belongs in the envelope)", e)
	}
	body, tooBig, err := readBody(r, in.opt.ProcessMaxBytes)
	if err != nil {
		return refuse(o, http.StatusBadRequest, "%v", err)
	}
	o.req.Bytes = len(body)
	if tooBig {
		return refuse(o, http.StatusRequestEntityTooLarge, "body larger than %d bytes", in.opt.ProcessMaxBytes)
	}
	h, _, err := process.ReadHeader(body)
	if err != nil {
		return refuse(o, http.StatusBadRequest, "envelope header: %v", err)
	}
	if h.Version != process.MessageV3 {
		return refuse(o, http.StatusBadRequest, "envelope version %d, want 3", h.Version)
	}
	enc, ok := procEncodings[h.Encoding]
	if !ok {
		return refuse(o, http.StatusBadRequest, "envelope encoding %d not supported (0, 1, 5 are)", h.Encoding)
	}
	o.req.Encoding = enc
	if h.Type != process.TypeCollectorProc {
		return refuse(o, http.StatusBadRequest, "message type %d on %s, want %d (CollectorProc)", h.Type, RouteCollector, process.TypeCollectorProc)
	}
	msg, err := decodeMessage(body)
	if err != nil {
		return refuse(o, http.StatusBadRequest, "decode message: %v", err)
	}
	proc, ok := msg.Body.(*process.CollectorProc)
	if !ok {
		return refuse(o, http.StatusBadRequest, "message body is %T", msg.Body)
	}
	o.req.Decompressed = proc.Size()
	o.req.Processes = len(proc.Processes)
	o.req.Containers = len(proc.Containers)

	pm := &ProcMessage{
		Msg:       proc,
		Encoding:  h.Encoding,
		Hostname:  r.Header.Get("X-Dd-Hostname"),
		RequestID: r.Header.Get("X-Dd-Request-Id"),
		Header:    r.Header.Clone(),
	}
	if pm.Hostname == "" {
		return refuse(o, http.StatusBadRequest, "X-Dd-Hostname missing")
	}
	cc := r.Header.Get("X-Dd-Containercount")
	n, err := strconv.Atoi(cc)
	if err != nil {
		return refuse(o, http.StatusBadRequest, "X-Dd-ContainerCount %q: not a number", cc)
	}
	if n != len(proc.Containers) {
		return refuse(o, http.StatusBadRequest, "X-Dd-ContainerCount %d, message holds %d containers", n, len(proc.Containers))
	}
	pm.ContainerCount = n
	o.proc = pm
	o.body = body
	return http.StatusOK, collectorResponse
}

// decodeMessage wraps process.DecodeMessage so that a panic in a third-party
// decoder on hostile input is refused as garbage rather than crashing the test.
func decodeMessage(b []byte) (m process.Message, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("decoder panicked: %v", p)
		}
	}()
	return process.DecodeMessage(b)
}

// collectorResponse is the intake's answer to a process payload: a
// ResCollector telling the agent nobody is watching (no real-time mode).
var collectorResponse = func() []byte {
	b, err := process.EncodeMessage(process.Message{
		Header: process.MessageHeader{Version: process.MessageV3, Encoding: process.MessageEncodingProtobuf, Type: process.TypeResCollector},
		Body: &process.ResCollector{
			Header: &process.ResCollector_Header{Type: process.TypeResCollector},
			Status: &process.CollectorStatus{ActiveClients: 0, Interval: 2},
		},
	})
	if err != nil {
		panic(fmt.Sprintf("encode ResCollector: %v", err)) // constant input: cannot fail
	}
	return b
}()
