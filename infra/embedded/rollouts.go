package embedded

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/edgesync/edgesync/fleet"
)

// Rollouts (fleet.RolloutStore). "rollouts" holds the records, keyed by
// rollout id; "rolloutWaves" and "rolloutTargets" one nested bucket per
// rollout id, keyed by the wave index (big-endian) and by terminal id;
// "rolloutsByGroup" one nested bucket per group with the ids of its
// rollouts; "activeRollouts" the ids of the active ones. Each method is
// one transaction, so conditional writes and counter additions are atomic.
var (
	rolloutsBucket       = []byte("rollouts")
	rolloutWavesBucket   = []byte("rolloutWaves")
	rolloutTargetsBucket = []byte("rolloutTargets")
	rolloutGroupsBucket  = []byte("rolloutsByGroup")
	activeRolloutsBucket = []byte("activeRollouts")
)

// rolloutBuckets are created by Open.
var rolloutBuckets = [][]byte{rolloutsBucket, rolloutWavesBucket, rolloutTargetsBucket, rolloutGroupsBucket, activeRolloutsBucket}

var _ fleet.RolloutStore = (*Store)(nil)

type rolloutRecord struct {
	ID                     string    `json:"id"`
	Group                  string    `json:"group"`
	Config                 []byte    `json:"config,omitempty"`
	Patch                  []byte    `json:"patch,omitempty"`
	WaveSize               int       `json:"waveSize"`
	WaveInterval           int64     `json:"waveIntervalNs,omitempty"`
	AbortAbove             float64   `json:"abortAbove"`
	OverrideTerminalConfig bool      `json:"override,omitempty"`
	Total                  int       `json:"total"`
	Waves                  int       `json:"waves"`
	State                  string    `json:"state"`
	Wave                   int       `json:"wave"`
	WaveSent               int       `json:"waveSent,omitempty"`
	Phase                  string    `json:"phase,omitempty"`
	PhaseAt                time.Time `json:"phaseAt,omitzero"`
	NextWaveAt             time.Time `json:"nextWaveAt,omitzero"`
	WaveDeadline           time.Time `json:"waveDeadline,omitzero"`
	RollbackWaves          int       `json:"rollbackWaves,omitempty"`
	RolledBackWaves        int       `json:"rolledBackWaves,omitempty"`
	Reason                 string    `json:"reason,omitempty"`
	CreatedAt              time.Time `json:"createdAt"`
	CreatedBy              string    `json:"createdBy"`
	CreatorRole            string    `json:"creatorRole,omitempty"`
	UpdatedAt              time.Time `json:"updatedAt,omitzero"`
	Revision               uint64    `json:"revision"`
}

func newRolloutRecord(r fleet.Rollout) rolloutRecord {
	return rolloutRecord{
		ID: r.ID, Group: r.Group, Config: r.Config, Patch: r.Patch, WaveSize: r.WaveSize,
		WaveInterval: int64(r.WaveInterval), AbortAbove: r.AbortAbove, OverrideTerminalConfig: r.OverrideTerminalConfig,
		Total: r.Total, Waves: r.Waves, State: string(r.State), Wave: r.Wave, WaveSent: r.WaveSent, Phase: string(r.Phase),
		PhaseAt: r.PhaseAt, NextWaveAt: r.NextWaveAt, WaveDeadline: r.WaveDeadline,
		RollbackWaves: r.RollbackWaves, RolledBackWaves: r.RolledBackWaves, Reason: r.Reason,
		CreatedAt: r.CreatedAt, CreatedBy: r.CreatedBy, CreatorRole: string(r.CreatorRole), UpdatedAt: r.UpdatedAt,
		Revision: r.Revision,
	}
}

func (r rolloutRecord) rollout() fleet.Rollout {
	return fleet.Rollout{
		ID: r.ID, Group: r.Group, Config: r.Config, Patch: r.Patch, WaveSize: r.WaveSize,
		WaveInterval: time.Duration(r.WaveInterval), AbortAbove: r.AbortAbove, OverrideTerminalConfig: r.OverrideTerminalConfig,
		Total: r.Total, Waves: r.Waves, State: fleet.RolloutState(r.State), Wave: r.Wave, WaveSent: r.WaveSent, Phase: fleet.WavePhase(r.Phase),
		PhaseAt: r.PhaseAt, NextWaveAt: r.NextWaveAt, WaveDeadline: r.WaveDeadline,
		RollbackWaves: r.RollbackWaves, RolledBackWaves: r.RolledBackWaves, Reason: r.Reason,
		CreatedAt: r.CreatedAt, CreatedBy: r.CreatedBy, CreatorRole: fleet.Role(r.CreatorRole), UpdatedAt: r.UpdatedAt,
		Revision: r.Revision,
	}
}

