package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"

	"github.com/edgesync/edgesync/protocol"
)

// What terminals do to a rollout: a set_config answer records its
// target's outcome and may decide the wave (rolloutAnswered); a terminal
// that says hello with a rollout's config undelivered gets it then
// (rolloutCatchUp); a terminal deleted or given its own config leaves the
// rollout (withdraw). See rolloutengine.go.

// rolloutAnswered records a terminal's answer to a rollout's set_config
// (called once the command completed): the outcome of its wave, its
// catch-up or its rollback, added to the wave's counters; an answer that
// completes its wave decides it.
func (s *Service) rolloutAnswered(ctx context.Context, in inbound, cmd Command, c Completion) {
	kind, id, ok := parseRolloutActor(cmd.Actor)
	if !ok || cmd.Name != protocol.CommandSetConfig {
		return
	}
	rs, err := s.rolloutStore()
	if err != nil {
		return
	}
	state := TargetFailed
	if c.State == CommandSucceeded {
		state = TargetSucceeded
	}
	for attempt := 0; attempt < maxUpdateAttempts; attempt++ {
		tg, err := rs.RolloutTarget(ctx, id, in.terminalID)
		if err != nil {
			slog.ErrorContext(ctx, "rollout: read target for an answer", "rollout", id, "terminal", in.terminalID, "error", err)
			return
		}
		var delta WaveCounts
		wave := false
		switch {
		case kind == "rollout" && tg.RequestID == cmd.RequestID && tg.State == TargetPending:
			tg.State, tg.Reason, tg.CompletedAt = state, c.Error, c.At
			delta, wave = count(state), true
		case kind == "rollout" && tg.CatchUpRequestID == cmd.RequestID && tg.CatchUp == TargetPending:
			tg.CatchUp, tg.Reason, tg.CompletedAt = state, c.Error, c.At
			delta = WaveCounts{CaughtUp: 1}
			if state == TargetFailed {
				delta = WaveCounts{CatchUpFailed: 1}
			}
		case kind == "rollback" && tg.RollbackRequestID == cmd.RequestID && tg.Rollback == TargetPending:
			tg.Rollback, tg.RollbackReason = state, c.Error
			delta = WaveCounts{RolledBack: 1}
			if state == TargetFailed {
				delta = WaveCounts{RollbackFailed: 1}
			}
		default:
			return // not this target's outstanding command (late, or decided already)
		}
		err = rs.UpdateRolloutTarget(ctx, tg)
		if errors.Is(err, ErrConflict) {
			continue
		}
		if err != nil {
			slog.ErrorContext(ctx, "rollout: record answer", "rollout", id, "terminal", in.terminalID, "error", err)
			return
		}
		w, err := rs.AddRolloutWaveCounts(ctx, id, tg.Wave, delta)
		if err != nil {
			slog.ErrorContext(ctx, "rollout: count answer", "rollout", id, "wave", tg.Wave, "error", err)
			return
		}
		if wave && w.Counts.done() >= w.Size {
			s.evaluateWave(ctx, rs, id, tg.Wave, in.terminalID, nil)
		}
		return
	}
}

