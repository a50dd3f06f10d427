package testenv

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// WaitExec waits until pid runs comm and its descriptors have settled: until
// exec a child started by Go holds descriptors exec closes (the fork/exec
// status pipe), and just after it the dynamic loader opens and closes its
// libraries. Tests that compare a child's descriptor counts call it first.
func WaitExec(tb testing.TB, pid int, comm string) {
	tb.Helper()
	dir := "/proc/" + strconv.Itoa(pid)
	last := -1
	for range 500 {
		b, err := os.ReadFile(dir + "/comm")
		ents, derr := os.ReadDir(dir + "/fd")
		if err == nil && derr == nil && strings.TrimSpace(string(b)) == comm {
			if len(ents) == last {
				return
			}
			last = len(ents)
		}
		time.Sleep(20 * time.Millisecond)
	}
	tb.Fatalf("pid %d did not exec %s and settle", pid, comm)
}
