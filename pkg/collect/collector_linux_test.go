//go:build linux

package collect

import (
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/whippet-agent/whippet/internal/testenv"
	"github.com/whippet-agent/whippet/pkg/collect/host"
	"github.com/whippet-agent/whippet/pkg/collect/hostfs"
	"github.com/whippet-agent/whippet/pkg/collect/passwd"
	"github.com/whippet-agent/whippet/pkg/collect/proc"
)

// users is a UserNames for tests.
type users map[uint32]string

func (u users) Lookup(uid uint32) string {
	if n, ok := u[uid]; ok {
		return n
	}
	return strconv.FormatUint(uint64(uid), 10)
}
func (u users) Refresh() (bool, error) { return false, nil }

func newCollector(t *testing.T, root hostfs.Root, opt Options) *Collector {
	t.Helper()
	c, err := New(root, opt)
	if err != nil {
		t.Fatalf("New(%s) error = %v", root, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func find(s *Snapshot, pid int) *Process {
	for _, p := range s.Processes {
		if int(p.PID) == pid {
			return p
		}
	}
	return nil
}

func TestCollectLiveBusyChild(t *testing.T) {
	cmd := exec.Command("sh", "-c", "while :; do :; done")
	if err := cmd.Start(); err != nil {
		testenv.Skip(t, "cannot start a busy child: %v", err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	c := newCollector(t, hostfs.New("/proc", "/sys", "/etc", ""), Options{Users: users{0: "root"}})
	s, err := c.Collect(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	p := find(s, cmd.Process.Pid)
	if p == nil {
		t.Fatalf("busy child %d not in the first cycle's %d processes", cmd.Process.Pid, len(s.Processes))
	}
	if _, _, ok := p.CPUPercent(); ok {
		t.Errorf("CPUPercent on the first cycle: ok = true, want false")
	}
	time.Sleep(500 * time.Millisecond)
	s, err = c.Collect(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	p = find(s, cmd.Process.Pid)
	if p == nil {
		t.Fatalf("busy child gone from the second cycle")
	}
	u, sys, ok := p.CPUPercent()
	// A busy loop gets up to one core; on a loaded 2-core machine (parallel tests)
	// much less, but never next to nothing.
	if !ok || u+sys < 5 || u+sys > 220 {
		t.Errorf("busy child CPUPercent() = %.1f+%.1f, %v; want busy, at most one core", u, sys, ok)
	}
	if p.User != "root" || string(p.Comm) != "sh" || p.RSS == 0 || p.Kernel {
		t.Errorf("busy child = user %q comm %q rss %d kernel %v", p.User, p.Comm, p.RSS, p.Kernel)
	}
	if got := string(p.Cmdline); got != "sh\x00-c\x00while :; do :; done\x00" {
		t.Errorf("busy child cmdline = %q", got)
	}
	if !p.Cur.HasIO {
		t.Errorf("own child's io unreadable")
	}

	cmd.Process.Kill()
	cmd.Wait()
	s, err = c.Collect(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if find(s, cmd.Process.Pid) != nil {
		t.Errorf("reaped child still listed")
	}
	if len(c.table) != len(s.Processes) {
		t.Errorf("table holds %d entries for %d live processes", len(c.table), len(s.Processes))
	}
	// Every held descriptor belongs to a live table entry: the child's were closed.
	// (The count itself moves with whatever else runs on the machine.)
	held := 0
	for _, p := range c.table {
		held += p.h.Held()
	}
	if held != s.Stats.HeldFDs || c.table[int32(cmd.Process.Pid)] != nil {
		t.Errorf("held fds %d, of table entries %d; child entry %v", s.Stats.HeldFDs, held, c.table[int32(cmd.Process.Pid)] != nil)
	}
	var kthreads int
	for _, p := range s.Processes {
		if p.Kernel {
			kthreads++
			if len(p.Cmdline) != 0 {
				t.Errorf("kernel thread %d has cmdline %q", p.PID, p.Cmdline)
			}
		}
	}
	if kthreads == 0 {
		t.Errorf("no kernel threads found (kthreadd is pid 2 on a real host)")
	}
}

func TestCollectClosed(t *testing.T) {
	c := newCollector(t, hostfs.New("/proc", "/sys", "/etc", ""), Options{})
	c.Close()
	c.Close()
	if _, err := c.Collect(time.Now()); err == nil {
		t.Errorf("Collect after Close: nil error")
	}
}

// TestCollectFixtureEdgeCases runs cycles over the committed fake hosts: every
// edge case of testdata/fakehost/README.md is handled and counted, and a cycle over
// an unchanged host allocates nothing.
func TestCollectFixtureEdgeCases(t *testing.T) {
	for _, dir := range []string{"../../testdata/fakehost/v1", "../../testdata/fakehost/v2"} {
		t.Run(dir[len("../../testdata/"):], func(t *testing.T) {
			root := hostfs.At(dir)
			u, err := passwd.New(root)
			if err != nil {
				t.Fatalf("passwd.New: %v", err)
			}
			c := newCollector(t, root, Options{Users: u})
			t0 := time.Unix(1_700_000_000, 0)
			s, err := c.Collect(t0)
			if err != nil {
				t.Fatal(err)
			}
			if len(s.Processes) < 30 {
				t.Errorf("%d processes, want the fixture's ~40", len(s.Processes))
			}
			var zombie, kthread, unknownUID, rewritten, longCmd, oddComm bool
			for _, p := range s.Processes {
				switch {
				case p.State == 'Z':
					zombie = true
				case p.Kernel:
					kthread = kthread || (len(p.Cmdline) == 0 && p.User == "root")
				}
				if p.UID == 4242 && p.User == "4242" {
					unknownUID = true
				}
				if string(p.Cmdline) == "nginx: master process /usr/sbin/nginx" {
					rewritten = true
				}
				if len(p.Cmdline) > 8<<10 {
					longCmd = true
				}
				if string(p.Comm) == "a) b\nc" {
					oddComm = true
				}
			}
			for name, ok := range map[string]bool{"zombie": zombie, "kernel thread": kthread, "uid not in passwd": unknownUID,
				"rewritten argv": rewritten, "long cmdline": longCmd, "comm with ) and newline": oddComm} {
				if !ok {
					t.Errorf("edge case %q not found among %d processes", name, len(s.Processes))
				}
			}
			// Container attribution from cgroup paths (testdata/fakehost/README.md).
			wantCtr := map[string]map[int32]string{
				"fakehost/v1": {32351: "0cbed5dba142072315d496a4f4f21230c74020775cb2f6249dc24ea7f8a2129f",
					32423: "bbc5b1de8e830fe0a04e3eb756f9f9ba2ac242881ce502cf8f3d35b92c9c56e8",
					32496: "2840cb82852a3dc8063896aa9ec42f2d966e5a8f1180b0acd2b379d28feaa3ad", 3469: "", 32292: "", 2: ""},
				"fakehost/v2": {3305: "15781515b71ab0ec1b49cc3c829cf4fe9a7d2ccf410245c27314f0f6f467e65f",
					3447: "b7873ac01fa2602b1b0c93cac8f72befedcbef80ce7e930185b6ee0790a886d7", 3469: "", 1: ""},
			}[dir[len("../../testdata/"):]]
			ids := map[string]bool{}
			for _, p := range s.Processes {
				if want, ok := wantCtr[p.PID]; ok && p.ContainerID != want {
					t.Errorf("pid %d container %q, want %q", p.PID, p.ContainerID, want)
				}
				if p.ContainerID != "" {
					ids[p.ContainerID] = true
				}
			}
			if len(c.ids) != len(ids) || len(ids) != 3 {
				t.Errorf("interned %d ids for %d containers with processes, want 3", len(c.ids), len(ids))
			}
			if s.Stats.ProcsGone == 0 {
				t.Errorf("the vanished pid was not counted as gone")
			}
			if !s.Host.Has(host.FileStat) || s.Host.Stat.NumCPU == 0 || !s.Host.Has(host.FileNetDev) {
				t.Errorf("host files missing: %v", s.Host.Err)
			}

			// Steady state: nothing changes, nothing allocates (after a second cycle
			// has filled the previous-sample buffers).
			next := t0.Add(15 * time.Second)
			c.Collect(next)
			allocs := testing.AllocsPerRun(20, func() {
				next = next.Add(15 * time.Second)
				s, _ = c.Collect(next)
			})
			if allocs != 0 {
				t.Errorf("steady-state cycle: %v allocs, want 0", allocs)
			}
			for _, p := range s.Processes {
				if !p.HasPrev {
					t.Errorf("pid %d has no previous sample after several cycles", p.PID)
				}
				if u, sy, ok := p.CPUPercent(); !ok || u != 0 || sy != 0 {
					t.Errorf("pid %d CPU on an unchanging fixture = %v+%v, %v; want 0", p.PID, u, sy, ok)
				}
			}
		})
	}
}

// TestIdleProcessSkipsStatus checks the schedstat shortcut against the kernel: an
// idle process's status and io are carried over, never differing from a fresh
// read, re-read at least every StatusRefreshCycles, and read again as soon as the
// process runs.
func TestIdleProcessSkipsStatus(t *testing.T) {
	root := hostfs.New("/proc", "/sys", "/etc", "")
	cmd := exec.Command("sh", "-c", "while read x; do :; done")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		testenv.Skip(t, "cannot start a child: %v", err)
	}
	t.Cleanup(func() { stdin.Close(); cmd.Process.Kill(); cmd.Wait() })
	c := newCollector(t, root, Options{})
	if !c.procs.HasSchedstat() {
		testenv.Skip(t, "kernel without CONFIG_SCHED_INFO: no schedstat, no shortcut")
	}
	pid := cmd.Process.Pid
	time.Sleep(100 * time.Millisecond) // let the shell reach its read
	fresh := func() proc.Status {
		t.Helper()
		b, err := os.ReadFile(root.Proc(strconv.Itoa(pid), "status"))
		if err != nil {
			t.Fatal(err)
		}
		var s proc.Status
		if err := proc.ParseStatus(b, &s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	check := func(when string) *Process {
		t.Helper()
		s, err := c.Collect(time.Now())
		if err != nil {
			t.Fatal(err)
		}
		p := find(s, pid)
		if p == nil {
			t.Fatalf("%s: child not listed", when)
		}
		f := fresh()
		if p.Cur.VolCtxt != f.VolCtxt || p.Cur.NonVolCtxt != f.NonVolCtxt || p.UID != f.UID[0] {
			t.Errorf("%s: carried ctxt %d/%d uid %d, fresh read %d/%d uid %d (age %d)",
				when, p.Cur.VolCtxt, p.Cur.NonVolCtxt, p.UID, f.VolCtxt, f.NonVolCtxt, f.UID[0], p.statusAge)
		}
		if p.statusAge > StatusRefreshCycles {
			t.Errorf("%s: status unread for %d cycles", when, p.statusAge)
		}
		return p
	}
	check("first cycle")
	skips := c.snap.Stats.IdleSkips
	maxAge := uint8(0)
	for i := range 2 * StatusRefreshCycles {
		p := check("idle cycle " + strconv.Itoa(i))
		maxAge = max(maxAge, p.statusAge)
	}
	if c.snap.Stats.IdleSkips == skips {
		t.Errorf("no status read was skipped for an idle process")
	}
	if maxAge != StatusRefreshCycles {
		t.Errorf("status age peaked at %d, want %d (periodic refresh)", maxAge, StatusRefreshCycles)
	}
	for i := range 3 { // wake it: each line makes it run and switch
		if _, err := stdin.Write([]byte("x\n")); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
		if p := check("after running " + strconv.Itoa(i)); p.statusAge != 0 {
			t.Errorf("after running: status not re-read (age %d)", p.statusAge)
		}
	}
}
