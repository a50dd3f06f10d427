// Package genhost writes large fake hosts for benchmarks: a host root with the same
// layout as testdata/fakehost (proc/<pid>/{stat,statm,status,io,cmdline,cgroup,comm},
// the host-wide proc files, etc/passwd, sys/fs/cgroup for cgroup v1 or v2, and the
// Docker Engine API replies under docker/), with thousands of processes in hundreds
// of containers. Every file is in the exact format Linux 6.18 (x86_64, USER_HZ 100,
// 4 KiB pages, 2 CPUs) and Docker Engine 20.10 (API 1.41) produce; the captured
// fixture files are the templates. The same Options give byte-identical hosts.
//
// What a host holds: pid 1 (systemd), kernel threads, host daemons, containerd,
// dockerd, the agent (proc/self), a process whose comm is "a) b\nc" and a zombie;
// per container a containerd-shim and ProcsPerContainer processes of one of five
// workloads (busybox sh and sleeps; nginx with rewritten argv, the master's without
// any NUL; gunicorn; a JVM with a 6 KiB command line; node as uid 4242, which
// etc/passwd lacks). About 60% of the containers are in ECS tasks of one to three,
// under /ecs/<task>/<id> (v1) or ecstasks.slice/ecstasks-<task>.slice/docker-<id>.scope
// (v2); the rest under /docker/<id> or system.slice/docker-<id>.scope. Cgroup figures
// follow from the processes (CPU time, RSS, threads) and are reported in Stats.
//
// The default host (5,300 processes, about 68,000 files, 47 MB) takes about 0.5 s
// on tmpfs; on a disk the filesystem sets the pace, so generate benchmark hosts
// under /dev/shm.
package genhost

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
)

// Defaults for the zero Options.
const (
	DefaultContainers        = 200
	DefaultProcsPerContainer = 25
	DefaultHostProcs         = 100
)

// Options shape the generated host. Zero fields take the defaults. A negative
// Containers means none; HostProcs below 8 (or negative) gives the 8 fixed host
// processes (pid 1, kthreadd, containerd, dockerd, the agent, the comm edge case, a
// zombie and its parent).
type Options struct {
	Containers        int   // running containers (default 200)
	ProcsPerContainer int   // processes in each container, its init included (default 25)
	HostProcs         int   // host processes: pid 1, kernel threads, daemons (default 100); one containerd-shim per container comes on top
	CgroupV2          bool  // unified hierarchy and systemd driver (ECS AL2023) instead of v1 cgroupfs (ECS AL2)
	Seed              int64 // the same seed gives the same bytes
}

// Host describes what Generate wrote.
type Host struct {
	Dir        string      // the host root: Dir/proc, Dir/sys/fs/cgroup, Dir/etc/passwd, Dir/docker
	CgroupV2   bool        // the layout under Dir/sys/fs/cgroup
	Self       int         // the pid Dir/proc/self links to (the agent)
	Procs      []Proc      // every process, by pid
	Containers []Container // running containers, in creation order
	Tasks      []Task      // ECS tasks

	extra []procExtra // beside Procs
	seed  int64
}

// Proc is one generated process and the values its files hold.
type Proc struct {
	PID, PPID  int
	PGrp, Sid  int
	Comm       string   // /proc/<pid>/comm without the newline (may contain spaces, ")" and newlines)
	Cmdline    []string // the NUL-separated arguments; nil for kernel threads and zombies
	State      byte     // R, S, I (idle kernel thread) or Z
	UID, GID   int
	Nice       int
	Threads    int
	Kthread    bool
	UTime      uint64 // clock ticks
	STime      uint64
	StartTime  uint64 // clock ticks after boot
	VSize      uint64 // bytes
	RSS        uint64 // pages (VmRSS)
	RSSAnon    uint64 // pages
	RSSFile    uint64 // pages
	MinFlt     uint64
	MajFlt     uint64
	VolCtxt    uint64
	NonvolCtxt uint64
	IO         IO
	NSPid      int    // pid inside the container's pid namespace; 0 on the host
	Container  string // container id; "" on the host
	Cgroup     string // cgroup path (v1: the same below every controller; v2: the 0:: path)
}

// IO is /proc/<pid>/io.
type IO struct {
	RChar, WChar, SyscR, SyscW, ReadBytes, WriteBytes, CancelledWriteBytes uint64
}

// Container is one running container and the values its cgroup files hold.
type Container struct {
	ID      string // 64 hex
	Name    string // without the leading "/"
	Image   string
	ImageID string
	Labels  map[string]string
	Task    int    // index into Host.Tasks, -1 for a plain container
	Cgroup  string // path below each v1 controller (/ecs/<task>/<id>, /docker/<id>) or below the v2 root
	ShimPID int
	Pids    []int // its processes; Pids[0] is the init (State.Pid)
	User    string
	Env     []string
	Cmd     []string // Config.Cmd
	Created int64    // unix seconds
	Stats   Stats
	ECSName string // com.amazonaws.ecs.container-name, "" for plain containers
}

