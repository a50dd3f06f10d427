//go:build linux

package pfile

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	"github.com/whippet-agent/whippet/internal/testenv"
)

// fdsListed counts /proc/<pid>/fd with the standard library, the oracle.
func fdsListed(t *testing.T, dir string) int64 {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	return int64(len(ents))
}

// TestFDCounterProc counts a child's descriptors as it holds more files, and
// this process's own. On a kernel that reports the count as the directory's
// size (6.2+) the counter must switch to it, and agree with a listing.
func TestFDCounterProc(t *testing.T) {
	files := make([]*os.File, 0, 8)
	t.Cleanup(func() {
		for _, f := range files {
			f.Close()
		}
	})
	var size syscall.Stat_t
	if err := syscall.Stat("/proc/self/fd", &size); err != nil {
		t.Fatal(err)
	}
	sizeIsCount := size.Size > 0

	base := int64(-1) // the child's descriptors without extra files (stdio, inherited ones)
	for _, extra := range []int{0, 1, 5} {
		for len(files) < extra {
			f, err := os.Open(os.DevNull)
			if err != nil {
				t.Fatal(err)
			}
			files = append(files, f)
		}
		cmd := exec.Command("sleep", "30")
		cmd.ExtraFiles = files
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		testenv.WaitExec(t, cmd.Process.Pid, "sleep")
		dir := "/proc/" + strconv.Itoa(cmd.Process.Pid) + "/fd"
		var c FDCounter
		var p Path
		for i := range 3 {
			got, err := c.Count(AtCWD, p.Reset().Str(dir), 0)
			if err != nil {
				t.Fatalf("extra %d, call %d: %v", extra, i, err)
			}
			if base < 0 {
				base = got
			}
			if want := base + int64(extra); got != want || got != fdsListed(t, dir) {
				t.Errorf("extra %d, call %d: %d descriptors, want %d (listing %d)", extra, i, got, want, fdsListed(t, dir))
			}
		}
		if sizeIsCount && (c.mode != fdStat || c.statted != 2 || c.listed != 1) {
			t.Errorf("extra %d: mode %d, %d from size, %d listed; want the size after one listing", extra, c.mode, c.statted, c.listed)
		}
		cmd.Process.Kill()
		cmd.Wait()
	}

	// Our own: the listing's descriptor is not counted.
	var c FDCounter
	var p Path
	for i := range 3 {
		got, err := c.Count(AtCWD, p.Reset().Str("/proc/self/fd"), 1)
		if err != nil {
			t.Fatal(err)
		}
		if want := fdsListed(t, "/proc/self/fd") - 1; got != want {
			t.Errorf("self, call %d: %d descriptors, listing says %d", i, got, want)
		}
	}
	t.Logf("size is the count: %v; self: %d from size, %d listed", sizeIsCount, c.statted, c.listed)
}

// TestFDCounterNotProc: a directory whose size is not a count (a fixture tree,
// an old kernel's 0) is listed every time, with the right count.
func TestFDCounterNotProc(t *testing.T) {
	for _, n := range []int{0, 1, 7, 300} {
		dir := t.TempDir()
		for i := range n {
			if err := os.WriteFile(filepath.Join(dir, strconv.Itoa(i)), nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		var c FDCounter
		var p Path
		for i := range 2 * fdMaxMisses {
			got, err := c.Count(AtCWD, p.Reset().Str(dir), 0)
			if err != nil || got != int64(n) {
				t.Fatalf("%d files, call %d: %d, %v", n, i, got, err)
			}
		}
		if c.statted != 0 || c.mode == fdStat {
			t.Errorf("%d files: trusted the directory size (%d from size)", n, c.statted)
		}
	}
	var c FDCounter
	var p Path
	if _, err := c.Count(AtCWD, p.Reset().Str("/proc/999999999/fd"), 0); err == nil {
		t.Error("no error for a missing process")
	}
}

// BenchmarkFDCount counts a child holding 64 descriptors: the size-based count
// against a listing (what it replaces, and what older kernels still do).
func BenchmarkFDCount(b *testing.B) {
	files := make([]*os.File, 61)
	for i := range files {
		f, err := os.Open(os.DevNull)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		files[i] = f
	}
	cmd := exec.Command("sleep", "60")
	cmd.ExtraFiles = files
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	testenv.WaitExec(b, cmd.Process.Pid, "sleep")
	dir := "/proc/" + strconv.Itoa(cmd.Process.Pid) + "/fd"
	for _, mode := range []struct {
		name string
		mode uint8
	}{{"size", fdStat}, {"listing", fdList}} {
		b.Run(mode.name, func(b *testing.B) {
			c := FDCounter{mode: mode.mode}
			var p Path
			p.Str(dir)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.Count(AtCWD, &p, 0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
