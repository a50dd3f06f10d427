package genhost

import (
	"bytes"
	"embed"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// hostfiles holds files captured for testdata/fakehost/v1 on the template machine
// (Linux 6.18, 2 CPUs, 23.5 GiB): used as they are (meminfo, vmstat, diskstats,
// pressure) or rescaled to the generated host's uptime (stat).
//
//go:embed hostfiles
var hostfiles embed.FS

func hostFile(name string) []byte {
	b, err := hostfiles.ReadFile("hostfiles/" + name)
	if err != nil {
		panic(err) // embedded: cannot happen
	}
	return b
}

// The template's /proc/stat covers 742.33 s of uptime; the generated host has been
// up uptimeCS ticks, so its counters are the template's times this factor.
const templateUptimeCS = 74233

var scale = float64(uptimeCS) / templateUptimeCS

func scaled(v uint64) uint64 { return uint64(math.Round(float64(v) * scale)) }

// rootCPU is the root cgroup's cpu.stat, from the generated /proc/stat
// (root_cgroup_cputime: user = user + nice, system = system + irq + softirq).
var rootCPU = func() (c struct{ usage, user, system uint64 }) {
	for _, l := range strings.Split(string(hostFile("stat")), "\n") {
		f := strings.Fields(l)
		if len(f) > 8 && f[0] == "cpu" {
			n := func(i int) uint64 { v, _ := strconv.ParseUint(f[i], 10, 64); return scaled(v) }
			c.user = (n(1) + n(2)) * 10000
			c.system = (n(3) + n(6) + n(7)) * 10000
			c.usage = c.user + c.system
		}
	}
	return c
}()

// procStat rescales the template /proc/stat and sets the process counters.
func procStat(processes, running int) []byte {
	var b bytes.Buffer
	for _, l := range strings.Split(strings.TrimSuffix(string(hostFile("stat")), "\n"), "\n") {
		f := strings.Fields(l)
		switch {
		case f[0] == "btime":
			fmt.Fprintf(&b, "btime %d\n", bootTime)
		case f[0] == "processes":
			fmt.Fprintf(&b, "processes %d\n", processes)
		case f[0] == "procs_running":
			fmt.Fprintf(&b, "procs_running %d\n", running)
		case f[0] == "procs_blocked":
			b.WriteString(l + "\n")
		default: // cpu lines ("cpu  " has two spaces), intr, ctxt, softirq
			sep := " "
			if f[0] == "cpu" {
				sep = "  "
			}
			b.WriteString(f[0])
			for i, v := range f[1:] {
				n, _ := strconv.ParseUint(v, 10, 64)
				if i == 0 {
					b.WriteString(sep)
				} else {
					b.WriteByte(' ')
				}
				b.WriteString(strconv.FormatUint(scaled(n), 10))
			}
			b.WriteByte('\n')
		}
	}
	return b.Bytes()
}

// rootIOStat is the v2 root io.stat from the diskstats template: every disk's root
// blkg, newest first, idle disks as "maj:min " (blkcg_fill_root_iostats).
func rootIOStat() []byte {
	lines := strings.Split(strings.TrimSuffix(string(hostFile("diskstats")), "\n"), "\n")
	var b bytes.Buffer
	for i := len(lines) - 1; i >= 0; i-- {
		f := strings.Fields(lines[i])
		n := func(i int) uint64 { v, _ := strconv.ParseUint(f[i], 10, 64); return v }
		fmt.Fprintf(&b, "%s:%s ", f[0], f[1])
		if n(3)+n(7) > 0 {
			fmt.Fprintf(&b, "rbytes=%d wbytes=%d rios=%d wios=%d dbytes=%d dios=%d",
				n(5)*512, n(9)*512, n(3), n(7), n(16)*512, n(14))
		}
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// netDev renders /proc/net/dev (net/core/net-procfs.c dev_seq_printf_stats).
func netDev(h *Host) []byte {
	var b bytes.Buffer
	b.WriteString("Inter-|   Receive                                                |  Transmit\n")
	b.WriteString(" face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n")
	dev := func(name string, rb, rp, tb, tp uint64) {
		fmt.Fprintf(&b, "%6s:%8d %7d %4d %4d %4d %5d %10d %9d %8d %7d %4d %4d %4d %5d %7d %10d\n",
			name, rb, rp, 0, 0, 0, 0, 0, 0, tb, tp, 0, 0, 0, 0, 0, 0)
	}
	r := rng(h.seed, 3)
	dev("lo", 3193*1000, 29*1000, 3193*1000, 29*1000)
	dev("eth0", 114246400*100, 2598*1000, 145856*1000, 1435*1000)
	dev("docker0", uint64(r.IntN(1<<34)), uint64(r.IntN(1<<24)), uint64(r.IntN(1<<34)), uint64(r.IntN(1<<24)))
	for _, c := range h.Containers {
		dev("veth"+c.ID[:7], uint64(r.IntN(1<<30)), uint64(r.IntN(1<<20)), uint64(r.IntN(1<<30)), uint64(r.IntN(1<<20)))
	}
	return b.Bytes()
}

const passwd = `root:x:0:0:root:/root:/bin/bash
bin:x:1:1:bin:/bin:/sbin/nologin
daemon:x:2:2:daemon:/sbin:/sbin/nologin
adm:x:3:4:adm:/var/adm:/sbin/nologin
lp:x:4:7:lp:/var/spool/lpd:/sbin/nologin
sync:x:5:0:sync:/sbin:/bin/sync
shutdown:x:6:0:shutdown:/sbin:/sbin/shutdown
halt:x:7:0:halt:/sbin:/sbin/halt
mail:x:8:12:mail:/var/spool/mail:/sbin/nologin
operator:x:11:0:operator:/root:/sbin/nologin
games:x:12:100:games:/usr/games:/sbin/nologin
ftp:x:14:50:FTP User:/var/ftp:/sbin/nologin
nobody:x:65534:65534:Kernel Overflow User:/:/sbin/nologin
dbus:x:81:81:System message bus:/:/sbin/nologin
systemd-network:x:192:192:systemd Network Management:/:/usr/sbin/nologin
systemd-resolve:x:193:193:systemd Resolver:/:/usr/sbin/nologin
nginx:x:101:101:nginx user:/nonexistent:/bin/false
tss:x:59:59:Account used for TPM access:/dev/null:/sbin/nologin
chrony:x:997:995:chrony system user:/var/lib/chrony:/sbin/nologin
sshd:x:74:74:Privilege-separated SSH:/usr/share/empty.sshd:/sbin/nologin
ec2-instance-connect:x:996:994::/home/ec2-instance-connect:/sbin/nologin
ec2-user:x:1000:1000:EC2 Default User:/home/ec2-user:/bin/bash
`

// writeHostFiles writes the host-wide proc files, proc/self and etc/passwd.
func writeHostFiles(h *Host) error {
	proc := filepath.Join(h.Dir, "proc")
	for _, d := range []string{proc, filepath.Join(proc, "1/net"), filepath.Join(proc, "net"),
		filepath.Join(proc, "sys/kernel"), filepath.Join(proc, "pressure"), filepath.Join(h.Dir, "etc")} {
		if err := mkdir(d); err != nil {
			return err
		}
	}
	threads, running, last := 0, 1, 0
	for i := range h.Procs {
		threads += h.Procs[i].Threads
		if h.Procs[i].State == 'R' {
			running++
		}
		last = max(last, h.Procs[i].PID+h.Procs[i].Threads-1)
	}
	idle := float64(uptimeCS) * ncpu * 0.93
	nd := netDev(h)
	files := []struct {
		path string
		data []byte
	}{
		{"proc/stat", procStat(last+1234, running)},
		{"proc/meminfo", hostFile("meminfo")},
		{"proc/vmstat", hostFile("vmstat")},
		{"proc/diskstats", hostFile("diskstats")},
		{"proc/loadavg", fmt.Appendf(nil, "0.52 0.58 0.59 %d/%d %d\n", running, threads, last)},
		{"proc/uptime", fmt.Appendf(nil, "%d.%02d %d.%02d\n", uptimeCS/100, uptimeCS%100, int(idle)/100, int(idle)%100)},
		{"proc/1/net/dev", nd},
		{"proc/net/dev", nd},
		{"proc/sys/kernel/pid_max", []byte(strconv.Itoa(pidMax) + "\n")},
		{"proc/pressure/cpu", hostFile("pressure_cpu")},
		{"proc/pressure/memory", hostFile("pressure_memory")},
		{"proc/pressure/io", hostFile("pressure_io")},
		{"etc/passwd", []byte(passwd)},
	}
	for _, f := range files {
		if err := writeFile(filepath.Join(h.Dir, f.path), f.data); err != nil {
			return err
		}
	}
	self := filepath.Join(proc, "self")
	_ = os.Remove(self)
	return os.Symlink(strconv.Itoa(h.Self), self)
}
