package agent

import (
	"testing"
	"testing/synctest"
	"time"
)

func TestLivePeriodIsMonotonic(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		a := &Agent{epoch: time.Now()}
		if a.isLive() || !a.liveUntilTime().IsZero() {
			t.Fatalf("live before any hint")
		}
		a.goLive(time.Minute)
		a.goLive(10 * time.Second) // a shorter hint does not cut it
		time.Sleep(59 * time.Second)
		if !a.isLive() {
			t.Errorf("not live 59 s after a 60 s hint")
		}
		if got := a.liveUntilTime(); time.Until(got) != time.Second {
			t.Errorf("live until %v, want a second from now", got)
		}
		time.Sleep(time.Second)
		if a.isLive() {
			t.Errorf("still live 60 s after a 60 s hint")
		}
		// The deadline is a duration since the agent started, never a
		// wall-clock reading: a clock set back cannot extend it.
		if until := time.Duration(a.liveUntil.Load()); until != time.Minute {
			t.Errorf("deadline stored as %v, want 1m after the start", until)
		}
	})
}
