package sock

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/whippet-agent/whippet/internal/testenv"
	"github.com/whippet-agent/whippet/pkg/collect/hostfs"
	"github.com/whippet-agent/whippet/pkg/container"
	"github.com/whippet-agent/whippet/pkg/sock/fakedocker"
)

// Tests against a real Docker engine: the socket hostfs finds (DOCKER_HOST or
// /var/run/docker.sock), the docker CLI to change containers, and the local
// image scripts/setup-test-host.sh builds. Every container is named
// whippet-sock-test-* and removed when the test ends.

const testImage = "whippet-busybox:latest"

// engine returns the socket of a working Docker engine, or skips t.
func engine(t *testing.T) string {
	t.Helper()
	root, err := hostfs.Detect(os.Getenv, hostfs.DirExists)
	if err != nil {
		testenv.Skip(t, "docker socket: %v", err)
	}
	socket := root.DockerSocket()
	requireEngine(t, socket)
	return socket
}

func requireEngine(t *testing.T, socket string) {
	t.Helper()
	c := New(socket, Options{Timeout: 2 * time.Second})
	defer c.Close()
	if _, err := c.Negotiate(t.Context()); err != nil {
		testenv.Skip(t, "no Docker engine at %s (scripts/setup-test-host.sh starts one): %v", socket, err)
	}
	if _, err := exec.LookPath("docker"); err != nil {
		testenv.Skip(t, "no docker CLI: %v", err)
	}
	if out, err := exec.Command("docker", "-H", "unix://"+socket, "image", "inspect", "-f", "{{.Id}}", testImage).CombinedOutput(); err != nil {
		testenv.Skip(t, "no %s image (scripts/setup-test-host.sh builds it): %v: %s", testImage, err, out)
	}
}

// dockerCLI runs the docker CLI against socket and returns its trimmed output.
func dockerCLI(t *testing.T, socket string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "docker", append([]string{"-H", "unix://" + socket}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("docker %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// testName returns a fresh container name; the container is removed when t ends.
func testName(t *testing.T, socket string) string {
	t.Helper()
	b := make([]byte, 4)
	rand.Read(b)
	name := "whippet-sock-test-" + hex.EncodeToString(b)
	t.Cleanup(func() {
		exec.Command("docker", "-H", "unix://"+socket, "rm", "-f", name).Run()
	})
	return name
}

// within drains until cond holds, failing t if that takes longer than d.
func (h *harness) within(d time.Duration, what string, cond func() bool) {
	h.t.Helper()
	start := time.Now()
	for {
		h.drain()
		if cond() {
			h.t.Logf("%s seen after %v", what, time.Since(start).Round(time.Millisecond))
			return
		}
		if time.Since(start) > d {
			h.t.Fatalf("%s not seen within %v; stats %+v", what, d, h.w.Stats())
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// startEngineWatcher starts a watcher on a real engine's socket.
func startEngineWatcher(t *testing.T, socket string, opts WatcherOptions) *harness {
	t.Helper()
	h := startWatcherOn(t, socket, 0, opts)
	h.waitFor("connected", func() bool { return h.w.Stats().Connected })
	return h
}

// followLifecycle creates, starts, pauses, renames, stops and removes a
// container with the CLI and checks that the watcher reflects each step within
// a second, from events only.
func followLifecycle(t *testing.T, socket string, h *harness) {
	t.Helper()
	lists := h.w.Stats().Lists
	name := testName(t, socket)
	arn := "arn:aws:ecs:us-east-1:123456789012:task/sock-test/0123456789abcdef0123456789abcdef"
	id := dockerCLI(t, socket, "create", "--name", name, "--network", "none",
		"--label", container.LabelCluster+"=sock-test", "--label", container.LabelTaskARN+"="+arn,
		"--label", container.LabelContainerName+"=app", "--label", container.LabelFamily+"=sockfam",
		"--label", container.LabelVersion+"=4", "--label", "com.datadoghq.tags.env=e2e",
		testImage, "sleep", "1000")
	h.within(time.Second, "create", func() bool { return h.state(id) == "created" })
	m := h.set[id]
	if m.Name != name || m.Image != testImage || m.Labels["com.datadoghq.tags.env"] != "e2e" || m.NetworkMode != "none" {
		t.Errorf("created Meta = %+v", m)
	}
	if e := m.ECS; e.Cluster != "sock-test" || e.TaskID != "0123456789abcdef0123456789abcdef" || e.Family != "sockfam" || e.Version != "4" || e.ContainerName != "app" || e.Account != "123456789012" {
		t.Errorf("ECS of the created container = %+v", e)
	}

	dockerCLI(t, socket, "start", name)
	h.within(time.Second, "start", func() bool { return h.state(id) == "running" && h.set[id].Pid > 0 })
	if m := h.set[id]; m.StartedAt.IsZero() || !m.Running() {
		t.Errorf("started Meta = %+v", m)
	}
	dockerCLI(t, socket, "pause", name)
	h.within(time.Second, "pause", func() bool { return h.state(id) == "paused" })
	dockerCLI(t, socket, "unpause", name)
	h.within(time.Second, "unpause", func() bool { return h.state(id) == "running" })
	renamed := name + "-renamed"
	dockerCLI(t, socket, "rename", name, renamed)
	t.Cleanup(func() { exec.Command("docker", "-H", "unix://"+socket, "rm", "-f", renamed).Run() })
	h.within(time.Second, "rename", func() bool { return h.set[id].Name == renamed })
	dockerCLI(t, socket, "stop", "-t", "0", renamed)
	h.within(time.Second, "stop", func() bool { return h.state(id) == "exited" && h.set[id].Pid == 0 })
	if m := h.set[id]; m.FinishedAt.IsZero() {
		t.Errorf("stopped Meta = %+v, want FinishedAt", m)
	}
	dockerCLI(t, socket, "rm", renamed)
	h.within(time.Second, "remove", func() bool { return h.set[id] == nil })

	if s := h.w.Stats(); s.Lists != lists {
		t.Errorf("%d lists while following events, want none", s.Lists-lists)
	}
}

func TestEngineEvents(t *testing.T) {
	socket := engine(t)
	t.Parallel()
	h := startEngineWatcher(t, socket, WatcherOptions{})
	followLifecycle(t, socket, h)
	if s := h.w.Stats(); s.Errors != 0 || s.Reconnects != 0 {
		t.Errorf("Stats() = %+v, want no errors", s)
	}
}

// allowlistProxy is a read-only socket proxy in front of a real engine: GET of
// whippet's five routes is forwarded, anything else refused (and recorded).
type allowlistProxy struct {
	Socket string
	mu     sync.Mutex
	reqs   []fakedocker.Request
}

func startAllowlistProxy(t *testing.T, upstream string) *allowlistProxy {
	t.Helper()
	dir, err := os.MkdirTemp("", "sockproxy")
	if err != nil {
		t.Fatal(err)
	}
	p := &allowlistProxy{Socket: filepath.Join(dir, "proxy.sock")}
	ln, err := net.Listen("unix", p.Socket)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: "docker"})
	rp.Transport = &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", upstream)
	}}
	rp.FlushInterval = -1 // the event stream
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		route := fakedocker.Allow(r.Method, r.URL.Path)
		p.mu.Lock()
		p.reqs = append(p.reqs, fakedocker.Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Route: route})
		p.mu.Unlock()
		if route == "" {
			http.Error(w, `{"message":"forbidden by the read-only proxy"}`, http.StatusForbidden)
			return
		}
		rp.ServeHTTP(w, r)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() {
		srv.Close()
		os.RemoveAll(dir)
	})
	return p
}

