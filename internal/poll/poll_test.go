package poll

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestUntilReturnsOnceTheConditionHolds(t *testing.T) {
	t.Parallel()
	calls := 0
	Until(t, "the third call", func() bool {
		calls++
		return calls == 3
	})
	if calls != 3 {
		t.Errorf("cond called %d times, want 3 (Until returns as soon as it holds)", calls)
	}
}

func TestWait(t *testing.T) {
	t.Parallel()
	closed := make(chan struct{})
	close(closed)
	tests := []struct {
		name  string
		done  <-chan struct{}
		limit time.Duration
		cond  func() bool
		want  string
	}{
		{name: "holds at once", limit: time.Hour, cond: func() bool { return true }, want: ""},
		{name: "never holds", limit: 20 * time.Millisecond, cond: func() bool { return false }, want: "not true after 20ms"},
		{name: "test ended", done: closed, limit: time.Hour, cond: func() bool { return false }, want: "the test ended"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := wait(tt.done, tt.limit, tt.cond); got != tt.want {
				t.Errorf("wait = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestUntilFailsNamingWhat runs Until against a condition that never
// holds on a recording testing.TB whose context has already ended.
func TestUntilFailsNamingWhat(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	rec := &recordingTB{TB: t, ctx: ctx}
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		Until(rec, "the impossible", func() bool { return false })
	}()
	<-finished
	if !strings.Contains(rec.fatal, "gave up waiting for the impossible: the test ended") {
		t.Errorf("Fatalf message = %q, want it to name what and why", rec.fatal)
	}
}

// recordingTB records Fatalf instead of ending the test (it ends only the
// goroutine, as testing does).
type recordingTB struct {
	testing.TB
	ctx   context.Context
	fatal string
}

func (r *recordingTB) Helper() {}

func (r *recordingTB) Context() context.Context { return r.ctx }

func (r *recordingTB) Fatalf(format string, args ...any) {
	r.fatal = fmt.Sprintf(format, args...)
	runtime.Goexit()
}
