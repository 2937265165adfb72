package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/edgesync/edgesync/protocol"
)

// The rollout engine: what moves a rollout forward. Nothing here waits
// for a terminal. A wave is started by the request that starts or resumes
// the rollout or by the scheduler (Tick) once it is due, and sends
// set_config to its terminals at the service's pace (rolloutpace.go: a
// bounded number a second and per invocation; the scheduler sends the
// rest of a wave at its next runs, Rollout.WaveSent saying how far it
// got); their answers (HandleMessage → rolloutAnswered) record each
// outcome and add it to the wave's counters, and the answer that
// completes the wave decides it (evaluateWave); the scheduler decides the
// waves whose answers never came once their deadline passed, goes on
// sending a wave that is not all sent, and rolls back (paced too). Every decision is a write over the Revision it read
// (Store.UpdateRollout), so two answers completing a wave at once, or an
// answer and the scheduler, decide it once: the loser reads the rollout
// again and finds the wave decided.
//
// Audit: the requests are audited by the user-facing operations; the
// engine audits each terminal it changes (AuditConfigSet, naming the
// rollout) and each wave it starts and decides. A wave decided on a
// terminal's answer is recorded under that terminal (the message function
// writes no fleet-wide audit record), one decided by the scheduler
// fleet-wide.

// Actors of the commands and desired configs a rollout writes:
// "rollout:<id>" for its waves, "rollback:<id>" for its rollback.
const (
	rolloutActorPrefix  = "rollout:"
	rollbackActorPrefix = "rollback:"
)

// rolloutSystem is the principal the engine's audit records name.
var rolloutSystem = Principal{Kind: KindSystem, Subject: "system:rollout"}

// parseRolloutActor returns the kind ("rollout" or "rollback") and the
// rollout id an actor names, if it names one.
func parseRolloutActor(actor string) (kind, id string, ok bool) {
	for _, prefix := range []string{rolloutActorPrefix, rollbackActorPrefix} {
		if rest, found := strings.CutPrefix(actor, prefix); found && ValidAuditID(rest) {
			return strings.TrimSuffix(prefix, ":"), rest, true
		}
	}
	return "", "", false
}

// ownDesired reports whether t has a desired config a user set for it
// alone (PUT /terminals/{id}/config), which a rollout does not override
// unless told to.
func ownDesired(t Terminal) bool {
	_, _, fromRollout := parseRolloutActor(t.Desired.SetBy)
	return t.Desired.Version != "" && !fromRollout
}

// errRolloutMoved: the rollout is no longer where the caller read it (a
// concurrent decision came first); nothing to do.
var errRolloutMoved = errors.New("rollout moved on")

const (
	// rolloutParallel bounds the terminals of a wave handled at once.
	rolloutParallel = 8
	// rollbackBudget bounds the time a request or a scheduler run spends
	// rolling back; the next run goes on.
	rollbackBudget = 10 * time.Second
	// maxActivePage is how many active rollouts the scheduler reads at once.
	maxActivePage = 100
)

// forEach calls fn for ids in order, rolloutParallel at a time, starting
// each when pace allows (nil: at once), and returns how many it started:
// a prefix of ids, all of them unless pace ran out.
func forEach(ctx context.Context, ids []string, pace *pacer, fn func(i int, id string)) int {
	sem := make(chan struct{}, rolloutParallel)
	var wg sync.WaitGroup
	started := 0
	for i, id := range ids {
		if !pace.take(ctx) {
			break
		}
		sem <- struct{}{}
		started++
		wg.Go(func() {
			defer func() { <-sem }()
			fn(i, id)
		})
	}
	wg.Wait()
	return started
}

