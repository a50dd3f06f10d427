//go:build linux

package procevent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

const (
	defaultPollInterval  = 100 * time.Millisecond
	defaultNetlinkBuffer = 4 << 20
	ackTimeout           = time.Second

	// recvmmsg batch: slots of slotSize bytes (a connector message is 76 bytes).
	slots    = 64
	slotSize = 128
)

// Netlink is the proc connector source (CONFIG_PROC_EVENTS): fork (new
// process), exec and exit events with pids, the parent pid (of a fork and an
// exit; of an exec when its fork was seen) and the exit code. It has no comm,
// uid, cgroup, CPU time or RSS.
//
// It must run in the initial pid and user namespaces (the kernel ignores
// subscriptions from others: Open then fails for want of an ack) and in the host
// network namespace (the connector's socket lives in init_net). Binding needs
// CAP_NET_ADMIN before Linux 6.6; the 4 MiB receive buffer needs it always
// (SO_RCVBUFFORCE; otherwise net.core.rmem_max caps it).
//
// The socket is drained every PollInterval with recvmmsg, without waiting on it
// between drains: the kernel then wakes nobody per event, as the eBPF rungs'
// batched wake-ups. Lost counts messages missing from the kernel's per-CPU
// sequence numbers: all connector messages (thread forks, comm, ...) not only
// those that become events.
type Netlink struct {
	fd   int
	poll time.Duration

	hdrs  []unix.Mmsghdr
	iovs  []unix.Iovec
	names []unix.RawSockaddrNetlink
	buf   []byte
	c     *connector // Run's goroutine only

	lost      atomic.Uint64
	overflows atomic.Uint64 // ENOBUFS reports
	malformed atomic.Uint64

	mu     sync.Mutex // held by Run while it reads, and by Close
	done   chan struct{}
	closed bool
}

// OpenNetlink subscribes to the proc connector and waits for the kernel's ack.
func OpenNetlink(opt Options) (_ *Netlink, err error) {
	if opt.PollInterval <= 0 {
		opt.PollInterval = defaultPollInterval
	}
	if opt.NetlinkBuffer <= 0 {
		opt.NetlinkBuffer = defaultNetlinkBuffer
	}
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.NETLINK_CONNECTOR)
	if err != nil {
		return nil, fmt.Errorf("netlink connector socket: %w (CONFIG_CONNECTOR?)", err)
	}
	defer func() {
		if err != nil {
			unix.Close(fd)
		}
	}()
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, opt.NetlinkBuffer); err != nil {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, opt.NetlinkBuffer); err != nil {
			return nil, fmt.Errorf("netlink connector SO_RCVBUF: %w", err)
		}
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: cnIdxProc}); err != nil {
		return nil, fmt.Errorf("netlink connector bind: %w (needs CAP_NET_ADMIN before Linux 6.6)", err)
	}

	n := &Netlink{fd: fd, poll: opt.PollInterval, c: &connector{}, done: make(chan struct{})}
	n.buf = make([]byte, slots*slotSize)
	n.hdrs = make([]unix.Mmsghdr, slots)
	n.iovs = make([]unix.Iovec, slots)
	n.names = make([]unix.RawSockaddrNetlink, slots)
	for i := range n.hdrs {
		n.iovs[i].Base = &n.buf[i*slotSize]
		n.iovs[i].SetLen(slotSize)
		n.hdrs[i].Hdr.Iov = &n.iovs[i]
		n.hdrs[i].Hdr.SetIovlen(1)
		n.hdrs[i].Hdr.Name = (*byte)(unsafe.Pointer(&n.names[i]))
	}

	nonce := uint32(os.Getpid())<<8 | 0x5a
	if err := n.send(mcastListen, nonce); err != nil {
		return nil, fmt.Errorf("netlink connector PROC_CN_MCAST_LISTEN: %w", err)
	}
	if err := n.awaitAck(nonce + 1); err != nil {
		_ = n.send(mcastIgnore, 0)
		return nil, err
	}
	var boot, mono unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_BOOTTIME, &boot)
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &mono)
	n.c.bootOffset = boot.Nano() - mono.Nano()
	return n, nil
}

func (n *Netlink) send(op, ack uint32) error {
	return unix.Sendto(n.fd, request(op, ack), 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK})
}

