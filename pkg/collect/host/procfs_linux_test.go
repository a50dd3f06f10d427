package host

import (
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/procfs"
	"github.com/prometheus/procfs/blockdevice"

	"github.com/whippet-agent/whippet/pkg/collect/hostfs"
)

// The differential tests read each root with our Reader and with
// prometheus/procfs (the oracle; for uptime and vmstat, which procfs does not
// parse, strings.Fields and strconv) and compare every field we parse. On
// fixtures the two must agree exactly. On the live host, where counters move
// between reads, we read ours, then the oracle, then ours again: fields that
// cannot change in between (MemTotal, btime, CPU count, device and interface
// names) must be equal, counters must lie between our two reads.

// oracle is one root as procfs sees it.
type oracle struct {
	stat    procfs.Stat
	mem     procfs.Meminfo
	load    *procfs.LoadAvg
	uptime  [2]float64
	vmstat  map[string]uint64
	disks   []blockdevice.Diskstats
	netDev  procfs.NetDev
	snmp    procfs.ProcSnmp
	netstat procfs.ProcNetstat
	fileNr  [3]uint64
	present [NumFiles]bool
}

func readOracle(t *testing.T, root hostfs.Root) *oracle {
	t.Helper()
	fs, err := procfs.NewFS(root.Proc())
	if err != nil {
		t.Fatal(err)
	}
	var o oracle
	ok := func(f File, err error) {
		if err != nil {
			t.Logf("procfs %s: %v", f, err)
		}
		o.present[f] = err == nil
	}
	o.stat, err = fs.Stat()
	ok(FileStat, err)
	o.mem, err = fs.Meminfo()
	ok(FileMeminfo, err)
	o.load, err = fs.LoadAvg()
	ok(FileLoadavg, err)
	o.uptime, err = oracleUptime(root)
	ok(FileUptime, err)
	o.vmstat, err = oracleVmstat(root)
	ok(FileVmstat, err)
	// Only proc is read; the sys mount just has to be a directory.
	bfs, err := blockdevice.NewFS(root.Proc(), root.Proc())
	if err != nil {
		t.Fatal(err)
	}
	o.disks, err = bfs.ProcDiskstats()
	ok(FileDiskstats, err)
	p, err := fs.Proc(1)
	if err == nil {
		o.netDev, err = p.NetDev()
	}
	ok(FileNetDev, err)
	if p, err = fs.Proc(1); err == nil {
		o.snmp, err = p.Snmp()
	}
	ok(FileSnmp, err)
	if p, err = fs.Proc(1); err == nil {
		o.netstat, err = p.Netstat()
	}
	if err == nil && o.netstat.TCPBacklogDrop == nil {
		// procfs v0.23 declares TCPBacklogDrop but never fills it: take it from
		// a plain parse of the same file.
		var ref map[string]uint64
		if ref, err = oracleGroup(root.Proc("1", "net", "netstat"), "TcpExt:"); err == nil {
			if v, ok := ref["TCPBacklogDrop"]; ok {
				f := float64(v)
				o.netstat.TCPBacklogDrop = &f
			}
		}
	}
	ok(FileNetstat, err)
	o.fileNr, err = oracleFileNr(root)
	ok(FileFileNr, err)
	return &o
}

// oracleGroup parses the header and value lines of group prefix in a
// net/snmp-style file with strings.Fields.
func oracleGroup(path, prefix string) (map[string]uint64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var lines []string
	for ln := range strings.Lines(string(b)) {
		if strings.HasPrefix(ln, prefix) {
			lines = append(lines, ln)
		}
	}
	if len(lines) != 2 {
		return nil, fmt.Errorf("%s: %d %s lines", path, len(lines), prefix)
	}
	names, values := strings.Fields(lines[0])[1:], strings.Fields(lines[1])[1:]
	m := map[string]uint64{}
	for i, n := range names {
		if v, err := strconv.ParseUint(values[i], 10, 64); err == nil {
			m[n] = v
		}
	}
	return m, nil
}

