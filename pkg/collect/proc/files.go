package proc

// File names one per-process file.
type File uint8

// Per-process files.
const (
	FileStat File = iota
	FileStatm
	FileStatus
	FileIO
	FileCmdline
	FileCgroup
	FileSchedstat
	NumFiles // the number of Files
)

var fileNames = [NumFiles]string{"stat", "statm", "status", "io", "cmdline", "cgroup", "schedstat"}

func (f File) String() string {
	if f < NumFiles {
		return fileNames[f]
	}
	return "unknown"
}

// Files is a set of Files.
type Files uint8

// Has reports whether f is in s.
func (s Files) Has(f File) bool { return s&(1<<f) != 0 }

// FilesOf builds a set.
func FilesOf(fs ...File) Files {
	var s Files
	for _, f := range fs {
		s |= 1 << f
	}
	return s
}

// DefaultHeld are the files re-read every cycle, worth keeping open.
var DefaultHeld = FilesOf(FileStat, FileStatus, FileIO, FileSchedstat)

// DefaultMaxHeld caps held descriptors. Each held procfs fd keeps a struct file and,
// after its first read, a page-sized seq_file buffer that the kernel charges to the
// agent's memory cgroup (GFP_KERNEL_ACCOUNT): 4096 fds ≈ 17 MiB of the task's limit.
const DefaultMaxHeld = 4096

// MaxCmdline bounds how much of a command line is read (the kernel allows up to
// ARG_MAX, 2 MiB); longer ones are truncated, as the Datadog agent truncates too.
const MaxCmdline = 32 << 10

// Options configure a Reader.
type Options struct {
	// MaxHeld caps the descriptors held open across cycles; 0 means
	// DefaultMaxHeld, a negative value holds none (open/read/close every time).
	MaxHeld int
	// Held is the set of files kept open once read; zero means DefaultHeld.
	Held Files
}

// Handle is one process's read state: its pid and the descriptors held for it.
// The zero Handle with PID set is ready to use; Release it when the process is gone.
type Handle struct {
	PID int32
	fds [NumFiles]int32 // fd+1; 0 = not held
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
