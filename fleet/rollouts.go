package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/edgesync/edgesync/protocol"
)

// Group config with staged rollout: a desired config, or a JSON merge
// patch, for every terminal of a group, sent in waves. This file holds the
// rules of who may do what and the user-facing operations;
// rolloutrecords.go the records; rolloutengine.go, rolloutanswers.go and
// rollback.go move rollouts forward (waves, answers, deadlines, rollback,
// terminals catching up when they reconnect).
//
// A rollout fixes its terminals and their waves when it starts (the
// group's terminals then, in id order, WaveSize per wave, at most
// maxWaveSize whatever the spec asks). A wave sends set_config to each of
// its terminals that is online, at the service's pace (RolloutPace: a
// request sends the first terminals of a wave, the scheduler the rest at
// its next runs), records the config
// the terminal had before (its target's Previous) and makes the new one
// the terminal's desired config; an offline terminal's desired config is
// recorded undelivered and sent when it next says hello. The wave is over
// when every terminal answered, its command passed its deadline, or it
// was offline or skipped; if more than AbortAbove of the terminals it
// reached failed or timed out, the rollout stops (aborted) and the later
// waves are never sent. Events move it forward (command answers, hellos),
// and the scheduler's Tick starts the waves that are due and times out
// the answers that never came; no function waits for a terminal.
//
// Which config a terminal is asked to run, highest precedence first:
//
//  1. Its own desired config (PUT /terminals/{id}/config, set by a user):
//     a rollout skips such a terminal (outcome skipped, "has its own
//     desired config") unless the rollout says OverrideTerminalConfig. An
//     own config set after a rollout reached the terminal stays: rolling
//     that rollout back leaves the terminal alone.
//  2. Group rollouts, in the order their waves reach the terminal: each
//     applies its patch (or its config) to the config the terminal has
//     then, the desired one while that is pending, else the reported one.
//     A terminal in two groups with rollouts gets both, the later wave's
//     values winning on the keys both set; rolling back one of them
//     restores the config the terminal had before that rollout reached it
//     only if nothing changed the terminal's desired config since (else it
//     is skipped, "changed since").
//  3. Its reported config: the base everything above applies to.
//
// Admin-only keys (protocol.AdminOnlyConfigKeys) stay admin-only: only an
// admin may name them in a rollout's config or patch, and a full config
// that leaves them out keeps each terminal's own values.

// The rollout operations and the roles they need (access.go's table holds
// the rest).
var (
	opReadRollouts   = operation{"rollout.read", RoleViewer}
	opStartRollout   = operation{AuditRolloutStart, RoleOperator}
	opControlRollout = operation{"rollout.control", RoleOperator}
)

// ErrNoRollouts is returned by the rollout operations when the service's
// store keeps no rollouts (it is not a RolloutStore).
var ErrNoRollouts = fmt.Errorf("this store keeps no rollouts: %w", ErrInvalid)

// rolloutStore returns the store's RolloutStore, or ErrNoRollouts.
func (s *Service) rolloutStore() (RolloutStore, error) {
	rs, ok := s.store.(RolloutStore)
	if !ok {
		return nil, ErrNoRollouts
	}
	return rs, nil
}

// inGroup reports whether p may see group g's terminals: admins and the
// system see every group, other users theirs.
func (p Principal) inGroup(g string) bool {
	return p.seesAll() || (p.Kind != KindTerminal && p.Can(RoleViewer) && slices.Contains(p.Groups, g))
}

// group applies op's role and p's groups to group g: a group p may not see
// is ErrNotFound, like an unknown one, and audited as a denial.
func (s *Service) group(ctx context.Context, p Principal, op operation, g string) error {
	if err := s.allow(ctx, p, op, ""); err != nil {
		return err
	}
	if !validGroup(g) {
		return fmt.Errorf("group %q: must be 1 to %d bytes of UTF-8 without spaces or control characters: %w", truncate(g, 64), maxGroupBytes, ErrInvalid)
	}
	if p.inGroup(g) {
		return nil
	}
	s.deny(ctx, p, op, "", "group is outside the user's groups")
	return fmt.Errorf("no group %s: %w", truncate(g, 128), ErrNotFound)
}

