package fleet

import (
	"context"
	"sync"
	"time"
)

// RolloutPace bounds how fast the rollout engine handles the terminals of
// a wave or of a rollback. Each terminal handled costs a few writes to the
// rollout's DynamoDB partition (its target, then its answer and the
// wave's counters: about 7 write units with a config of 1–2 KB) and, when
// it is online, one set_config push through the management API; its
// answer comes back about as fast. Sent unpaced, a wave of 1,000 is a
// burst of pushes and of answers whose writes all land on the one
// partition (1,000 write units a second). Paced, one rollout writes its
// partition at most about 7 × PerSecond units a second and pushes at most
// PerSecond commands a second, and the rest of a wave waits for the next
// invocation.
type RolloutPace struct {
	// PerSecond is the most terminals one invocation handles a second.
	PerSecond float64
	// PerRequest is the most terminals a user's request (starting,
	// resuming or rolling back a rollout) handles before it answers;
	// PerRun the most one scheduler run (Tick) handles, over every
	// rollout. What is left of a wave goes out at the next scheduler run.
	PerRequest int
	PerRun     int
}

// DefaultRolloutPace returns the pace of a Service built without
// WithRolloutPace: 100 terminals a second, 100 per request (about a
// second of the request), 500 per scheduler run (about 5 s, half the
// functions' default timeout): a wave of 1,000 terminals goes out over its
// start and the next two scheduler runs, about two minutes.
func DefaultRolloutPace() RolloutPace {
	return RolloutPace{PerSecond: 100, PerRequest: 100, PerRun: 500}
}

// WithRolloutPace sets the pace of the rollout engine; zero fields keep
// DefaultRolloutPace's.
func WithRolloutPace(p RolloutPace) Option {
	return func(s *Service) { s.pace = p }
}

const (
	// sendLease is how long a wave's sender owns the wave: the scheduler
	// takes over a wave still sending (the rest of it, or what a failed
	// sender left) once this long passed since the sender took it
	// (Rollout.PhaseAt). It is longer than any invocation lives (the
	// functions' timeout is at most 29 s), so two senders never overlap in
	// the deployed stack; if they did, each terminal is still handled once
	// (PutRolloutTarget).
	sendLease = 30 * time.Second
	// paceMargin is the time an invocation keeps for itself: a pacer hands
	// out no more terminals once its context's deadline is this near.
	paceMargin = 2 * time.Second
)

// rolloutPace returns the service's pace with its defaults filled in.
func (s *Service) rolloutPace() RolloutPace {
	p, d := s.pace, DefaultRolloutPace()
	if p.PerSecond <= 0 {
		p.PerSecond = d.PerSecond
	}
	if p.PerRequest <= 0 {
		p.PerRequest = d.PerRequest
	}
	if p.PerRun <= 0 {
		p.PerRun = d.PerRun
	}
	return p
}

// requestPacer is the pacer of a user's request.
func (s *Service) requestPacer() *pacer {
	p := s.rolloutPace()
	return newPacer(p.PerRequest, p.PerSecond)
}

// runPacer is the pacer of one scheduler run.
func (s *Service) runPacer() *pacer {
	p := s.rolloutPace()
	return newPacer(p.PerRun, p.PerSecond)
}

// pacer hands out one invocation's terminals: at most left more, one
// every interval. Its clock is the real one (time.Now), not the
// service's: it paces calls, whatever time the service is told it is.
type pacer struct {
	mu       sync.Mutex
	left     int
	interval time.Duration
	next     time.Time
	now      func() time.Time
	sleep    func(ctx context.Context, d time.Duration) error
}

func newPacer(budget int, perSecond float64) *pacer {
	return &pacer{left: budget, interval: time.Duration(float64(time.Second) / perSecond), now: time.Now, sleep: sleepCtx}
}

// take waits for the next terminal's turn and reports whether the
// invocation may handle it: false once the budget is spent, the context
// is done, or its deadline is within paceMargin. A nil pacer never waits
// and never refuses.
func (p *pacer) take(ctx context.Context) bool {
	if p == nil {
		return true
	}
	p.mu.Lock()
	now := p.now()
	start := p.next // when this terminal's turn comes
	if start.Before(now) {
		start = now
	}
	if dl, ok := ctx.Deadline(); p.left <= 0 || ctx.Err() != nil || (ok && dl.Sub(start) < paceMargin) {
		p.mu.Unlock()
		return false
	}
	p.left--
	wait := start.Sub(now)
	p.next = start.Add(p.interval)
	p.mu.Unlock()
	return wait <= 0 || p.sleep(ctx, wait) == nil
}

// spent reports whether the pacer hands out no more terminals.
func (p *pacer) spent() bool {
	if p == nil {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.left <= 0
}

// sleepCtx waits d or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
