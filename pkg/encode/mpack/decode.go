package mpack

import (
	"fmt"
	"math"

	"github.com/whippet-agent/whippet/pkg/batch"
)

// Decoder reads records. The zero value is ready to use; reuse one Decoder so
// that replaying a spool allocates little: strings are interned across
// records and the batch's slices keep their capacity. Not safe for concurrent
// use.
type Decoder struct {
	r    reader
	tab  strTable
	tags []string // backing of the decoded tag lists
}

// Decode reads the record b into m (metrics) or p (processes), whichever its
// kind names, after resetting it; the other may be nil. The tag lists it
// stores (m.TagSets, p.Containers[i].Tags) share the Decoder's storage and are
// valid until its next Decode. Errors wrap ErrCorrupt or ErrVersion (or say
// that the batch for the record's kind was nil); after an error the batch
// holds part of the record and is to be discarded.
func (d *Decoder) Decode(b []byte, m *batch.Metrics, p *batch.Processes) (Kind, error) {
	d.r = reader{b: b}
	d.tab.reset()
	d.tags = d.tags[:0]
	defer d.tab.prune()

	k, err := d.decode(m, p)
	if err == nil && d.r.left() != 0 {
		err = fmt.Errorf("%w: %d trailing bytes", ErrCorrupt, d.r.left())
	}
	d.r = reader{} // keep nothing of b
	return k, err
}

func (d *Decoder) decode(m *batch.Metrics, p *batch.Processes) (Kind, error) {
	n, err := d.len(1)
	if err != nil {
		return 0, fmt.Errorf("record: %w", err)
	}
	raw, err := d.r.text()
	if err != nil {
		return 0, fmt.Errorf("magic: %w", err)
	}
	if string(raw) != Magic {
		return 0, fmt.Errorf("%w: magic %q, want %q", ErrCorrupt, raw, Magic)
	}
	v, err := d.uint(math.MaxUint32)
	if err != nil {
		return 0, fmt.Errorf("version: %w", err)
	}
	if v == 0 || v > Version {
		return 0, fmt.Errorf("%w: %d (this build reads 1 to %d)", ErrVersion, v, Version)
	}
	kv, err := d.uint(math.MaxUint8)
	if err != nil {
		return 0, fmt.Errorf("kind: %w", err)
	}
	k := Kind(kv)
	switch k {
	case KindMetrics:
		if m == nil {
			return k, fmt.Errorf("decode %s record: no batch.Metrics given", k)
		}
		if n != metricsFields {
			return k, fmt.Errorf("%w: %s record of %d fields, want %d", ErrCorrupt, k, n, metricsFields)
		}
		return k, d.metrics(m)
	case KindProcesses:
		if p == nil {
			return k, fmt.Errorf("decode %s record: no batch.Processes given", k)
		}
		if n != processesFields {
			return k, fmt.Errorf("%w: %s record of %d fields, want %d", ErrCorrupt, k, n, processesFields)
		}
		return k, d.processes(p)
	}
	return k, fmt.Errorf("%w: unknown kind %d", ErrCorrupt, kv)
}

// header reads host, timestamp, interval and the string table.
func (d *Decoder) header() (host string, ts, interval int64, err error) {
	raw, err := d.r.text()
	if err != nil {
		return "", 0, 0, fmt.Errorf("host: %w", err)
	}
	host = d.tab.intern(raw)
	d.tab.list = d.tab.list[:0] // the host is not a table entry
	if ts, err = d.int(math.MinInt64, math.MaxInt64); err != nil {
		return "", 0, 0, fmt.Errorf("timestamp: %w", err)
	}
	if interval, err = d.int(math.MinInt64, math.MaxInt64); err != nil {
		return "", 0, 0, fmt.Errorf("interval: %w", err)
	}
	n, err := d.len(1)
	if err != nil {
		return "", 0, 0, fmt.Errorf("string table: %w", err)
	}
	for i := range n {
		raw, err := d.r.text()
		if err != nil {
			return "", 0, 0, fmt.Errorf("string %d: %w", i, err)
		}
		d.tab.intern(raw)
	}
	return host, ts, interval, nil
}

func (d *Decoder) metrics(m *batch.Metrics) error {
	m.Reset()
	var err error
	if m.Host, m.Timestamp, m.Interval, err = d.header(); err != nil {
		return err
	}
	n, err := d.len(1)
	if err != nil {
		return fmt.Errorf("tag sets: %w", err)
	}
	for i := range n {
		tags, err := d.tagList()
		if err != nil {
			return fmt.Errorf("tag set %d: %w", i, err)
		}
		m.AddTagSet(tags)
	}
	if n, err = d.len(13); err != nil { // fixarray, name, type, float 64 value, tags
		return fmt.Errorf("points: %w", err)
	}
	if cap(m.Points) < n {
		m.Points = make([]batch.Point, 0, n)
	}
	for i := range n {
		if err := d.point(m); err != nil {
			return fmt.Errorf("point %d: %w", i, err)
		}
	}
	return nil
}

