//go:build linux

package proc

import (
	"errors"
	"fmt"
	"syscall"

	"github.com/whippet-agent/whippet/pkg/collect/hostfs"
	"github.com/whippet-agent/whippet/pkg/collect/pfile"
)

// Reader reads per-process files under one proc mount. It is not safe for
// concurrent use: one collector goroutine owns it.
type Reader struct {
	procfd  int
	procDir string
	path    pfile.Path
	buf     []byte
	dents   []byte
	held    int
	maxHeld int
	hold    Files
	sched   bool // the kernel has /proc/<pid>/schedstat (CONFIG_SCHED_INFO)
}

// NewReader opens the proc mount of root.
func NewReader(root hostfs.Root, opt Options) (*Reader, error) {
	var p pfile.Path
	dir := root.Proc()
	fd, err := pfile.OpenDir(pfile.AtCWD, p.Str(dir))
	if err != nil {
		return nil, fmt.Errorf("open proc dir %s: %w", dir, err)
	}
	r := &Reader{procfd: fd, procDir: dir, buf: make([]byte, pfile.MinBuf), dents: make([]byte, 32<<10)}
	r.maxHeld = opt.MaxHeld
	if r.maxHeld == 0 {
		r.maxHeld = DefaultMaxHeld
	}
	if r.maxHeld < 0 {
		r.maxHeld = 0
	}
	// Never hold so many that opening anything else fails with EMFILE: leave a
	// quarter of the open-file limit (at least 256) to the rest of the agent.
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) == nil && lim.Cur < 1<<31 {
		if room := int(lim.Cur) - max(int(lim.Cur)/4, 256); r.maxHeld > room {
			r.maxHeld = max(room, 0)
		}
	}
	r.hold = opt.Held
	if r.hold == 0 {
		r.hold = DefaultHeld
	}
	// schedstat exists for every task or for none: probe it once.
	if _, err := pfile.ReadFile(fd, r.path.Reset().Str("self/schedstat"), &r.buf); err == nil {
		r.sched = true
	}
	return r, nil
}

// Close closes the proc directory. Handles must be Released first to close theirs.
// Close is idempotent.
func (r *Reader) Close() error {
	if r.procfd >= 0 {
		pfile.Close(r.procfd)
		r.procfd = -1
	}
	return nil
}

// HasSchedstat reports whether the host's kernel has /proc/<pid>/schedstat.
func (r *Reader) HasSchedstat() bool { return r.sched }

// HeldFDs is the number of descriptors currently held for processes.
func (r *Reader) HeldFDs() int { return r.held }

// Pids appends the numeric entries of the proc directory to dst[:0].
func (r *Reader) Pids(dst []int32) ([]int32, error) {
	dst = dst[:0]
	err := pfile.Getdents(r.procfd, r.dents, func(name []byte, typ uint8) {
		if typ != syscall.DT_DIR && typ != syscall.DT_UNKNOWN {
			return
		}
		v, err := parseUint(name)
		if err != nil || v == 0 || v > 1<<31-1 {
			return
		}
		dst = append(dst, int32(v))
	})
	if err != nil {
		return dst, fmt.Errorf("list %s: %w", r.procDir, err)
	}
	return dst, nil
}

// Read returns the content of file f of h's process, valid until the next call on r.
// It re-reads a held descriptor with pread, or opens the file and, when f is in the
// held set and the cap allows, keeps the descriptor for next time.
//
// A process that has exited yields ErrGone. Other failures (EACCES on io without
// CAP_SYS_PTRACE, for every process, every cycle) are returned as the bare
// syscall.Errno: wrapping here would allocate per process per cycle, so callers
// count them and wrap with Path only when they log.
func (r *Reader) Read(h *Handle, f File) ([]byte, error) {
	single := f != FileCmdline // cmdline is not a seq_file: read it to EOF
	if fd := h.fds[f]; fd != 0 {
		b, err := r.readFD(int(fd-1), f, single, true)
		if err != nil {
			return nil, r.wrap(h, f, err)
		}
		return b, nil
	}
	r.path.Reset().Uint(uint64(h.PID)).Str("/").Str(fileNames[f])
	fd, err := pfile.Open(r.procfd, &r.path)
	if err != nil {
		return nil, r.wrap(h, f, err)
	}
	b, err := r.readFD(fd, f, single, false)
	if err == nil && r.hold.Has(f) && r.held < r.maxHeld {
		h.fds[f] = int32(fd) + 1
		r.held++
		return b, nil
	}
	pfile.Close(fd)
	if err != nil {
		return nil, r.wrap(h, f, err)
	}
	return b, nil
}

func (r *Reader) readFD(fd int, f File, single, positional bool) ([]byte, error) {
	if f == FileCmdline {
		return r.readCmdline(fd, positional)
	}
	if positional {
		return pfile.PreadFD(fd, &r.buf, single)
	}
	return pfile.ReadFD(fd, &r.buf, single)
}

// readCmdline reads at most MaxCmdline bytes.
func (r *Reader) readCmdline(fd int, positional bool) ([]byte, error) {
	if cap(r.buf) < MaxCmdline {
		// Grow once to the bound so long command lines never reallocate.
		r.buf = make([]byte, MaxCmdline)
	}
	b := r.buf[:MaxCmdline]
	n := 0
	for n < len(b) {
		var m int
		var err error
		if positional {
			m, err = syscall.Pread(fd, b[n:], int64(n))
		} else {
			m, err = syscall.Read(fd, b[n:])
		}
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return nil, err
		}
		if m == 0 {
			break
		}
		n += m
	}
	return b[:n], nil
}

func (r *Reader) wrap(h *Handle, f File, err error) error {
	if pfile.IsGone(err) {
		r.drop(h, f)
		return ErrGone
	}
	return err
}

// Path is the path of file f of pid, for error messages (it allocates).
func (r *Reader) Path(pid int32, f File) string {
	return fmt.Sprintf("%s/%d/%s", r.procDir, pid, f)
}

// drop closes h's descriptor for f if held.
func (r *Reader) drop(h *Handle, f File) {
	if fd := h.fds[f]; fd != 0 {
		pfile.Close(int(fd - 1))
		h.fds[f] = 0
		r.held--
	}
}

// Release closes every descriptor held for h.
func (r *Reader) Release(h *Handle) {
	for f := File(0); f < NumFiles; f++ {
		r.drop(h, f)
	}
}

// IsGone reports whether err means the process no longer exists.
func IsGone(err error) bool { return errors.Is(err, ErrGone) }

// RaiseNoFileLimit raises the soft RLIMIT_NOFILE to the hard limit, so that held
// descriptors do not starve the rest of the agent. It returns the new soft limit.
func RaiseNoFileLimit() (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Errorf("getrlimit nofile: %w", err)
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			return 0, fmt.Errorf("setrlimit nofile %d: %w", lim.Max, err)
		}
	}
	return lim.Cur, nil
}
