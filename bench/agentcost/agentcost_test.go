package main

import (
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/whippet-agent/whippet/pkg/status"
)

func TestParseStat(t *testing.T) {
	t.Parallel()
	fixture, err := os.ReadFile("testdata/stat")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		in      string
		want    uint64
		wantErr bool
	}{
		{"parens and spaces in comm", string(fixture), 1234 + 567, false},
		{"no paren", "4242 x S 1", 0, true},
		{"truncated", "1 (a) S 1 2 3 4 5 6 7 8 9 10", 0, true},
		{"bad utime", "1 (a) S 1 1 1 0 -1 0 0 0 0 0 x 5 0", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseStat([]byte(tt.in))
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("parseStat(%q) = %d, %v; want %d, error %v", tt.in, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestParseStatus(t *testing.T) {
	t.Parallel()
	fixture, err := os.ReadFile("testdata/status")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		in      string
		want    usage
		wantErr bool
	}{
		{"real status", string(fixture), usage{rssKB: 2064, anonKB: 152, fileKB: 1912}, false},
		{"no RssFile", "VmRSS:\t 10 kB\nRssAnon:\t 4 kB\n", usage{rssKB: 10, anonKB: 4}, true},
		{"bad number", "VmRSS:\t 1x kB\n", usage{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got usage
			err := parseStatus([]byte(tt.in), &got)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("parseStatus(%q) = %+v, %v; want %+v, error %v", tt.in, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestCadvisorMs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		n            int
		want         float64
		wantMeasured bool
	}{
		{10, 19, true},
		{50, 99, false}, // 19 + 100·40/50
		{60, 119, true},
		{100, 251, false}, // 119 + 297·40/90
		{150, 416, true},
		{200, 581, false}, // extrapolated: 416 + 297·50/90
		{5, 9, false},     // extrapolated below: 19 − 100·5/50
	}
	for _, tt := range tests {
		got, measured := cadvisorMs(tt.n)
		if math.Abs(got-tt.want) > 1e-9 || measured != tt.wantMeasured {
			t.Errorf("cadvisorMs(%d) = %v, %v; want %v, %v", tt.n, got, measured, tt.want, tt.wantMeasured)
		}
	}
}

// samples builds a 3-minute window: 60 ticks (600 ms) and 24 cycles, RSS
// growing from 20 to 22 MB, one more container error.
func samples() []sample {
	t0 := time.Date(2026, 11, 26, 15, 0, 0, 0, time.UTC)
	rep := func(cycles uint64, cpu float64, errs uint64) status.Report {
		return status.Report{
			Cycles: cycles, Containers: 12, Processes: 300, ProcessEvents: "tp_btf", Sampler: "task-iterator",
			Errors: map[string]uint64{"container": errs, "proc": 3},
			Self:   status.Self{CPUSeconds: cpu, OpenFDs: 100, Goroutines: 20},
		}
	}
	return []sample{
		{at: t0, use: usage{cpuTicks: 100, rssKB: 20480, anonKB: 8192}, load1: 2, rep: rep(10, 1.0, 0)},
		{at: t0.Add(90 * time.Second), use: usage{cpuTicks: 130, rssKB: 23552, anonKB: 9216}, load1: 4, rep: rep(22, 1.3, 0)},
		{at: t0.Add(180 * time.Second), use: usage{cpuTicks: 160, rssKB: 22528, anonKB: 8192}, load1: 6, rep: rep(34, 1.6, 1)},
	}
}

func TestSummarize(t *testing.T) {
	t.Parallel()
	got, err := summarize(10, samples())
	if err != nil {
		t.Fatal(err)
	}
	want := "summary size=10 containers=12 processes=300 seconds=180 cycles=24 cpu_ms=600 cpu_ms_per_cycle=25.00 cpu_ms_per_15s=50.00 core_pct=0.333 self_cpu_ms_per_cycle=25.00 rss_min_mb=20.0 rss_max_mb=23.0 anon_min_mb=8.0 anon_max_mb=9.0 load1=4.00 events=tp_btf sampler=task-iterator errors=container:1 slow=0 skipped=0 panics=0 goroutines=20 fds=100-100"
	if got := got.line(); got != want {
		t.Errorf("summarize(10, samples()).line() =\n%s\nwant\n%s", got, want)
	}
	if _, err := summarize(10, samples()[:1]); err == nil {
		t.Error("summarize(one sample) succeeded; want an error")
	}
	same := samples()
	same[2].at = same[0].at
	if _, err := summarize(10, same); err == nil {
		t.Error("summarize(no time) succeeded; want an error")
	}
	still := samples()
	for i := range still {
		still[i].rep.Cycles = 10
	}
	idle, err := summarize(10, still)
	if err != nil || idle.perCycleMs != 0 || idle.per15sMs != 50 {
		t.Errorf("summarize(no cycles) = %.2f ms/cycle, %.2f ms/15 s, %v; want 0, 50, nil", idle.perCycleMs, idle.per15sMs, err)
	}
}

// TestTable reads summary lines back (as run.sh does from the raw file) and
// checks the comparison with cAdvisor and the growth line.
func TestTable(t *testing.T) {
	t.Parallel()
	s10, err := summarize(10, samples())
	if err != nil {
		t.Fatal(err)
	}
	s50 := s10
	s50.size, s50.perCycleMs, s50.per15sMs = 50, 2.5, 5
	in := "# header\nsample t=0s cpu_ticks=1\n" + s50.line() + "\n" + s10.line() + "\n"
	rows, err := parseSummaries(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0]["size"] != "10" || rows[1]["size"] != "50" {
		t.Fatalf("parseSummaries = %v; want sizes 10 and 50 in order", rows)
	}
	var b strings.Builder
	if err := writeTable(&b, rows); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"| 10/12 | 300 | 24 | 25.00 | 50.00 | 0.333 | 20.0–23.0 (8.0–9.0) | 19 | 0.8× | 0.4× | 4.0 |",
		"| 50/12 | 300 | 24 | 2.50 | 5.00 | 0.333 | 20.0–23.0 (8.0–9.0) | 99 (interp.) | 39.6× ✓ | 19.8× | 4.0 |",
		"Growth 10→50 containers: CPU/cycle ×0.10 (-0.562 ms per added container), CPU/15 s ×0.10",
		"Size 10: events=tp_btf sampler=task-iterator errors(+)=container:1",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if _, err := parseSummaries(strings.NewReader("summary size=10 broken\n")); err == nil {
		t.Error("parseSummaries(field without '=') succeeded; want an error")
	}
}
