package ecs

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/whippet-agent/whippet/pkg/container"
	"github.com/whippet-agent/whippet/pkg/sock"
	"github.com/whippet-agent/whippet/pkg/sock/fakedocker"
)

const (
	idWeb       = "0cbed5dba142072315d496a4f4f21230c74020775cb2f6249dc24ea7f8a2129f"
	idLogRouter = "bbc5b1de8e830fe0a04e3eb756f9f9ba2ac242881ce502cf8f3d35b92c9c56e8"
	idBilling   = "2840cb82852a3dc8063896aa9ec42f2d966e5a8f1180b0acd2b379d28feaa3ad"
	idPlain     = "3333333333333333333333333333333333333333333333333333333333333333"
	arnWebapp   = "arn:aws:ecs:us-east-1:123456789012:task/prod-ecs/df3680a1ae7b4506c757ecd12e08f10e"
	arnSidecar  = "arn:aws:ecs:us-east-1:123456789012:task/prod-ecs/5c2b1f0e9d8a4b7c6e5f4a3b2c1d0e9f"
	instanceARN = "arn:aws:ecs:us-east-1:123456789012:container-instance/prod-ecs/8a1b2c3d4e5f60718293a4b5c6d7e8f9"
)

// agent is a fake ECS agent introspection API.
type agent struct {
	mu      sync.Mutex
	md      string // /v1/metadata body
	tasks   string // /v1/tasks body
	status  int    // reply status; 0 = 200
	delay   time.Duration
	calls   atomic.Int64
	srv     *httptest.Server
	methods []string
}

// recorded-style replies of a v1.x agent, with fields whippet ignores.
const metadataJSON = `{"Cluster":"prod-ecs","ContainerInstanceArn":"` + instanceARN + `","Version":"Amazon ECS Agent - v1.89.0 (a1b2c3d4)"}`

func tasksJSON(webStatus string) string {
	return `{"Tasks":[` +
		`{"Arn":"` + arnWebapp + `","DesiredStatus":"RUNNING","KnownStatus":"` + webStatus + `","Family":"webapp","Version":"7",` +
		`"Containers":[{"DockerId":"` + idWeb + `","DockerName":"ecs-webapp-7-web-31cc41b4bf408f267c2e","Name":"web","CreatedAt":"2026-11-26T12:09:04Z","Networks":[{"NetworkMode":"none"}]},` +
		`{"DockerId":"` + idLogRouter + `","DockerName":"ecs-webapp-7-log-router-19210209121e9e98094a","Name":"log-router"}]},` +
		`{"Arn":"` + arnSidecar + `","DesiredStatus":"STOPPED","KnownStatus":"STOPPED","Family":"sidecar","Version":"2",` +
		`"Containers":[{"DockerId":"` + idBilling + `","DockerName":"billing-worker","Name":"billing"},{"DockerId":"","DockerName":"","Name":"not-created"}]}` +
		`],"Extra":{"ignored":true}}`
}

func startAgent(t *testing.T) *agent {
	t.Helper()
	a := &agent{md: metadataJSON, tasks: tasksJSON("RUNNING")}
	a.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.calls.Add(1)
		a.mu.Lock()
		a.methods = append(a.methods, r.Method+" "+r.URL.Path)
		status, delay, md, tasks := a.status, a.delay, a.md, a.tasks
		a.mu.Unlock()
		if delay > 0 {
			select {
			case <-time.After(delay):
			case <-r.Context().Done():
				return
			}
		}
		if status != 0 {
			w.WriteHeader(status)
			return
		}
		switch r.URL.Path {
		case "/v1/metadata":
			w.Write([]byte(md))
		case "/v1/tasks":
			w.Write([]byte(tasks))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(a.srv.Close)
	return a
}

func (a *agent) set(f func(*agent)) {
	a.mu.Lock()
	defer a.mu.Unlock()
	f(a)
}

// closedURL is a loopback URL where nothing listens.
func closedURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := "http://" + ln.Addr().String()
	ln.Close()
	return u
}