type waveRecord struct {
	Terminals  []string         `json:"terminals"`
	Counts     fleet.WaveCounts `json:"counts"`
	StartedAt  time.Time        `json:"startedAt,omitzero"`
	FinishedAt time.Time        `json:"finishedAt,omitzero"`
	Outcome    string           `json:"outcome,omitempty"`
}

// wave is the record as a wave with its terminals.
func (w waveRecord) wave(rolloutID string, index int) fleet.RolloutWave {
	return fleet.RolloutWave{RolloutID: rolloutID, Index: index, Terminals: w.Terminals, Size: len(w.Terminals),
		Counts: w.Counts, StartedAt: w.StartedAt, FinishedAt: w.FinishedAt, Outcome: w.Outcome}
}

// tally is the record as a wave without its terminals (Size set).
func (w waveRecord) tally(rolloutID string, index int) fleet.RolloutWave {
	out := w.wave(rolloutID, index)
	out.Terminals = nil
	return out
}

type targetRecord struct {
	Wave              int       `json:"wave"`
	State             string    `json:"state"`
	Reason            string    `json:"reason,omitempty"`
	RequestID         string    `json:"requestId,omitempty"`
	Previous          []byte    `json:"previous,omitempty"`
	PreviousVersion   string    `json:"previousVersion,omitempty"`
	TargetVersion     string    `json:"targetVersion,omitempty"`
	SentAt            time.Time `json:"sentAt,omitzero"`
	CompletedAt       time.Time `json:"completedAt,omitzero"`
	Deadline          time.Time `json:"deadline,omitzero"`
	CatchUp           string    `json:"catchUp,omitempty"`
	CatchUpRequestID  string    `json:"catchUpRequestId,omitempty"`
	Rollback          string    `json:"rollback,omitempty"`
	RollbackReason    string    `json:"rollbackReason,omitempty"`
	RollbackRequestID string    `json:"rollbackRequestId,omitempty"`
	Revision          uint64    `json:"revision"`
}

func newTargetRecord(t fleet.RolloutTarget) targetRecord {
	return targetRecord{
		Wave: t.Wave, State: string(t.State), Reason: t.Reason, RequestID: t.RequestID, Previous: t.Previous,
		PreviousVersion: t.PreviousVersion, TargetVersion: t.TargetVersion, SentAt: t.SentAt, CompletedAt: t.CompletedAt,
		Deadline: t.Deadline, CatchUp: string(t.CatchUp), CatchUpRequestID: t.CatchUpRequestID,
		Rollback: string(t.Rollback), RollbackReason: t.RollbackReason, RollbackRequestID: t.RollbackRequestID,
		Revision: t.Revision,
	}
}

func (t targetRecord) target(rolloutID, terminalID string) fleet.RolloutTarget {
	return fleet.RolloutTarget{
		RolloutID: rolloutID, TerminalID: terminalID, Wave: t.Wave, State: fleet.TargetState(t.State), Reason: t.Reason,
		RequestID: t.RequestID, Previous: t.Previous, PreviousVersion: t.PreviousVersion, TargetVersion: t.TargetVersion,
		SentAt: t.SentAt, CompletedAt: t.CompletedAt, Deadline: t.Deadline, CatchUp: fleet.TargetState(t.CatchUp),
		CatchUpRequestID: t.CatchUpRequestID, Rollback: fleet.TargetState(t.Rollback), RollbackReason: t.RollbackReason,
		RollbackRequestID: t.RollbackRequestID, Revision: t.Revision,
	}
}

func waveKey(index int) []byte { return binary.BigEndian.AppendUint32(nil, uint32(index)) }

