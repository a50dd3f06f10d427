//go:build linux

package pfile

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// FDCounter counts a process's open descriptors from its /proc/<pid>/fd.
//
// Since Linux 6.2 a stat of that directory reports the count as its size
// (fs/proc/fd.c: proc_fd_getattr), one statx instead of open, getdents over
// every descriptor and close. Older kernels report 0 and a fixture tree
// reports its own directory size, so the counter trusts the size only after
// it matched a listing of a process with descriptors, and lists otherwise.
// Not safe for concurrent use.
type FDCounter struct {
	mode    uint8 // fdUnknown, fdStat or fdList
	misses  uint8 // listings that disagreed with the size while unknown
	dents   []byte
	stx     unix.Statx_t
	statted uint64 // counts taken from the size
	listed  uint64 // counts taken by listing
}

const (
	fdUnknown = iota
	fdStat
	fdList
	// A listing and a stat race with the process opening and closing files:
	// this many disagreements while unknown mean the size is not a count.
	fdMaxMisses = 4
)

// Count returns the number of open descriptors in the fd directory p (relative
// to dirfd), minus self (1 when p is the caller's own fd directory, whose
// listing includes the descriptor it is read through; 0 otherwise).
func (c *FDCounter) Count(dirfd int, p *Path, self int64) (int64, error) {
	if c.mode != fdList {
		size, err := c.statSize(dirfd, p)
		if err != nil {
			return 0, err
		}
		if c.mode == fdStat {
			c.statted++
			return size, nil
		}
		n, err := c.list(dirfd, p)
		if err != nil {
			return 0, err
		}
		switch {
		case n > self && size == n-self:
			c.mode = fdStat
		case size == 0 && n > self:
			c.mode = fdList // a kernel without the count
		case size != n-self:
			if c.misses++; c.misses >= fdMaxMisses {
				c.mode = fdList
			}
		}
		return n - self, nil
	}
	n, err := c.list(dirfd, p)
	return n - self, err
}

// statSize returns st_size of p without opening it (statx with only the size
// asked for: procfs fills it from the open-file table).
func (c *FDCounter) statSize(dirfd int, p *Path) (int64, error) {
	ptr := p.cstr()
	for {
		_, _, e := syscall.Syscall6(unix.SYS_STATX, uintptr(dirfd), uintptr(unsafe.Pointer(ptr)),
			unix.AT_STATX_DONT_SYNC, unix.STATX_SIZE, uintptr(unsafe.Pointer(&c.stx)), 0)
		if e == syscall.EINTR {
			continue
		}
		if e != 0 {
			return 0, e
		}
		return int64(c.stx.Size), nil
	}
}

func (c *FDCounter) list(dirfd int, p *Path) (int64, error) {
	if c.dents == nil {
		c.dents = make([]byte, 8<<10)
	}
	fd, err := OpenDir(dirfd, p)
	if err != nil {
		return 0, err
	}
	n := int64(0)
	err = Getdents(fd, c.dents, func(name []byte, _ uint8) {
		if len(name) > 0 && name[0] != '.' {
			n++
		}
	})
	Close(fd)
	c.listed++
	return n, err
}
