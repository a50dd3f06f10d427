package ship

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// startShipper runs a Shipper on simulated time against url.
func startShipper(t *testing.T, store Store, url string, clock Clock, log *slog.Logger) *Shipper {
	t.Helper()
	s, err := New(Config{Store: store, Encoder: testEncoder{}, Client: testClient(t, url), Clock: clock, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_ = s.Close(ctx)
	})
	return s
}

// wantEach lists the intake keys of the payloads of records at split 0.
func wantEach(path string, names []string, payloads int) map[string]int {
	m := make(map[string]int)
	for _, n := range names {
		for i := range payloads {
			m[fmt.Sprintf("%s %s/%d", path, n, i)] = 1
		}
	}
	return m
}

func TestShipperDelivers(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	in, srv := newIntake(t, nil)
	store := newMemStore()
	s := startShipper(t, store, srv.URL, clock, nil)
	var series, procs []string
	for i := range 20 {
		series = append(series, fmt.Sprintf("s%d", i))
		procs = append(procs, fmt.Sprintf("p%d", i))
		if err := s.Submit(KindSeries, clock.Now(), fmt.Appendf(nil, "s%d:3:10", i)); err != nil {
			t.Fatal(err)
		}
		// Process records are appended into the Shipper's buffer.
		if err := s.SubmitAppend(KindProcesses, clock.Now(), func(b []byte) []byte { return fmt.Appendf(b, "p%d:1:5", i) }); err != nil {
			t.Fatal(err)
		}
	}
	clock.settle()
	_, got, _ := in.snapshot()
	want := wantEach("/api/v2/series", series, 3)
	for k, v := range wantEach("/api/v1/collector", procs, 1) {
		want[k] = v
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("payloads at the intake (-want +got):\n%s", diff)
	}
	if n := store.len(); n != 0 {
		t.Errorf("store holds %d records after delivery, want 0", n)
	}
	st := s.Stats()
	if st.Submitted != 40 || st.Completed != 40 || st.Payloads != 80 || st.Dropped != ([NumDropReasons]uint64{}) {
		t.Errorf("Stats() = %+v", st)
	}
	if err := clock.closeShipper(s, context.Background()); err != nil {
		t.Errorf("Close() = %v", err)
	}
	if err := s.Submit(KindSeries, clock.Now(), []byte("late:1:1")); err != ErrClosed {
		t.Errorf("Submit after Close = %v, want ErrClosed", err)
	}
}