// rolloutCatchUp delivers, when a terminal says hello, the desired config
// a rollout (or its rollback) recorded for it while it was offline: the
// terminal record says so (a desired config set by a rollout, never sent:
// no request id), so a hello with nothing owed costs no read. A config
// the rollout may no longer deliver (cancelled, aborted, rolled back) is
// withdrawn instead: the terminal's desired config is cleared.
func (s *Service) rolloutCatchUp(ctx context.Context, in inbound, t Terminal) {
	d := t.Desired
	if d.Version == "" || d.RequestID != "" {
		return
	}
	kind, id, ok := parseRolloutActor(d.SetBy)
	if !ok {
		return
	}
	rs, err := s.rolloutStore()
	if err != nil {
		return
	}
	for attempt := 0; attempt < maxUpdateAttempts; attempt++ {
		r, err := rs.Rollout(ctx, id)
		if errors.Is(err, ErrNotFound) {
			s.withdraw(ctx, t.ID, id, "the rollout is gone")
			return
		}
		if err != nil {
			slog.ErrorContext(ctx, "rollout catch-up: read rollout", "rollout", id, "terminal", t.ID, "error", err)
			return
		}
		tg, err := rs.RolloutTarget(ctx, id, t.ID)
		if errors.Is(err, ErrNotFound) {
			s.withdraw(ctx, t.ID, id, "the terminal has no target in the rollout")
			return
		}
		if err != nil {
			slog.ErrorContext(ctx, "rollout catch-up: read target", "rollout", id, "terminal", t.ID, "error", err)
			return
		}
		var owed, allowed bool
		if kind == "rollout" {
			owed = tg.State == TargetOffline && tg.CatchUp == ""
			// A target a rollback has decided is the rollback's, whatever
			// state the rollout read above was in (it may have been read
			// before the rollback began).
			allowed = (r.State == RolloutRunning || r.State == RolloutPaused || r.State == RolloutCompleted) && tg.Rollback == ""
		} else {
			owed = tg.Rollback == TargetOffline
			allowed = r.State == RolloutRollingBack || r.State == RolloutRolledBack
		}
		if !owed {
			return // delivered by a concurrent hello, or nothing left to deliver
		}
		if !allowed {
			reason := "the rollout is " + string(r.State)
			if kind == "rollout" && tg.Rollback != "" {
				reason = "its rollback decided the terminal (" + string(tg.Rollback) + ")"
			}
			s.withdraw(ctx, t.ID, id, reason)
			return
		}
		params, _ := json.Marshal(protocol.SetConfigParams{Config: d.Data})
		cmd := s.newCommand(t.ID, protocol.CommandSetConfig, params, d.SetBy, in.now, 0)
		if kind == "rollout" {
			tg.CatchUp, tg.CatchUpRequestID = TargetPending, cmd.RequestID
		} else {
			tg.Rollback, tg.RollbackRequestID = TargetPending, cmd.RequestID
		}
		tg.Deadline = cmd.Deadline
		err = rs.UpdateRolloutTarget(ctx, tg)
		if errors.Is(err, ErrConflict) {
			continue
		}
		if err != nil {
			slog.ErrorContext(ctx, "rollout catch-up: claim", "rollout", id, "terminal", t.ID, "error", err)
			return
		}
		detail := map[string]any{kind: id, "wave": tg.Wave, "version": d.Version, "requestId": cmd.RequestID, "catchUp": "the terminal reconnected"}
		if err := s.recordAudit(ctx, rolloutSystem, AuditConfigSet, t.ID, AuditOutcomeRequested, detail); err != nil {
			return // not sent: the command times out and the target reads timed out
		}
		if err := s.store.PutCommands(ctx, cmd); err != nil {
			slog.ErrorContext(ctx, "rollout catch-up: record set_config", "rollout", id, "terminal", t.ID, "error", err)
			return
		}
		d.RequestID = cmd.RequestID
		if err := s.store.SetDesiredConfig(ctx, t.ID, d); err != nil {
			slog.ErrorContext(ctx, "rollout catch-up: record desired config", "rollout", id, "terminal", t.ID, "error", err)
		}
		_ = s.send(ctx, t.ID, in.connID, cmd.message())
		return
	}
}

// withdraw clears a terminal's undelivered desired config of rollout id
// (audited), as the rollout may no longer deliver it.
func (s *Service) withdraw(ctx context.Context, terminalID, id, reason string) {
	if err := s.recordAudit(ctx, rolloutSystem, AuditConfigSet, terminalID, AuditOutcomeRequested,
		map[string]any{"rollout": id, "withdrawn": reason}); err != nil {
		return
	}
	if err := s.store.SetDesiredConfig(ctx, terminalID, DesiredConfig{}); err != nil {
		slog.ErrorContext(ctx, "rollout: withdraw desired config", "rollout", id, "terminal", terminalID, "error", err)
	}
}
