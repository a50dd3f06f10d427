package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/whippet-agent/whippet/pkg/status"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat: 100 on
// every Linux architecture Go supports (the kernel exports a fixed USER_HZ to user
// space whatever CONFIG_HZ is).
const clockTicks = 100

// usage is what /proc says of the process.
type usage struct {
	cpuTicks uint64 // utime + stime
	rssKB    uint64 // VmRSS
	anonKB   uint64 // RssAnon: the heap, stacks, runtime
	fileKB   uint64 // RssFile: mapped binary text and data, shared with the page cache
}

// parseStat reads utime and stime (fields 14 and 15) from /proc/<pid>/stat.
// The command name ends at the last ')' and may itself hold spaces and parens.
func parseStat(b []byte) (uint64, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("stat: no ')' after the command name")
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state), so field n is f[n-3].
	if len(f) < 13 {
		return 0, fmt.Errorf("stat: %d fields after the command name, want ≥ 13", len(f))
	}
	u, err := strconv.ParseUint(f[11], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("stat: utime: %w", err)
	}
	s, err := strconv.ParseUint(f[12], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("stat: stime: %w", err)
	}
	return u + s, nil
}

// parseStatus fills the memory fields of u from /proc/<pid>/status.
func parseStatus(b []byte, u *usage) error {
	var seen int
	for line := range bytes.Lines(b) {
		key, val, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		var dst *uint64
		switch string(key) {
		case "VmRSS":
			dst = &u.rssKB
		case "RssAnon":
			dst = &u.anonKB
		case "RssFile":
			dst = &u.fileKB
		default:
			continue
		}
		num, _ := strings.CutSuffix(strings.TrimSpace(string(val)), " kB")
		n, err := strconv.ParseUint(num, 10, 64)
		if err != nil {
			return fmt.Errorf("status: %s: %w", key, err)
		}
		*dst = n
		seen++
	}
	if seen < 3 {
		return errors.New("status: VmRSS, RssAnon or RssFile missing")
	}
	return nil
}

// readUsage reads the process's CPU and memory from procDir (/proc/<pid>).
func readUsage(procDir string) (usage, error) {
	var u usage
	b, err := os.ReadFile(procDir + "/stat")
	if err != nil {
		return u, fmt.Errorf("read %s/stat: %w", procDir, err)
	}
	if u.cpuTicks, err = parseStat(b); err != nil {
		return u, fmt.Errorf("%s/%w", procDir, err)
	}
	if b, err = os.ReadFile(procDir + "/status"); err != nil {
		return u, fmt.Errorf("read %s/status: %w", procDir, err)
	}
	if err := parseStatus(b, &u); err != nil {
		return u, fmt.Errorf("%s/%w", procDir, err)
	}
	return u, nil
}

// readLoad1 returns the one-minute load average.
func readLoad1(path string) (float64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", path, err)
	}
	f, _, _ := strings.Cut(string(b), " ")
	v, err := strconv.ParseFloat(f, 64)
	if err != nil {
		return 0, fmt.Errorf("parse %s: %w", path, err)
	}
	return v, nil
}

// sample is one observation of the daemon.
type sample struct {
	at    time.Time
	use   usage
	load1 float64
	rep   status.Report
}

// errorTotal sums the daemon's error counters.
func (s sample) errorTotal() uint64 {
	var n uint64
	for _, v := range s.rep.Errors {
		n += v
	}
	return n
}

func (s sample) line(start time.Time) string {
	r := s.rep
	return fmt.Sprintf("sample t=%.0fs cpu_ticks=%d rss_kb=%d anon_kb=%d file_kb=%d cycles=%d containers=%d processes=%d last_cycle_ms=%.1f self_cpu_s=%.3f goroutines=%d fds=%d errors=%d slow=%d skipped=%d panics=%d events_lost=%d queue=%d spool=%d load1=%.2f",
		s.at.Sub(start).Seconds(), s.use.cpuTicks, s.use.rssKB, s.use.anonKB, s.use.fileKB, r.Cycles, r.Containers, r.Processes,
		r.LastCycleMs, r.Self.CPUSeconds, r.Self.Goroutines, r.Self.OpenFDs, s.errorTotal(), r.SlowCycles, r.SkippedTicks,
		r.Panics, r.EventsLost, r.Queue, r.Spool.Records, s.load1)
}

// summary is the cost over a sampling window.
type summary struct {
	size                     int // containers the run started
	containers, processes    int // what the daemon saw at the end
	cycles                   uint64
	seconds                  float64
	cpuMs                    float64
	perCycleMs, per15sMs     float64
	corePct                  float64
	selfPerCycleMs           float64 // from the daemon's own getrusage: a cross-check
	rssMinKB, rssMaxKB       uint64
	anonMinKB, anonMaxKB     uint64
	load1                    float64 // mean over the samples
	eventMode, sampler       string
	errDelta                 map[string]uint64 // error counters that grew
	slow, skipped, panics    uint64
	goroutines, fdMin, fdMax int
}

