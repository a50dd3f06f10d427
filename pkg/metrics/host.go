package metrics

import (
	"math"
	"path"
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

	snmp       host.Snmp
	hasSnmp    bool
	netstat    host.Netstat
	hasNetstat bool
	fsTags     map[string]*hostTags // device:/device_name: tag sets by filesystem source
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

	d.deriveNetProto(h, out, dt, timed, g)
	if h.Has(host.FileFileNr) {
		deriveFileNr(out, &h.FileNr, g)
	}
	if h.HasFS {
		d.deriveFS(out, &h.FS)
		for dev, e := range p.fsTags {
			if e.gen != d.gen {
				delete(p.fsTags, dev)
			}
		}
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

// deriveNetProto emits the agent's default system.net.tcp.* and
// system.net.udp.* series from the host namespace's net/snmp and net/netstat:
// rates of the counters, and the established connections as a gauge.
func (d *Deriver) deriveNetProto(h *host.Snapshot, out *batch.Metrics, dt float64, timed bool, g int32) {
	p := &d.host
	if h.Has(host.FileSnmp) {
		c, pv := &h.Snmp, &p.snmp
		if c.Has&host.TcpCurrEstab != 0 {
			out.Add(SystemNetTCPCurrentEstablished, batch.Gauge, float64(c.Tcp.CurrEstab), g)
		}
		if p.hasSnmp && timed {
			both := c.Has & pv.Has
			r := func(bit host.SnmpField, name string, cur, prev uint64) {
				if both&bit != 0 {
					rate(out, name, cur, prev, dt, 1, g)
				}
			}
			t, pt := &c.Tcp, &pv.Tcp
			r(host.TcpRetransSegs, SystemNetTCPRetransSegs, t.RetransSegs, pt.RetransSegs)
			r(host.TcpInSegs, SystemNetTCPInSegs, t.InSegs, pt.InSegs)
			r(host.TcpOutSegs, SystemNetTCPOutSegs, t.OutSegs, pt.OutSegs)
			r(host.TcpActiveOpens, SystemNetTCPActiveOpens, t.ActiveOpens, pt.ActiveOpens)
			r(host.TcpPassiveOpens, SystemNetTCPPassiveOpens, t.PassiveOpens, pt.PassiveOpens)
			r(host.TcpAttemptFails, SystemNetTCPAttemptFails, t.AttemptFails, pt.AttemptFails)
			r(host.TcpEstabResets, SystemNetTCPEstablishedResets, t.EstabResets, pt.EstabResets)
			r(host.TcpInErrs, SystemNetTCPInErrors, t.InErrs, pt.InErrs)
			r(host.TcpOutRsts, SystemNetTCPOutResets, t.OutRsts, pt.OutRsts)
			u, pu := &c.Udp, &pv.Udp
			r(host.UdpInDatagrams, SystemNetUDPInDatagrams, u.InDatagrams, pu.InDatagrams)
			r(host.UdpNoPorts, SystemNetUDPNoPorts, u.NoPorts, pu.NoPorts)
			r(host.UdpInErrors, SystemNetUDPInErrors, u.InErrors, pu.InErrors)
			r(host.UdpOutDatagrams, SystemNetUDPOutDatagrams, u.OutDatagrams, pu.OutDatagrams)
			r(host.UdpRcvbufErrors, SystemNetUDPRcvBufErrors, u.RcvbufErrors, pu.RcvbufErrors)
			r(host.UdpSndbufErrors, SystemNetUDPSndBufErrors, u.SndbufErrors, pu.SndbufErrors)
			r(host.UdpInCsumErrors, SystemNetUDPInCsumErrors, u.InCsumErrors, pu.InCsumErrors)
		}
		p.snmp, p.hasSnmp = *c, true
	} else {
		p.hasSnmp = false
	}
	if h.Has(host.FileNetstat) {
		c, pv := &h.Netstat, &p.netstat
		if p.hasNetstat && timed {
			both := c.Has & pv.Has
			r := func(bit host.NetstatField, name string, cur, prev uint64) {
				if both&bit != 0 {
					rate(out, name, cur, prev, dt, 1, g)
				}
			}
			r(host.NetstatListenOverflows, SystemNetTCPListenOverflows, c.ListenOverflows, pv.ListenOverflows)
			r(host.NetstatListenDrops, SystemNetTCPListenDrops, c.ListenDrops, pv.ListenDrops)
			r(host.NetstatTCPBacklogDrop, SystemNetTCPBacklogDrops, c.TCPBacklogDrop, pv.TCPBacklogDrop)
			r(host.NetstatTCPRetransFail, SystemNetTCPFailedRetransmits, c.TCPRetransFail, pv.TCPRetransFail)
		}
		p.netstat, p.hasNetstat = *c, true
	} else {
		p.hasNetstat = false
	}
}

// deriveFileNr emits the agent's file_handle check: system.fs.file_handles.*.
func deriveFileNr(out *batch.Metrics, f *host.FileNr, g int32) {
	used := f.Allocated - min(f.Unused, f.Allocated)
	out.Add(SystemFSFileHandlesAllocated, batch.Gauge, float64(f.Allocated), g)
	out.Add(SystemFSFileHandlesAllocatedUnused, batch.Gauge, float64(f.Unused), g)
	out.Add(SystemFSFileHandlesUsed, batch.Gauge, float64(used), g)
	out.Add(SystemFSFileHandlesMax, batch.Gauge, float64(f.Max), g)
	if f.Max > 0 {
		out.Add(SystemFSFileHandlesInUse, batch.Gauge, float64(used)/float64(f.Max), g)
	}
}

// fsTagSet returns the tag set of filesystem source dev (device:/dev/nvme0n1p1,
// device_name:nvme0n1p1, as the agent's disk check tags), built on first use.
func (d *Deriver) fsTagSet(dev string) []string {
	if d.host.fsTags == nil {
		d.host.fsTags = map[string]*hostTags{}
	}
	e := d.host.fsTags[dev]
	if e == nil {
		e = &hostTags{tags: tagSet(d.global, []string{"device:" + dev, "device_name:" + path.Base(dev)})}
		d.host.fsTags[dev] = e
	}
	e.gen = d.gen
	return e.tags
}

// deriveFS emits the agent's disk check gauges per filesystem with gopsutil's
// arithmetic: used is total − f_bfree, free is f_bavail (so used + free falls
// short of total by the root reserve), and utilized is used ÷ (used + free).
func (d *Deriver) deriveFS(out *batch.Metrics, fs *host.Filesystems) {
	for i := range fs.Mounts {
		m := &fs.Mounts[i]
		tags := out.AddTagSet(d.fsTagSet(m.Device))
		used := m.Total - min(m.Free, m.Total)
		out.Add(SystemDiskTotal, batch.Gauge, float64(m.Total)/1024, tags)
		out.Add(SystemDiskUsed, batch.Gauge, float64(used)/1024, tags)
		out.Add(SystemDiskFree, batch.Gauge, float64(m.Avail)/1024, tags)
		pct := 0.0
		if used+m.Avail > 0 {
			pct = float64(used) / float64(used+m.Avail) * 100
		}
		out.Add(SystemDiskUtilized, batch.Gauge, pct, tags)
		out.Add(SystemDiskInUse, batch.Gauge, pct/100, tags)
		if m.Files == 0 {
			continue // no fixed inode count (btrfs): the agent sends none
		}
		var iused uint64
		if m.FilesFree <= m.Files {
			iused = m.Files - m.FilesFree
		}
		ipct := float64(iused) / float64(m.Files) * 100
		out.Add(SystemFSInodesTotal, batch.Gauge, float64(m.Files), tags)
		out.Add(SystemFSInodesUsed, batch.Gauge, float64(iused), tags)
		out.Add(SystemFSInodesFree, batch.Gauge, float64(m.FilesFree), tags)
		out.Add(SystemFSInodesUtilized, batch.Gauge, ipct, tags)
		out.Add(SystemFSInodesInUse, batch.Gauge, ipct/100, tags)
	}
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