// startDueWave starts the rollout's current wave if the rollout is running
// and the wave is due, and sends it (as much of it as pace allows).
func (s *Service) startDueWave(ctx context.Context, rs RolloutStore, id string, pace *pacer) {
	if pace.spent() {
		return // the next scheduler run starts it
	}
	r, err := s.updateRollout(ctx, rs, id, func(x *Rollout, now time.Time) (bool, error) {
		if x.State != RolloutRunning || x.Phase != PhaseDue || now.Before(x.NextWaveAt) || x.Wave >= x.Waves {
			return false, errRolloutMoved
		}
		x.Phase, x.PhaseAt, x.WaveSent = PhaseSending, now, 0
		return true, nil
	})
	if err != nil {
		if !errors.Is(err, errRolloutMoved) {
			slog.ErrorContext(ctx, "start rollout wave", "rollout", id, "error", err)
		}
		return
	}
	n := r.Wave
	if err := rs.MarkRolloutWave(ctx, id, n, r.PhaseAt, time.Time{}, "", WaveCounts{}); err != nil {
		slog.ErrorContext(ctx, "mark rollout wave started", "rollout", id, "wave", n, "error", err)
	}
	_ = s.recordAudit(ctx, rolloutSystem, AuditRolloutWaveStart, "", AuditOutcomeRequested,
		map[string]any{"rollout": id, "group": r.Group, "wave": n, "terminals": r.waveLen(n)})
	s.sendWave(ctx, rs, r, n, pace)
}

// resumeWave takes over the sending of wave n of rollout id once its last
// sender's lease ran out (sendLease after Rollout.PhaseAt) and sends what
// is left of it (as much as pace allows).
func (s *Service) resumeWave(ctx context.Context, rs RolloutStore, id string, n int, pace *pacer) {
	if pace.spent() {
		return
	}
	r, err := s.updateRollout(ctx, rs, id, func(x *Rollout, now time.Time) (bool, error) {
		if (x.State != RolloutRunning && x.State != RolloutPaused) || x.Wave != n || x.Phase != PhaseSending || now.Sub(x.PhaseAt) < sendLease {
			return false, errRolloutMoved
		}
		x.PhaseAt = now
		return true, nil
	})
	if err != nil {
		if !errors.Is(err, errRolloutMoved) {
			slog.ErrorContext(ctx, "resume rollout wave", "rollout", id, "wave", n, "error", err)
		}
		return
	}
	s.sendWave(ctx, rs, r, n, pace)
}

// sendWave sends wave n of r to its terminals from the r.WaveSent-th on
// (each terminal once: one already holding a target is left alone, so it
// is safe to run again), as many as pace allows, and records how far it
// got (WaveSent); once the last one is handled it moves the wave to
// waiting. It adds the outcomes known at once (offline, skipped, failed)
// to the wave's counters and decides the wave if nothing is left to wait
// for. A terminal it could not claim (a store error before its target was
// recorded) stops WaveSent there: the scheduler sends again from it after
// the lease. A terminal claimed but not sent (a store error after) reads
// failed (sendTarget).
func (s *Service) sendWave(ctx context.Context, rs RolloutStore, r Rollout, n int, pace *pacer) {
	w, err := rs.RolloutWave(ctx, r.ID, n)
	if err != nil {
		slog.ErrorContext(ctx, "read rollout wave", "rollout", r.ID, "wave", n, "error", err)
		return
	}
	from := min(max(r.WaveSent, 0), len(w.Terminals))
	todo := w.Terminals[from:]
	states := make([]TargetState, len(todo))
	created := make([]bool, len(todo))
	errs := make([]error, len(todo))
	started := forEach(ctx, todo, pace, func(i int, tid string) {
		states[i], created[i], errs[i] = s.sendTarget(ctx, rs, r, n, tid)
	})
	var delta WaveCounts
	handled, failed := 0, 0 // handled: the leading terminals handled without error
	for i := range started {
		if errs[i] != nil {
			slog.ErrorContext(ctx, "rollout: send to terminal", "rollout", r.ID, "wave", n, "terminal", todo[i], "error", errs[i])
			failed++
			continue
		}
		if handled == i {
			handled++
		}
		if created[i] && states[i] != TargetPending {
			delta = delta.add(count(states[i]))
		}
	}
	sent := from + handled
	complete := sent >= len(w.Terminals)
	if sent > r.WaveSent || complete {
		_, err = s.updateRollout(ctx, rs, r.ID, func(x *Rollout, now time.Time) (bool, error) {
			if x.Wave != n || x.Phase != PhaseSending || (x.WaveSent >= sent && !complete) {
				return false, nil
			}
			x.WaveSent = max(x.WaveSent, sent)
			if complete {
				x.Phase, x.PhaseAt, x.WaveDeadline = PhaseWaiting, now, now.Add(s.cfg.CommandTimeout)
			}
			return true, nil
		})
		if err != nil {
			slog.ErrorContext(ctx, "rollout: record wave sent", "rollout", r.ID, "wave", n, "error", err)
		}
	}
	if delta == (WaveCounts{}) && !complete {
		return
	}
	c, err := rs.AddRolloutWaveCounts(ctx, r.ID, n, delta)
	if err != nil {
		slog.ErrorContext(ctx, "rollout: count wave", "rollout", r.ID, "wave", n, "error", err)
		return
	}
	if complete && failed == 0 && c.Counts.done() >= c.Size {
		s.evaluateWave(ctx, rs, r.ID, n, "", pace)
	}
}

