//go:build linux

package procevent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/whippet-agent/whippet/bpf"
	"github.com/whippet-agent/whippet/internal/testenv"
)

const helperEnv = "WHIPPET_PROCEVENT_TEST_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "threads" {
		helperThreads()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// helperThreads starts 16 more OS threads (CLONE_THREAD), prints the tids of
// its thread group once they all run, and exits.
func helperThreads() {
	var ready sync.WaitGroup
	stop := make(chan struct{})
	for range 16 {
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

// runThreads runs helperThreads in a child and returns its pid and tids.
func runThreads(t *testing.T) (int32, map[int32]bool) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=threads")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("threads helper: %v: %s", err, out)
	}
	pid := int32(cmd.Process.Pid)
	tids := map[int32]bool{}
	for _, f := range strings.Fields(string(out)) {
		n, err := strconv.Atoi(f)
		if err != nil {
			t.Fatalf("threads helper said %q", out)
		}
		tids[int32(n)] = true
	}
	if len(tids) < 17 || !tids[pid] {
		t.Fatalf("threads helper %d listed threads %v, want itself and 16 more", pid, tids)
	}
	return pid, tids
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		testenv.Skip(t, "process events need root")
	}
}

func requireBTF(t *testing.T) {
	t.Helper()
	requireRoot(t)
	if _, err := os.Stat("/sys/kernel/btf/vmlinux"); err != nil {
		testenv.Skip(t, "kernel has no BTF: %v", err)
	}
}

type recorder struct {
	mu     sync.Mutex
	events []Event
	cancel context.CancelFunc
	done   chan error
}

func record(t *testing.T, src Source) *recorder {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &recorder{cancel: cancel, done: make(chan error, 1)}
	go func() {
		r.done <- src.Run(ctx, func(e *Event) {
			r.mu.Lock()
			r.events = append(r.events, *e)
			r.mu.Unlock()
		})
	}()
	t.Cleanup(func() { r.stop(t, src) })
	return r
}

