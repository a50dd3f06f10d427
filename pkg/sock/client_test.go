package sock

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/whippet-agent/whippet/pkg/container"
	"github.com/whippet-agent/whippet/pkg/sock/fakedocker"
)

// assertOnlyAllowed fails t if the fake daemon saw a request a read-only proxy
// for whippet would refuse.
func assertOnlyAllowed(t *testing.T, srv *fakedocker.Server) {
	t.Helper()
	for _, r := range srv.Requests() {
		if r.Route == "" || r.Method != http.MethodGet {
			t.Errorf("request %s %s?%s is outside the GET allowlist", r.Method, r.Path, r.Query)
		}
	}
}

func newClient(t *testing.T, srv *fakedocker.Server, timeout time.Duration) *Client {
	t.Helper()
	c := New(srv.Socket, Options{Timeout: timeout})
	t.Cleanup(func() { c.Close() })
	return c
}

func TestNegotiate(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name     string
		max, min string
		pingFail bool // the ping route answers 403 (a proxy without it)
		want     string
		wantErr  bool
	}{
		{name: "recorded 20.10", want: "1.41"},
		{name: "oldest supported", max: "1.24", min: "1.12", want: "1.24"},
		{name: "Engine 29", max: "1.52", min: "1.44", want: "1.47"},
		{name: "future daemon, minimum above ours", max: "1.60", min: "1.50", want: "1.50"},
		{name: "no ping: /version", max: "1.43", min: "1.12", pingFail: true, want: "1.43"},
		{name: "too old", max: "1.23", min: "1.12", wantErr: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := fakedocker.Start(t, v1Docker)
			if tt.max != "" {
				srv.SetAPI(tt.max, tt.min)
			}
			if tt.pingFail {
				srv.Inject(fakedocker.Fault{Route: fakedocker.RoutePing, Status: http.StatusForbidden})
			}
			c := newClient(t, srv, 0)
			ctx := t.Context()
			v, err := c.Negotiate(ctx)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("Negotiate() = %s, want an error", v)
				}
				return
			}
			if err != nil {
				t.Fatalf("Negotiate() error: %v", err)
			}
			// The future daemon is only found out by its 400 on the first real call.
			list, err := c.List(ctx)
			if err != nil || len(list) != 4 {
				t.Fatalf("List() = %d containers, %v; want 4", len(list), err)
			}
			if got := c.APIVersion(); got != tt.want {
				t.Errorf("APIVersion() = %s, want %s", got, tt.want)
			}
			last := srv.Requests()[len(srv.Requests())-1]
			if want := "/v" + tt.want + "/containers/json"; last.Path != want || last.Query != "all=1" {
				t.Errorf("list request = %s?%s, want %s?all=1", last.Path, last.Query, want)
			}
			assertOnlyAllowed(t, srv)
		})
	}
}

func TestClientFixtures(t *testing.T) {
	t.Parallel()
	for dir, metas := range fixtureMetas(t) {
		srv := fakedocker.Start(t, dir)
		c := newClient(t, srv, 0)
		ctx := t.Context()
		list, err := c.List(ctx)
		if err != nil {
			t.Fatalf("%s: List() error: %v", dir, err)
		}
		if len(list) != len(metas) {
			t.Errorf("%s: List() = %d containers, want %d", dir, len(list), len(metas))
		}
		for _, s := range list {
			m, err := c.Inspect(ctx, s.ID)
			if err != nil {
				t.Fatalf("%s: Inspect(%s) error: %v", dir, s.ID[:12], err)
			}
			if diff := cmp.Diff(metas[s.ID], *m, ignoreTags); diff != "" {
				t.Errorf("%s: Inspect(%s) mismatch (-want +got):\n%s", dir, s.ID[:12], diff)
			}
			if want := m.ComputeTags(); !cmp.Equal(want, m.Tags) {
				t.Errorf("%s: Inspect(%s) not finished: tags %v", dir, s.ID[:12], m.Tags)
			}
		}
		// One ping, one list, four inspects: all on one kept-alive connection.
		if n := srv.Conns(); n != 1 {
			t.Errorf("%s: %d connections for %d requests, want 1", dir, n, len(srv.Requests()))
		}
		assertOnlyAllowed(t, srv)
	}
}

