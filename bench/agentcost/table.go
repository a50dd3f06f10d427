package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
)

// cadvisorRef is cAdvisor's CPU per 15-s housekeeping cycle measured on this
// machine with the same busybox mix (5 of 6 containers in a sleep-1 loop), by
// container count. Sizes in between are interpolated linearly, beyond the ends
// extrapolated from the nearest segment.
var cadvisorRef = []struct {
	n  int
	ms float64
}{{10, 19}, {60, 119}, {150, 416}}

// Targets from the issue.
const (
	targetRatio = 20 // at least 20× less CPU per cycle than cAdvisor
	targetRSSMB = 25
)

// cadvisorMs returns cAdvisor's CPU per cycle at n containers and whether it is
// a measured point (false: interpolated or extrapolated).
func cadvisorMs(n int) (float64, bool) {
	ref := cadvisorRef
	i := 1
	for i < len(ref)-1 && n > ref[i].n {
		i++
	}
	a, b := ref[i-1], ref[i]
	if n == a.n {
		return a.ms, true
	}
	if n == b.n {
		return b.ms, true
	}
	return a.ms + (b.ms-a.ms)*float64(n-a.n)/float64(b.n-a.n), false
}

// row is one summary line read back.
type row map[string]string

func (r row) num(k string) float64 {
	v, _ := strconv.ParseFloat(r[k], 64)
	return v
}

// parseSummaries reads the "summary k=v …" lines of r; other lines are skipped.
func parseSummaries(r io.Reader) ([]row, error) {
	var rows []row
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 || f[0] != "summary" {
			continue
		}
		rw := row{}
		for _, kv := range f[1:] {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				return nil, fmt.Errorf("summary field %q: no '='", kv)
			}
			rw[k] = v
		}
		if _, err := strconv.Atoi(rw["size"]); err != nil {
			return nil, fmt.Errorf("summary without a size: %q", sc.Text())
		}
		rows = append(rows, rw)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read summaries: %w", err)
	}
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].num("size") < rows[j].num("size") })
	return rows, nil
}

func runTable(args []string, stdout io.Writer) error {
	var rows []row
	for _, name := range args {
		f, err := os.Open(name)
		if err != nil {
			return fmt.Errorf("table: %w", err)
		}
		rs, err := parseSummaries(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("table %s: %w", name, err)
		}
		rows = append(rows, rs...)
	}
	if len(rows) == 0 {
		return errors.New("table: no summary lines")
	}
	return writeTable(stdout, rows)
}

// writeTable prints the Markdown comparison with cAdvisor and the growth
// between sizes.
func writeTable(w io.Writer, rows []row) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintln(bw, "| containers (started/seen) | processes | cycles | CPU ms/cycle | CPU ms/15 s | % of a core | RSS MB min–max (anon) | cAdvisor ms/cycle | × less per cycle | × less per 15 s | load1 |")
	fmt.Fprintln(bw, "|---|---|---|---|---|---|---|---|---|---|---|")
	for _, r := range rows {
		ref, measured := cadvisorMs(int(r.num("size")))
		refNote := ""
		if !measured {
			refNote = " (interp.)"
		}
		fmt.Fprintf(bw, "| %s/%s | %s | %s | %.2f | %.2f | %.3f | %.1f–%.1f (%.1f–%.1f) | %.0f%s | %s | %s | %.1f |\n",
			r["size"], r["containers"], r["processes"], r["cycles"], r.num("cpu_ms_per_cycle"), r.num("cpu_ms_per_15s"),
			r.num("core_pct"), r.num("rss_min_mb"), r.num("rss_max_mb"), r.num("anon_min_mb"), r.num("anon_max_mb"),
			ref, refNote, ratio(ref, r.num("cpu_ms_per_cycle")), ratio(ref, r.num("cpu_ms_per_15s")), r.num("load1"))
	}
	fmt.Fprintf(bw, "\nTargets: ≥ %d× less CPU per cycle than cAdvisor (✓ marks it met), RSS ≤ %d MB. cAdvisor does one cycle per 15 s;\n", targetRatio, targetRSSMB)
	fmt.Fprintln(bw, "whippet counts a cycle at every metrics (15 s) and process (10 s) tick, so \"per 15 s\" is the like-for-like column.")
	for i := 1; i < len(rows); i++ {
		a, b := rows[i-1], rows[i]
		dn := b.num("size") - a.num("size")
		if dn <= 0 {
			continue
		}
		fmt.Fprintf(bw, "Growth %s→%s containers: CPU/cycle ×%.2f (%+.3f ms per added container), CPU/15 s ×%.2f, RSS max %+.1f MB.\n",
			a["size"], b["size"], b.num("cpu_ms_per_cycle")/a.num("cpu_ms_per_cycle"),
			(b.num("cpu_ms_per_cycle")-a.num("cpu_ms_per_cycle"))/dn,
			b.num("cpu_ms_per_15s")/a.num("cpu_ms_per_15s"), b.num("rss_max_mb")-a.num("rss_max_mb"))
	}
	for _, r := range rows {
		fmt.Fprintf(bw, "Size %s: events=%s sampler=%s errors(+)=%s slow=%s skipped=%s panics=%s goroutines=%s fds=%s self-reported CPU/cycle=%s ms\n",
			r["size"], r["events"], r["sampler"], r["errors"], r["slow"], r["skipped"], r["panics"], r["goroutines"], r["fds"], r["self_cpu_ms_per_cycle"])
	}
	return bw.Flush()
}

// ratio renders ref/v with a ✓ when it meets the target.
func ratio(ref, v float64) string {
	if v <= 0 {
		return "-"
	}
	x := ref / v
	mark := ""
	if x >= targetRatio {
		mark = " ✓"
	}
	if x < 100 {
		return fmt.Sprintf("%.1f×%s", x, mark)
	}
	return fmt.Sprintf("%.0f×%s", x, mark)
}
