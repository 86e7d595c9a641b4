// Package poll waits in tests for a condition that other goroutines or
// processes make true, with a deadline generous enough for a loaded
// machine: tests wait for what they need, never for a fixed time.
package poll

import (
	"testing"
	"time"
)

// Until calls cond every few milliseconds until it returns true, and
// fails the test when timeout passes first, naming what it waited for.
func Until(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
