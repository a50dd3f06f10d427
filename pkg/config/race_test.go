//go:build race

package config

// raceEnabled: the race detector empties sync.Pools at random, so regexp's
// matcher cache allocates and allocation counts mean nothing.
const raceEnabled = true
