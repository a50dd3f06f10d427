//go:build linux

package proc

import (
	"errors"
	"os"
	"os/exec"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/procfs"

	"github.com/whippet-agent/whippet/internal/testenv"
	"github.com/whippet-agent/whippet/pkg/collect/hostfs"
)

func liveRoot() hostfs.Root { return hostfs.New("/proc", "/sys", "/etc", "") }

func newReader(t *testing.T, root hostfs.Root, opt Options) *Reader {
	t.Helper()
	r, err := NewReader(root, opt)
	if err != nil {
		t.Fatalf("NewReader(%s) error = %v", root, err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func TestReaderPids(t *testing.T) {
	t.Parallel()
	r := newReader(t, liveRoot(), Options{})
	pids, err := r.Pids(nil)
	if err != nil {
		t.Fatalf("Pids() error = %v", err)
	}
	if !slices.Contains(pids, int32(os.Getpid())) || !slices.Contains(pids, 1) {
		t.Errorf("Pids() = %v, want it to contain 1 and self %d", pids, os.Getpid())
	}
	fs, err := procfs.NewFS("/proc")
	if err != nil {
		t.Fatal(err)
	}
	all, err := fs.AllProcs()
	if err != nil {
		t.Fatal(err)
	}
	// Processes come and go between the two listings: require a large overlap.
	common := 0
	for _, p := range all {
		if slices.Contains(pids, int32(p.PID)) {
			common++
		}
	}
	if common < len(all)*9/10 {
		t.Errorf("Pids() shares %d of procfs's %d pids", common, len(all))
	}
}

// TestHeldFDFreshAndGone checks the two kernel facts the held-fd design rests on: a
// pread at offset 0 regenerates the values, and a reaped process yields ErrGone
// (ESRCH on the held fd), never another process's data.
func TestHeldFDFreshAndGone(t *testing.T) {
	cmd := exec.Command("sh", "-c", "while :; do :; done")
	if err := cmd.Start(); err != nil {
		testenv.Skip(t, "cannot start a busy child: %v", err)
	}
	defer cmd.Process.Kill()
	r := newReader(t, liveRoot(), Options{})
	h := &Handle{PID: int32(cmd.Process.Pid)}
	defer r.Release(h)
	read := func() Stat {
		t.Helper()
		b, err := r.Read(h, FileStat)
		if err != nil {
			t.Fatalf("Read(stat) error = %v", err)
		}
		var s Stat
		if err := ParseStat(b, &s); err != nil {
			t.Fatalf("ParseStat error = %v", err)
		}
		return s
	}
	first := read()
	if h.Held() != 1 || r.HeldFDs() != 1 {
		t.Fatalf("after first read: handle holds %d, reader %d; want 1, 1", h.Held(), r.HeldFDs())
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		time.Sleep(50 * time.Millisecond)
		s := read()
		if s.UTime+s.STime > first.UTime+first.STime {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("held fd never showed CPU time advancing: %d ticks", s.UTime+s.STime)
		}
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait() // reap
	_, err := r.Read(h, FileStat)
	if !errors.Is(err, ErrGone) {
		t.Fatalf("Read(stat) of a reaped process: error = %v, want ErrGone", err)
	}
	if h.Held() != 0 || r.HeldFDs() != 0 {
		t.Errorf("after gone: handle holds %d, reader %d; want 0, 0", h.Held(), r.HeldFDs())
	}
	if _, err := r.Read(h, FileStatus); !errors.Is(err, ErrGone) {
		t.Errorf("Read(status) of a reaped process (open path): error = %v, want ErrGone", err)
	}
}

func TestHeldCap(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		max, want int
	}{{max: 2, want: 2}, {max: -1, want: 0}} {
		r := newReader(t, liveRoot(), Options{MaxHeld: tt.max})
		self := &Handle{PID: int32(os.Getpid())}
		init := &Handle{PID: int32(os.Getppid())}
		for _, h := range []*Handle{self, init} {
			for _, f := range []File{FileStat, FileStatus, FileIO, FileCmdline} {
				if _, err := r.Read(h, f); err != nil {
					t.Fatalf("Read(%d, %s) error = %v", h.PID, f, err)
				}
			}
		}
		if r.HeldFDs() != tt.want {
			t.Errorf("MaxHeld %d: HeldFDs() = %d, want %d", tt.max, r.HeldFDs(), tt.want)
		}
		if self.fds[FileCmdline] != 0 {
			t.Errorf("cmdline is not in the held set but was held")
		}
		r.Release(self)
		r.Release(init)
		if r.HeldFDs() != 0 {
			t.Errorf("after Release: HeldFDs() = %d", r.HeldFDs())
		}
	}
}

func TestReaderDoesNotAllocate(t *testing.T) {
	r := newReader(t, liveRoot(), Options{MaxHeld: 2})
	held := &Handle{PID: int32(os.Getpid())}
	defer r.Release(held)
	open := &Handle{PID: 1} // over the cap: open/read/close every time
	var (
		s    Stat
		st   Status
		pids []int32
	)
	pids, _ = r.Pids(pids)
	pids = slices.Grow(pids, 4096)
	for _, f := range []File{FileStat, FileStatus, FileCmdline, FileIO} {
		_, _ = r.Read(held, f)
	}
	for name, fn := range map[string]func(){
		"held stat+status": func() {
			b, _ := r.Read(held, FileStat)
			_ = ParseStat(b, &s)
			b, _ = r.Read(held, FileStatus)
			_ = ParseStatus(b, &st)
		},
		"open stat+cmdline+io": func() {
			b, _ := r.Read(open, FileStat)
			_ = ParseStat(b, &s)
			_, _ = r.Read(open, FileCmdline)
			_, _ = r.Read(open, FileIO)
		},
		"gone": func() {
			h := Handle{PID: 1<<31 - 1}
			_, _ = r.Read(&h, FileStat)
		},
		"Pids": func() { pids, _ = r.Pids(pids) },
	} {
		if n := testing.AllocsPerRun(50, fn); n != 0 {
			t.Errorf("%s: %v allocs per run, want 0", name, n)
		}
	}
}

func TestReadErrors(t *testing.T) {
	t.Parallel()
	if _, err := NewReader(hostfs.New("/nonexistent/proc", "/sys", "/etc", ""), Options{}); err == nil {
		t.Fatalf("NewReader on a missing proc dir: nil error")
	}
	r := newReader(t, liveRoot(), Options{})
	h := &Handle{PID: 1<<31 - 1}
	if _, err := r.Read(h, FileStat); !errors.Is(err, ErrGone) {
		t.Errorf("Read of a nonexistent pid: %v, want ErrGone", err)
	}
	// io needs ptrace access: a denied read is an error, not a gone process.
	// (On this kind of sandbox pid 1 holds capabilities we lack, so its io is EACCES.)
	if _, err := r.Read(&Handle{PID: 1}, FileIO); err != nil && IsGone(err) {
		t.Errorf("Read(1, io) = %v: a denied read must not look gone", err)
	}
	var e syscall.Errno = syscall.EACCES
	if IsGone(e) {
		t.Errorf("IsGone(EACCES) = true")
	}
}

func TestRaiseNoFileLimit(t *testing.T) {
	n, err := RaiseNoFileLimit()
	if err != nil {
		t.Fatalf("RaiseNoFileLimit() error = %v", err)
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	if n != lim.Cur || lim.Cur != lim.Max {
		t.Errorf("RaiseNoFileLimit() = %d; rlimit now %d/%d, want cur = max", n, lim.Cur, lim.Max)
	}
}

// TestHeldCapFollowsRlimit: a cap above the open-file limit is lowered so that
// held descriptors can never exhaust it (EMFILE would make processes vanish).
func TestHeldCapFollowsRlimit(t *testing.T) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	r := newReader(t, liveRoot(), Options{MaxHeld: 1 << 30})
	if want := int(lim.Cur) - max(int(lim.Cur)/4, 256); r.maxHeld != max(want, 0) {
		t.Errorf("maxHeld = %d with RLIMIT_NOFILE %d, want %d", r.maxHeld, lim.Cur, want)
	}
}