func TestClient(t *testing.T) {
	t.Parallel()
	a := startAgent(t)
	c := NewClient(a.srv.URL+"/", 0)
	defer c.Close()
	md, err := c.Metadata(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if want := (Metadata{Cluster: "prod-ecs", ContainerInstanceArn: instanceARN, Version: "Amazon ECS Agent - v1.89.0 (a1b2c3d4)"}); md != want {
		t.Errorf("Metadata() = %+v, want %+v", md, want)
	}
	tasks, err := c.Tasks(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := []Task{
		{Arn: arnWebapp, DesiredStatus: "RUNNING", KnownStatus: "RUNNING", Family: "webapp", Version: "7", Containers: []Container{
			{DockerID: idWeb, DockerName: "ecs-webapp-7-web-31cc41b4bf408f267c2e", Name: "web"},
			{DockerID: idLogRouter, DockerName: "ecs-webapp-7-log-router-19210209121e9e98094a", Name: "log-router"}}},
		{Arn: arnSidecar, DesiredStatus: "STOPPED", KnownStatus: "STOPPED", Family: "sidecar", Version: "2", Containers: []Container{
			{DockerID: idBilling, DockerName: "billing-worker", Name: "billing"}, {Name: "not-created"}}},
	}
	if diff := cmp.Diff(want, tasks); diff != "" {
		t.Errorf("Tasks() mismatch (-want +got):\n%s", diff)
	}
	for _, m := range a.methods {
		if !strings.HasPrefix(m, "GET ") {
			t.Errorf("request %s, want GET only", m)
		}
	}
}

func TestClientErrors(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		f    func(*agent)
		text string
	}{
		{"500", func(a *agent) { a.status = 500 }, "HTTP 500"},
		{"garbage", func(a *agent) { a.md, a.tasks = "<html>", "{" }, "decode"},
		{"slow", func(a *agent) { a.delay = 2 * time.Second }, "Client.Timeout"},
		{"too large", func(a *agent) { a.md = `{"Cluster":"` + strings.Repeat("x", maxMetadataBytes) + `"}` }, "reply over"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := startAgent(t)
			a.set(tt.f)
			c := NewClient(a.srv.URL, 200*time.Millisecond)
			defer c.Close()
			start := time.Now()
			if md, err := c.Metadata(t.Context()); err == nil || !strings.Contains(err.Error(), tt.text) {
				t.Errorf("Metadata() = %+v, %v; want an error with %q", md, err, tt.text)
			}
			if d := time.Since(start); d > time.Second {
				t.Errorf("Metadata() took %v with a 200 ms timeout", d)
			}
		})
	}
	c := NewClient(closedURL(t), 0)
	if _, err := c.Tasks(t.Context()); err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("Tasks() on a closed port error = %v", err)
	}
}

func TestCandidates(t *testing.T) {
	t.Parallel()
	gw := netip.MustParseAddr("172.17.0.1")
	for _, tt := range []struct {
		configured string
		gw         netip.Addr
		want       []string
	}{
		{"http://10.0.0.5:51678", gw, []string{"http://10.0.0.5:51678"}},
		{"", gw, []string{"http://172.17.0.1:51678", "http://169.254.172.1:51678", "http://localhost:51678"}},
		{"", netip.Addr{}, []string{"http://169.254.172.1:51678", "http://localhost:51678"}},
		{"", netip.IPv4Unspecified(), []string{"http://169.254.172.1:51678", "http://localhost:51678"}},
	} {
		if got := Candidates(tt.configured, tt.gw); !cmp.Equal(tt.want, got) {
			t.Errorf("Candidates(%q, %v) = %v, want %v", tt.configured, tt.gw, got, tt.want)
		}
	}
}

func TestParseRoute(t *testing.T) {
	t.Parallel()
	const header = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
	for _, tt := range []struct {
		name, in string
		want     string // "" = none
	}{
		{"bridge-mode task", header +
			"eth0\t00000000\t010011AC\t0003\t0\t0\t0\t00000000\t0\t0\t0\n" +
			"eth0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n", "172.17.0.1"},
		{"lowest metric wins", header +
			"eth1\t00000000\t0100A8C0\t0003\t0\t0\t600\t00000000\t0\t0\t0\n" +
			"eth0\t00000000\t0102000A\t0003\t0\t0\t100\t00000000\t0\t0\t0\n", "10.0.2.1"},
		{"no gateway flag", header + "eth0\t00000000\t010011AC\t0001\t0\t0\t0\t00000000\t0\t0\t0\n", ""},
		{"no default route", header + "eth0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n", ""},
		{"awsvpc: none", header, ""},
		{"garbage", "eth0 00000000 zz 0003 0 0 0 00000000\n\x00\x01", ""},
		{"empty", "", ""},
	} {
		got, ok := ParseRoute([]byte(tt.in))
		if (tt.want == "") != !ok || (ok && got.String() != tt.want) {
			t.Errorf("%s: ParseRoute(%q) = %v, %v; want %q", tt.name, tt.in, got, ok, tt.want)
		}
	}
	// This machine's own table parses (the path is the test's, not the agent's).
	if b, err := os.ReadFile("/proc/net/route"); err == nil {
		ParseRoute(b)
	}
	if _, err := DefaultGateway("testdata/does-not-exist"); err == nil {
		t.Error("DefaultGateway(missing file) = nil error")
	}
}

