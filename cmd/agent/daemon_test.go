package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/whippet-agent/whippet/pkg/batch"
	"github.com/whippet-agent/whippet/pkg/config"
	"github.com/whippet-agent/whippet/pkg/ship/fakeintake"
	"github.com/whippet-agent/whippet/pkg/status"
)

const testKey = "0123456789abcdef0123456789abcdef"

// syncBuffer is a bytes.Buffer safe for the agent's goroutines and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func writeConfig(t *testing.T, dir, body string) string {
	t.Helper()
	p := filepath.Join(dir, "datadog.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// startRun runs `whippet run` in-process until the returned stop is called; stop
// returns run's error.
func startRun(t *testing.T, args ...string) (stdout, stderr *syncBuffer, stop func() error) {
	t.Helper()
	stdout, stderr = &syncBuffer{}, &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, append([]string{"run"}, args...), stdout, stderr) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(30 * time.Second):
				err = errors.New("run did not return within 30 s of its context ending")
			}
		})
		return err
	}
	t.Cleanup(func() { stop() })
	return stdout, stderr, stop
}

func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestRunShipsToIntake runs the agent on the v1 fixture against the fake
// intake: series and process payloads arrive with the fixture's containers, the
// status endpoint reports them, and on stop (ECS's SIGTERM ends run's context)
// everything collected is delivered and the spool is left empty.
func TestRunShipsToIntake(t *testing.T) {
	t.Parallel()
	in := fakeintake.New(fakeintake.Options{APIKey: testKey})
	url := in.Start()
	defer in.Close()
	dir := t.TempDir()
	cfgPath := writeConfig(t, dir, fmt.Sprintf(`api_key: %s
dd_url: %s
process_config:
  process_dd_url: %s
  process_collection:
    enabled: true
  intervals:
    process: 1
`, testKey, url, url))
	statusAddr := freeAddr(t)
	spoolDir := filepath.Join(dir, "spool")
	_, stderr, stop := startRun(t, "-config", cfgPath, "-root", fixtureV1, "-hostname", "fixture-host",
		"-metrics-interval", "1s", "-spool-dir", spoolDir, "-status-addr", statusAddr)

	waitFor(t, "series and process payloads", 20*time.Second, func() bool {
		return len(in.Series("datadog.agent.running")) > 0 && len(in.Processes()) > 0
	})
	var rep status.Report
	waitFor(t, "the status endpoint", 10*time.Second, func() bool {
		r, err := status.Fetch(context.Background(), statusAddr)
		rep = r
		return err == nil && r.APIKeyState == "valid" && r.Cycles >= 2
	})
	if rep.Hostname != "fixture-host" || rep.Output != "intake" || rep.Processes == 0 {
		t.Errorf("status = %+v, want host fixture-host, output intake, processes", rep)
	}
	if strings.Contains(fmt.Sprint(rep), testKey) {
		t.Errorf("status report carries the API key")
	}
	if err := stop(); err != nil {
		t.Fatalf("run: %v\nstderr: %s", err, stderr)
	}
	for _, p := range in.Series("datadog.agent.running") {
		if p.Host != "fixture-host" {
			t.Errorf("datadog.agent.running host %q, want fixture-host", p.Host)
		}
	}
	var procs int
	for _, m := range in.Processes() {
		if m.Hostname != "fixture-host" {
			t.Errorf("process payload host %q, want fixture-host", m.Hostname)
		}
		procs += len(m.Msg.Processes)
	}
	if procs == 0 {
		t.Error("no process reached the intake")
	}
	entries, err := os.ReadDir(spoolDir)
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, e := range entries {
		left = append(left, e.Name())
	}
	if len(left) > 0 {
		t.Errorf("spool not drained at stop: %v", left)
	}
	if log := stderr.String(); strings.Contains(log, testKey) {
		t.Errorf("the API key appears in the log:\n%s", log)
	}
}

// TestRunReloadsOnSIGHUP changes the host tags in the configuration file and
// sends SIGHUP: the next batch carries the new tags.
func TestRunReloadsOnSIGHUP(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfgPath := writeConfig(t, dir, "tags: [team:before]\n")
	stdout, stderr, stop := startRun(t, "-config", cfgPath, "-root", fixtureV1, "-hostname", "h",
		"-output", "stdout", "-metrics-interval", "1s", "-status-addr", "off")
	waitFor(t, "a batch tagged team:before", 20*time.Second, func() bool { return strings.Contains(stdout.String(), "team:before") })
	writeConfig(t, dir, "tags: [team:after]\n")
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a batch tagged team:after", 20*time.Second, func() bool { return strings.Contains(stdout.String(), "team:after") })
	if err := stop(); err != nil {
		t.Fatalf("run: %v\nstderr: %s", err, stderr)
	}
	if !strings.Contains(stderr.String(), "configuration reloaded") {
		t.Errorf("no reload logged:\n%s", stderr)
	}
}

// TestRunRefusesBadConfig: an invalid setting stops the agent before it starts,
// naming the setting.
func TestRunRefusesBadConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfgPath := writeConfig(t, dir, "log_level: verbose\nprocess_config:\n  scrub_argz: true\n")
	_, _, err := runCmd(t, "run", "-config", cfgPath, "-root", fixtureV1, "-metrics-interval", "0s")
	if err == nil {
		t.Fatal("run with an invalid configuration succeeded")
	}
	for _, want := range []string{"log_level", "verbose", "scrub_argz", "metrics-interval"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
}

// panicSink panics on metrics and counts process batches.
type panicSink struct{ procs int }

func (s *panicSink) Metrics(*batch.Metrics) error     { panic("metrics encoder bug") }
func (s *panicSink) Processes(*batch.Processes) error { s.procs++; return nil }
func (s *panicSink) Close(context.Context) error      { return nil }
func (s *panicSink) Report(*status.Report)            {}

// TestCyclePanicIsolated: a panic in one stage is recovered and counted, and
// the other stages of the cycle and later cycles still run.
func TestCyclePanicIsolated(t *testing.T) {
	t.Parallel()
	hf := hostFlags{root: fixtureV1, procEvents: "poll", sampler: "proc", maxHeld: -1}
	log := slog.New(slog.DiscardHandler)
	a, err := hf.newAgent(context.Background(), log)
	if err != nil {
		t.Fatal(err)
	}
	defer a.close()
	cfg, err := config.Load(config.Sources{Flags: map[string]string{"hostname": "h", "status-addr": "off"},
		Env: []string{"DD_PROCESS_CONFIG_PROCESS_COLLECTION_ENABLED=true"}})
	if err != nil {
		t.Fatal(err)
	}
	out := &panicSink{}
	d := &daemon{cfg: cfg, log: log, a: a, host: hostInfo{name: "h"}, out: out, started: time.Now(), errs: map[string]uint64{}}
	if err := d.build(); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		d.cycle(time.Now(), true, true)
	}
	r := d.report()
	if r.Panics != 3 || r.Errors["metrics"] != 3 || r.Cycles != 3 || out.procs != 3 {
		t.Errorf("after 3 cycles with a panicking metrics stage: panics %d, metrics errors %d, cycles %d, process batches %d; want 3 each",
			r.Panics, r.Errors["metrics"], r.Cycles, out.procs)
	}
}
