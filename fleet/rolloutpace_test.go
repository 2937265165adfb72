package fleet

import (
	"context"
	"testing"
	"time"
)

// TestWaveSizeFor: every wave holds at most maxWaveSize terminals, whatever
// the spec asks.
func TestWaveSizeFor(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		spec      RolloutSpec
		terminals int
		want      int
	}{
		{"wave size", RolloutSpec{WaveSize: 50}, 200, 50},
		{"wave size above the group", RolloutSpec{WaveSize: 50}, 20, 20},
		{"percent rounded up", RolloutSpec{WavePercent: 34}, 10, 4},
		{"neither: the group", RolloutSpec{}, 700, 700},
		{"neither on a group of 10,000: capped", RolloutSpec{}, 10000, maxWaveSize},
		{"100 percent of 10,000: capped", RolloutSpec{WavePercent: 100}, 10000, maxWaveSize},
		{"20 percent of 10,000: capped", RolloutSpec{WavePercent: 20}, 10000, maxWaveSize},
		{"5 percent of 10,000", RolloutSpec{WavePercent: 5}, 10000, 500},
		{"a tiny percent: one", RolloutSpec{WavePercent: 0.001}, 10, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := waveSizeFor(tt.spec, tt.terminals); got != tt.want {
				t.Errorf("waveSizeFor(%+v, %d) = %d, want %d", tt.spec, tt.terminals, got, tt.want)
			}
		})
	}
}

// fakePace is a clock that sleeping advances.
type fakePace struct {
	now    time.Time
	slept  []time.Duration
	cancel bool
}

func (f *fakePace) pacer(budget int, perSecond float64) *pacer {
	p := newPacer(budget, perSecond)
	p.now = func() time.Time { return f.now }
	p.sleep = func(ctx context.Context, d time.Duration) error {
		f.slept = append(f.slept, d)
		f.now = f.now.Add(d)
		if f.cancel {
			return context.Canceled
		}
		return nil
	}
	return p
}

// TestPacer: a pacer hands out its budget one per interval, and nothing
// once spent or near its context's deadline.
func TestPacer(t *testing.T) {
	t.Parallel()
	t.Run("one per interval, then spent", func(t *testing.T) {
		t.Parallel()
		f := &fakePace{now: time.Unix(1000, 0)}
		p := f.pacer(5, 100)
		for i := range 5 {
			if !p.take(context.Background()) {
				t.Fatalf("take %d refused within the budget", i+1)
			}
		}
		if p.take(context.Background()) || !p.spent() {
			t.Errorf("take after the budget of 5 allowed (spent %v)", p.spent())
		}
		// The first goes at once, each next 10 ms after the one before.
		want := []time.Duration{10 * time.Millisecond, 10 * time.Millisecond, 10 * time.Millisecond, 10 * time.Millisecond}
		if len(f.slept) != len(want) {
			t.Fatalf("slept %v, want %v", f.slept, want)
		}
		for i := range want {
			if f.slept[i] != want[i] {
				t.Errorf("sleep %d: %v, want %v", i, f.slept[i], want[i])
			}
		}
	})
	t.Run("time spent working counts", func(t *testing.T) {
		t.Parallel()
		f := &fakePace{now: time.Unix(1000, 0)}
		p := f.pacer(3, 10)
		p.take(context.Background())
		f.now = f.now.Add(250 * time.Millisecond) // the work took longer than the interval
		p.take(context.Background())
		f.now = f.now.Add(40 * time.Millisecond)
		p.take(context.Background())
		if len(f.slept) != 1 || f.slept[0] != 60*time.Millisecond {
			t.Errorf("slept %v, want only the 60 ms left of the third's 100 ms interval", f.slept)
		}
	})
	t.Run("near the deadline", func(t *testing.T) {
		t.Parallel()
		f := &fakePace{now: time.Now()} // the context's deadline is a real one
		p := f.pacer(100, 100)
		ctx, cancel := context.WithDeadline(context.Background(), f.now.Add(paceMargin+15*time.Millisecond))
		defer cancel()
		n := 0
		for p.take(ctx) {
			n++
		}
		if n != 2 {
			t.Errorf("took %d before the deadline's margin, want 2 (at 0 and 10 ms; 20 ms is within %v of the deadline)", n, paceMargin)
		}
	})
	t.Run("a done context", func(t *testing.T) {
		t.Parallel()
		f := &fakePace{now: time.Unix(1000, 0), cancel: true}
		p := f.pacer(100, 1)
		if !p.take(context.Background()) {
			t.Fatal("first take refused")
		}
		if p.take(context.Background()) {
			t.Error("take whose wait was cancelled allowed")
		}
		var nilPacer *pacer
		if !nilPacer.take(context.Background()) || nilPacer.spent() {
			t.Error("a nil pacer refuses")
		}
	})
}
