package procevent

import (
	"encoding/binary"
	"errors"
)

// The proc connector's wire format (include/uapi/linux/connector.h, cn_proc.h):
// a netlink header, a cn_msg, a proc_event. Decoded at fixed offsets.
const (
	cnIdxProc = 1 // CN_IDX_PROC
	cnValProc = 1 // CN_VAL_PROC

	mcastListen = 1 // PROC_CN_MCAST_LISTEN
	mcastIgnore = 2 // PROC_CN_MCAST_IGNORE

	procEventNone = 0x00000000
	procEventFork = 0x00000001
	procEventExec = 0x00000002
	procEventExit = 0x80000000

	nlmsgHdrLen = 16 // struct nlmsghdr: len u32, type u16, flags u16, seq u32, pid u32
	nlmsgDone   = 3  // NLMSG_DONE: the type the connector sends

	// struct cn_msg after the netlink header.
	offCnIdx = nlmsgHdrLen + 0
	offCnVal = nlmsgHdrLen + 4
	offCnSeq = nlmsgHdrLen + 8
	offCnAck = nlmsgHdrLen + 12
	offCnLen = nlmsgHdrLen + 16
	cnMsgLen = 20

	// struct proc_event after the cn_msg: what u32, cpu u32, timestamp_ns u64
	// (8-aligned within the struct), then the event_data union.
	offWhat = nlmsgHdrLen + cnMsgLen + 0
	offCPU  = nlmsgHdrLen + cnMsgLen + 4
	offTime = nlmsgHdrLen + cnMsgLen + 8
	offData = nlmsgHdrLen + cnMsgLen + 16
	// The union words we read: fork {parent_pid, parent_tgid, child_pid,
	// child_tgid}, exec {process_pid, process_tgid}, exit {process_pid,
	// process_tgid, exit_code, exit_signal, parent_pid, parent_tgid},
	// ack {err}.
	dataWords = 6
	cnMinLen  = offData + 4*4 // what a fork needs; exits are checked for their own
)

// cnEvent is one decoded proc connector message.
type cnEvent struct {
	what uint32
	cpu  uint32
	seq  uint32 // per-CPU sequence number
	ack  uint32 // of an ack: the request's ack + 1
	ns   uint64 // CLOCK_MONOTONIC
	data [dataWords]uint32
	n    int // words of data present
}

var errMsg = errors.New("malformed proc connector message")

// parseMsg decodes one netlink message (one nlmsghdr and what it covers) into m.
// It keeps nothing of b.
func parseMsg(b []byte, m *cnEvent) error {
	ne := binary.NativeEndian
	if len(b) < offData+4 || int(ne.Uint32(b[0:])) != len(b) {
		return errMsg
	}
	if ne.Uint16(b[4:]) != nlmsgDone || ne.Uint32(b[offCnIdx:]) != cnIdxProc || ne.Uint32(b[offCnVal:]) != cnValProc {
		return errMsg
	}
	payload := int(ne.Uint16(b[offCnLen:]))
	if payload < offData-offWhat || nlmsgHdrLen+cnMsgLen+payload > len(b) {
		return errMsg
	}
	m.seq = ne.Uint32(b[offCnSeq:])
	m.ack = ne.Uint32(b[offCnAck:])
	m.what = ne.Uint32(b[offWhat:])
	m.cpu = ne.Uint32(b[offCPU:])
	m.ns = ne.Uint64(b[offTime:])
	m.n = min((payload-(offData-offWhat))/4, dataWords)
	for i := range m.n {
		m.data[i] = ne.Uint32(b[offData+4*i:])
	}
	for i := m.n; i < dataWords; i++ {
		m.data[i] = 0
	}
	return nil
}

// request builds the connector message that subscribes (op mcastListen) or
// unsubscribes (mcastIgnore). The kernel's ack carries our ack field plus one
// (its seq is not ours: send_msg renumbers it in the per-CPU sequence).
func request(op, ack uint32) []byte {
	const size = nlmsgHdrLen + cnMsgLen + 4
	b := make([]byte, size)
	ne := binary.NativeEndian
	ne.PutUint32(b[0:], size)
	ne.PutUint16(b[4:], nlmsgDone)
	ne.PutUint32(b[offCnIdx:], cnIdxProc)
	ne.PutUint32(b[offCnVal:], cnValProc)
	ne.PutUint32(b[offCnSeq:], 0)
	ne.PutUint32(b[offCnAck:], ack)
	ne.PutUint16(b[offCnLen:], 4)
	ne.PutUint32(b[nlmsgHdrLen+cnMsgLen:], op)
	return b
}

