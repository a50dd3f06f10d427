//go:build linux

package bpf

// Tests against the running kernel. They need root and kernel BTF; without them
// they skip with the reason (a failure under WHIPPET_REQUIRE_E2E=1).

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/whippet-agent/whippet/internal/testenv"
)

const helperEnv = "WHIPPET_BPF_TEST_HELPER"

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "":
		os.Exit(m.Run())
	case "busy":
		busy()
	case "open":
		helperOpen()
	case "threads":
		helperThreads()
	case "cloneparent":
		helperCloneParent()
	}
	os.Exit(0)
}

// busy burns 500 ms of CPU on two threads and touches 64 MiB, then exits 7.
func busy() {
	runtime.GOMAXPROCS(2)
	mem := make([]byte, 64<<20)
	for i := 0; i < len(mem); i += 4096 {
		mem[i] = 1
	}
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
			var ts syscall.Timespec
			for x := 0; ; x++ {
				if x%4096 == 0 {
					_, _, _ = syscall.Syscall(syscall.SYS_CLOCK_GETTIME, 2 /* CLOCK_PROCESS_CPUTIME_ID */, uintptr(unsafe.Pointer(&ts)), 0)
					if time.Duration(ts.Nano()) >= 500*time.Millisecond {
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	runtime.KeepAlive(mem)
	os.Exit(7)
}

// helperOpen opens the tracer with the modes in argv and prints the outcome.
func helperOpen() {
	var modes []Mode
	for _, a := range strings.Split(os.Getenv(helperEnv+"_MODES"), ",") {
		modes = append(modes, Mode(a))
	}
	t, err := Open(Options{Modes: modes})
	if err != nil {
		fmt.Printf("error: %v\n", err)
		var oe *OpenError
		if errors.As(err, &oe) {
			for _, s := range oe.Skipped {
				fmt.Printf("skip %s eperm=%v\n", s.Mode, errors.Is(s.Err, syscall.EPERM))
			}
		}
		return
	}
	defer t.Close()
	fmt.Printf("mode: %s\n", t.Mode())
}

// helperThreads starts threadsN more OS threads (CLONE_THREAD), prints the tids
// of its thread group once they all run, and exits: a multi-threaded process
// whose threads must not be reported as forks.
func helperThreads() {
	const threadsN = 16
	var ready sync.WaitGroup
	stop := make(chan struct{})
	for range threadsN {
		ready.Add(1)
		go func() {
			runtime.LockOSThread() // each holds its thread: the runtime starts new ones
			ready.Done()
			<-stop
		}()
	}
	ready.Wait()
	ents, err := os.ReadDir("/proc/self/task")
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	for _, e := range ents {
		fmt.Println(e.Name())
	}
	close(stop)
}

// helperCloneParent starts /bin/true with CLONE_PARENT, so that it is a child of
// this helper's parent (the test), prints its pid and exits without waiting.
func helperCloneParent() {
	cmd := exec.Command("/bin/true")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_PARENT}
	if err := cmd.Start(); err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fmt.Println(cmd.Process.Pid)
}

func requireKernel(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		testenv.Skip(t, "kernel tracing needs root")
	}
	if !exists(kernelBTF) {
		testenv.Skip(t, "kernel has no BTF (%s)", kernelBTF)
	}
}

// collector runs a Tracer's Read in the background and keeps copies of the events
// keep selects.
type collector struct {
	t      *testing.T
	tr     *Tracer
	mu     sync.Mutex
	events []Event
	keep   func(*Event) bool
	cancel context.CancelFunc
	done   chan error
}

func collect(t *testing.T, opt Options, keep func(*Event) bool) *collector {
	t.Helper()
	tr, err := Open(opt)
	if err != nil {
		t.Fatalf("Open(%+v): %v", opt, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &collector{t: t, tr: tr, keep: keep, cancel: cancel, done: make(chan error, 1)}
	go func() {
		c.done <- tr.Read(ctx, func(e *Event) {
			if c.keep(e) {
				c.mu.Lock()
				c.events = append(c.events, *e)
				c.mu.Unlock()
			}
		})
	}()
	t.Cleanup(func() { c.stop() })
	return c
}

// stop ends Read (by ctx) and closes the Tracer.
func (c *collector) stop() {
	if c.cancel == nil {
		return
	}
	c.cancel()
	c.cancel = nil
	if err := <-c.done; err != nil {
		c.t.Errorf("Read: %v", err)
	}
	if err := c.tr.Close(); err != nil {
		c.t.Errorf("Close: %v", err)
	}
	if err := c.tr.Close(); err != nil {
		c.t.Errorf("second Close: %v", err)
	}
}

// wait returns the kept events once done reports true of them, or at the timeout.
func (c *collector) wait(timeout time.Duration, done func([]Event) bool) []Event {
	deadline := time.Now().Add(timeout)
	for {
		c.mu.Lock()
		evs := append([]Event(nil), c.events...)
		c.mu.Unlock()
		if done(evs) || time.Now().After(deadline) {
			return evs
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func count(evs []Event, f func(*Event) bool) int {
	n := 0
	for i := range evs {
		if f(&evs[i]) {
			n++
		}
	}
	return n
}

// The workload of the per-rung test: a shell (uid/gid 65534) runs /bin/true 1,000
// times, then a child shell that exits 3.
const (
	spawnN     = 1000
	spawnUID   = 65534
	spawnShell = `i=0; while [ $i -lt 1000 ]; do /bin/true; i=$((i+1)); done; sh -c 'exit 3'; :`
)

func runSpawner(t *testing.T) int32 {
	t.Helper()
	cmd := exec.Command("/bin/sh", "-c", spawnShell)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: spawnUID, Gid: spawnUID}}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("spawner: %v: %s", err, out)
	}
	return int32(cmd.Process.Pid)
}

// TestRungs forces each rung and checks 1,000 execs and exits of /bin/true from a
// known parent: comm, filename, ppid, uid/gid, exit codes 0 and 3.
func TestRungs(t *testing.T) {
	requireKernel(t)
	for _, m := range Ladder() {
		t.Run(string(m), func(t *testing.T) {
			var parent atomic.Int32
			parent.Store(-1)
			// The parent's pid is known only after it ran: keep every event of a
			// uid-65534 shell or true, filter afterwards.
			c := collect(t, Options{Modes: []Mode{m}}, func(e *Event) bool {
				return e.UID == spawnUID && (string(e.CommBytes()) == "true" || string(e.CommBytes()) == "sh")
			})
			if c.tr.Mode() != m {
				t.Fatalf("Mode() = %s, want %s", c.tr.Mode(), m)
			}
			sh := runSpawner(t)
			isTrue := func(e *Event) bool { return e.PPID == sh && string(e.CommBytes()) == "true" }
			evs := c.wait(10*time.Second, func(evs []Event) bool {
				return count(evs, func(e *Event) bool { return isTrue(e) && e.Type == Exit }) >= spawnN &&
					count(evs, func(e *Event) bool { return e.PPID == sh && e.Type == Exit && e.ExitCode != 0 }) >= 1
			})
			c.stop()

			var execs, exits, exit3, shExec, shExit int
			for i := range evs {
				e := &evs[i]
				switch {
				case e.PID == sh && e.Type == Exec:
					shExec++
				case e.PID == sh && e.Type == Exit:
					shExit++
				case isTrue(e) && e.Type == Exec:
					execs++
					if string(e.FilenameBytes()) != "/bin/true" || e.PID != e.TGID || e.GID != spawnUID || e.StartNs == 0 || e.TimeNs < e.StartNs {
						t.Errorf("exec event %+v: want filename /bin/true, pid = tgid, gid %d, 0 < start <= time", *e, spawnUID)
					}
				case isTrue(e) && e.Type == Exit:
					exits++
					if e.ExitCode != 0 || e.PID != e.TGID || e.FilenameLen != 0 || e.MaxRSSKB == 0 || e.TimeNs < e.StartNs {
						t.Errorf("exit event %+v: want exit code 0, pid = tgid, no filename, rss > 0", *e)
					}
				case e.PPID == sh && e.Type == Exit && string(e.CommBytes()) == "sh":
					if e.ExitCode != 3<<8 {
						t.Errorf("exit of sh -c 'exit 3': ExitCode = %#x, want %#x", e.ExitCode, 3<<8)
					}
					exit3++
				}
			}
			if execs != spawnN || exits != spawnN || exit3 != 1 || shExec != 1 || shExit != 1 {
				t.Errorf("%s: %d execs and %d exits of /bin/true (want %d each), %d exit-3 (want 1), parent exec %d exit %d (want 1, 1); lost %d",
					m, execs, exits, spawnN, exit3, shExec, shExit, c.tr.Lost())
			}
			t.Logf("%s: %d exec + %d exit of /bin/true from pid %d, lost %d, ring high-water %d B", m, execs, exits, sh, c.tr.Lost(), c.tr.HighWater())
		})
	}
}

// The workload of the fork test: a shell (uid/gid 65534) forks forkN subshells
// that run only a builtin: forks without exec.
const (
	forkN     = 100
	forkShell = `i=0; while [ $i -lt 100 ]; do ( : ); i=$((i+1)); done`
)

// selfComm is this process's comm: that of the forks it makes.
func selfComm(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/comm")
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSuffix(string(b), "\n")
}

// TestForkRungs forces each rung and checks fork events: 100 subshells forked
// without exec by a uid-65534 shell, each with one fork (pid, ppid, comm, uid,
// gid, cgroups, start time equal to its exit's) and one exit and no exec; the
// shell's own fork by this process; none for the 16+ threads of a Go child;
// and a child started with CLONE_PARENT, reported with its real parent.
func TestForkRungs(t *testing.T) {
	requireKernel(t)
	stats, err := EnableStats()
	if err != nil {
		t.Fatalf("EnableStats: %v", err)
	}
	defer stats.Close()
	self := int32(os.Getpid())
	comm := selfComm(t)
	for _, m := range Ladder() {
		t.Run(string(m), func(t *testing.T) {
			// Pids are known only after the fact: keep every fork, and every
			// event of uid 65534 or of a child of this process.
			c := collect(t, Options{Modes: []Mode{m}}, func(e *Event) bool {
				return e.Type == Fork || e.UID == spawnUID || e.PPID == self
			})
			st0, err := c.tr.AllStats()
			if err != nil {
				t.Fatal(err)
			}

			// 1. Subshells.
			cmd := exec.Command("/bin/sh", "-c", forkShell)
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: spawnUID, Gid: spawnUID}}
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("fork shell: %v: %s", err, out)
			}
			sh := int32(cmd.Process.Pid)

			// 2. A multi-threaded Go child.
			thr := exec.Command(os.Args[0], "-test.run=^$")
			thr.Env = append(os.Environ(), helperEnv+"=threads")
			out, err := thr.Output()
			if err != nil {
				t.Fatalf("threads helper: %v: %s", err, out)
			}
			thrPID := int32(thr.Process.Pid)
			tids := map[int32]bool{}
			for _, f := range strings.Fields(string(out)) {
				n, err := strconv.Atoi(f)
				if err != nil {
					t.Fatalf("threads helper said %q", out)
				}
				tids[int32(n)] = true
			}
			if len(tids) < 17 || !tids[thrPID] {
				t.Fatalf("threads helper %d listed threads %v, want itself and 16 more", thrPID, tids)
			}

			// 3. CLONE_PARENT: the helper's child is ours.
			cp := exec.Command(os.Args[0], "-test.run=^$")
			cp.Env = append(os.Environ(), helperEnv+"=cloneparent")
			out, err = cp.Output()
			if err != nil {
				t.Fatalf("cloneparent helper: %v: %s", err, out)
			}
			n, err := strconv.Atoi(strings.TrimSpace(string(out)))
			if err != nil {
				t.Fatalf("cloneparent helper said %q", out)
			}
			cpChild := int32(n)
			var ws syscall.WaitStatus
			if _, err := syscall.Wait4(n, &ws, 0, nil); err != nil {
				t.Fatalf("wait4(%d), the CLONE_PARENT child: %v", n, err)
			}

			evs := c.wait(10*time.Second, func(evs []Event) bool {
				return count(evs, func(e *Event) bool { return e.PPID == sh && e.Type == Exit }) >= forkN &&
					count(evs, func(e *Event) bool { return e.TGID == thrPID && e.Type == Exit }) >= 1 &&
					count(evs, func(e *Event) bool { return e.TGID == cpChild && e.Type == Exit }) >= 1
			})
			st1, err := c.tr.AllStats()
			if err != nil {
				t.Fatal(err)
			}
			c.stop()

			var shFork, shExec *Event
			forks := map[int32]*Event{}
			exits := map[int32]*Event{}
			var dupForks, childExecs, threadForks, thrChildForks, thrForks, cpForks int
			for i := range evs {
				e := &evs[i]
				if e.Type == Fork && e.PID != e.TGID {
					t.Errorf("fork event with pid %d != tgid %d: %+v", e.PID, e.TGID, *e)
				}
				switch {
				case e.PID == sh && e.Type == Fork:
					shFork = e
				case e.PID == sh && e.Type == Exec:
					shExec = e
				case e.PPID == sh && e.Type == Fork:
					if forks[e.PID] != nil {
						dupForks++
					}
					forks[e.PID] = e
				case e.PPID == sh && e.Type == Exit:
					exits[e.PID] = e
				case e.PPID == sh && e.Type == Exec:
					childExecs++
				case e.Type == Fork && e.PID == thrPID:
					thrForks++
					if e.PPID != self || string(e.CommBytes()) != comm {
						t.Errorf("fork of the threads helper %+v: want ppid %d, comm %q", *e, self, comm)
					}
				case e.Type == Fork && tids[e.PID]:
					threadForks++
				case e.Type == Fork && e.PPID == thrPID:
					thrChildForks++
				case e.Type == Fork && e.PID == cpChild:
					cpForks++
					if e.PPID != self || string(e.CommBytes()) != comm {
						t.Errorf("fork of the CLONE_PARENT child %+v: want ppid %d (its real parent), comm %q", *e, self, comm)
					}
				}
			}
			if shFork == nil || shExec == nil {
				t.Fatalf("%s: the shell %d: fork %v, exec %v; want both", m, sh, shFork, shExec)
			}
			if shFork.PPID != self || shFork.UID != uint32(os.Getuid()) || string(shFork.CommBytes()) != comm || shFork.StartNs != shExec.StartNs {
				t.Errorf("fork of the shell %+v: want ppid %d, uid %d (the parent's at fork), comm %q, start %d (its exec's)",
					*shFork, self, os.Getuid(), comm, shExec.StartNs)
			}
			for pid, f := range forks {
				x := exits[pid]
				if f.UID != spawnUID || f.GID != spawnUID || string(f.CommBytes()) != "sh" || f.StartNs == 0 || f.TimeNs < f.StartNs ||
					f.CgroupID != shExec.CgroupID || f.MemCgroupID != shExec.MemCgroupID || f.FilenameLen != 0 || f.ExitCode != 0 {
					t.Errorf("fork %+v: want uid/gid %d, comm sh, 0 < start <= time, cgroups %d/%d (the shell's), no filename",
						*f, spawnUID, shExec.CgroupID, shExec.MemCgroupID)
				}
				if x == nil {
					t.Errorf("fork of %d without its exit", pid)
				} else if x.StartNs != f.StartNs || x.TimeNs < f.TimeNs || string(x.CommBytes()) != "sh" || x.ExitCode != 0 {
					t.Errorf("exit %+v of fork %+v: want the same start, a later time, comm sh, code 0", *x, *f)
				}
			}
			if len(forks) != forkN || len(exits) != forkN || dupForks != 0 || childExecs != 0 {
				t.Errorf("%s: %d forks and %d exits of subshells of %d (want %d each), %d duplicate forks, %d execs (want 0, 0); lost %d",
					m, len(forks), len(exits), sh, forkN, dupForks, childExecs, c.tr.Lost())
			}
			if thrForks != 1 || threadForks != 0 || thrChildForks != 0 {
				t.Errorf("%s: threads helper %d: %d forks of it (want 1), %d of its %d threads, %d by it (want 0, 0)",
					m, thrPID, thrForks, threadForks, len(tids), thrChildForks)
			}
			if cpForks != 1 {
				t.Errorf("%s: %d forks of the CLONE_PARENT child %d with ppid %d, want 1", m, cpForks, cpChild, self)
			}
			if lost := c.tr.Lost(); lost != 0 {
				t.Errorf("%s: lost %d", m, lost)
			}
			fk := ProgramStats{RunCount: st1.Fork.RunCount - st0.Fork.RunCount, RunTime: st1.Fork.RunTime - st0.Fork.RunTime}
			// Every clone runs it: the subshells and the helpers' threads at least.
			if fk.RunCount < forkN+uint64(len(tids)) {
				t.Errorf("%s: fork program ran %d times, want >= %d", m, fk.RunCount, forkN+len(tids))
			}
			t.Logf("%s: %d forks + %d exits of subshells of %d, 0 execs; threads helper: %d threads, %d fork events of them; CLONE_PARENT child: %d fork with ppid %d; fork program %d runs, %v per run",
				m, len(forks), len(exits), sh, len(tids), threadForks, cpForks, self, fk.RunCount, fk.PerRun())
		})
	}
}

