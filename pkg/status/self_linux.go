package status

import (
	"os"
	"runtime"

	"golang.org/x/sys/unix"

	"github.com/whippet-agent/whippet/pkg/collect/pfile"
	"github.com/whippet-agent/whippet/pkg/collect/proc"
)

// ReadSelf measures the agent's own cost: CPU from getrusage, RSS from
// /proc/self/statm (the agent's own /proc, not the host's mount: in a container
// they differ only in the pid namespace, and self resolves in ours).
func ReadSelf() Self {
	var s Self
	var ru unix.Rusage
	if unix.Getrusage(unix.RUSAGE_SELF, &ru) == nil {
		s.CPUSeconds = float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
	}
	if b, err := os.ReadFile("/proc/self/statm"); err == nil {
		var m proc.Statm
		if proc.ParseStatm(b, &m) == nil {
			s.RSSBytes = m.Resident * uint64(os.Getpagesize())
		}
	}
	s.Goroutines = runtime.NumGoroutine()
	// Counted with raw getdents: the agent holds thousands of descriptors on a
	// large host, and a name string per descriptor per status request was most
	// of what the agent allocated between cycles.
	var p pfile.Path
	if fd, err := pfile.OpenDir(unix.AT_FDCWD, p.Str("/proc/self/fd")); err == nil {
		n := -1 // the directory's own descriptor
		buf := make([]byte, 16<<10)
		if pfile.Getdents(fd, buf, func(name []byte, _ uint8) {
			if len(name) > 0 && name[0] != '.' {
				n++
			}
		}) == nil {
			s.OpenFDs = n
		}
		pfile.Close(fd)
	}
	return s
}
