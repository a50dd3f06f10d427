// Package sock talks to the Docker Engine API over its unix socket: API version
// negotiation, the container list, inspect and the /events stream (Client), and
// a Watcher that keeps the set of containers current from them and hands the
// changes to the collector (container.Source).
//
// whippet sends only GET requests, to five routes, optionally under a /v1.xx
// prefix: /_ping, /version, /containers/json, /containers/{id}/json and /events.
// It therefore works behind a read-only socket proxy that allows just those
// (e.g. wollomatic/socket-proxy with
// -allowGET=/_ping|/(v1\..{1,2}/)?(version|containers/json|containers/[0-9a-f]+/json|events)).
// It never follows redirects and never uses an HTTP proxy from the environment.
package sock

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/whippet-agent/whippet/pkg/container"
)

// API versions whippet speaks. The oldest is what Docker 1.12 speaks and every
// field whippet reads exists there; the newest is the newest whose replies have
// been checked. A newer daemon is asked for the newest we know; a daemon whose
// minimum is above it (Engine 29 raised its minimum to 1.44) is asked for its
// minimum, since the fields we read have not changed.
var (
	minAPI = apiVersion{1, 24}
	maxAPI = apiVersion{1, 47}
)

// Size caps of the replies: a larger body is an error (ErrTooLarge), never read
// into memory whole.
const (
	maxListBytes    = 16 << 20
	maxInspectBytes = 1 << 20
	maxEventLine    = 64 << 10
	maxSmallBytes   = 64 << 10 // _ping, /version, error bodies
)

// DefaultTimeout bounds every call but the event stream, like the Datadog
// agent's docker_query_timeout.
const DefaultTimeout = 5 * time.Second

var (
	// ErrNotFound is returned by Inspect for a container that no longer exists
	// (removed between list and inspect): count it, do not log it as an error.
	ErrNotFound = errors.New("no such container")
	// ErrTooLarge is returned for a reply (or an event line) over its size cap.
	ErrTooLarge = errors.New("reply over the size cap")
	// ErrBadEvent is returned by EventStream.Next for a line that is not a
	// container event; the stream stays usable.
	ErrBadEvent = errors.New("malformed event")
)

// StatusError is a reply with an HTTP status other than 200.
type StatusError struct {
	Code    int
	Message string // the daemon's (or proxy's) message, shortened
}

func (e *StatusError) Error() string {
	if e.Message == "" {
		return "HTTP " + strconv.Itoa(e.Code)
	}
	return "HTTP " + strconv.Itoa(e.Code) + ": " + e.Message
}

// Options tune a Client. The zero value is the production default.
type Options struct {
	// Timeout bounds each ping, version, list and inspect call, and the wait for
	// the header of the event stream; 0 means DefaultTimeout.
	Timeout time.Duration
}

// Client is a Docker Engine API client over a unix socket. It is safe for
// concurrent use and keeps its connections open between calls.
type Client struct {
	socket  string
	timeout time.Duration
	tr      *http.Transport
	hc      *http.Client
	bufs    sync.Pool // *[]byte, reply buffers

	mu  sync.Mutex
	api apiVersion // negotiated; zero before
}

// New returns a client of the Docker socket at path (hostfs.Root.DockerSocket(),
// which honours DOCKER_HOST=unix://…). It does not connect: the first call does.
func New(path string, opts Options) *Client {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	var d net.Dialer
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return d.DialContext(ctx, "unix", path)
		},
		Proxy:               nil, // never HTTP(S)_PROXY: the socket is local
		MaxIdleConns:        2,
		MaxIdleConnsPerHost: 2,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	c := &Client{
		socket:  path,
		timeout: opts.Timeout,
		tr:      tr,
		hc: &http.Client{
			Transport: tr,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse // a redirect is an error, not another GET
			},
		},
	}
	c.bufs.New = func() any { b := make([]byte, 0, 16<<10); return &b }
	return c
}

// Socket is the path of the socket the client talks to.
func (c *Client) Socket() string { return c.socket }

// Close closes the idle connections. The client stays usable; Close is idempotent.
func (c *Client) Close() error {
	c.tr.CloseIdleConnections()
	return nil
}

// APIVersion is the negotiated API version ("1.41"), or "" before negotiation.
func (c *Client) APIVersion() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.api == (apiVersion{}) {
		return ""
	}
	return c.api.String()
}

// Negotiate asks the daemon which API versions it speaks (GET /_ping, whose
// Api-Version header is its newest; GET /version when that header is missing or
// the ping fails with an HTTP error) and picks the one whippet uses from then on.
// Every other call negotiates first if it has not been done.
func (c *Client) Negotiate(ctx context.Context) (string, error) {
	v, err := c.negotiate(ctx)
	if err != nil {
		return "", err
	}
	return v.String(), nil
}

