package host

import (
	"bytes"
	"fmt"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/whippet-agent/whippet/pkg/collect/hostfs"
	"github.com/whippet-agent/whippet/pkg/collect/pfile"
)

// ReadFS reads the host's block filesystems into s.FS (see Filesystems) and
// sets s.HasFS, or s.FSErr with the error it returns. It costs one pread of
// the mount table plus one statfs(2) per filesystem, so callers ask for it on
// metrics cycles only. In steady state (an unchanged mount table) it does not
// allocate.
//
// The mount table is pid 1's, <proc>/1/mountinfo: the host's mount namespace
// even when whippet runs in a container with the host's /proc mounted. Each
// filesystem is statfs'd through <proc>/1/root/<mount point>, which crosses
// into pid 1's root, so the figures are the host's, not those of whatever the
// container has at that path. That needs the host's pid 1 visible in <proc>
// and ptrace read access to it (proc_fd_access_allowed: root in the host's user
// namespace holding every capability pid 1 has, or CAP_SYS_PTRACE, and no LSM
// profile that denies it). Where pid 1's root is denied, each mount point is
// statfs'd as is, in whippet's own mount namespace, which is what the Datadog
// agent always does: right when whippet runs on the host, and in a container
// only for the host paths mounted at the same place (the others are counted in
// FS.Unreadable).
func (r *Reader) ReadFS(s *Snapshot) error {
	if r.done {
		return ErrClosed
	}
	if r.fs == nil {
		r.fs = newFSReader(r.root)
	}
	err := r.fs.read(&s.FS)
	s.HasFS, s.FSErr = err == nil, err
	return err
}

// fsReader holds pid 1's mount table open and keeps the mounts it selected
// from the last text it parsed; a read whose text is byte-for-byte the same
// reuses them.
type fsReader struct {
	mountinfo   string // paths, for opening and errors
	filesystems string
	rootDir     string // <proc>/1/root

	fd        int // held mountinfo; -1 until opened
	buf, prev []byte
	parsed    bool
	pollable  bool   // fd is procfs's mountinfo, which poll(2) reports changes of
	reads     uint64 // mount table texts read, for tests
	direct    bool   // statfs on the mount points as is: pid 1's root was denied
	mounts    []fsMount
	malformed int
	types     []string
	tbuf, esc []byte
	st        syscall.Statfs_t
}

// fsMount is a kept mount: its identity, and the NUL-terminated host path
// statfs takes.
type fsMount struct {
	fs   Filesystem // without figures
	path []byte
}

func newFSReader(root hostfs.Root) *fsReader {
	return &fsReader{
		mountinfo:   root.Proc("1", "mountinfo"),
		filesystems: root.Proc("filesystems"),
		rootDir:     root.Proc("1", "root"),
		fd:          -1,
	}
}

// read refreshes dst with one statfs per kept mount.
//
// A held mountinfo fd keeps giving the table of the namespace it was opened
// in (fs/proc_namespace.c takes the namespace at open), and a pread at offset 0
// regenerates it: fs/seq_file.c, seq_read_iter restarts its iterator at 0.
func (f *fsReader) read(dst *Filesystems) error {
	if f.fd < 0 {
		var p pfile.Path
		fd, err := pfile.Open(pfile.AtCWD, p.Str(f.mountinfo))
		if err != nil {
			return fmt.Errorf("open %s: %w", f.mountinfo, err)
		}
		f.fd = fd
		var st syscall.Statfs_t
		f.pollable = syscall.Fstatfs(fd, &st) == nil && st.Type == procSuperMagic
	}
	// Generating pid 1's mount table costs the kernel a path walk per mount
	// (hundreds on a host full of containers): poll(2) says whether it changed
	// since the last read (fs/proc_namespace.c, mounts_poll), and an unchanged
	// table is not read again. A fixture's regular file is always read.
	if !f.parsed || !f.pollable || mountsChanged(f.fd) {
		b, err := pfile.PreadFD(f.fd, &f.buf, false)
		if err != nil {
			return fmt.Errorf("read %s: %w", f.mountinfo, err)
		}
		f.reads++
		if !f.parsed || !bytes.Equal(b, f.prev) {
			if err := f.parse(b); err != nil {
				return err
			}
			// A polled table is only read when it changed: no copy to compare
			// the next read with (a host full of containers has ~100 KB of it).
			if !f.pollable {
				f.prev = append(f.prev[:0], b...)
			}
			f.parsed = true
		}
	}
	dst.Mounts = dst.Mounts[:0]
	dst.Unreadable, dst.Malformed = 0, f.malformed
	for i := range f.mounts {
		m := &f.mounts[i]
		if err := statfs(m.path, &f.st); err != nil {
			dst.Unreadable++
			continue
		}
		fs := m.fs
		bs := uint64(f.st.Bsize)
		fs.Total = uint64(f.st.Blocks) * bs
		fs.Free = uint64(f.st.Bfree) * bs
		fs.Avail = uint64(f.st.Bavail) * bs
		fs.Files, fs.FilesFree = uint64(f.st.Files), uint64(f.st.Ffree)
		if fs.Total == 0 {
			continue // the agent skips filesystems of size 0
		}
		dst.Mounts = append(dst.Mounts, fs)
	}
	return nil
}

