// Package bpf traces process execs, new thread groups (forks that are not
// CLONE_THREAD) and thread-group exits in the kernel and hands them to user space
// through a BPF ring buffer, one fixed-size record per event.
//
// The kernel side (tracer.c, CO-RE, compiled by bpf2go) exists in three attach
// flavours of the same logic, the rungs of a fallback ladder that Open climbs down:
//
//	tp_btf          BTF-typed tracepoint: cheapest, needs the kernel's own BTF
//	raw_tracepoint  untyped raw tracepoint: needs BTF only to relocate field offsets
//	tracepoint      perf trace event sched:sched_process_*: also needs tracefs
//
// Each rung is three programs, on sched_process_exec, sched_process_exit and
// sched_process_fork; a rung is used only when all three load and attach.
//
// Every rung needs BPF ring buffers (Linux 5.8+) and the privilege to load tracing
// programs (CAP_BPF+CAP_PERFMON, or CAP_SYS_ADMIN). When none loads, Open returns an
// *OpenError saying why each rung was skipped; pkg/procevent then tries the netlink
// proc connector and finally /proc polling.
//
// Wake-ups are batched: the program submits with BPF_RB_NO_WAKEUP and forces a
// wake-up only each time the unread data crosses a multiple of WakeupEvents records,
// and the reader also drains the ring on a short timer. Per-event wake-ups cost ~15x
// more CPU on both sides (shared/spec/performance.md §3).
package bpf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
)

// Mode is one rung of the ladder: how the programs are attached.
type Mode string

// The rungs, in the order Open tries them.
const (
	TPBTF         Mode = "tp_btf"
	RawTracepoint Mode = "raw_tracepoint"
	Tracepoint    Mode = "tracepoint"
)

// Ladder returns the rungs in the order Open tries them by default.
func Ladder() []Mode { return []Mode{TPBTF, RawTracepoint, Tracepoint} }

// Type says what happened.
type Type uint32

// Event types, as the program writes them.
const (
	Exec Type = 1 // a successful execve/execveat
	Exit Type = 2 // the last thread of a thread group exited: the process is gone
	Fork Type = 3 // a new thread group was created (fork, vfork, clone without CLONE_THREAD)
)

func (t Type) String() string {
	switch t {
	case Exec:
		return "exec"
	case Exit:
		return "exit"
	case Fork:
		return "fork"
	}
	return fmt.Sprintf("type(%d)", uint32(t))
}

// FilenameMax bounds the exec filename kept (the path given to execve, as the
// kernel resolved it relative to nothing: it may be relative). Longer names are
// cut to FilenameMax-1 bytes.
const FilenameMax = 160

// Event is one decoded record. Read reuses a single Event: copy what you keep.
//
// A fork record describes the child: PID = TGID = its pid; PPID its parent (the
// forking process, or that one's parent under CLONE_PARENT); UID/GID the
// parent's, which the child has too; the cgroup ids the child's (the parent's
// unless CLONE_INTO_CGROUP); Comm the forking thread's, which the child
// inherits; StartNs the child's start. It has no filename and no exit fields.
type Event struct {
	Type        Type
	PID         int32  // thread id of the task that exec'd or exited last; of a fork, the child's pid
	TGID        int32  // process id
	PPID        int32  // parent process id (real_parent's tgid)
	UID, GID    uint32 // real uid and gid (not the effective ids of a setuid exec)
	CgroupID    uint64 // cgroup v2 id: inode of the task's /sys/fs/cgroup[/unified]/... dir
	MemCgroupID uint64 // memory controller's cgroup id: inode of /sys/fs/cgroup/memory/... on v1
	StartNs     uint64 // process start, ns since boot (CLOCK_BOOTTIME); of a fork, the child's
	TimeNs      uint64 // when the event happened, ns since boot
	ExitCode    int32  // exit only: wait(2) status (exit 3 is 0x300, SIGKILL is 9)
	CPUNs       uint64 // exit only: CPU time of the whole thread group
	MaxRSSKB    uint64 // exit only: peak resident set size, KiB (getrusage's ru_maxrss)
	FilenameLen uint32 // exec only: bytes used in Filename
	Comm        [16]byte
	Filename    [FilenameMax]byte
}

