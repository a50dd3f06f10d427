package procevent

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/whippet-agent/whippet/bpf"
)

func TestFromBPF(t *testing.T) {
	exec := bpf.Event{Type: bpf.Exec, PID: 5, TGID: 5, PPID: 1, UID: 2, GID: 3, CgroupID: 4, MemCgroupID: 6,
		StartNs: 7, TimeNs: 8, FilenameLen: 4}
	copy(exec.Comm[:], "true")
	copy(exec.Filename[:], "/bin")
	exit := bpf.Event{Type: bpf.Exit, PID: 6, TGID: 5, PPID: 1, StartNs: 7, TimeNs: 9, ExitCode: 0x300, CPUNs: 10, MaxRSSKB: 11}
	var got Event
	fromBPF(&got, &exec)
	want := Event{Type: Exec, Has: bpfExecFields, PID: 5, TGID: 5, PPID: 1, UID: 2, GID: 3, CgroupID: 4, MemCgroupID: 6,
		StartNs: 7, TimeNs: 8, FilenameLen: 4, Comm: exec.Comm}
	copy(want.Filename[:], "/bin")
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("fromBPF(exec) (-want +got):\n%s", diff)
	}
	fromBPF(&got, &exit) // reusing the Event of the exec
	if got.Type != Exit || got.Has != bpfExitFields || got.FilenameLen != 0 || got.ExitNs != 9 || got.ExitCode != 0x300 ||
		got.CPUNs != 10 || got.MaxRSSKB != 11 || got.PID != 6 || got.TGID != 5 {
		t.Errorf("fromBPF(exit) = %+v", got)
	}
	fork := bpf.Event{Type: bpf.Fork, PID: 7, TGID: 7, PPID: 5, UID: 2, GID: 3, CgroupID: 4, MemCgroupID: 6, StartNs: 10, TimeNs: 11, Comm: exec.Comm}
	fromBPF(&got, &exec)
	fromBPF(&got, &fork) // reusing the Event of an exec: no filename may remain
	wantFork := Event{Type: Fork, Has: bpfForkFields, PID: 7, TGID: 7, PPID: 5, UID: 2, GID: 3, CgroupID: 4, MemCgroupID: 6,
		StartNs: 10, TimeNs: 11, Comm: exec.Comm, Filename: want.Filename}
	if diff := cmp.Diff(wantFork, got); diff != "" || len(got.FilenameBytes()) != 0 || got.Has&HasFilename != 0 {
		t.Errorf("fromBPF(fork) (-want +got):\n%s", diff)
	}
	fromBPF(&got, &exit) // and a fork's Event for an exit
	if got.Type != Exit || got.Has != bpfExitFields || got.ExitNs != 9 || got.ExitCode != 0x300 {
		t.Errorf("fromBPF(exit after fork) = %+v", got)
	}
	if n := testing.AllocsPerRun(100, func() { fromBPF(&got, &exec) }); n != 0 {
		t.Errorf("fromBPF allocates %v times, want 0", n)
	}
}

func TestExitStatus(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		code        int32
		status, sig int
	}{{0, 0, 0}, {3 << 8, 3, 0}, {255 << 8, 255, 0}, {9, -1, 9}, {0x80 | 11, -1, 11}} {
		e := Event{ExitCode: tt.code}
		if s, g := e.ExitStatus(); s != tt.status || g != tt.sig {
			t.Errorf("ExitStatus(%#x) = %d, %d, want %d, %d", tt.code, s, g, tt.status, tt.sig)
		}
	}
}
