//go:build linux

// Package faults runs the whippet binary through what a host and an intake
// inflict on it — a Docker daemon restarted or frozen, an intake outage,
// SIGKILLs with the intake black-holed, exec storms, container churn — and
// checks that nothing is lost, nothing leaks and no secret escapes. Each test
// logs the figures RELIABILITY.md (repository root) reports. They need root and
// a Docker engine with the whippet-busybox image (scripts/setup-test-host.sh);
// elsewhere they skip, or fail under WHIPPET_REQUIRE_E2E=1.
package faults

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/whippet-agent/whippet/internal/testenv"
	"github.com/whippet-agent/whippet/pkg/ship/fakeintake"
	"github.com/whippet-agent/whippet/pkg/status"
)

const (
	image     = "whippet-busybox:latest"
	hostname  = "faults"
	mRunning  = "datadog.agent.running"
	stopLimit = 40 * time.Second // SIGTERM to exit: the flush deadline plus slack
)

// run makes this package run's container names unique: whippet-faults-<scenario>-<run>.
var run = randHex(3)

func randHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err)) // never fails on Linux
	}
	return hex.EncodeToString(b)
}

var build struct {
	once sync.Once
	dir  string
	bin  string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if build.dir != "" {
		os.RemoveAll(build.dir)
	}
	os.Exit(code)
}

// binary builds the agent once per package run (CGO_ENABLED=0, as released).
func binary(t *testing.T) string {
	t.Helper()
	build.once.Do(func() {
		gomod, err := exec.Command("go", "env", "GOMOD").Output()
		if err != nil {
			build.err = fmt.Errorf("go env GOMOD: %w", err)
			return
		}
		if build.dir, err = os.MkdirTemp("", "whippet-faults-bin"); err != nil {
			build.err = err
			return
		}
		build.bin = filepath.Join(build.dir, "whippet")
		cmd := exec.Command("go", "build", "-o", build.bin, "./cmd/agent")
		cmd.Dir = filepath.Dir(strings.TrimSpace(string(gomod)))
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			build.err = fmt.Errorf("go build ./cmd/agent: %w\n%s", err, out)
		}
	})
	if build.err != nil {
		t.Fatal(build.err)
	}
	return build.bin
}

// requireRoot skips (or fails under WHIPPET_REQUIRE_E2E=1) without root.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		testenv.Skip(t, "needs root (the agent reads every process, the tests mount and signal daemons)")
	}
}

// requireEngine skips without root, the shared Docker engine or its test image.
func requireEngine(t *testing.T) {
	t.Helper()
	requireRoot(t)
	if out, err := exec.Command("docker", "image", "inspect", "--format", "{{.Id}}", image).CombinedOutput(); err != nil {
		testenv.Skip(t, "no Docker engine with %s (run scripts/setup-test-host.sh): %v: %s", image, err, bytes.TrimSpace(out))
	}
}