// CreateRollout stores a new rollout, its group entry and (when active) its
// active entry in one transaction. ErrExists if the id is taken.
func (s *Store) CreateRollout(ctx context.Context, r fleet.Rollout) error {
	if r.ID == "" || r.Group == "" {
		return fmt.Errorf("create rollout: empty id or group: %w", fleet.ErrInvalid)
	}
	err := s.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(rolloutsBucket)
		if b.Get([]byte(r.ID)) != nil {
			return fleet.ErrExists
		}
		g, err := tx.Bucket(rolloutGroupsBucket).CreateBucketIfNotExists([]byte(r.Group))
		if err != nil {
			return err
		}
		if err := g.Put([]byte(r.ID), nil); err != nil {
			return err
		}
		if r.State.Active() {
			if err := tx.Bucket(activeRolloutsBucket).Put([]byte(r.ID), nil); err != nil {
				return err
			}
		}
		r.Revision = 1
		return put(b, []byte(r.ID), newRolloutRecord(r))
	})
	if err != nil {
		return fmt.Errorf("create rollout %s: %w", r.ID, err)
	}
	return nil
}

// Rollout returns the rollout. ErrNotFound if absent.
func (s *Store) Rollout(ctx context.Context, id string) (fleet.Rollout, error) {
	var r rolloutRecord
	err := s.view(ctx, func(tx *bolt.Tx) error {
		var ok bool
		var err error
		if r, ok, err = get[rolloutRecord](tx.Bucket(rolloutsBucket), []byte(id)); err == nil && !ok {
			err = fleet.ErrNotFound
		}
		return err
	})
	if err != nil {
		return fleet.Rollout{}, fmt.Errorf("rollout %s: %w", id, err)
	}
	return r.rollout(), nil
}

// UpdateRollout replaces the rollout over its Revision and keeps the
// active entry in step, in one transaction.
func (s *Store) UpdateRollout(ctx context.Context, r fleet.Rollout) error {
	err := s.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(rolloutsBucket)
		old, ok, err := get[rolloutRecord](b, []byte(r.ID))
		switch {
		case err != nil:
			return err
		case !ok:
			return fleet.ErrNotFound
		case old.Revision != r.Revision:
			return fleet.ErrConflict
		}
		active := tx.Bucket(activeRolloutsBucket)
		if r.State.Active() {
			err = active.Put([]byte(r.ID), nil)
		} else {
			err = active.Delete([]byte(r.ID))
		}
		if err != nil {
			return err
		}
		r.Revision++
		return put(b, []byte(r.ID), newRolloutRecord(r))
	})
	if err != nil {
		return fmt.Errorf("update rollout %s: %w", r.ID, err)
	}
	return nil
}

// GroupRollouts lists a group's rollouts newest first: a backward walk of
// the group's entries before cursor.
func (s *Store) GroupRollouts(ctx context.Context, group, cursor string, limit int) ([]fleet.Rollout, string, error) {
	if limit < 1 {
		return nil, "", fmt.Errorf("rollouts of group %q: limit %d: must be at least 1: %w", group, limit, fleet.ErrInvalid)
	}
	if cursor != "" && !fleet.ValidAuditID(cursor) {
		return nil, "", fmt.Errorf("rollouts of group %q: cursor %q: %w", group, cursor, fleet.ErrInvalid)
	}
	var out []fleet.Rollout
	next := ""
	err := s.view(ctx, func(tx *bolt.Tx) error {
		if group == "" {
			return nil
		}
		g := tx.Bucket(rolloutGroupsBucket).Bucket([]byte(group))
		if g == nil {
			return nil
		}
		records := tx.Bucket(rolloutsBucket)
		c := g.Cursor()
		var k []byte
		if cursor == "" {
			k, _ = c.Last()
		} else {
			k, _ = c.Seek([]byte(cursor))
			if k == nil {
				k, _ = c.Last()
			}
			for k != nil && bytes.Compare(k, []byte(cursor)) >= 0 {
				k, _ = c.Prev()
			}
		}
		for ; k != nil; k, _ = c.Prev() {
			if len(out) == limit {
				next = out[len(out)-1].ID
				return nil
			}
			r, ok, err := get[rolloutRecord](records, k)
			if err != nil {
				return err
			}
			if ok {
				out = append(out, r.rollout())
			}
		}
		return nil
	})
	if err != nil {
		return nil, "", fmt.Errorf("rollouts of group %q: %w", group, err)
	}
	return out, next, nil
}

