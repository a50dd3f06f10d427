package bpf

import (
	"encoding/binary"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// record builds a ring buffer record as tracer.c writes it.
func record(e Event, pages uint64) []byte {
	size := exitSize
	switch e.Type {
	case Exec:
		size = execSize
	case Fork:
		size = forkSize
	}
	b := make([]byte, size)
	ne := binary.NativeEndian
	ne.PutUint32(b[offType:], uint32(e.Type))
	ne.PutUint32(b[offPID:], uint32(e.PID))
	ne.PutUint32(b[offTGID:], uint32(e.TGID))
	ne.PutUint32(b[offPPID:], uint32(e.PPID))
	ne.PutUint32(b[offUID:], e.UID)
	ne.PutUint32(b[offGID:], e.GID)
	ne.PutUint64(b[offCgroupID:], e.CgroupID)
	ne.PutUint64(b[offMemcgID:], e.MemCgroupID)
	ne.PutUint64(b[offStartNs:], e.StartNs)
	ne.PutUint64(b[offTimeNs:], e.TimeNs)
	ne.PutUint32(b[offExitCode:], uint32(e.ExitCode))
	ne.PutUint32(b[offFilenameLen:], e.FilenameLen)
	ne.PutUint64(b[offCPUNs:], e.CPUNs)
	ne.PutUint64(b[offMaxRSSPages:], pages)
	copy(b[offComm:], e.Comm[:])
	if e.Type == Exec {
		copy(b[offFilename:], e.Filename[:])
	}
	return b
}

func comm(s string) (c [16]byte)              { copy(c[:], s); return c }
func filename(s string) (f [FilenameMax]byte) { copy(f[:], s); return f }

func TestDecode(t *testing.T) {
	t.Parallel()
	exec := Event{
		Type: Exec, PID: 42, TGID: 42, PPID: 1, UID: 65534, GID: 65533,
		CgroupID: 1, MemCgroupID: 9308, StartNs: 1e9, TimeNs: 2e9,
		FilenameLen: 9, Comm: comm("true"), Filename: filename("/bin/true"),
	}
	exit := Event{
		Type: Exit, PID: 43, TGID: 42, PPID: 1, UID: 0, GID: 0,
		CgroupID: 7, MemCgroupID: 8, StartNs: 1e9, TimeNs: 3e9,
		ExitCode: 3 << 8, CPUNs: 123456789, MaxRSSKB: 10 * pageKB, Comm: comm("sleep"),
	}
	fork := Event{
		Type: Fork, PID: 44, TGID: 44, PPID: 42, UID: 1000, GID: 1001,
		CgroupID: 7, MemCgroupID: 8, StartNs: 4e9, TimeNs: 4e9 + 5, Comm: comm("nginx"),
	}
	longName := exec
	longName.FilenameLen = FilenameMax - 1
	longName.Filename = filename(string(make([]byte, FilenameMax-1)))
	tests := []struct {
		name  string
		rec   []byte
		want  Event
		valid bool
	}{
		{"exec", record(exec, 0), exec, true},
		{"exit", record(exit, 10), exit, true},
		{"fork", record(fork, 0), fork, true},
		{"fork short", record(fork, 0)[:forkSize-1], Event{}, false},
		{"exec longest filename", record(longName, 0), longName, true},
		{"short", record(exit, 10)[:exitSize-1], Event{}, false},
		{"exec without filename", record(exec, 0)[:exitSize], Event{}, false},
		{"filename_len out of range", func() []byte {
			b := record(exec, 0)
			binary.NativeEndian.PutUint32(b[offFilenameLen:], FilenameMax)
			return b
		}(), Event{}, false},
		{"unknown type", func() []byte {
			b := record(exit, 0)
			binary.NativeEndian.PutUint32(b[offType:], 9)
			return b
		}(), Event{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got Event
			err := decode(tt.rec, &got)
			if (err == nil) != tt.valid {
				t.Fatalf("decode(%s) error = %v, want valid=%v", tt.name, err, tt.valid)
			}
			if !tt.valid {
				return
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("decode(%s) mismatch (-want +got):\n%s", tt.name, diff)
			}
		})
	}
}

func TestDecodeReuse(t *testing.T) {
	t.Parallel()
	// An exit decoded into an Event that held an exec must not show its filename.
	var e Event
	ex := Event{Type: Exec, FilenameLen: 4, Filename: filename("/bin"), Comm: comm("a")}
	if err := decode(record(ex, 0), &e); err != nil {
		t.Fatal(err)
	}
	if err := decode(record(Event{Type: Exit, Comm: comm("b")}, 0), &e); err != nil {
		t.Fatal(err)
	}
	if len(e.FilenameBytes()) != 0 || string(e.CommBytes()) != "b" {
		t.Errorf("after exit: filename %q comm %q, want \"\" \"b\"", e.FilenameBytes(), e.CommBytes())
	}
	// And a fork after an exec.
	if err := decode(record(ex, 0), &e); err != nil {
		t.Fatal(err)
	}
	if err := decode(record(Event{Type: Fork, Comm: comm("c")}, 0), &e); err != nil {
		t.Fatal(err)
	}
	if len(e.FilenameBytes()) != 0 || string(e.CommBytes()) != "c" || e.Type != Fork {
		t.Errorf("after fork: %s filename %q comm %q, want fork \"\" \"c\"", e.Type, e.FilenameBytes(), e.CommBytes())
	}
}

func TestDecodeAllocs(t *testing.T) {
	rec := record(Event{Type: Exec, FilenameLen: 9, Filename: filename("/bin/true")}, 0)
	fork := record(Event{Type: Fork, PID: 2, TGID: 2, Comm: comm("sh")}, 0)
	var e Event
	if n := testing.AllocsPerRun(1000, func() { _ = decode(rec, &e); _ = decode(fork, &e) }); n != 0 {
		t.Errorf("decode allocates %v times per exec+fork record, want 0", n)
	}
}

func BenchmarkDecode(b *testing.B) {
	rec := record(Event{Type: Exec, FilenameLen: 9, Filename: filename("/bin/true")}, 0)
	var e Event
	b.ReportAllocs()
	for b.Loop() {
		_ = decode(rec, &e)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(record(Event{Type: Exec, FilenameLen: 9, Filename: filename("/bin/true")}, 0))
	f.Add(record(Event{Type: Exit, ExitCode: 9}, 3))
	f.Add(record(Event{Type: Fork, PID: 2, TGID: 2}, 0))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		var e Event
		if decode(b, &e) != nil {
			return
		}
		if e.Type != Exec && e.Type != Exit && e.Type != Fork {
			t.Errorf("decode accepted type %d", e.Type)
		}
		if e.FilenameLen >= FilenameMax {
			t.Errorf("decode accepted filename_len %d", e.FilenameLen)
		}
	})
}

func TestWakeupBytes(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		events int
		want   uint64
	}{{-1, 0}, {1, 157}, {64, 64 * 157}} { // (104 + 264 + 104) / 3
		if got := wakeupBytes(tt.events); got != tt.want {
			t.Errorf("wakeupBytes(%d) = %d, want %d", tt.events, got, tt.want)
		}
	}
}
