package bench

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/prometheus/procfs"
	"github.com/shirou/gopsutil/v4/process"

	"github.com/whippet-agent/whippet/bench/genhost"
	"github.com/whippet-agent/whippet/bpf"
	"github.com/whippet-agent/whippet/pkg/collect"
	"github.com/whippet-agent/whippet/pkg/collect/hostfs"
	"github.com/whippet-agent/whippet/pkg/collect/passwd"
	"github.com/whippet-agent/whippet/pkg/collect/proc"
)

// One op of BenchmarkProcCycle is one collection pass over every process of a host:
// list the proc directory, then read and parse what a cycle needs of each process
// (CPU times, memory, uid → user name, context switches, IO); the command line is
// read once per process and cached, by every implementation alike.
//
//	floor          getdents + open/read/close of stat, status, io; no parsing
//	floor-held     getdents + pread of stat, status, io on descriptors opened beforehand
//	whippet        collect.Collector.Collect (held descriptors; also reads the 7 host files)
//	whippet-open   the same with -max-held-fds -1 (open/read/close every file)
//	whippet-events whippet with an event-maintained table: no proc directory listing
//	whippet-iter   whippet sampling through the BPF task iterator (live host only)
//	procfs         prometheus/procfs AllProcs + Stat + NewStatus + IO
//	gopsutil       gopsutil/v4 Processes + Times + MemoryInfo + Uids + NumCtxSwitches + IOCounters
//
// Hosts: gen5000 is a generated host (bench/genhost: 200 containers × 25 processes
// + host processes) on tmpfs; live is this machine's /proc with 4,600 extra
// sleeping children, ~5,000 processes.

const (
	genContainers = 200
	genPerCont    = 25
	liveExtra     = 4600 // sleeping children: the live host then has ~5,000 processes
)

type benchHost struct {
	name string
	root hostfs.Root
}

var hosts []benchHost

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	if _, err := proc.RaiseNoFileLimit(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
	}
	// tmpfs when there is one: writing 68k small files to a VM disk can take 20 s.
	tmp := ""
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		tmp = "/dev/shm"
	}
	dir, err := os.MkdirTemp(tmp, "whippet-bench-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	// Generating 5,000 processes takes seconds: only when a benchmark runs.
	if benchRequested() {
		g, err := genhost.Generate(filepath.Join(dir, "gen5000"), genhost.Options{Containers: genContainers, ProcsPerContainer: genPerCont, Seed: 1})
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench: generate:", err)
			return 1
		}
		hosts = append(hosts, benchHost{"gen5000", hostfs.At(g.Dir)})
		var kids []*exec.Cmd
		for range liveExtra {
			c := exec.Command("sleep", "3600")
			if c.Start() == nil {
				kids = append(kids, c)
			}
		}
		defer func() {
			for _, c := range kids {
				c.Process.Kill()
				c.Wait()
			}
		}()
		hosts = append(hosts, benchHost{"live", hostfs.New("/proc", "/sys", "/etc", "")})
	}
	return m.Run()
}

func benchRequested() bool {
	for _, a := range os.Args {
		if len(a) > 12 && a[:12] == "-test.bench=" && a[12:] != "" && a[12:] != "^$" {
			return true
		}
	}
	return false
}

func BenchmarkProcCycle(b *testing.B) {
	for _, h := range hosts {
		b.Run(h.name+"/floor", func(b *testing.B) { benchFloor(b, h.root, false) })
		b.Run(h.name+"/floor-held", func(b *testing.B) { benchFloor(b, h.root, true) })
		b.Run(h.name+"/whippet", func(b *testing.B) { benchWhippet(b, h.root, 1<<20) })
		b.Run(h.name+"/whippet-open", func(b *testing.B) { benchWhippet(b, h.root, -1) })
		b.Run(h.name+"/whippet-events", func(b *testing.B) { benchWhippetEvents(b, h.root) })
		if h.name == "live" { // the iterator reads the running kernel's tasks
			b.Run(h.name+"/whippet-iter", func(b *testing.B) { benchWhippetIter(b, h.root) })
		}
		b.Run(h.name+"/procfs", func(b *testing.B) { benchProcfs(b, h.root) })
		b.Run(h.name+"/gopsutil", func(b *testing.B) { benchGopsutil(b, h.root) })
	}
}

