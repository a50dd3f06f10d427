//go:build !linux

package cgroup

import "github.com/whippet-agent/whippet/pkg/collect/hostfs"

// Reader is unavailable off Linux.
type Reader struct{}

// Handle is unavailable off Linux.
type Handle struct{}

// NewReader returns ErrNotSupported.
func NewReader(hostfs.Root, Options) (*Reader, error) { return nil, ErrNotSupported }

// Mode returns ModeUnknown.
func (r *Reader) Mode() Mode { return ModeUnknown }

// HeldFDs returns 0.
func (r *Reader) HeldFDs() int { return 0 }

// Close does nothing.
func (r *Reader) Close() error { return nil }

// Locate returns ErrNotSupported.
func (r *Reader) Locate(int32, *Paths) error { return ErrNotSupported }

// Open returns ErrNotSupported.
func (r *Reader) Open(*Handle, *Paths) error { return ErrNotSupported }

// Read returns ErrNotSupported.
func (r *Reader) Read(*Handle, *Stats) error { return ErrNotSupported }

// Release does nothing.
func (r *Reader) Release(*Handle) {}