// RolloutView is a rollout as a user sees it, with its waves' tallies.
type RolloutView struct {
	Rollout
	WaveIntervalSeconds float64 `json:"waveIntervalSeconds"`
	// Counts sums the waves' tallies.
	Counts WaveCounts `json:"counts"`
	// WaveList is each wave's tallies (without its terminals).
	WaveList []WaveView `json:"waveList,omitempty"`
}

// WaveView is one wave as a user sees it; Targets only when asked for.
type WaveView struct {
	Index      int             `json:"index"`
	Size       int             `json:"size"`
	Counts     WaveCounts      `json:"counts"`
	StartedAt  time.Time       `json:"startedAt,omitzero"`
	FinishedAt time.Time       `json:"finishedAt,omitzero"`
	Outcome    string          `json:"outcome,omitempty"`
	Targets    []RolloutTarget `json:"targets,omitempty"`
	// Waiting lists the wave's terminals not reached yet.
	Waiting []string `json:"waiting,omitempty"`
}

// view is r as p sees it (config or patch masked unless p sees secrets).
func (p Principal) rollout(r Rollout) RolloutView {
	r.Config, r.Patch = p.document(r.Config), p.document(r.Patch)
	return RolloutView{Rollout: r, WaveIntervalSeconds: r.WaveInterval.Seconds()}
}

// StartRollout starts a rollout of spec to the terminals of group: their
// waves are fixed (the group's terminals now, in id order) and the first
// wave is sent before it returns (its first RolloutPace.PerRequest
// terminals; the scheduler sends the rest). It needs the operator role and the group
// among p's groups (admins: any group); naming an admin-only key needs the
// admin role (ErrForbidden naming the keys, audited as a denial). It is
// audited, and so is each wave and each terminal changed.
func (s *Service) StartRollout(ctx context.Context, p Principal, group string, spec RolloutSpec) (RolloutView, error) {
	rs, err := s.rolloutStore()
	if err != nil {
		return RolloutView{}, err
	}
	if err := s.group(ctx, p, opStartRollout, group); err != nil {
		return RolloutView{}, err
	}
	doc, err := checkSpec(&spec)
	if err != nil {
		return RolloutView{}, err
	}
	if !p.Can(RoleAdmin) {
		var keys []string
		for k := range topLevel(doc) {
			if protocol.IsAdminOnlyConfigKey(k) {
				keys = append(keys, k)
			}
		}
		if len(keys) > 0 {
			slices.Sort(keys)
			s.deny(ctx, p, opStartRollout, "", "group config names admin-only config keys")
			return RolloutView{}, fmt.Errorf("%s may only be changed by an admin: %w", joinKeys(keys), ErrForbidden)
		}
	}
	ids, err := s.groupIDs(ctx, group)
	if err != nil {
		return RolloutView{}, err
	}
	if len(ids) == 0 {
		return RolloutView{}, fmt.Errorf("no terminals in group %s: %w", truncate(group, 128), ErrNotFound)
	}
	now := s.now()
	r := Rollout{
		ID: NewAuditID(now), Group: group, WaveSize: spec.WaveSize,
		WaveInterval: time.Duration(spec.WaveIntervalSeconds * float64(time.Second)),
		AbortAbove:   *spec.AbortAbove, OverrideTerminalConfig: spec.OverrideTerminalConfig,
		Total: len(ids), State: RolloutRunning, Phase: PhaseDue, PhaseAt: now, NextWaveAt: now,
		CreatedAt: now, CreatedBy: p.Subject, CreatorRole: p.Role, UpdatedAt: now,
	}
	if spec.Patch != nil {
		r.Patch = doc
	} else {
		r.Config = doc
	}
	r.WaveSize = waveSizeFor(spec, len(ids))
	r.Waves = (len(ids) + r.WaveSize - 1) / r.WaveSize
	if r.Waves > maxRolloutWaves {
		return RolloutView{}, fmt.Errorf("%d terminals in waves of %d make %d waves, at most %d are allowed: choose larger waves: %w", len(ids), r.WaveSize, r.Waves, maxRolloutWaves, ErrInvalid)
	}
	detail := map[string]any{
		"rollout": r.ID, "group": group, "total": r.Total, "waves": r.Waves, "waveSize": r.WaveSize,
		"waveIntervalSeconds": r.WaveInterval.Seconds(), "abortAbove": r.AbortAbove,
		"overrideTerminalConfig": r.OverrideTerminalConfig,
	}
	if r.Patch != nil {
		detail["patch"] = r.Patch
	} else {
		detail["config"] = r.Config
	}
	err = s.audited(ctx, p, AuditRolloutStart, "", detail, func() error {
		waves := make([]RolloutWave, r.Waves)
		for i := range waves {
			waves[i] = RolloutWave{RolloutID: r.ID, Index: i, Terminals: ids[i*r.WaveSize : i*r.WaveSize+r.waveLen(i)], Size: r.waveLen(i)}
		}
		// The waves first: a rollout never exists without them.
		if err := rs.PutRolloutWaves(ctx, waves...); err != nil {
			return fmt.Errorf("store waves of rollout %s: %w", r.ID, err)
		}
		if err := rs.CreateRollout(ctx, r); err != nil {
			return fmt.Errorf("store rollout %s: %w", r.ID, err)
		}
		return nil
	})
	if err != nil {
		return RolloutView{}, err
	}
	r.Revision = 1
	s.startDueWave(ctx, rs, r.ID, s.requestPacer())
	return s.rolloutView(ctx, rs, p, r.ID)
}

