// Package procevent delivers process exec, fork and exit events from the best
// source the host allows, and says which one it got and why the better ones failed.
// A fork event is a new process (thread group); new threads are not reported.
//
// The ladder (shared/spec/reliability.md §5), best first:
//
//	tp_btf, raw_tracepoint, tracepoint  eBPF (package bpf): every field, incl. cgroup
//	                                    ids, comm, CPU time and peak RSS at exit
//	netlink                             the proc connector: pids, ppid and exit code
//	                                    only (no comm, uid, cgroup, CPU or RSS)
//	poll                                no events: the consumer's /proc scan each
//	                                    cycle is all there is, and processes that live
//	                                    less than a cycle are never seen
//
// Whatever the source, the consumer still scans /proc at start and reconciles
// periodically: every source can lose events (Lost counts them).
package procevent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/whippet-agent/whippet/bpf"
)

// Modes accepted by Open, and returned by Source.Mode besides the eBPF rungs
// (bpf.TPBTF, bpf.RawTracepoint, bpf.Tracepoint, which Open also accepts).
const (
	ModeAuto    = "auto"    // eBPF rungs, then netlink, then poll
	ModeEBPF    = "ebpf"    // the eBPF rungs only
	ModeNetlink = "netlink" // the proc connector only
	ModePoll    = "poll"    // no events
)

// Type says what happened.
type Type uint8

// Event types.
const (
	Exec Type = 1 // a successful exec
	Exit Type = 2 // a process (thread group) ended
	Fork Type = 3 // a new process (thread group) was created, without exec yet
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
	return fmt.Sprintf("type(%d)", uint8(t))
}

// Field is a set of Event fields a source filled in.
type Field uint16

// Fields present in an Event. The eBPF rungs fill all that apply to the type;
// netlink fills PIDs (always), HasTime, HasExitCode and HasPPID (always of a fork).
// A fork's fields describe the child: its comm is the parent's, which it
// inherits, and it has no filename (see bpf.Event).
const (
	HasPPID     Field = 1 << iota // PPID
	HasIDs                        // UID, GID
	HasCgroup                     // CgroupID, MemCgroupID
	HasComm                       // Comm
	HasFilename                   // Filename, FilenameLen (exec)
	HasStart                      // StartNs
	HasTime                       // TimeNs (and ExitNs of an exit)
	HasExitCode                   // ExitCode (exit)
	HasCPU                        // CPUNs (exit)
	HasMaxRSS                     // MaxRSSKB (exit)
)

// FilenameMax bounds Event.Filename.
const FilenameMax = bpf.FilenameMax

// Event is one process event. Sources reuse one Event: copy what you keep.
type Event struct {
	Type                  Type
	Has                   Field
	PID, TGID, PPID       int32  // thread id, process id, parent process id
	UID, GID              uint32 // real ids
	CgroupID, MemCgroupID uint64 // cgroup v2 id; memory controller cgroup id (v1 hierarchy when mounted)
	Comm                  [16]byte
	Filename              [FilenameMax]byte
	FilenameLen           uint16
	StartNs               uint64 // process start, ns since boot (CLOCK_BOOTTIME)
	TimeNs                uint64 // event time, ns since boot
	ExitNs                uint64 // exit: = TimeNs
	ExitCode              int32  // exit: wait(2) status; see ExitStatus
	CPUNs                 uint64 // exit: CPU time of the whole process
	MaxRSSKB              uint64 // exit: peak RSS, KiB
}

// CommBytes returns Comm without its NUL padding. It aliases e.
func (e *Event) CommBytes() []byte {
	for i, c := range e.Comm {
		if c == 0 {
			return e.Comm[:i]
		}
	}
	return e.Comm[:]
}

// FilenameBytes returns the exec filename. It aliases e.
func (e *Event) FilenameBytes() []byte { return e.Filename[:min(int(e.FilenameLen), FilenameMax)] }