// sendTarget handles one terminal of wave n: it decides the terminal's
// new config, records the target (once: a target already recorded means
// another sender handled it, created false) and, for an online terminal,
// sends set_config; an offline one gets the config as its undelivered
// desired config, sent when it says hello.
func (s *Service) sendTarget(ctx context.Context, rs RolloutStore, r Rollout, n int, id string) (TargetState, bool, error) {
	now := s.now()
	tg := RolloutTarget{RolloutID: r.ID, TerminalID: id, Wave: n}
	var (
		t      Terminal
		target json.RawMessage
		cmd    Command
	)
	t, err := s.store.Terminal(ctx, id)
	switch {
	case errors.Is(err, ErrNotFound):
		tg.State, tg.Reason = TargetSkipped, "terminal deleted"
	case err != nil:
		return "", false, fmt.Errorf("read terminal: %w", err)
	case !r.OverrideTerminalConfig && ownDesired(t):
		tg.State, tg.Reason = TargetSkipped, "has its own desired config (set by "+truncate(t.Desired.SetBy, 128)+")"
	}
	if tg.State == "" {
		base, ok, err := s.configBase(ctx, t, now)
		if err != nil {
			return "", false, err
		}
		switch {
		case !ok:
			tg.State, tg.Reason = TargetSkipped, "config unknown: the terminal never reported one"
		default:
			tg.Previous, tg.PreviousVersion = base, ConfigVersion(base)
			target, err = rolloutConfig(r, base)
			switch {
			case err != nil:
				tg.State, tg.Reason = TargetFailed, err.Error()
			case jsonEqual(target, base):
				tg.State, tg.Reason = TargetSkipped, "already has this config"
			case r.CreatorRole != RoleAdmin && len(adminOnlyChanges(target, t.Config.Data, t.Desired.Data)) > 0:
				tg.State, tg.Reason = TargetFailed, "would change "+joinKeys(adminOnlyChanges(target, t.Config.Data, t.Desired.Data))+", which only an admin may change"
			case s.online(t, now):
				params, _ := json.Marshal(protocol.SetConfigParams{Config: target})
				cmd = s.newCommand(id, protocol.CommandSetConfig, params, rolloutActorPrefix+r.ID, now, 0)
				tg.State, tg.RequestID, tg.Deadline, tg.SentAt = TargetPending, cmd.RequestID, cmd.Deadline, now
				tg.TargetVersion = ConfigVersion(target)
			default:
				tg.State, tg.TargetVersion = TargetOffline, ConfigVersion(target)
			}
		}
	}
	created, err := rs.PutRolloutTarget(ctx, tg)
	if err != nil || !created {
		return tg.State, false, err
	}
	tg.Revision = 1
	if tg.State != TargetPending && tg.State != TargetOffline {
		return tg.State, true, nil
	}
	creator := Principal{Subject: r.CreatedBy, Role: r.CreatorRole}
	detail := map[string]any{"rollout": r.ID, "wave": n, "version": tg.TargetVersion, "diff": Diff(tg.Previous, target)}
	if tg.State == TargetOffline {
		detail["offline"] = "sent when the terminal reconnects"
	} else {
		detail["requestId"] = cmd.RequestID
	}
	if err := s.recordAudit(ctx, creator, AuditConfigSet, id, AuditOutcomeRequested, detail); err != nil {
		// Nothing was sent: a change never happens unaudited.
		tg.State, tg.Reason, tg.RequestID = TargetFailed, "the audit record could not be written", ""
		return tg.State, true, rs.UpdateRolloutTarget(ctx, tg)
	}
	// The target is claimed: from here a store error must not leave it
	// pending or offline with nothing sent or recorded (no sender comes
	// back to a claimed target), so it reads failed.
	unsent := func(step string, err error) (TargetState, bool, error) {
		slog.ErrorContext(ctx, "rollout: claimed terminal not sent", "rollout", r.ID, "terminal", id, "step", step, "error", err)
		tg.State, tg.Reason, tg.RequestID = TargetFailed, "could not be sent: "+step+" failed", ""
		if uerr := rs.UpdateRolloutTarget(ctx, tg); uerr != nil {
			return TargetPending, true, fmt.Errorf("%s: %w; and marking it failed: %v", step, err, uerr)
		}
		return TargetFailed, true, nil
	}
	d := DesiredConfig{Data: target, Version: tg.TargetVersion, SetAt: now, SetBy: rolloutActorPrefix + r.ID}
	if tg.State == TargetOffline {
		if err := s.store.SetDesiredConfig(ctx, id, d); err != nil {
			return unsent("record desired config", err)
		}
		return tg.State, true, nil
	}
	if err := s.store.PutCommands(ctx, cmd); err != nil {
		return unsent("record set_config", err)
	}
	d.RequestID = cmd.RequestID
	if err := s.store.SetDesiredConfig(ctx, id, d); err != nil {
		return unsent("record desired config", err)
	}
	err = s.send(ctx, id, t.ConnectionID, cmd.message())
	if errors.Is(err, ErrGone) {
		// Offline after all: deliver it at the next hello.
		tg.State, tg.RequestID, tg.Deadline, tg.SentAt = TargetOffline, "", time.Time{}, time.Time{}
		if err := rs.UpdateRolloutTarget(ctx, tg); err != nil {
			return TargetPending, true, fmt.Errorf("record offline target: %w", err)
		}
		d.RequestID = ""
		if err := s.store.SetDesiredConfig(ctx, id, d); err != nil {
			return tg.State, true, fmt.Errorf("record desired config: %w", err)
		}
		return tg.State, true, nil
	}
	// Another push failure leaves the command pending: it times out.
	return TargetPending, true, nil
}