// oracleFileNr is the agent's own parse of file-nr: three tab-separated fields.
func oracleFileNr(root hostfs.Root) ([3]uint64, error) {
	var v [3]uint64
	b, err := os.ReadFile(root.Proc("sys", "fs", "file-nr"))
	if err != nil {
		return v, err
	}
	f := strings.Split(strings.TrimRight(string(b), "\n"), "\t")
	if len(f) != 3 {
		return v, fmt.Errorf("file-nr: %d fields", len(f))
	}
	for i := range f {
		if v[i], err = strconv.ParseUint(f[i], 10, 64); err != nil {
			return v, err
		}
	}
	return v, nil
}

func oracleUptime(root hostfs.Root) ([2]float64, error) {
	b, err := os.ReadFile(root.Proc("uptime"))
	if err != nil {
		return [2]float64{}, err
	}
	f := strings.Fields(string(b))
	up, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return [2]float64{}, err
	}
	idle, err := strconv.ParseFloat(f[1], 64)
	return [2]float64{up, idle}, err
}

func oracleVmstat(root hostfs.Root) (map[string]uint64, error) {
	b, err := os.ReadFile(root.Proc("vmstat"))
	if err != nil {
		return nil, err
	}
	m := map[string]uint64{}
	for ln := range strings.Lines(string(b)) {
		f := strings.Fields(ln)
		if len(f) != 2 {
			continue
		}
		if m[f[0]], err = strconv.ParseUint(f[1], 10, 64); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// counter is one value as we read it, before (lo) and after (hi) the oracle read
// it (mid). Exact says it must not move at all.
type counter struct {
	name        string
	lo, mid, hi uint64
	exact       bool
}

func checkCounters(t *testing.T, live bool, cs []counter) {
	t.Helper()
	for _, c := range cs {
		switch {
		case !live || c.exact:
			if c.lo != c.mid || (live && c.hi != c.mid) {
				t.Errorf("%s: ours %d (then %d), procfs %d", c.name, c.lo, c.hi, c.mid)
			}
		case c.mid < c.lo || c.mid > c.hi:
			t.Errorf("%s: procfs %d outside our reads [%d, %d]", c.name, c.mid, c.lo, c.hi)
		}
	}
}

// ticks turns procfs's seconds back into USER_HZ ticks.
func ticks(sec float64) uint64 { return uint64(math.Round(sec * 100)) }

func TestProcfsDifferential(t *testing.T) {
	t.Parallel()
	for name, root := range roots(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			live := name == "live"
			r := newReader(t, root)
			var a, b Snapshot
			if err := r.Read(&a); err != nil {
				t.Fatal(err)
			}
			o := readOracle(t, root)
			if err := r.Read(&b); err != nil {
				t.Fatal(err)
			}
			for f := range NumFiles {
				if a.Has(f) != o.present[f] {
					t.Errorf("%s: ours present %v (%v), procfs %v", f, a.Has(f), a.Err[f], o.present[f])
				}
			}
			if a.Has(FileStat) {
				diffStat(t, live, &a.Stat, &b.Stat, &o.stat)
			}
			if a.Has(FileMeminfo) {
				diffMeminfo(t, live, &a.Meminfo, &b.Meminfo, &o.mem)
			}
			if a.Has(FileLoadavg) {
				diffLoadavg(t, live, &a.Loadavg, &b.Loadavg, o.load)
			}
			if a.Has(FileUptime) {
				diffUptime(t, live, &a.Uptime, &b.Uptime, o.uptime)
			}
			if a.Has(FileVmstat) {
				diffVmstat(t, live, &a.Vmstat, &b.Vmstat, o.vmstat)
			}
			if a.Has(FileDiskstats) {
				diffDiskstats(t, live, a.Diskstats.Disks, b.Diskstats.Disks, o.disks)
			}
			if a.Has(FileNetDev) {
				diffNetDev(t, live, a.NetDev.Ifaces, b.NetDev.Ifaces, o.netDev)
			}
			if a.Has(FileSnmp) {
				diffSnmp(t, live, &a.Snmp, &b.Snmp, &o.snmp)
			}
			if a.Has(FileNetstat) {
				diffNetstat(t, live, &a.Netstat, &b.Netstat, &o.netstat)
			}
			if a.Has(FileFileNr) {
				// The handle count moves with every open: only max is stable.
				checkCounters(t, live, []counter{
					{"file-nr max", a.FileNr.Max, o.fileNr[2], b.FileNr.Max, true},
				})
				if !live && (a.FileNr.Allocated != o.fileNr[0] || a.FileNr.Unused != o.fileNr[1]) {
					t.Errorf("file-nr = %+v, reference %v", a.FileNr, o.fileNr)
				}
			}
		})
	}
}

