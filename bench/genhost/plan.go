package genhost

import (
	"math/rand/v2"
)

// The machine the templates come from: Linux 6.18 on x86_64 with 2 CPUs.
const (
	hz         = 100     // USER_HZ
	pageSize   = 4096    // bytes
	uptimeCS   = 8640000 // 10 days, in centiseconds (clock ticks)
	bootTime   = 1795000000
	pidMax     = 4194304
	ncpu       = 2
	diskDev    = "254:0" // vda in the diskstats template
	fullCaps   = "000001ffffffffff"
	dockerCaps = "00000000a80425fb" // Docker's default bounding set
)

// kthread is a kernel thread of the template machine: comm, state, nice, stat flags.
type kthread struct {
	comm  string
	state byte
	nice  int
	flags uint64
	rt    int // SCHED_FIFO priority, 0 for SCHED_OTHER
}

// Kernel threads in pid order as on the template machine (kworker comms carry the
// workqueue name and may exceed 15 bytes; others are truncated to 15).
var kthreads = []kthread{
	{"kthreadd", 'S', 0, 2129984, 0},
	{"pool_workqueue_", 'S', 0, 69238848, 0},
	{"kworker/R-rcu_gp", 'I', -20, 69238880, 0},
	{"kworker/R-sync_wq", 'I', -20, 69238880, 0},
	{"kworker/R-kvfree_rcu_reclaim", 'I', -20, 69238880, 0},
	{"kworker/R-slub_flushwq", 'I', -20, 69238880, 0},
	{"kworker/R-netns", 'I', -20, 69238880, 0},
	{"kworker/0:0-events", 'I', 0, 69238880, 0},
	{"kworker/0:0H-events_highpri", 'I', -20, 69238880, 0},
	{"kworker/R-mm_percpu_wq", 'I', -20, 69238880, 0},
	{"ksoftirqd/0", 'S', 0, 69238848, 0},
	{"rcu_preempt", 'I', 0, 2129984, 0},
	{"rcu_exp_par_gp_", 'S', 0, 2129984, 0},
	{"rcu_exp_gp_kthr", 'S', 0, 2129984, 0},
	{"migration/0", 'S', 0, 69238848, 99},
	{"cpuhp/0", 'S', 0, 69238848, 0},
	{"cpuhp/1", 'S', 0, 69238848, 0},
	{"migration/1", 'S', 0, 69238848, 99},
	{"ksoftirqd/1", 'S', 0, 69238848, 0},
	{"kworker/1:0H-kblockd", 'I', -20, 69238880, 0},
	{"kdevtmpfs", 'S', 0, 2130240, 0},
	{"kworker/R-inet_frag_wq", 'I', -20, 69238880, 0},
	{"rcu_tasks_kthre", 'I', 0, 2129984, 0},
	{"kauditd", 'S', 0, 2097216, 0},
	{"khungtaskd", 'S', 0, 2129984, 0},
	{"oom_reaper", 'S', 0, 2097216, 0},
	{"kworker/R-writeback", 'I', -20, 69238880, 0},
	{"kcompactd0", 'S', 0, 2228288, 0},
	{"ksmd", 'S', 5, 2097216, 0},
	{"khugepaged", 'S', 19, 2097216, 0},
	{"kworker/R-kblockd", 'I', -20, 69238880, 0},
	{"kworker/R-blkcg_punt_bio", 'I', -20, 69238880, 0},
	{"watchdogd", 'S', 0, 2097216, 0},
	{"kswapd0", 'S', 0, 2230336, 0},
	{"irq/24-ACPI:Ged", 'S', 0, 2129984, 50},
	{"kworker/R-ipv6_addrconf", 'I', -20, 69238880, 0},
	{"jbd2/vda1-8", 'S', 0, 2129984, 0},
	{"kworker/R-ext4-rsv-conversion", 'I', -20, 69238880, 0},
}

// Filler kernel threads once the list is used up.
var kworkers = []string{"kworker/0:1-events", "kworker/1:2-mm_percpu_wq", "kworker/u8:3-events_unbound",
	"kworker/1:1H-kblockd", "kworker/0:2-cgroup_release", "kworker/u9:0"}

