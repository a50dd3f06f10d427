package main

import (
	"bufio"
	"cmp"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/whippet-agent/whippet/pkg/collect"
	"github.com/whippet-agent/whippet/pkg/collect/cgroup"
	"github.com/whippet-agent/whippet/pkg/collect/host"
	"github.com/whippet-agent/whippet/pkg/collect/hostfs"
	"github.com/whippet-agent/whippet/pkg/collect/proc"
)

// printCycle writes a human-readable cycle: host figures, then the process table
// sorted by CPU (top N, or all when top is 0). It is the dry-run output, not a hot
// path: it may allocate.
func printCycle(w io.Writer, root hostfs.Root, s *collect.Snapshot, top int) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "whippet %s  %s  host %s\n", version, s.Time.Format(time.RFC3339), root)
	printHost(bw, s)

	printContainers(bw, s)

	procs := slices.Clone(s.Processes)
	cpu := func(p *collect.Process) float64 { u, sy, _ := p.CPUPercent(); return u + sy }
	slices.SortStableFunc(procs, func(a, b *collect.Process) int {
		if c := cmp.Compare(cpu(b), cpu(a)); c != 0 {
			return c
		}
		return cmp.Compare(a.PID, b.PID)
	})
	kernel := 0
	for _, p := range procs {
		if p.Kernel {
			kernel++
		}
	}
	st := &s.Stats
	fmt.Fprintf(bw, "processes  %d (%d kernel threads)  cycle %s  held fds %d  gone %d  read errors %v\n",
		len(procs), kernel, st.CycleDuration.Round(time.Microsecond), st.HeldFDs, st.ProcsGone, st.ReadErrors)
	fmt.Fprintf(bw, "events     %s  received %d  lost %d  gaps %d  scans %d  repairs %d  short-lived %d  sampler %s\n\n",
		st.EventMode, st.Events, st.EventsLost, st.EventGaps, st.Scans, st.Repairs, st.ShortLivedCount, st.Sampler)
	fmt.Fprintf(bw, "%8s %-12s %1s %6s %10s %-12s  %s\n", "PID", "USER", "S", "CPU%", "RSS", "CONTAINER", "COMMAND")
	var cmdBuf []byte
	for i, p := range procs {
		if top > 0 && i >= top {
			fmt.Fprintf(bw, "… %d more\n", len(procs)-top)
			break
		}
		cpuText := "-"
		if _, _, ok := p.CPUPercent(); ok {
			cpuText = fmt.Sprintf("%.1f", cpu(p))
		}
		user := p.User
		if user == "" {
			user = fmt.Sprint(p.UID)
		}
		cmdBuf = proc.AppendJoined(cmdBuf[:0], p.Cmdline)
		if len(cmdBuf) == 0 {
			cmdBuf = append(append(append(cmdBuf, '['), p.Comm...), ']')
		}
		if len(cmdBuf) > 100 {
			cmdBuf = append(cmdBuf[:99], "…"...)
		}
		ctr := "-"
		if p.ContainerID != "" {
			ctr = p.ContainerID[:12]
		}
		fmt.Fprintf(bw, "%8d %-12.12s %c %6s %10s %-12s  %s\n", p.PID, user, p.State, cpuText, bytesText(p.RSS), ctr, printable(cmdBuf))
	}
	printShortLived(bw, s)
	return bw.Flush()
}