// waveSizeFor is the number of terminals per wave spec asks for n
// terminals: WaveSize, else WavePercent of n rounded up, else n; at least
// 1 and at most n and maxWaveSize.
func waveSizeFor(spec RolloutSpec, n int) int {
	size := spec.WaveSize
	switch {
	case spec.WavePercent > 0:
		size = int(math.Ceil(float64(n) * spec.WavePercent / 100))
	case size == 0:
		size = n
	}
	return max(1, min(size, n, maxWaveSize))
}

// checkSpec validates spec, fills its defaults and returns its document
// (the config or the patch), compacted.
func checkSpec(spec *RolloutSpec) (json.RawMessage, error) {
	if (spec.Config == nil) == (spec.Patch == nil) {
		return nil, fmt.Errorf("give exactly one of config (the whole desired config) and patch (a JSON merge patch): %w", ErrInvalid)
	}
	doc := spec.Config
	if doc == nil {
		doc = spec.Patch
	}
	if !protocol.IsObject(doc) {
		return nil, fmt.Errorf("config or patch: must be a JSON object: %w", ErrInvalid)
	}
	if len(doc) > maxDesiredConfigBytes {
		return nil, fmt.Errorf("config or patch: %d bytes, the limit is %d: %w", len(doc), maxDesiredConfigBytes, ErrInvalid)
	}
	if spec.WaveSize != 0 && spec.WavePercent != 0 {
		return nil, fmt.Errorf("give waveSize or wavePercent, not both: %w", ErrInvalid)
	}
	if spec.WaveSize < 0 || spec.WaveSize > maxWaveSize {
		return nil, fmt.Errorf("waveSize %d: must be from 1 to %d: %w", spec.WaveSize, maxWaveSize, ErrInvalid)
	}
	if spec.WavePercent < 0 || spec.WavePercent > 100 || math.IsNaN(spec.WavePercent) {
		return nil, fmt.Errorf("wavePercent %v: must be above 0 and at most 100: %w", spec.WavePercent, ErrInvalid)
	}
	if spec.WaveIntervalSeconds < 0 || spec.WaveIntervalSeconds > maxWaveInterval.Seconds() || math.IsNaN(spec.WaveIntervalSeconds) {
		return nil, fmt.Errorf("waveIntervalSeconds %v: must be from 0 to %v: %w", spec.WaveIntervalSeconds, maxWaveInterval.Seconds(), ErrInvalid)
	}
	if spec.AbortAbove == nil {
		v := defaultAbortAbove
		spec.AbortAbove = &v
	}
	if a := *spec.AbortAbove; a < 0 || a > 1 || math.IsNaN(a) {
		return nil, fmt.Errorf("abortAbove %v: must be from 0 to 1: %w", a, ErrInvalid)
	}
	return compact(doc), nil
}

