package fleet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// job is periodic work of the fleet, run by Tick. It must be idempotent and
// safe to run concurrently with itself (EventBridge may deliver a schedule
// twice, and a slow run may overlap the next), and it must never wait for
// a terminal: it advances what events (messages, command answers,
// connects) did not.
type job struct {
	// name says what the job does, for logs and errors.
	name string
	// run does the work as of now.
	run func(ctx context.Context, now time.Time) error
}

// jobs returns the periodic jobs, run in order by Tick. A feature with
// periodic work adds its job here.
func (s *Service) jobs() []job {
	return []job{
		{name: "rollouts", run: s.advanceRollouts},
		s.alertJob(),
	}
}

// Tick runs the fleet's periodic jobs once, as of at (the scheduled time;
// zero means now). The scheduler function calls it every minute; the local
// stack does too. Every job runs even if an earlier one failed; the error
// joins the failures.
func (s *Service) Tick(ctx context.Context, at time.Time) error {
	if at.IsZero() {
		at = s.now()
	}
	var errs []error
	for _, j := range s.jobs() {
		if err := j.run(ctx, at); err != nil {
			slog.ErrorContext(ctx, "periodic job failed", "job", j.name, "error", err)
			errs = append(errs, fmt.Errorf("%s: %w", j.name, err))
		}
	}
	return errors.Join(errs...)
}
