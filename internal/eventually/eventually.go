// Package eventually waits in tests for a condition that other goroutines
// bring about, polling, with one deadline and one failure message: tests
// only. Tests wait on what happens, never for a fixed time.
package eventually

import (
	"fmt"
	"testing"
	"time"
)

// poll is how often the condition is asked.
const poll = 5 * time.Millisecond

// True waits up to within for cond to hold, and fails the test with
// msg(), which describes the state when time ran out, if it does not.
func True(t testing.TB, within time.Duration, cond func() bool, msg func() string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", within, msg())
		}
		time.Sleep(poll)
	}
}

// Says is a msg for True that needs no state: it says what it is given.
func Says(format string, args ...any) func() string {
	return func() string { return fmt.Sprintf(format, args...) }
}
