package status

import (
	"os"
	"runtime"

	"golang.org/x/sys/unix"

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
	if f, err := os.Open("/proc/self/fd"); err == nil {
		names, _ := f.Readdirnames(-1)
		f.Close()
		s.OpenFDs = len(names) - 1 // the directory itself
	}
	return s
}