func (p *allowlistProxy) requests() []fakedocker.Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]fakedocker.Request(nil), p.reqs...)
}

func TestEngineAllowlistProxy(t *testing.T) {
	socket := engine(t)
	t.Parallel()
	p := startAllowlistProxy(t, socket)
	h := startEngineWatcher(t, p.Socket, WatcherOptions{})
	followLifecycle(t, socket, h)

	// The proxy really refuses writes: the same client cannot create a container.
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, "http://docker/v1.41/containers/create", strings.NewReader("{}"))
	resp, err := h.w.c.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("POST through the proxy = %d, want 403", resp.StatusCode)
	}
	routes := map[fakedocker.Route]int{}
	for _, r := range p.requests() {
		routes[r.Route]++
		if r.Route == "" && r.Method != http.MethodPost {
			t.Errorf("whippet sent %s %s, which the allowlist refuses", r.Method, r.Path)
		}
	}
	if routes[""] != 1 || routes[fakedocker.RouteList] != 1 || routes[fakedocker.RouteEvents] != 1 || routes[fakedocker.RouteInspect] < 6 {
		t.Errorf("requests through the proxy by route = %v", routes)
	}
}

// TestEngineInfo compares the engine's host name and version with the CLI's.
func TestEngineInfo(t *testing.T) {
	t.Parallel()
	socket := engine(t)
	c := New(socket, Options{Timeout: 5 * time.Second})
	defer c.Close()
	info, err := c.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if want := dockerCLI(t, socket, "info", "-f", "{{.Name}} {{.ServerVersion}}"); info.Name+" "+info.ServerVersion != want {
		t.Errorf("Info = %q %q, want %q", info.Name, info.ServerVersion, want)
	}
	if info.NCPU < 1 || info.MemTotal <= 0 {
		t.Errorf("Info NCPU %d MemTotal %d, want positive", info.NCPU, info.MemTotal)
	}
}
