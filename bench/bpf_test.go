//go:build linux

package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/whippet-agent/whippet/bpf"
	"github.com/whippet-agent/whippet/internal/testenv"
	"github.com/whippet-agent/whippet/pkg/procevent"
)

const spawnEnv = "WHIPPET_BENCH_SPAWN"

// BenchmarkProcEvents consumes an exec storm through each process-event source,
// side by side. One op is one process (/bin/true) spawned and reaped by a helper
// process, so that this process runs nothing but the reader:
//
//	tp_btf, raw_tracepoint, tracepoint  the eBPF rungs (bpf.Tracer via procevent)
//	netlink                             the proc connector
//
// Metrics:
//
//	ns/event        CPU time of the reader's OS thread (it is locked to one) per event
//	                delivered, everything included: epoll/recvmmsg, copy, decode, the
//	                callback; target <= 3000 for eBPF
//	kernel-ns/exec  in-kernel run time per run of the exec program (BPF_ENABLE_STATS,
//	kernel-ns/exit  run_time_ns / run_cnt); target <= 2000. Exit runs for every thread.
//	events/op       events delivered per spawned process (other tenants' included)
//	lost            events the source reports lost
//	allocs/event    this process's allocations during the storm per event: the
//	                reader allocates nothing per event (a handful per run remain)
//
// Run alone for stable figures:
//
//	cd bench && go test -run '^$' -bench ProcEvents -benchtime 20000x -count 5
func BenchmarkProcEvents(b *testing.B) {
	if os.Geteuid() != 0 {
		testenv.Skip(b, "process events need root")
	}
	for _, mode := range []string{string(bpf.TPBTF), string(bpf.RawTracepoint), string(bpf.Tracepoint), procevent.ModeNetlink} {
		b.Run(mode, func(b *testing.B) { benchSource(b, mode) })
	}
}

func benchSource(b *testing.B, mode string) {
	src, rungs, err := procevent.Open(mode, nil)
	if err != nil {
		testenv.Skip(b, "%s: %v (%v)", mode, err, rungs)
	}
	defer src.Close()
	tr := procevent.Tracer(src)
	if tr != nil {
		stats, err := bpf.EnableStats()
		if err != nil {
			b.Fatalf("BPF_ENABLE_STATS: %v", err)
		}
		defer stats.Close()
	}

	// The spawner is started (paused) before the timer: starting a command allocates.
	spawner := exec.Command(os.Args[0], "-test.run=^TestSpawnHelper$")
	spawner.Env = append(os.Environ(), spawnEnv+"="+strconv.Itoa(b.N))
	stdin, err := spawner.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := spawner.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := spawner.Start(); err != nil {
		b.Fatal(err)
	}
	ppid := int32(spawner.Process.Pid)

	var events, exits atomic.Int64
	tid := make(chan int, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		tid <- unix.Gettid()
		done <- src.Run(ctx, func(e *procevent.Event) {
			events.Add(1)
			if e.Type == procevent.Exit && e.PPID == ppid {
				exits.Add(1)
			}
		})
	}()
	clock := threadClock(<-tid)
	time.Sleep(200 * time.Millisecond) // let the reader settle

	b.ReportAllocs()
	var e0, x0 bpf.ProgramStats
	if tr != nil {
		e0, x0, _ = tr.Stats()
	}
	lost0 := src.Lost()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	cpu0 := threadCPU(clock)
	ev0 := events.Load()
	start := time.Now()
	b.ResetTimer()
	if _, err := stdin.Write([]byte{'\n'}); err != nil {
		b.Fatal(err)
	}
	// The spawner's stdout closes when it is done; reading it allocates nothing
	// (cmd.Wait would, inside the measured window).
	spawned := make(chan struct{})
	go func() {
		var buf [64]byte
		for {
			if _, err := stdout.Read(buf[:]); err != nil {
				close(spawned)
				return
			}
		}
	}()
	var giveUp time.Time // once the spawner is done, how long stragglers may take
	for exits.Load() < int64(b.N) {
		if giveUp.IsZero() {
			select {
			case <-spawned:
				giveUp = time.Now().Add(3 * time.Second)
			default:
			}
		} else if time.Now().After(giveUp) {
			break
		}
		time.Sleep(time.Millisecond) // no allocation: the timer is the goroutine's
	}
	b.StopTimer()
	wall := time.Since(start)
	cpu := threadCPU(clock) - cpu0
	runtime.ReadMemStats(&m1)
	n := events.Load() - ev0
	lost := src.Lost() - lost0

	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	<-spawned
	if err := spawner.Wait(); err != nil {
		b.Fatalf("spawner: %v", err)
	}
	if got := exits.Load(); got < int64(b.N) {
		b.Fatalf("%s: %d exits of %d spawned processes seen (lost %d)", mode, got, b.N, lost)
	}
	if n > 0 {
		b.ReportMetric(float64(cpu)/float64(n), "ns/event")
		// Everything this process allocated while the storm ran (a few fixed
		// allocations per run: the spawner pipe's EOF, timers), per event.
		b.ReportMetric(float64(m1.Mallocs-m0.Mallocs)/float64(n), "allocs/event")
	}
	b.ReportMetric(float64(n)/float64(b.N), "events/op")
	b.ReportMetric(float64(lost), "lost")
	b.ReportMetric(float64(b.N)/wall.Seconds(), "spawns/s")
	if tr != nil {
		e1, x1, err := tr.Stats()
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(perRun(e0, e1), "kernel-ns/exec")
		b.ReportMetric(perRun(x0, x1), "kernel-ns/exit")
	}
}

func perRun(a, b bpf.ProgramStats) float64 {
	if b.RunCount == a.RunCount {
		return 0
	}
	return float64(b.RunTime-a.RunTime) / float64(b.RunCount-a.RunCount)
}

// threadClock is the CPU-time clock of thread tid (MAKE_THREAD_CPUCLOCK(tid,
// CPUCLOCK_SCHED) in the kernel's posix-cpu-timers).
func threadClock(tid int) int32 { return int32(^uint32(tid)<<3 | 4 | 2) }

func threadCPU(clock int32) time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(clock, &ts); err != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}

// TestSpawnHelper is BenchmarkProcEvents's spawner when run with WHIPPET_BENCH_SPAWN=n:
// after a line on stdin it spawns and reaps n /bin/true, one loop per CPU.
// Otherwise it does nothing.
func TestSpawnHelper(t *testing.T) {
	n, err := strconv.Atoi(os.Getenv(spawnEnv))
	if err != nil {
		return
	}
	if _, err := os.Stdin.Read(make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range runtime.NumCPU() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			attr := &syscall.ProcAttr{}
			for next.Add(1) <= int64(n) {
				pid, err := syscall.ForkExec("/bin/true", []string{"true"}, attr)
				if err != nil {
					t.Errorf("spawn: %v", err)
					return
				}
				var ws syscall.WaitStatus
				if _, err := syscall.Wait4(pid, &ws, 0, nil); err != nil {
					t.Errorf("wait4: %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	fmt.Println("spawned", n)
}