// daemon is a host user-space process.
type daemon struct {
	comm    string
	cmdline []string
	uid     int
	threads int
	parent  int    // index of the parent daemon, -1 for pid 1
	unit    string // its systemd unit, below /system.slice
}

var daemons = []daemon{
	{"systemd-journal", []string{"/usr/lib/systemd/systemd-journald"}, 0, 1, -1, "systemd-journald.service"},
	{"systemd-udevd", []string{"/usr/lib/systemd/systemd-udevd"}, 0, 1, -1, "systemd-udevd.service"},
	{"auditd", []string{"/sbin/auditd"}, 0, 2, -1, "auditd.service"},
	{"systemd-logind", []string{"/usr/lib/systemd/systemd-logind"}, 0, 1, -1, "systemd-logind.service"},
	{"dbus-broker-lau", []string{"/usr/bin/dbus-broker-launch", "--scope", "system", "--audit"}, 81, 1, -1, "dbus-broker.service"},
	{"dbus-broker", []string{"dbus-broker", "--log", "4", "--controller", "9", "--machine-id", "ec2f0e2b7c1d4a6f8e9a0b1c2d3e4f50", "--max-bytes", "536870912", "--max-fds", "4096", "--max-matches", "131072", "--audit"}, 81, 1, 4, "dbus-broker.service"},
	{"chronyd", []string{"/usr/sbin/chronyd", "-F", "2"}, 997, 1, -1, "chronyd.service"},
	{"rngd", []string{"/usr/sbin/rngd", "-f", "--fill-watermark=0", "-x", "pkcs11", "-x", "nist"}, 0, 2, -1, "rngd.service"},
	{"gssproxy", []string{"/usr/sbin/gssproxy", "-D"}, 0, 6, -1, "gssproxy.service"},
	{"amazon-ssm-agen", []string{"/usr/bin/amazon-ssm-agent"}, 0, 12, -1, "amazon-ssm-agent.service"},
	{"ssm-agent-worke", []string{"/usr/bin/ssm-agent-worker"}, 0, 11, 9, "amazon-ssm-agent.service"},
	{"sshd", []string{"sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups"}, 0, 1, -1, "sshd.service"},
	{"agetty", []string{"/sbin/agetty", "-o", "-p -- \\u", "--noclear", "-", "linux"}, 0, 1, -1, "getty@tty1.service"},
	{"agetty", []string{"/sbin/agetty", "-o", "-p -- \\u", "--keep-baud", "115200,57600,38400,9600", "-", "vt220"}, 0, 1, -1, "serial-getty@ttyS0.service"},
	{"acpid", []string{"/usr/sbin/acpid", "-f"}, 0, 1, -1, "acpid.service"},
	{"crond", []string{"/usr/sbin/crond", "-n"}, 0, 1, -1, "crond.service"},
}

// planner lays out the whole host before anything is written.
type planner struct {
	opt  Options
	h    *Host
	r    *rand.Rand
	next int // next free pid
}

