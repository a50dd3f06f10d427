package metrics

import (
	"math"
	"time"

	"github.com/whippet-agent/whippet/pkg/batch"
	"github.com/whippet-agent/whippet/pkg/collect"
	"github.com/whippet-agent/whippet/pkg/collect/host"
)

// mib is the agent's "MB" for system.mem.* and system.swap.*.
const mib = 1 << 20

// gopsutilPage is the factor gopsutil (and so the agent) applies to /proc/vmstat's
// pswpin/pswpout and pgpgin/pgpgout, whatever their real unit (pgpg* are KiB).
const gopsutilPage = 4096

// hostState is the previous Derive's host counters.
type hostState struct {
	t       time.Time
	stat    host.Stat
	hasStat bool
	vm      host.Vmstat
	hasVM   bool
	disks   []host.Disk
	hasDisk bool
	ifaces  []host.Iface
	hasNet  bool
	tags    map[string]*hostTags // device:/device_name: tag sets by device or interface name
}

// hostTags is a cached tag set of one block device or interface.
type hostTags struct {
	tags []string
	gen  uint64
}

// devTags returns the tag set of device or interface name, built on first use.
func (d *Deriver) devTags(name string) []string {
	e := d.host.tags[name]
	if e == nil {
		e = &hostTags{tags: tagSet(d.global, []string{"device:" + name, "device_name:" + name})}
		d.host.tags[name] = e
	}
	e.gen = d.gen
	return e.tags
}

func (d *Deriver) deriveHost(s *collect.Snapshot, out *batch.Metrics, g int32) {
	h, p := &s.Host, &d.host
	dt := s.Time.Sub(p.t).Seconds()
	timed := !p.t.IsZero() && dt > 0

	numCPU := 0
	if h.Has(host.FileStat) {
		st := &h.Stat
		numCPU = st.NumCPU
		out.Add(SystemCPUNumCores, batch.Gauge, float64(numCPU), g)
		if p.hasStat {
			deriveCPU(out, &st.CPU, &p.stat.CPU, g)
			if st.Has&p.stat.Has&host.StatCtxt != 0 {
				out.Add(SystemCPUContextSwitches, batch.Count, delta(st.Ctxt, p.stat.Ctxt), g)
			}
		}
		p.stat, p.hasStat = *st, true
	} else {
		p.hasStat = false
	}

	if h.Has(host.FileLoadavg) {
		l := &h.Loadavg
		out.Add(SystemLoad1, batch.Gauge, l.Load1, g)
		out.Add(SystemLoad5, batch.Gauge, l.Load5, g)
		out.Add(SystemLoad15, batch.Gauge, l.Load15, g)
		if numCPU > 0 {
			n := float64(numCPU)
			out.Add(SystemLoadNorm1, batch.Gauge, l.Load1/n, g)
			out.Add(SystemLoadNorm5, batch.Gauge, l.Load5/n, g)
			out.Add(SystemLoadNorm15, batch.Gauge, l.Load15/n, g)
		}
	}
	if h.Has(host.FileUptime) {
		out.Add(SystemUptime, batch.Gauge, h.Uptime.Uptime, g)
	}
	if h.Has(host.FileMeminfo) {
		deriveMem(out, &h.Meminfo, g)
	}

	if h.Has(host.FileVmstat) {
		v := &h.Vmstat
		if p.hasVM && timed {
			if both := v.Has & p.vm.Has; both&(host.VmPswpin|host.VmPswpout) == host.VmPswpin|host.VmPswpout {
				rate(out, SystemSwapIn, v.Pswpin, p.vm.Pswpin, dt, float64(gopsutilPage)/mib, g)
				rate(out, SystemSwapOut, v.Pswpout, p.vm.Pswpout, dt, float64(gopsutilPage)/mib, g)
			}
			if both := v.Has & p.vm.Has; both&(host.VmPgpgin|host.VmPgpgout) == host.VmPgpgin|host.VmPgpgout {
				rate(out, SystemIOBlockIn, v.Pgpgin, p.vm.Pgpgin, dt, gopsutilPage, g)
				rate(out, SystemIOBlockOut, v.Pgpgout, p.vm.Pgpgout, dt, gopsutilPage, g)
			}
		}
		p.vm, p.hasVM = *v, true
	} else {
		p.hasVM = false
	}

	if h.Has(host.FileDiskstats) {
		for i := range h.Diskstats.Disks {
			disk := &h.Diskstats.Disks[i]
			tags := d.devTags(disk.Name)
			if prev := findDisk(p.disks, i, disk.Name); p.hasDisk && timed && prev != nil {
				deriveDisk(out, disk, prev, dt, out.AddTagSet(tags))
			}
		}
		p.disks, p.hasDisk = append(p.disks[:0], h.Diskstats.Disks...), true
	} else {
		p.hasDisk = false
	}

	if h.Has(host.FileNetDev) {
		for i := range h.NetDev.Ifaces {
			f := &h.NetDev.Ifaces[i]
			if f.Name == "lo" {
				continue // the agent's default excluded_interfaces
			}
			prev := findIface(p.ifaces, i, f.Name)
			if !p.hasNet || !timed || prev == nil {
				d.devTags(f.Name) // keep the cached set while the interface exists
				continue
			}
			tags := out.AddTagSet(d.devTags(f.Name))
			rate(out, SystemNetBytesRcvd, f.RxBytes, prev.RxBytes, dt, 1, tags)
			rate(out, SystemNetBytesSent, f.TxBytes, prev.TxBytes, dt, 1, tags)
			rate(out, SystemNetPacketsInCount, f.RxPackets, prev.RxPackets, dt, 1, tags)
			rate(out, SystemNetPacketsInDrop, f.RxDrop, prev.RxDrop, dt, 1, tags)
			rate(out, SystemNetPacketsInError, f.RxErrs, prev.RxErrs, dt, 1, tags)
			rate(out, SystemNetPacketsOutCount, f.TxPackets, prev.TxPackets, dt, 1, tags)
			rate(out, SystemNetPacketsOutDrop, f.TxDrop, prev.TxDrop, dt, 1, tags)
			rate(out, SystemNetPacketsOutError, f.TxErrs, prev.TxErrs, dt, 1, tags)
		}
		p.ifaces, p.hasNet = append(p.ifaces[:0], h.NetDev.Ifaces...), true
	} else {
		p.hasNet = false
	}

	// Forget the tag sets of devices and interfaces that went away (veth pairs
	// come and go with containers).
	for name, e := range p.tags {
		if e.gen != d.gen {
			delete(p.tags, name)
		}
	}
	p.t = s.Time
}