// forkSlots is the size of the table remembering each new process's parent
// (from fork events), so an exec can carry its PPID. A collision loses one PPID.
const forkSlots = 1 << 13

type forkEntry struct{ pid, ppid int32 }

// seqCPUs bounds the CPUs whose sequence numbers are tracked for loss counting.
const seqCPUs = 1024

// connector is the proc connector's decoding state, OS-independent so that it is
// tested and fuzzed anywhere.
type connector struct {
	bootOffset int64 // CLOCK_BOOTTIME - CLOCK_MONOTONIC at open
	next       [seqCPUs]uint32
	seen       [seqCPUs]bool
	forks      [forkSlots]forkEntry
	lost       uint64 // messages missing from the per-CPU sequences
	malformed  uint64
	ev         Event
}

// handle decodes a datagram (one or more netlink messages) and calls fn for each
// new process (fork), exec and process exit.
func (c *connector) handle(b []byte, fn func(*Event)) {
	ne := binary.NativeEndian
	var m cnEvent
	for len(b) >= nlmsgHdrLen {
		l := int(ne.Uint32(b[0:]))
		if l < nlmsgHdrLen || l > len(b) {
			c.malformed++
			return
		}
		if parseMsg(b[:l], &m) != nil {
			c.malformed++
		} else {
			c.event(&m, fn)
		}
		b = b[min((l+3)&^3, len(b)):]
	}
}

func (c *connector) event(m *cnEvent, fn func(*Event)) {
	// Messages are numbered per CPU, in order: a gap is a loss (socket full, or
	// the kernel failed to allocate the message). Acks (to any listener) are
	// numbered too since 6.6; before, they had cpu -1 and a seq of their own.
	if cpu := m.cpu; cpu < seqCPUs {
		if c.seen[cpu] {
			if gap := m.seq - c.next[cpu]; gap != 0 && gap < 1<<31 {
				c.lost += uint64(gap)
			}
		}
		c.seen[cpu] = true
		c.next[cpu] = m.seq + 1
	}
	e := &c.ev
	switch m.what {
	case procEventFork:
		parentTGID, childPID, childTGID := int32(m.data[1]), int32(m.data[2]), int32(m.data[3])
		if childPID != childTGID || childTGID == 0 {
			return // a thread, not a process
		}
		c.forks[uint32(childTGID)%forkSlots] = forkEntry{pid: childTGID, ppid: parentTGID}
		*e = Event{Type: Fork, Has: HasTime | HasPPID, PID: childTGID, TGID: childTGID, PPID: parentTGID}
		e.TimeNs = uint64(int64(m.ns) + c.bootOffset)
		fn(e)
	case procEventExec:
		*e = Event{Type: Exec, Has: HasTime, PID: int32(m.data[0]), TGID: int32(m.data[1])}
		e.TimeNs = uint64(int64(m.ns) + c.bootOffset)
		if f := c.forks[uint32(e.TGID)%forkSlots]; f.pid == e.TGID && f.pid != 0 {
			e.PPID = f.ppid
			e.Has |= HasPPID
		}
		fn(e)
	case procEventExit:
		pid, tgid := int32(m.data[0]), int32(m.data[1])
		if pid != tgid || m.n < 4 {
			return // a thread, not the process (the connector cannot tell the last thread)
		}
		*e = Event{Type: Exit, Has: HasTime | HasExitCode, PID: pid, TGID: tgid, ExitCode: int32(m.data[2])}
		e.TimeNs = uint64(int64(m.ns) + c.bootOffset)
		e.ExitNs = e.TimeNs
		// parent_tgid is 0 when the parent reaped the process before the
		// connector looked (it runs after exit_notify): then the fork's parent.
		if m.n >= 6 && m.data[5] != 0 {
			e.PPID = int32(m.data[5])
			e.Has |= HasPPID
		} else if f := c.forks[uint32(tgid)%forkSlots]; f.pid == tgid && f.pid != 0 {
			e.PPID = f.ppid
			e.Has |= HasPPID
		}
		fn(e)
	}
}