func plan(dir string, opt Options) Host {
	h := Host{Dir: dir, CgroupV2: opt.CgroupV2, seed: opt.Seed}
	p := &planner{opt: opt, h: &h, r: rng(opt.Seed, 1), next: 1}

	// pid 1 and the kernel threads.
	p.add(Proc{Comm: "systemd", Cmdline: []string{"/usr/lib/systemd/systemd", "--switched-root", "--system", "--deserialize=32"}},
		"/init.scope", p.user(12, 1, fullCaps))
	const fixed = 7 // pid 1, containerd, dockerd, the agent, the comm edge case, the zombie and its parent
	nk := opt.HostProcs - fixed - len(daemons)
	nd := len(daemons)
	if nk < 1 {
		nk = 1 // kthreadd
		nd = max(0, min(len(daemons), opt.HostProcs-fixed-1))
	}
	for i := range nk {
		k := kthread{kworkers[i%len(kworkers)], 'I', 0, 69238880, 0}
		if i < len(kthreads) {
			k = kthreads[i]
		}
		ppid := 2
		if i == 0 {
			ppid = 0
		}
		p.add(Proc{Comm: k.comm, State: k.state, Nice: k.nice, PPID: ppid, Kthread: true}, "/", p.kernel(k))
		p.next += p.r.IntN(3) / 2
	}

	// Daemons, containerd and dockerd.
	p.next = max(p.next, 480)
	dpid := make([]int, len(daemons))
	for i, d := range daemons[:nd] {
		ppid := 1
		if d.parent >= 0 && dpid[d.parent] != 0 {
			ppid = dpid[d.parent]
		}
		caps := fullCaps
		if d.uid != 0 {
			caps = ""
		}
		x := p.user(2+p.r.IntN(20), d.threads, caps)
		if d.comm == "sshd" {
			x.argv = argvTitle
		}
		dpid[i] = p.add(Proc{Comm: d.comm, Cmdline: d.cmdline, UID: d.uid, GID: d.uid, PPID: ppid, Threads: d.threads},
			"/system.slice/"+d.unit, x)
		p.next += p.r.IntN(40)
	}
	p.add(Proc{Comm: "containerd", Cmdline: []string{"/usr/bin/containerd"}, PPID: 1, Threads: 14},
		"/system.slice/containerd.service", p.user(60, 14, fullCaps))
	p.next += 3
	p.add(Proc{Comm: "dockerd", Cmdline: []string{"/usr/bin/dockerd", "-H", "fd://", "--containerd=/run/containerd/containerd.sock"},
		PPID: 1, Threads: 18}, "/system.slice/docker.service", p.user(120, 18, fullCaps))

	p.next += 200
	p.containers()

	// The agent and the host edge cases, started last.
	p.next += 50
	h.Self = p.add(Proc{Comm: "whippet", Cmdline: []string{"/usr/local/bin/whippet", "run"}, PPID: 1, Threads: 8},
		"/system.slice/whippet.service", p.user(30, 8, fullCaps))
	p.next += 5
	session := "/user.slice/user-0.slice/session-1.scope"
	p.add(Proc{Comm: "a) b\nc", Cmdline: []string{"perl", "-e", `open F, ">/proc/self/comm"; print F "a) b\nc"; close F; sleep 100000`},
		PPID: 1}, session, p.user(4, 1, fullCaps))
	zp := p.add(Proc{Comm: "sleep", Cmdline: []string{"sleep", "100000"}, PPID: 1}, session, p.user(1, 1, fullCaps))
	p.add(Proc{Comm: "true", State: 'Z', PPID: zp, PGrp: zp, Sid: zp}, session, procExtra{flags: 4227084, zombie: true, exitSignal: 17, sigIgn: 6})
	return h
}

// procExtra carries what only the file writers need.
type procExtra struct {
	flags      uint64
	rt         int // SCHED_FIFO priority
	caps       string
	seccomp    bool // Docker's default profile
	startCode  uint64
	codePages  uint64
	dataPages  uint64
	libKB      uint64
	pteKB      uint64
	peakPages  uint64
	sigIgn     uint64
	sigCgt     uint64
	fdSize     int
	exitSignal int
	processor  int
	envLen     uint64
	zombie     bool
	argv       int // argvPlain, argvTitle, ...
	groups     []int
	rssPages   uint64
	anonPages  uint64
	vsizePages uint64
}

