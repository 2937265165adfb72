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

// TestDroppedAtIsWhenTheCountWasFirstSeen: the report's dropped_at is
// absent while nothing was dropped, then the time of the first report
// that saw the current count, kept until the count rises again; measured
// on the monotonic clock, so a wall clock stepped a year ahead (NTP
// setting a device's clock) moves it along: the drop stays as recent as
// it really is.
func TestDroppedAtIsWhenTheCountWasFirstSeen(t *testing.T) {
	t.Parallel()
	var a Agent
	t0 := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	year := t0.AddDate(1, 0, 0).Sub(t0)
	for i, tt := range []struct {
		dropped uint64
		wall    time.Time
		mono    time.Duration
		want    time.Time // zero: absent
	}{
		{0, t0, 0, time.Time{}},
		{5, t0.Add(time.Minute), time.Minute, t0.Add(time.Minute)},
		{5, t0.Add(2 * time.Minute), 2 * time.Minute, t0.Add(time.Minute)},
		{7, t0.Add(3 * time.Minute), 3 * time.Minute, t0.Add(3 * time.Minute)},
		{7, t0.Add(30 * time.Minute), 30 * time.Minute, t0.Add(3 * time.Minute)},
		{7, t0.Add(year + 31*time.Minute), 31 * time.Minute, t0.Add(year + 3*time.Minute)}, // the wall clock stepped a year
	} {
		got := a.droppedSince(tt.dropped, tt.wall, tt.mono)
		switch {
		case tt.want.IsZero() && got != nil:
			t.Errorf("report %d (%d dropped): dropped_at %v, want none", i, tt.dropped, *got)
		case !tt.want.IsZero() && (got == nil || !got.Equal(tt.want)):
			t.Errorf("report %d (%d dropped): dropped_at %v, want %v", i, tt.dropped, got, tt.want)
		}
	}
}
