package status

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestListenRefusesRemote(t *testing.T) {
	t.Parallel()
	for _, addr := range []string{"0.0.0.0:0", "[::]:0", "10.0.0.1:5012", ":5012"} {
		_, err := Listen(Options{Addr: addr, Report: func() Report { return Report{} }})
		if !errors.Is(err, ErrNotLoopback) {
			t.Errorf("Listen(%q) err = %v, want ErrNotLoopback", addr, err)
		}
	}
	for _, addr := range []string{"127.0.0.1:0", "[::1]:0", "localhost:0"} {
		s, err := Listen(Options{Addr: addr, Report: func() Report { return Report{} }})
		if err != nil {
			if strings.Contains(addr, "::1") && strings.Contains(err.Error(), "cannot assign") {
				continue // no IPv6 loopback on this machine
			}
			t.Errorf("Listen(%q): %v", addr, err)
			continue
		}
		s.ln.Close()
	}
}

func TestServe(t *testing.T) {
	t.Parallel()
	rep := Report{
		Version: "1.2.3", Hostname: "i-0abc", HostnameSource: "ec2", APIKey: "****abcd", APIKeyState: "invalid",
		ProcessEvents: "tp_btf", Sampler: "task-iterator", Containers: 3, Processes: 120,
		Drops:     map[string]uint64{"http_403": 2},
		Errors:    map[string]uint64{"cgroup": 1},
		Endpoints: []Endpoint{{Name: "series", Sent: 10, Failed: 1, Breaker: "closed"}},
		Problems:  []string{"API key rejected by the intake (403)"},
	}
	s, err := Listen(Options{Addr: "127.0.0.1:0", Report: func() Report { return rep }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()

	got, err := Fetch(ctx, s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	if got.Hostname != "i-0abc" || got.Containers != 3 || got.Drops["http_403"] != 2 || len(got.Problems) != 1 {
		t.Errorf("Fetch = %+v, want the served report", got)
	}

	resp, err := http.Get("http://" + s.Addr() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("/healthz with a problem = %d, want 503", resp.StatusCode)
	}

	resp, err = http.Get("http://" + s.Addr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		"whippet_containers 3\n",
		"whippet_processes 120\n",
		`whippet_drops_total{reason="http_403"} 2`,
		`whippet_errors_total{stage="cgroup"} 1`,
		`whippet_process_event_mode{mode="tp_btf"} 1`,
		`whippet_payloads_sent_total{endpoint="series"} 10`,
		"# TYPE whippet_cycles_total counter",
	} {
		if !bytes.Contains(body, []byte(want)) {
			t.Errorf("/metrics lacks %q:\n%s", want, body)
		}
	}
	resp, err = http.Get("http://" + s.Addr() + "/debug/pprof/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("pprof without the option = %d, want 404", resp.StatusCode)
	}
}

func TestPrint(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	err := Print(&b, Report{Version: "v", Hostname: "h", HostnameSource: "config", UptimeSeconds: 61,
		Drops: map[string]uint64{"too_old": 3, "zero": 0}, Problems: []string{"spool full"}})
	if err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"uptime           1m1s", "drops            too_old: 3", "PROBLEM          spool full", "errors           none"} {
		if !strings.Contains(out, want) {
			t.Errorf("Print lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "zero") {
		t.Errorf("Print lists a zero counter:\n%s", out)
	}
}

func TestReadSelf(t *testing.T) {
	t.Parallel()
	// Burn a little CPU so the figure is not zero.
	end := time.Now().Add(20 * time.Millisecond)
	for time.Now().Before(end) {
	}
	s := ReadSelf()
	if s.CPUSeconds <= 0 || s.RSSBytes < 1<<20 || s.Goroutines < 1 || s.OpenFDs < 3 {
		t.Errorf("ReadSelf = %+v: want CPU > 0, RSS ≥ 1 MiB, goroutines ≥ 1, fds ≥ 3", s)
	}
}

// TestReadSelfFDs: the descriptor count follows what the process holds, past
// one getdents buffer's worth (not in parallel: other tests open files).
func TestReadSelfFDs(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("linux only")
	}
	before := ReadSelf().OpenFDs
	var files []*os.File
	for range 1000 {
		f, err := os.Open(os.DevNull)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	got := ReadSelf().OpenFDs
	for _, f := range files {
		f.Close()
	}
	if d := got - before; d < 995 || d > 1005 { // a few for other tests' leftovers
		t.Errorf("OpenFDs %d → %d after opening 1,000 files", before, got)
	}
}
