package ship

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// memStore is an in-memory Store.
type memStore struct {
	mu         sync.Mutex
	next       uint64
	data       map[uint64][]byte
	marks      map[uint64]uint32
	failAppend bool
	appends    int
}

func newMemStore() *memStore {
	return &memStore{data: make(map[uint64][]byte), marks: make(map[uint64]uint32)}
}

func (m *memStore) Append(b []byte) (uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failAppend {
		return 0, fmt.Errorf("append: disk full")
	}
	m.next++
	m.appends++
	m.data[m.next] = slices.Clone(b)
	return m.next, nil
}

func (m *memStore) IDs(dst []uint64) []uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	start := len(dst)
	for id := range m.data {
		dst = append(dst, id)
	}
	slices.Sort(dst[start:])
	return dst
}

func (m *memStore) Read(id uint64, buf []byte) ([]byte, uint32, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	d, ok := m.data[id]
	if !ok {
		return buf, 0, fmt.Errorf("read %d: %w", id, ErrNotFound)
	}
	return append(buf[:0], d...), m.marks[id], nil
}

func (m *memStore) Mark(id uint64, done uint32) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.data[id]; !ok {
		return fmt.Errorf("mark %d: %w", id, ErrNotFound)
	}
	m.marks[id] = done
	return nil
}

func (m *memStore) Ack(id uint64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.data[id]; !ok {
		return fmt.Errorf("ack %d: %w", id, ErrNotFound)
	}
	delete(m.data, id)
	delete(m.marks, id)
	return nil
}

func (m *memStore) len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.data)
}

// fakeClock is simulated time. The sender is the only sleeper; settle runs it
// until it sleeps with nothing to wake it, so the test decides when time moves.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
	w   *sleeper
}

type sleeper struct {
	deadline time.Time
	fire     chan struct{}
	wake     <-chan struct{}
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration, wake <-chan struct{}) {
	c.mu.Lock()
	select {
	case <-wake:
		c.mu.Unlock()
		return
	default:
	}
	w := &sleeper{deadline: c.now.Add(d), fire: make(chan struct{}), wake: wake}
	c.w = w
	c.mu.Unlock()
	select {
	case <-w.fire:
	case <-ctx.Done():
	}
	c.mu.Lock()
	if c.w == w {
		c.w = nil
	}
	c.mu.Unlock()
}

// settle returns once the sender sleeps past the current time with no wake-up
// pending: everything it could do at this instant is done.
func (c *fakeClock) settle() {
	for spin := 0; ; spin++ {
		c.mu.Lock()
		if w := c.w; w != nil {
			due := !c.now.Before(w.deadline)
			if len(w.wake) > 0 || due {
				if !due {
					<-w.wake
				}
				c.w = nil
				close(w.fire)
			} else {
				c.mu.Unlock()
				return
			}
		}
		c.mu.Unlock()
		pause(spin)
	}
}

// pause yields while the sender works, backing off from spinning.
func pause(spin int) {
	if spin < 100 {
		runtime.Gosched()
		return
	}
	time.Sleep(20 * time.Microsecond)
}

// closeShipper closes s, passing the sender its wake-ups meanwhile (the fake
// Sleep leaves them to settle).
func (c *fakeClock) closeShipper(s *Shipper, ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- s.Close(ctx) }()
	for spin := 0; ; spin++ {
		select {
		case err := <-errc:
			return err
		default:
		}
		c.mu.Lock()
		if w := c.w; w != nil && len(w.wake) > 0 {
			<-w.wake
			c.w = nil
			close(w.fire)
		}
		c.mu.Unlock()
		pause(spin)
	}
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// testEncoder reads records "name:payloads:points[:padding]" and emits payloads
// whose bodies are "name/i" (split 0) or "name/i.a", "name/i.b" (split 1,
// halves), each followed by "|" and its share of the padding.
type testEncoder struct{}