func (c *Client) negotiate(ctx context.Context) (apiVersion, error) {
	srvMax, err := c.ping(ctx)
	var srvMin apiVersion
	var se *StatusError
	if err != nil && !errors.As(err, &se) {
		return apiVersion{}, err // no daemon: /version would fail the same way
	}
	if err != nil || srvMax == (apiVersion{}) {
		if srvMax, srvMin, err = c.version(ctx); err != nil {
			return apiVersion{}, err
		}
	}
	v, err := choose(srvMax, srvMin)
	if err != nil {
		return apiVersion{}, err
	}
	c.mu.Lock()
	c.api = v
	c.mu.Unlock()
	return v, nil
}

// choose picks the API version to speak to a daemon that speaks srvMin..srvMax
// (srvMin zero when unknown).
func choose(srvMax, srvMin apiVersion) (apiVersion, error) {
	if srvMax.less(minAPI) {
		return apiVersion{}, fmt.Errorf("docker API %s is older than the oldest whippet speaks, %s", srvMax, minAPI)
	}
	v := srvMax
	if maxAPI.less(v) {
		v = maxAPI
	}
	if v.less(srvMin) {
		v = srvMin
	}
	return v, nil
}

// Ping checks that the daemon answers (GET /_ping, the cheapest call): an open
// events stream says nothing about a daemon that has hung.
func (c *Client) Ping(ctx context.Context) error {
	_, err := c.ping(ctx)
	return err
}

// ping returns the daemon's newest API version from GET /_ping (zero when the
// header is missing, as behind some proxies).
func (c *Client) ping(ctx context.Context) (srvMax apiVersion, err error) {
	err = c.get(ctx, "ping", "/_ping", maxSmallBytes, false, func(h http.Header, _ []byte) error {
		srvMax, _ = parseAPIVersion(h.Get("Api-Version"))
		return nil
	})
	return srvMax, err
}

// version returns the daemon's API range from GET /version.
func (c *Client) version(ctx context.Context) (srvMax, srvMin apiVersion, err error) {
	err = c.get(ctx, "version", "/version", maxSmallBytes, false, func(_ http.Header, b []byte) error {
		var v struct {
			APIVersion    string `json:"ApiVersion"`
			MinAPIVersion string `json:"MinAPIVersion"`
		}
		if err := json.Unmarshal(b, &v); err != nil {
			return fmt.Errorf("decode: %w", err)
		}
		var ok bool
		if srvMax, ok = parseAPIVersion(v.APIVersion); !ok {
			return fmt.Errorf("bad ApiVersion %q", truncate(v.APIVersion, 40))
		}
		srvMin, _ = parseAPIVersion(v.MinAPIVersion)
		return nil
	})
	return srvMax, srvMin, err
}

// List returns every container, running or not (GET /containers/json?all=1).
func (c *Client) List(ctx context.Context) ([]Summary, error) {
	var out []Summary
	err := c.get(ctx, "list", "/containers/json?all=1", maxListBytes, true, func(_ http.Header, b []byte) (err error) {
		out, err = DecodeList(b)
		return err
	})
	return out, err
}

// Info is the engine's description of its host (GET /info): the host's name,
// which is what a bridge-networked task must report instead of its own
// container id (datadog-compat §3.8), and the engine version for host metadata.
type Info struct {
	Name          string `json:"Name"`
	ServerVersion string `json:"ServerVersion"`
	NCPU          int    `json:"NCPU"`
	MemTotal      int64  `json:"MemTotal"`
	KernelVersion string `json:"KernelVersion"`
}

// maxInfoBytes bounds the /info reply (a few KiB; plugins and registry lists grow it).
const maxInfoBytes = 1 << 20

// Info asks the engine about its host.
func (c *Client) Info(ctx context.Context) (Info, error) {
	var out Info
	err := c.get(ctx, "info", "/info", maxInfoBytes, true, func(_ http.Header, b []byte) error {
		if err := json.Unmarshal(b, &out); err != nil {
			return fmt.Errorf("decode: %w", err)
		}
		return nil
	})
	return out, err
}

// Inspect returns the container's Meta, finished (GET /containers/{id}/json).
// A container that no longer exists is ErrNotFound.
func (c *Client) Inspect(ctx context.Context, id string) (*container.Meta, error) {
	m, err := c.inspect(ctx, id)
	if err != nil {
		return nil, err
	}
	m.Finish()
	return m, nil
}