// docker runs the docker CLI against host ("" for the shared engine) and
// returns its trimmed stdout.
func docker(t *testing.T, host string, args ...string) string {
	t.Helper()
	out, err := dockerErr(host, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func dockerErr(host string, args ...string) (string, error) {
	if host != "" {
		args = append([]string{"-H", "unix://" + host}, args...)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command("docker", args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("docker %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(stderr.Bytes()))
	}
	return strings.TrimSpace(stdout.String()), nil
}

// removeContainers removes, on cleanup, every container of host whose name
// starts with prefix.
func removeContainers(t *testing.T, host, prefix string) {
	t.Cleanup(func() {
		ids, err := dockerErr(host, "ps", "-aq", "--filter", "name=^"+prefix)
		if err != nil || ids == "" {
			return
		}
		if _, err := dockerErr(host, append([]string{"rm", "-f"}, strings.Fields(ids)...)...); err != nil {
			t.Logf("cleanup: %v", err)
		}
	})
}

// newIntake starts a fake intake for one test.
func newIntake(t *testing.T) (*fakeintake.Intake, string) {
	in := fakeintake.New(fakeintake.Options{})
	url := in.Start()
	t.Cleanup(in.Close)
	return in, url
}

// freeAddr returns a loopback address nobody listens on right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// agentOpts start an agent; zero fields take the defaults of startAgent.
type agentOpts struct {
	intake     string   // base URL of the intake (metrics and processes)
	key        string   // DD_API_KEY; a fresh canary when empty
	spool      string   // spool dir; a new temp dir when empty
	statusAddr string   // a free loopback port when empty
	env        []string // more KEY=VALUE, appended last (they win)
}

// agent is one `whippet run` child with the brief's clean environment.
type agent struct {
	t       *testing.T
	bin     string
	env     []string
	key     string
	addr    string
	spool   string
	logPath string
	cmd     *exec.Cmd
	done    chan struct{}
	err     error // Wait's result, set before done closes
	started time.Time
}

// agentEnv is the clean environment of the brief: nothing inherited but PATH.
func agentEnv(o agentOpts) []string {
	env := []string{
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"DD_API_KEY=" + o.key,
		"DD_DD_URL=" + o.intake,
		"DD_PROCESS_CONFIG_PROCESS_DD_URL=" + o.intake,
		"DD_PROCESS_AGENT_ENABLED=true",
		"DD_HOSTNAME=" + hostname,
		"DD_WHIPPET_METRICS_INTERVAL=1s",
		"DD_PROCESS_CONFIG_INTERVALS_PROCESS=1s",
		"DD_WHIPPET_SPOOL_DIR=" + o.spool,
		"DD_WHIPPET_STATUS_ADDR=" + o.statusAddr,
	}
	return append(env, o.env...)
}

// startAgent starts `whippet run` and stops it (SIGKILL if still running) at
// cleanup. Its stderr goes to a file that survives a SIGKILL.
func startAgent(t *testing.T, o agentOpts) *agent {
	t.Helper()
	dir := t.TempDir()
	if o.key == "" {
		o.key = randHex(16)
	}
	if o.spool == "" {
		o.spool = filepath.Join(dir, "spool")
	}
	if o.statusAddr == "" {
		o.statusAddr = freeAddr(t)
	}
	a := &agent{t: t, bin: binary(t), env: agentEnv(o), key: o.key, addr: o.statusAddr, spool: o.spool}
	a.start(filepath.Join(dir, "agent.log"))
	t.Cleanup(func() {
		if !a.exited() {
			a.cmd.Process.Kill()
			<-a.done
		}
	})
	return a
}

// start runs the binary again with the same environment (a restart), logging
// to logPath (appended).
func (a *agent) start(logPath string) {
	a.t.Helper()
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		a.t.Fatal(err)
	}
	defer f.Close()
	a.logPath = logPath
	a.cmd = exec.Command(a.bin, "run")
	a.cmd.Env = a.env
	a.cmd.Stdout, a.cmd.Stderr = f, f
	if err := a.cmd.Start(); err != nil {
		a.t.Fatalf("start whippet run: %v", err)
	}
	a.started = time.Now()
	a.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) {
		a.err = cmd.Wait()
		close(done)
	}(a.cmd, a.done)
}

func (a *agent) pid() int { return a.cmd.Process.Pid }

func (a *agent) exited() bool {
	select {
	case <-a.done:
		return true
	default:
		return false
	}
}

// stderr is everything the agent wrote so far (all its runs).
func (a *agent) stderr() string {
	b, _ := os.ReadFile(a.logPath)
	return string(b)
}

func (a *agent) tail() string {
	s := a.stderr()
	if len(s) > 4000 {
		s = "…" + s[len(s)-4000:]
	}
	return s
}

// stop sends SIGTERM and expects exit status 0 within stopLimit.
func (a *agent) stop() {
	a.t.Helper()
	if a.exited() {
		a.t.Fatalf("agent exited before SIGTERM: %v\n%s", a.err, a.tail())
	}
	a.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-a.done:
	case <-time.After(stopLimit):
		a.cmd.Process.Kill()
		<-a.done
		a.t.Fatalf("agent still running %v after SIGTERM\n%s", stopLimit, a.tail())
	}
	if a.err != nil {
		a.t.Errorf("agent exit after SIGTERM: %v, want status 0\n%s", a.err, a.tail())
	}
}

// kill sends SIGKILL and waits for the process to go.
func (a *agent) kill() {
	a.cmd.Process.Kill()
	<-a.done
}

// report asks the status endpoint for the report (what `whippet status --json` prints).
func (a *agent) report() (status.Report, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return status.Fetch(ctx, a.addr)
}

// statusCLI runs `whippet status --json` with the agent's environment and
// returns its output and the decoded report. Exit status 1 (problems) is not an
// error when the report decodes.
func (a *agent) statusCLI() ([]byte, status.Report, error) {
	var r status.Report
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(a.bin, "status", "--json")
	cmd.Env = a.env
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	out := append(stdout.Bytes(), stderr.Bytes()...)
	if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
		return out, r, errors.Join(fmt.Errorf("whippet status --json: decode: %w", err), runErr)
	}
	return out, r, nil
}

// waitReport polls the report until cond holds and returns it; it fails the
// test after limit (a liveness bound, not a speed requirement) or when the
// agent exits.
func (a *agent) waitReport(what string, limit time.Duration, cond func(status.Report) bool) status.Report {
	a.t.Helper()
	r, ok := a.pollReport(limit, cond)
	if !ok {
		a.t.Fatalf("%s: not within %v; last report %s\nagent log:\n%s", what, limit, brief(r), a.tail())
	}
	return r
}