// CommBytes returns the command name without its NUL padding. It aliases e.
func (e *Event) CommBytes() []byte { return cstr(e.Comm[:]) }

// FilenameBytes returns the exec filename. It aliases e.
func (e *Event) FilenameBytes() []byte { return e.Filename[:min(e.FilenameLen, FilenameMax)] }

func cstr(b []byte) []byte {
	for i, c := range b {
		if c == 0 {
			return b[:i]
		}
	}
	return b
}

// Defaults for Options.
const (
	// DefaultRingSize holds ~1,100 processes spawned by fork+exec (a fork, an exec
	// and an exit record: 104+264+104 bytes): ~0.3 s of the fastest such storm a
	// 2-CPU host manages (~3,300/s) with the reader stalled; the reader is woken
	// every DefaultWakeupEvents records (a twelfth of the ring) and drains it
	// every DefaultPollInterval at the latest. The exec storm test runs at this
	// size with 0 lost; a ring that does overflow costs a /proc scan, not a
	// wrong table. The ring is mapped twice (for wrap-around reads), so it counts
	// twice in RSS.
	DefaultRingSize = 512 << 10
	// DefaultWakeupEvents: the reader is woken when this many records are pending
	// (~40 KiB). The collector takes the events once a cycle, so the wake-ups
	// only keep the ring from filling: at 64, 150 containers' shell loops woke
	// the reader 7 times a second. The exec storm's high-water mark at this
	// setting is 46–81 KiB of the ring.
	DefaultWakeupEvents = 256
	// DefaultPollInterval: otherwise the reader drains the ring this often. The
	// collector takes the events once a cycle (10–15 s), and a burst wakes the
	// reader every DefaultWakeupEvents records anyway, so a quiet host's trickle
	// can wait: a wake-up costs ~100–130 µs of CPU here (BenchmarkReadWake), and
	// at 1 s they were ~1.2 ms of the agent's 3 ms per 15 s between cycles
	// (bench/agentcost at 10 containers with hour-long intervals; at 100 ms they
	// were a third of its CPU). The daemon drains at least every half cycle
	// (cmd/agent eventPoll), so an exit event is never more than a cycle late.
	DefaultPollInterval = 5 * time.Second
)

// Options configure Open. The zero value is the production default.
type Options struct {
	// Modes are the rungs to try, in order; nil means Ladder.
	Modes []Mode
	// RingSize is the ring buffer's size in bytes: a power of two, at least the
	// page size. 0 means DefaultRingSize.
	RingSize int
	// WakeupEvents forces a reader wake-up each time this many records are pending
	// (at most a quarter of the ring); 0 means DefaultWakeupEvents, a negative
	// value wakes the reader per record.
	WakeupEvents int
	// PollInterval is the longest the reader sleeps without a wake-up; 0 means
	// DefaultPollInterval.
	PollInterval time.Duration
	// BTFPath is a BTF file (e.g. from btfhub) to relocate the raw_tracepoint and
	// tracepoint programs against when the kernel exposes no /sys/kernel/btf/vmlinux.
	// tp_btf always needs the kernel's own BTF.
	BTFPath string
	// NoKernelBTF makes Open behave as if the kernel had no BTF: tp_btf is skipped
	// and the other rungs need BTFPath. For tests, and for kernels with broken BTF.
	NoKernelBTF bool

	// editSpec, for tests, alters a rung's collection before it is loaded (to
	// inject a verifier rejection).
	editSpec specEditor
}

// Skip says why a rung was not used.
type Skip struct {
	Mode Mode
	Err  error
}

func (s Skip) String() string { return string(s.Mode) + ": " + s.Err.Error() }

// OpenError is returned by Open when no rung could be loaded and attached.
type OpenError struct{ Skipped []Skip }

func (e *OpenError) Error() string {
	var b strings.Builder
	b.WriteString("bpf: no rung available")
	for _, s := range e.Skipped {
		b.WriteString("; ")
		b.WriteString(s.String())
	}
	return b.String()
}

// Unwrap returns the reasons, so errors.Is(err, ErrNoBTF) and the like work.
func (e *OpenError) Unwrap() []error {
	errs := make([]error, len(e.Skipped))
	for i, s := range e.Skipped {
		errs[i] = s.Err
	}
	return errs
}