// groupIDs returns the ids of group's terminals in id order (at most
// maxRolloutTerminals; ErrInvalid beyond).
func (s *Service) groupIDs(ctx context.Context, group string) ([]string, error) {
	var ids []string
	after := ""
	for {
		ts, err := s.store.GroupTerminals(ctx, group, after, MaxPageSize)
		if err != nil {
			return nil, fmt.Errorf("terminals of group %s: %w", group, err)
		}
		for _, t := range ts {
			ids = append(ids, t.ID)
		}
		if len(ids) > maxRolloutTerminals {
			return nil, fmt.Errorf("group %s has more than %d terminals, the most one rollout reaches: %w", truncate(group, 128), maxRolloutTerminals, ErrInvalid)
		}
		if len(ts) < MaxPageSize {
			return ids, nil
		}
		after = ts[len(ts)-1].ID
	}
}

// Rollouts lists group's rollouts newest first, limit per page (1 to 100),
// after cursor ("" for the first page), and returns the next page's
// cursor ("" with the last). It needs the viewer role and the group among
// p's groups.
func (s *Service) Rollouts(ctx context.Context, p Principal, group, cursor string, limit int) ([]RolloutView, string, error) {
	rs, err := s.rolloutStore()
	if err != nil {
		return nil, "", err
	}
	if err := s.group(ctx, p, opReadRollouts, group); err != nil {
		return nil, "", err
	}
	if limit < 1 || limit > maxRolloutPage {
		return nil, "", fmt.Errorf("limit %d: must be from 1 to %d: %w", limit, maxRolloutPage, ErrInvalid)
	}
	if cursor != "" && !ValidAuditID(cursor) {
		return nil, "", fmt.Errorf("cursor %q: %w", truncate(cursor, 64), ErrInvalid)
	}
	rolls, next, err := rs.GroupRollouts(ctx, group, cursor, limit)
	if err != nil {
		return nil, "", fmt.Errorf("rollouts of group %s: %w", group, err)
	}
	out := make([]RolloutView, 0, len(rolls))
	for _, r := range rolls {
		out = append(out, p.rollout(r))
	}
	return out, next, nil
}

// RolloutDetail returns one rollout of group with its waves' tallies. It
// needs the viewer role and the group among p's groups; a rollout of
// another group is ErrNotFound.
func (s *Service) RolloutDetail(ctx context.Context, p Principal, group, id string) (RolloutView, error) {
	rs, err := s.rolloutStore()
	if err != nil {
		return RolloutView{}, err
	}
	if err := s.group(ctx, p, opReadRollouts, group); err != nil {
		return RolloutView{}, err
	}
	if _, err := s.groupRollout(ctx, rs, group, id); err != nil {
		return RolloutView{}, err
	}
	return s.rolloutView(ctx, rs, p, id)
}

// RolloutWaveDetail returns one wave of a rollout of group with each
// terminal's target (the terminals not reached yet in Waiting). It needs
// the viewer role and the group among p's groups.
func (s *Service) RolloutWaveDetail(ctx context.Context, p Principal, group, id string, index int) (WaveView, error) {
	rs, err := s.rolloutStore()
	if err != nil {
		return WaveView{}, err
	}
	if err := s.group(ctx, p, opReadRollouts, group); err != nil {
		return WaveView{}, err
	}
	r, err := s.groupRollout(ctx, rs, group, id)
	if err != nil {
		return WaveView{}, err
	}
	if index < 0 || index >= r.Waves {
		return WaveView{}, fmt.Errorf("rollout %s has waves 0 to %d, not %d: %w", id, r.Waves-1, index, ErrNotFound)
	}
	w, err := rs.RolloutWave(ctx, id, index)
	if err != nil {
		return WaveView{}, fmt.Errorf("wave %d of rollout %s: %w", index, id, err)
	}
	targets, err := rs.RolloutTargets(ctx, id, w.Terminals)
	if err != nil {
		return WaveView{}, fmt.Errorf("targets of wave %d of rollout %s: %w", index, id, err)
	}
	v := waveView(w)
	now := s.now()
	reached := map[string]bool{}
	for _, t := range targets {
		t = t.effective(now)
		t.Previous = p.document(t.Previous)
		v.Targets = append(v.Targets, t)
		reached[t.TerminalID] = true
	}
	for _, tid := range w.Terminals {
		if !reached[tid] {
			v.Waiting = append(v.Waiting, tid)
		}
	}
	return v, nil
}