func perProc(b *testing.B, n int) {
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(max(n, 1)), "ns/proc")
	b.ReportMetric(float64(n), "procs")
}

// --- the syscall floor ---------------------------------------------------------

var floorFiles = [...]string{"stat", "status", "io"}

func rawOpen(path []byte) int {
	fd, _, e := syscall.Syscall6(syscall.SYS_OPENAT, uintptr(0xffffffffffffff9c), uintptr(unsafe.Pointer(&path[0])), syscall.O_RDONLY|syscall.O_CLOEXEC, 0, 0, 0)
	if e != 0 {
		return -1
	}
	return int(fd)
}

func rawRead(fd int, buf []byte) {
	syscall.Syscall(syscall.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)))
}

func rawPread(fd int, buf []byte) {
	syscall.Syscall6(syscall.SYS_PREAD64, uintptr(fd), uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), 0, 0, 0)
}

// listPids is the floor's getdents over the proc directory into a reused buffer.
func listPids(dirfd int, dents []byte, pids []int) []int {
	pids = pids[:0]
	syscall.Seek(dirfd, 0, 0)
	for {
		n, _, e := syscall.Syscall(syscall.SYS_GETDENTS64, uintptr(dirfd), uintptr(unsafe.Pointer(&dents[0])), uintptr(len(dents)))
		if e != 0 || n == 0 {
			return pids
		}
		for off := 0; off < int(n); {
			reclen := int(dents[off+16]) | int(dents[off+17])<<8
			name := dents[off+19 : off+reclen]
			pid := 0
			for _, c := range name {
				if c < '0' || c > '9' {
					break
				}
				pid = pid*10 + int(c-'0')
			}
			if pid > 0 && name[0] != '0' {
				pids = append(pids, pid)
			}
			off += reclen
		}
	}
}

