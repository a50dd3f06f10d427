//go:build !linux

package status

import "runtime"

// ReadSelf measures the agent's own cost; only goroutines off Linux.
func ReadSelf() Self { return Self{Goroutines: runtime.NumGoroutine()} }
