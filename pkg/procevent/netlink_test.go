package procevent

import (
	"encoding/binary"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// msg builds a connector message as the kernel sends it: what, cpu, seq,
// timestamp and the event_data words.
func msg(what, cpu, seq uint32, ns uint64, data ...uint32) []byte {
	const payload = 16 + 4*dataWords // sizeof(struct proc_event)
	b := make([]byte, nlmsgHdrLen+cnMsgLen+payload)
	ne := binary.NativeEndian
	ne.PutUint32(b[0:], uint32(len(b)))
	ne.PutUint16(b[4:], nlmsgDone)
	ne.PutUint32(b[offCnIdx:], cnIdxProc)
	ne.PutUint32(b[offCnVal:], cnValProc)
	ne.PutUint32(b[offCnSeq:], seq)
	ne.PutUint16(b[offCnLen:], payload)
	ne.PutUint32(b[offWhat:], what)
	ne.PutUint32(b[offCPU:], cpu)
	ne.PutUint64(b[offTime:], ns)
	for i, d := range data {
		ne.PutUint32(b[offData+4*i:], d)
	}
	return b
}

func TestParseMsg(t *testing.T) {
	t.Parallel()
	good := msg(procEventExit, 1, 7, 99, 10, 10, 3<<8, 17, 1, 1)
	tests := []struct {
		name string
		b    []byte
		want cnEvent
		ok   bool
	}{
		{"exit", good, cnEvent{what: procEventExit, cpu: 1, seq: 7, ns: 99, data: [dataWords]uint32{10, 10, 3 << 8, 17, 1, 1}, n: dataWords}, true},
		{"short", good[:offData], cnEvent{}, false},
		{"length mismatch", append(append([]byte(nil), good...), 0, 0, 0, 0), cnEvent{}, false},
		{"not the proc connector", func() []byte {
			b := append([]byte(nil), good...)
			binary.NativeEndian.PutUint32(b[offCnIdx:], 2)
			return b
		}(), cnEvent{}, false},
		{"payload beyond the message", func() []byte {
			b := append([]byte(nil), good...)
			binary.NativeEndian.PutUint16(b[offCnLen:], 200)
			return b
		}(), cnEvent{}, false},
		{"short payload", func() []byte {
			b := append([]byte(nil), good...)
			binary.NativeEndian.PutUint16(b[offCnLen:], 24) // header + 2 words
			return b
		}(), cnEvent{what: procEventExit, cpu: 1, seq: 7, ns: 99, data: [dataWords]uint32{10, 10}, n: 2}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got cnEvent
			err := parseMsg(tt.b, &got)
			if (err == nil) != tt.ok {
				t.Fatalf("parseMsg(%s) error = %v, want ok=%v", tt.name, err, tt.ok)
			}
			if tt.ok && got != tt.want {
				t.Errorf("parseMsg(%s) = %+v, want %+v", tt.name, got, tt.want)
			}
		})
	}
}