// ExitStatus decodes ExitCode: the status passed to exit, or the signal that
// killed the process (status -1 then).
func (e *Event) ExitStatus() (status, signal int) {
	if sig := int(e.ExitCode & 0x7f); sig != 0 {
		return -1, sig
	}
	return int(e.ExitCode>>8) & 0xff, 0
}

// Source delivers events. Run blocks until ctx is done or the Source is closed
// and then returns nil; it is called from one goroutine. fn must not block long:
// while it runs nothing is read and the kernel-side buffer fills.
type Source interface {
	// Mode names the rung: tp_btf, raw_tracepoint, tracepoint, netlink or poll.
	Mode() string
	Run(ctx context.Context, fn func(*Event)) error
	// Lost counts events the source knows it dropped (kernel buffer full).
	Lost() uint64
	Close() error
}

// Rung records one rung Open tried: Err is why it was skipped, nil for the one chosen.
type Rung struct {
	Mode string
	Err  error
}

func (r Rung) String() string {
	if r.Err == nil {
		return r.Mode + ": chosen"
	}
	return r.Mode + ": " + r.Err.Error()
}

// Options configure OpenOptions. The zero value is Open("auto").
type Options struct {
	Mode string      // as for Open; "" means auto
	BPF  bpf.Options // for the eBPF rungs (its Modes is set from Mode)
	// PollInterval is how often the netlink source drains its socket; 0: 100 ms.
	PollInterval time.Duration
	// NetlinkBuffer is the netlink socket's receive buffer in bytes; 0: 4 MiB.
	NetlinkBuffer int
}

// ErrNotSupported is returned by OpenNetlink off Linux.
var ErrNotSupported = errors.New("procevent: process events need Linux")

// ErrNoSource is returned when no rung of the requested mode could be opened.
var ErrNoSource = errors.New("procevent: no source available")

// Open returns the best Source for mode (auto, ebpf, tp_btf, raw_tracepoint,
// tracepoint, netlink or poll) and every rung it tried with why it was skipped.
// auto always succeeds, with poll at worst.
func Open(mode string, log *slog.Logger) (Source, []Rung, error) {
	return OpenOptions(Options{Mode: mode}, log)
}

// OpenOptions is Open with options.
func OpenOptions(opt Options, log *slog.Logger) (Source, []Rung, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var bpfModes []bpf.Mode
	var netlink, poll bool
	switch opt.Mode {
	case "", ModeAuto:
		bpfModes, netlink, poll = bpf.Ladder(), true, true
	case ModeEBPF:
		bpfModes = bpf.Ladder()
	case string(bpf.TPBTF), string(bpf.RawTracepoint), string(bpf.Tracepoint):
		bpfModes = []bpf.Mode{bpf.Mode(opt.Mode)}
	case ModeNetlink:
		netlink = true
	case ModePoll:
		poll = true
	default:
		return nil, nil, fmt.Errorf("procevent: unknown mode %q (want auto, ebpf, tp_btf, raw_tracepoint, tracepoint, netlink or poll)", opt.Mode)
	}

	var rungs []Rung
	var src Source
	if len(bpfModes) > 0 {
		bo := opt.BPF
		bo.Modes = bpfModes
		t, err := bpf.Open(bo)
		var oe *bpf.OpenError
		switch {
		case err == nil:
			for _, s := range t.Skipped() {
				rungs = append(rungs, Rung{Mode: string(s.Mode), Err: s.Err})
			}
			rungs = append(rungs, Rung{Mode: string(t.Mode())})
			src = &bpfSource{t: t}
		case errors.As(err, &oe):
			for _, s := range oe.Skipped {
				rungs = append(rungs, Rung{Mode: string(s.Mode), Err: s.Err})
			}
		default:
			rungs = append(rungs, Rung{Mode: ModeEBPF, Err: err})
		}
	}
	if src == nil && netlink {
		n, err := OpenNetlink(opt)
		if err == nil {
			src = n
		}
		rungs = append(rungs, Rung{Mode: ModeNetlink, Err: err})
	}
	if src == nil && poll {
		src = newPoll()
		rungs = append(rungs, Rung{Mode: ModePoll})
	}

	skipped := make([]string, 0, len(rungs))
	for _, r := range rungs {
		if r.Err != nil {
			skipped = append(skipped, r.String())
		}
	}
	if src == nil {
		return nil, rungs, fmt.Errorf("%w for mode %q: %s", ErrNoSource, opt.Mode, strings.Join(skipped, "; "))
	}
	switch src.Mode() {
	case ModePoll:
		log.Warn("process events: none; polling /proc each cycle cannot see processes shorter than a cycle",
			"mode", src.Mode(), "skipped", skipped)
	case ModeNetlink:
		log.Info("process events: netlink proc connector (no comm, uid, cgroup, CPU or RSS in events)",
			"mode", src.Mode(), "skipped", skipped)
	default:
		log.Info("process events: eBPF", "mode", src.Mode(), "skipped", skipped)
	}
	return src, rungs, nil
}