func TestShipperOutcomes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		record   string
		age      time.Duration
		status   func(body string) int
		want     map[string]int // accepted payloads
		attempts map[int]int    // replies by status
		drops    map[DropReason]uint64
	}{
		{
			name: "400 drops without retry", record: "r:2:4",
			status:   func(string) int { return 400 },
			want:     map[string]int{},
			attempts: map[int]int{400: 2},
			drops:    map[DropReason]uint64{DropBadRequest: 2},
		},
		{
			name: "403 drops without retry", record: "r:2:4",
			status:   func(string) int { return 403 },
			want:     map[string]int{},
			attempts: map[int]int{403: 2},
			drops:    map[DropReason]uint64{DropForbidden: 2},
		},
		{
			name: "413 splits once then drops", record: "r:2:4",
			status:   func(string) int { return 413 },
			want:     map[string]int{},
			attempts: map[int]int{413: 5}, // r/0, then r/0.a r/0.b r/1.a r/1.b
			drops:    map[DropReason]uint64{DropTooLarge: 4},
		},
		{
			name: "413 on one payload resends only it, finer", record: "r:3:4",
			status: func(b string) int {
				if strings.HasSuffix(b, "r/1") {
					return 413
				}
				return 202
			},
			// r/0 went at split 0; its halves are skipped; r/1 and r/2 go as halves.
			want:     map[string]int{"/api/v2/series r/0": 1, "/api/v2/series r/1.a": 1, "/api/v2/series r/1.b": 1, "/api/v2/series r/2.a": 1, "/api/v2/series r/2.b": 1},
			attempts: map[int]int{413: 1, 202: 5},
			drops:    map[DropReason]uint64{},
		},
		{
			name: "expired record is not sent", record: "r:2:4", age: 61 * time.Minute,
			want:     map[string]int{},
			attempts: map[int]int{},
			drops:    map[DropReason]uint64{DropExpired: 1},
		},
		{
			name: "encoder refuses", record: "garbage",
			want:     map[string]int{},
			attempts: map[int]int{},
			drops:    map[DropReason]uint64{DropEncode: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clock := newFakeClock()
			in, srv := newIntake(t, func(b string) (int, http.Header) {
				if tt.status == nil {
					return 202, nil
				}
				return tt.status(b), nil
			})
			var logs bytes.Buffer
			store := newMemStore()
			s := startShipper(t, store, srv.URL, clock, slog.New(slog.NewTextHandler(&logs, nil)))
			if err := s.Submit(KindSeries, clock.Now().Add(-tt.age), []byte(tt.record)); err != nil {
				t.Fatal(err)
			}
			clock.settle()
			_, got, attempts := in.snapshot()
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("payloads at the intake (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.attempts, attempts); diff != "" {
				t.Errorf("requests by status (-want +got):\n%s", diff)
			}
			st := s.Stats()
			for r := range NumDropReasons {
				if st.Dropped[r] != tt.drops[r] {
					t.Errorf("Dropped[%v] = %d, want %d", r, st.Dropped[r], tt.drops[r])
				}
			}
			if st.TransportErrors+st.HTTPErrors != 0 {
				t.Errorf("retried %d times, want no retries", st.TransportErrors+st.HTTPErrors)
			}
			if n := store.len(); n != 0 {
				t.Errorf("store holds %d records, want 0", n)
			}
			if strings.Contains(logs.String(), testKey[:8]) {
				t.Errorf("the API key appears in the logs:\n%s", logs.String())
			}
			if len(tt.drops) > 0 && !strings.Contains(logs.String(), "reason=") {
				t.Errorf("drop not logged with a reason:\n%s", logs.String())
			}
		})
	}
}