func TestConnector(t *testing.T) {
	t.Parallel()
	c := &connector{bootOffset: 1000}
	var got []Event
	fn := func(e *Event) { got = append(got, *e) }
	for _, b := range [][]byte{
		msg(procEventNone, 0xffffffff, 12345, 1),                 // ack: not sequenced
		msg(procEventFork, 0, 10, 5, 100, 100, 200, 200),         // process 200 forked by 100
		msg(procEventFork, 0, 11, 6, 200, 200, 201, 200),         // a thread of 200: not remembered
		msg(procEventExec, 1, 50, 7, 200, 200),                   // exec of 200: ppid from the fork
		msg(procEventExec, 1, 53, 8, 300, 300),                   // 2 messages of CPU 1 lost; unknown parent
		msg(procEventExit, 0, 12, 9, 201, 200, 0, 17, 100, 100),  // a thread exits: no event
		msg(procEventExit, 0, 13, 10, 200, 200, 9, 17, 100, 100), // the process, killed by SIGKILL
		msg(procEventExit, 1, 54, 11, 300, 300, 0, 17, 0, 0),     // already reaped: no parent, no fork seen
		msg(procEventFork, 1, 55, 12, 100, 100, 500, 500),        // 500 forked by 100...
		msg(procEventExit, 1, 56, 13, 500, 500, 0, 17, 0, 0),     // ...and reaped before the connector ran
	} {
		c.handle(b, fn)
	}
	// Two messages in one datagram.
	c.handle(append(msg(procEventFork, 2, 0, 11, 1, 1, 400, 400), msg(procEventExec, 2, 1, 12, 400, 400)...), fn)
	want := []Event{
		{Type: Fork, Has: HasTime | HasPPID, PID: 200, TGID: 200, PPID: 100, TimeNs: 1005},
		{Type: Exec, Has: HasTime | HasPPID, PID: 200, TGID: 200, PPID: 100, TimeNs: 1007},
		{Type: Exec, Has: HasTime, PID: 300, TGID: 300, TimeNs: 1008},
		{Type: Exit, Has: HasTime | HasExitCode | HasPPID, PID: 200, TGID: 200, PPID: 100, ExitCode: 9, TimeNs: 1010, ExitNs: 1010},
		{Type: Exit, Has: HasTime | HasExitCode, PID: 300, TGID: 300, TimeNs: 1011, ExitNs: 1011},
		{Type: Fork, Has: HasTime | HasPPID, PID: 500, TGID: 500, PPID: 100, TimeNs: 1012},
		{Type: Exit, Has: HasTime | HasExitCode | HasPPID, PID: 500, TGID: 500, PPID: 100, TimeNs: 1013, ExitNs: 1013},
		{Type: Fork, Has: HasTime | HasPPID, PID: 400, TGID: 400, PPID: 1, TimeNs: 1011},
		{Type: Exec, Has: HasTime | HasPPID, PID: 400, TGID: 400, PPID: 1, TimeNs: 1012},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	if c.lost != 2 || c.malformed != 0 {
		t.Errorf("lost %d malformed %d, want 2 and 0", c.lost, c.malformed)
	}
	if status, sig := got[3].ExitStatus(); status != -1 || sig != 9 {
		t.Errorf("ExitStatus() = %d, %d, want -1, 9", status, sig)
	}
}

func TestConnectorAllocs(t *testing.T) {
	c := &connector{}
	fork := msg(procEventFork, 0, 0, 1, 1, 1, 2, 2)
	exec := msg(procEventExec, 0, 1, 1, 2, 2)
	exit := msg(procEventExit, 0, 2, 1, 2, 2, 0, 17, 1, 1)
	n := 0
	fn := func(*Event) { n++ }
	if a := testing.AllocsPerRun(1000, func() {
		c.handle(fork, fn)
		c.handle(exec, fn)
		c.handle(exit, fn)
	}); a != 0 {
		t.Errorf("handle allocates %v times per fork+exec+exit, want 0", a)
	}
	if n%3 != 0 || n == 0 {
		t.Errorf("%d events from fork+exec+exit triples, want 3 per triple", n)
	}
}

func BenchmarkConnector(b *testing.B) {
	c := &connector{}
	fork := msg(procEventFork, 0, 0, 1, 1, 1, 2, 2)
	exec := msg(procEventExec, 0, 1, 1, 2, 2)
	exit := msg(procEventExit, 0, 2, 1, 2, 2, 0, 17, 1, 1)
	fn := func(*Event) {}
	b.ReportAllocs()
	for b.Loop() {
		c.handle(fork, fn)
		c.handle(exec, fn)
		c.handle(exit, fn)
	}
}

func FuzzConnector(f *testing.F) {
	f.Add(msg(procEventExec, 0, 1, 1, 2, 2))
	f.Add(msg(procEventExit, 0, 2, 1, 2, 2, 0, 17, 1, 1))
	f.Add(append(msg(procEventFork, 2, 0, 11, 1, 1, 400, 400), msg(procEventExec, 2, 1, 12, 400, 400)...))
	f.Fuzz(func(t *testing.T, b []byte) {
		c := &connector{}
		c.handle(b, func(e *Event) {
			if e.Type != Exec && e.Type != Exit && e.Type != Fork {
				t.Errorf("event of type %d", e.Type)
			}
			if e.Type == Fork && (e.PID != e.TGID || e.PID == 0 || e.Has&HasPPID == 0) {
				t.Errorf("fork event %+v: want a process (pid = tgid != 0) with its parent", *e)
			}
		})
	})
}

func TestRequest(t *testing.T) {
	t.Parallel()
	b := request(mcastListen, 42)
	var m cnEvent
	// A request is a valid connector message whose "what" is the op.
	if err := parseMsgRequest(b, &m); err != nil || m.ack != 42 || m.what != mcastListen {
		t.Errorf("request(LISTEN, 42) = %x: parse %v, ack %d, op %d", b, err, m.ack, m.what)
	}
}

// parseMsgRequest reads a request with parseMsg's offsets (its payload is 4 bytes:
// too short for parseMsg, which wants a proc_event).
func parseMsgRequest(b []byte, m *cnEvent) error {
	if len(b) != nlmsgHdrLen+cnMsgLen+4 || int(binary.NativeEndian.Uint32(b)) != len(b) {
		return errMsg
	}
	m.ack = binary.NativeEndian.Uint32(b[offCnAck:])
	m.what = binary.NativeEndian.Uint32(b[offWhat:])
	return nil
}