func (d *Decoder) point(m *batch.Metrics) error {
	if err := d.fields(pointFields); err != nil {
		return err
	}
	name, err := d.str()
	if err != nil {
		return fmt.Errorf("name: %w", err)
	}
	t, err := d.uint(uint64(batch.Gauge))
	if err != nil {
		return fmt.Errorf("type: %w", err)
	}
	v, err := d.r.f64()
	if err != nil {
		return fmt.Errorf("value: %w", err)
	}
	tags, err := d.int(int64(batch.NoTags), int64(len(m.TagSets))-1)
	if err != nil {
		return fmt.Errorf("tag set: %w", err)
	}
	m.Add(name, batch.MetricType(t), v, int32(tags))
	return nil
}

// tagList reads an array of string indexes into the Decoder's tag storage.
func (d *Decoder) tagList() ([]string, error) {
	n, err := d.len(1)
	if err != nil {
		return nil, err
	}
	start := len(d.tags)
	for range n {
		s, err := d.str()
		if err != nil {
			return nil, err
		}
		d.tags = append(d.tags, s)
	}
	// Earlier lists keep pointing at the old array if this append grew it,
	// which is fine: nothing writes to a list once it is read.
	return d.tags[start:len(d.tags):len(d.tags)], nil
}

func (d *Decoder) processes(p *batch.Processes) error {
	p.Reset()
	var err error
	if p.Host, p.Timestamp, p.Interval, err = d.header(); err != nil {
		return err
	}
	if err := d.system(&p.System); err != nil {
		return fmt.Errorf("system: %w", err)
	}
	n, err := d.len(containerFields + 3)
	if err != nil {
		return fmt.Errorf("containers: %w", err)
	}
	if cap(p.Containers) < n {
		p.Containers = make([]batch.Container, 0, n)
	}
	for i := range n {
		p.Containers = append(p.Containers, batch.Container{})
		if err := d.container(&p.Containers[i]); err != nil {
			return fmt.Errorf("container %d: %w", i, err)
		}
	}
	if n, err = d.len(processFields + 3); err != nil {
		return fmt.Errorf("processes: %w", err)
	}
	if cap(p.Procs) < n {
		procs := make([]batch.Process, 0, n)
		p.Procs = append(procs, p.Procs[:cap(p.Procs)]...)[:0] // keep the recycled byte slices
	}
	for i := range n {
		if err := d.process(p.Next()); err != nil {
			return fmt.Errorf("process %d: %w", i, err)
		}
	}
	return nil
}

func (d *Decoder) system(s *batch.System) error {
	if err := d.fields(systemFields); err != nil {
		return err
	}
	cpus, err := d.int(math.MinInt32, math.MaxInt32)
	if err != nil {
		return fmt.Errorf("cpus: %w", err)
	}
	s.CPUs = int32(cpus)
	if s.TotalMemory, err = d.uint(math.MaxUint64); err != nil {
		return fmt.Errorf("total memory: %w", err)
	}
	if s.KernelVersion, err = d.str(); err != nil {
		return fmt.Errorf("kernel version: %w", err)
	}
	if s.OS, err = d.str(); err != nil {
		return fmt.Errorf("os: %w", err)
	}
	return nil
}

// fieldReader reads a run of fields and keeps the first error, so the long
// records below read as lists of assignments.
type fieldReader struct {
	d   *Decoder
	i   int // field number, for the error
	err error
}

func (f *fieldReader) fail(err error) {
	if f.err == nil {
		f.err = fmt.Errorf("field %d: %w", f.i, err)
	}
}

func (f *fieldReader) str() string {
	f.i++
	if f.err != nil {
		return ""
	}
	s, err := f.d.str()
	if err != nil {
		f.fail(err)
	}
	return s
}

func (f *fieldReader) bytes(dst []byte) []byte {
	return append(dst, f.str()...)
}

func (f *fieldReader) int(lo, hi int64) int64 {
	f.i++
	if f.err != nil {
		return 0
	}
	v, err := f.d.int(lo, hi)
	if err != nil {
		f.fail(err)
	}
	return v
}

func (f *fieldReader) i32() int32 { return int32(f.int(math.MinInt32, math.MaxInt32)) }
func (f *fieldReader) i64() int64 { return f.int(math.MinInt64, math.MaxInt64) }