// configBase is the config a rollout builds on for t: its desired config
// while that is newer than the reported one and pending (or undelivered)
// or succeeded, else its reported config. ok is false when neither is known.
func (s *Service) configBase(ctx context.Context, t Terminal, now time.Time) (json.RawMessage, bool, error) {
	d := t.Desired
	if d.Version != "" && protocol.IsObject(d.Data) && d.SetAt.After(t.Config.SyncedAt) {
		if d.RequestID == "" {
			return d.Data, true, nil
		}
		c, err := s.store.Command(ctx, t.ID, d.RequestID, now)
		switch {
		case err == nil:
			if st := c.Effective(now).State; st == CommandPending || st == CommandSucceeded {
				return d.Data, true, nil
			}
		case !errors.Is(err, ErrNotFound):
			return nil, false, fmt.Errorf("state of the desired config: %w", err)
		}
	}
	if protocol.IsObject(t.Config.Data) {
		return t.Config.Data, true, nil
	}
	return nil, false, nil
}

// rolloutConfig is the config r asks a terminal whose config is base to
// run: base patched, or r's config with base's values of the admin-only
// keys it leaves out.
func rolloutConfig(r Rollout, base json.RawMessage) (json.RawMessage, error) {
	var out json.RawMessage
	if r.Patch != nil {
		var err error
		if out, err = MergePatch(base, r.Patch); err != nil {
			return nil, err
		}
	} else {
		doc, b := topLevel(r.Config), topLevel(base)
		for _, k := range protocol.AdminOnlyConfigKeys {
			if _, ok := doc[k]; ok {
				continue
			}
			if v, ok := b[k]; ok {
				doc[k] = v
			}
		}
		out, _ = json.Marshal(doc)
	}
	out = compact(out)
	if !protocol.IsObject(out) {
		return nil, fmt.Errorf("the patched config is not a JSON object")
	}
	if len(out) > maxDesiredConfigBytes {
		return nil, fmt.Errorf("the new config is %d bytes, the limit is %d", len(out), maxDesiredConfigBytes)
	}
	return out, nil
}

