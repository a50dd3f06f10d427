package bpf

import (
	"encoding/binary"
	"errors"
)

// TaskRecordSize is the size of one record of taskiter.c's dump_procs
// (struct task_rec).
const TaskRecordSize = 184

// TaskRecord flags.
const (
	TaskKthread   = 1 // a kernel thread
	TaskTruncated = 2 // more live threads than the program sums (256): totals are partial
	TaskHasIO     = 4 // the IO fields are set (the kernel accounts per-task io)
)

// ErrShortTaskRecord is returned by DecodeTask for a buffer shorter than a record.
var ErrShortTaskRecord = errors.New("bpf: short task record")

// TaskRecord is one process (thread-group leader) as seen by the task iterator.
// Times are nanoseconds; memory figures are pages.
type TaskRecord struct {
	Tgid     int32
	Ppid     int32  // real parent's tgid
	UID      uint32 // real uid
	State    uint32 // leader's __state
	Flags    uint32 // TaskKthread, TaskTruncated
	Threads  uint32 // signal->nr_threads
	StartNs  uint64 // start_boottime: ns since boot
	CPUNs    uint64 // signal->sum_sched_runtime + live threads' se.sum_exec_runtime
	UtimeNs  uint64 // tick-sampled user time, dead + live threads
	StimeNs  uint64 // tick-sampled system time, dead + live threads
	RSSFile  int64
	RSSAnon  int64
	RSSShmem int64
	TotalVM  uint64
	MinFlt   uint64
	MajFlt   uint64
	Nvcsw    uint64 // leader only
	Nivcsw   uint64 // leader only
	CgroupID uint64 // cgroup v2 id: the inode of its cgroup2 directory
	MemcgID  uint64 // memory controller cgroup id (v1 hierarchy when mounted)
	Comm     [16]byte
	// IO is /proc/<pid>/io's syscall and byte counts (dead threads' plus live
	// threads'), set when Flags has TaskHasIO. rchar, wchar and
	// cancelled_write_bytes are left out: nothing reports them, and every
	// byte of the record is copied per process.
	IO TaskIO
}

// TaskIO is the part of /proc/<pid>/io the process view reports.
type TaskIO struct {
	SyscR, SyscW, ReadBytes, WriteBytes uint64
}

// RSS returns the resident pages (file + anon + shmem), as /proc/<pid>/statm.
func (r *TaskRecord) RSS() int64 { return r.RSSFile + r.RSSAnon + r.RSSShmem }

// CommString returns Comm up to its NUL. It allocates.
func (r *TaskRecord) CommString() string {
	for i, c := range r.Comm {
		if c == 0 {
			return string(r.Comm[:i])
		}
	}
	return string(r.Comm[:])
}

// DecodeTask decodes the record at the start of b into r and returns its size.
func DecodeTask(b []byte, r *TaskRecord) (int, error) {
	if len(b) < TaskRecordSize {
		return 0, ErrShortTaskRecord
	}
	b = b[:TaskRecordSize]
	ne := binary.NativeEndian
	r.Tgid = int32(ne.Uint32(b[0:]))
	r.Ppid = int32(ne.Uint32(b[4:]))
	r.UID = ne.Uint32(b[8:])
	r.State = ne.Uint32(b[12:])
	r.Flags = ne.Uint32(b[16:])
	r.Threads = ne.Uint32(b[20:])
	r.StartNs = ne.Uint64(b[24:])
	r.CPUNs = ne.Uint64(b[32:])
	r.UtimeNs = ne.Uint64(b[40:])
	r.StimeNs = ne.Uint64(b[48:])
	r.RSSFile = int64(ne.Uint64(b[56:]))
	r.RSSAnon = int64(ne.Uint64(b[64:]))
	r.RSSShmem = int64(ne.Uint64(b[72:]))
	r.TotalVM = ne.Uint64(b[80:])
	r.MinFlt = ne.Uint64(b[88:])
	r.MajFlt = ne.Uint64(b[96:])
	r.Nvcsw = ne.Uint64(b[104:])
	r.Nivcsw = ne.Uint64(b[112:])
	r.CgroupID = ne.Uint64(b[120:])
	r.MemcgID = ne.Uint64(b[128:])
	copy(r.Comm[:], b[136:152])
	r.IO = TaskIO{SyscR: ne.Uint64(b[152:]), SyscW: ne.Uint64(b[160:]), ReadBytes: ne.Uint64(b[168:]), WriteBytes: ne.Uint64(b[176:])}
	return TaskRecordSize, nil
}

// EachTask decodes every whole record of b (as returned by TaskIter.Read) into
// the caller's r, reused, and calls fn with it; fn must not keep the pointer.
// It returns the number of records; a trailing partial record is ignored.
// (r is a parameter so that it need not escape to the heap per call.)
func EachTask(b []byte, r *TaskRecord, fn func(*TaskRecord)) int {
	n := 0
	for len(b) >= TaskRecordSize {
		DecodeTask(b, r)
		fn(r)
		b = b[TaskRecordSize:]
		n++
	}
	return n
}
