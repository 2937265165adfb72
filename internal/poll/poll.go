package poll

import (
	"testing"
	"time"
)

// Timeout bounds every wait. It is generous because it is no assertion:
// only a condition that never holds should reach it, even on a loaded
// machine running the race detector.
const Timeout = 30 * time.Second

// MaxInterval is the longest pause between two checks.
const MaxInterval = 50 * time.Millisecond

// Until calls cond until it returns true. It fails tb, naming what it was
// waiting for, when Timeout passes or the test's context ends first. cond
// runs on the calling goroutine, so it may use tb (but not end it).
func Until(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	if err := wait(tb.Context().Done(), Timeout, cond); err != "" {
		tb.Fatalf("gave up waiting for %s: %s", what, err)
	}
}

// wait calls cond until it returns true, done is closed or limit passes,
// and says which of the latter two happened ("" when cond held).
func wait(done <-chan struct{}, limit time.Duration, cond func() bool) string {
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	pause := time.Millisecond
	for !cond() {
		tick := time.NewTimer(pause)
		select {
		case <-done:
			tick.Stop()
			return "the test ended"
		case <-deadline.C:
			tick.Stop()
			return "not true after " + limit.String()
		case <-tick.C:
		}
		pause = min(2*pause, MaxInterval)
	}
	return ""
}
