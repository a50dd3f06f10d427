package mpack

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/whippet-agent/whippet/pkg/batch"
)

// Print writes the record b to w as text, one line per point, container or
// process, for `whippet decode FILE`. It is not a hot path and allocates freely.
func Print(w io.Writer, b []byte) error {
	var (
		d Decoder
		m batch.Metrics
		p batch.Processes
	)
	k, err := d.Decode(b, &m, &p)
	if err != nil {
		return fmt.Errorf("print record: %w", err)
	}
	bw := bufio.NewWriter(w)
	switch k {
	case KindMetrics:
		printMetrics(bw, &m)
	case KindProcesses:
		printProcesses(bw, &p)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("print record: %w", err)
	}
	return nil
}

// PrintStream prints every record of a framed stream (a spool file), each
// preceded by its number. A record that does not decode, or whose checksum
// does not match, is reported in its place and skipped; a damaged frame header
// ends the stream with an error.
func PrintStream(w io.Writer, r io.Reader) error {
	fr := NewReader(r)
	for i := 0; ; i++ {
		rec, err := fr.Next()
		switch {
		case err == io.EOF:
			return nil
		case err != nil && !fr.InStep():
			return fmt.Errorf("record %d: %w", i, err)
		case err == nil:
			if _, err := fmt.Fprintf(w, "# record %d: %d bytes\n", i, len(rec)); err != nil {
				return err
			}
			err = Print(w, rec)
		}
		if err == nil {
			continue
		}
		if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrVersion) {
			return err // w failed
		}
		if _, err := fmt.Fprintf(w, "# record %d: skipped: %v\n", i, err); err != nil {
			return err
		}
	}
}

func printMetrics(w *bufio.Writer, m *batch.Metrics) {
	fmt.Fprintf(w, "metrics v%d host=%q timestamp=%d interval=%d points=%d tagsets=%d\n",
		Version, m.Host, m.Timestamp, m.Interval, len(m.Points), len(m.TagSets))
	for i := range m.Points {
		p := &m.Points[i]
		fmt.Fprintf(w, "%s %s %v", p.Type, p.Name, p.Value)
		if tags := m.Tags(p); len(tags) > 0 {
			fmt.Fprintf(w, " #%s", strings.Join(tags, ","))
		}
		w.WriteByte('\n')
	}
}

func printProcesses(w *bufio.Writer, p *batch.Processes) {
	s := &p.System
	fmt.Fprintf(w, "processes v%d host=%q timestamp=%d interval=%d procs=%d containers=%d cpus=%d memory=%d kernel=%q os=%q\n",
		Version, p.Host, p.Timestamp, p.Interval, len(p.Procs), len(p.Containers), s.CPUs, s.TotalMemory, s.KernelVersion, s.OS)
	for i := range p.Containers {
		c := &p.Containers[i]
		fmt.Fprintf(w, "container id=%s name=%q runtime=%s state=%d created=%d started=%d cpu=%.2f%% (user %.2f sys %.2f limit %.2f) mem=%d rss=%d cache=%d limit=%d read=%.0fB/s write=%.0fB/s rx=%.0fB/s tx=%.0fB/s threads=%d/%d tags=%s\n",
			c.ID, c.Name, c.Runtime, c.State, c.Created, c.Started, c.TotalPct, c.UserPct, c.SystemPct, c.CPULimit,
			c.MemUsage, c.MemRSS, c.MemCache, c.MemoryLimit, c.ReadBps, c.WriteBps, c.NetRcvdBps, c.NetSentBps,
			c.ThreadCount, c.ThreadLimit, strings.Join(c.Tags, ","))
	}
	for i := range p.Procs {
		pr := &p.Procs[i]
		fmt.Fprintf(w, "proc pid=%d ppid=%d nspid=%d user=%q uid=%d gid=%d state=%c cpu=%.2f%% rss=%d vms=%d threads=%d fds=%d container=%s comm=%q exe=%q args=%q\n",
			pr.PID, pr.PPID, pr.NsPID, pr.User, pr.UID, pr.GID, printable(pr.State), pr.TotalPct, pr.RSS, pr.VMS,
			pr.Threads, pr.OpenFDs, pr.ContainerID, pr.Comm, pr.Exe, bytes.TrimRight(bytes.ReplaceAll(pr.Args, []byte{0}, []byte{' '}), " "))
	}
}

func printable(c byte) byte {
	if c < ' ' || c > '~' {
		return '?'
	}
	return c
}