// ActiveRollouts returns the ids of active rollouts after the id after.
func (s *Store) ActiveRollouts(ctx context.Context, after string, limit int) ([]string, error) {
	if limit < 1 {
		return nil, fmt.Errorf("active rollouts: limit %d: must be at least 1: %w", limit, fleet.ErrInvalid)
	}
	var out []string
	err := s.view(ctx, func(tx *bolt.Tx) error {
		c := tx.Bucket(activeRolloutsBucket).Cursor()
		k, _ := c.First()
		if after != "" {
			k, _ = c.Seek([]byte(after))
			if k != nil && bytes.Equal(k, []byte(after)) {
				k, _ = c.Next()
			}
		}
		for ; k != nil && len(out) < limit; k, _ = c.Next() {
			out = append(out, string(k))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("active rollouts: %w", err)
	}
	return out, nil
}

// PutRolloutWaves stores the waves not stored yet.
func (s *Store) PutRolloutWaves(ctx context.Context, waves ...fleet.RolloutWave) error {
	err := s.update(ctx, func(tx *bolt.Tx) error {
		for _, w := range waves {
			if w.RolloutID == "" || w.Index < 0 {
				return fmt.Errorf("wave %d of %q: %w", w.Index, w.RolloutID, fleet.ErrInvalid)
			}
			b, err := tx.Bucket(rolloutWavesBucket).CreateBucketIfNotExists([]byte(w.RolloutID))
			if err != nil {
				return err
			}
			if b.Get(waveKey(w.Index)) != nil {
				continue
			}
			rec := waveRecord{Terminals: w.Terminals, Counts: w.Counts, StartedAt: w.StartedAt, FinishedAt: w.FinishedAt, Outcome: w.Outcome}
			if rec.Terminals == nil {
				rec.Terminals = []string{}
			}
			if err := put(b, waveKey(w.Index), rec); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("put rollout waves: %w", err)
	}
	return nil
}

// RolloutWave returns one wave. ErrNotFound if absent.
func (s *Store) RolloutWave(ctx context.Context, rolloutID string, index int) (fleet.RolloutWave, error) {
	var w fleet.RolloutWave
	err := s.view(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(rolloutWavesBucket).Bucket([]byte(rolloutID))
		if b == nil || index < 0 {
			return fleet.ErrNotFound
		}
		rec, ok, err := get[waveRecord](b, waveKey(index))
		if err == nil && !ok {
			err = fleet.ErrNotFound
		}
		w = rec.wave(rolloutID, index)
		return err
	})
	if err != nil {
		return fleet.RolloutWave{}, fmt.Errorf("wave %d of rollout %s: %w", index, rolloutID, err)
	}
	return w, nil
}

// RolloutWaves returns the rollout's waves in index order, without their
// terminals.
func (s *Store) RolloutWaves(ctx context.Context, rolloutID string) ([]fleet.RolloutWave, error) {
	var out []fleet.RolloutWave
	err := s.view(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(rolloutWavesBucket).Bucket([]byte(rolloutID))
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			var rec waveRecord
			if err := json.Unmarshal(v, &rec); err != nil {
				return fmt.Errorf("decode wave: %w", err)
			}
			out = append(out, rec.tally(rolloutID, int(binary.BigEndian.Uint32(k))))
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("waves of rollout %s: %w", rolloutID, err)
	}
	return out, nil
}

// updateWave loads a wave, lets fn change it and stores it, in one
// transaction; it returns the wave without its terminals.
func (s *Store) updateWave(ctx context.Context, rolloutID string, index int, fn func(*waveRecord)) (fleet.RolloutWave, error) {
	var w fleet.RolloutWave
	err := s.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(rolloutWavesBucket).Bucket([]byte(rolloutID))
		if b == nil || index < 0 {
			return fleet.ErrNotFound
		}
		rec, ok, err := get[waveRecord](b, waveKey(index))
		if err != nil {
			return err
		}
		if !ok {
			return fleet.ErrNotFound
		}
		fn(&rec)
		w = rec.tally(rolloutID, index)
		return put(b, waveKey(index), rec)
	})
	if err != nil {
		return fleet.RolloutWave{}, fmt.Errorf("wave %d of rollout %s: %w", index, rolloutID, err)
	}
	return w, nil
}

// AddRolloutWaveCounts adds delta to the wave's counters.
func (s *Store) AddRolloutWaveCounts(ctx context.Context, rolloutID string, index int, delta fleet.WaveCounts) (fleet.RolloutWave, error) {
	return s.updateWave(ctx, rolloutID, index, func(w *waveRecord) {
		c := &w.Counts
		c.Succeeded += delta.Succeeded
		c.Failed += delta.Failed
		c.TimedOut += delta.TimedOut
		c.Offline += delta.Offline
		c.Skipped += delta.Skipped
		c.CaughtUp += delta.CaughtUp
		c.CatchUpFailed += delta.CatchUpFailed
		c.RolledBack += delta.RolledBack
		c.RollbackFailed += delta.RollbackFailed
	})
}

// MarkRolloutWave records a wave's start or its end.
func (s *Store) MarkRolloutWave(ctx context.Context, rolloutID string, index int, started, finished time.Time, outcome string, counts fleet.WaveCounts) error {
	_, err := s.updateWave(ctx, rolloutID, index, func(w *waveRecord) {
		if !started.IsZero() && w.StartedAt.IsZero() {
			w.StartedAt = started
		}
		if !finished.IsZero() {
			w.FinishedAt, w.Outcome = finished, outcome
			w.Counts.Succeeded, w.Counts.Failed, w.Counts.TimedOut = counts.Succeeded, counts.Failed, counts.TimedOut
			w.Counts.Offline, w.Counts.Skipped = counts.Offline, counts.Skipped
		}
	})
	return err
}

// PutRolloutTarget stores a new target unless the rollout has one for the
// terminal.
func (s *Store) PutRolloutTarget(ctx context.Context, t fleet.RolloutTarget) (bool, error) {
	if t.RolloutID == "" || t.TerminalID == "" {
		return false, fmt.Errorf("put rollout target: empty id: %w", fleet.ErrInvalid)
	}
	created := false
	err := s.update(ctx, func(tx *bolt.Tx) error {
		b, err := tx.Bucket(rolloutTargetsBucket).CreateBucketIfNotExists([]byte(t.RolloutID))
		if err != nil {
			return err
		}
		if b.Get([]byte(t.TerminalID)) != nil {
			return nil
		}
		t.Revision = 1
		created = true
		return put(b, []byte(t.TerminalID), newTargetRecord(t))
	})
	if err != nil {
		return false, fmt.Errorf("put target %s of rollout %s: %w", t.TerminalID, t.RolloutID, err)
	}
	return created, nil
}

// RolloutTarget returns one target. ErrNotFound if absent.
func (s *Store) RolloutTarget(ctx context.Context, rolloutID, terminalID string) (fleet.RolloutTarget, error) {
	var out fleet.RolloutTarget
	err := s.view(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(rolloutTargetsBucket).Bucket([]byte(rolloutID))
		if b == nil || terminalID == "" {
			return fleet.ErrNotFound
		}
		rec, ok, err := get[targetRecord](b, []byte(terminalID))
		if err == nil && !ok {
			err = fleet.ErrNotFound
		}
		out = rec.target(rolloutID, terminalID)
		return err
	})
	if err != nil {
		return fleet.RolloutTarget{}, fmt.Errorf("target %s of rollout %s: %w", terminalID, rolloutID, err)
	}
	return out, nil
}

