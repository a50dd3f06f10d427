//go:build !linux

package bpf

import (
	"context"
	"io"
)

type specEditor func()

// Tracer is unavailable off Linux.
type Tracer struct{}

// Open returns ErrNotSupported off Linux.
func Open(Options) (*Tracer, error) { return nil, ErrNotSupported }

// Mode returns "".
func (*Tracer) Mode() Mode { return "" }

// Skipped returns nil.
func (*Tracer) Skipped() []Skip { return nil }

// Read returns ErrNotSupported.
func (*Tracer) Read(context.Context, func(*Event)) error { return ErrNotSupported }

// Lost returns 0.
func (*Tracer) Lost() uint64 { return 0 }

// Malformed returns 0.
func (*Tracer) Malformed() uint64 { return 0 }

// HighWater returns 0.
func (*Tracer) HighWater() int { return 0 }

// RingSize returns 0.
func (*Tracer) RingSize() int { return 0 }

// Stats returns ErrNotSupported.
func (*Tracer) Stats() (exec, exit ProgramStats, err error) { return exec, exit, ErrNotSupported }

// AllStats returns ErrNotSupported.
func (*Tracer) AllStats() (Stats, error) { return Stats{}, ErrNotSupported }

// Close does nothing.
func (*Tracer) Close() error { return nil }

// EnableStats returns ErrNotSupported.
func EnableStats() (io.Closer, error) { return nil, ErrNotSupported }