func waveView(w RolloutWave) WaveView {
	return WaveView{Index: w.Index, Size: w.Size, Counts: w.Counts, StartedAt: w.StartedAt, FinishedAt: w.FinishedAt, Outcome: w.Outcome}
}

// groupRollout reads rollout id and checks that it belongs to group.
func (s *Service) groupRollout(ctx context.Context, rs RolloutStore, group, id string) (Rollout, error) {
	if !ValidAuditID(id) {
		return Rollout{}, fmt.Errorf("rollout id %q: %w", truncate(id, 64), ErrInvalid)
	}
	r, err := rs.Rollout(ctx, id)
	if errors.Is(err, ErrNotFound) || (err == nil && r.Group != group) {
		return Rollout{}, fmt.Errorf("no rollout %s in group %s: %w", id, truncate(group, 128), ErrNotFound)
	}
	if err != nil {
		return Rollout{}, fmt.Errorf("rollout %s: %w", id, err)
	}
	return r, nil
}

// rolloutView reads rollout id and its waves as p sees them.
func (s *Service) rolloutView(ctx context.Context, rs RolloutStore, p Principal, id string) (RolloutView, error) {
	r, err := rs.Rollout(ctx, id)
	if err != nil {
		return RolloutView{}, fmt.Errorf("rollout %s: %w", id, err)
	}
	waves, err := rs.RolloutWaves(ctx, id)
	if err != nil {
		return RolloutView{}, fmt.Errorf("waves of rollout %s: %w", id, err)
	}
	v := p.rollout(r)
	for _, w := range waves {
		v.WaveList = append(v.WaveList, waveView(w))
		v.Counts = v.Counts.add(w.Counts)
	}
	return v, nil
}

// Rollout controls. Each needs the operator role and the rollout's group
// among p's groups, is audited, and returns the rollout as it is after.

// PauseRollout pauses a running rollout: no further wave starts (a wave
// being sent or awaiting its answers finishes, and may still abort the
// rollout). ErrConflict unless it is running.
func (s *Service) PauseRollout(ctx context.Context, p Principal, group, id string) (RolloutView, error) {
	return s.controlRollout(ctx, p, group, id, AuditRolloutPause, func(r *Rollout, now time.Time) error {
		if r.State != RolloutRunning {
			return fmt.Errorf("rollout %s is %s, only a running one pauses: %w", id, r.State, ErrConflict)
		}
		r.State = RolloutPaused
		return nil
	})
}

// ResumeRollout resumes a paused rollout; a wave that became due
// meanwhile starts at once. ErrConflict unless it is paused.
func (s *Service) ResumeRollout(ctx context.Context, p Principal, group, id string) (RolloutView, error) {
	return s.controlRollout(ctx, p, group, id, AuditRolloutResume, func(r *Rollout, now time.Time) error {
		if r.State != RolloutPaused {
			return fmt.Errorf("rollout %s is %s, only a paused one resumes: %w", id, r.State, ErrConflict)
		}
		r.State = RolloutRunning
		return nil
	})
}

// CancelRollout stops a running or paused rollout for good: no further
// wave starts and no further terminal of a wave being sent is sent to (a
// sender at work finishes the terminals it started), and the offline
// terminals of the waves sent do not get the
// change when they reconnect (their undelivered desired config is
// withdrawn then). Terminals already changed keep the change (see
// RollbackRollout). ErrConflict unless it is running or paused.
func (s *Service) CancelRollout(ctx context.Context, p Principal, group, id string) (RolloutView, error) {
	return s.controlRollout(ctx, p, group, id, AuditRolloutCancel, func(r *Rollout, now time.Time) error {
		if r.State != RolloutRunning && r.State != RolloutPaused {
			return fmt.Errorf("rollout %s is %s, only a running or paused one is cancelled: %w", id, r.State, ErrConflict)
		}
		r.State = RolloutCancelled
		return nil
	})
}