// RolloutTargets returns the targets of the terminals named, in that order.
func (s *Store) RolloutTargets(ctx context.Context, rolloutID string, terminalIDs []string) ([]fleet.RolloutTarget, error) {
	var out []fleet.RolloutTarget
	err := s.view(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(rolloutTargetsBucket).Bucket([]byte(rolloutID))
		if b == nil {
			return nil
		}
		seen := map[string]bool{}
		for _, id := range terminalIDs {
			if id == "" || seen[id] {
				continue
			}
			seen[id] = true
			rec, ok, err := get[targetRecord](b, []byte(id))
			if err != nil {
				return err
			}
			if ok {
				out = append(out, rec.target(rolloutID, id))
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("targets of rollout %s: %w", rolloutID, err)
	}
	return out, nil
}

// UpdateRolloutTarget replaces a target over its Revision.
func (s *Store) UpdateRolloutTarget(ctx context.Context, t fleet.RolloutTarget) error {
	err := s.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(rolloutTargetsBucket).Bucket([]byte(t.RolloutID))
		if b == nil || t.TerminalID == "" {
			return fleet.ErrNotFound
		}
		old, ok, err := get[targetRecord](b, []byte(t.TerminalID))
		switch {
		case err != nil:
			return err
		case !ok:
			return fleet.ErrNotFound
		case old.Revision != t.Revision:
			return fleet.ErrConflict
		}
		t.Revision++
		return put(b, []byte(t.TerminalID), newTargetRecord(t))
	})
	if err != nil {
		return fmt.Errorf("update target %s of rollout %s: %w", t.TerminalID, t.RolloutID, err)
	}
	return nil
}