// deriveCPU emits the agent's system.cpu.* percentages: each state's share of the
// total time that passed on all CPUs (guest is inside user in /proc/stat, so it is
// not part of the total).
func deriveCPU(out *batch.Metrics, c, p *host.CPU, g int32) {
	total := func(c *host.CPU) float64 {
		return float64(c.User) + float64(c.Nice) + float64(c.System) + float64(c.Idle) +
			float64(c.Iowait) + float64(c.IRQ) + float64(c.SoftIRQ) + float64(c.Steal)
	}
	dTotal := total(c) - total(p)
	if dTotal <= 0 {
		return
	}
	pct := func(cur, prev float64) float64 { return (cur - prev) * 100 / dTotal }
	f := func(v uint64) float64 { return float64(v) }
	out.Add(SystemCPUUser, batch.Gauge, pct(f(c.User)+f(c.Nice), f(p.User)+f(p.Nice)), g)
	out.Add(SystemCPUSystem, batch.Gauge, pct(f(c.System)+f(c.IRQ)+f(c.SoftIRQ), f(p.System)+f(p.IRQ)+f(p.SoftIRQ)), g)
	out.Add(SystemCPUInterrupt, batch.Gauge, pct(f(c.IRQ)+f(c.SoftIRQ), f(p.IRQ)+f(p.SoftIRQ)), g)
	out.Add(SystemCPUIowait, batch.Gauge, pct(f(c.Iowait), f(p.Iowait)), g)
	out.Add(SystemCPUIdle, batch.Gauge, pct(f(c.Idle), f(p.Idle)), g)
	out.Add(SystemCPUStolen, batch.Gauge, pct(f(c.Steal), f(p.Steal)), g)
	out.Add(SystemCPUGuest, batch.Gauge, pct(f(c.Guest), f(p.Guest)), g)
}

// deriveMem emits system.mem.* and system.swap.* in MiB, as the agent's memory
// check does.
func deriveMem(out *batch.Metrics, m *host.Meminfo, g int32) {
	mb := func(v uint64) float64 { return float64(v) / mib }
	add := func(bit host.MemField, name string, v uint64) {
		if m.Has&bit != 0 {
			out.Add(name, batch.Gauge, mb(v), g)
		}
	}
	out.Add(SystemMemTotal, batch.Gauge, mb(m.Total), g)
	out.Add(SystemMemFree, batch.Gauge, mb(m.Free), g)
	out.Add(SystemMemUsed, batch.Gauge, mb(m.Total-min(m.Free, m.Total)), g)
	usable := m.Available
	if m.Has&host.MemAvailable == 0 {
		usable = m.Free + m.Buffers + m.Cached // kernels before 3.14
	}
	out.Add(SystemMemUsable, batch.Gauge, mb(usable), g)
	if m.Total > 0 {
		out.Add(SystemMemPctUsable, batch.Gauge, float64(usable)/float64(m.Total), g)
	}
	add(host.MemCached, SystemMemCached, m.Cached)
	add(host.MemBuffers, SystemMemBuffered, m.Buffers)
	add(host.MemShmem, SystemMemShared, m.Shmem)
	add(host.MemSlab, SystemMemSlab, m.Slab)
	add(host.MemSReclaimable, SystemMemSlabReclaimable, m.SReclaimable)
	add(host.MemPageTables, SystemMemPageTables, m.PageTables)
	add(host.MemCommitLimit, SystemMemCommitLimit, m.CommitLimit)
	add(host.MemCommittedAS, SystemMemCommittedAS, m.CommittedAS)
	if m.Has&(host.MemSwapTotal|host.MemSwapFree) == host.MemSwapTotal|host.MemSwapFree {
		out.Add(SystemSwapTotal, batch.Gauge, mb(m.SwapTotal), g)
		out.Add(SystemSwapFree, batch.Gauge, mb(m.SwapFree), g)
		out.Add(SystemSwapUsed, batch.Gauge, mb(m.SwapTotal-min(m.SwapFree, m.SwapTotal)), g)
		free := 1.0 // gopsutil's UsedPercent is 0 without swap
		if m.SwapTotal > 0 {
			free = float64(min(m.SwapFree, m.SwapTotal)) / float64(m.SwapTotal)
		}
		out.Add(SystemSwapPctFree, batch.Gauge, free, g)
		add(host.MemSwapCached, SystemSwapCached, m.SwapCached)
	}
}

