//go:build !linux

package collect

import (
	"errors"
	"time"

	"github.com/whippet-agent/whippet/pkg/collect/hostfs"
)

// ErrNotSupported: collection needs Linux procfs.
var ErrNotSupported = errors.New("collect: not supported on this OS")

// Collector is unavailable off Linux.
type Collector struct{}

// New returns ErrNotSupported.
func New(hostfs.Root, Options) (*Collector, error) { return nil, ErrNotSupported }

// Close does nothing.
func (c *Collector) Close() error { return nil }

// Collect returns ErrNotSupported.
func (c *Collector) Collect(time.Time) (*Snapshot, error) { return nil, ErrNotSupported }

// CollectWith returns ErrNotSupported.
func (c *Collector) CollectWith(time.Time, Extras) (*Snapshot, error) { return nil, ErrNotSupported }

// Trim does nothing.
func (c *Collector) Trim() {}
