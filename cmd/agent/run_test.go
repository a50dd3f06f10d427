package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/whippet-agent/whippet/pkg/batch"
	"github.com/whippet-agent/whippet/pkg/encode/mpack"
	"github.com/whippet-agent/whippet/pkg/ship"
	"github.com/whippet-agent/whippet/pkg/spool"
)

const fixtureV1 = "../../testdata/fakehost/v1"

func runCmd(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var o, e bytes.Buffer
	err = run(context.Background(), args, &o, &e)
	return o.String(), e.String(), err
}

func TestCheckFixture(t *testing.T) {
	t.Parallel()
	out, stderr, err := runCmd(t, "check", "-root", fixtureV1, "-sample", "0")
	if err != nil {
		t.Fatalf("check: %v\nstderr: %s", err, stderr)
	}
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^load\s+\d+\.\d\d \d+\.\d\d \d+\.\d\d$`),
		regexp.MustCompile(`(?m)^cpu\s+2 cores`),
		regexp.MustCompile(`(?m)^memory\s+total \d`),
		regexp.MustCompile(`(?m)^processes\s+\d+ \(\d+ kernel threads\)`),
		regexp.MustCompile(`(?m)^\s+PID USER\s+S\s+CPU%\s+RSS\s+CONTAINER\s+COMMAND$`),
		regexp.MustCompile(`(?m)^\s+2 root\s+S\s+-\s+0B\s+-\s+\[kthreadd\]$`),               // kernel thread
		regexp.MustCompile(`(?m)^\s+32351 root\s+S .* 0cbed5dba142  sh -c`),                 // a container's process
		regexp.MustCompile(`(?m)^\s+\d+ 4242\s+S .*sleep`),                                  // uid not in passwd
		regexp.MustCompile(`(?m)^\s+\d+ root\s+Z\s`),                                        // zombie
		regexp.MustCompile(`(?m)^\s+\d+ root\s+S .*nginx: master process /usr/sbin/nginx$`), // rewritten argv
	} {
		if !want.MatchString(out) {
			t.Errorf("check output lacks %s\n%s", want, out)
		}
	}
	if strings.ContainsAny(strings.ReplaceAll(out, "\n", ""), "\x00\r") {
		t.Errorf("check output has control bytes")
	}
}

func TestRunCycles(t *testing.T) {
	t.Parallel()
	out, stderr, err := runCmd(t, "run", "-root", fixtureV1, "-hostname", "fixture-host", "-status-addr", "off",
		"-output", "stdout", "-metrics-interval", "1s", "-cycles", "2")
	if err != nil {
		t.Fatalf("run: %v\nstderr: %s", err, stderr)
	}
	if n := strings.Count(out, " host=fixture-host points="); n != 2 {
		t.Errorf("run -cycles 2 printed %d metric batches, want 2:\n%s", n, out)
	}
	for _, want := range []string{"system.mem.total ", "system.load.1 ", "datadog.agent.running 1 gauge"} {
		if !strings.Contains(out, want) {
			t.Errorf("run output lacks %q:\n%s", want, out)
		}
	}
}

func TestCommandLineErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"check", "-bogus"}, "flag provided but not defined: -bogus"},
		{[]string{"check", "-root", "/nonexistent/host"}, "-root /nonexistent/host: not a directory"},
		{[]string{"check", "extra"}, `check: unexpected argument "extra"`},
		{[]string{"run", "-interval", "15s"}, "flag provided but not defined: -interval"},
		{[]string{"check", "-log-level", "loud"}, `-log-level "loud": want debug, info, warn or error`},
		{[]string{"check", "-root", fixtureV1, "-process-events", "bogus"}, `unknown mode "bogus"`},
		{[]string{"check", "-root", fixtureV1, "-process-sampler", "bogus"}, `-process-sampler "bogus": want auto, iter or proc`},
	}
	for _, tt := range tests {
		_, _, err := runCmd(t, tt.args...)
		var ue usageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("run(%q) = %v, want usage error containing %q", tt.args, err, tt.want)
		}
	}
}

func TestVersionAndHelp(t *testing.T) {
	t.Parallel()
	out, _, err := runCmd(t, "version")
	if err != nil || !strings.HasPrefix(out, "whippet ") {
		t.Errorf("version = %q, %v", out, err)
	}
	out, _, err = runCmd(t, "help")
	if err != nil || !strings.Contains(out, "usage: whippet") {
		t.Errorf("help = %q, %v", out, err)
	}
	if _, _, err := runCmd(t, "check", "-h"); err != nil {
		t.Errorf("check -h = %v, want nil", err)
	}
}

func TestCheckJSON(t *testing.T) {
	t.Parallel()
	out, stderr, err := runCmd(t, "check", "-json", "-hostname", "fixture-host", "-root", fixtureV1, "-sample", "0")
	if err != nil {
		t.Fatalf("check -json: %v\nstderr: %s", err, stderr)
	}
	var v struct {
		Host   string `json:"host"`
		Series struct {
			Series []struct {
				Metric string `json:"metric"`
			} `json:"series"`
		} `json:"series"`
		Processes []struct {
			PID  int32    `json:"pid"`
			User string   `json:"user"`
			Args []string `json:"args"`
		} `json:"processes"`
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("check -json output is not JSON: %v\n%s", err, out)
	}
	if len(v.Series.Series) == 0 || len(v.Processes) < 20 {
		t.Errorf("check -json: %d series, %d processes; want both", len(v.Series.Series), len(v.Processes))
	}
	var nginx bool
	for _, p := range v.Processes {
		nginx = nginx || (len(p.Args) > 0 && strings.HasPrefix(p.Args[0], "nginx: master"))
	}
	if !nginx {
		t.Errorf("check -json lacks the fixture's nginx master process")
	}
}

// TestDecodeSpoolFile: `whippet decode` prints a spool record file as the
// shipper stored it.
func TestDecodeSpoolFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sp, err := spool.Open(dir, spool.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	m := batch.Metrics{Host: "h1", Timestamp: 1795700000, Interval: 15}
	m.Add("system.load.1", batch.Gauge, 0.5, m.AddTagSet([]string{"env:prod"}))
	var enc mpack.Encoder
	if _, err := sp.Append(ship.AppendRecord(nil, ship.KindSeries, time.Unix(m.Timestamp, 0), enc.AppendMetrics(nil, &m))); err != nil {
		t.Fatal(err)
	}
	sp.Close()
	files, _ := filepath.Glob(filepath.Join(dir, "*.rec"))
	if len(files) != 1 {
		t.Fatalf("spool files %v, want one record", files)
	}
	out, stderr, err := runCmd(t, "decode", files[0])
	if err != nil {
		t.Fatalf("decode: %v\n%s", err, stderr)
	}
	for _, want := range []string{"spool record: series batch", `host="h1"`, "system.load.1 0.5", "env:prod"} {
		if !strings.Contains(out, want) {
			t.Errorf("decode output lacks %q:\n%s", want, out)
		}
	}
}

func TestEventPoll(t *testing.T) {
	for _, tt := range []struct{ metrics, processes, want time.Duration }{
		{15 * time.Second, 10 * time.Second, 5 * time.Second}, // the defaults: bpf.DefaultPollInterval
		{time.Minute, time.Minute, 5 * time.Second},
		{2 * time.Second, 2 * time.Second, time.Second},
		{15 * time.Second, time.Second, 500 * time.Millisecond},
	} {
		if got := eventPoll(tt.metrics, tt.processes); got != tt.want {
			t.Errorf("eventPoll(%v, %v) = %v, want %v", tt.metrics, tt.processes, got, tt.want)
		}
	}
}
