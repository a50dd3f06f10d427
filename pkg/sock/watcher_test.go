package sock

import (
	"context"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/whippet-agent/whippet/pkg/container"
	"github.com/whippet-agent/whippet/pkg/sock/fakedocker"
)

// harness runs a Watcher over a fake daemon and keeps the consumer's view: the
// set that applying every drained change gives.
type harness struct {
	t   *testing.T
	srv *fakedocker.Server
	w   *Watcher
	set map[string]*container.Meta
	log []container.Change // every change drained
}

func testWatcherOptions() WatcherOptions {
	return WatcherOptions{MinBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond}
}

// startWatcher starts a watcher on srv; it is stopped, and Run's result checked,
// when the test ends.
func startWatcher(t *testing.T, srv *fakedocker.Server, timeout time.Duration, opts WatcherOptions) *harness {
	t.Helper()
	h := startWatcherOn(t, srv.Socket, timeout, opts)
	h.srv = srv
	return h
}

// startWatcherOn starts a watcher on any Docker socket.
func startWatcherOn(t *testing.T, socket string, timeout time.Duration, opts WatcherOptions) *harness {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	c := New(socket, Options{Timeout: timeout})
	t.Cleanup(func() { c.Close() })
	h := &harness{t: t, w: NewWatcher(c, opts), set: map[string]*container.Meta{}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run() = %v, want nil after cancel", err)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("Run() did not return within 5 s of cancel")
		}
	})
	return h
}

// testWriter sends log lines to t.Log, until the test ends.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	defer func() { recover() }() // a line logged after the test ended
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

func (h *harness) drain() []container.Change {
	var got []container.Change
	h.w.Drain(func(ch container.Change) {
		got = append(got, ch)
		if ch.Removed {
			if _, ok := h.set[ch.ID]; !ok {
				h.t.Errorf("removal of %s, which was never reported", short(ch.ID))
			}
			delete(h.set, ch.ID)
		} else {
			h.set[ch.ID] = ch.Meta
		}
	})
	h.log = append(h.log, got...)
	return got
}

// waitFor drains until cond holds, for up to 10 s (twice the longest backoff).
func (h *harness) waitFor(what string, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		h.drain()
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out waiting for %s; stats %+v; set %v", what, h.w.Stats(), slices.Sorted(maps.Keys(h.set)))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (h *harness) ready(n int) {
	h.t.Helper()
	h.waitFor("connected", func() bool { return h.w.Stats().Connected && len(h.set) == n })
}

// known is the watcher's own Meta of id (nil if none).
func (h *harness) known(id string) *container.Meta {
	h.w.mu.Lock()
	defer h.w.mu.Unlock()
	return h.w.known[id]
}

func (h *harness) state(id string) string {
	if m := h.set[id]; m != nil {
		return m.State
	}
	return ""
}

const (
	idNew  = "1111111111111111111111111111111111111111111111111111111111111111"
	idNew2 = "2222222222222222222222222222222222222222222222222222222222222222"
)