func TestShipperRetryAfter(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	var (
		mu    sync.Mutex
		times []time.Time
	)
	in, srv := newIntake(t, func(string) (int, http.Header) {
		mu.Lock()
		defer mu.Unlock()
		times = append(times, clock.Now())
		if len(times) == 1 {
			return 429, http.Header{"Retry-After": {"20"}}
		}
		return 202, nil
	})
	s := startShipper(t, newMemStore(), srv.URL, clock, nil)
	if err := s.Submit(KindSeries, clock.Now(), []byte("r:1:1")); err != nil {
		t.Fatal(err)
	}
	for range 30 {
		clock.settle()
		clock.advance(time.Second)
	}
	clock.settle()
	_, got, _ := in.snapshot()
	if got["/api/v2/series r/0"] != 1 {
		t.Fatalf("payload not delivered after the 429: %v", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(times) != 2 || times[1].Sub(times[0]) < 20*time.Second {
		t.Errorf("requests at %v, want the retry 20 s or more after the 429", times)
	}
	if st := s.Stats(); st.HTTPErrors != 1 {
		t.Errorf("HTTPErrors = %d, want 1", st.HTTPErrors)
	}
}

func TestShipperStoreFails(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	var fail atomic.Bool
	fail.Store(true)
	in, srv := newIntake(t, func(string) (int, http.Header) {
		if fail.Load() {
			return 500, nil
		}
		return 202, nil
	})
	store := newMemStore()
	store.failAppend = true
	s, err := New(Config{Store: store, Encoder: testEncoder{}, Client: testClient(t, srv.URL), Clock: clock, QueueLen: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer clock.closeShipper(s, context.Background())
	// While the intake fails, 10 records the store refused queue in memory:
	// 4 fresh + 4 waiting for a retry; the 2 oldest are dropped and counted.
	var names []string
	for i := range 10 {
		names = append(names, fmt.Sprintf("m%d", i))
		if err := s.Submit(KindSeries, clock.Now(), fmt.Appendf(nil, "m%d:1:1", i)); err != nil {
			t.Fatal(err)
		}
		clock.settle()
	}
	fail.Store(false)
	for range 60 {
		clock.advance(time.Second)
		clock.settle()
	}
	_, got, _ := in.snapshot()
	st := s.Stats()
	if st.StoreErrors != 10 {
		t.Errorf("StoreErrors = %d, want 10", st.StoreErrors)
	}
	if uint64(len(got))+st.Dropped[DropOverflow] != 10 || st.Dropped[DropOverflow] == 0 {
		t.Errorf("delivered %d + dropped %d, want 10 with some counted drops", len(got), st.Dropped[DropOverflow])
	}
	for _, n := range names[len(names)-8:] {
		if got["/api/v2/series "+n+"/0"] != 1 {
			t.Errorf("record %s delivered %d times, want once", n, got["/api/v2/series "+n+"/0"])
		}
	}
}

func TestShipperCloseKeepsTheRest(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	var down atomic.Bool
	down.Store(true)
	in, srv := newIntake(t, func(string) (int, http.Header) {
		if down.Load() {
			return 503, nil
		}
		return 202, nil
	})
	store := newMemStore()
	s := startShipper(t, store, srv.URL, clock, nil)
	for i := range 5 {
		if err := s.Submit(KindSeries, clock.Now(), fmt.Appendf(nil, "c%d:2:2", i)); err != nil {
			t.Fatal(err)
		}
	}
	clock.settle()
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the deadline has passed: nothing more can be sent
	if err := s.Close(ctx); err == nil {
		t.Error("Close() = nil with records left, want the context's error")
	}
	if n := store.len(); n != 5 {
		t.Fatalf("store holds %d records after Close, want 5", n)
	}
	down.Store(false)
	s2 := startShipper(t, store, srv.URL, clock, nil) // a restart replays the store
	clock.settle()
	if err := clock.closeShipper(s2, context.Background()); err != nil {
		t.Errorf("Close() after the replay = %v", err)
	}
	_, got, _ := in.snapshot()
	if diff := cmp.Diff(wantEach("/api/v2/series", []string{"c0", "c1", "c2", "c3", "c4"}, 2), got); diff != "" {
		t.Errorf("payloads after restart (-want +got):\n%s", diff)
	}
}

// TestShipperOutage is reliability.md §7.1's first scenario on simulated time:
// 200 containers' worth of series (4 payloads) and processes (2 payloads) every
// 15 s; the intake answers 503 for 10 minutes, then recovers.
func TestShipperOutage(t *testing.T) {
	t.Parallel()
	const interval = 15 * time.Second
	payloads := map[Kind]int{KindSeries: 4, KindProcesses: 2}
	clock := newFakeClock()
	start := clock.Now()
	outFrom, outTo, end := start.Add(5*time.Minute), start.Add(15*time.Minute), start.Add(25*time.Minute)
	var (
		mu       sync.Mutex
		arrived  = map[string]time.Time{} // record → first arrival
		lastFail = map[string]time.Time{} // path → last 503
		firstOK  = map[string]time.Time{} // path → first success after the outage
		fails    = map[string]int{}
	)
	in, srv := newIntake(t, func(body string) (int, http.Header) {
		now := clock.Now()
		path, _, _ := strings.Cut(body, " ")
		if !now.Before(outFrom) && now.Before(outTo) {
			mu.Lock()
			lastFail[path] = now
			fails[path]++
			mu.Unlock()
			return 503, nil
		}
		mu.Lock()
		if _, ok := firstOK[path]; !ok && !now.Before(outTo) {
			firstOK[path] = now
		}
		mu.Unlock()
		return 202, nil
	})
	in.onBody = func(body string) {
		_, rec, _ := strings.Cut(body, " ")
		rec, _, _ = strings.Cut(rec, "/")
		mu.Lock()
		if _, ok := arrived[rec]; !ok {
			arrived[rec] = clock.Now()
		}
		mu.Unlock()
	}
	store := newMemStore()
	s := startShipper(t, store, srv.URL, clock, nil)
	pad := strings.Repeat("x", 200*25*12) // ~12 B per series, 25 series per container
	type rec struct {
		name string
		kind Kind
		at   time.Time
	}
	var recs []rec
	for n := 0; clock.Now().Before(end); n++ {
		if now := clock.Now(); n%int(interval/time.Second) == 0 {
			for _, k := range []Kind{KindSeries, KindProcesses} {
				name := fmt.Sprintf("%c%03d", k.String()[0], n/15)
				recs = append(recs, rec{name, k, now})
				if err := s.Submit(k, now, fmt.Appendf(nil, "%s:%d:1250:%s", name, payloads[k], pad)); err != nil {
					t.Fatal(err)
				}
			}
		}
		clock.settle()
		clock.advance(time.Second)
	}
	clock.settle()

	bodies, got, _ := in.snapshot()
	st := s.Stats()
	mu.Lock()
	defer mu.Unlock()
	// Exactly once: nothing lost, nothing duplicated, nothing dropped.
	want := map[string]int{}
	for _, r := range recs {
		want = mergeCounts(want, wantEach(Endpoints{Series: "/api/v2/series", Processes: "/api/v1/collector"}.URL(r.kind), []string{r.name}, payloads[r.kind]))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("payloads at the intake (-want +got):\n%s", diff)
	}
	if st.Dropped != ([NumDropReasons]uint64{}) || store.len() != 0 {
		t.Errorf("dropped %v, store holds %d, want nothing dropped or left", st.Dropped, store.len())
	}
	// Replay done within two intervals of recovery; records after it are
	// delayed at most by the last backoff, then sent at once.
	for _, r := range recs {
		a := arrived[r.name]
		switch {
		case r.at.Before(outTo) && a.After(outTo.Add(2*interval)):
			t.Errorf("record %s (outage) arrived %v after recovery, want within %v", r.name, a.Sub(outTo), 2*interval)
		case !r.at.Before(outTo) && a.Sub(r.at) > 2*interval:
			t.Errorf("record %s (after the outage) delayed %v", r.name, a.Sub(r.at))
		case r.at.After(outTo.Add(2*interval)) && !a.Equal(r.at):
			t.Errorf("record %s delayed %v in steady state", r.name, a.Sub(r.at))
		}
	}
	// During the outage: at most one probe per backoff period per endpoint.
	for path, n := range fails {
		if n > int((outTo.Sub(outFrom))/(BackoffMax/2))+6 {
			t.Errorf("%s probed %d times during the outage", path, n)
		}
	}
	// Replay order: backlog oldest-first per endpoint, with the fresh records
	// (submitted after the last failed probe) interleaved, not queued behind it.
	pos := map[string]int{}
	for i, b := range bodies {
		_, r, _ := strings.Cut(b, " ")
		r, _, _ = strings.Cut(r, "/")
		if _, ok := pos[r]; !ok {
			pos[r] = i
		}
	}
	for _, path := range []string{"/api/v2/series", "/api/v1/collector"} {
		var backlog, fresh []rec
		for _, r := range recs {
			if (Endpoints{Series: "/api/v2/series", Processes: "/api/v1/collector"}).URL(r.kind) != path || r.at.Before(outFrom) || r.at.After(firstOK[path]) {
				continue
			}
			if r.at.After(lastFail[path]) {
				fresh = append(fresh, r)
			} else {
				backlog = append(backlog, r)
			}
		}
		if len(fresh) == 0 || len(backlog) < 30 {
			t.Fatalf("%s: %d fresh and %d backlog records at recovery; the scenario is broken", path, len(fresh), len(backlog))
		}
		if !slices.IsSortedFunc(backlog, func(a, b rec) int { return pos[a.name] - pos[b.name] }) {
			t.Errorf("%s: backlog not replayed oldest-first", path)
		}
		last := pos[backlog[len(backlog)-1].name]
		for _, f := range fresh {
			if pos[f.name] > last {
				t.Errorf("%s: fresh record %s waited behind the whole backlog", path, f.name)
			}
		}
	}
	t.Logf("outage: %d records, %d payloads, failed probes %v, stats %+v", len(recs), len(bodies), fails, st)
}

func mergeCounts(a, b map[string]int) map[string]int {
	for k, v := range b {
		a[k] += v
	}
	return a
}