// TestExitAccounting checks an exit's CPU time and peak RSS against what wait4
// reports for a two-thread child that burned 500 ms of CPU and touched 64 MiB.
func TestExitAccounting(t *testing.T) {
	requireKernel(t)
	c := collect(t, Options{}, func(e *Event) bool { return e.Type == Exit })
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=busy")
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 7 {
		t.Fatalf("busy child: %v, want exit status 7", err)
	}
	pid := int32(cmd.Process.Pid)
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	cpu := time.Duration(syscall.TimevalToNsec(ru.Utime) + syscall.TimevalToNsec(ru.Stime))
	c.wait(5*time.Second, func(evs []Event) bool { return count(evs, func(e *Event) bool { return e.TGID == pid }) > 0 })
	time.Sleep(200 * time.Millisecond) // a second exit event would be a bug
	evs := c.wait(0, func([]Event) bool { return true })
	c.stop()
	var got []Event
	for _, e := range evs {
		if e.TGID == pid {
			got = append(got, e)
		}
	}
	if len(got) != 1 {
		t.Fatalf("%d exit events for the busy child (a multi-threaded process), want 1", len(got))
	}
	e := got[0]
	evCPU := time.Duration(e.CPUNs)
	t.Logf("busy child: event cpu %v, wait4 cpu %v; event maxrss %d KiB, wait4 maxrss %d KiB; exit %#x", evCPU, cpu, e.MaxRSSKB, ru.Maxrss, e.ExitCode)
	// The event is taken before the threads' last schedule-out: each may have run
	// up to a tick since the scheduler last charged it.
	if evCPU < 500*time.Millisecond-20*time.Millisecond {
		t.Errorf("exit CPU %v, want >= the 500ms the child burned (20ms tolerance)", evCPU)
	}
	if d := cpu - evCPU; d < -10*time.Millisecond || d > 30*time.Millisecond {
		t.Errorf("exit CPU %v vs wait4's %v: off by %v, want within [-10ms, 30ms]", evCPU, cpu, d)
	}
	if e.MaxRSSKB < 64<<10 || e.MaxRSSKB > uint64(ru.Maxrss)+1024 || e.MaxRSSKB+1024 < uint64(ru.Maxrss) {
		t.Errorf("exit MaxRSSKB %d, want >= 65536 (64 MiB touched) and within 1 MiB of wait4's %d", e.MaxRSSKB, ru.Maxrss)
	}
	if e.ExitCode != 7<<8 {
		t.Errorf("ExitCode = %#x, want %#x", e.ExitCode, 7<<8)
	}
}