// awaitAck reads until the kernel's answer to our request (its ack field is
// want). Events read meanwhile (from before Open returns) are dropped.
func (n *Netlink) awaitAck(want uint32) error {
	deadline := time.Now().Add(ackTimeout)
	var m cnEvent
	for {
		cnt, err := n.recv()
		switch {
		case err == unix.EAGAIN:
			left := time.Until(deadline)
			if left <= 0 {
				return errors.New("netlink connector: no ack to PROC_CN_MCAST_LISTEN " +
					"(not in the initial pid/user namespace, or no CONFIG_PROC_EVENTS)")
			}
			pfd := []unix.PollFd{{Fd: int32(n.fd), Events: unix.POLLIN}}
			if _, err := unix.Poll(pfd, int(left/time.Millisecond)+1); err != nil && err != unix.EINTR {
				return fmt.Errorf("netlink connector poll: %w", err)
			}
			continue
		case err == unix.ENOBUFS || err == unix.EINTR:
			continue
		case err != nil:
			return fmt.Errorf("netlink connector recv: %w", err)
		}
		for i := range cnt {
			if parseMsg(n.msg(i), &m) == nil && m.what == procEventNone && m.ack == want {
				if m.data[0] != 0 {
					return fmt.Errorf("netlink connector PROC_CN_MCAST_LISTEN: %w", unix.Errno(m.data[0]))
				}
				return nil
			}
		}
	}
}

// recv reads up to slots datagrams without blocking.
func (n *Netlink) recv() (int, error) {
	for i := range n.hdrs {
		n.hdrs[i].Len = 0
		n.hdrs[i].Hdr.Flags = 0
		n.hdrs[i].Hdr.Namelen = unix.SizeofSockaddrNetlink
	}
	r, _, e := unix.Syscall6(unix.SYS_RECVMMSG, uintptr(n.fd), uintptr(unsafe.Pointer(&n.hdrs[0])),
		uintptr(len(n.hdrs)), unix.MSG_DONTWAIT, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}

// msg returns datagram i of the last recv, or nil if it was truncated or did not
// come from the kernel (netlink port 0).
func (n *Netlink) msg(i int) []byte {
	h := &n.hdrs[i]
	if h.Hdr.Flags&unix.MSG_TRUNC != 0 || n.names[i].Pid != 0 {
		return nil
	}
	return n.buf[i*slotSize : i*slotSize+int(min(h.Len, slotSize))]
}

// Mode returns "netlink".
func (n *Netlink) Mode() string { return ModeNetlink }

// Lost returns how many connector messages were dropped before we read them.
func (n *Netlink) Lost() uint64 { return n.lost.Load() }

// Overflows returns how many times the socket reported ENOBUFS (its buffer
// overflowed; Lost has the count of messages).
func (n *Netlink) Overflows() uint64 { return n.overflows.Load() }

// Run delivers events to fn every PollInterval until ctx is done or n is closed.
func (n *Netlink) Run(ctx context.Context, fn func(*Event)) error {
	tick := time.NewTicker(n.poll)
	defer tick.Stop()
	for {
		if err := n.drain(fn); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-n.done:
			return nil
		case <-tick.C:
		}
	}
}

func (n *Netlink) drain(fn func(*Event)) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil
	}
	c := n.c
	lost, malformed := c.lost, c.malformed
	defer func() {
		n.lost.Add(c.lost - lost)
		n.malformed.Add(c.malformed - malformed)
	}()
	for {
		cnt, err := n.recv()
		switch err {
		case nil:
		case unix.EAGAIN:
			return nil
		case unix.ENOBUFS:
			n.overflows.Add(1)
			continue
		case unix.EINTR:
			continue
		default:
			return fmt.Errorf("netlink connector recv: %w", err)
		}
		for i := range cnt {
			if b := n.msg(i); b != nil {
				c.handle(b, fn)
			} else {
				c.malformed++
			}
		}
		if cnt < slots {
			return nil // the queue was empty: the rest waits for the next tick
		}
	}
}

// Close unsubscribes and closes the socket; Run returns. It is idempotent.
func (n *Netlink) Close() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil
	}
	n.closed = true
	close(n.done)
	// Older kernels count listeners only by LISTEN/IGNORE requests, not sockets:
	// say goodbye so they stop building messages for nobody.
	_ = n.send(mcastIgnore, 0)
	return unix.Close(n.fd)
}
