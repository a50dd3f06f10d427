//go:build linux

package cgroup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/whippet-agent/whippet/pkg/collect/hostfs"
	"github.com/whippet-agent/whippet/pkg/collect/pfile"
	"github.com/whippet-agent/whippet/pkg/collect/proc"
)

// Reader reads the cgroups of containers under one host root. It is not safe for
// concurrent use: one collector goroutine owns it.
type Reader struct {
	mode    Mode
	root    string // the cgroup mount, for errors
	procfd  int
	ctlfd   [NumControllers]int // the mount directory of each hierarchy, -1 if absent
	files   []file
	path    pfile.Path
	buf     []byte
	cgs     proc.Cgroups
	held    int // descriptors held, all handles
	limits  int // of which limit files
	handles int // open handles
	cycle   int // per-cycle files of a container
	maxHeld int
	every   uint32
}

// NewReader detects the cgroup layout of root and opens its mounts.
func NewReader(root hostfs.Root, opt Options) (*Reader, error) {
	mode, err := Detect(root)
	if err != nil {
		return nil, err
	}
	r := &Reader{mode: mode, root: root.Cgroup(), procfd: -1, buf: make([]byte, pfile.MinBuf)}
	for i := range r.ctlfd {
		r.ctlfd[i] = -1
	}
	r.maxHeld = opt.MaxHeld
	if r.maxHeld == 0 {
		r.maxHeld = DefaultMaxHeld
	}
	if r.maxHeld < 0 {
		r.maxHeld = 0
	}
	r.every = uint32(max(opt.LimitsEvery, 0))
	if r.every == 0 {
		r.every = DefaultLimitsEvery
	}
	if r.procfd, err = pfile.OpenDir(pfile.AtCWD, r.path.Reset().Str(root.Proc())); err != nil {
		return nil, fmt.Errorf("open proc dir %s: %w", root.Proc(), err)
	}
	if err := r.openMounts(); err != nil {
		r.Close()
		return nil, err
	}
	switch mode {
	case ModeV2:
		r.files = filesV2[:]
	default:
		r.files = filesV1[:]
		if opt.HybridPSI && mode == ModeHybrid {
			r.files = append(filesV1[:len(filesV1):len(filesV1)], filesPSI[:]...)
		}
	}
	for _, f := range r.files {
		if !f.limit {
			r.cycle++
		}
	}
	return r, nil
}

// openMounts opens the directory of each hierarchy: the root on v2; on v1 the mount
// of each controller, found by name among the root's entries ("cpu", or a co-mount
// such as "cpu,cpuacct"), and unified/ on hybrid hosts.
func (r *Reader) openMounts() error {
	open := func(ctl Controller, dir string) error {
		fd, err := pfile.OpenDir(pfile.AtCWD, r.path.Reset().Str(dir))
		if err != nil {
			return fmt.Errorf("open cgroup mount %s: %w", dir, err)
		}
		r.ctlfd[ctl] = fd
		return nil
	}
	if r.mode == ModeV2 {
		return open(Unified, r.root)
	}
	ents, err := os.ReadDir(r.root)
	if err != nil {
		return fmt.Errorf("list cgroup mounts: %w", err)
	}
	for _, ctl := range v1Controllers {
		name := ""
		for _, e := range ents {
			if e.Name() == controllerNames[ctl] {
				name = e.Name()
				break
			}
			if name == "" && hasController(e.Name(), ctl) {
				name = e.Name()
			}
		}
		if name == "" {
			continue // not mounted: its fields are absent
		}
		if err := open(ctl, filepath.Join(r.root, name)); err != nil {
			return err
		}
	}
	if r.mode == ModeHybrid {
		return open(Unified, filepath.Join(r.root, "unified"))
	}
	return nil
}

// Mode is the host's cgroup layout.
func (r *Reader) Mode() Mode { return r.mode }

// HeldFDs is the number of descriptors currently held for containers.
func (r *Reader) HeldFDs() int { return r.held }

// Close closes the mount directories. Handles must be Released first to close
// theirs. Close is idempotent.
func (r *Reader) Close() error {
	pfile.Close(r.procfd)
	r.procfd = -1
	for i, fd := range r.ctlfd {
		pfile.Close(fd)
		r.ctlfd[i] = -1
	}
	return nil
}