// RollbackRollout stops the rollout and re-applies, wave by wave, the
// config each terminal it reached had before (its target's Previous): a
// terminal online gets set_config now, an offline one when it reconnects;
// a terminal whose desired config changed since the rollout reached it
// (by a user or another rollout) is left alone ("changed since"), and one
// that never got the change needs nothing. The rollback's first terminals
// (RolloutPace.PerRequest) are sent before it returns; the scheduler sends
// the rest at the same pace. ErrConflict if it
// is already rolling back or rolled back.
func (s *Service) RollbackRollout(ctx context.Context, p Principal, group, id string) (RolloutView, error) {
	return s.controlRollout(ctx, p, group, id, AuditRolloutRollback, func(r *Rollout, now time.Time) error {
		if r.State == RolloutRollingBack || r.State == RolloutRolledBack {
			return fmt.Errorf("rollout %s is already %s: %w", id, strings.ReplaceAll(string(r.State), "_", " "), ErrConflict)
		}
		r.RollbackWaves, r.RolledBackWaves = r.sentWaves(), 0
		r.State = RolloutRollingBack
		return nil
	})
}

// controlRollout applies change to the rollout (read again and retried on
// a concurrent update), audited as action, then moves the rollout on
// (a due wave, a rollback).
func (s *Service) controlRollout(ctx context.Context, p Principal, group, id, action string, change func(*Rollout, time.Time) error) (RolloutView, error) {
	rs, err := s.rolloutStore()
	if err != nil {
		return RolloutView{}, err
	}
	if err := s.group(ctx, p, opControlRollout, group); err != nil {
		return RolloutView{}, err
	}
	r, err := s.groupRollout(ctx, rs, group, id)
	if err != nil {
		return RolloutView{}, err
	}
	if err := change(&r, s.now()); err != nil {
		return RolloutView{}, err // refused as it stands: nothing to audit
	}
	err = s.audited(ctx, p, action, "", map[string]any{"rollout": id, "group": group}, func() error {
		_, err := s.updateRollout(ctx, rs, id, func(r *Rollout, now time.Time) (bool, error) {
			if err := change(r, now); err != nil {
				return false, err
			}
			return true, nil
		})
		return err
	})
	if err != nil {
		return RolloutView{}, err
	}
	switch action {
	case AuditRolloutResume:
		s.startDueWave(ctx, rs, id, s.requestPacer())
	case AuditRolloutRollback:
		s.rollBack(ctx, rs, id, s.now().Add(rollbackBudget), s.requestPacer())
	}
	return s.rolloutView(ctx, rs, p, id)
}

// maxUpdateAttempts bounds the read-decide-write rounds of one change of a
// rollout record or a target.
const maxUpdateAttempts = 8

// updateRollout reads rollout id, lets change decide (false: nothing to
// write) and writes the result over what it read, again on ErrConflict.
// It returns the rollout as written (or as read when change wrote nothing).
func (s *Service) updateRollout(ctx context.Context, rs RolloutStore, id string, change func(r *Rollout, now time.Time) (bool, error)) (Rollout, error) {
	for attempt := 0; ; attempt++ {
		r, err := rs.Rollout(ctx, id)
		if err != nil {
			return Rollout{}, fmt.Errorf("rollout %s: %w", id, err)
		}
		now := s.now()
		write, err := change(&r, now)
		if err != nil || !write {
			return r, err
		}
		r.UpdatedAt = now
		err = rs.UpdateRollout(ctx, r)
		if err == nil {
			r.Revision++
			return r, nil
		}
		if !errors.Is(err, ErrConflict) || attempt+1 >= maxUpdateAttempts {
			return Rollout{}, fmt.Errorf("update rollout %s: %w", id, err)
		}
	}
}
