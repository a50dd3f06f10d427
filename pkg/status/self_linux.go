package status

import (
	"os"
	"runtime"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/whippet-agent/whippet/pkg/collect/pfile"
	"github.com/whippet-agent/whippet/pkg/collect/proc"
)

// self holds ReadSelf's reused buffers (status requests and cycles may read
// at once).
var self struct {
	mu   sync.Mutex
	fds  pfile.FDCounter
	path pfile.Path
	buf  []byte
}

// ReadSelf measures the agent's own cost: CPU from getrusage, RSS from
// /proc/self/statm (the agent's own /proc, not the host's mount: in a container
// they differ only in the pid namespace, and self resolves in ours).
func ReadSelf() Self {
	var s Self
	var ru unix.Rusage
	if unix.Getrusage(unix.RUSAGE_SELF, &ru) == nil {
		s.CPUSeconds = float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
	}
	s.Goroutines = runtime.NumGoroutine()
	self.mu.Lock()
	defer self.mu.Unlock()
	if b, err := pfile.ReadFile(pfile.AtCWD, self.path.Reset().Str("/proc/self/statm"), &self.buf); err == nil {
		var m proc.Statm
		if proc.ParseStatm(b, &m) == nil {
			s.RSSBytes = m.Resident * uint64(os.Getpagesize())
		}
	}
	// The agent holds thousands of descriptors on a large host: counted from
	// /proc/self/fd's size where the kernel reports it, else with raw getdents
	// (a name string per descriptor was most of what the agent allocated
	// between cycles).
	if n, err := self.fds.Count(pfile.AtCWD, self.path.Reset().Str("/proc/self/fd"), 1); err == nil {
		s.OpenFDs = int(n)
	}
	return s
}