// deriveDisk emits one device's iostat -x figures with the agent's io check
// formulas (disk/io/iostats_nix.go), including its quirks: avg_q_sz divides by
// 1024, and the derived gauges are rounded to two decimals.
func deriveDisk(out *batch.Metrics, c, p *host.Disk, dt float64, tags int32) {
	rate(out, SystemIORs, c.ReadIOs, p.ReadIOs, dt, 1, tags)
	rate(out, SystemIOWs, c.WriteIOs, p.WriteIOs, dt, 1, tags)
	rate(out, SystemIORrqms, c.ReadMerges, p.ReadMerges, dt, 1, tags)
	rate(out, SystemIOWrqms, c.WriteMerges, p.WriteMerges, dt, 1, tags)

	dR, dW := wrapDelta(c.ReadIOs, p.ReadIOs), wrapDelta(c.WriteIOs, p.WriteIOs)
	dRt, dWt := wrapDelta(c.ReadTicks, p.ReadTicks), wrapDelta(c.WriteTicks, p.WriteTicks)
	dRs, dWs := wrapDelta(c.ReadSectors, p.ReadSectors), wrapDelta(c.WriteSectors, p.WriteSectors)
	var rAwait, wAwait, avgRq, await float64
	if dR != 0 {
		rAwait = dRt / dR
	}
	if dW != 0 {
		wAwait = dWt / dW
	}
	dIO := dR + dW
	if dIO != 0 {
		avgRq = (dRs + dWs) / dIO
		await = (dRt + dWt) / dIO
	}
	busy := wrapDelta(c.IOTicks, p.IOTicks) // ms
	util := busy * 100 / (dt * 1000)
	var svctm float64
	if dIO != 0 {
		svctm = busy / dIO // the agent's util ÷ throughput, simplified
	}
	out.Add(SystemIORkbs, batch.Gauge, round2(dRs*512/1024/dt), tags)
	out.Add(SystemIOWkbs, batch.Gauge, round2(dWs*512/1024/dt), tags)
	out.Add(SystemIOAvgRqSz, batch.Gauge, round2(avgRq), tags)
	out.Add(SystemIOAwait, batch.Gauge, round2(await), tags)
	out.Add(SystemIORAwait, batch.Gauge, round2(rAwait), tags)
	out.Add(SystemIOWAwait, batch.Gauge, round2(wAwait), tags)
	out.Add(SystemIOAvgQSz, batch.Gauge, round2(wrapDelta(c.TimeInQueue, p.TimeInQueue)/1024/dt), tags)
	out.Add(SystemIOSvctm, batch.Gauge, round2(svctm), tags)
	out.Add(SystemIOUtil, batch.Gauge, round2(util), tags)
}

// wrapDelta is the agent's incrementWithOverflow: diskstats fields that are
// unsigned long (32 bits on some kernels and fields) wrap rather than reset.
func wrapDelta(cur, prev uint64) float64 {
	if cur >= prev {
		return float64(cur - prev)
	}
	top := uint64(math.MaxUint64)
	if prev <= math.MaxUint32 {
		top = math.MaxUint32
	}
	return float64(cur + (top - prev) + 1)
}

// findDisk returns the previous entry of device name; i is where it usually is.
func findDisk(prev []host.Disk, i int, name string) *host.Disk {
	if i < len(prev) && prev[i].Name == name {
		return &prev[i]
	}
	for j := range prev {
		if prev[j].Name == name {
			return &prev[j]
		}
	}
	return nil
}

// findIface returns the previous entry of interface name; i is where it usually is.
func findIface(prev []host.Iface, i int, name string) *host.Iface {
	if i < len(prev) && prev[i].Name == name {
		return &prev[i]
	}
	for j := range prev {
		if prev[j].Name == name {
			return &prev[j]
		}
	}
	return nil
}