func TestWatcherLifecycle(t *testing.T) {
	t.Parallel()
	srv := fakedocker.Start(t, v1Docker)
	h := startWatcher(t, srv, time.Second, testWatcherOptions())
	h.ready(4)
	for id, want := range fixtureMetas(t)[v1Docker] {
		if diff := cmp.Diff(want, *h.set[id], ignoreTags); diff != "" {
			t.Errorf("initial Meta of %s mismatch (-want +got):\n%s", short(id), diff)
		}
	}
	if s := h.w.Stats(); s.Lists != 1 || s.Inspects != 4 || s.Resyncs != 1 || s.Errors != 0 || s.APIVersion != "1.41" || s.Containers != 4 {
		t.Errorf("Stats() after start = %+v", s)
	}
	lists := srv.Count(fakedocker.RouteList)

	// From events alone, without a list: create, start, rename, die, destroy.
	labels := ecsLabels("blue", "arn:aws:ecs:eu-west-1:999:task/blue/abc", "app", "fam", "3")
	srv.Add(fakedocker.Container{ID: idNew, Name: "ecs-fam-3-app-1", Labels: labels, State: "created", Pid: 0})
	srv.Emit(idNew, "create")
	h.waitFor("create", func() bool { return h.state(idNew) == "created" })
	if e := h.set[idNew].ECS; e.Cluster != "blue" || e.TaskID != "abc" || e.ContainerName != "app" {
		t.Errorf("ECS of the new container = %+v", e)
	}
	srv.SetState(idNew, "running", 777)
	srv.Emit(idNew, "start")
	h.waitFor("start", func() bool { return h.state(idNew) == "running" && h.set[idNew].Pid == 777 })
	srv.Rename(idNew, "renamed")
	srv.Emit(idNew, "rename")
	h.waitFor("rename", func() bool { return h.set[idNew].Name == "renamed" })
	if !slices.Contains(h.set[idNew].Tags.High, "container_name:renamed") {
		t.Errorf("tags after rename = %v", h.set[idNew].Tags.High)
	}
	srv.SetState(idNew, "paused", 777)
	srv.Emit(idNew, "pause")
	h.waitFor("pause", func() bool { return h.state(idNew) == "paused" })
	srv.SetState(idNew, "exited", 0)
	srv.Emit(idNew, "die")
	h.waitFor("die", func() bool { return h.state(idNew) == "exited" && h.set[idNew].Pid == 0 })
	srv.Remove(idNew)
	srv.Emit(idNew, "destroy")
	h.waitFor("destroy", func() bool { return h.set[idNew] == nil })
	if n := srv.Count(fakedocker.RouteList); n != lists {
		t.Errorf("%d lists while following events, want none", n-lists)
	}

	// A daemon restart: the stream ends, connections are refused for a while,
	// and what changed meanwhile is found by the full resync.
	srv.Stop()
	h.waitFor("disconnected", func() bool { return !h.w.Stats().Connected })
	srv.Remove(idBilling)
	srv.Add(fakedocker.Container{ID: idNew2, Name: "after-restart"})
	time.Sleep(50 * time.Millisecond) // a refused reconnect or two
	before := len(h.log)
	srv.Restart()
	h.waitFor("resync after restart", func() bool { return h.w.Stats().Resyncs == 2 && h.w.Stats().Connected })
	h.drain()
	want := []string{idMigrate, idLogRouter, idWeb, idNew2}
	if got := slices.Sorted(maps.Keys(h.set)); !cmp.Equal(slices.Sorted(slices.Values(want)), got) {
		t.Errorf("set after restart = %v, want %v", got, want)
	}
	// The resync reported every container and the removal of the gone one.
	var metas, removals []string
	for _, ch := range h.log[before:] {
		if ch.Removed {
			removals = append(removals, ch.ID)
		} else {
			metas = append(metas, ch.ID)
		}
	}
	if !cmp.Equal([]string{idBilling}, removals) || len(metas) != 4 {
		t.Errorf("resync changes: metas %v, removals %v; want 4 metas and the removal of billing-worker", metas, removals)
	}
	if s := h.w.Stats(); s.Reconnects == 0 || s.Errors == 0 || s.LastError == "" || s.LastResync.IsZero() {
		t.Errorf("Stats() after restart = %+v, want reconnects and errors counted", s)
	}
	assertOnlyAllowed(t, srv)
	if n := srv.Count(""); n != 0 {
		t.Errorf("%d requests refused by the allowlist", n)
	}
}

func TestWatcherAPIVersions(t *testing.T) {
	t.Parallel()
	for _, api := range [][2]string{{"1.24", "1.12"}, {"1.52", "1.44"}} {
		srv := fakedocker.Start(t, v2Docker)
		srv.SetAPI(api[0], api[1])
		h := startWatcher(t, srv, time.Second, testWatcherOptions())
		h.ready(4)
		srv.SetState(idCron, "exited", 0)
		srv.Emit(idCron, "die")
		h.waitFor("die", func() bool { return h.state(idCron) == "exited" })
		want := api[0]
		if want == "1.52" {
			want = "1.47"
		}
		for _, r := range srv.Requests() {
			if r.Route != fakedocker.RoutePing && !strings.HasPrefix(r.Path, "/v"+want+"/") {
				t.Errorf("daemon API %s: request %s, want the /v%s/ prefix", api[0], r.Path, want)
			}
		}
		assertOnlyAllowed(t, srv)
	}
}

