package bench

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/procfs"
	"github.com/shirou/gopsutil/v4/disk"
	gonet "github.com/shirou/gopsutil/v4/net"

	"github.com/whippet-agent/whippet/pkg/collect/host"
	"github.com/whippet-agent/whippet/pkg/collect/pfile"
)

// BenchmarkNetProto is the per-cycle cost of the three files added for the
// agent's TCP/UDP and file handle series (<proc>/1/net/snmp, <proc>/1/net/netstat,
// <proc>/sys/fs/file-nr) on the live /proc:
//
//	whippet   one pread per held fd + ParseSnmp/ParseNetstat/ParseFileNr, as host.Reader does
//	procfs    prometheus/procfs Proc(1).Snmp and .Netstat, os.ReadFile + strings for file-nr
//	gopsutil  net.ProtoCounters(tcp, udp) (snmp only: it has no TcpExt reader)
func BenchmarkNetProto(b *testing.B) {
	paths := []string{liveRoot.Proc("1", "net", "snmp"), liveRoot.Proc("1", "net", "netstat"), liveRoot.Proc("sys", "fs", "file-nr")}
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil {
			b.Skipf("no live %s: %v", p, err)
		}
	}
	b.Run("whippet", func(b *testing.B) {
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
		buf := make([]byte, pfile.MinBuf)
		var s host.Snmp
		var n host.Netstat
		var f host.FileNr
		b.ReportAllocs()
		for b.Loop() {
			for i, fd := range fds {
				in, err := pfile.PreadFD(fd, &buf, true)
				if err != nil {
					b.Fatal(err)
				}
				switch i {
				case 0:
					err = host.ParseSnmp(in, &s)
				case 1:
					err = host.ParseNetstat(in, &n)
				case 2:
					err = host.ParseFileNr(in, &f)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("procfs", func(b *testing.B) {
		fs, err := procfs.NewFS(liveRoot.Proc())
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			p, err := fs.Proc(1)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := p.Snmp(); err != nil {
				b.Fatal(err)
			}
			if _, err := p.Netstat(); err != nil {
				b.Fatal(err)
			}
			in, err := os.ReadFile(paths[2])
			if err != nil {
				b.Fatal(err)
			}
			for _, v := range strings.Fields(string(in)) {
				if _, err := strconv.ParseUint(v, 10, 64); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("gopsutil", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := gonet.ProtoCounters([]string{"tcp", "udp"}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkFilesystems is one metrics cycle's filesystem read on the live host:
//
//	whippet   host.Reader.ReadFS: pread of the held mountinfo, a byte compare
//	          with the last table, one statfs per kept filesystem
//	gopsutil  disk.Partitions(false) + disk.Usage per partition, the agent's loop
func BenchmarkFilesystems(b *testing.B) {
	if _, err := os.Stat(liveRoot.Proc("1", "mountinfo")); err != nil {
		b.Skipf("no live mount table: %v", err)
	}
	b.Run("whippet", func(b *testing.B) {
		r, err := host.NewReader(liveRoot)
		if err != nil {
			b.Fatal(err)
		}
		defer r.Close()
		var s host.Snapshot
		b.ReportAllocs()
		for b.Loop() {
			if err := r.ReadFS(&s); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(len(s.FS.Mounts)), "filesystems")
	})
	b.Run("gopsutil", func(b *testing.B) {
		b.ReportAllocs()
		n := 0
		for b.Loop() {
			parts, err := disk.Partitions(false)
			if err != nil {
				b.Fatal(err)
			}
			n = 0
			for _, p := range parts {
				if _, err := disk.Usage(p.Mountpoint); err == nil {
					n++
				}
			}
		}
		b.ReportMetric(float64(n), "filesystems")
	})
}

// BenchmarkOpenFDs is the cost of counting one process's descriptors: what
// collect does per container process on a metrics cycle (openat of <pid>/fd
// under the held proc dir, raw getdents into a reused buffer, close) against
// os.ReadDir. The process is a child holding ten descriptors, a typical
// container process.
func BenchmarkOpenFDs(b *testing.B) {
	null, err := os.Open(os.DevNull)
	if err != nil {
		b.Fatal(err)
	}
	defer null.Close()
	cmd := exec.Command("sleep", "1000")
	cmd.ExtraFiles = []*os.File{null, null, null, null, null, null, null}
	if err := cmd.Start(); err != nil {
		b.Skipf("cannot start sleep: %v", err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	pid := strconv.Itoa(cmd.Process.Pid)
	b.Run("whippet", func(b *testing.B) {
		var p pfile.Path
		procfd, err := pfile.OpenDir(pfile.AtCWD, p.Str(liveRoot.Proc()))
		if err != nil {
			b.Fatal(err)
		}
		defer pfile.Close(procfd)
		buf := make([]byte, 8<<10)
		n := 0
		b.ReportAllocs()
		for b.Loop() {
			fd, err := pfile.OpenDir(procfd, p.Reset().Str(pid).Str("/fd"))
			if err != nil {
				b.Fatal(err)
			}
			n = 0
			if err := pfile.Getdents(fd, buf, func(name []byte, _ uint8) {
				if name[0] != '.' {
					n++
				}
			}); err != nil {
				b.Fatal(err)
			}
			pfile.Close(fd)
		}
		b.ReportMetric(float64(n), "fds")
	})
	b.Run("os.ReadDir", func(b *testing.B) {
		dir := liveRoot.Proc(pid, "fd")
		b.ReportAllocs()
		for b.Loop() {
			if _, err := os.ReadDir(dir); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestFilesystemsAgreeGopsutil compares ReadFS with what the agent's disk
// check computes through gopsutil on the same host: for each filesystem we
// report, the first partition gopsutil lists for that device must have the same
// mount point and type and the same total size and inode count.
func TestFilesystemsAgreeGopsutil(t *testing.T) {
	if _, err := os.Stat(liveRoot.Proc("1", "mountinfo")); err != nil {
		t.Skipf("no live mount table: %v", err)
	}
	r, err := host.NewReader(liveRoot)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var s host.Snapshot
	if err := r.ReadFS(&s); err != nil {
		t.Fatal(err)
	}
	parts, err := disk.Partitions(false)
	if err != nil {
		t.Fatal(err)
	}
	first := map[string]disk.PartitionStat{}
	for _, p := range parts {
		if _, ok := first[p.Device]; !ok && p.Device != "none" && p.Device != "" &&
			!strings.HasSuffix(p.Fstype, "iso9660") && !strings.HasSuffix(p.Fstype, "tracefs") {
			first[p.Device] = p
		}
	}
	if len(s.FS.Mounts) == 0 || len(s.FS.Mounts) != len(first) {
		t.Errorf("whippet %d filesystems, gopsutil %d devices: %+v vs %+v", len(s.FS.Mounts), len(first), s.FS.Mounts, parts)
	}
	for _, m := range s.FS.Mounts {
		p, ok := first[m.Device]
		if !ok {
			t.Errorf("%s: not listed by gopsutil", m.Device)
			continue
		}
		u, err := disk.Usage(p.Mountpoint)
		if err != nil {
			t.Fatal(err)
		}
		if p.Mountpoint != m.MountPoint || p.Fstype != m.Type || u.Total != m.Total || u.InodesTotal != m.Files {
			t.Errorf("%s: whippet %s %s total %d inodes %d; gopsutil %s %s total %d inodes %d", m.Device,
				m.MountPoint, m.Type, m.Total, m.Files, p.Mountpoint, p.Fstype, u.Total, u.InodesTotal)
		}
	}
}

// TestNetProtoAgreeGopsutil compares the Tcp:/Udp: counters we parse with
// gopsutil's, read between two of our reads.
func TestNetProtoAgreeGopsutil(t *testing.T) {
	path := liveRoot.Proc("1", "net", "snmp")
	read := func() host.Snmp {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Skipf("no live snmp: %v", err)
		}
		var s host.Snmp
		if err := host.ParseSnmp(b, &s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	lo := read()
	stats, err := gonet.ProtoCounters([]string{"tcp", "udp"})
	if err != nil {
		t.Fatal(err)
	}
	hi := read()
	for _, st := range stats {
		for name, v := range st.Stats {
			var a, c uint64
			switch st.Protocol + "." + name {
			case "tcp.InSegs":
				a, c = lo.Tcp.InSegs, hi.Tcp.InSegs
			case "tcp.RetransSegs":
				a, c = lo.Tcp.RetransSegs, hi.Tcp.RetransSegs
			case "tcp.ActiveOpens":
				a, c = lo.Tcp.ActiveOpens, hi.Tcp.ActiveOpens
			case "udp.InDatagrams":
				a, c = lo.Udp.InDatagrams, hi.Udp.InDatagrams
			case "udp.NoPorts":
				a, c = lo.Udp.NoPorts, hi.Udp.NoPorts
			default:
				continue
			}
			if uint64(v) < a || uint64(v) > c {
				t.Errorf("%s.%s: gopsutil %d outside ours [%d, %d]", st.Protocol, name, v, a, c)
			}
		}
	}
}
