//go:build linux

package bpf

import (
	"testing"
	"unsafe"
)

// TestLayout checks decode's fixed offsets against the Go mirror bpf2go generated
// from the C struct's BTF, so an edit of struct event that forgets decode fails here.
func TestLayout(t *testing.T) {
	t.Parallel()
	var e tracerEvent
	for _, f := range []struct {
		name      string
		got, want uintptr
	}{
		{"type", unsafe.Offsetof(e.Type), offType},
		{"pid", unsafe.Offsetof(e.Pid), offPID},
		{"tgid", unsafe.Offsetof(e.Tgid), offTGID},
		{"ppid", unsafe.Offsetof(e.Ppid), offPPID},
		{"uid", unsafe.Offsetof(e.Uid), offUID},
		{"gid", unsafe.Offsetof(e.Gid), offGID},
		{"cgroup_id", unsafe.Offsetof(e.CgroupId), offCgroupID},
		{"memcg_id", unsafe.Offsetof(e.MemcgId), offMemcgID},
		{"start_ns", unsafe.Offsetof(e.StartNs), offStartNs},
		{"time_ns", unsafe.Offsetof(e.TimeNs), offTimeNs},
		{"exit_code", unsafe.Offsetof(e.ExitCode), offExitCode},
		{"filename_len", unsafe.Offsetof(e.FilenameLen), offFilenameLen},
		{"cpu_ns", unsafe.Offsetof(e.CpuNs), offCPUNs},
		{"maxrss_pages", unsafe.Offsetof(e.MaxrssPages), offMaxRSSPages},
		{"comm", unsafe.Offsetof(e.Comm), offComm},
		{"filename", unsafe.Offsetof(e.Filename), offFilename},
		{"sizeof", unsafe.Sizeof(e), execSize},
		{"exit record", unsafe.Offsetof(e.Filename), exitSize},
		{"fork record", unsafe.Offsetof(e.Filename), forkSize},
		{"len(comm)", uintptr(len(e.Comm)), 16},
		{"len(filename)", uintptr(len(e.Filename)), FilenameMax},
	} {
		if f.got != f.want {
			t.Errorf("struct event %s at %d, decode uses %d", f.name, f.got, f.want)
		}
	}
}
