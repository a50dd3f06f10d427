//go:build linux

package bpf

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"
	"github.com/cilium/ebpf/rlimit"
	"golang.org/x/sys/unix"
)

// Kernel interfaces of the agent's own kernel (not host filesystems being
// observed, which hostfs locates): where the kernel publishes its BTF and where
// tracefs is mounted by convention.
const (
	kernelBTF   = "/sys/kernel/btf/vmlinux"
	tracefsDir  = "/sys/kernel/tracing"
	debugfsDir  = "/sys/kernel/debug/tracing"
	tracefsTest = "events/sched/sched_process_exec"
)

type specEditor func(Mode, *ebpf.CollectionSpec)

// rung names a rung's three programs in tracer.c.
type rung struct{ exec, exit, fork string }

var rungs = map[Mode]rung{
	TPBTF:         {tracerProgExecBtf, tracerProgExitBtf, tracerProgForkBtf},
	RawTracepoint: {tracerProgExecRaw, tracerProgExitRaw, tracerProgForkRaw},
	Tracepoint:    {tracerProgExecTp, tracerProgExitTp, tracerProgForkTp},
}

// tracepoints are the events the programs of a rung attach to, in the order of
// Tracer.progs.
var tracepoints = [3]string{"sched_process_exec", "sched_process_exit", "sched_process_fork"}

// Tracer delivers exec, fork and exit events from the rung Open attached.
type Tracer struct {
	mode    Mode
	skipped []Skip
	poll    time.Duration

	coll  *ebpf.Collection
	progs [3]*ebpf.Program // exec, exit, fork
	lost  *ebpf.Map
	links [3]link.Link
	rd    *ringbuf.Reader

	highWater atomic.Int64  // most bytes seen pending in the ring
	malformed atomic.Uint64 // records that did not decode

	mu          sync.RWMutex // guards the fds against Close
	closed      bool
	lostAtClose uint64
}

// Open loads and attaches the first rung of opt.Modes (default: Ladder) that
// works, and returns a Tracer reading its ring buffer. Skipped rungs and why are
// in Skipped. When no rung works the error is an *OpenError.
func Open(opt Options) (*Tracer, error) {
	if err := opt.normalize(); err != nil {
		return nil, err
	}
	// Memlock first: before 5.11 BPF memory is charged to RLIMIT_MEMLOCK.
	// RemoveMemlock is a no-op where memcg accounting applies; otherwise it needs
	// CAP_SYS_RESOURCE, and its failure shows up as EPERM when loading.
	memlockErr := rlimit.RemoveMemlock()

	spec, err := loadTracer()
	if err != nil {
		return nil, err
	}

	// BTF for CO-RE relocations: the kernel's (nil: cilium/ebpf finds it), or a file.
	var types *btf.Spec
	var typesErr error
	switch {
	case opt.BTFPath != "":
		if types, err = btf.LoadSpec(opt.BTFPath); err != nil {
			typesErr = fmt.Errorf("%w: load %s: %w", ErrNoBTF, opt.BTFPath, err)
		}
	case opt.NoKernelBTF:
		typesErr = fmt.Errorf("%w: kernel BTF disabled by Options.NoKernelBTF and no Options.BTFPath", ErrNoBTF)
	}

	var skipped []Skip
	for _, m := range opt.Modes {
		var t *Tracer
		var err error
		switch {
		case m == TPBTF && opt.NoKernelBTF:
			err = fmt.Errorf("%w: tp_btf needs the kernel's own BTF (disabled by Options.NoKernelBTF)", ErrNoBTF)
		case m == TPBTF && !exists(kernelBTF):
			err = fmt.Errorf("%w: tp_btf needs the kernel's own BTF: no %s (CONFIG_DEBUG_INFO_BTF)", ErrNoBTF, kernelBTF)
		case m != TPBTF && typesErr != nil:
			err = typesErr
		default:
			t, err = openRung(spec, m, types, &opt)
			if err != nil && memlockErr != nil && errors.Is(err, unix.EPERM) {
				err = fmt.Errorf("%w (memlock: %v)", err, memlockErr)
			}
		}
		if err == nil {
			t.skipped = skipped
			return t, nil
		}
		skipped = append(skipped, Skip{Mode: m, Err: err})
	}
	return nil, &OpenError{Skipped: skipped}
}

