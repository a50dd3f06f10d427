//go:build linux

// Package pfile reads kernel pseudo-files (procfs, cgroupfs, sysfs) with the fewest
// syscalls and no allocations.
//
// os.ReadFile on a procfs file costs ten syscalls in Go 1.26 (open, fcntl×4, epoll_ctl,
// fstat, two reads, close: see shared/spec/performance.md §1) and allocates a path
// string and a buffer each time. Here a file costs openat+read+close, or a single
// pread on a held descriptor, into a caller-owned buffer, with the path built in a
// caller-owned NUL-terminated byte slice.
package pfile

import (
	"errors"
	"fmt"
	"strconv"
	"syscall"
	"unsafe"
)

// MinBuf is the starting size of a read buffer; buffers grow by doubling when a file
// fills them, so steady state never grows again.
const MinBuf = 4096

// Path is a reusable NUL-terminated path. Building it with Set/Append does not
// allocate once its capacity has been reached.
type Path struct{ b []byte }

// Reset empties p, keeping its capacity.
func (p *Path) Reset() *Path { p.b = p.b[:0]; return p }

// Str appends s.
func (p *Path) Str(s string) *Path { p.b = append(p.b, s...); return p }

// Bytes appends b.
func (p *Path) Bytes(b []byte) *Path { p.b = append(p.b, b...); return p }

// Uint appends the decimal form of n.
func (p *Path) Uint(n uint64) *Path { p.b = strconv.AppendUint(p.b, n, 10); return p }

// String returns the path for error messages (it allocates; use on error paths only).
func (p *Path) String() string { return string(p.b) }

// cstr returns a pointer to p's bytes followed by a NUL.
func (p *Path) cstr() *byte {
	p.b = append(p.b, 0)
	p.b = p.b[:len(p.b)-1]
	return unsafe.SliceData(p.b)
}

// AtCWD makes Open resolve paths relative to the working directory (absolute paths
// ignore the directory fd anyway).
const AtCWD = -0x64 // AT_FDCWD

// Open opens p read-only relative to dirfd (AtCWD or an open directory).
func Open(dirfd int, p *Path) (int, error) {
	ptr := p.cstr()
	for {
		fd, _, e := syscall.Syscall6(syscall.SYS_OPENAT, uintptr(dirfd), uintptr(unsafe.Pointer(ptr)),
			syscall.O_RDONLY|syscall.O_CLOEXEC|syscall.O_NOCTTY, 0, 0, 0)
		if e == syscall.EINTR {
			continue
		}
		if e != 0 {
			return -1, e
		}
		return int(fd), nil
	}
}

// OpenDir opens p as a directory (for OpenAt-relative reads and ReadDir).
func OpenDir(dirfd int, p *Path) (int, error) {
	ptr := p.cstr()
	fd, _, e := syscall.Syscall6(syscall.SYS_OPENAT, uintptr(dirfd), uintptr(unsafe.Pointer(ptr)),
		syscall.O_RDONLY|syscall.O_CLOEXEC|syscall.O_DIRECTORY, 0, 0, 0)
	if e != 0 {
		return -1, e
	}
	return int(fd), nil
}

// Close closes fd, ignoring EINTR as Linux always releases the descriptor.
func Close(fd int) {
	if fd >= 0 {
		_ = syscall.Close(fd)
	}
}

// ReadFile opens p relative to dirfd, reads it to EOF into *buf (growing it) and
// closes it. It returns the content, valid until *buf is next used.
func ReadFile(dirfd int, p *Path, buf *[]byte) ([]byte, error) {
	fd, err := Open(dirfd, p)
	if err != nil {
		return nil, err
	}
	b, err := ReadFD(fd, buf, false)
	Close(fd)
	return b, err
}