// TestDockerCgroup runs a real container and checks that its processes carry its
// cgroup ids: the memory cgroup's equals the inode of
// /sys/fs/cgroup/memory/docker/<id> and the v2 one that of
// /sys/fs/cgroup/unified/docker/<id> (or /sys/fs/cgroup/docker/<id> on pure v2).
func TestDockerCgroup(t *testing.T) {
	requireKernel(t)
	if err := exec.Command("docker", "image", "inspect", "whippet-busybox:latest").Run(); err != nil {
		testenv.Skip(t, "no docker or no whippet-busybox:latest image (scripts/setup-test-host.sh): %v", err)
	}
	c := collect(t, Options{}, func(e *Event) bool { return true })
	cidfile := filepath.Join(t.TempDir(), "cid")
	// The subshell is a fork inside the container.
	cmd := exec.Command("docker", "run", "--rm", "--network", "none", "--cidfile", cidfile,
		"whippet-busybox:latest", "sh", "-c", "(sleep 0.2); :")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	// The cgroup directories exist from create to exit: stat them meanwhile.
	var id string
	var memIno, v2Ino uint64
	var runErr error
	v2Dirs := []string{"/sys/fs/cgroup/unified/docker", "/sys/fs/cgroup/docker"}
poll:
	for {
		select {
		case runErr = <-exited:
			break poll
		case <-time.After(2 * time.Millisecond):
		}
		if id == "" {
			b, _ := os.ReadFile(cidfile)
			id = strings.TrimSpace(string(b))
		}
		if id == "" {
			continue
		}
		if memIno == 0 {
			memIno = ino(filepath.Join("/sys/fs/cgroup/memory/docker", id))
		}
		for _, d := range v2Dirs {
			if v2Ino == 0 {
				v2Ino = ino(filepath.Join(d, id))
			}
		}
	}
	if runErr != nil {
		t.Fatalf("docker run: %v: %s", runErr, out.Bytes())
	}
	if memIno == 0 {
		t.Fatalf("container %q: never saw /sys/fs/cgroup/memory/docker/<id>", id)
	}
	// The container has exited: wait until the reader has drained its events
	// (a quiet ring is drained once a second): sh's exec and fork, and an exit.
	evs := c.wait(5*time.Second, func(evs []Event) bool {
		in := func(e *Event) bool { return e.MemCgroupID == memIno }
		return count(evs, func(e *Event) bool { return in(e) && e.Type == Exit }) > 0 &&
			count(evs, func(e *Event) bool { return in(e) && e.Type == Exec && string(e.CommBytes()) == "sh" }) > 0 &&
			count(evs, func(e *Event) bool { return in(e) && e.Type == Fork && string(e.CommBytes()) == "sh" }) > 0
	})
	c.stop()
	var in []Event
	for _, e := range evs {
		if e.MemCgroupID == memIno {
			in = append(in, e)
		}
	}
	t.Logf("container %.12s: memory cgroup inode %d, v2 inode %d; %d events carry it", id, memIno, v2Ino, len(in))
	var sawSh, sawFork bool
	for _, e := range in {
		if e.Type == Fork && string(e.CommBytes()) == "sh" {
			sawFork = true
		}
		t.Logf("  %s pid %d ppid %d comm %q file %q cgroup %d memcg %d exit %#x", e.Type, e.PID, e.PPID, e.CommBytes(), e.FilenameBytes(), e.CgroupID, e.MemCgroupID, e.ExitCode)
		if e.Type == Exec && string(e.CommBytes()) == "sh" && string(e.FilenameBytes()) == "/bin/sh" {
			sawSh = true
		}
		// runc joins the container's cgroups one hierarchy at a time (its own
		// re-exec can run with the v1 memory cgroup joined and the unified one
		// not yet); the container's processes themselves have both.
		if v2Ino != 0 && e.CgroupID != v2Ino && !strings.HasPrefix(string(e.CommBytes()), "runc") {
			t.Errorf("%s of %q in the container: CgroupID %d, want the inode of its v2 cgroup %d", e.Type, e.CommBytes(), e.CgroupID, v2Ino)
		}
	}
	if !sawSh {
		t.Errorf("no exec of /bin/sh with the container's memory cgroup id %d", memIno)
	}
	if !sawFork {
		t.Errorf("no fork by sh with the container's memory cgroup id %d", memIno)
	}
}