// pollReport is waitReport without failing: ok is false after limit.
func (a *agent) pollReport(limit time.Duration, cond func(status.Report) bool) (status.Report, bool) {
	a.t.Helper()
	deadline := time.Now().Add(limit)
	var last status.Report
	for {
		if a.exited() {
			a.t.Fatalf("agent exited: %v\n%s", a.err, a.tail())
		}
		if r, err := a.report(); err == nil {
			last = r
			if cond(r) {
				return r, true
			}
		}
		if time.Now().After(deadline) {
			return last, false
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// brief is the part of a report the failure messages need.
func brief(r status.Report) string {
	return fmt.Sprintf("{cycles %d containers %d processes %d queue %d spool %d/%dB drops %v errors %v lost %d panics %d problems %q self %+v}",
		r.Cycles, r.Containers, r.Processes, r.Queue, r.Spool.Records, r.Spool.Bytes, nonZero(r.Drops), nonZero(r.Errors), r.EventsLost, r.Panics, r.Problems, r.Self)
}

func nonZero(m map[string]uint64) map[string]uint64 {
	out := map[string]uint64{}
	for k, v := range m {
		if v > 0 {
			out[k] = v
		}
	}
	return out
}

// dockerProblem reports whether r names the Docker engine as a problem.
func dockerProblem(r status.Report) bool {
	for _, p := range r.Problems {
		if strings.Contains(p, "Docker") {
			return true
		}
	}
	return false
}

// runningStamps counts the datadog.agent.running points per timestamp: one per
// metrics cycle, so the cycle ledger of a run.
func runningStamps(in *fakeintake.Intake) map[int64]int {
	m := map[int64]int{}
	for _, p := range in.Series(mRunning) {
		m[p.Timestamp]++
	}
	return m
}

// stampsIn counts the distinct timestamps of m in [from, to] (unix seconds).
func stampsIn(m map[int64]int, from, to time.Time) int {
	n := 0
	for ts := range m {
		if ts >= from.Unix() && ts <= to.Unix() {
			n++
		}
	}
	return n
}

// containerPointSince reports whether the intake holds a point tagged with the
// container's name stamped at or after since.
func containerPointSince(in *fakeintake.Intake, name string, since time.Time) bool {
	tag := "container_name:" + name
	for _, p := range in.Points() {
		if p.Timestamp < since.Unix() {
			continue
		}
		for _, tg := range p.Tags {
			if tg == tag {
				return true
			}
		}
	}
	return false
}

// waitIntake waits until cond holds on the intake, failing after limit.
func waitIntake(t *testing.T, in *fakeintake.Intake, what string, limit time.Duration, cond func(*fakeintake.Intake) bool) time.Duration {
	t.Helper()
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	// Requests arrive every second, and WaitFor re-checks after each.
	if err := in.WaitFor(ctx, cond); err != nil {
		t.Fatalf("%s: not within %v: %v", what, limit, err)
	}
	return time.Since(start)
}

// spawn runs n short-lived /bin/true processes on the host from par shell
// loops, and returns how long that took.
func spawn(t *testing.T, n, par int) time.Duration {
	t.Helper()
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, par)
	for i := range par {
		k := n / par
		if i == 0 {
			k += n % par
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			script := fmt.Sprintf("i=0; while [ $i -lt %d ]; do /bin/true; i=$((i+1)); done", k)
			if out, err := exec.Command("sh", "-c", script).CombinedOutput(); err != nil {
				errs <- fmt.Errorf("spawn loop: %w: %s", err, out)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	return time.Since(start)
}

// startPrivateDockerd starts a dockerd of the test's own (testenv.StartDockerd)
// with the shared engine's image loaded; its containers are removed before it
// stops.
func startPrivateDockerd(t *testing.T) *testenv.Dockerd {
	t.Helper()
	d := testenv.StartDockerd(t, "wfd")
	t.Cleanup(func() { // runs before the daemon's own cleanup stops it
		d.Thaw()
		if ids, err := dockerErr(d.Socket, "ps", "-aq"); err == nil && ids != "" {
			dockerErr(d.Socket, append([]string{"rm", "-f"}, strings.Fields(ids)...)...)
		}
	})
	// The image comes from the shared engine: nothing can be pulled.
	load := exec.Command("sh", "-c", `docker save "$2" | docker -H "unix://$1" load`, "sh", d.Socket, image)
	if out, err := load.CombinedOutput(); err != nil {
		t.Fatalf("load %s into the private dockerd: %v: %s", image, err, out)
	}
	return d
}