// evaluateWave decides wave n of rollout id if every terminal of it has an
// outcome (pending ones past their deadline are timed out now): the
// rollout aborts if more than AbortAbove of the terminals the wave reached
// failed or timed out, completes after its last wave, and otherwise makes
// the next wave due after WaveInterval. Of concurrent callers one decides
// (the write over the Revision read); the others find the wave decided.
// via names the terminal whose answer completed the wave ("" for the
// scheduler), under which the decision is audited. With a pacer it starts
// the next wave when that is due at once (not from the message function:
// nil).
func (s *Service) evaluateWave(ctx context.Context, rs RolloutStore, id string, n int, via string, pace *pacer) {
	r, err := rs.Rollout(ctx, id)
	if err != nil {
		slog.ErrorContext(ctx, "rollout: read for a wave decision", "rollout", id, "error", err)
		return
	}
	if !deciding(r, n) {
		return
	}
	w, err := rs.RolloutWave(ctx, id, n)
	if err != nil {
		slog.ErrorContext(ctx, "rollout: read wave", "rollout", id, "wave", n, "error", err)
		return
	}
	targets, err := rs.RolloutTargets(ctx, id, w.Terminals)
	if err != nil {
		slog.ErrorContext(ctx, "rollout: read wave targets", "rollout", id, "wave", n, "error", err)
		return
	}
	if len(targets) < len(w.Terminals) {
		return // still being sent
	}
	now := s.now()
	var counts WaveCounts
	for _, t := range targets {
		if t.State == TargetPending {
			if now.Before(t.Deadline) {
				return // an answer may still come
			}
			if t, err = s.timeOut(ctx, rs, t); err != nil {
				slog.ErrorContext(ctx, "rollout: time out terminal", "rollout", id, "terminal", t.TerminalID, "error", err)
				return
			}
			if t.State == TargetPending {
				return
			}
		}
		counts = counts.add(count(t.State))
	}
	reached := counts.Succeeded + counts.Failed + counts.TimedOut
	bad := counts.Failed + counts.TimedOut
	abort := reached > 0 && float64(bad) > r.AbortAbove*float64(reached)
	decided, err := s.updateRollout(ctx, rs, id, func(x *Rollout, now time.Time) (bool, error) {
		if !deciding(*x, n) {
			return false, errRolloutMoved
		}
		switch {
		case abort:
			x.State = RolloutAborted
			x.Reason = fmt.Sprintf("wave %d of %d (index %d): %d of the %d terminals reached failed or timed out (%.0f%%), above the abort threshold of %.0f%%",
				n+1, x.Waves, n, bad, reached, 100*float64(bad)/float64(reached), 100*x.AbortAbove)
		case n+1 < x.Waves:
			x.Wave, x.Phase, x.PhaseAt, x.NextWaveAt, x.WaveDeadline, x.WaveSent = n+1, PhaseDue, now, now.Add(x.WaveInterval), time.Time{}, 0
		default:
			x.State = RolloutCompleted
		}
		return true, nil
	})
	if errors.Is(err, errRolloutMoved) {
		return
	}
	if err != nil {
		slog.ErrorContext(ctx, "rollout: decide wave", "rollout", id, "wave", n, "error", err)
		return
	}
	outcome := WavePassed
	if abort {
		outcome = WaveAborted
	}
	if err := rs.MarkRolloutWave(ctx, id, n, time.Time{}, now, outcome, counts); err != nil {
		slog.ErrorContext(ctx, "rollout: record wave outcome", "rollout", id, "wave", n, "error", err)
	}
	detail := map[string]any{"rollout": id, "group": r.Group, "wave": n, "outcome": outcome, "counts": counts, "state": decided.State}
	if decided.Reason != "" && abort {
		detail["reason"] = decided.Reason
	}
	if decided.State == RolloutRunning || decided.State == RolloutPaused {
		detail["nextWaveAt"] = decided.NextWaveAt
	}
	_ = s.recordAudit(ctx, rolloutSystem, AuditRolloutWaveFinish, via, AuditOutcomeRequested, detail)
	if pace != nil && decided.State == RolloutRunning && decided.Phase == PhaseDue && !s.now().Before(decided.NextWaveAt) {
		s.startDueWave(ctx, rs, id, pace)
	}
}