func TestWatcherFaults(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name   string
		before func(*fakedocker.Server) // before the watcher starts
		after  func(*testing.T, *harness)
		check  func(*testing.T, *harness, Stats)
	}{
		{name: "404 between list and inspect",
			before: func(s *fakedocker.Server) { s.VanishAfterList(idWeb) },
			check: func(t *testing.T, h *harness, s Stats) {
				if s.Inspect404 != 1 || s.Errors != 0 || h.set[idWeb] != nil || len(h.set) != 3 {
					t.Errorf("stats %+v, set %d: want one 404 skipped, no error", s, len(h.set))
				}
			}},
		{name: "404 on an event's inspect",
			after: func(t *testing.T, h *harness) {
				h.srv.Remove(idWeb)
				h.srv.Emit(idWeb, "die") // destroy not seen yet: the inspect finds it gone
				h.waitFor("removal", func() bool { return h.set[idWeb] == nil })
			},
			check: func(t *testing.T, h *harness, s Stats) {
				if s.Inspect404 != 1 || s.Errors != 0 {
					t.Errorf("stats %+v, want one 404, no error", s)
				}
			}},
		{name: "inspect 500 on an event",
			after: func(t *testing.T, h *harness) {
				h.srv.SetState(idWeb, "exited", 0)
				h.srv.Inject(fakedocker.Fault{Route: fakedocker.RouteInspect, Status: 500, Times: 1})
				h.srv.Emit(idWeb, "die")
				h.waitFor("error counted", func() bool { return h.w.Stats().Errors == 1 })
				if st := h.state(idWeb); st != "running" {
					t.Errorf("state after a failed inspect = %q, want the last known (running)", st)
				}
				h.srv.Emit(idWeb, "die")
				h.waitFor("retry on the next event", func() bool { return h.state(idWeb) == "exited" })
			},
			check: func(t *testing.T, h *harness, s Stats) {
				if s.Reconnects != 0 || !s.Connected || !strings.Contains(s.LastError, "HTTP 500") {
					t.Errorf("stats %+v: a failed inspect must not drop the stream", s)
				}
			}},
		{name: "garbage list",
			before: func(s *fakedocker.Server) {
				s.Inject(fakedocker.Fault{Route: fakedocker.RouteList, Garbage: true, Times: 2})
			},
			check: func(t *testing.T, h *harness, s Stats) {
				if s.Errors != 2 || s.Reconnects != 2 || s.Resyncs != 1 || !strings.Contains(s.LastError, "decode container list") {
					t.Errorf("stats %+v, want 2 errors and reconnects, then a resync", s)
				}
			}},
		{name: "garbage inspect",
			before: func(s *fakedocker.Server) {
				s.Inject(fakedocker.Fault{Route: fakedocker.RouteInspect, Garbage: true, Times: 1})
			},
			check: func(t *testing.T, h *harness, s Stats) {
				// The first container's inspect failed: it is left out of this
				// resync (it was not known before) and the rest go on.
				if s.Errors != 1 || s.Resyncs != 1 || len(h.set) != 3 {
					t.Errorf("stats %+v, set %d: want 1 error, 3 containers", s, len(h.set))
				}
			}},
		{name: "slow daemon",
			before: func(s *fakedocker.Server) {
				s.Inject(fakedocker.Fault{Route: fakedocker.RouteList, Delay: time.Second, Times: 1})
			},
			check: func(t *testing.T, h *harness, s Stats) {
				if s.Errors != 1 || !strings.Contains(s.LastError, "no reply within") {
					t.Errorf("stats %+v, want one timeout", s)
				}
			}},
		{name: "events not HTTP",
			before: func(s *fakedocker.Server) {
				s.Inject(fakedocker.Fault{Route: fakedocker.RouteEvents, BadHTTP: true, Times: 1})
			},
			check: func(t *testing.T, h *harness, s Stats) {
				if s.Errors != 1 || s.Reconnects != 1 || s.Resyncs != 2 {
					t.Errorf("stats %+v, want a reconnect and a second resync", s)
				}
			}},
		{name: "events 500",
			before: func(s *fakedocker.Server) {
				s.Inject(fakedocker.Fault{Route: fakedocker.RouteEvents, Status: 500, Times: 1})
			},
			check: func(t *testing.T, h *harness, s Stats) {
				if s.Errors != 1 || s.Reconnects != 1 || s.Resyncs != 2 {
					t.Errorf("stats %+v, want a reconnect and a second resync", s)
				}
			}},
		{name: "stream cut mid-event",
			after: func(t *testing.T, h *harness) {
				h.srv.SetState(idWeb, "exited", 0)
				h.srv.Inject(fakedocker.Fault{Route: fakedocker.RouteEvents, Cut: true, Times: 1})
				h.srv.Emit(idWeb, "die")
				h.waitFor("resync", func() bool { return h.w.Stats().Resyncs == 2 && h.state(idWeb) == "exited" })
			},
			check: func(t *testing.T, h *harness, s Stats) {
				if s.Reconnects != 1 || s.Errors != 1 || !strings.Contains(s.LastError, "unexpected EOF") {
					t.Errorf("stats %+v, want one reconnect after an unexpected EOF", s)
				}
			}},
		{name: "garbage event",
			after: func(t *testing.T, h *harness) {
				h.srv.EmitRaw([]byte(`{"Type":"container","Action":"start","Actor":`))
				h.waitFor("resync", func() bool { return h.w.Stats().Resyncs == 2 })
			},
			check: func(t *testing.T, h *harness, s Stats) {
				if s.Reconnects != 0 || s.Errors != 1 || !s.Connected || !strings.Contains(s.LastError, "malformed event: decode event") {
					t.Errorf("stats %+v, want the stream kept, one error and a resync", s)
				}
			}},
		{name: "garbage stream",
			after: func(t *testing.T, h *harness) {
				for range maxBadEvents + 1 {
					h.srv.EmitRaw([]byte(`not json`))
				}
				h.waitFor("reconnect", func() bool { return h.w.Stats().Reconnects >= 1 })
			},
			check: func(t *testing.T, h *harness, s Stats) {
				if !strings.Contains(s.LastError, "malformed event") || s.Errors < maxBadEvents+1 {
					t.Errorf("stats %+v, want a reconnect after %d bad lines", s, maxBadEvents+1)
				}
			}},
		{name: "event over 64 KiB",
			after: func(t *testing.T, h *harness) {
				h.srv.SetState(idWeb, "exited", 0)
				h.srv.EmitRaw([]byte(`{"Type":"container","Action":"die","Actor":{"ID":"` + idWeb + `","Attributes":{"x":"` + strings.Repeat("y", 70000) + `"}}}`))
				h.waitFor("resync in place", func() bool { return h.w.Stats().Resyncs == 2 && h.state(idWeb) == "exited" })
			},
			check: func(t *testing.T, h *harness, s Stats) {
				if s.Reconnects != 0 || s.Errors != 1 || !s.Connected {
					t.Errorf("stats %+v, want the stream kept and one error", s)
				}
			}},
		{name: "daemon down at start",
			before: func(s *fakedocker.Server) { s.Stop() },
			after: func(t *testing.T, h *harness) {
				h.waitFor("refused attempts", func() bool { return h.w.Stats().Errors >= 3 })
				if s := h.w.Stats(); s.Connected || !strings.Contains(s.LastError, "connection refused") {
					t.Errorf("stats while down = %+v", s)
				}
				h.srv.Restart()
			},
			check: func(t *testing.T, h *harness, s Stats) {
				if s.Resyncs != 1 || s.Reconnects < 3 {
					t.Errorf("stats %+v, want reconnects then one resync", s)
				}
			}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := fakedocker.Start(t, v1Docker)
			if tt.before != nil {
				tt.before(srv)
			}
			h := startWatcher(t, srv, 200*time.Millisecond, testWatcherOptions())
			if tt.after != nil {
				if tt.name == "daemon down at start" {
					tt.after(t, h)
					h.ready(4)
				} else {
					h.waitFor("connected", func() bool { return h.w.Stats().Connected })
					tt.after(t, h)
				}
			} else {
				h.waitFor("connected", func() bool { return h.w.Stats().Connected })
			}
			h.drain()
			tt.check(t, h, h.w.Stats())
			assertOnlyAllowed(t, srv)
		})
	}
}