func TestClientFaults(t *testing.T) {
	t.Parallel()
	const timeout = 150 * time.Millisecond
	for _, tt := range []struct {
		name  string
		setup func(*fakedocker.Server)
		call  string // list or inspect
		check func(error) bool
		text  string // in the error text
	}{
		{name: "slow list", setup: func(s *fakedocker.Server) {
			s.Inject(fakedocker.Fault{Route: fakedocker.RouteList, Delay: time.Second})
		}, call: "list", check: func(err error) bool { return errors.Is(err, context.DeadlineExceeded) }, text: "no reply within 150ms"},
		{name: "list 500", setup: func(s *fakedocker.Server) {
			s.Inject(fakedocker.Fault{Route: fakedocker.RouteList, Status: 500})
		}, call: "list", check: func(err error) bool { var se *StatusError; return errors.As(err, &se) && se.Code == 500 }, text: "docker list: HTTP 500: fakedocker: injected fault"},
		{name: "inspect 500", setup: func(s *fakedocker.Server) {
			s.Inject(fakedocker.Fault{Route: fakedocker.RouteInspect, Status: 500})
		}, call: "inspect", check: func(err error) bool { return !errors.Is(err, ErrNotFound) }, text: "HTTP 500"},
		{name: "garbage list", setup: func(s *fakedocker.Server) {
			s.Inject(fakedocker.Fault{Route: fakedocker.RouteList, Garbage: true})
		}, call: "list", text: "docker list: decode container list: invalid character"},
		{name: "garbage inspect", setup: func(s *fakedocker.Server) {
			s.Inject(fakedocker.Fault{Route: fakedocker.RouteInspect, Garbage: true})
		}, call: "inspect", text: "decode container inspect"},
		{name: "not HTTP", setup: func(s *fakedocker.Server) {
			s.Inject(fakedocker.Fault{Route: fakedocker.RouteList, BadHTTP: true})
		}, call: "list", text: "malformed HTTP"},
		{name: "gone between list and inspect", setup: func(s *fakedocker.Server) {
			s.Remove(idWeb)
		}, call: "inspect", check: func(err error) bool { return errors.Is(err, ErrNotFound) }, text: "no such container"},
		{name: "daemon stopped", setup: func(s *fakedocker.Server) { s.Stop() },
			call: "list", check: func(err error) bool { return errors.Is(err, syscall.ECONNREFUSED) }, text: "connection refused"},
		{name: "forbidden by a proxy", setup: func(s *fakedocker.Server) {
			s.Inject(fakedocker.Fault{Route: fakedocker.RouteList, Status: http.StatusForbidden})
		}, call: "list", text: "HTTP 403"},
		{name: "inspect over 1 MiB", setup: func(s *fakedocker.Server) {
			s.Add(fakedocker.Container{ID: idWeb, Name: "big", Labels: map[string]string{"big": strings.Repeat("x", maxInspectBytes)}})
		}, call: "inspect", check: func(err error) bool { return errors.Is(err, ErrTooLarge) }, text: "over the size cap"},
		{name: "list over 16 MiB", setup: func(s *fakedocker.Server) {
			s.Add(fakedocker.Container{ID: idWeb, Name: "big", Labels: map[string]string{"big": strings.Repeat("x", maxListBytes)}})
		}, call: "list", check: func(err error) bool { return errors.Is(err, ErrTooLarge) }, text: "over the size cap"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := fakedocker.Start(t, v1Docker)
			to := timeout
			if strings.Contains(tt.name, "MiB") {
				to = 10 * time.Second // the fault is the size, not the time
			}
			c := newClient(t, srv, to)
			ctx := t.Context()
			if _, err := c.Negotiate(ctx); err != nil {
				t.Fatal(err)
			}
			tt.setup(srv)
			var err error
			switch tt.call {
			case "list":
				var list []Summary
				list, err = c.List(ctx)
				if err == nil {
					t.Fatalf("List() = %d containers, want an error", len(list))
				}
			case "inspect":
				var m *container.Meta
				m, err = c.Inspect(ctx, idWeb)
				if err == nil {
					t.Fatalf("Inspect() = %+v, want an error", m)
				}
			}
			if tt.check != nil && !tt.check(err) {
				t.Errorf("error %v (%T) is not the expected kind", err, errors.Unwrap(err))
			}
			if !strings.Contains(err.Error(), tt.text) {
				t.Errorf("error %q does not contain %q", err, tt.text)
			}
			assertOnlyAllowed(t, srv)
			// The client recovers once the fault is gone.
			srv.ClearFaults()
			if tt.name == "daemon stopped" {
				srv.Restart()
			}
			if tt.call == "list" && !strings.Contains(tt.name, "16 MiB") {
				if _, err := c.List(ctx); err != nil {
					t.Errorf("List() after the fault error: %v", err)
				}
			}
		})
	}
}