func (o *Options) normalize() error {
	if o.Modes == nil {
		o.Modes = Ladder()
	}
	for _, m := range o.Modes {
		if _, ok := rungs[m]; !ok {
			return fmt.Errorf("bpf: unknown mode %q", m)
		}
	}
	if o.RingSize == 0 {
		o.RingSize = DefaultRingSize
	}
	if o.RingSize < os.Getpagesize() || o.RingSize&(o.RingSize-1) != 0 || o.RingSize > 1<<30 {
		return fmt.Errorf("bpf: ring size %d: want a power of two between the page size and 1 GiB", o.RingSize)
	}
	if o.WakeupEvents == 0 {
		o.WakeupEvents = DefaultWakeupEvents
	}
	// A threshold the ring cannot reach would leave the reader to its timer alone.
	if w := wakeupBytes(o.WakeupEvents); w > uint64(o.RingSize/4) {
		o.WakeupEvents = o.RingSize / 4 / int(wakeupBytes(1))
	}
	if o.PollInterval <= 0 {
		o.PollInterval = DefaultPollInterval
	}
	return nil
}

// openRung loads rung m's three programs, attaches them and opens the ring
// reader, releasing everything on failure: a rung runs with all three or not at
// all (without the fork program, processes that fork without exec would go unseen).
func openRung(spec *ebpf.CollectionSpec, m Mode, types *btf.Spec, opt *Options) (_ *Tracer, err error) {
	r := rungs[m]
	s := spec.Copy()
	for name := range s.Programs {
		if name != r.exec && name != r.exit && name != r.fork {
			delete(s.Programs, name)
		}
	}
	s.Maps[tracerMapEvents].MaxEntries = uint32(opt.RingSize)
	if err := s.Variables[tracerVarWakeupBytes].Set(wakeupBytes(opt.WakeupEvents)); err != nil {
		return nil, fmt.Errorf("set wakeup_bytes: %w", err)
	}
	if opt.editSpec != nil {
		opt.editSpec(m, s)
	}
	if m == Tracepoint {
		if err := ensureTracefs(); err != nil {
			return nil, err
		}
	}

	coll, err := ebpf.NewCollectionWithOptions(s, ebpf.CollectionOptions{
		Programs: ebpf.ProgramOptions{KernelTypes: types},
	})
	if err != nil {
		if errors.Is(err, ebpf.ErrNotSupported) && types == nil && !exists(kernelBTF) {
			return nil, fmt.Errorf("%w: load: %w", ErrNoBTF, err)
		}
		if errors.Is(err, unix.EPERM) {
			return nil, fmt.Errorf("load: %w (needs CAP_BPF and CAP_PERFMON, or CAP_SYS_ADMIN)", err)
		}
		return nil, fmt.Errorf("load: %w", err)
	}
	defer func() {
		if err != nil {
			coll.Close()
		}
	}()

	t := &Tracer{
		mode:  m,
		poll:  opt.PollInterval,
		coll:  coll,
		progs: [3]*ebpf.Program{coll.Programs[r.exec], coll.Programs[r.exit], coll.Programs[r.fork]},
		lost:  coll.Maps[tracerMapLost],
	}
	for i, p := range t.progs {
		event := tracepoints[i]
		if p == nil { // an editSpec that dropped it
			err = fmt.Errorf("no program for %s", event)
		} else {
			t.links[i], err = attach(m, p, event)
		}
		if err != nil {
			for _, l := range t.links[:i] {
				l.Close()
			}
			return nil, fmt.Errorf("attach %s: %w", event, err)
		}
	}
	defer func() {
		if err != nil {
			for _, l := range t.links {
				l.Close()
			}
		}
	}()

	if t.rd, err = ringbuf.NewReader(coll.Maps[tracerMapEvents]); err != nil {
		return nil, fmt.Errorf("ring buffer reader: %w", err)
	}
	return t, nil
}

func attach(m Mode, p *ebpf.Program, event string) (link.Link, error) {
	switch m {
	case TPBTF:
		return link.AttachTracing(link.TracingOptions{Program: p})
	case RawTracepoint:
		return link.AttachRawTracepoint(link.RawTracepointOptions{Name: event, Program: p})
	default:
		return link.Tracepoint("sched", event, p, nil)
	}
}