// deciding reports whether wave n of r awaits its decision.
func deciding(r Rollout, n int) bool {
	return (r.State == RolloutRunning || r.State == RolloutPaused) && r.Wave == n && r.Phase != PhaseDue
}

// timeOut records that t's command passed its deadline without an
// answer, unless an answer was recorded first; it returns t as stored.
func (s *Service) timeOut(ctx context.Context, rs RolloutStore, t RolloutTarget) (RolloutTarget, error) {
	for attempt := 0; attempt < maxUpdateAttempts; attempt++ {
		if t.State != TargetPending {
			return t, nil
		}
		next := t
		next.State, next.Reason = TargetTimedOut, "no answer before the deadline"
		err := rs.UpdateRolloutTarget(ctx, next)
		if err == nil {
			next.Revision++
			return next, nil
		}
		if !errors.Is(err, ErrConflict) {
			return t, err
		}
		if t, err = rs.RolloutTarget(ctx, t.RolloutID, t.TerminalID); err != nil {
			return t, err
		}
	}
	return t, fmt.Errorf("time out %s: %w", t.TerminalID, ErrConflict)
}

// advanceRollouts is the scheduler's rollout job: for each active rollout,
// it starts the wave that is due, goes on sending a wave not all sent
// (once its last sender's lease is over), decides a wave past its
// deadline, and goes on rolling back, all rollouts together handling at
// most RolloutPace.PerRun terminals. It reads the list of active
// rollouts, never every rollout.
func (s *Service) advanceRollouts(ctx context.Context, now time.Time) error {
	rs, err := s.rolloutStore()
	if err != nil {
		return nil // a store without rollouts has nothing to advance
	}
	after := ""
	var errs []error
	pace := s.runPacer() // one budget for the run, over every rollout
	for {
		ids, err := rs.ActiveRollouts(ctx, after, maxActivePage)
		if err != nil {
			return fmt.Errorf("active rollouts: %w", err)
		}
		for _, id := range ids {
			if err := s.advanceRollout(ctx, rs, id, now, pace); err != nil {
				errs = append(errs, fmt.Errorf("rollout %s: %w", id, err))
			}
		}
		if len(ids) < maxActivePage {
			return errors.Join(errs...)
		}
		after = ids[len(ids)-1]
	}
}

func (s *Service) advanceRollout(ctx context.Context, rs RolloutStore, id string, now time.Time, pace *pacer) error {
	r, err := rs.Rollout(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return nil // an entry whose creation failed
	}
	if err != nil {
		return err
	}
	if !r.State.Active() {
		// Its entry outlived it (a lost delete): writing it again drops it.
		return rs.UpdateRollout(ctx, r)
	}
	switch {
	case r.State == RolloutRollingBack:
		s.rollBack(ctx, rs, id, s.now().Add(rollbackBudget), pace)
	case r.Phase == PhaseDue:
		if r.State == RolloutRunning && !now.Before(r.NextWaveAt) {
			s.startDueWave(ctx, rs, id, pace)
		}
	case r.Phase == PhaseSending:
		if now.Sub(r.PhaseAt) >= sendLease {
			s.resumeWave(ctx, rs, id, r.Wave, pace)
		}
	case r.Phase == PhaseWaiting:
		if !now.Before(r.WaveDeadline) {
			s.evaluateWave(ctx, rs, id, r.Wave, "", pace)
		}
	}
	return nil
}