func (f *fieldReader) uint(hi uint64) uint64 {
	f.i++
	if f.err != nil {
		return 0
	}
	v, err := f.d.uint(hi)
	if err != nil {
		f.fail(err)
	}
	return v
}

func (f *fieldReader) u64() uint64 { return f.uint(math.MaxUint64) }

func (f *fieldReader) f32() float32 {
	f.i++
	if f.err != nil {
		return 0
	}
	v, err := f.d.r.f32()
	if err != nil {
		f.fail(err)
	}
	return v
}

func (d *Decoder) container(c *batch.Container) error {
	if err := d.fields(containerFields); err != nil {
		return err
	}
	f := fieldReader{d: d, i: -1}
	c.ID = f.str()
	c.Name = f.str()
	c.Runtime = f.str()
	f.i++
	if f.err == nil {
		var err error
		if c.Tags, err = d.tagList(); err != nil {
			f.fail(err)
		}
	}
	c.State = batch.ContainerState(f.uint(math.MaxUint8))
	c.Created = f.i64()
	c.Started = f.i64()
	c.CPULimit = f.f32()
	c.MemoryLimit = f.u64()
	c.UserPct = f.f32()
	c.SystemPct = f.f32()
	c.TotalPct = f.f32()
	c.CPUUsageNs = f.f32()
	c.ReadBps = f.f32()
	c.WriteBps = f.f32()
	c.NetRcvdPs = f.f32()
	c.NetSentPs = f.f32()
	c.NetRcvdBps = f.f32()
	c.NetSentBps = f.f32()
	c.MemRSS = f.u64()
	c.MemCache = f.u64()
	c.MemUsage = f.u64()
	c.MemAccounted = f.u64()
	c.ThreadCount = f.u64()
	c.ThreadLimit = f.u64()
	return f.err
}

func (d *Decoder) process(p *batch.Process) error {
	if err := d.fields(processFields); err != nil {
		return err
	}
	f := fieldReader{d: d, i: -1}
	p.PID = f.i32()
	p.PPID = f.i32()
	p.NsPID = f.i32()
	p.Args = f.bytes(p.Args)
	p.Comm = f.bytes(p.Comm)
	p.Exe = f.bytes(p.Exe)
	p.User = f.str()
	p.UID = uint32(f.uint(math.MaxUint32))
	p.GID = uint32(f.uint(math.MaxUint32))
	p.State = byte(f.uint(math.MaxUint8))
	p.CreateTime = f.i64()
	p.Nice = f.i32()
	p.Threads = f.i32()
	p.OpenFDs = f.i32()
	p.UserPct = f.f32()
	p.SystemPct = f.f32()
	p.TotalPct = f.f32()
	p.UserTime = f.u64()
	p.SystemTime = f.u64()
	p.RSS = f.u64()
	p.VMS = f.u64()
	p.Swap = f.u64()
	p.ReadRate = f.f32()
	p.WriteRate = f.f32()
	p.ReadBytesRate = f.f32()
	p.WriteBytesRate = f.f32()
	p.VolCtxSwitches = f.u64()
	p.InvolCtxSwitches = f.u64()
	p.ContainerID = f.str()
	return f.err
}

// len reads an array length and bounds it by the bytes left, each element
// taking at least min bytes, so a hostile length cannot make us allocate.
func (d *Decoder) len(min int) (int, error) {
	n, err := d.r.arrayLen()
	if err != nil {
		return 0, err
	}
	if n > d.r.left()/min {
		return 0, fmt.Errorf("%w: array of %d in %d remaining bytes", ErrCorrupt, n, d.r.left())
	}
	return n, nil
}

// fields reads the header of a fixed-size array.
func (d *Decoder) fields(want int) error {
	n, err := d.r.arrayLen()
	if err != nil {
		return err
	}
	if n != want {
		return fmt.Errorf("%w: array of %d fields, want %d", ErrCorrupt, n, want)
	}
	return nil
}

// str reads a string-table index and returns its entry.
func (d *Decoder) str() (string, error) {
	i, err := d.r.uint(math.MaxUint32)
	if err != nil {
		return "", err
	}
	if i >= uint64(len(d.tab.list)) {
		return "", fmt.Errorf("%w: string index %d of %d", ErrCorrupt, i, len(d.tab.list))
	}
	return d.tab.list[i], nil
}

func (d *Decoder) uint(hi uint64) (uint64, error)  { return d.r.uint(hi) }
func (d *Decoder) int(lo, hi int64) (int64, error) { return d.r.int(lo, hi) }
