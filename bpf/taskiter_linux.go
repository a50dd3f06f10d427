//go:build linux

package bpf

import (
	"errors"
	"fmt"
	"sync"
	"unsafe"

	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/rlimit"
	"golang.org/x/sys/unix"
)

// TaskIter is the attached iter/task program of taskiter.c. Each Read creates a
// new iterator from the link and reads one record per process (thread-group
// leader, kernel threads included).
type TaskIter struct {
	mu     sync.Mutex // serialises Read and Close
	objs   taskiterObjects
	link   *link.Iter
	closed bool
	attr   iterCreateAttr // reused so that Read does not allocate
	rec    TaskRecord     // Each's reused record
}

// iterCreateAttr is union bpf_attr's iter_create member.
type iterCreateAttr struct {
	linkFD uint32
	flags  uint32
}

// taskIterMinBuf is the buffer Read starts with when the caller's is smaller.
const taskIterMinBuf = 64 << 10

// OpenTaskIter loads taskiter.c and attaches its iterator.
func OpenTaskIter() (*TaskIter, error) {
	memlockErr := rlimit.RemoveMemlock()
	var t TaskIter
	if err := loadTaskiterObjects(&t.objs, nil); err != nil {
		if memlockErr != nil {
			err = errors.Join(err, memlockErr)
		}
		return nil, fmt.Errorf("bpf: load task iterator: %w", err)
	}
	l, err := link.AttachIter(link.IterOptions{Program: t.objs.DumpProcs})
	if err != nil {
		t.objs.Close()
		return nil, fmt.Errorf("bpf: attach task iterator: %w", err)
	}
	t.link = l
	return &t, nil
}

// Read runs the iterator once and returns every record, read into *buf (reused,
// grown when full and stored back). It does not allocate once *buf is large
// enough. Decode the result with EachTask or DecodeTask.
func (t *TaskIter) Read(buf *[]byte) ([]byte, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil, errors.New("bpf: task iterator closed")
	}
	t.attr = iterCreateAttr{linkFD: uint32(t.link.FD())}
	fd, _, errno := unix.Syscall(unix.SYS_BPF, unix.BPF_ITER_CREATE,
		uintptr(unsafe.Pointer(&t.attr)), unsafe.Sizeof(t.attr))
	if errno != 0 {
		return nil, fmt.Errorf("bpf: create task iterator: %w", errno)
	}
	defer unix.Close(int(fd))

	b := (*buf)[:0]
	if cap(b) < taskIterMinBuf {
		b = make([]byte, 0, taskIterMinBuf)
	}
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)] // grow
		}
		n, err := unix.Read(int(fd), b[len(b):cap(b)])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			*buf = b
			return nil, fmt.Errorf("bpf: read task iterator: %w", err)
		}
		if n == 0 {
			break
		}
		b = b[:len(b)+n]
	}
	*buf = b
	return b, nil
}

// Close detaches and unloads the iterator. It is idempotent.
func (t *TaskIter) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil
	}
	t.closed = true
	err := t.link.Close()
	return errors.Join(err, t.objs.Close())
}

// Each calls fn for every record of b (from Read) with one reused TaskRecord
// held by t; fn must not keep the pointer. It returns the number of records.
// Not safe for concurrent use.
func (t *TaskIter) Each(b []byte, fn func(*TaskRecord)) int {
	return EachTask(b, &t.rec, fn)
}