// Locate finds the cgroup of the container whose process pid is (its init, from
// the container runtime) from <proc>/<pid>/cgroup. It returns ErrGone if the process
// is gone, an error wrapping ErrNotContainer if its cgroup names no container (a
// host process), and ErrNamespace if the agent sees cgroup paths relative to a
// private cgroup namespace. It allocates only when a path differs from what p holds.
func (r *Reader) Locate(pid int32, p *Paths) error {
	b, err := pfile.ReadFile(r.procfd, r.path.Reset().Uint(uint64(pid)).Str("/cgroup"), &r.buf)
	if err != nil {
		if pfile.IsGone(err) {
			return ErrGone
		}
		return fmt.Errorf("read %s: %w", r.path.String(), err)
	}
	if err := proc.ParseCgroups(b, &r.cgs); err != nil {
		return fmt.Errorf("pid %d: %w", pid, err)
	}
	if err := locate(&r.cgs, r.mode, p); err != nil {
		if err == ErrGone || err == ErrNamespace {
			return err
		}
		return fmt.Errorf("pid %d: %w", pid, err)
	}
	return nil
}

// Handle is one container's read state: its cgroup paths, the descriptors held for
// it, and its limits as last read. The zero Handle is ready for Open; Release it
// when the container is gone.
type Handle struct {
	paths  Paths
	fds    [maxFiles]int32 // fd+1; 0 = not held
	absent uint32          // files this cgroup lacks (bit per index in Reader.files)
	reads  uint32
	lim    limits
	open   bool
}

// Held reports how many descriptors h holds.
func (h *Handle) Held() int {
	n := 0
	for _, fd := range h.fds {
		if fd != 0 {
			n++
		}
	}
	return n
}

// Paths are the cgroup paths h was opened on.
func (h *Handle) Paths() *Paths { return &h.paths }

// Open prepares h to read the cgroup of p, releasing what h held before. It returns
// ErrGone if the cgroup does not exist (any more). Descriptors are opened by Read.
func (r *Reader) Open(h *Handle, p *Paths) error {
	r.Release(h)
	*h = Handle{paths: *p}
	if p.mode != r.mode {
		return fmt.Errorf("open cgroup %s: paths located on a %v host, reader is %v", p, p.mode, r.mode)
	}
	ctl := Unified
	if r.mode != ModeV2 {
		ctl = NumControllers
		for _, c := range v1Controllers {
			if p.dirs[c] != "" && r.ctlfd[c] >= 0 {
				ctl = c
				break
			}
		}
		if ctl == NumControllers {
			return fmt.Errorf("open cgroup %s: no path below a mounted controller", p)
		}
	}
	fd, err := pfile.OpenDir(r.ctlfd[ctl], r.relPath(p.dirs[ctl], ""))
	if err != nil {
		if pfile.IsGone(err) {
			return ErrGone
		}
		return fmt.Errorf("open cgroup %s: %w", p, err)
	}
	pfile.Close(fd)
	h.open = true
	r.handles++
	return nil
}

// Release closes every descriptor held for h. It is idempotent.
func (r *Reader) Release(h *Handle) {
	for i, fd := range h.fds {
		if fd != 0 {
			pfile.Close(int(fd - 1))
			h.fds[i] = 0
			r.held--
			if r.files[i].limit {
				r.limits--
			}
		}
	}
	if h.open {
		h.open = false
		r.handles--
	}
}

// hold reports whether a descriptor of f may be kept. Per-cycle files come first:
// a limit file, read once in Options.LimitsEvery cycles, is held only while the cap
// leaves room for the per-cycle files of every open handle.
func (r *Reader) hold(f *file) bool {
	if r.held >= r.maxHeld {
		return false
	}
	return !f.limit || r.handles*r.cycle+r.limits < r.maxHeld
}

// relPath builds dir/name relative to the hierarchy's mount in r.path ("." for the
// root itself).
func (r *Reader) relPath(dir, name string) *pfile.Path {
	p := r.path.Reset()
	for len(dir) > 0 && dir[0] == '/' {
		dir = dir[1:]
	}
	switch {
	case dir == "" && name == "":
		p.Str(".")
	case dir == "":
		p.Str(name)
	case name == "":
		p.Str(dir)
	default:
		p.Str(dir).Str("/").Str(name)
	}
	return p
}

// errAbsent: the cgroup has no such file (an older kernel, a controller not
// mounted or not enabled): its fields stay absent.
var errAbsent = errors.New("absent")

