package mpack

import "github.com/whippet-agent/whippet/pkg/batch"

// Encoder writes records. The zero value is ready to use; reuse one Encoder for
// every cycle so that its string table and scratch slices are recycled. An
// Encoder is not safe for concurrent use, and the batch must not change while
// it is being encoded. The table keeps the batch's strings as map keys between
// records, so they must be ordinary immutable strings (not unsafe views of
// reused buffers); byte-slice fields are copied.
type Encoder struct {
	b   []byte
	tab strTable
	idx []uint32 // string indexes gathered by the first pass, in writing order
}

func (e *Encoder) begin(dst []byte) {
	e.b = dst
	e.tab.reset()
	e.idx = e.idx[:0]
}

func (e *Encoder) end() []byte {
	b := e.b
	e.b = nil
	e.tab.prune()
	return b
}

func (e *Encoder) arrayLen(n int) { e.b = appendArrayLen(e.b, n) }
func (e *Encoder) uint(v uint64)  { e.b = appendUint(e.b, v) }
func (e *Encoder) int(v int64)    { e.b = appendInt(e.b, v) }
func (e *Encoder) f32(v float32)  { e.b = appendF32(e.b, v) }
func (e *Encoder) f64(v float64)  { e.b = appendF64(e.b, v) }
func (e *Encoder) text(s string)  { e.b = appendText(e.b, s) }

func (e *Encoder) header(k Kind, fields int, host string, ts, interval int64) {
	e.arrayLen(fields)
	e.text(Magic)
	e.uint(Version)
	e.uint(uint64(k))
	e.text(host)
	e.int(ts)
	e.int(interval)
	e.arrayLen(len(e.tab.list))
	for _, s := range e.tab.list {
		e.text(s)
	}
}

// next pops the next index gathered by the first pass.
func (e *Encoder) next(i *int) uint64 {
	v := e.idx[*i]
	*i++
	return uint64(v)
}

// AppendMetrics appends m as one record to dst and returns the extended slice.
// A point whose Tags index is out of range is written as untagged, as
// batch.Metrics.Tags reads it.
func (e *Encoder) AppendMetrics(dst []byte, m *batch.Metrics) []byte {
	e.begin(dst)
	for i := range m.Points {
		e.idx = append(e.idx, e.tab.add(m.Points[i].Name))
	}
	for _, ts := range m.TagSets {
		for _, t := range ts {
			e.idx = append(e.idx, e.tab.add(t))
		}
	}
	e.header(KindMetrics, metricsFields, m.Host, m.Timestamp, m.Interval)

	k := len(m.Points) // tag indexes follow the name indexes
	e.arrayLen(len(m.TagSets))
	for _, ts := range m.TagSets {
		e.arrayLen(len(ts))
		for range ts {
			e.uint(e.next(&k))
		}
	}
	e.arrayLen(len(m.Points))
	for i := range m.Points {
		p := &m.Points[i]
		tags := int64(p.Tags)
		if p.Tags < 0 || int(p.Tags) >= len(m.TagSets) {
			tags = int64(batch.NoTags)
		}
		e.arrayLen(pointFields)
		e.uint(uint64(e.idx[i]))
		e.uint(uint64(p.Type))
		e.f64(p.Value)
		e.int(tags)
	}
	return e.end()
}

// AppendProcesses appends p as one record to dst and returns the extended slice.
func (e *Encoder) AppendProcesses(dst []byte, p *batch.Processes) []byte {
	e.begin(dst)
	e.idx = append(e.idx, e.tab.add(p.System.KernelVersion), e.tab.add(p.System.OS))
	for i := range p.Containers {
		c := &p.Containers[i]
		e.idx = append(e.idx, e.tab.add(c.ID), e.tab.add(c.Name), e.tab.add(c.Runtime))
		for _, t := range c.Tags {
			e.idx = append(e.idx, e.tab.add(t))
		}
	}
	for i := range p.Procs {
		pr := &p.Procs[i]
		e.idx = append(e.idx, e.tab.addBytes(pr.Args), e.tab.addBytes(pr.Comm), e.tab.addBytes(pr.Exe),
			e.tab.add(pr.User), e.tab.add(pr.ContainerID))
	}
	e.header(KindProcesses, processesFields, p.Host, p.Timestamp, p.Interval)

	k := 0
	e.arrayLen(systemFields)
	e.int(int64(p.System.CPUs))
	e.uint(p.System.TotalMemory)
	e.uint(e.next(&k))
	e.uint(e.next(&k))

	e.arrayLen(len(p.Containers))
	for i := range p.Containers {
		c := &p.Containers[i]
		e.arrayLen(containerFields)
		e.uint(e.next(&k))
		e.uint(e.next(&k))
		e.uint(e.next(&k))
		e.arrayLen(len(c.Tags))
		for range c.Tags {
			e.uint(e.next(&k))
		}
		e.uint(uint64(c.State))
		e.int(c.Created)
		e.int(c.Started)
		e.f32(c.CPULimit)
		e.uint(c.MemoryLimit)
		e.f32(c.UserPct)
		e.f32(c.SystemPct)
		e.f32(c.TotalPct)
		e.f32(c.CPUUsageNs)
		e.f32(c.ReadBps)
		e.f32(c.WriteBps)
		e.f32(c.NetRcvdPs)
		e.f32(c.NetSentPs)
		e.f32(c.NetRcvdBps)
		e.f32(c.NetSentBps)
		e.uint(c.MemRSS)
		e.uint(c.MemCache)
		e.uint(c.MemUsage)
		e.uint(c.MemAccounted)
		e.uint(c.ThreadCount)
		e.uint(c.ThreadLimit)
	}

	e.arrayLen(len(p.Procs))
	for i := range p.Procs {
		pr := &p.Procs[i]
		e.arrayLen(processFields)
		e.int(int64(pr.PID))
		e.int(int64(pr.PPID))
		e.int(int64(pr.NsPID))
		args, comm, exe, user, cid := e.next(&k), e.next(&k), e.next(&k), e.next(&k), e.next(&k)
		e.uint(args)
		e.uint(comm)
		e.uint(exe)
		e.uint(user)
		e.uint(uint64(pr.UID))
		e.uint(uint64(pr.GID))
		e.uint(uint64(pr.State))
		e.int(pr.CreateTime)
		e.int(int64(pr.Nice))
		e.int(int64(pr.Threads))
		e.int(int64(pr.OpenFDs))
		e.f32(pr.UserPct)
		e.f32(pr.SystemPct)
		e.f32(pr.TotalPct)
		e.uint(pr.UserTime)
		e.uint(pr.SystemTime)
		e.uint(pr.RSS)
		e.uint(pr.VMS)
		e.uint(pr.Swap)
		e.f32(pr.ReadRate)
		e.f32(pr.WriteRate)
		e.f32(pr.ReadBytesRate)
		e.f32(pr.WriteBytesRate)
		e.uint(pr.VolCtxSwitches)
		e.uint(pr.InvolCtxSwitches)
		e.uint(cid)
	}
	return e.end()
}
