//go:build !linux

package passwd

import (
	"os"
	"time"
)

// file checks the passwd file for changes and reads it (portable version; the
// Linux one does not allocate).
type file struct {
	path  string
	size  int64
	mtime time.Time
	seen  bool
}

func (f *file) init(path string) { f.path = path }

func (f *file) load() (b []byte, changed bool, err error) {
	fi, err := os.Stat(f.path)
	if err != nil {
		return nil, false, err
	}
	if f.seen && fi.Size() == f.size && fi.ModTime().Equal(f.mtime) {
		return nil, false, nil
	}
	if b, err = os.ReadFile(f.path); err != nil {
		return nil, false, err
	}
	f.size, f.mtime, f.seen = fi.Size(), fi.ModTime(), true
	return b, true, nil
}