// Read reads the container's cgroup into s (reset first; IO.Devices keeps its
// capacity). It returns ErrGone, with every descriptor of h released, once the
// cgroup has been removed (ENODEV on a held descriptor, ENOENT on open). Other
// failures of one file leave its fields absent and the first is returned after the
// rest was read. It does not allocate in steady state.
func (r *Reader) Read(h *Handle, s *Stats) error {
	s.Reset()
	if !h.open {
		return errors.New("read cgroup: handle not open")
	}
	refresh := h.reads%r.every == 0
	h.reads++
	if refresh {
		h.lim = limits{}
	}
	var first error
	for i := range r.files {
		f := &r.files[i]
		if f.limit && !refresh {
			continue
		}
		b, err := r.read(h, i, f)
		if err == nil {
			err = parseFile(f.kind, b, s, &h.lim)
		} else if err == errAbsent {
			continue
		} else if err == ErrGone {
			r.Release(h)
			return ErrGone
		}
		if err != nil && first == nil {
			first = fmt.Errorf("read cgroup %s: %s: %w", &h.paths, f.name, err)
		}
	}
	h.lim.apply(s)
	if refresh {
		h.lim.keepSlow(s)
	} else {
		h.lim.applySlow(s)
	}
	s.finish()
	return first
}

// read returns the content of file i of h's cgroup.
func (r *Reader) read(h *Handle, i int, f *file) ([]byte, error) {
	if h.absent&(1<<i) != 0 {
		return nil, errAbsent
	}
	// Every cgroup file is a kernfs seq_file printed by one show() call
	// (kernfs_seq_start yields a single record for files without their own
	// seq_start), so a short read returned everything (single); pread at offset 0
	// restarts it and prints fresh values (fs/seq_file.c seq_read_iter), and a held
	// descriptor of a removed cgroup fails with ENODEV (fs/kernfs/file.c:
	// kernfs_get_active fails once the node is deactivated).
	if fd := h.fds[i]; fd != 0 {
		b, err := pfile.PreadFD(int(fd-1), &r.buf, true)
		if err != nil {
			if pfile.IsGone(err) {
				return nil, ErrGone
			}
			return nil, err
		}
		return b, nil
	}
	dir := h.paths.Path(f.ctl)
	dirfd := r.ctlfd[f.ctl]
	if r.mode == ModeV2 {
		dirfd = r.ctlfd[Unified]
	}
	if dir == "" || dirfd < 0 {
		h.absent |= 1 << i
		return nil, errAbsent
	}
	fd, err := pfile.Open(dirfd, r.relPath(dir, f.name))
	if err != nil {
		if err == syscall.ENOENT {
			// The file, or the whole cgroup? Only the first is "absent".
			dfd, derr := pfile.OpenDir(dirfd, r.relPath(dir, ""))
			if derr == nil {
				pfile.Close(dfd)
				h.absent |= 1 << i
				return nil, errAbsent
			}
		}
		if pfile.IsGone(err) {
			return nil, ErrGone
		}
		return nil, err
	}
	b, err := pfile.ReadFD(fd, &r.buf, true)
	if err == nil && r.hold(f) {
		h.fds[i] = int32(fd) + 1
		r.held++
		if f.limit {
			r.limits++
		}
		return b, nil
	}
	pfile.Close(fd)
	if err != nil {
		if pfile.IsGone(err) {
			return nil, ErrGone
		}
		return nil, err
	}
	return b, nil
}

// Inode returns the inode number of the cgroup directory of p under controller c:
// the kernel's cgroup id for that hierarchy (kernfs node id), which is what eBPF
// programs read from a task (bpf_get_current_cgroup_id for v2, the memory
// controller's css for v1). It maps events to containers without a path lookup.
func (r *Reader) Inode(p *Paths, c Controller) (uint64, error) {
	if c >= NumControllers || r.ctlfd[c] <= 0 {
		return 0, fmt.Errorf("cgroup inode: controller %s not mounted", c)
	}
	rel := strings.TrimPrefix(p.Path(c), "/")
	if rel == "" {
		rel = "."
	}
	var st unix.Stat_t
	if err := unix.Fstatat(r.ctlfd[c], rel, &st, 0); err != nil {
		return 0, fmt.Errorf("cgroup inode %s: %w", p.Path(c), err)
	}
	return st.Ino, nil
}