func (r *recorder) stop(t *testing.T, src Source) {
	if r.cancel == nil {
		return
	}
	r.cancel()
	r.cancel = nil
	if err := <-r.done; err != nil {
		t.Errorf("Run: %v", err)
	}
	if err := src.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := src.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func (r *recorder) wait(timeout time.Duration, done func([]Event) bool) []Event {
	deadline := time.Now().Add(timeout)
	for {
		r.mu.Lock()
		evs := append([]Event(nil), r.events...)
		r.mu.Unlock()
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

// The workload: a shell as uid/gid 65534 runs /bin/true 1,000 times, then a child
// shell that exits 3.
const (
	spawnN     = 1000
	spawnShell = `i=0; while [ $i -lt 1000 ]; do /bin/true; i=$((i+1)); done; sh -c 'exit 3'; :`
)

func runSpawner(t *testing.T) int32 {
	t.Helper()
	cmd := exec.Command("/bin/sh", "-c", spawnShell)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("spawner: %v: %s", err, out)
	}
	return int32(cmd.Process.Pid)
}

// TestNetlink forces the proc connector: 1,000 forks, execs and exits of /bin/true
// from a known parent, with ppid and exit code (the connector has no comm or uid:
// the 1,001st fork, exec and exit, of the exit-3 shell, are told apart by exit
// code only).
func TestNetlink(t *testing.T) {
	requireRoot(t)
	src, rungs, err := Open(ModeNetlink, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("Open(netlink): %v (rungs %v)", err, rungs)
	}
	if src.Mode() != ModeNetlink || len(rungs) != 1 || rungs[0].Err != nil {
		t.Fatalf("Open(netlink) = %s, rungs %v", src.Mode(), rungs)
	}
	r := record(t, src)
	sh := runSpawner(t)
	child := func(e *Event) bool { return e.PPID == sh && e.Has&HasPPID != 0 }
	evs := r.wait(10*time.Second, func(evs []Event) bool {
		return count(evs, func(e *Event) bool { return child(e) && e.Type == Exit }) >= spawnN+1
	})
	r.stop(t, src)
	self := int32(os.Getpid())
	var forks, execs, exit0, exit3, shFork, shExec, shExit, other int
	for i := range evs {
		e := &evs[i]
		switch {
		case e.PID == sh && e.Type == Fork && e.PPID == self:
			shFork++
		case child(e) && e.Type == Fork:
			forks++
		case e.PID == sh && e.Type == Exec:
			shExec++
		case e.PID == sh && e.Type == Exit:
			shExit++
		case child(e) && e.Type == Exec:
			execs++
		case child(e) && e.Type == Exit && e.ExitCode == 0:
			exit0++
		case child(e) && e.Type == Exit && e.ExitCode == 3<<8:
			exit3++
		case child(e):
			other++
		default:
			continue
		}
		if e.PID != e.TGID || e.Has&HasTime == 0 || e.TimeNs == 0 || e.Has&(HasComm|HasIDs|HasCgroup|HasCPU) != 0 {
			t.Errorf("netlink event %+v: want pid = tgid, a time, no comm/ids/cgroup/cpu", *e)
		}
	}
	if forks != spawnN+1 || execs != spawnN+1 || exit0 != spawnN || exit3 != 1 || other != 0 || shFork != 1 || shExec != 1 || shExit != 1 {
		t.Errorf("netlink: %d child forks, %d execs (want %d each), %d exit 0 (want %d), %d exit 3 (want 1), %d other; parent fork %d exec %d exit %d (want 1, 1, 1); lost %d",
			forks, execs, spawnN+1, exit0, spawnN, exit3, other, shFork, shExec, shExit, src.Lost())
	}
	t.Logf("netlink: %d forks, %d execs, %d+%d exits of children of %d, lost %d", forks, execs, exit0, exit3, sh, src.Lost())
}

// TestNetlinkFork: 100 subshells forked without exec by a shell are 100 fork
// events (pid = tgid, the shell as parent, a time) and 100 exits, no exec; the
// 16+ threads of a Go child are no fork events.
func TestNetlinkFork(t *testing.T) {
	requireRoot(t)
	src, rungs, err := Open(ModeNetlink, nil)
	if err != nil {
		t.Fatalf("Open(netlink): %v (rungs %v)", err, rungs)
	}
	r := record(t, src)
	cmd := exec.Command("/bin/sh", "-c", `i=0; while [ $i -lt 100 ]; do ( : ); i=$((i+1)); done`)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("fork shell: %v: %s", err, out)
	}
	sh := int32(cmd.Process.Pid)
	thrPID, tids := runThreads(t)
	evs := r.wait(10*time.Second, func(evs []Event) bool {
		return count(evs, func(e *Event) bool { return e.PPID == sh && e.Type == Exit }) >= 100 &&
			count(evs, func(e *Event) bool { return e.PID == thrPID && e.Type == Exit }) >= 1
	})
	r.stop(t, src)
	forks, exits := map[int32]bool{}, map[int32]bool{}
	var execs, thrForks, threadForks int
	for i := range evs {
		e := &evs[i]
		if e.Type == Fork && (e.PID != e.TGID || e.Has != HasTime|HasPPID || e.TimeNs == 0) {
			t.Errorf("netlink fork %+v: want pid = tgid, Has time and ppid only", *e)
		}
		switch {
		case e.PPID == sh && e.Type == Fork:
			forks[e.PID] = true
		case e.PPID == sh && e.Type == Exit:
			exits[e.PID] = true
		case e.PPID == sh && e.Type == Exec:
			execs++
		case e.Type == Fork && e.PID == thrPID:
			thrForks++
		case e.Type == Fork && tids[e.PID]:
			threadForks++
		}
	}
	for pid := range forks {
		if !exits[pid] {
			t.Errorf("fork of %d without its exit", pid)
		}
	}
	if len(forks) != 100 || len(exits) != 100 || execs != 0 || thrForks != 1 || threadForks != 0 {
		t.Errorf("netlink: %d forks, %d exits, %d execs of subshells of %d (want 100, 100, 0); threads helper: %d forks of it (want 1), %d of its %d threads (want 0); lost %d",
			len(forks), len(exits), execs, sh, thrForks, threadForks, len(tids), src.Lost())
	}
	t.Logf("netlink: %d forks + %d exits of subshells of %d; threads helper %d: %d threads, %d fork events of them; lost %d",
		len(forks), len(exits), sh, thrPID, len(tids), threadForks, src.Lost())
}

// TestOpenAuto: on this kernel auto picks the best eBPF rung.
func TestOpenAuto(t *testing.T) {
	requireBTF(t)
	src, rungs, err := Open(ModeAuto, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if src.Mode() != string(bpf.TPBTF) || len(rungs) != 1 || rungs[0] != (Rung{Mode: string(bpf.TPBTF)}) || Tracer(src) == nil {
		t.Errorf("Open(auto) = %s, rungs %v; want tp_btf chosen first", src.Mode(), rungs)
	}
	r := record(t, src)
	cmd := exec.Command("/bin/true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	pid := int32(cmd.Process.Pid)
	evs := r.wait(5*time.Second, func(evs []Event) bool {
		return count(evs, func(e *Event) bool { return e.Type == Exit && e.PID == pid }) > 0
	})
	seen := map[Type]int{}
	for _, e := range evs {
		if e.PID != pid {
			continue
		}
		seen[e.Type]++
		want := map[Type]Field{Exec: bpfExecFields, Exit: bpfExitFields, Fork: bpfForkFields}[e.Type]
		if e.Has != want || (e.Type == Exec && string(e.FilenameBytes()) != "/bin/true") ||
			(e.Type == Fork && (e.PPID != int32(os.Getpid()) || e.FilenameLen != 0)) {
			t.Errorf("%s of true: %+v: Has %b filename %q, want %b (/bin/true of an exec, ppid %d of a fork)",
				e.Type, e, e.Has, e.FilenameBytes(), want, os.Getpid())
		}
	}
	if seen[Fork] != 1 || seen[Exec] != 1 || seen[Exit] != 1 {
		t.Errorf("events of /bin/true (pid %d): %v, want one fork, exec and exit", pid, seen)
	}
}

// TestOpenFallback: with no BTF the eBPF rungs are skipped with their reasons and
// auto lands on netlink; ebpf alone fails; poll always works.
func TestOpenFallback(t *testing.T) {
	requireRoot(t)
	opt := Options{Mode: ModeAuto, BPF: bpf.Options{NoKernelBTF: true}}
	src, rungs, err := OpenOptions(opt, nil)
	if err != nil {
		t.Fatal(err)
	}
	src.Close()
	if src.Mode() != ModeNetlink || len(rungs) != 4 {
		t.Fatalf("auto without BTF = %s, rungs %v; want netlink after 3 eBPF rungs", src.Mode(), rungs)
	}
	for i, m := range bpf.Ladder() {
		if rungs[i].Mode != string(m) || !errors.Is(rungs[i].Err, bpf.ErrNoBTF) {
			t.Errorf("rung %d = %v, want %s skipped for ErrNoBTF", i, rungs[i], m)
		}
	}
	t.Logf("rungs: %v", rungs)

	opt.Mode = ModeEBPF
	if src, rungs, err := OpenOptions(opt, nil); err == nil || !errors.Is(err, ErrNoSource) || len(rungs) != 3 {
		if src != nil {
			src.Close()
		}
		t.Errorf("ebpf without BTF: %v, rungs %v; want ErrNoSource after 3 rungs", err, rungs)
	}
}

func TestOpenPoll(t *testing.T) {
	t.Parallel()
	src, rungs, err := Open(ModePoll, nil)
	if err != nil || src.Mode() != ModePoll || len(rungs) != 1 {
		t.Fatalf("Open(poll) = %v, %v, %v", src, rungs, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	n := 0
	if err := src.Run(ctx, func(*Event) { n++ }); err != nil || n != 0 || src.Lost() != 0 {
		t.Errorf("poll Run = %v with %d events, lost %d; want nil, 0, 0", err, n, src.Lost())
	}
	done := make(chan error)
	go func() { done <- src.Run(context.Background(), func(*Event) {}) }()
	src.Close()
	src.Close()
	if err := <-done; err != nil {
		t.Errorf("poll Run after Close = %v", err)
	}
}

func TestOpenUnknown(t *testing.T) {
	t.Parallel()
	if _, _, err := Open("kprobe", nil); err == nil {
		t.Error("Open(kprobe) succeeded, want an error")
	}
}