func diffStat(t *testing.T, live bool, a, b *Stat, o *procfs.Stat) {
	t.Helper()
	ours := func(s *Stat) []uint64 {
		c := s.CPU
		return []uint64{c.User, c.Nice, c.System, c.Idle, c.Iowait, c.IRQ, c.SoftIRQ, c.Steal, c.Guest, c.GuestNice}
	}
	p := o.CPUTotal
	theirs := []float64{p.User, p.Nice, p.System, p.Idle, p.Iowait, p.IRQ, p.SoftIRQ, p.Steal, p.Guest, p.GuestNice}
	lo, hi := ours(a), ours(b)
	for i, name := range cpuNames {
		if i >= a.CPUFields {
			if theirs[i] != 0 {
				t.Errorf("cpu %s: absent for us, procfs %v", name, theirs[i])
			}
			continue
		}
		if !live {
			// procfs computes float64(ticks)/USER_HZ; so must the same ticks.
			if float64(lo[i])/100 != theirs[i] {
				t.Errorf("cpu %s: ours %d ticks, procfs %v s", name, lo[i], theirs[i])
			}
			continue
		}
		mid := ticks(theirs[i])
		if name == "idle" || name == "iowait" {
			// Both may step back on NOHZ kernels (Documentation/filesystems/proc.rst).
			if d := int64(mid) - int64(lo[i]); d < -1000 || d > int64(hi[i]-lo[i])+1000 {
				t.Errorf("cpu %s: procfs %d far from our reads [%d, %d]", name, mid, lo[i], hi[i])
			}
			continue
		}
		checkCounters(t, live, []counter{{name: "cpu " + name, lo: lo[i], mid: mid, hi: hi[i]}})
	}
	if a.NumCPU != len(o.CPU) || (live && b.NumCPU != a.NumCPU) {
		t.Errorf("NumCPU: ours %d (then %d), procfs %d", a.NumCPU, b.NumCPU, len(o.CPU))
	}
	checkCounters(t, live, []counter{
		{"btime", a.Btime, o.BootTime, b.Btime, true},
		{"ctxt", a.Ctxt, o.ContextSwitches, b.Ctxt, false},
		{"processes", a.Processes, o.ProcessCreated, b.Processes, false},
	})
	if !live {
		checkCounters(t, live, []counter{
			{"procs_running", a.ProcsRunning, o.ProcessesRunning, 0, true},
			{"procs_blocked", a.ProcsBlocked, o.ProcessesBlocked, 0, true},
		})
	}
	if a.Has != StatCtxt|StatBtime|StatProcesses|StatProcsRunning|StatProcsBlocked {
		t.Errorf("stat: Has = %05b, want all", a.Has)
	}
}