// ReadFD reads fd to EOF into *buf with read(2), growing *buf as needed.
//
// single says the file is generated in one piece (procfs single_open files such as
// /proc/<pid>/stat, status, statm, io): a read that does not fill the buffer then
// returned everything, which saves the read that would return 0. Multi-record
// seq_files (/proc/net/dev, diskstats) may return short reads before EOF, so they
// must pass single=false.
func ReadFD(fd int, buf *[]byte, single bool) ([]byte, error) {
	return readAll(fd, buf, single, false)
}

// PreadFD re-reads a held descriptor from offset 0 with pread(2). On procfs and
// cgroupfs seq_files a read at offset 0 restarts the iterator and regenerates the
// text (fs/seq_file.c: seq_read_iter resets when ki_pos is 0), so a held fd gives
// fresh values; a held /proc/<pid>/* fd fails with ESRCH once the task is reaped
// (it is bound to its struct pid, so pid reuse cannot redirect it), and a held
// cgroup v1 file fails with ENODEV once the cgroup is removed.
func PreadFD(fd int, buf *[]byte, single bool) ([]byte, error) {
	return readAll(fd, buf, single, true)
}

func readAll(fd int, buf *[]byte, single, positional bool) ([]byte, error) {
	if cap(*buf) < MinBuf {
		*buf = make([]byte, MinBuf)
	}
	b := (*buf)[:cap(*buf)]
	n := 0
	for {
		var m int
		var err error
		if positional {
			m, err = pread(fd, b[n:], int64(n))
		} else {
			m, err = read(fd, b[n:])
		}
		if err != nil {
			return nil, err
		}
		if m == 0 {
			break
		}
		n += m
		if n < len(b) {
			if single {
				break
			}
			continue
		}
		// Full: grow and keep reading where we stopped.
		nb := make([]byte, 2*len(b))
		copy(nb, b[:n])
		b = nb
		*buf = b
	}
	return b[:n], nil
}

func read(fd int, p []byte) (int, error) {
	for {
		n, _, e := syscall.Syscall(syscall.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)))
		if e == syscall.EINTR {
			continue
		}
		if e != 0 {
			return 0, e
		}
		return int(n), nil
	}
}

func pread(fd int, p []byte, off int64) (int, error) {
	for {
		n, _, e := syscall.Syscall6(syscall.SYS_PREAD64, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)), uintptr(off), 0, 0)
		if e == syscall.EINTR {
			continue
		}
		if e != 0 {
			return 0, e
		}
		return int(n), nil
	}
}

// Getdents reads directory entries of the open directory fd into buf and calls fn
// with each entry name (valid only during the call). It rewinds fd first, so a held
// directory fd lists afresh each time.
func Getdents(fd int, buf []byte, fn func(name []byte, typ uint8)) error {
	if _, err := syscall.Seek(fd, 0, 0); err != nil {
		return fmt.Errorf("rewind dir: %w", err)
	}
	for {
		n, _, e := syscall.Syscall(syscall.SYS_GETDENTS64, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(buf))), uintptr(len(buf)))
		if e == syscall.EINTR {
			continue
		}
		if e != 0 {
			return e
		}
		if n == 0 {
			return nil
		}
		b := buf[:n]
		for len(b) >= 19 {
			// struct linux_dirent64 { u64 ino; s64 off; u16 reclen; u8 type; char name[]; }
			reclen := int(b[16]) | int(b[17])<<8
			if reclen < 19 || reclen > len(b) {
				return errors.New("getdents64: corrupt record")
			}
			typ := b[18]
			name := b[19:reclen]
			for i, c := range name {
				if c == 0 {
					name = name[:i]
					break
				}
			}
			fn(name, typ)
			b = b[reclen:]
		}
	}
}

// IsGone reports whether err means the object read no longer exists: a process
// that exited (ENOENT on open, ESRCH on a held fd) or a removed cgroup (ENODEV).
func IsGone(err error) bool {
	return errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ESRCH) || errors.Is(err, syscall.ENODEV)
}