func (testEncoder) Encode(kind Kind, record []byte, split int, emit func(*Payload) error) error {
	name, n, points, pad, err := parseTestRecord(string(record))
	if err != nil {
		return err
	}
	h := http.Header{"Content-Type": {"application/json"}}
	share := pad[:len(pad)/max(n, 1)]
	for i := range n {
		if split == 0 {
			if err := emit(&Payload{Kind: kind, Body: fmt.Appendf(nil, "%s/%d|%s", name, i, share), Header: h, Points: points}); err != nil {
				return err
			}
			continue
		}
		for _, half := range []string{"a", "b"} {
			if err := emit(&Payload{Kind: kind, Body: fmt.Appendf(nil, "%s/%d.%s|%s", name, i, half, share[:len(share)/2]), Header: h, Points: points / 2}); err != nil {
				return err
			}
		}
	}
	return nil
}

func parseTestRecord(s string) (name string, n, points int, pad string, err error) {
	f := strings.SplitN(s, ":", 4)
	if len(f) < 3 {
		return "", 0, 0, "", fmt.Errorf("test record %q: want name:payloads:points[:padding]", s)
	}
	if n, err = strconv.Atoi(f[1]); err != nil {
		return "", 0, 0, "", fmt.Errorf("test record %q: %w", s, err)
	}
	if points, err = strconv.Atoi(f[2]); err != nil {
		return "", 0, 0, "", fmt.Errorf("test record %q: %w", s, err)
	}
	if len(f) == 4 {
		pad = f[3]
	}
	return f[0], n, points, pad, nil
}

// intake is a test intake: it records every request body in arrival order and
// answers with status(body).
type intake struct {
	mu       sync.Mutex
	bodies   []string
	count    map[string]int
	statuses map[int]int
	status   func(body string) (int, http.Header)
	onBody   func(body string)
}

func newIntake(t *testing.T, status func(body string) (int, http.Header)) (*intake, *httptest.Server) {
	t.Helper()
	in := &intake{count: make(map[string]int), statuses: make(map[int]int), status: status}
	srv := httptest.NewServer(in)
	t.Cleanup(srv.Close)
	return in, srv
}

func (in *intake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b := make([]byte, 0, 64)
	buf := make([]byte, 512)
	for {
		n, err := r.Body.Read(buf)
		b = append(b, buf[:n]...)
		if err != nil {
			break
		}
	}
	body, _, _ := strings.Cut(r.URL.Path+" "+string(b), "|") // the key, without padding
	code, hdr := http.StatusAccepted, http.Header(nil)
	if in.status != nil {
		code, hdr = in.status(body)
	}
	in.mu.Lock()
	in.statuses[code]++
	if code < 300 {
		in.bodies = append(in.bodies, body)
		in.count[body]++
	}
	in.mu.Unlock()
	if in.onBody != nil && code < 300 {
		in.onBody(body)
	}
	for k, v := range hdr {
		w.Header()[k] = v
	}
	w.WriteHeader(code)
	if code >= 300 {
		fmt.Fprintf(w, `{"errors":["status %d"]}`, code)
	} else {
		fmt.Fprint(w, `{"errors":[]}`)
	}
}

// snapshot returns the accepted bodies in order and the per-status counts.
func (in *intake) snapshot() ([]string, map[string]int, map[int]int) {
	in.mu.Lock()
	defer in.mu.Unlock()
	count := make(map[string]int, len(in.count))
	for k, v := range in.count {
		count[k] = v
	}
	st := make(map[int]int, len(in.statuses))
	for k, v := range in.statuses {
		st[k] = v
	}
	return slices.Clone(in.bodies), count, st
}

// testClient is a Client for srv.
func testClient(t *testing.T, url string) *Client {
	t.Helper()
	ep, err := ResolveEndpoints("", url, url)
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewClient(ep, Options{APIKey: "0123456789abcdef0123456789abwxyz", Version: "1.2.3"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// cancelled is a context whose deadline has passed.
func cancelled() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}