// summarize computes the cost between the first and the last sample.
func summarize(size int, ss []sample) (summary, error) {
	if len(ss) < 2 {
		return summary{}, fmt.Errorf("%d samples, want ≥ 2", len(ss))
	}
	first, last := ss[0], ss[len(ss)-1]
	s := summary{
		size: size, containers: last.rep.Containers, processes: last.rep.Processes,
		cycles:   last.rep.Cycles - first.rep.Cycles,
		seconds:  last.at.Sub(first.at).Seconds(),
		cpuMs:    float64(last.use.cpuTicks-first.use.cpuTicks) * 1000 / clockTicks,
		rssMinKB: first.use.rssKB, rssMaxKB: first.use.rssKB,
		anonMinKB: first.use.anonKB, anonMaxKB: first.use.anonKB,
		eventMode: last.rep.ProcessEvents, sampler: last.rep.Sampler,
		errDelta:   map[string]uint64{},
		slow:       last.rep.SlowCycles - first.rep.SlowCycles,
		skipped:    last.rep.SkippedTicks - first.rep.SkippedTicks,
		panics:     last.rep.Panics - first.rep.Panics,
		goroutines: last.rep.Self.Goroutines,
		fdMin:      first.rep.Self.OpenFDs, fdMax: first.rep.Self.OpenFDs,
	}
	if s.seconds <= 0 {
		return s, fmt.Errorf("no time between the first and last sample (%.0f s)", s.seconds)
	}
	// No cycles is a valid window: with hour-long intervals it measures what the
	// daemon costs between cycles (events, Docker, status); per cycle stays 0.
	if s.cycles > 0 {
		s.perCycleMs = s.cpuMs / float64(s.cycles)
		s.selfPerCycleMs = (last.rep.Self.CPUSeconds - first.rep.Self.CPUSeconds) * 1000 / float64(s.cycles)
	}
	s.per15sMs = s.cpuMs / s.seconds * 15
	s.corePct = s.cpuMs / (s.seconds * 1000) * 100
	for _, x := range ss {
		s.rssMinKB, s.rssMaxKB = min(s.rssMinKB, x.use.rssKB), max(s.rssMaxKB, x.use.rssKB)
		s.anonMinKB, s.anonMaxKB = min(s.anonMinKB, x.use.anonKB), max(s.anonMaxKB, x.use.anonKB)
		s.fdMin, s.fdMax = min(s.fdMin, x.rep.Self.OpenFDs), max(s.fdMax, x.rep.Self.OpenFDs)
		s.load1 += x.load1
	}
	s.load1 /= float64(len(ss))
	for k, v := range last.rep.Errors {
		if d := v - first.rep.Errors[k]; d > 0 {
			s.errDelta[k] = d
		}
	}
	return s, nil
}

// line renders s as the key=value line runTable reads back.
func (s summary) line() string {
	errs := "none"
	if len(s.errDelta) > 0 {
		var parts []string
		for _, k := range slices.Sorted(maps.Keys(s.errDelta)) {
			parts = append(parts, fmt.Sprintf("%s:%d", k, s.errDelta[k]))
		}
		errs = strings.Join(parts, ",")
	}
	return fmt.Sprintf("summary size=%d containers=%d processes=%d seconds=%.0f cycles=%d cpu_ms=%.0f cpu_ms_per_cycle=%.2f cpu_ms_per_15s=%.2f core_pct=%.3f self_cpu_ms_per_cycle=%.2f rss_min_mb=%.1f rss_max_mb=%.1f anon_min_mb=%.1f anon_max_mb=%.1f load1=%.2f events=%s sampler=%s errors=%s slow=%d skipped=%d panics=%d goroutines=%d fds=%d-%d",
		s.size, s.containers, s.processes, s.seconds, s.cycles, s.cpuMs, s.perCycleMs, s.per15sMs, s.corePct, s.selfPerCycleMs,
		mb(s.rssMinKB), mb(s.rssMaxKB), mb(s.anonMinKB), mb(s.anonMaxKB), s.load1, orDash(s.eventMode), orDash(s.sampler), errs,
		s.slow, s.skipped, s.panics, s.goroutines, s.fdMin, s.fdMax)
}

func mb(kb uint64) float64 { return float64(kb) / 1024 }

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func runSample(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("sample", flag.ContinueOnError)
	fs.SetOutput(stderr)
	pid := fs.Int("pid", 0, "the daemon's pid")
	addr := fs.String("status", "", "the daemon's status address (DD_WHIPPET_STATUS_ADDR)")
	size := fs.Int("size", 0, "containers the run started (a label for the summary)")
	warmup := fs.Duration("warmup", time.Minute, "wait this long before the first sample")
	dur := fs.Duration("duration", 3*time.Minute, "sampling window")
	every := fs.Duration("every", 15*time.Second, "sampling period")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *pid <= 0 || *addr == "" || *every <= 0 || *dur < *every {
		return errors.New("sample: need -pid, -status and -duration ≥ -every > 0")
	}
	procDir := fmt.Sprintf("/proc/%d", *pid)
	fmt.Fprintf(stdout, "# size=%d pid=%d warmup=%s duration=%s every=%s\n", *size, *pid, *warmup, *dur, *every)
	if err := sleep(ctx, *warmup); err != nil {
		return err
	}
	var ss []sample
	start := time.Now()
	for i := 0; i <= int(*dur / *every); i++ {
		if i > 0 {
			if err := sleep(ctx, time.Until(start.Add(time.Duration(i)*(*every)))); err != nil {
				return err
			}
		}
		s, err := take(ctx, procDir, *addr)
		if err != nil {
			return fmt.Errorf("sample %d (the daemon may have died): %w", i, err)
		}
		fmt.Fprintln(stdout, s.line(start))
		ss = append(ss, s)
	}
	sum, err := summarize(*size, ss)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, sum.line())
	return nil
}

// take reads /proc before asking the daemon, so the status request's own CPU
// falls in the next interval rather than being half-counted.
func take(ctx context.Context, procDir, addr string) (sample, error) {
	s := sample{at: time.Now()}
	var err error
	if s.use, err = readUsage(procDir); err != nil {
		return s, err
	}
	if s.load1, err = readLoad1("/proc/loadavg"); err != nil {
		return s, err
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if s.rep, err = status.Fetch(ctx, addr); err != nil {
		return s, err
	}
	return s, nil
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