func printHost(w io.Writer, s *collect.Snapshot) {
	h := &s.Host
	if h.Has(host.FileUptime) {
		fmt.Fprintf(w, "uptime     %s\n", (time.Duration(h.Uptime.Uptime) * time.Second).String())
	}
	if h.Has(host.FileLoadavg) {
		fmt.Fprintf(w, "load       %.2f %.2f %.2f\n", h.Loadavg.Load1, h.Loadavg.Load5, h.Loadavg.Load15)
	}
	if h.Has(host.FileStat) {
		fmt.Fprintf(w, "cpu        %d cores", h.Stat.NumCPU)
		if s.HasPrev && s.HostPrev.Has(host.FileStat) {
			c, p := h.Stat.CPU, s.HostPrev.Stat.CPU
			d := func(a, b uint64) float64 {
				if a < b {
					return 0
				}
				return float64(a - b)
			}
			total := d(c.User, p.User) + d(c.Nice, p.Nice) + d(c.System, p.System) + d(c.Idle, p.Idle) +
				d(c.Iowait, p.Iowait) + d(c.IRQ, p.IRQ) + d(c.SoftIRQ, p.SoftIRQ) + d(c.Steal, p.Steal)
			if total > 0 {
				pct := func(v float64) float64 { return v / total * 100 }
				fmt.Fprintf(w, "  user %.1f%%  system %.1f%%  iowait %.1f%%  idle %.1f%%  stolen %.1f%%",
					pct(d(c.User, p.User)+d(c.Nice, p.Nice)), pct(d(c.System, p.System)+d(c.IRQ, p.IRQ)+d(c.SoftIRQ, p.SoftIRQ)),
					pct(d(c.Iowait, p.Iowait)), pct(d(c.Idle, p.Idle)), pct(d(c.Steal, p.Steal)))
			}
		}
		fmt.Fprintln(w)
	}
	if h.Has(host.FileMeminfo) {
		m := &h.Meminfo
		fmt.Fprintf(w, "memory     total %s  free %s  usable %s  cached %s  swap %s/%s\n",
			bytesText(m.Total), bytesText(m.Free), bytesText(m.Available), bytesText(m.Cached),
			bytesText(m.SwapTotal-min(m.SwapFree, m.SwapTotal)), bytesText(m.SwapTotal))
	}
	if h.Has(host.FileNetDev) {
		fmt.Fprint(w, "network   ")
		for _, i := range h.NetDev.Ifaces {
			fmt.Fprintf(w, " %s rx %s tx %s;", i.Name, bytesText(i.RxBytes), bytesText(i.TxBytes))
		}
		fmt.Fprintln(w)
	}
	if h.Has(host.FileDiskstats) {
		fmt.Fprint(w, "disks     ")
		for _, d := range h.Diskstats.Disks {
			if d.ReadIOs+d.WriteIOs == 0 {
				continue
			}
			fmt.Fprintf(w, " %s r %s w %s;", d.Name, bytesText(d.ReadSectors*512), bytesText(d.WriteSectors*512))
		}
		fmt.Fprintln(w)
	}
	for f := host.File(0); f < host.NumFiles; f++ {
		if err := h.Err[f]; err != nil {
			fmt.Fprintf(w, "note       %s: %v\n", f, err)
		}
	}
}

func bytesText(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%dB", n)
	}
	v, i := float64(n), 0
	for v >= unit && i < 5 {
		v /= unit
		i++
	}
	return fmt.Sprintf("%.1f%ciB", v, "BKMGTP"[i])
}

// printable replaces control bytes so a hostile command line cannot drive the
// terminal.
func printable(b []byte) string {
	out := make([]byte, 0, len(b))
	for _, c := range b {
		if c < 0x20 || c == 0x7f {
			c = '?'
		}
		out = append(out, c)
	}
	return string(out)
}