var (
	// ErrNotSupported is returned on systems other than Linux.
	ErrNotSupported = errors.New("bpf: process tracing needs Linux")
	// ErrNoBTF: no BTF to attach a tp_btf program or to relocate a CO-RE program.
	ErrNoBTF = errors.New("no BTF")
)

// ProgramStats is the kernel's accounting of one program. It counts only while
// BPF run-time statistics are enabled (EnableStats, or sysctl kernel.bpf_stats_enabled=1).
type ProgramStats struct {
	RunCount uint64
	RunTime  time.Duration
}

// PerRun is the mean in-kernel time of one run.
func (s ProgramStats) PerRun() time.Duration {
	if s.RunCount == 0 {
		return 0
	}
	return s.RunTime / time.Duration(s.RunCount)
}

// Stats is the in-kernel accounting of the three programs of a rung.
type Stats struct {
	Exec ProgramStats // runs once per successful exec
	Exit ProgramStats // runs once per exiting thread, records only the last of a group
	Fork ProgramStats // runs once per clone, threads included, records only new groups
}

// Total sums the three programs.
func (s Stats) Total() ProgramStats {
	return ProgramStats{
		RunCount: s.Exec.RunCount + s.Exit.RunCount + s.Fork.RunCount,
		RunTime:  s.Exec.RunTime + s.Exit.RunTime + s.Fork.RunTime,
	}
}

// wakeupBytes converts a record count into the program's byte threshold, at the
// mean of a fork, an exec and an exit record (a process spawned by fork+exec)
// with their 8-byte ring headers.
func wakeupBytes(events int) uint64 {
	if events < 0 {
		return 0
	}
	const mean = (forkSize + 8 + execSize + 8 + exitSize + 8) / 3
	return uint64(events) * mean
}

// Record layout: struct event in tracer.c. TestLayout checks these offsets
// against the bpf2go-generated tracerEvent.
const (
	offType        = 0
	offPID         = 4
	offTGID        = 8
	offPPID        = 12
	offUID         = 16
	offGID         = 20
	offCgroupID    = 24
	offMemcgID     = 32
	offStartNs     = 40
	offTimeNs      = 48
	offExitCode    = 56
	offFilenameLen = 60
	offCPUNs       = 64
	offMaxRSSPages = 72
	offComm        = 80
	offFilename    = 96

	exitSize = offFilename               // exit records stop before the filename
	forkSize = offFilename               // and so do fork records
	execSize = offFilename + FilenameMax // exec records carry it
)

var errRecord = errors.New("malformed record")

// pageKB converts signal->maxrss (pages) to KiB.
var pageKB = uint64(os.Getpagesize() / 1024)

// decode parses one ring buffer record into e. It keeps nothing of b.
func decode(b []byte, e *Event) error {
	if len(b) < exitSize {
		return errRecord
	}
	ne := binary.NativeEndian
	e.Type = Type(ne.Uint32(b[offType:]))
	e.PID = int32(ne.Uint32(b[offPID:]))
	e.TGID = int32(ne.Uint32(b[offTGID:]))
	e.PPID = int32(ne.Uint32(b[offPPID:]))
	e.UID = ne.Uint32(b[offUID:])
	e.GID = ne.Uint32(b[offGID:])
	e.CgroupID = ne.Uint64(b[offCgroupID:])
	e.MemCgroupID = ne.Uint64(b[offMemcgID:])
	e.StartNs = ne.Uint64(b[offStartNs:])
	e.TimeNs = ne.Uint64(b[offTimeNs:])
	e.ExitCode = int32(ne.Uint32(b[offExitCode:]))
	e.CPUNs = ne.Uint64(b[offCPUNs:])
	e.MaxRSSKB = ne.Uint64(b[offMaxRSSPages:]) * pageKB
	copy(e.Comm[:], b[offComm:offComm+16])
	e.FilenameLen = 0
	switch e.Type {
	case Exec:
		n := ne.Uint32(b[offFilenameLen:])
		if len(b) < execSize || n >= FilenameMax {
			return errRecord
		}
		copy(e.Filename[:n], b[offFilename:])
		e.FilenameLen = n
	case Exit, Fork:
	default:
		return errRecord
	}
	return nil
}