func TestInspectBadID(t *testing.T) {
	t.Parallel()
	srv := fakedocker.Start(t, v1Docker)
	c := newClient(t, srv, 0)
	for _, id := range []string{"", "../../images", "web", strings.Repeat("a", 65), idWeb + "/../x"} {
		if _, err := c.Inspect(t.Context(), id); err == nil || !strings.Contains(err.Error(), "bad container id") {
			t.Errorf("Inspect(%q) error = %v, want bad container id", id, err)
		}
	}
	if n := srv.Count(fakedocker.RouteInspect); n != 0 {
		t.Errorf("%d inspect requests sent for bad ids", n)
	}
}

func TestEventStream(t *testing.T) {
	t.Parallel()
	srv := fakedocker.Start(t, v1Docker)
	c := newClient(t, srv, time.Second)
	ctx := t.Context()

	// Replay: an event from before the stream opened comes with since.
	srv.Emit(idWeb, "die")
	st, err := c.Events(ctx, time.Now().Add(-time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var e Event
	next := func() error {
		t.Helper()
		done := make(chan error, 1)
		go func() { done <- st.Next(&e) }()
		select {
		case err := <-done:
			return err
		case <-time.After(5 * time.Second):
			t.Fatal("Next() did not return within 5 s")
			return nil
		}
	}
	if err := next(); err != nil || e.Action != "die" || e.ID != idWeb || e.Name != "ecs-webapp-7-web-31cc41b4bf408f267c2e" {
		t.Fatalf("replayed Next() = %+v, %v; want die of web", e, err)
	}
	req := srv.Requests()[len(srv.Requests())-1]
	if req.Path != "/v1.41/events" || !strings.Contains(req.Query, "since=") || !strings.Contains(req.Query, "filters=") {
		t.Errorf("events request = %s?%s", req.Path, req.Query)
	}

	// A line over 64 KiB is skipped with ErrTooLarge; the stream goes on.
	srv.EmitRaw([]byte(`{"Type":"container","Action":"start","Actor":{"ID":"` + idWeb + `","Attributes":{"x":"` + strings.Repeat("y", maxEventLine) + `"}}}`))
	srv.Emit(idBilling, "start")
	if err := next(); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Next() on a long line = %+v, %v; want ErrTooLarge", e, err)
	}
	if err := next(); err != nil || e.ID != idBilling || e.Action != "start" {
		t.Errorf("Next() after a long line = %+v, %v; want start of billing-worker", e, err)
	}
	// Events about other objects are skipped; garbage is an error.
	srv.EmitRaw([]byte(`{"Type":"network","Action":"connect","Actor":{"ID":"` + idWeb + `"}}`))
	srv.EmitRaw([]byte(`{"Type":"container","Action":`))
	if err := next(); err == nil || !strings.Contains(err.Error(), "decode event") {
		t.Errorf("Next() on garbage = %+v, %v; want a decode error", e, err)
	}
	// A stream cut inside an event is io.ErrUnexpectedEOF.
	srv.Inject(fakedocker.Fault{Route: fakedocker.RouteEvents, Cut: true, Times: 1})
	srv.Emit(idWeb, "start")
	if err := next(); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("Next() on a cut stream = %+v, %v; want io.ErrUnexpectedEOF", e, err)
	}

	// A daemon that goes away ends the stream with io.EOF.
	st2, err := c.Events(ctx, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	srv.Stop()
	if err := st2.Next(&e); err != io.EOF && !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("Next() after the daemon stopped = %v, want io.EOF", err)
	}
	if _, err := c.Events(ctx, time.Time{}); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("Events() on a stopped daemon error = %v, want connection refused", err)
	}
	assertOnlyAllowed(t, srv)
}