// ensureTracefs mounts tracefs at its usual place when neither it nor the old
// debugfs location is there. cilium/ebpf resolves (and caches) the tracefs path on
// first use, so this runs before any tracepoint is attached.
func ensureTracefs() error {
	if exists(tracefsDir+"/"+tracefsTest) || exists(debugfsDir+"/"+tracefsTest) {
		return nil
	}
	if err := unix.Mount("nodev", tracefsDir, "tracefs", 0, ""); err != nil {
		return fmt.Errorf("tracefs is not mounted and mounting it at %s failed: %w", tracefsDir, err)
	}
	if !exists(tracefsDir + "/" + tracefsTest) {
		return fmt.Errorf("tracefs mounted at %s has no %s", tracefsDir, tracefsTest)
	}
	return nil
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// Mode returns the rung in use.
func (t *Tracer) Mode() Mode { return t.mode }

// Skipped returns the rungs tried before the one in use, and why they failed.
func (t *Tracer) Skipped() []Skip { return t.skipped }

// Read delivers events to fn until ctx is done or the Tracer is closed, then
// returns nil. The Event is reused: fn must copy what it keeps. Call Read from one
// goroutine at a time. Between wake-ups (every WakeupEvents records) the ring is
// drained every PollInterval. It allocates nothing per event.
func (t *Tracer) Read(ctx context.Context, fn func(*Event)) error {
	var rec ringbuf.Record
	var ev Event
	hw := t.highWater.Load()
	// Cancellation wakes the reader through the ring's flush event.
	stop := context.AfterFunc(ctx, func() { _ = t.rd.Flush() })
	defer stop()
	t.rd.SetDeadline(time.Now().Add(t.poll))
	for {
		err := t.rd.ReadInto(&rec)
		if err == nil {
			// Pending bytes when this record was taken: it, its header, the rest.
			if p := int64(rec.Remaining + len(rec.RawSample) + 8); p > hw {
				hw = p
				t.highWater.Store(p)
			}
			if decode(rec.RawSample, &ev) != nil {
				t.malformed.Add(1)
				continue
			}
			fn(&ev)
			continue
		}
		switch {
		case errors.Is(err, ringbuf.ErrFlushed):
			if ctx.Err() != nil {
				return nil
			}
		case errors.Is(err, os.ErrDeadlineExceeded):
			if ctx.Err() != nil {
				return nil
			}
			t.rd.SetDeadline(time.Now().Add(t.poll))
		case errors.Is(err, ringbuf.ErrClosed):
			return nil
		default:
			return fmt.Errorf("read ring buffer: %w", err)
		}
	}
}

// Lost returns how many records did not fit in the ring since Open.
func (t *Tracer) Lost() uint64 {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if t.closed {
		return t.lostAtClose
	}
	return t.lostLocked()
}

func (t *Tracer) lostLocked() uint64 {
	var perCPU []uint64
	if err := t.lost.Lookup(uint32(0), &perCPU); err != nil {
		return 0
	}
	var n uint64
	for _, v := range perCPU {
		n += v
	}
	return n
}

// Malformed returns how many records were dropped because they did not decode
// (a program/reader mismatch; always 0 unless something is badly wrong).
func (t *Tracer) Malformed() uint64 { return t.malformed.Load() }

// HighWater returns the most bytes the reader has found pending in the ring:
// against RingSize, how close it came to losing records.
func (t *Tracer) HighWater() int { return int(t.highWater.Load()) }

// RingSize returns the ring buffer's size in bytes.
func (t *Tracer) RingSize() int { return t.rd.BufferSize() }

// Stats returns the in-kernel run counts and times of the exec and exit
// programs. AllStats adds the fork program's.
func (t *Tracer) Stats() (exec, exit ProgramStats, err error) {
	s, err := t.AllStats()
	return s.Exec, s.Exit, err
}

// AllStats returns the in-kernel run counts and times of the rung's three programs.
func (t *Tracer) AllStats() (Stats, error) {
	var s Stats
	t.mu.RLock()
	defer t.mu.RUnlock()
	if t.closed {
		return s, os.ErrClosed
	}
	for i, out := range [3]*ProgramStats{&s.Exec, &s.Exit, &s.Fork} {
		ps, err := t.progs[i].Stats()
		if err != nil {
			return s, fmt.Errorf("%s program stats: %w", tracepoints[i], err)
		}
		*out = ProgramStats{RunCount: ps.RunCount, RunTime: ps.Runtime}
	}
	return s, nil
}

// Close detaches the programs and frees the ring; Read returns. It is idempotent.
func (t *Tracer) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil
	}
	t.closed = true
	t.lostAtClose = t.lostLocked()
	errs := []error{t.rd.Close()}
	for _, l := range t.links {
		errs = append(errs, l.Close())
	}
	t.coll.Close()
	return errors.Join(errs...)
}

// EnableStats turns on the kernel's BPF run-time accounting (BPF_ENABLE_STATS)
// until the returned Closer is closed; it costs two clock reads per program run.
func EnableStats() (io.Closer, error) {
	return ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
}