// inspect is Inspect without Finish, so that the watcher can enrich first.
func (c *Client) inspect(ctx context.Context, id string) (*container.Meta, error) {
	if !validID(id) {
		return nil, fmt.Errorf("docker inspect: bad container id %q", truncate(id, 80))
	}
	m := new(container.Meta)
	err := c.get(ctx, "inspect "+short(id), "/containers/"+id+"/json", maxInspectBytes, true, func(_ http.Header, b []byte) error {
		if err := DecodeInspect(b, m); err != nil {
			return err
		}
		if m.ID != id {
			return fmt.Errorf("reply is about container %s", short(m.ID))
		}
		return nil
	})
	var se *StatusError
	if errors.As(err, &se) && se.Code == http.StatusNotFound {
		return nil, fmt.Errorf("docker inspect %s: %w", short(id), ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	return m, nil
}

// eventFilter asks for the container events that change what whippet knows of a
// container. stop and kill are followed by die; exec, attach, health_status,
// resize, top, commit, copy, export and update are not wanted.
var eventFilter = func() string {
	b, _ := json.Marshal(map[string][]string{
		"type":  {"container"},
		"event": {"create", "start", "restart", "die", "oom", "pause", "unpause", "rename", "destroy"},
	})
	return url.QueryEscape(string(b))
}()

// Events opens the container event stream (GET /events), from since when it is
// not zero: the daemon replays the events it still holds since then (moby keeps
// the last 256). The stream lasts until ctx ends, the daemon goes away or Close;
// only the wait for the reply header is bounded by the timeout.
func (c *Client) Events(ctx context.Context, since time.Time) (*EventStream, error) {
	api, err := c.ensureAPI(ctx)
	if err != nil {
		return nil, err
	}
	path := "/v" + api.String() + "/events?filters=" + eventFilter
	if !since.IsZero() {
		path += "&since=" + strconv.FormatInt(since.Unix(), 10)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://docker"+path, nil)
	if err != nil {
		return nil, fmt.Errorf("docker events: %w", err)
	}
	// Bound the wait for the header only: after it the stream may be quiet for hours.
	hctx, cancel := context.WithCancel(ctx)
	timer := time.AfterFunc(c.timeout, cancel)
	resp, err := c.hc.Do(req.WithContext(hctx))
	late := !timer.Stop()
	if late && err == nil {
		resp.Body.Close() // the timer fired as the header came: the stream is cancelled
		err = context.DeadlineExceeded
	}
	if err != nil {
		cancel()
		if late && ctx.Err() == nil {
			return nil, fmt.Errorf("docker events: no reply within %v: %w", c.timeout, context.DeadlineExceeded)
		}
		return nil, fmt.Errorf("docker events: %w", unwrapURL(err))
	}
	if resp.StatusCode != http.StatusOK {
		err := statusError(resp)
		resp.Body.Close()
		cancel()
		return nil, fmt.Errorf("docker events: %w", err)
	}
	return &EventStream{body: resp.Body, br: bufio.NewReaderSize(resp.Body, 4<<10), cancel: cancel}, nil
}

// EventStream is an open /events stream. It is used by one goroutine.
type EventStream struct {
	body   io.ReadCloser
	br     *bufio.Reader
	line   []byte // a line longer than br's buffer, assembled
	cancel context.CancelFunc
}

// Next reads the next container event into e. It returns io.EOF when the daemon
// ended the stream and io.ErrUnexpectedEOF when it was cut inside an event. A
// line over 64 KiB (ErrTooLarge) or one that does not decode (ErrBadEvent) is
// skipped with an error: the stream stays usable, but that event is lost. Lines
// about other objects are skipped silently.
func (s *EventStream) Next(e *Event) error {
	for {
		line, err := s.readLine()
		if err != nil {
			return err
		}
		if len(line) == 0 {
			continue
		}
		switch err := DecodeEvent(line, e); err {
		case nil:
			return nil
		case errNotContainer:
			continue
		default:
			return fmt.Errorf("%w: %w", ErrBadEvent, err)
		}
	}
}

// readLine returns the next line without its "\n", valid until the next call.
func (s *EventStream) readLine() ([]byte, error) {
	s.line = s.line[:0]
	for {
		frag, err := s.br.ReadSlice('\n')
		switch {
		case err == nil:
			if len(s.line) == 0 {
				return trimLine(frag), nil
			}
			if len(s.line)+len(frag) > maxEventLine {
				return nil, fmt.Errorf("%w: event line over %d bytes", ErrTooLarge, maxEventLine)
			}
			s.line = append(s.line, frag...)
			return trimLine(s.line), nil
		case err == bufio.ErrBufferFull:
			if len(s.line)+len(frag) > maxEventLine {
				if err := s.skipLine(); err != nil {
					return nil, err
				}
				return nil, fmt.Errorf("%w: event line over %d bytes", ErrTooLarge, maxEventLine)
			}
			s.line = append(s.line, frag...)
		case err == io.EOF:
			if len(frag) > 0 || len(s.line) > 0 {
				return nil, io.ErrUnexpectedEOF
			}
			return nil, io.EOF
		default:
			return nil, err
		}
	}
}

// skipLine discards the rest of the current line.
func (s *EventStream) skipLine() error {
	s.line = s.line[:0]
	for {
		_, err := s.br.ReadSlice('\n')
		switch err {
		case nil:
			return nil
		case bufio.ErrBufferFull:
			continue
		case io.EOF:
			return io.ErrUnexpectedEOF
		default:
			return err
		}
	}
}

func trimLine(b []byte) []byte {
	b = b[:len(b)-1]
	if n := len(b); n > 0 && b[n-1] == '\r' {
		b = b[:n-1]
	}
	return b
}

// Buffered reports whether Next can return without waiting for the daemon (an
// event, or part of one, is already read).
func (s *EventStream) Buffered() bool { return s.br.Buffered() > 0 }

// Close ends the stream; it is idempotent.
func (s *EventStream) Close() error {
	s.cancel()
	return s.body.Close()
}

func (c *Client) ensureAPI(ctx context.Context) (apiVersion, error) {
	c.mu.Lock()
	api := c.api
	c.mu.Unlock()
	if api != (apiVersion{}) {
		return api, nil
	}
	return c.negotiate(ctx)
}

// get does GET path (under the negotiated /v1.xx prefix when versioned) with the
// client's timeout, reads a 200 reply of at most limit bytes into a pooled
// buffer and hands it to decode, which must keep nothing of it.
func (c *Client) get(ctx context.Context, op, path string, limit int, versioned bool, decode func(http.Header, []byte) error) error {
	err := c.get1(ctx, path, limit, versioned, decode)
	var se *StatusError
	if versioned && errors.As(err, &se) && se.Code == http.StatusBadRequest && strings.Contains(se.Message, "too old") {
		// The daemon's minimum API is above the version we picked from /_ping
		// alone: learn its minimum from /version and try once more.
		if srvMax, srvMin, verr := c.version(ctx); verr == nil {
			if v, cerr := choose(srvMax, srvMin); cerr == nil {
				c.mu.Lock()
				c.api = v
				c.mu.Unlock()
				err = c.get1(ctx, path, limit, versioned, decode)
			}
		}
	}
	if err != nil {
		return fmt.Errorf("docker %s: %w", op, err)
	}
	return nil
}

func (c *Client) get1(ctx context.Context, path string, limit int, versioned bool, decode func(http.Header, []byte) error) error {
	if versioned {
		api, err := c.ensureAPI(ctx)
		if err != nil {
			return err
		}
		path = "/v" + api.String() + path
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://docker"+path, nil)
	if err != nil {
		return err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return c.callError(ctx, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return statusError(resp)
	}
	if resp.ContentLength > int64(limit) {
		return fmt.Errorf("%w: %d bytes, cap %d", ErrTooLarge, resp.ContentLength, limit)
	}
	bp := c.bufs.Get().(*[]byte)
	defer func() {
		if cap(*bp) <= 1<<20 { // do not keep a list-sized buffer around
			c.bufs.Put(bp)
		}
	}()
	b, err := readCapped(io.LimitReader(resp.Body, int64(limit)+1), (*bp)[:0], limit)
	*bp = b[:0]
	if err != nil {
		if errors.Is(err, ErrTooLarge) {
			return err
		}
		return fmt.Errorf("read reply: %w", c.callError(ctx, err))
	}
	return decode(resp.Header, b)
}

// callError turns a transport error into a clear one: a timeout says so, a
// *url.Error loses the URL it repeats.
func (c *Client) callError(ctx context.Context, err error) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("no reply within %v: %w", c.timeout, context.DeadlineExceeded)
	}
	return unwrapURL(err)
}

func unwrapURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// readCapped appends r's content to buf, failing with ErrTooLarge past limit.
func readCapped(r io.Reader, buf []byte, limit int) ([]byte, error) {
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if len(buf) > limit {
			return buf, fmt.Errorf("%w: over %d bytes", ErrTooLarge, limit)
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// statusError reads the message of a non-200 reply: Docker's {"message": "…"},
// or the start of whatever a proxy sent.
func statusError(resp *http.Response) *StatusError {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxSmallBytes))
	var m struct {
		Message string `json:"message"`
	}
	msg := ""
	if json.Unmarshal(b, &m) == nil && m.Message != "" {
		msg = m.Message
	} else {
		msg = strings.TrimSpace(string(b))
	}
	return &StatusError{Code: resp.StatusCode, Message: truncate(strings.ToValidUTF8(msg, "?"), 200)}
}