func TestWatcherOverflow(t *testing.T) {
	t.Parallel()
	srv := fakedocker.Start(t, v1Docker)
	opts := testWatcherOptions()
	opts.QueueSize = 2
	h := startWatcher(t, srv, time.Second, opts)
	// The first resync alone overflows a queue of 2: the drain reports everything.
	h.ready(4)
	if s := h.w.Stats(); s.Overflows != 1 || s.Drops != 2 {
		t.Errorf("Stats() = %+v, want 1 overflow dropping 2 changes", s)
	}

	srv.Remove(idWeb)
	srv.Emit(idWeb, "destroy")
	for i, id := range []string{idNew, idNew2, "3333333333333333333333333333333333333333333333333333333333333333"} {
		srv.Add(fakedocker.Container{ID: id, Name: "n" + string(rune('0'+i))})
		srv.Emit(id, "start")
	}
	deadline := time.Now().Add(5 * time.Second)
	for h.w.Stats().Overflows < 2 || h.known("3333333333333333333333333333333333333333333333333333333333333333") == nil {
		if time.Now().After(deadline) {
			t.Fatalf("no second overflow: %+v", h.w.Stats())
		}
		time.Sleep(5 * time.Millisecond)
	}
	changes := h.drain()
	var removals int
	for _, ch := range changes {
		if ch.Removed {
			removals++
			if ch.ID != idWeb {
				t.Errorf("removal of %s, want only web", short(ch.ID))
			}
		}
	}
	if removals != 1 || len(changes) != 7 || len(h.set) != 6 {
		t.Errorf("full report after overflow: %d changes, %d removals, set %d; want 7, 1, 6", len(changes), removals, len(h.set))
	}
	if got := h.drain(); len(got) != 0 {
		t.Errorf("second Drain() = %d changes, want none", len(got))
	}
}

