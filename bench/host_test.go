package bench

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/procfs"
	"github.com/prometheus/procfs/blockdevice"
	"github.com/shirou/gopsutil/v4/cpu"
	"github.com/shirou/gopsutil/v4/disk"
	gohost "github.com/shirou/gopsutil/v4/host"
	"github.com/shirou/gopsutil/v4/load"
	"github.com/shirou/gopsutil/v4/mem"
	gonet "github.com/shirou/gopsutil/v4/net"

	"github.com/whippet-agent/whippet/pkg/collect/host"
	"github.com/whippet-agent/whippet/pkg/collect/hostfs"
	"github.com/whippet-agent/whippet/pkg/collect/pfile"
)

// liveRoot is the machine the benchmarks run on.
var liveRoot = hostfs.New(hostfs.DefaultProc, hostfs.DefaultSys, hostfs.DefaultEtc, hostfs.DefaultDocker)

// hostFiles are the files of one host read, with whether each is generated in
// one piece (see host.Reader).
func hostFiles(root hostfs.Root) (paths []string, single []bool) {
	return []string{
			root.Proc("stat"), root.Proc("meminfo"), root.Proc("loadavg"), root.Proc("uptime"),
			root.Proc("vmstat"), root.Proc("diskstats"), filepath.Join(root.HostNetProc(), "net", "dev"),
		},
		[]bool{true, true, true, true, false, false, false}
}

// BenchmarkHost is one full host read (stat, meminfo, loadavg, uptime, vmstat,
// diskstats, host net/dev) on the live /proc:
//
//	floor        openat+read+close of each file into one reused buffer, no parsing
//	floor_pread  one pread at offset 0 per held fd, no parsing: whippet's own floor
//	whippet      host.Reader.Read: pread + parse into a reused Snapshot
//	procfs       prometheus/procfs Stat, Meminfo, LoadAvg, ProcDiskstats, Proc(1).NetDev;
//	             uptime and vmstat, which procfs does not parse, with os.ReadFile +
//	             strings.Fields + strconv as a procfs user would
//	gopsutil     cpu.Times(false), mem.VirtualMemory, mem.SwapMemory, load.Avg,
//	             host.Uptime, disk.IOCounters, net.IOCounters(true)
func BenchmarkHost(b *testing.B) {
	if _, err := os.Stat(liveRoot.Proc("stat")); err != nil {
		b.Skipf("no live procfs: %v", err)
	}
	paths, single := hostFiles(liveRoot)

	b.Run("floor", func(b *testing.B) {
		ps := make([]pfile.Path, len(paths))
		for i, p := range paths {
			ps[i].Str(p)
		}
		buf := make([]byte, 64<<10)
		b.ReportAllocs()
		for b.Loop() {
			for i := range ps {
				fd, err := pfile.Open(pfile.AtCWD, &ps[i])
				if err != nil {
					b.Fatal(err)
				}
				if _, err := pfile.ReadFD(fd, &buf, single[i]); err != nil {
					b.Fatal(err)
				}
				pfile.Close(fd)
			}
		}
	})

	b.Run("floor_pread", func(b *testing.B) {
		fds := make([]int, len(paths))
		for i, path := range paths {
			var p pfile.Path
			fd, err := pfile.Open(pfile.AtCWD, p.Str(path))
			if err != nil {
				b.Fatal(err)
			}
			defer pfile.Close(fd)
			fds[i] = fd
		}
		buf := make([]byte, 64<<10)
		b.ReportAllocs()
		for b.Loop() {
			for i, fd := range fds {
				if _, err := pfile.PreadFD(fd, &buf, single[i]); err != nil {
					b.Fatal(err)
				}
			}
		}
	})

	b.Run("whippet", func(b *testing.B) {
		r, err := host.NewReader(liveRoot)
		if err != nil {
			b.Fatal(err)
		}
		defer r.Close()
		var s host.Snapshot
		b.ReportAllocs()
		for b.Loop() {
			if err := r.Read(&s); err != nil {
				b.Fatal(err)
			}
		}
	})

	b.Run("procfs", func(b *testing.B) {
		fs, err := procfs.NewFS(liveRoot.Proc())
		if err != nil {
			b.Fatal(err)
		}
		bfs, err := blockdevice.NewFS(liveRoot.Proc(), filepath.Dir(filepath.Dir(liveRoot.Cgroup())))
		if err != nil {
			b.Fatal(err)
		}
		init1, err := fs.Proc(1)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := fs.Stat(); err != nil {
				b.Fatal(err)
			}
			if _, err := fs.Meminfo(); err != nil {
				b.Fatal(err)
			}
			if _, err := fs.LoadAvg(); err != nil {
				b.Fatal(err)
			}
			if _, err := readUptime(liveRoot.Proc("uptime")); err != nil {
				b.Fatal(err)
			}
			if _, err := readVmstat(liveRoot.Proc("vmstat")); err != nil {
				b.Fatal(err)
			}
			if _, err := bfs.ProcDiskstats(); err != nil {
				b.Fatal(err)
			}
			if _, err := init1.NetDev(); err != nil {
				b.Fatal(err)
			}
		}
	})

	b.Run("gopsutil", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := cpu.Times(false); err != nil {
				b.Fatal(err)
			}
			if _, err := mem.VirtualMemory(); err != nil {
				b.Fatal(err)
			}
			if _, err := mem.SwapMemory(); err != nil {
				b.Fatal(err)
			}
			if _, err := load.Avg(); err != nil {
				b.Fatal(err)
			}
			if _, err := gohost.Uptime(); err != nil {
				b.Fatal(err)
			}
			if _, err := disk.IOCounters(); err != nil {
				b.Fatal(err)
			}
			if _, err := gonet.IOCounters(true); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// readUptime is how a procfs user reads /proc/uptime, which procfs does not parse.
func readUptime(path string) (float64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.ParseFloat(strings.Fields(string(b))[0], 64)
}

// readVmstat is how a procfs user (node_exporter's vmstat collector) reads
// /proc/vmstat, which procfs does not parse.
func readVmstat(path string) (map[string]uint64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	m := map[string]uint64{}
	for ln := range strings.Lines(string(b)) {
		f := strings.Fields(ln)
		if len(f) != 2 {
			continue
		}
		switch f[0] {
		case "pswpin", "pswpout", "pgpgin", "pgpgout", "pgfault", "pgmajfault":
			if m[f[0]], err = strconv.ParseUint(f[1], 10, 64); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}
