//go:build !linux

package bpf

// TaskIter is unavailable off Linux.
type TaskIter struct{}

// OpenTaskIter returns ErrNotSupported off Linux.
func OpenTaskIter() (*TaskIter, error) { return nil, ErrNotSupported }

// Read returns ErrNotSupported.
func (*TaskIter) Read(buf *[]byte) ([]byte, error) { return nil, ErrNotSupported }

// Close does nothing.
func (*TaskIter) Close() error { return nil }

// Each calls fn for every record of b, like EachTask.
func (*TaskIter) Each(b []byte, fn func(*TaskRecord)) int {
	var r TaskRecord
	return EachTask(b, &r, fn)
}
