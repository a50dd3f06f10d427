// Package testenv decides what a test does when the machine lacks something it
// needs (root, a kernel feature, dockerd): skip with the reason, or, where CI has
// promised to provide it (WHIPPET_REQUIRE_E2E=1), fail.
package testenv

import (
	"fmt"
	"os"
	"testing"
)

// Required reports whether missing prerequisites are failures.
func Required() bool { return os.Getenv("WHIPPET_REQUIRE_E2E") == "1" }

// Skip skips t with the reason, or fails it when prerequisites are required.
func Skip(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if Required() {
		t.Fatalf("prerequisite missing (WHIPPET_REQUIRE_E2E=1): %s", msg)
	}
	t.Skip(msg)
}