func diffMeminfo(t *testing.T, live bool, a, b *Meminfo, o *procfs.Meminfo) {
	t.Helper()
	for _, f := range []struct {
		name   string
		bit    MemField
		a, b   uint64
		theirs *uint64
		stable bool // cannot change between two reads
	}{
		{"MemTotal", MemTotal, a.Total, b.Total, o.MemTotalBytes, true},
		{"MemFree", MemFree, a.Free, b.Free, o.MemFreeBytes, false},
		{"MemAvailable", MemAvailable, a.Available, b.Available, o.MemAvailableBytes, false},
		{"Buffers", MemBuffers, a.Buffers, b.Buffers, o.BuffersBytes, false},
		{"Cached", MemCached, a.Cached, b.Cached, o.CachedBytes, false},
		{"SwapCached", MemSwapCached, a.SwapCached, b.SwapCached, o.SwapCachedBytes, false},
		{"Shmem", MemShmem, a.Shmem, b.Shmem, o.ShmemBytes, false},
		{"Slab", MemSlab, a.Slab, b.Slab, o.SlabBytes, false},
		{"SReclaimable", MemSReclaimable, a.SReclaimable, b.SReclaimable, o.SReclaimableBytes, false},
		{"PageTables", MemPageTables, a.PageTables, b.PageTables, o.PageTablesBytes, false},
		{"CommitLimit", MemCommitLimit, a.CommitLimit, b.CommitLimit, o.CommitLimitBytes, true},
		{"Committed_AS", MemCommittedAS, a.CommittedAS, b.CommittedAS, o.CommittedASBytes, false},
		{"SwapTotal", MemSwapTotal, a.SwapTotal, b.SwapTotal, o.SwapTotalBytes, true},
		{"SwapFree", MemSwapFree, a.SwapFree, b.SwapFree, o.SwapFreeBytes, false},
	} {
		if (a.Has&f.bit != 0) != (f.theirs != nil) {
			t.Errorf("meminfo %s: ours present %v, procfs %v", f.name, a.Has&f.bit != 0, f.theirs != nil)
			continue
		}
		if f.theirs == nil || (live && !f.stable) {
			continue
		}
		if f.a != *f.theirs || (live && f.b != *f.theirs) {
			t.Errorf("meminfo %s: ours %d (then %d), procfs %d", f.name, f.a, f.b, *f.theirs)
		}
	}
}

func diffLoadavg(t *testing.T, live bool, a, b *Loadavg, o *procfs.LoadAvg) {
	t.Helper()
	same := func(l *Loadavg) bool { return l.Load1 == o.Load1 && l.Load5 == o.Load5 && l.Load15 == o.Load15 }
	// Loads change on a 5 s tick, so live procfs saw one of our two reads.
	if !same(a) && (!live || !same(b)) {
		t.Errorf("loadavg: ours %v %v %v (then %v %v %v), procfs %v %v %v",
			a.Load1, a.Load5, a.Load15, b.Load1, b.Load5, b.Load15, o.Load1, o.Load5, o.Load15)
	}
}

func diffUptime(t *testing.T, live bool, a, b *Uptime, o [2]float64) {
	t.Helper()
	if !live {
		if a.Uptime != o[0] || a.Idle != o[1] {
			t.Errorf("uptime: ours %+v, strconv %v", *a, o)
		}
		return
	}
	if o[0] < a.Uptime || o[0] > b.Uptime {
		t.Errorf("uptime: strconv %v outside our reads [%v, %v]", o[0], a.Uptime, b.Uptime)
	}
}

func diffVmstat(t *testing.T, live bool, a, b *Vmstat, o map[string]uint64) {
	t.Helper()
	for _, f := range []struct {
		key  string
		bit  VmField
		a, b uint64
	}{
		{"pswpin", VmPswpin, a.Pswpin, b.Pswpin}, {"pswpout", VmPswpout, a.Pswpout, b.Pswpout},
		{"pgpgin", VmPgpgin, a.Pgpgin, b.Pgpgin}, {"pgpgout", VmPgpgout, a.Pgpgout, b.Pgpgout},
		{"pgfault", VmPgfault, a.Pgfault, b.Pgfault}, {"pgmajfault", VmPgmajfault, a.Pgmajfault, b.Pgmajfault},
	} {
		v, ok := o[f.key]
		if ok != (a.Has&f.bit != 0) {
			t.Errorf("vmstat %s: ours present %v, strconv %v", f.key, a.Has&f.bit != 0, ok)
			continue
		}
		checkCounters(t, live, []counter{{name: "vmstat " + f.key, lo: f.a, mid: v, hi: f.b}})
	}
}

