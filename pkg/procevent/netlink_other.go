//go:build !linux

package procevent

import "context"

// Netlink is unavailable off Linux.
type Netlink struct{}

// OpenNetlink returns ErrNotSupported off Linux.
func OpenNetlink(Options) (*Netlink, error) { return nil, ErrNotSupported }

// Mode returns "netlink".
func (*Netlink) Mode() string { return ModeNetlink }

// Lost returns 0.
func (*Netlink) Lost() uint64 { return 0 }

// Overflows returns 0.
func (*Netlink) Overflows() uint64 { return 0 }

// Run returns ErrNotSupported.
func (*Netlink) Run(context.Context, func(*Event)) error { return ErrNotSupported }

// Close does nothing.
func (*Netlink) Close() error { return nil }
