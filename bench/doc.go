// Package bench holds whippet's side-by-side benchmarks: whippet's readers against
// prometheus/procfs, shirou/gopsutil and the raw-syscall floor, over generated large
// fake hosts and the live machine. It is its own module so that the libraries used
// only for comparison never enter the agent's go.mod.
package bench
