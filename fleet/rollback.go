package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/edgesync/edgesync/protocol"
)

// Rolling a rollout back: wave by wave, newest first, each terminal the
// rollout changed is given back the config it had before (its target's
// Previous), unless something changed its desired config since. Paced and
// resumable as the waves are (rolloutengine.go).

// rollBack rolls rollout id back a wave at a time until it is rolled back,
// until passes or pace runs out; the scheduler goes on from where it
// stopped.
func (s *Service) rollBack(ctx context.Context, rs RolloutStore, id string, until time.Time, pace *pacer) {
	for s.now().Before(until) {
		r, err := rs.Rollout(ctx, id)
		if err != nil {
			slog.ErrorContext(ctx, "rollback: read rollout", "rollout", id, "error", err)
			return
		}
		if r.State != RolloutRollingBack {
			return
		}
		k := r.RolledBackWaves
		if k >= r.RollbackWaves {
			_, err := s.updateRollout(ctx, rs, id, func(x *Rollout, now time.Time) (bool, error) {
				if x.State != RolloutRollingBack || x.RolledBackWaves < x.RollbackWaves {
					return false, errRolloutMoved
				}
				x.State = RolloutRolledBack
				return true, nil
			})
			if err == nil {
				_ = s.recordAudit(ctx, rolloutSystem, AuditRolloutRolledBack, "", AuditOutcomeRequested,
					map[string]any{"rollout": id, "group": r.Group, "state": RolloutRolledBack, "waves": r.RollbackWaves})
			} else if !errors.Is(err, errRolloutMoved) {
				slog.ErrorContext(ctx, "rollback: finish", "rollout", id, "error", err)
			}
			return
		}
		if k == r.Wave && r.Phase == PhaseSending && s.now().Sub(r.PhaseAt) < sendLease {
			// A sender may still be at work on the wave (another request
			// or run): rolling it back now would miss the terminals it
			// reaches next. The scheduler goes on once its lease is over
			// (no sender takes over a rollout rolling back).
			return
		}
		if err := s.rollbackWave(ctx, rs, r, k, pace); err != nil {
			if !errors.Is(err, errPaceSpent) {
				slog.ErrorContext(ctx, "rollback: wave", "rollout", id, "wave", k, "error", err)
			}
			return
		}
		if _, err := s.updateRollout(ctx, rs, id, func(x *Rollout, now time.Time) (bool, error) {
			if x.State != RolloutRollingBack || x.RolledBackWaves != k {
				return false, nil
			}
			x.RolledBackWaves = k + 1
			return true, nil
		}); err != nil {
			slog.ErrorContext(ctx, "rollback: record progress", "rollout", id, "wave", k, "error", err)
			return
		}
	}
}

// errPaceSpent: the invocation's pacer ran out before the work was done;
// the scheduler goes on.
var errPaceSpent = errors.New("this invocation's share of terminals is spent")

// rollbackWave rolls back wave k's terminals (safe to run again: each
// target is rolled back once), those pace allows, and once all are
// audits the wave's figures; errPaceSpent when some are left.
func (s *Service) rollbackWave(ctx context.Context, rs RolloutStore, r Rollout, k int, pace *pacer) error {
	w, err := rs.RolloutWave(ctx, r.ID, k)
	if err != nil {
		return err
	}
	targets, err := rs.RolloutTargets(ctx, r.ID, w.Terminals)
	if err != nil {
		return err
	}
	var (
		mu    sync.Mutex
		errs  []error
		tally = map[TargetState]int{}
	)
	byID := map[string]RolloutTarget{}
	var ids []string
	for _, t := range targets {
		if t.Rollback != "" {
			tally[rollbackTally(t.Rollback)]++ // by an earlier invocation
			continue
		}
		byID[t.TerminalID] = t
		ids = append(ids, t.TerminalID)
	}
	started := forEach(ctx, ids, pace, func(_ int, tid string) {
		st, err := s.rollbackTarget(ctx, rs, r, byID[tid])
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			errs = append(errs, fmt.Errorf("terminal %s: %w", tid, err))
			return
		}
		tally[rollbackTally(st)]++
	})
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if started < len(ids) {
		return errPaceSpent
	}
	_ = s.recordAudit(ctx, rolloutSystem, AuditRolloutRolledBack, "", AuditOutcomeRequested,
		map[string]any{"rollout": r.ID, "group": r.Group, "wave": k, "sent": tally[TargetPending], "offline": tally[TargetOffline], "skipped": tally[TargetSkipped], "failed": tally[TargetFailed]})
	return nil
}

// rollbackTally is the figure of the rollback's audit record a target's
// rollback state counts in: sent (pending, or answered since), offline,
// skipped or failed (not sent).
func rollbackTally(st TargetState) TargetState {
	switch st {
	case TargetOffline, TargetSkipped, TargetFailed:
		return st
	}
	return TargetPending
}

