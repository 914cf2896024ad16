package testkit

import (
	"testing"
	"time"
)

// WaitFor polls cond every 10 ms until it holds, and fails the test naming
// what it waited for when within passes first. Tests wait for a condition
// rather than sleep and then assert.
func WaitFor(t testing.TB, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