// printContainers writes the container table: running containers by CPU, then
// the others; rates need two cycles ("-" before).
func printContainers(w io.Writer, s *collect.Snapshot) {
	if len(s.Containers) == 0 {
		return
	}
	ctrs := slices.Clone(s.Containers)
	cpu := func(c *collect.Container) float64 { v, _ := c.CPUPercent(); return v }
	slices.SortStableFunc(ctrs, func(a, b *collect.Container) int {
		if a.Sampled() != b.Sampled() {
			if a.Sampled() {
				return -1
			}
			return 1
		}
		if c := cmp.Compare(cpu(b), cpu(a)); c != 0 {
			return c
		}
		return cmp.Compare(a.Meta.Name, b.Meta.Name)
	})
	fmt.Fprintf(w, "\n%-12s %-24s %-20s %-8s %6s %10s %10s %17s %17s %5s %5s\n",
		"CONTAINER", "NAME", "ECS TASK", "STATE", "CPU%", "MEM", "LIMIT", "IO R/W /s", "NET RX/TX /s", "PIDS", "PROCS")
	for _, c := range ctrs {
		m := c.Meta
		task := "-"
		if !m.ECS.IsZero() {
			task = m.ECS.Family + ":" + m.ECS.Version
		}
		cpuText, mem, limit, io, net, pids := "-", "-", "-", "-", "-", "-"
		if c.Sampled() {
			st := &c.Cur.Stats
			mem = bytesText(st.Memory.Usage)
			if st.Memory.Limit > 0 {
				limit = bytesText(st.Memory.Limit)
			}
			pids = fmt.Sprint(st.Pids.Current)
			if pct, ok := c.CPUPercent(); ok {
				cpuText = fmt.Sprintf("%.1f", pct)
			}
			if c.HasPrev {
				dt := c.Cur.Time.Sub(c.Prev.Time).Seconds()
				r1, w1 := ioTotals(&c.Cur.Stats)
				r0, w0 := ioTotals(&c.Prev.Stats)
				io = rate(r1, r0, dt) + "/" + rate(w1, w0, dt)
				if c.Cur.HasNet && c.Prev.HasNet {
					rx1, tx1 := c.Cur.NetTotals()
					rx0, tx0 := c.Prev.NetTotals()
					net = rate(rx1, rx0, dt) + "/" + rate(tx1, tx0, dt)
				}
			}
		}
		fmt.Fprintf(w, "%-12.12s %-24.24s %-20.20s %-8.8s %6s %10s %10s %17s %17s %5s %5d\n",
			c.ID, printable([]byte(m.Name)), task, m.State, cpuText, mem, limit, io, net, pids, c.Procs.Count)
	}
	fmt.Fprintln(w)
}

func ioTotals(s *cgroup.Stats) (read, write uint64) {
	for _, d := range s.IO.Devices {
		read += d.ReadBytes
		write += d.WriteBytes
	}
	return read, write
}

// rate formats a counter's per-second rate; a counter that went back is a reset.
func rate(cur, prev uint64, dt float64) string {
	if cur < prev || dt <= 0 {
		return "0B"
	}
	return bytesText(uint64(float64(cur-prev) / dt))
}

// printShortLived lists the processes that started and ended since the previous
// cycle (event-driven process tables only).
func printShortLived(w io.Writer, s *collect.Snapshot) {
	if len(s.ShortLived) == 0 {
		return
	}
	fmt.Fprintf(w, "\nshort-lived  %d since the previous cycle", len(s.ShortLived))
	if s.Stats.ShortLivedDropped > 0 {
		fmt.Fprintf(w, " (%d more since start not listed)", s.Stats.ShortLivedDropped)
	}
	fmt.Fprintf(w, "\n%8s %-12s %5s %10s %10s %-12s  %s\n", "PID", "USER", "EXIT", "LIFETIME", "CPU", "CONTAINER", "COMMAND")
	for _, p := range s.ShortLived {
		ctr := "-"
		if p.ContainerID != "" {
			ctr = p.ContainerID[:12]
		}
		exit := fmt.Sprint(p.ExitStatus)
		if p.Signal != 0 {
			exit = fmt.Sprintf("sig%d", p.Signal)
		}
		cmd := string(p.Comm)
		if len(p.Path) > 0 {
			cmd = string(p.Path) + " [" + cmd + "]"
		}
		fmt.Fprintf(w, "%8d %-12.12s %5s %10s %10s %-12s  %s\n", p.PID, p.User, exit,
			p.Lifetime.Round(time.Millisecond), p.CPU.Round(time.Microsecond), ctr, printable([]byte(cmd)))
	}
}