func diffDiskstats(t *testing.T, live bool, a, b []Disk, o []blockdevice.Diskstats) {
	t.Helper()
	names := func(ds []Disk) []string {
		var s []string
		for _, d := range ds {
			s = append(s, d.Name)
		}
		return s
	}
	var theirs []string
	for _, d := range o {
		theirs = append(theirs, d.DeviceName)
	}
	if !slices.Equal(names(a), theirs) || (live && !slices.Equal(names(b), theirs)) {
		t.Fatalf("diskstats names: ours %q (then %q), procfs %q", names(a), names(b), theirs)
	}
	for i, p := range o {
		x, y := &a[i], &b[i]
		if x.Major != p.MajorNumber || x.Minor != p.MinorNumber || x.Fields != p.IoStatsCount-3 {
			t.Errorf("diskstats %s: ours %d:%d %d fields, procfs %d:%d %d", x.Name, x.Major, x.Minor, x.Fields,
				p.MajorNumber, p.MinorNumber, p.IoStatsCount-3)
		}
		cs := []counter{
			{"read_ios", x.ReadIOs, p.ReadIOs, y.ReadIOs, false},
			{"read_merges", x.ReadMerges, p.ReadMerges, y.ReadMerges, false},
			{"read_sectors", x.ReadSectors, p.ReadSectors, y.ReadSectors, false},
			{"read_ticks", x.ReadTicks, p.ReadTicks, y.ReadTicks, false},
			{"write_ios", x.WriteIOs, p.WriteIOs, y.WriteIOs, false},
			{"write_merges", x.WriteMerges, p.WriteMerges, y.WriteMerges, false},
			{"write_sectors", x.WriteSectors, p.WriteSectors, y.WriteSectors, false},
			{"write_ticks", x.WriteTicks, p.WriteTicks, y.WriteTicks, false},
			{"io_ticks", x.IOTicks, p.IOsTotalTicks, y.IOTicks, false},
			{"time_in_queue", x.TimeInQueue, p.WeightedIOTicks, y.TimeInQueue, false},
			{"discard_ios", x.DiscardIOs, p.DiscardIOs, y.DiscardIOs, false},
			{"discard_merges", x.DiscardMerges, p.DiscardMerges, y.DiscardMerges, false},
			{"discard_sectors", x.DiscardSectors, p.DiscardSectors, y.DiscardSectors, false},
			{"discard_ticks", x.DiscardTicks, p.DiscardTicks, y.DiscardTicks, false},
			{"flush_ios", x.FlushIOs, p.FlushRequestsCompleted, y.FlushIOs, false},
			{"flush_ticks", x.FlushTicks, p.TimeSpentFlushing, y.FlushTicks, false},
		}
		if !live {
			cs = append(cs, counter{"in_flight", x.InFlight, p.IOsInProgress, 0, false})
		}
		for i := range cs {
			cs[i].name = "diskstats " + x.Name + " " + cs[i].name
		}
		checkCounters(t, live, cs)
	}
}

func diffNetDev(t *testing.T, live bool, a, b []Iface, o procfs.NetDev) {
	t.Helper()
	names := func(is []Iface) []string {
		var s []string
		for _, i := range is {
			s = append(s, i.Name)
		}
		slices.Sort(s)
		return s
	}
	var theirs []string
	for n := range o {
		theirs = append(theirs, n)
	}
	slices.Sort(theirs)
	if !slices.Equal(names(a), theirs) || (live && !slices.Equal(names(b), theirs)) {
		t.Fatalf("net/dev names: ours %q (then %q), procfs %q", names(a), names(b), theirs)
	}
	for i := range a {
		x, y := &a[i], &b[i]
		if x.Name != y.Name {
			t.Fatalf("net/dev order changed between reads: %q then %q", x.Name, y.Name)
		}
		p := o[x.Name]
		cs := []counter{
			{"rx_bytes", x.RxBytes, p.RxBytes, y.RxBytes, false},
			{"rx_packets", x.RxPackets, p.RxPackets, y.RxPackets, false},
			{"rx_errs", x.RxErrs, p.RxErrors, y.RxErrs, false},
			{"rx_drop", x.RxDrop, p.RxDropped, y.RxDrop, false},
			{"rx_fifo", x.RxFIFO, p.RxFIFO, y.RxFIFO, false},
			{"rx_frame", x.RxFrame, p.RxFrame, y.RxFrame, false},
			{"rx_compressed", x.RxCompressed, p.RxCompressed, y.RxCompressed, false},
			{"rx_multicast", x.RxMulticast, p.RxMulticast, y.RxMulticast, false},
			{"tx_bytes", x.TxBytes, p.TxBytes, y.TxBytes, false},
			{"tx_packets", x.TxPackets, p.TxPackets, y.TxPackets, false},
			{"tx_errs", x.TxErrs, p.TxErrors, y.TxErrs, false},
			{"tx_drop", x.TxDrop, p.TxDropped, y.TxDrop, false},
			{"tx_fifo", x.TxFIFO, p.TxFIFO, y.TxFIFO, false},
			{"tx_colls", x.TxColls, p.TxCollisions, y.TxColls, false},
			{"tx_carrier", x.TxCarrier, p.TxCarrier, y.TxCarrier, false},
			{"tx_compressed", x.TxCompressed, p.TxCompressed, y.TxCompressed, false},
		}
		for i := range cs {
			cs[i].name = "net/dev " + x.Name + " " + cs[i].name
		}
		checkCounters(t, live, cs)
	}
}

