//go:build !linux

package host

import "github.com/whippet-agent/whippet/pkg/collect/hostfs"

// Reader reads the host files; it needs Linux.
type Reader struct{}

// NewReader returns ErrNotSupported outside Linux.
func NewReader(hostfs.Root) (*Reader, error) { return nil, ErrNotSupported }

// Read returns ErrNotSupported outside Linux.
func (r *Reader) Read(*Snapshot) error { return ErrNotSupported }

// Close does nothing outside Linux.
func (r *Reader) Close() error { return nil }
