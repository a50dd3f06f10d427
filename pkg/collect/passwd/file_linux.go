package passwd

import (
	"syscall"

	"github.com/whippet-agent/whippet/pkg/collect/pfile"
)

// file checks the passwd file for changes and reads it, without allocating when
// it did not change.
type file struct {
	path pfile.Path
	st   syscall.Stat_t
	id   identity
	seen bool
	buf  []byte
}

// identity is what tells one version of the file from another.
type identity struct {
	dev, ino uint64
	size     int64
	mtime    syscall.Timespec
}

func (f *file) init(path string) { f.path.Reset().Str(path) }

// load returns the file's content if it differs from the last load. The content
// and the identity come from the same open file, so a replacement racing with
// the check cannot pair one version's identity with another's content.
func (f *file) load() (b []byte, changed bool, err error) {
	fd, err := pfile.Open(pfile.AtCWD, &f.path)
	if err != nil {
		return nil, false, err
	}
	defer pfile.Close(fd)
	if err := syscall.Fstat(fd, &f.st); err != nil {
		return nil, false, err
	}
	id := identity{dev: uint64(f.st.Dev), ino: uint64(f.st.Ino), size: f.st.Size, mtime: f.st.Mtim}
	if f.seen && id == f.id {
		return nil, false, nil
	}
	if b, err = pfile.ReadFD(fd, &f.buf, false); err != nil {
		return nil, false, err
	}
	f.id, f.seen = id, true
	return b, true, nil
}