// TestProcfsDifferentialFiles runs the parsers and procfs on the edge-case texts
// procfs also accepts, to pin the two to the same meaning beyond real hosts.
func TestProcfsDifferentialFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	files := map[string]string{
		"stat":      "cpu  1 2 3 4 5 6 7\ncpu0 1 2 3 4 5 6 7\ncpu1 1 2 3 4 5 6 7\nctxt 9\nbtime 10\nprocesses 11\nprocs_running 12\nprocs_blocked 13\n",
		"meminfo":   "MemTotal: 100 kB\nMemFree: 50 kB\nHugePages_Total: 0\nCommitted_AS: 7 kB\n",
		"loadavg":   "123.45 99.00 7.10 64/10523 4194303\n",
		"diskstats": "   8       0 sda 1 2 3 4 5 6 7 8 9 10 11\n   8       1 sda1 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15\n",
		"uptime":    "1.00 2.00\n",
		"vmstat":    "pgfault 1\n",
		"1/net/dev": netDevModern,
	}
	for name, c := range files {
		p := dir + "/proc/" + name
		if err := os.MkdirAll(p[:strings.LastIndexByte(p, '/')], 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	root := hostfs.At(dir)
	r := newReader(t, root)
	var s Snapshot
	if err := r.Read(&s); err != nil {
		t.Fatal(err)
	}
	o := readOracle(t, root)
	diffStat(t, false, &s.Stat, &s.Stat, &o.stat)
	diffMeminfo(t, false, &s.Meminfo, &s.Meminfo, &o.mem)
	diffLoadavg(t, false, &s.Loadavg, &s.Loadavg, o.load)
	diffDiskstats(t, false, s.Diskstats.Disks, s.Diskstats.Disks, o.disks)
	diffNetDev(t, false, s.NetDev.Ifaces, s.NetDev.Ifaces, o.netDev)
}

// pf turns procfs's optional float into a counter value; absent is a test
// failure reported by the caller through ok.
func pf(v *float64) (uint64, bool) {
	if v == nil {
		return 0, false
	}
	return uint64(*v), true
}

func diffSnmp(t *testing.T, live bool, a, b *Snmp, o *procfs.ProcSnmp) {
	t.Helper()
	type col struct {
		name    string
		bit     SnmpField
		lo, hi  uint64
		theirs  *float64
		isGauge bool
	}
	cols := []col{
		{"Tcp ActiveOpens", TcpActiveOpens, a.Tcp.ActiveOpens, b.Tcp.ActiveOpens, o.Tcp.ActiveOpens, false},
		{"Tcp PassiveOpens", TcpPassiveOpens, a.Tcp.PassiveOpens, b.Tcp.PassiveOpens, o.Tcp.PassiveOpens, false},
		{"Tcp AttemptFails", TcpAttemptFails, a.Tcp.AttemptFails, b.Tcp.AttemptFails, o.Tcp.AttemptFails, false},
		{"Tcp EstabResets", TcpEstabResets, a.Tcp.EstabResets, b.Tcp.EstabResets, o.Tcp.EstabResets, false},
		{"Tcp CurrEstab", TcpCurrEstab, a.Tcp.CurrEstab, b.Tcp.CurrEstab, o.Tcp.CurrEstab, true},
		{"Tcp InSegs", TcpInSegs, a.Tcp.InSegs, b.Tcp.InSegs, o.Tcp.InSegs, false},
		{"Tcp OutSegs", TcpOutSegs, a.Tcp.OutSegs, b.Tcp.OutSegs, o.Tcp.OutSegs, false},
		{"Tcp RetransSegs", TcpRetransSegs, a.Tcp.RetransSegs, b.Tcp.RetransSegs, o.Tcp.RetransSegs, false},
		{"Tcp InErrs", TcpInErrs, a.Tcp.InErrs, b.Tcp.InErrs, o.Tcp.InErrs, false},
		{"Tcp OutRsts", TcpOutRsts, a.Tcp.OutRsts, b.Tcp.OutRsts, o.Tcp.OutRsts, false},
		{"Udp InDatagrams", UdpInDatagrams, a.Udp.InDatagrams, b.Udp.InDatagrams, o.Udp.InDatagrams, false},
		{"Udp NoPorts", UdpNoPorts, a.Udp.NoPorts, b.Udp.NoPorts, o.Udp.NoPorts, false},
		{"Udp InErrors", UdpInErrors, a.Udp.InErrors, b.Udp.InErrors, o.Udp.InErrors, false},
		{"Udp OutDatagrams", UdpOutDatagrams, a.Udp.OutDatagrams, b.Udp.OutDatagrams, o.Udp.OutDatagrams, false},
		{"Udp RcvbufErrors", UdpRcvbufErrors, a.Udp.RcvbufErrors, b.Udp.RcvbufErrors, o.Udp.RcvbufErrors, false},
		{"Udp SndbufErrors", UdpSndbufErrors, a.Udp.SndbufErrors, b.Udp.SndbufErrors, o.Udp.SndbufErrors, false},
		{"Udp InCsumErrors", UdpInCsumErrors, a.Udp.InCsumErrors, b.Udp.InCsumErrors, o.Udp.InCsumErrors, false},
	}
	var cs []counter
	for _, c := range cols {
		mid, ok := pf(c.theirs)
		if ok != (a.Has&c.bit != 0) {
			t.Errorf("snmp %s: ours present %v, procfs %v", c.name, a.Has&c.bit != 0, ok)
			continue
		}
		if !ok {
			continue
		}
		if c.isGauge && live {
			continue // established connections come and go both ways
		}
		cs = append(cs, counter{"snmp " + c.name, c.lo, mid, c.hi, false})
	}
	checkCounters(t, live, cs)
}

func diffNetstat(t *testing.T, live bool, a, b *Netstat, o *procfs.ProcNetstat) {
	t.Helper()
	cols := []struct {
		name   string
		bit    NetstatField
		lo, hi uint64
		theirs *float64
	}{
		{"ListenOverflows", NetstatListenOverflows, a.ListenOverflows, b.ListenOverflows, o.TcpExt.ListenOverflows},
		{"ListenDrops", NetstatListenDrops, a.ListenDrops, b.ListenDrops, o.TcpExt.ListenDrops},
		{"TCPBacklogDrop", NetstatTCPBacklogDrop, a.TCPBacklogDrop, b.TCPBacklogDrop, o.TcpExt.TCPBacklogDrop},
		{"TCPRetransFail", NetstatTCPRetransFail, a.TCPRetransFail, b.TCPRetransFail, o.TcpExt.TCPRetransFail},
	}
	var cs []counter
	for _, c := range cols {
		mid, ok := pf(c.theirs)
		if ok != (a.Has&c.bit != 0) {
			t.Errorf("netstat %s: ours present %v, procfs %v", c.name, a.Has&c.bit != 0, ok)
			continue
		}
		if ok {
			cs = append(cs, counter{"netstat " + c.name, c.lo, mid, c.hi, false})
		}
	}
	checkCounters(t, live, cs)
}