func benchFloor(b *testing.B, root hostfs.Root, held bool) {
	procDir := root.Proc()
	dirfd, err := syscall.Open(procDir, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer syscall.Close(dirfd)
	dents := make([]byte, 32<<10)
	buf := make([]byte, 4096)
	path := make([]byte, 0, 256)
	pids := listPids(dirfd, dents, nil)
	mkpath := func(pid int, f string) []byte {
		path = append(path[:0], procDir...)
		path = append(path, '/')
		path = strconv.AppendInt(path, int64(pid), 10)
		path = append(path, '/')
		path = append(path, f...)
		return append(path, 0)
	}
	var fds []int
	if held {
		for _, pid := range pids {
			for _, f := range floorFiles {
				if fd := rawOpen(mkpath(pid, f)); fd >= 0 {
					fds = append(fds, fd)
				}
			}
		}
		defer func() {
			for _, fd := range fds {
				syscall.Close(fd)
			}
		}()
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		pids = listPids(dirfd, dents, pids)
		if held {
			for _, fd := range fds {
				rawPread(fd, buf)
			}
			continue
		}
		for _, pid := range pids {
			for _, f := range floorFiles {
				if fd := rawOpen(mkpath(pid, f)); fd >= 0 {
					rawRead(fd, buf)
					syscall.Close(fd)
				}
			}
		}
	}
	perProc(b, len(pids))
}

// --- whippet ---------------------------------------------------------------------

func benchWhippet(b *testing.B, root hostfs.Root, maxHeld int) {
	benchCollector(b, root, collect.Options{Proc: proc.Options{MaxHeld: maxHeld}}, "")
}

// benchWhippetEvents is whippet with an event-maintained process table (as with
// -process-events=ebpf on a quiet interval: no exec or exit arrived): the cycle
// samples the table's processes without listing the proc directory.
func benchWhippetEvents(b *testing.B, root hostfs.Root) {
	benchCollector(b, root, collect.Options{Proc: proc.Options{MaxHeld: 1 << 20},
		Events: collect.NewEventFeed(0), Reconcile: 24 * time.Hour}, "event-driven cycles")
}

// benchWhippetIter is whippet sampling through the BPF task iterator
// (-process-sampler=iter): one read for every process's identity, CPU, memory,
// faults and context switches; io read only for the processes that ran.
func benchWhippetIter(b *testing.B, root hostfs.Root) {
	it, err := bpf.OpenTaskIter()
	if err != nil {
		b.Skipf("no task iterator: %v", err)
	}
	defer it.Close()
	benchCollector(b, root, collect.Options{Proc: proc.Options{MaxHeld: 1 << 20}, Tasks: it,
		Reconcile: 24 * time.Hour}, "iterator cycles")
}

// benchCollector times steady cycles of a collector built with opt (and the
// host's passwd) after two warm-up cycles (table, held descriptors, buffers).
// noScan, when set, names cycles that must not list /proc after the first.
func benchCollector(b *testing.B, root hostfs.Root, opt collect.Options, noScan string) {
	opt.Users, _ = passwd.New(root)
	c, err := collect.New(root, opt)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	var s *collect.Snapshot
	for range 2 {
		if s, err = c.Collect(time.Now()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		s, _ = c.Collect(time.Now())
	}
	if noScan != "" && s.Stats.Scans != 1 {
		b.Fatalf("%s listed /proc %d times", noScan, s.Stats.Scans)
	}
	perProc(b, len(s.Processes))
}

// --- prometheus/procfs ------------------------------------------------------------

func benchProcfs(b *testing.B, root hostfs.Root) {
	fs, err := procfs.NewFS(root.Proc())
	if err != nil {
		b.Fatal(err)
	}
	users, _ := passwd.New(root)
	cmdlines := map[int][]string{}
	n := 0
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		procs, err := fs.AllProcs()
		if err != nil {
			b.Fatal(err)
		}
		n = 0
		for _, p := range procs {
			st, err := p.Stat()
			if err != nil {
				continue
			}
			status, err := p.NewStatus()
			if err != nil {
				continue
			}
			_, _ = p.IO()
			if _, ok := cmdlines[p.PID]; !ok {
				cmdlines[p.PID], _ = p.CmdLine()
			}
			_ = users.Lookup(uint32(status.UIDs[0]))
			_ = st.CPUTime()
			n++
		}
	}
	perProc(b, n)
}

// --- gopsutil ----------------------------------------------------------------------

// gopsutilProcs lists processes the usual way (Processes) on the live host. On a
// generated host it builds them from Pids, because Processes checks each pid with
// kill(pid, 0) on the real machine, where the generated pids do not exist; skipping
// that check makes gopsutil cheaper there, not dearer.
func gopsutilProcs(live bool) ([]*process.Process, error) {
	if live {
		return process.Processes()
	}
	pids, err := process.Pids()
	if err != nil {
		return nil, err
	}
	procs := make([]*process.Process, len(pids))
	for i, pid := range pids {
		procs[i] = &process.Process{Pid: pid}
	}
	return procs, nil
}

func benchGopsutil(b *testing.B, root hostfs.Root) {
	live := root.Proc() == "/proc"
	b.Setenv("HOST_PROC", root.Proc())
	users, _ := passwd.New(root)
	cmdlines := map[int32]string{}
	n := 0
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		procs, err := gopsutilProcs(live)
		if err != nil {
			b.Fatal(err)
		}
		n = 0
		for _, p := range procs {
			if _, err := p.Times(); err != nil {
				continue
			}
			_, _ = p.MemoryInfo()
			uids, err := p.Uids()
			if err == nil && len(uids) > 0 {
				_ = users.Lookup(uids[0])
			}
			_, _ = p.NumCtxSwitches()
			_, _ = p.IOCounters()
			if _, ok := cmdlines[p.Pid]; !ok {
				cmdlines[p.Pid], _ = p.Cmdline()
			}
			n++
		}
	}
	perProc(b, n)
}
