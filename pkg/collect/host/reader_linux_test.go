package host

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/whippet-agent/whippet/internal/testenv"
	"github.com/whippet-agent/whippet/pkg/collect/hostfs"
)

// fileRel is where each File lives under the proc mount.
var fileRel = [NumFiles][]string{
	FileStat: {"stat"}, FileMeminfo: {"meminfo"}, FileLoadavg: {"loadavg"}, FileUptime: {"uptime"},
	FileVmstat: {"vmstat"}, FileDiskstats: {"diskstats"}, FileNetDev: {"1", "net", "dev"},
	FileSnmp: {"1", "net", "snmp"}, FileNetstat: {"1", "net", "netstat"}, FileFileNr: {"sys", "fs", "file-nr"},
}

func newReader(tb testing.TB, root hostfs.Root) *Reader {
	tb.Helper()
	r, err := NewReader(root)
	if err != nil {
		tb.Fatalf("NewReader(%v): %v", root, err)
	}
	tb.Cleanup(func() { r.Close() })
	return r
}

// TestReader reads every root and checks each file against the parser run on
// os.ReadFile's content; on fixtures that must be exact.
func TestReader(t *testing.T) {
	t.Parallel()
	for name, root := range roots(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := newReader(t, root)
			var s Snapshot
			if err := r.Read(&s); err != nil {
				t.Fatalf("Read: %v", err)
			}
			for f := range NumFiles {
				b, rerr := os.ReadFile(root.Proc(fileRel[f]...))
				if errors.Is(rerr, fs.ErrNotExist) {
					if !errors.Is(s.Err[f], fs.ErrNotExist) {
						t.Errorf("%s absent, Err = %v, want ErrNotExist", f, s.Err[f])
					}
					continue
				}
				if !s.Has(f) {
					t.Errorf("%s: %v", f, s.Err[f])
					continue
				}
				if name == "live" {
					continue // compared field by field in procfs_test.go
				}
				var want Snapshot
				if err := want.parse(f, b); err != nil {
					t.Fatalf("parse %s: %v", f, err)
				}
				if diff := cmp.Diff(part(&want, f), part(&s, f)); diff != "" {
					t.Errorf("Read: %s (-want +got):\n%s", f, diff)
				}
			}
		})
	}
}

// part is what file f fills in s.
func part(s *Snapshot, f File) any {
	return [NumFiles]any{s.Stat, s.Meminfo, s.Loadavg, s.Uptime, s.Vmstat, s.Diskstats.Disks, s.NetDev.Ifaces,
		s.Snmp, s.Netstat, s.FileNr}[f]
}

// TestReaderFresh checks that a pread at offset 0 on a held fd regenerates the
// text: the live counters move between two reads.
func TestReaderFresh(t *testing.T) {
	if _, err := os.Stat(liveRoot.Proc("stat")); err != nil {
		testenv.Skip(t, "no live procfs: %v", err)
	}
	t.Parallel()
	r := newReader(t, liveRoot)
	var a, b Snapshot
	if err := r.Read(&a); err != nil {
		t.Fatal(err)
	}
	time.Sleep(30 * time.Millisecond)
	for i := range 1000 {
		_ = fmt.Sprint(i) // some work and context switches
		time.Sleep(0)
	}
	if err := r.Read(&b); err != nil {
		t.Fatal(err)
	}
	if b.Uptime.Uptime <= a.Uptime.Uptime {
		t.Errorf("uptime did not advance: %v then %v", a.Uptime.Uptime, b.Uptime.Uptime)
	}
	if b.Stat.Ctxt <= a.Stat.Ctxt {
		t.Errorf("ctxt did not advance: %v then %v", a.Stat.Ctxt, b.Stat.Ctxt)
	}
}

// fakeRoot writes files (path under the root → content) into a temp dir.
func fakeRoot(t *testing.T, files map[string]string) hostfs.Root {
	t.Helper()
	dir := t.TempDir()
	for p, c := range files {
		p = filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return hostfs.At(dir)
}

func TestReaderAbsentAndBroken(t *testing.T) {
	t.Parallel()
	root := fakeRoot(t, map[string]string{
		"proc/stat":    statModern,
		"proc/meminfo": "MemTotal: x kB\n",
		"proc/uptime":  "1.00 2.00\n",
		// A diskstats bigger than the starting buffer, to make it grow.
		"proc/diskstats": strings.Repeat("   8       0 sda 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17\n", 200),
	})
	r := newReader(t, root)
	var s Snapshot
	err := r.Read(&s)
	var pe *ParseError
	if !errors.As(err, &pe) || pe.File != "meminfo" {
		t.Fatalf("Read() = %v, want the meminfo ParseError", err)
	}
	for f, want := range map[File]string{FileStat: "", FileUptime: "", FileDiskstats: "", FileMeminfo: "meminfo"} {
		if got := s.Err[f]; (got == nil) != (want == "") {
			t.Errorf("Err[%s] = %v, want error %q", f, got, want)
		}
	}
	for _, f := range []File{FileLoadavg, FileVmstat, FileNetDev} {
		if !errors.Is(s.Err[f], fs.ErrNotExist) || s.Has(f) {
			t.Errorf("Err[%s] = %v, want ErrNotExist", f, s.Err[f])
		}
	}
	if s.Stat.Ctxt != 355922 || s.Uptime.Idle != 2 || len(s.Diskstats.Disks) != 200 {
		t.Errorf("Read() = %+v, want stat, uptime and 200 disks", s)
	}
	// Absence is not news: once meminfo is fixed Read succeeds.
	if err := os.WriteFile(root.Proc("meminfo"), []byte("MemTotal: 1 kB\nMemFree: 1 kB\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := r.Read(&s); err != nil || !s.Has(FileMeminfo) || s.Meminfo.Total != 1024 {
		t.Errorf("Read() = %v, Meminfo %+v, want nil and MemTotal 1024", err, s.Meminfo)
	}
}

func TestNewReaderNoProc(t *testing.T) {
	t.Parallel()
	if r, err := NewReader(hostfs.At(t.TempDir())); err == nil || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("NewReader(empty) = %v, %v, want ErrNotExist", r, err)
	}
}

func TestReaderClose(t *testing.T) {
	t.Parallel()
	r, err := NewReader(fakeRoot(t, map[string]string{"proc/stat": statModern}))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Errorf("second Close() = %v, want nil", err)
	}
	var s Snapshot
	if err := r.Read(&s); !errors.Is(err, ErrClosed) {
		t.Errorf("Read after Close = %v, want ErrClosed", err)
	}
}

func TestReaderAllocs(t *testing.T) {
	for name, root := range roots(t) {
		t.Run(name, func(t *testing.T) {
			r := newReader(t, root)
			var s Snapshot
			if err := r.Read(&s); err != nil { // sizes the buffer, lists and names
				t.Fatal(err)
			}
			if n := testing.AllocsPerRun(50, func() {
				if err := r.Read(&s); err != nil {
					t.Fatal(err)
				}
			}); n != 0 {
				t.Errorf("Read allocates %v times per run, want 0", n)
			}
		})
	}
}

func BenchmarkReaderRead(b *testing.B) {
	for name, root := range roots(b) {
		b.Run(strings.ReplaceAll(name, "/", "_"), func(b *testing.B) {
			r := newReader(b, root)
			var s Snapshot
			b.ReportAllocs()
			for b.Loop() {
				if err := r.Read(&s); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