// add appends a process with the next pid and returns the pid.
func (p *planner) add(pr Proc, cgroup string, x procExtra) int {
	r := p.r
	pr.PID = p.next
	p.next++
	if pr.Threads == 0 {
		pr.Threads = 1
	}
	if !pr.Kthread {
		p.next += pr.Threads - 1 // the other threads' ids follow the leader's
	}
	if pr.State == 0 {
		pr.State = 'S'
	}
	if pr.PGrp == 0 && !pr.Kthread {
		pr.PGrp, pr.Sid = pr.PID, pr.PID
	}
	pr.Cgroup = cgroup
	if !p.opt.CgroupV2 && pr.Container == "" {
		pr.Cgroup = "/" // cgroupfs leaves host processes in each hierarchy's root
	}
	x.processor = r.IntN(ncpu)
	switch {
	case x.zombie:
		if pr.StartTime == 0 {
			pr.StartTime = uint64(uptimeCS - 200 - r.IntN(1000))
		}
		pr.MinFlt = uint64(60 + r.IntN(60))
		pr.IO = IO{RChar: 3980, SyscR: 8}
		pr.VolCtxt = 1
	case pr.Kthread:
		pr.StartTime = uint64(2 + r.IntN(20))
		if pr.State != 'I' || r.IntN(3) == 0 {
			pr.STime = uint64(r.IntN(5000))
		}
		pr.VolCtxt = uint64(r.IntN(100000))
		pr.IO = IO{}
	default:
		if pr.StartTime == 0 {
			pr.StartTime = uint64(300 + r.IntN(2000))
		}
		age := uint64(uptimeCS) - pr.StartTime
		total := age * uint64(r.IntN(40)+1) / 1000 // 0.1% to 4% of a CPU
		pr.UTime = total * uint64(60+r.IntN(35)) / 100
		pr.STime = total - pr.UTime
		pr.RSS = x.rssPages
		pr.RSSAnon = x.anonPages
		pr.RSSFile = pr.RSS - pr.RSSAnon
		pr.VSize = x.vsizePages * pageSize
		pr.MinFlt = pr.RSS + uint64(r.IntN(200000))
		pr.MajFlt = uint64(r.IntN(400))
		pr.VolCtxt = uint64(r.IntN(5_000_000))
		pr.NonvolCtxt = uint64(r.IntN(200_000))
		pr.IO = IO{
			RChar: uint64(r.IntN(1 << 30)), WChar: uint64(r.IntN(1 << 28)),
			SyscR: uint64(r.IntN(2_000_000)), SyscW: uint64(r.IntN(500_000)),
			ReadBytes: uint64(r.IntN(1<<18)) * 4096, WriteBytes: uint64(r.IntN(1<<16)) * 4096,
			CancelledWriteBytes: uint64(r.IntN(64)) * 4096,
		}
		if x.groups == nil && pr.UID != 0 {
			x.groups = []int{pr.GID}
		}
	}
	p.h.Procs = append(p.h.Procs, pr)
	p.h.extra = append(p.h.extra, x)
	return pr.PID
}

// user draws the memory layout of a user-space process with rssMB of resident memory.
func (p *planner) user(rssMB, threads int, caps string) procExtra {
	r := p.r
	x := procExtra{
		flags:      4194560,
		caps:       caps,
		startCode:  0x55d0_0000_0000 + uint64(r.IntN(1<<28))*pageSize,
		codePages:  uint64(64 + r.IntN(2048)),
		libKB:      uint64(2000 + r.IntN(8000)),
		pteKB:      uint64(36 + rssMB/2 + 4*threads),
		peakPages:  uint64(r.IntN(1024)),
		sigIgn:     0x1000,
		sigCgt:     0x180014a07,
		fdSize:     64 << r.IntN(3),
		exitSignal: 17,
		envLen:     uint64(200 + r.IntN(1800)),
		rssPages:   uint64(rssMB*256 + r.IntN(256)),
	}
	// Resident anonymous pages lie in the data mappings, resident file pages in the
	// text and the libraries, so VmRSS stays below VmSize.
	x.anonPages = x.rssPages * uint64(40+r.IntN(50)) / 100
	file := x.rssPages - x.anonPages
	x.libKB = max(x.libKB, 4*(file-min(file, x.codePages))+4)
	x.dataPages = x.anonPages + uint64(r.IntN(4096)) + uint64(threads-1)*2048
	x.vsizePages = x.codePages + x.dataPages + x.libKB/4 + 33
	return x
}

func (p *planner) kernel(k kthread) procExtra {
	x := procExtra{flags: k.flags, rt: k.rt, exitSignal: 17, sigIgn: 0xffffffffffffffff, fdSize: 64, caps: fullCaps}
	if k.comm == "kthreadd" {
		x.exitSignal = 0
	}
	return x
}

func hexID(r *rand.Rand, nbytes int) string {
	const digits = "0123456789abcdef"
	b := make([]byte, 2*nbytes)
	for i := range b {
		b[i] = digits[r.IntN(16)]
	}
	return string(b)
}