// parse selects the mounts of mountinfo text b. It allocates: it runs when the
// mount table changed.
func (f *fsReader) parse(b []byte) error {
	var p pfile.Path
	tb, err := pfile.ReadFile(pfile.AtCWD, p.Str(f.filesystems), &f.tbuf)
	if err != nil {
		return fmt.Errorf("read %s: %w", f.filesystems, err)
	}
	types, err := ParseFilesystems(tb, f.types[:0])
	f.types = types
	if err != nil {
		return fmt.Errorf("read %s: %w", f.filesystems, err)
	}
	f.mounts, f.malformed = f.mounts[:0], 0
	// Through pid 1's root when we may enter it, else in our own namespace.
	prefix := f.rootDir
	probe := append([]byte(f.rootDir), '/', 0)
	if statfs(probe, &f.st) != nil {
		prefix = ""
	}
	f.direct = prefix == ""
	var m MountLine
next:
	for len(b) > 0 {
		var ln []byte
		ln, b = line(b)
		if len(trim(ln)) == 0 {
			continue
		}
		if err := ParseMountLine(ln, &m); err != nil {
			f.malformed++
			continue
		}
		f.esc = Unescape(f.esc[:0], m.MountPoint)
		if !keepMount(&m, f.esc, f.types) {
			continue
		}
		for i := range f.mounts {
			if f.mounts[i].fs.Major == m.Major && f.mounts[i].fs.Minor == m.Minor {
				continue next // a bind mount of a filesystem already kept
			}
		}
		path := make([]byte, 0, len(prefix)+len(f.esc)+1)
		path = append(append(append(path, prefix...), f.esc...), 0)
		f.mounts = append(f.mounts, fsMount{
			fs: Filesystem{
				Device:     string(Unescape(nil, m.Source)),
				MountPoint: string(f.esc),
				Type:       string(m.FSType),
				Major:      m.Major,
				Minor:      m.Minor,
			},
			path: path,
		})
	}
	return nil
}

// procSuperMagic is procfs's statfs f_type.
const procSuperMagic = 0x9fa0

// mountsChanged polls a held procfs mount table: POLLERR|POLLPRI once per change
// of its namespace's mounts since the last poll (or the open). A failed poll
// counts as a change.
func mountsChanged(fd int) bool {
	fds := [1]unix.PollFd{{Fd: int32(fd), Events: unix.POLLPRI}}
	for {
		n, err := unix.Poll(fds[:], 0)
		if err == unix.EINTR {
			continue
		}
		return err != nil || n != 0 && fds[0].Revents&(unix.POLLPRI|unix.POLLERR) != 0
	}
}

func (f *fsReader) close() {
	pfile.Close(f.fd)
	f.fd = -1
}

// statfs is statfs(2) on a NUL-terminated path without the copy syscall.Statfs
// makes of a string path. Statfs_t matches the kernel's struct statfs on the
// 64-bit architectures whippet ships for (amd64, arm64).
func statfs(path []byte, st *syscall.Statfs_t) error {
	for {
		_, _, e := syscall.Syscall(syscall.SYS_STATFS, uintptr(unsafe.Pointer(unsafe.SliceData(path))), uintptr(unsafe.Pointer(st)), 0)
		if e == syscall.EINTR {
			continue
		}
		if e != 0 {
			return e
		}
		return nil
	}
}
