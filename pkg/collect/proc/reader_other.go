//go:build !linux

package proc

import (
	"errors"

	"github.com/whippet-agent/whippet/pkg/collect/hostfs"
)

// ErrNotSupported: per-process readers need Linux procfs.
var ErrNotSupported = errors.New("proc: not supported on this OS")

// Reader is unavailable off Linux.
type Reader struct{}

// NewReader returns ErrNotSupported.
func NewReader(hostfs.Root, Options) (*Reader, error) { return nil, ErrNotSupported }

// Close does nothing.
func (r *Reader) Close() error { return nil }

// RaiseNoFileLimit returns ErrNotSupported.
func RaiseNoFileLimit() (uint64, error) { return 0, ErrNotSupported }