// Stats are the figures a container's (or a task's) cgroup files hold.
type Stats struct {
	CPUUsageNS  uint64 // v1 cpuacct.usage; v2 cpu.stat usage_usec * 1000
	CPUUserNS   uint64 // v1 cpuacct.usage_user (tick granularity)
	CPUSystemNS uint64 // v1 cpuacct.usage_sys
	NrPeriods   uint64
	NrThrottled uint64
	ThrottledNS uint64
	CPUShares   uint64 // v1 cpu.shares (1024 when unset); v2 cpu.weight is runc's conversion of it
	CPUQuotaUS  int64  // -1 without a quota
	MemoryUsage uint64 // v1 memory.usage_in_bytes, v2 memory.current: Anon + File + Kernel
	MemoryPeak  uint64 // v1 memory.max_usage_in_bytes, v2 memory.peak
	MemoryLimit uint64 // 0 when unlimited
	Anon        uint64 // v1 memory.stat total_rss, v2 anon
	File        uint64 // v1 total_cache, v2 file
	Kernel      uint64 // v1 memory.kmem.usage_in_bytes, v2 kernel
	KernelStack uint64 // threads * 16 KiB
	PageTables  uint64
	PgFault     uint64
	PgMajFault  uint64
	PidsCurrent uint64 // threads
	PidsLimit   uint64 // 0 for max
	ReadBytes   uint64 // blkio / io.stat on 254:0 (vda)
	WriteBytes  uint64
	Reads       uint64
	Writes      uint64
	CPUSome     uint64 // PSI totals, microseconds
	CPUFull     uint64
	MemSome     uint64
	MemFull     uint64
	IOSome      uint64
	IOFull      uint64
}

func (s *Stats) add(o Stats) {
	s.CPUUsageNS += o.CPUUsageNS
	s.CPUUserNS += o.CPUUserNS
	s.CPUSystemNS += o.CPUSystemNS
	s.NrPeriods += o.NrPeriods
	s.NrThrottled += o.NrThrottled
	s.ThrottledNS += o.ThrottledNS
	s.MemoryUsage += o.MemoryUsage
	s.MemoryPeak += o.MemoryPeak
	s.Anon += o.Anon
	s.File += o.File
	s.Kernel += o.Kernel
	s.KernelStack += o.KernelStack
	s.PageTables += o.PageTables
	s.PgFault += o.PgFault
	s.PgMajFault += o.PgMajFault
	s.PidsCurrent += o.PidsCurrent
	s.ReadBytes += o.ReadBytes
	s.WriteBytes += o.WriteBytes
	s.Reads += o.Reads
	s.Writes += o.Writes
	s.CPUSome += o.CPUSome
	s.CPUFull += o.CPUFull
	s.MemSome += o.MemSome
	s.MemFull += o.MemFull
	s.IOSome += o.IOSome
	s.IOFull += o.IOFull
}

// Task is one ECS task: its containers share a cgroup parent with task-level limits.
type Task struct {
	ARN        string
	ID         string // 32 hex, the last ARN segment
	Cluster    string
	Family     string
	Revision   int
	Cgroup     string // /ecs/<id> (v1) or /ecstasks.slice/ecstasks-<id>.slice (v2)
	Containers []int  // indexes into Host.Containers
	Stats      Stats
}

// Generate writes a host root into dir (created if needed; it should be empty) and
// returns what it wrote.
func Generate(dir string, opt Options) (Host, error) {
	opt = opt.withDefaults()
	h := plan(dir, opt)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Host{}, fmt.Errorf("generate host: %w", err)
	}
	var jobs []func() error
	for i := range h.Procs {
		jobs = append(jobs, func() error { return writeProc(&h, i) })
	}
	for i := range h.Containers {
		jobs = append(jobs, func() error { return writeContainerCgroups(&h, i) })
	}
	for i := range h.Tasks {
		jobs = append(jobs, func() error { return writeTaskCgroups(&h, i) })
	}
	jobs = append(jobs,
		func() error { return writeHostFiles(&h) },
		func() error { return writeCgroupRoot(&h) },
		func() error { return writeDocker(&h) },
	)
	if err := run(jobs); err != nil {
		return Host{}, fmt.Errorf("generate host in %s: %w", dir, err)
	}
	return h, nil
}

func (o Options) withDefaults() Options {
	if o.Containers == 0 {
		o.Containers = DefaultContainers
	} else if o.Containers < 0 {
		o.Containers = 0
	}
	if o.ProcsPerContainer <= 0 {
		o.ProcsPerContainer = DefaultProcsPerContainer
	}
	if o.HostProcs == 0 {
		o.HostProcs = DefaultHostProcs
	} else if o.HostProcs < 0 {
		o.HostProcs = 0
	}
	return o
}

// run runs jobs on GOMAXPROCS*2 workers and returns the first error.
func run(jobs []func() error) error {
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
		next = make(chan func() error)
	)
	for range 2 * runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for job := range next {
				if err := job(); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}
		})
	}
	for _, job := range jobs {
		next <- job
	}
	close(next)
	wg.Wait()
	return errors.Join(errs...)
}

// writeFile writes b to dir/name, creating nothing: callers make the directories.
func writeFile(path string, b []byte) error {
	return os.WriteFile(path, b, 0o644)
}

func mkdir(path string) error { return os.MkdirAll(path, 0o755) }

// ProcByPID returns the process with that pid.
func (h *Host) ProcByPID(pid int) (Proc, bool) {
	i := sort.Search(len(h.Procs), func(i int) bool { return h.Procs[i].PID >= pid })
	if i < len(h.Procs) && h.Procs[i].PID == pid {
		return h.Procs[i], true
	}
	return Proc{}, false
}

// CgroupDir is the directory of a cgroup path under one v1 controller ("cpu",
// "memory", ... "unified") or, on v2, under the unified root (ctrl ignored).
func (h *Host) CgroupDir(ctrl, path string) string {
	if h.CgroupV2 {
		return filepath.Join(h.Dir, "sys/fs/cgroup", path)
	}
	return filepath.Join(h.Dir, "sys/fs/cgroup", ctrl, path)
}

// rng is the generator for one stream of values: derived from the seed and a label,
// so planning order changes do not ripple through unrelated values.
func rng(seed int64, stream uint64) *rand.Rand {
	return rand.New(rand.NewPCG(uint64(seed), stream*0x9e3779b97f4a7c15+1))
}
