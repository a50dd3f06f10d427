package host

import (
	"errors"
	"fmt"
	"golang.org/x/sys/unix"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/procfs"

	"github.com/whippet-agent/whippet/internal/testenv"
	"github.com/whippet-agent/whippet/pkg/collect/hostfs"
)

// fsRoot builds a fake host whose pid 1 root is a temp directory (a real
// filesystem, so statfs works) holding the mount points named in dirs.
func fsRoot(t *testing.T, mountinfo string, dirs ...string) (hostfs.Root, string) {
	t.Helper()
	root := fakeRoot(t, map[string]string{
		"proc/stat":        statModern,
		"proc/filesystems": "nodev\tsysfs\nnodev\ttmpfs\n\text4\n\txfs\nnodev\toverlay\n",
		"proc/1/mountinfo": mountinfo,
	})
	hostRoot := t.TempDir()
	for _, d := range dirs {
		if err := os.MkdirAll(filepath.Join(hostRoot, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(hostRoot, root.Proc("1", "root")); err != nil {
		t.Fatal(err)
	}
	return root, hostRoot
}

// statfsFigures is what ReadFS must report for path, from syscall.Statfs.
func statfsFigures(t *testing.T, path string) (total, files uint64) {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Blocks * uint64(st.Bsize), st.Files
}

// ident is the identity part of a Filesystem, with the two figures that do not
// move while the test runs.
type ident struct {
	Device, MountPoint, Type string
	Major, Minor             uint32
	Total, Files             uint64
}

func idents(ms []Filesystem) []ident {
	out := []ident{}
	for _, m := range ms {
		out = append(out, ident{m.Device, m.MountPoint, m.Type, m.Major, m.Minor, m.Total, m.Files})
	}
	return out
}

func TestReadFS(t *testing.T) {
	const table = `27 1 254:0 / / rw,relatime - ext4 /dev/vda rw
43 27 254:0 /var/lib/docker /var/lib/docker rw,relatime shared:1 - ext4 /dev/vda rw
50 27 8:16 / /data\040disk rw - xfs /dev/sdb rw
51 27 8:32 / /gone rw - xfs /dev/sdc rw
52 27 0:40 / /tmp rw - tmpfs tmpfs rw
53 27 0:41 / /var/lib/docker/overlay2/x/merged rw - overlay overlay rw
this line is not a mount
`
	root, hostRoot := fsRoot(t, table, "var/lib/docker", "data disk", "tmp")
	r := newReader(t, root)
	total, files := statfsFigures(t, hostRoot)
	want := []ident{
		{"/dev/vda", "/", "ext4", 254, 0, total, files},
		{"/dev/sdb", "/data disk", "xfs", 8, 16, total, files},
	}
	var s Snapshot
	s.HasFS = true // stale: Read must clear it
	if err := r.Read(&s); err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Read: %v", err)
	}
	if s.HasFS {
		t.Errorf("Read left HasFS set")
	}
	if err := r.ReadFS(&s); err != nil || !s.HasFS || s.FSErr != nil {
		t.Fatalf("ReadFS() = %v, HasFS %v, FSErr %v", err, s.HasFS, s.FSErr)
	}
	if diff := cmp.Diff(want, idents(s.FS.Mounts)); diff != "" {
		t.Errorf("ReadFS mounts (-want +got):\n%s", diff)
	}
	if s.FS.Unreadable != 1 || s.FS.Malformed != 1 {
		t.Errorf("ReadFS: Unreadable %d, Malformed %d, want 1 and 1", s.FS.Unreadable, s.FS.Malformed)
	}
	for _, m := range s.FS.Mounts {
		if m.Avail > m.Free || m.Free > m.Total || m.FilesFree > m.Files {
			t.Errorf("%s: inconsistent figures %+v", m.MountPoint, m)
		}
	}

	// The table changes (the broken mount goes, a disk comes): the next read
	// follows it through the same held descriptor.
	if err := os.MkdirAll(filepath.Join(hostRoot, "new"), 0o755); err != nil {
		t.Fatal(err)
	}
	next := strings.Replace(table, "51 27 8:32 / /gone", "51 27 8:48 / /new", 1)
	if err := os.WriteFile(root.Proc("1", "mountinfo"), []byte(next), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := r.ReadFS(&s); err != nil {
		t.Fatal(err)
	}
	want = append(want, ident{"/dev/sdc", "/new", "xfs", 8, 48, total, files})
	if diff := cmp.Diff(want, idents(s.FS.Mounts)); diff != "" {
		t.Errorf("ReadFS after the table changed (-want +got):\n%s", diff)
	}
	if s.FS.Unreadable != 0 {
		t.Errorf("Unreadable = %d after the broken mount left, want 0", s.FS.Unreadable)
	}

	if n := testing.AllocsPerRun(20, func() {
		if err := r.ReadFS(&s); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("ReadFS over an unchanged table allocates %v times per run, want 0", n)
	}
}

func TestReadFSErrors(t *testing.T) {
	t.Parallel()
	t.Run("no mountinfo", func(t *testing.T) {
		t.Parallel()
		r := newReader(t, fakeRoot(t, map[string]string{"proc/stat": statModern}))
		var s Snapshot
		err := r.ReadFS(&s)
		if !errors.Is(err, fs.ErrNotExist) || s.HasFS || s.FSErr != err {
			t.Errorf("ReadFS() = %v, HasFS %v, FSErr %v, want ErrNotExist", err, s.HasFS, s.FSErr)
		}
	})
	t.Run("bad filesystems", func(t *testing.T) {
		t.Parallel()
		r := newReader(t, fakeRoot(t, map[string]string{"proc/stat": statModern, "proc/filesystems": "nodev\n",
			"proc/1/mountinfo": "27 1 254:0 / / rw - ext4 /dev/vda rw\n"}))
		var s Snapshot
		var pe *ParseError
		if err := r.ReadFS(&s); !errors.As(err, &pe) || pe.File != "filesystems" {
			t.Errorf("ReadFS() = %v, want the filesystems ParseError", err)
		}
	})
	t.Run("root not visible", func(t *testing.T) {
		t.Parallel()
		// No <proc>/1/root: the mount points are statfs'd as they are here, so
		// "/" is read and the absent /whippet-no-such-dir counted.
		r := newReader(t, fakeRoot(t, map[string]string{"proc/stat": statModern, "proc/filesystems": "\text4\n",
			"proc/1/mountinfo": "27 1 254:0 / / rw - ext4 /dev/vda rw\n28 27 8:0 / /whippet-no-such-dir rw - ext4 /dev/sda rw\n"}))
		var s Snapshot
		err := r.ReadFS(&s)
		if err != nil || len(s.FS.Mounts) != 1 || s.FS.Mounts[0].MountPoint != "/" || s.FS.Unreadable != 1 {
			t.Errorf("ReadFS() = %v, %+v, want / read and 1 unreadable", err, s.FS)
		}
	})
	t.Run("closed", func(t *testing.T) {
		t.Parallel()
		r, err := NewReader(fakeRoot(t, map[string]string{"proc/stat": statModern}))
		if err != nil {
			t.Fatal(err)
		}
		r.Close()
		var s Snapshot
		if err := r.ReadFS(&s); !errors.Is(err, ErrClosed) {
			t.Errorf("ReadFS after Close = %v, want ErrClosed", err)
		}
	})
}

// TestReadFSLive compares ReadFS on this machine with a reference built from
// prometheus/procfs's parse of pid 1's mount table, a plain parse of
// /proc/filesystems, the agent's rules written out with strings, and
// syscall.Statfs through /proc/1/root.
func TestReadFSLive(t *testing.T) {
	if _, err := os.Stat(liveRoot.Proc("1", "mountinfo")); err != nil {
		testenv.Skip(t, "no live mount table: %v", err)
	}
	// Through pid 1's root where we may enter it, else the paths as they are.
	prefix := liveRoot.Proc("1", "root")
	if _, err := os.Stat(prefix + "/"); err != nil {
		t.Logf("pid 1's root not visible (%v): statfs on the mount points as is", err)
		prefix = ""
	}
	pfs, err := procfs.NewFS(liveRoot.Proc())
	if err != nil {
		t.Fatal(err)
	}
	mounts, err := pfs.GetProcMounts(1)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(liveRoot.Proc("filesystems"))
	if err != nil {
		t.Fatal(err)
	}
	block := map[string]bool{}
	for ln := range strings.Lines(string(b)) {
		if f := strings.Fields(ln); len(f) == 1 {
			block[f[0]] = true
		}
	}
	var want []ident
	seen := map[string]bool{}
	for _, m := range mounts {
		typ := strings.ToLower(m.FSType)
		if !block[m.FSType] || m.Source == "" || m.Source == "none" || seen[m.MajorMinorVer] ||
			strings.HasSuffix(typ, "iso9660") || strings.HasSuffix(typ, "tracefs") ||
			strings.HasSuffix(m.MountPoint, "/proc/sys/fs/binfmt_misc") {
			continue
		}
		seen[m.MajorMinorVer] = true
		mp := string(Unescape(nil, []byte(m.MountPoint)))
		var st syscall.Statfs_t
		if err := syscall.Statfs(prefix+mp, &st); err != nil || st.Blocks == 0 {
			continue
		}
		var maj, min uint32
		if _, err := fmtSscan(m.MajorMinorVer, &maj, &min); err != nil {
			t.Fatal(err)
		}
		want = append(want, ident{m.Source, mp, m.FSType, maj, min, st.Blocks * uint64(st.Bsize), st.Files})
	}
	r := newReader(t, liveRoot)
	var s Snapshot
	if err := r.ReadFS(&s); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, idents(s.FS.Mounts)); diff != "" {
		t.Errorf("ReadFS on the live host (-reference +ours):\n%s", diff)
	}
	if len(want) == 0 {
		t.Errorf("no filesystem on the live host")
	}
	if s.FS.Unreadable != 0 || s.FS.Malformed != 0 {
		t.Errorf("live: Unreadable %d, Malformed %d", s.FS.Unreadable, s.FS.Malformed)
	}
	if n := testing.AllocsPerRun(10, func() {
		if err := r.ReadFS(&s); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("live ReadFS allocates %v times per run, want 0", n)
	}
}

// fmtSscan reads "major:minor".
func fmtSscan(s string, maj, min *uint32) (int, error) {
	a, b, ok := strings.Cut(s, ":")
	if !ok {
		return 0, errors.New("no colon in " + s)
	}
	x, err := parseUint([]byte(a))
	if err != nil {
		return 0, err
	}
	y, err := parseUint([]byte(b))
	if err != nil {
		return 1, err
	}
	*maj, *min = uint32(x), uint32(y)
	return 2, nil
}

func BenchmarkReadFS(b *testing.B) {
	if _, err := os.Stat(liveRoot.Proc("1", "mountinfo")); err != nil {
		b.Skip("no live mount table")
	}
	r := newReader(b, liveRoot)
	var s Snapshot
	b.ReportAllocs()
	for b.Loop() {
		if err := r.ReadFS(&s); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(s.FS.Mounts)), "filesystems")
}

// TestReadFSPollsMountTable: the mount table is read again only when poll(2)
// reports a change of its namespace's mounts. The test runs in a private mount
// namespace of its own thread, which nothing else changes.
func TestReadFSPollsMountTable(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Skip(t, "needs root for a mount namespace")
	}
	dir := t.TempDir()
	errc := make(chan error, 1)
	go func() {
		// The thread is not unlocked: it dies with the goroutine, namespace and all.
		runtime.LockOSThread()
		errc <- func() error {
			if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
				return fmt.Errorf("unshare: %w", err)
			}
			if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
				return fmt.Errorf("make / private: %w", err)
			}
			f := &fsReader{mountinfo: "/proc/thread-self/mountinfo", filesystems: "/proc/filesystems",
				rootDir: "/proc/thread-self/root", fd: -1}
			defer f.close()
			var fs Filesystems
			step := func(what string, want uint64) error {
				if err := f.read(&fs); err != nil {
					return fmt.Errorf("%s: %w", what, err)
				}
				if f.reads != want {
					return fmt.Errorf("%s: %d mount table reads, want %d", what, f.reads, want)
				}
				return nil
			}
			for i := range 3 {
				if err := step(fmt.Sprintf("unchanged read %d", i), 1); err != nil {
					return err
				}
			}
			if !f.pollable {
				return errors.New("procfs mountinfo not detected as pollable")
			}
			if err := unix.Mount("whippet-test", dir, "tmpfs", 0, "size=1m"); err != nil {
				return fmt.Errorf("mount tmpfs: %w", err)
			}
			if err := step("after a mount", 2); err != nil {
				return err
			}
			if err := step("unchanged again", 2); err != nil {
				return err
			}
			if err := unix.Unmount(dir, 0); err != nil {
				return fmt.Errorf("unmount: %w", err)
			}
			return step("after the unmount", 3)
		}()
	}()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}