func FuzzParseRoute(f *testing.F) {
	f.Add([]byte("Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\n" + "eth0\t00000000\t010011AC\t0003\t0\t0\t0\t00000000\t0\t0\t0\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if gw, ok := ParseRoute(b); ok && !gw.Is4() {
			t.Fatalf("ParseRoute(%q) = %v", b, gw)
		}
	})
}

func TestDetect(t *testing.T) {
	t.Parallel()
	good := startAgent(t)
	html := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("<html>not the agent</html>"))
	}))
	defer html.Close()
	slow := startAgent(t)
	slow.set(func(a *agent) { a.delay = 3 * time.Second })

	start := time.Now()
	c, md, err := Detect(t.Context(), []string{closedURL(t), html.URL, slow.srv.URL, good.srv.URL}, 200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.URL() != good.srv.URL || md.Cluster != "prod-ecs" {
		t.Errorf("Detect() = %s, %+v; want %s", c.URL(), md, good.srv.URL)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Detect() took %v: the slow candidate was not cut at 200 ms", d)
	}
	if _, _, err := Detect(t.Context(), []string{closedURL(t), html.URL}, 200*time.Millisecond); err == nil || !strings.Contains(err.Error(), "ecs agent not found") {
		t.Errorf("Detect(no agent) error = %v", err)
	}
	if _, _, err := Detect(t.Context(), nil, 0); err == nil {
		t.Error("Detect(nil) = nil error")
	}
}

func TestPollerEnrich(t *testing.T) {
	t.Parallel()
	a := startAgent(t)
	var changes atomic.Int64
	p := NewPoller(PollerOptions{Candidates: []string{a.srv.URL}, OnChange: func() { changes.Add(1) }})
	// Before any refresh Enrich does nothing.
	m := &container.Meta{ID: idWeb}
	p.Enrich(m)
	if !m.ECS.IsZero() {
		t.Errorf("Enrich() before a refresh set %+v", m.ECS)
	}
	if err := p.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}

	labels := map[string]string{
		container.LabelCluster: "prod-ecs", container.LabelTaskARN: arnWebapp, container.LabelContainerName: "web",
		container.LabelFamily: "webapp", container.LabelVersion: "7",
	}
	for _, tt := range []struct {
		name string
		in   container.Meta
		want container.ECS
	}{
		{"labelled, known to the agent", container.Meta{ID: idWeb, Name: "ecs-webapp-7-web-31cc41b4bf408f267c2e", Labels: labels},
			container.ECS{Cluster: "prod-ecs", TaskARN: arnWebapp, TaskID: "df3680a1ae7b4506c757ecd12e08f10e", Family: "webapp", Version: "7",
				ContainerName: "web", Region: "us-east-1", Account: "123456789012", KnownStatus: "RUNNING", DesiredStatus: "RUNNING",
				InstanceARN: instanceARN, AgentAvailable: true}},
		{"no labels, known to the agent (stopped task)", container.Meta{ID: idBilling, Name: "billing-worker"},
			container.ECS{Cluster: "prod-ecs", TaskARN: arnSidecar, TaskID: "5c2b1f0e9d8a4b7c6e5f4a3b2c1d0e9f", Family: "sidecar", Version: "2",
				ContainerName: "billing", Region: "us-east-1", Account: "123456789012", KnownStatus: "STOPPED", DesiredStatus: "STOPPED",
				InstanceARN: instanceARN, AgentAvailable: true}},
		{"unknown to the agent", container.Meta{ID: idPlain, Name: "plain"}, container.ECS{}},
	} {
		m := tt.in
		p.Enrich(&m)
		m.Finish()
		if diff := cmp.Diff(tt.want, m.ECS); diff != "" {
			t.Errorf("%s: Enrich() ECS mismatch (-want +got):\n%s", tt.name, diff)
		}
		if !tt.want.IsZero() && !strings.Contains(strings.Join(m.Tags.Orchestrator, ","), "task_arn:"+tt.want.TaskARN) {
			t.Errorf("%s: tags after Enrich + Finish = %+v", tt.name, m.Tags)
		}
	}
	if n := changes.Load(); n != 1 {
		t.Errorf("OnChange called %d times after the first refresh, want 1", n)
	}
	// Nothing new: no change. A task status change: one.
	p.Refresh(t.Context())
	a.set(func(a *agent) { a.tasks = tasksJSON("PENDING") })
	p.Refresh(t.Context())
	if n := changes.Load(); n != 2 {
		t.Errorf("OnChange called %d times after a status change, want 2", n)
	}
	m = &container.Meta{ID: idWeb, Labels: labels}
	p.Enrich(m)
	if m.ECS.KnownStatus != "PENDING" {
		t.Errorf("KnownStatus after the change = %q", m.ECS.KnownStatus)
	}

	// The agent goes away: its data is kept for keepStale-1 failed refreshes,
	// then dropped (one more OnChange) and Enrich does nothing.
	a.set(func(a *agent) { a.status = 503 })
	for i := 1; i <= keepStale; i++ {
		if err := p.Refresh(t.Context()); err == nil {
			t.Fatal("Refresh() with the agent failing = nil")
		}
		m = &container.Meta{ID: idWeb}
		p.Enrich(m)
		if got, want := m.ECS.AgentAvailable, i < keepStale; got != want {
			t.Errorf("after %d failed refreshes AgentAvailable = %v, want %v", i, got, want)
		}
	}
	if n := changes.Load(); n != 3 {
		t.Errorf("OnChange called %d times after the agent left, want 3", n)
	}
	if s := p.Stats(); s.Available || s.Errors != keepStale || !strings.Contains(s.LastError, "HTTP 503") || s.Refreshes != 3 {
		t.Errorf("Stats() = %+v", s)
	}
}