// rollbackTarget re-applies the config t's terminal had before the
// rollout, if the rollout changed it (or may have) and nothing changed its
// desired config since. It returns the target's rollback state.
func (s *Service) rollbackTarget(ctx context.Context, rs RolloutStore, r Rollout, tg RolloutTarget) (TargetState, error) {
	changed := func(st TargetState) bool {
		return st == TargetPending || st == TargetSucceeded || st == TargetTimedOut
	}
	for attempt := 0; attempt < maxUpdateAttempts; attempt++ {
		if tg.Rollback != "" {
			return tg.Rollback, nil
		}
		now := s.now()
		var (
			t   Terminal
			cmd Command
		)
		switch {
		case !changed(tg.State) && !changed(tg.CatchUp):
			tg.Rollback, tg.RollbackReason = TargetSkipped, "the rollout never changed it"
		case len(tg.Previous) == 0:
			tg.Rollback, tg.RollbackReason = TargetSkipped, "no previous config recorded"
		default:
			var err error
			t, err = s.store.Terminal(ctx, tg.TerminalID)
			switch {
			case errors.Is(err, ErrNotFound):
				tg.Rollback, tg.RollbackReason = TargetSkipped, "terminal deleted"
			case err != nil:
				return "", err
			case t.Desired.SetBy != rolloutActorPrefix+r.ID:
				tg.Rollback, tg.RollbackReason = TargetSkipped, "changed since (desired config set by "+truncate(t.Desired.SetBy, 128)+")"
			case s.online(t, now):
				params, _ := json.Marshal(protocol.SetConfigParams{Config: tg.Previous})
				cmd = s.newCommand(tg.TerminalID, protocol.CommandSetConfig, params, rollbackActorPrefix+r.ID, now, 0)
				tg.Rollback, tg.RollbackRequestID, tg.Deadline = TargetPending, cmd.RequestID, cmd.Deadline
			default:
				tg.Rollback = TargetOffline
			}
		}
		err := rs.UpdateRolloutTarget(ctx, tg)
		if errors.Is(err, ErrConflict) {
			if tg, err = rs.RolloutTarget(ctx, tg.RolloutID, tg.TerminalID); err != nil {
				return "", err
			}
			continue
		}
		if err != nil {
			return "", err
		}
		tg.Revision++
		if tg.Rollback != TargetPending && tg.Rollback != TargetOffline {
			return tg.Rollback, nil
		}
		return s.sendRollback(ctx, rs, r, tg, t, cmd)
	}
	return "", fmt.Errorf("roll back %s: %w", tg.TerminalID, ErrConflict)
}

// sendRollback records and sends (or, offline, records undelivered) the
// previous config of a claimed rollback target.
func (s *Service) sendRollback(ctx context.Context, rs RolloutStore, r Rollout, tg RolloutTarget, t Terminal, cmd Command) (TargetState, error) {
	detail := map[string]any{"rollback": r.ID, "wave": tg.Wave, "version": tg.PreviousVersion}
	if tg.Rollback == TargetOffline {
		detail["offline"] = "sent when the terminal reconnects"
	} else {
		detail["requestId"] = cmd.RequestID
	}
	if err := s.recordAudit(ctx, rolloutSystem, AuditConfigSet, tg.TerminalID, AuditOutcomeRequested, detail); err != nil {
		tg.Rollback, tg.RollbackReason, tg.RollbackRequestID = TargetFailed, "the audit record could not be written", ""
		return tg.Rollback, rs.UpdateRolloutTarget(ctx, tg)
	}
	// The target's rollback is claimed: a store error from here must not
	// leave it pending or offline with nothing sent or recorded (a later
	// run tallies a claimed target as done), so it reads failed.
	unsent := func(step string, err error) (TargetState, error) {
		slog.ErrorContext(ctx, "rollback: claimed terminal not sent", "rollout", r.ID, "terminal", tg.TerminalID, "step", step, "error", err)
		tg.Rollback, tg.RollbackReason, tg.RollbackRequestID = TargetFailed, "could not be sent: "+step+" failed", ""
		if uerr := rs.UpdateRolloutTarget(ctx, tg); uerr != nil {
			return "", fmt.Errorf("%s: %w; and marking it failed: %v", step, err, uerr)
		}
		return TargetFailed, nil
	}
	d := DesiredConfig{Data: tg.Previous, Version: tg.PreviousVersion, SetAt: s.now(), SetBy: rollbackActorPrefix + r.ID}
	if tg.Rollback == TargetOffline {
		if err := s.store.SetDesiredConfig(ctx, tg.TerminalID, d); err != nil {
			return unsent("record desired config", err)
		}
		return tg.Rollback, nil
	}
	if err := s.store.PutCommands(ctx, cmd); err != nil {
		return unsent("record set_config", err)
	}
	d.RequestID = cmd.RequestID
	if err := s.store.SetDesiredConfig(ctx, tg.TerminalID, d); err != nil {
		return unsent("record desired config", err)
	}
	if err := s.send(ctx, tg.TerminalID, t.ConnectionID, cmd.message()); errors.Is(err, ErrGone) {
		tg.Rollback, tg.RollbackRequestID, tg.Deadline = TargetOffline, "", time.Time{}
		if err := rs.UpdateRolloutTarget(ctx, tg); err != nil {
			return "", err
		}
		d.RequestID = ""
		return tg.Rollback, s.store.SetDesiredConfig(ctx, tg.TerminalID, d)
	}
	return TargetPending, nil
}
