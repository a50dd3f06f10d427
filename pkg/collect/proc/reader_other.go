//go:build !linux

package proc

import "errors"

// ErrNotSupported: per-process readers need Linux procfs.
var ErrNotSupported = errors.New("proc: not supported on this OS")