func TestEventsHeaderTimeout(t *testing.T) {
	t.Parallel()
	srv := fakedocker.Start(t, v1Docker)
	c := newClient(t, srv, 100*time.Millisecond)
	if _, err := c.Negotiate(t.Context()); err != nil {
		t.Fatal(err)
	}
	srv.Inject(fakedocker.Fault{Route: fakedocker.RouteEvents, Delay: 2 * time.Second})
	start := time.Now()
	_, err := c.Events(t.Context(), time.Time{})
	if err == nil || !strings.Contains(err.Error(), "no reply within 100ms") {
		t.Errorf("Events() error = %v, want a header timeout", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Events() took %v with a 100 ms timeout", d)
	}
	srv.ClearFaults()
	srv.Inject(fakedocker.Fault{Route: fakedocker.RouteEvents, Status: 500})
	if _, err := c.Events(t.Context(), time.Time{}); err == nil || !strings.Contains(err.Error(), "HTTP 500") {
		t.Errorf("Events() error = %v, want HTTP 500", err)
	}
}

func TestFakeRefusesWrites(t *testing.T) {
	t.Parallel()
	srv := fakedocker.Start(t, v1Docker)
	c := newClient(t, srv, 0)
	for _, r := range []struct{ method, path string }{
		{"POST", "/v1.41/containers/create"}, {"DELETE", "/v1.41/containers/" + idWeb}, {"POST", "/_ping"},
		{"GET", "/v1.41/containers/" + idWeb + "/archive"}, {"GET", "/v1.41/images/json"}, {"GET", "/v1.41/containers/web/json"},
	} {
		req, _ := http.NewRequestWithContext(t.Context(), r.method, "http://docker"+r.path, nil)
		resp, err := c.hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s %s = %d, want 403", r.method, r.path, resp.StatusCode)
		}
	}
	if n := srv.Count(""); n != 6 {
		t.Errorf("Count(refused) = %d, want 6", n)
	}
}

// TestDeclaredLengthCap: a reply whose Content-Length is over the cap is refused
// before its body is read.
func TestDeclaredLengthCap(t *testing.T) {
	t.Parallel()
	dir, err := os.MkdirTemp("", "sockcl")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ln, err := net.Listen("unix", filepath.Join(dir, "d.sock"))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/_ping" {
			w.Header().Set("Api-Version", "1.41")
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(maxInspectBytes+1))
		w.Write(make([]byte, maxInspectBytes+1))
	})}
	go srv.Serve(ln)
	defer srv.Close()
	c := New(filepath.Join(dir, "d.sock"), Options{})
	defer c.Close()
	_, err = c.Inspect(t.Context(), idWeb)
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "1048577 bytes, cap 1048576") {
		t.Errorf("Inspect() error = %v, want ErrTooLarge from the declared length", err)
	}
}
