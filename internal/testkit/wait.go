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
	if !Eventually(within, cond) {
		t.Fatalf("timed out after %v waiting for %s", within, what)
	}
}

// Eventually polls cond every 10 ms for at most within and reports whether
// it held, for a test that says itself what went wrong (with the state it
// saw).
func Eventually(within time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}