// logCounter counts log records by level.
type logCounter struct {
	mu    sync.Mutex
	lines []string
}

func (l *logCounter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, string(bytes.TrimSpace(b)))
	return len(b), nil
}

func (l *logCounter) count(level string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, s := range l.lines {
		if strings.Contains(s, "level="+level) {
			n++
		}
	}
	return n
}

func TestPollerRun(t *testing.T) {
	t.Parallel()
	a := startAgent(t)
	var logs logCounter
	p := NewPoller(PollerOptions{Candidates: []string{closedURL(t), a.srv.URL}, Interval: 10 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	waitFor(t, func() bool { return p.Stats().Refreshes >= 3 })
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run() = %v", err)
	}
	if s := p.Stats(); !s.Available || s.URL != a.srv.URL || s.Tasks != 2 || s.Cluster != "prod-ecs" {
		t.Errorf("Stats() = %+v", s)
	}
	if n := logs.count("INFO"); n != 1 {
		t.Errorf("%d info lines, want 1 (agent found): %v", n, logs.lines)
	}
}

func TestPollerAbsentAgent(t *testing.T) {
	t.Parallel()
	var logs logCounter
	p := NewPoller(PollerOptions{Candidates: []string{closedURL(t)}, RetryInterval: 5 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	waitFor(t, func() bool { return p.Stats().Errors >= 5 })
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run() = %v", err)
	}
	if n := len(logs.lines); n != 1 || !strings.Contains(logs.lines[0], "ecs agent not reachable") {
		t.Errorf("log = %v, want one line for the absent agent", logs.lines)
	}
	m := &container.Meta{ID: idWeb}
	p.Enrich(m)
	if !m.ECS.IsZero() {
		t.Errorf("Enrich() without an agent set %+v", m.ECS)
	}
	// No candidates at all: Run just waits.
	p2 := NewPoller(PollerOptions{})
	ctx2, cancel2 := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel2()
	if err := p2.Run(ctx2); err != nil {
		t.Errorf("Run() without candidates = %v", err)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// TestWatcherWithPoller wires the poller to a sock.Watcher as cmd/agent does:
// Enrich completes each inspected container, OnChange re-enriches on a task
// status change that no Docker event announces.
func TestWatcherWithPoller(t *testing.T) {
	t.Parallel()
	a := startAgent(t)
	a.set(func(a *agent) { a.tasks = tasksJSON("PENDING") })
	srv := fakedocker.Start(t, "../../testdata/fakehost/v1/docker")
	var w *sock.Watcher
	p := NewPoller(PollerOptions{Candidates: []string{a.srv.URL}, OnChange: func() {
		if w != nil {
			w.Reenrich()
		}
	}})
	if err := p.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	c := sock.New(srv.Socket, sock.Options{})
	defer c.Close()
	w = sock.NewWatcher(c, sock.WatcherOptions{Enrich: p.Enrich})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	defer func() { cancel(); <-done }()

	set := map[string]*container.Meta{}
	drain := func() {
		w.Drain(func(ch container.Change) {
			if ch.Removed {
				delete(set, ch.ID)
			} else {
				set[ch.ID] = ch.Meta
			}
		})
	}
	waitFor(t, func() bool { drain(); return len(set) == 4 })
	if e := set[idWeb].ECS; e.KnownStatus != "PENDING" || !e.AgentAvailable || e.InstanceARN != instanceARN {
		t.Errorf("web's ECS = %+v", e)
	}
	if e := set[idBilling].ECS; e.TaskARN != arnSidecar || e.KnownStatus != "STOPPED" {
		t.Errorf("billing-worker's ECS (agent only, no labels) = %+v", e)
	}
	a.set(func(a *agent) { a.tasks = tasksJSON("RUNNING") })
	if err := p.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { drain(); return set[idWeb].ECS.KnownStatus == "RUNNING" })
	b, _ := json.Marshal(set[idWeb].ECS)
	t.Logf("web after the task started: %s", b)
}