// bpfSource adapts a bpf.Tracer.
type bpfSource struct {
	t  *bpf.Tracer
	ev Event
}

func (s *bpfSource) Mode() string { return string(s.t.Mode()) }
func (s *bpfSource) Lost() uint64 { return s.t.Lost() }
func (s *bpfSource) Close() error { return s.t.Close() }

func (s *bpfSource) Run(ctx context.Context, fn func(*Event)) error {
	return s.t.Read(ctx, func(e *bpf.Event) {
		fromBPF(&s.ev, e)
		fn(&s.ev)
	})
}

// Tracer returns the underlying tracer of an eBPF Source (for its statistics),
// or nil.
func Tracer(s Source) *bpf.Tracer {
	if b, ok := s.(*bpfSource); ok {
		return b.t
	}
	return nil
}

const (
	bpfExecFields = HasPPID | HasIDs | HasCgroup | HasComm | HasFilename | HasStart | HasTime
	bpfExitFields = HasPPID | HasIDs | HasCgroup | HasComm | HasStart | HasTime | HasExitCode | HasCPU | HasMaxRSS
	bpfForkFields = HasPPID | HasIDs | HasCgroup | HasComm | HasStart | HasTime
)

// fromBPF maps a bpf record onto d.
func fromBPF(d *Event, s *bpf.Event) {
	d.PID, d.TGID, d.PPID = s.PID, s.TGID, s.PPID
	d.UID, d.GID = s.UID, s.GID
	d.CgroupID, d.MemCgroupID = s.CgroupID, s.MemCgroupID
	d.Comm = s.Comm
	d.StartNs, d.TimeNs = s.StartNs, s.TimeNs
	switch s.Type {
	case bpf.Exec:
		d.Type, d.Has = Exec, bpfExecFields
		d.FilenameLen = uint16(copy(d.Filename[:], s.FilenameBytes()))
		d.ExitNs, d.ExitCode, d.CPUNs, d.MaxRSSKB = 0, 0, 0, 0
	case bpf.Fork:
		d.Type, d.Has = Fork, bpfForkFields
		d.FilenameLen = 0
		d.ExitNs, d.ExitCode, d.CPUNs, d.MaxRSSKB = 0, 0, 0, 0
	default:
		d.Type, d.Has = Exit, bpfExitFields
		d.FilenameLen = 0
		d.ExitNs, d.ExitCode, d.CPUNs, d.MaxRSSKB = s.TimeNs, s.ExitCode, s.CPUNs, s.MaxRSSKB
	}
}

// pollSource emits nothing: the consumer scans /proc.
type pollSource struct {
	done chan struct{}
	once sync.Once
}

func newPoll() *pollSource { return &pollSource{done: make(chan struct{})} }

func (*pollSource) Mode() string { return ModePoll }
func (*pollSource) Lost() uint64 { return 0 }

func (p *pollSource) Run(ctx context.Context, _ func(*Event)) error {
	select {
	case <-ctx.Done():
	case <-p.done:
	}
	return nil
}

func (p *pollSource) Close() error {
	p.once.Do(func() { close(p.done) })
	return nil
}