func TestWatcherCoalesce(t *testing.T) {
	t.Parallel()
	srv := fakedocker.Start(t, v1Docker)
	h := startWatcher(t, srv, time.Second, testWatcherOptions())
	h.ready(4)

	// A container created and removed between two drains is never reported;
	// several changes of one container are one change.
	srv.Add(fakedocker.Container{ID: idNew, Name: "short-lived"})
	srv.Emit(idNew, "create")
	srv.Emit(idNew, "start")
	deadline := time.Now().Add(5 * time.Second)
	for h.known(idNew) == nil {
		if time.Now().After(deadline) {
			t.Fatal("new container never inspected")
		}
		time.Sleep(2 * time.Millisecond)
	}
	srv.Remove(idNew)
	srv.Emit(idNew, "destroy")
	old := h.known(idBilling)
	for _, a := range []string{"die", "start", "die", "start"} {
		srv.SetState(idBilling, map[string]string{"die": "exited", "start": "running"}[a], 9)
		srv.Emit(idBilling, a)
	}
	// Events are handled in order: once billing-worker's last start is in, all is.
	for h.known(idBilling) == old || h.known(idBilling).StartedAt.IsZero() || h.known(idNew) != nil || h.w.Stats().Events < 7 {
		if time.Now().After(deadline) {
			t.Fatalf("events not handled: %+v", h.w.Stats())
		}
		time.Sleep(2 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // the last batch's inspect
	changes := h.drain()
	if len(changes) != 1 || changes[0].ID != idBilling || changes[0].Meta.State != "running" {
		t.Errorf("Drain() = %+v, want one change: billing-worker running", changes)
	}
}

func TestWatcherDrainDoesNotBlock(t *testing.T) {
	t.Parallel()
	srv := fakedocker.Start(t, v1Docker)
	h := startWatcher(t, srv, 5*time.Second, testWatcherOptions())
	h.ready(4)
	n := srv.Count(fakedocker.RouteInspect)
	srv.Inject(fakedocker.Fault{Route: fakedocker.RouteInspect, Delay: 2 * time.Second, Times: 1})
	srv.Emit(idWeb, "die")
	deadline := time.Now().Add(5 * time.Second)
	for srv.Count(fakedocker.RouteInspect) == n {
		if time.Now().After(deadline) {
			t.Fatal("no inspect")
		}
		time.Sleep(2 * time.Millisecond)
	}
	start := time.Now()
	for range 100 {
		h.drain()
	}
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("100 Drain() calls took %v while the watcher waits on the daemon", d)
	}
	_ = h.w.Stats()
}

func TestWatcherPeriodicResync(t *testing.T) {
	t.Parallel()
	srv := fakedocker.Start(t, v1Docker)
	opts := testWatcherOptions()
	opts.ResyncInterval = 100 * time.Millisecond
	h := startWatcher(t, srv, time.Second, opts)
	h.ready(4)
	srv.Remove(idWeb) // no event: only the resync finds it
	h.waitFor("resyncs", func() bool { return h.w.Stats().Resyncs >= 3 && h.set[idWeb] == nil })
	if s := h.w.Stats(); s.Reconnects != 0 || s.Errors != 0 {
		t.Errorf("Stats() = %+v: a periodic resync is neither a reconnect nor an error", s)
	}
}

func TestWatcherReenrich(t *testing.T) {
	t.Parallel()
	srv := fakedocker.Start(t, v1Docker)
	var mu sync.Mutex
	status := "PENDING"
	opts := testWatcherOptions()
	opts.Enrich = func(m *container.Meta) {
		if m.ECS.IsZero() {
			m.ECS = container.ParseECS(m.Labels)
		}
		if m.ECS.IsZero() {
			return
		}
		mu.Lock()
		m.ECS.KnownStatus, m.ECS.AgentAvailable = status, true
		mu.Unlock()
	}
	h := startWatcher(t, srv, time.Second, opts)
	h.ready(4)
	if e := h.set[idWeb].ECS; e.KnownStatus != "PENDING" || !e.AgentAvailable || e.TaskID != "df3680a1ae7b4506c757ecd12e08f10e" {
		t.Errorf("enriched ECS = %+v", e)
	}
	h.w.Reenrich()
	if got := h.drain(); len(got) != 0 {
		t.Errorf("Reenrich() with nothing new: %d changes", len(got))
	}
	mu.Lock()
	status = "RUNNING"
	mu.Unlock()
	h.w.Reenrich()
	got := h.drain()
	ids := make([]string, 0, len(got))
	for _, ch := range got {
		ids = append(ids, ch.ID)
		if ch.Meta.ECS.KnownStatus != "RUNNING" || ch.Meta.Tags.High == nil {
			t.Errorf("Reenrich() change %+v", ch.Meta.ECS)
		}
	}
	if want := []string{idWeb, idLogRouter}; !cmp.Equal(want, slices.Sorted(slices.Values(ids))) {
		t.Errorf("Reenrich() changed %v, want the two ECS containers %v", ids, want)
	}
}

func TestWatcherRunTwice(t *testing.T) {
	t.Parallel()
	srv := fakedocker.Start(t, v1Docker)
	h := startWatcher(t, srv, time.Second, testWatcherOptions())
	h.ready(4)
	if err := h.w.Run(t.Context()); err == nil {
		t.Error("second Run() = nil, want an error")
	}
}