func ino(path string) uint64 {
	var st syscall.Stat_t
	if syscall.Stat(path, &st) != nil {
		return 0
	}
	return st.Ino
}

// TestExecStorm spawns at least 20,000 /bin/true as fast as this machine can, one
// spawner per CPU, by fork+exec, and accounts for every one: received + lost =
// spawned for exec and exit, one fork event each too, lost 0 at the default ring
// size.
func TestExecStorm(t *testing.T) {
	requireKernel(t)
	if testing.Short() {
		t.Skip("exec storm: not in -short")
	}
	const total = 20000
	self := int32(os.Getpid())
	var execs, exits, forks atomic.Int64
	tr, err := Open(Options{PollInterval: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- tr.Read(ctx, func(e *Event) {
			if e.PPID != self {
				return
			}
			switch {
			case e.Type == Fork: // comm: this process's
				forks.Add(1)
			case string(e.CommBytes()) != "true":
			case e.Type == Exec:
				execs.Add(1)
			default:
				exits.Add(1)
			}
		})
	}()

	var spawned, failed atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	for range runtime.NumCPU() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			argv := []string{"true"}
			attr := &syscall.ProcAttr{}
			for spawned.Add(1) <= total {
				pid, err := syscall.ForkExec("/bin/true", argv, attr)
				if err != nil {
					failed.Add(1)
					continue
				}
				var ws syscall.WaitStatus
				if _, err := syscall.Wait4(pid, &ws, 0, nil); err != nil {
					t.Errorf("wait4: %v", err)
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	n := int64(total) - failed.Load()
	deadline := time.Now().Add(10 * time.Second)
	for (execs.Load() < n || exits.Load() < n || forks.Load() < n) && time.Now().Before(deadline) && tr.Lost() == 0 {
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(2 * time.Second) // two polls: let any excess show
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	lost := tr.Lost()
	t.Logf("%d spawned in %v (%.0f/s, %d CPUs, rung %s): %d fork + %d exec + %d exit received, %d lost; ring high-water %d of %d bytes",
		n, elapsed.Round(time.Millisecond), float64(n)/elapsed.Seconds(), runtime.NumCPU(), tr.Mode(), forks.Load(), execs.Load(), exits.Load(), lost, tr.HighWater(), tr.RingSize())
	if failed.Load() != 0 {
		t.Errorf("%d spawns failed", failed.Load())
	}
	if lost != 0 {
		t.Errorf("lost %d records at the default ring size (%d B)", lost, DefaultRingSize)
	}
	if execs.Load()+int64(lost) < n || execs.Load() != n || exits.Load() != n || forks.Load() != n {
		t.Errorf("received %d fork, %d exec and %d exit + %d lost, want exactly %d spawned", forks.Load(), execs.Load(), exits.Load(), lost, n)
	}
}

// TestFallbackNoKernelBTF: with the kernel's BTF "missing", tp_btf is skipped
// with the reason and raw_tracepoint runs on BTF from a file (as from btfhub).
func TestFallbackNoKernelBTF(t *testing.T) {
	requireKernel(t)
	c := collect(t, Options{NoKernelBTF: true, BTFPath: kernelBTF}, func(e *Event) bool {
		return string(e.CommBytes()) == "true"
	})
	if c.tr.Mode() != RawTracepoint {
		t.Fatalf("Mode() = %s, want %s", c.tr.Mode(), RawTracepoint)
	}
	sk := c.tr.Skipped()
	if len(sk) != 1 || sk[0].Mode != TPBTF || !errors.Is(sk[0].Err, ErrNoBTF) {
		t.Fatalf("Skipped() = %v, want tp_btf skipped for ErrNoBTF", sk)
	}
	t.Logf("skipped: %v", sk)
	if err := exec.Command("/bin/true").Run(); err != nil {
		t.Fatal(err)
	}
	evs := c.wait(5*time.Second, func(evs []Event) bool { return count(evs, func(e *Event) bool { return e.Type == Exit }) > 0 })
	if count(evs, func(e *Event) bool { return e.Type == Exec }) == 0 {
		t.Errorf("raw_tracepoint with file BTF: no exec event of /bin/true")
	}
}

// TestFallbackNoBTF: no BTF at all leaves no eBPF rung; Open says why for each.
func TestFallbackNoBTF(t *testing.T) {
	requireKernel(t)
	for _, path := range []string{"", filepath.Join(t.TempDir(), "missing.btf")} {
		tr, err := Open(Options{NoKernelBTF: true, BTFPath: path})
		if err == nil {
			tr.Close()
			t.Fatalf("Open(NoKernelBTF, BTFPath %q) = %s, want an error", path, tr.Mode())
		}
		var oe *OpenError
		if !errors.As(err, &oe) || len(oe.Skipped) != len(Ladder()) || !errors.Is(err, ErrNoBTF) {
			t.Fatalf("Open(NoKernelBTF, BTFPath %q) error %v, want an *OpenError with ErrNoBTF for every rung", path, err)
		}
		for i, s := range oe.Skipped {
			if s.Mode != Ladder()[i] || !errors.Is(s.Err, ErrNoBTF) {
				t.Errorf("skip %d = %v, want %s: ErrNoBTF", i, s, Ladder()[i])
			}
		}
		t.Logf("%v", err)
	}
}

// TestFallbackVerifier injects a program the verifier rejects into tp_btf: Open
// must not panic, must record the verifier's words and must use the next rung.
func TestFallbackVerifier(t *testing.T) {
	requireKernel(t)
	opt := Options{editSpec: func(m Mode, s *ebpf.CollectionSpec) {
		if m == TPBTF {
			// Return without setting R0: "R0 !read_ok".
			s.Programs[tracerProgExecBtf].Instructions = asm.Instructions{asm.Return()}
		}
	}}
	tr, err := Open(opt)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	sk := tr.Skipped()
	var ve *ebpf.VerifierError
	if tr.Mode() != RawTracepoint || len(sk) != 1 || sk[0].Mode != TPBTF || !errors.As(sk[0].Err, &ve) || !strings.Contains(sk[0].Err.Error(), "R0 !read_ok") {
		t.Fatalf("Mode() = %s, Skipped() = %v; want raw_tracepoint after tp_btf failed verification (R0 !read_ok)", tr.Mode(), sk)
	}
	t.Logf("skipped: %v", sk)
}

// TestFallbackFork: when the fork program of a rung fails to load or attach while
// its exec and exit programs would, the rung is skipped as a whole with the
// reason, and the next rung (with its own fork program) is used.
func TestFallbackFork(t *testing.T) {
	requireKernel(t)
	for _, tt := range []struct {
		name string
		edit func(*ebpf.CollectionSpec)
		want string
	}{
		{"verifier", func(s *ebpf.CollectionSpec) {
			s.Programs[tracerProgForkBtf].Instructions = asm.Instructions{asm.Return()}
		}, "R0 !read_ok"},
		{"missing", func(s *ebpf.CollectionSpec) { delete(s.Programs, tracerProgForkBtf) }, "attach sched_process_fork"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tr, err := Open(Options{editSpec: func(m Mode, s *ebpf.CollectionSpec) {
				if m == TPBTF {
					tt.edit(s)
				}
			}})
			if err != nil {
				t.Fatal(err)
			}
			defer tr.Close()
			sk := tr.Skipped()
			if tr.Mode() != RawTracepoint || len(sk) != 1 || sk[0].Mode != TPBTF || !strings.Contains(sk[0].Err.Error(), tt.want) {
				t.Fatalf("Mode() = %s, Skipped() = %v; want raw_tracepoint after tp_btf failed with %q", tr.Mode(), sk, tt.want)
			}
			if _, err := tr.AllStats(); err != nil {
				t.Errorf("AllStats: %v", err)
			}
			t.Logf("skipped: %v", sk)
		})
	}
}

// TestFallbackEPERM runs Open in a child without capabilities: every rung is
// skipped with EPERM and nothing panics.
func TestFallbackEPERM(t *testing.T) {
	requireKernel(t)
	out := helper(t, []string{"setpriv", "--bounding-set=-all", "--inh-caps=-all", "--"}, Ladder()...)
	for _, m := range Ladder() {
		if !strings.Contains(out, "skip "+string(m)+" eperm=true") {
			t.Errorf("no capabilities: want %s skipped with EPERM; child said:\n%s", m, out)
		}
	}
}

// TestTracefsMount unmounts tracefs in a private mount namespace: the tracepoint
// rung mounts it again and attaches.
func TestTracefsMount(t *testing.T) {
	requireKernel(t)
	out := helper(t, []string{"unshare", "--mount", "--propagation", "private", "--",
		"sh", "-c", `umount /sys/kernel/tracing 2>/dev/null; umount /sys/kernel/debug/tracing 2>/dev/null; ` +
			`test -e /sys/kernel/tracing/events && echo still-mounted; exec "$@"`, "sh"}, Tracepoint)
	if strings.Contains(out, "still-mounted") {
		testenv.Skip(t, "could not unmount tracefs in a private mount namespace")
	}
	if !strings.Contains(out, "mode: tracepoint") {
		t.Errorf("tracefs unmounted: want the tracepoint rung to mount it and attach; child said:\n%s", out)
	}
}

// helper runs this test binary under the wrapper argv as an "open" helper.
func helper(t *testing.T, wrapper []string, modes ...Mode) string {
	t.Helper()
	if _, err := exec.LookPath(wrapper[0]); err != nil {
		testenv.Skip(t, "%s: %v", wrapper[0], err)
	}
	ms := make([]string, len(modes))
	for i, m := range modes {
		ms[i] = string(m)
	}
	args := append(wrapper[1:], os.Args[0], "-test.run=^$")
	cmd := exec.Command(wrapper[0], args...)
	cmd.Env = append(os.Environ(), helperEnv+"=open", helperEnv+"_MODES="+strings.Join(ms, ","))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %v: %s", cmd.Args, err, out)
	}
	t.Logf("%s", out)
	return string(out)
}

// TestWakeupBatching checks that records are submitted without waking the reader
// until WakeupEvents are pending: with a one-hour poll timer, 40 processes (80
// records) arrive in wake-ups of 16 when WakeupEvents is 16, and not at all when it
// is larger than the burst; cancelling ctx still ends Read at once.
func TestWakeupBatching(t *testing.T) {
	requireKernel(t)
	for _, tt := range []struct {
		wakeup  int
		atLeast int // true records expected within a second
		atMost  int
	}{{16, 48, 80}, {1 << 20, 0, 0}} {
		t.Run(strconv.Itoa(tt.wakeup), func(t *testing.T) {
			// 4 MiB: the large threshold is capped at 1 MiB, which other
			// tenants' events will not fill in the second this takes.
			tr, err := Open(Options{WakeupEvents: tt.wakeup, PollInterval: time.Hour, RingSize: 4 << 20})
			if err != nil {
				t.Fatal(err)
			}
			defer tr.Close()
			var got atomic.Int64
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			self := int32(os.Getpid()) // other tests run /bin/true concurrently
			go func() {
				done <- tr.Read(ctx, func(e *Event) {
					if string(e.CommBytes()) == "true" && e.PPID == self {
						got.Add(1)
					}
				})
			}()
			for range 40 {
				if err := exec.Command("/bin/true").Run(); err != nil {
					t.Fatal(err)
				}
			}
			time.Sleep(time.Second)
			n := int(got.Load())
			start := time.Now()
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if d := time.Since(start); d > time.Second {
				t.Errorf("Read took %v to return after cancel, want at once", d)
			}
			t.Logf("WakeupEvents %d: %d records of true delivered before the poll timer", tt.wakeup, n)
			// Open caps the threshold at a quarter of the ring. Other packages'
			// tests (exec storms, container churn) can cross even that in the
			// second this takes; the wake-up is then due.
			thr := int(wakeupBytes(min(tt.wakeup, (4<<20)/4/int(wakeupBytes(1)))))
			if n > tt.atMost && tr.HighWater() >= thr {
				t.Skipf("other processes' events crossed the %d-byte wake-up threshold (high water %d B): the early wake-up was due", thr, tr.HighWater())
			}
			if n < tt.atLeast || n > tt.atMost {
				t.Errorf("WakeupEvents %d: %d records of /bin/true delivered without the timer, want %d..%d", tt.wakeup, n, tt.atLeast, tt.atMost)
			}
		})
	}
}

// BenchmarkReadWake is the CPU of one of Read's poll wake-ups with little to
// read, which is what a quiet host's agent does every PollInterval: the thread
// blocked in the ring's epoll_wait returns, takes a P, drains, blocks again
// (and the runtime's sysmon thread wakes to take the P back). One op is one
// poll interval of Read with a wake-up threshold nothing reaches: one
// wake-up. cpu-µs/wake is the process's getrusage over the op count,
// everything the process did in that time included; the host's other
// processes' events (this machine's test containers) are drained as they come.
//
//	go test -run '^$' -bench ReadWake -count 4 ./bpf
func BenchmarkReadWake(b *testing.B) {
	requireKernel(b)
	for _, poll := range []time.Duration{10 * time.Millisecond, 100 * time.Millisecond, time.Second} {
		b.Run(fmt.Sprintf("poll=%v", poll), func(b *testing.B) {
			tr, err := Open(Options{PollInterval: poll, WakeupEvents: 1 << 20, RingSize: 4 << 20})
			if err != nil {
				b.Fatal(err)
			}
			defer tr.Close()
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			records := 0
			go func() { done <- tr.Read(ctx, func(*Event) { records++ }) }()
			// Open's BTF is garbage the collector would otherwise mark during the run.
			runtime.GC()
			runtime.GC()
			time.Sleep(50 * time.Millisecond)
			var before, after syscall.Rusage
			if err := syscall.Getrusage(syscall.RUSAGE_SELF, &before); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			time.Sleep(time.Duration(b.N) * poll)
			b.StopTimer()
			if err := syscall.Getrusage(syscall.RUSAGE_SELF, &after); err != nil {
				b.Fatal(err)
			}
			cancel()
			if err := <-done; err != nil {
				b.Fatal(err)
			}
			cpu := (after.Utime.Nano() + after.Stime.Nano()) - (before.Utime.Nano() + before.Stime.Nano())
			b.ReportMetric(float64(cpu)/float64(b.N)/1e3, "cpu-µs/wake")
			b.ReportMetric(float64(records)/float64(b.N), "records/wake")
		})
	}
}
