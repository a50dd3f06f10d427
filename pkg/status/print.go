package status

import (
	"fmt"
	"io"
	"sort"
	"text/tabwriter"
	"time"
)

// Print renders r for a person: what `whippet status` shows.
func Print(w io.Writer, r Report) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k string, v any) { fmt.Fprintf(tw, "%s\t%v\n", k, v) }
	row("version", r.Version)
	row("uptime", time.Duration(r.UptimeSeconds*float64(time.Second)).Round(time.Second))
	row("hostname", fmt.Sprintf("%s (%s)", r.Hostname, r.HostnameSource))
	row("output", r.Output)
	if r.APIKey != "" {
		row("api key", fmt.Sprintf("%s (%s)", r.APIKey, r.APIKeyState))
	} else {
		row("api key", r.APIKeyState)
	}
	if r.Site != "" {
		row("site", r.Site)
	}
	row("host root", r.HostRoot)
	row("process events", fmt.Sprintf("%s (lost %d)", r.ProcessEvents, r.EventsLost))
	row("process sampler", r.Sampler)
	row("containers", r.Containers)
	row("processes", r.Processes)
	row("cycles", fmt.Sprintf("%d (last %.1f ms, slow %d, skipped ticks %d, panics %d)", r.Cycles, r.LastCycleMs, r.SlowCycles, r.SkippedTicks, r.Panics))
	for _, e := range r.Endpoints {
		last := "never"
		if !e.LastFlush.IsZero() {
			last = e.LastFlush.Format(time.RFC3339)
		}
		row("endpoint "+e.Name, fmt.Sprintf("last flush %s, status %d, sent %d, failed %d, breaker %s %s", last, e.LastStatus, e.Sent, e.Failed, e.Breaker, e.LastError))
	}
	row("queue", r.Queue)
	row("spool", fmt.Sprintf("%d records, %d bytes, evicted %d, corrupt %d", r.Spool.Records, r.Spool.Bytes, r.Spool.Evicted, r.Spool.Corrupt))
	printCounts(tw, "drops", r.Drops)
	printCounts(tw, "errors", r.Errors)
	row("self", fmt.Sprintf("cpu %.2f s, rss %.1f MiB, goroutines %d, fds %d", r.Self.CPUSeconds, float64(r.Self.RSSBytes)/(1<<20), r.Self.Goroutines, r.Self.OpenFDs))
	for _, p := range r.Problems {
		row("PROBLEM", p)
	}
	return tw.Flush()
}

func printCounts(w io.Writer, name string, m map[string]uint64) {
	keys := make([]string, 0, len(m))
	for k, v := range m {
		if v > 0 {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		fmt.Fprintf(w, "%s\tnone\n", name)
		return
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "%s\t%s: %d\n", name, k, m[k])
	}
}
