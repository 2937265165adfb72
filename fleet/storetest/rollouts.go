package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/edgesync/edgesync/fleet"
)

// The fleet.RolloutStore contract: rollouts with optimistic concurrency
// and their listings (by group, newest first; the active ones), waves
// stored once with atomic counters, and targets stored once and updated
// over their revision.

func rolloutContracts() []contract {
	return []contract{
		{"Rollout/CreateAndRead", testRolloutCreateAndRead},
		{"Rollout/UpdateOverRevision", testRolloutUpdateOverRevision},
		{"Rollout/ConcurrentUpdatesOneWinner", testRolloutConcurrentUpdates},
		{"Rollout/ActiveListFollowsState", testRolloutActiveList},
		{"Rollout/GroupListingNewestFirst", testRolloutGroupListing},
		{"RolloutWave/StoredOnce", testRolloutWavesStoredOnce},
		{"RolloutWave/CountersAreAtomic", testRolloutWaveCountersAtomic},
		{"RolloutWave/Mark", testRolloutWaveMark},
		{"RolloutTarget/StoredOnceUpdatedOverRevision", testRolloutTargets},
		{"RolloutTarget/ConcurrentUpdatesOneWinner", testRolloutTargetConcurrentUpdates},
		{"RolloutTarget/ManyRead", testRolloutTargetsMany},
	}
}

// rollouts returns the store under test as a RolloutStore.
func rollouts(t *testing.T, e env) fleet.RolloutStore {
	t.Helper()
	rs, ok := e.store.(fleet.RolloutStore)
	if !ok {
		t.Fatalf("%T is not a fleet.RolloutStore", e.store)
	}
	return rs
}

// rolloutID returns a new rollout id made for at (ids order by time).
func rolloutID(at time.Time) string { return fleet.NewAuditID(at) }

// newRollout returns a fully populated rollout of group made at at.
func newRollout(group string, at time.Time) fleet.Rollout {
	return fleet.Rollout{
		ID: rolloutID(at), Group: group,
		Patch:    json.RawMessage(`{"log_level":"debug","detector":{"zones":["north","门"]}}`),
		WaveSize: 50, WaveInterval: 90 * time.Second, AbortAbove: 0.125, OverrideTerminalConfig: true,
		Total: 200, Waves: 4, State: fleet.RolloutRunning, Wave: 1, WaveSent: 37, Phase: fleet.PhaseWaiting,
		PhaseAt: at.Add(time.Minute), NextWaveAt: at.Add(30 * time.Second), WaveDeadline: at.Add(2 * time.Minute),
		Reason: "why not", CreatedAt: at, CreatedBy: "user:operator@example.com", CreatorRole: fleet.RoleOperator,
		UpdatedAt: at.Add(time.Second),
	}
}

func checkRollout(t *testing.T, got, want fleet.Rollout) {
	t.Helper()
	var d diffs
	d.value("ID", got.ID, want.ID)
	d.value("Group", got.Group, want.Group)
	d.json("Config", got.Config, want.Config)
	d.json("Patch", got.Patch, want.Patch)
	d.value("WaveSize", got.WaveSize, want.WaveSize)
	d.value("WaveInterval", got.WaveInterval, want.WaveInterval)
	d.value("AbortAbove", got.AbortAbove, want.AbortAbove)
	d.value("OverrideTerminalConfig", got.OverrideTerminalConfig, want.OverrideTerminalConfig)
	d.value("Total", got.Total, want.Total)
	d.value("Waves", got.Waves, want.Waves)
	d.value("State", got.State, want.State)
	d.value("Wave", got.Wave, want.Wave)
	d.value("WaveSent", got.WaveSent, want.WaveSent)
	d.value("Phase", got.Phase, want.Phase)
	d.time("PhaseAt", got.PhaseAt, want.PhaseAt)
	d.time("NextWaveAt", got.NextWaveAt, want.NextWaveAt)
	d.time("WaveDeadline", got.WaveDeadline, want.WaveDeadline)
	d.value("RollbackWaves", got.RollbackWaves, want.RollbackWaves)
	d.value("RolledBackWaves", got.RolledBackWaves, want.RolledBackWaves)
	d.value("Reason", got.Reason, want.Reason)
	d.time("CreatedAt", got.CreatedAt, want.CreatedAt)
	d.value("CreatedBy", got.CreatedBy, want.CreatedBy)
	d.value("CreatorRole", got.CreatorRole, want.CreatorRole)
	d.time("UpdatedAt", got.UpdatedAt, want.UpdatedAt)
	d.value("Revision", got.Revision, want.Revision)
	d.report(t, "rollout "+want.ID)
}

func testRolloutCreateAndRead(t *testing.T, e env) {
	ctx := context.Background()
	rs := rollouts(t, e)
	r := newRollout(e.id(t, "g"), at(0))
	if err := rs.CreateRollout(ctx, r); err != nil {
		t.Fatalf("CreateRollout: %v", err)
	}
	got, err := rs.Rollout(ctx, r.ID)
	if err != nil {
		t.Fatalf("Rollout: %v", err)
	}
	want := r
	want.Revision = 1
	checkRollout(t, got, want)

	full := newRollout(e.id(t, "g"), at(time.Second))
	full.Patch, full.Config = nil, json.RawMessage(`{"a":{"b":[1,2.5,"x"]},"empty":{}}`)
	full.OverrideTerminalConfig, full.WaveInterval, full.State, full.RollbackWaves, full.RolledBackWaves = false, 0, fleet.RolloutRollingBack, 3, 1
	if err := rs.CreateRollout(ctx, full); err != nil {
		t.Fatalf("CreateRollout: %v", err)
	}
	got, err = rs.Rollout(ctx, full.ID)
	if err != nil {
		t.Fatalf("Rollout: %v", err)
	}
	full.Revision = 1
	checkRollout(t, got, full)

	again := r
	again.Group = e.id(t, "other")
	wantErr(t, "CreateRollout of a taken id", rs.CreateRollout(ctx, again), fleet.ErrExists)
	got, _ = rs.Rollout(ctx, r.ID)
	checkRollout(t, got, want)
	_, err = rs.Rollout(ctx, rolloutID(at(time.Hour)))
	wantErr(t, "Rollout of an unknown id", err, fleet.ErrNotFound)
}

func testRolloutUpdateOverRevision(t *testing.T, e env) {
	ctx := context.Background()
	rs := rollouts(t, e)
	r := newRollout(e.id(t, "g"), at(0))
	if err := rs.CreateRollout(ctx, r); err != nil {
		t.Fatal(err)
	}
	r.Revision = 1
	next := r
	next.Wave, next.WaveSent, next.Phase, next.State, next.Reason, next.WaveDeadline = 2, 0, fleet.PhaseDue, fleet.RolloutPaused, "", time.Time{}
	if err := rs.UpdateRollout(ctx, next); err != nil {
		t.Fatalf("UpdateRollout at revision 1: %v", err)
	}
	got, _ := rs.Rollout(ctx, r.ID)
	want := next
	want.Revision = 2
	checkRollout(t, got, want)

	stale := r
	stale.Wave = 3
	wantErr(t, "UpdateRollout over a stale revision", rs.UpdateRollout(ctx, stale), fleet.ErrConflict)
	got, _ = rs.Rollout(ctx, r.ID)
	checkRollout(t, got, want)

	absent := newRollout(e.id(t, "g"), at(time.Minute))
	absent.Revision = 1
	wantErr(t, "UpdateRollout of an absent rollout", rs.UpdateRollout(ctx, absent), fleet.ErrNotFound)
	if _, err := rs.Rollout(ctx, absent.ID); !errors.Is(err, fleet.ErrNotFound) {
		t.Errorf("Rollout after UpdateRollout of an absent one: got %v, want ErrNotFound (no method creates a rollout but CreateRollout)", err)
	}
	ids, _ := rs.ActiveRollouts(ctx, "", 1000)
	if slices.Contains(ids, absent.ID) {
		// An entry without a record is allowed (the scheduler skips it) but
		// UpdateRollout of an absent rollout should not need to write one.
		t.Logf("UpdateRollout of an absent rollout left an active entry")
	}
}

func testRolloutConcurrentUpdates(t *testing.T, e env) {
	ctx := context.Background()
	rs := rollouts(t, e)
	r := newRollout(e.id(t, "g"), at(0))
	if err := rs.CreateRollout(ctx, r); err != nil {
		t.Fatal(err)
	}
	r.Revision = 1
	const n = 8
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			x := r
			x.Wave = 10 + i
			errs[i] = rs.UpdateRollout(ctx, x)
		})
	}
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Errorf("updates %d and %d over revision 1 both succeeded", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, fleet.ErrConflict):
			t.Errorf("update %d: got %v, want nil or ErrConflict", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no update over revision 1 succeeded")
	}
	got, _ := rs.Rollout(ctx, r.ID)
	if got.Wave != 10+winner || got.Revision != 2 {
		t.Errorf("after concurrent updates: wave %d revision %d, want the winner's wave %d at revision 2", got.Wave, got.Revision, 10+winner)
	}
}

func testRolloutActiveList(t *testing.T, e env) {
	ctx := context.Background()
	rs := rollouts(t, e)
	group := e.id(t, "g")
	active := func() []string {
		t.Helper()
		var all []string
		after := ""
		for {
			ids, err := rs.ActiveRollouts(ctx, after, 2)
			if err != nil {
				t.Fatalf("ActiveRollouts: %v", err)
			}
			if !slices.IsSorted(ids) || (after != "" && len(ids) > 0 && ids[0] <= after) {
				t.Fatalf("ActiveRollouts after %q = %v: want ids after it, in order", after, ids)
			}
			all = append(all, ids...)
			if len(ids) < 2 {
				return all
			}
			after = ids[len(ids)-1]
		}
	}
	running := newRollout(group, at(0))
	done := newRollout(group, at(time.Second))
	done.State = fleet.RolloutCompleted
	for _, r := range []fleet.Rollout{running, done} {
		if err := rs.CreateRollout(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	steps := []struct {
		state fleet.RolloutState
		want  bool
	}{
		{fleet.RolloutRunning, true}, {fleet.RolloutPaused, true}, {fleet.RolloutAborted, false},
		{fleet.RolloutRollingBack, true}, {fleet.RolloutRolledBack, false}, {fleet.RolloutCancelled, false},
	}
	ids := active()
	if !slices.Contains(ids, running.ID) || slices.Contains(ids, done.ID) {
		t.Fatalf("active rollouts after creation: %v; want %s (running) and not %s (completed)", ids, running.ID, done.ID)
	}
	r := running
	r.Revision = 1
	for _, s := range steps {
		r.State = s.state
		if err := rs.UpdateRollout(ctx, r); err != nil {
			t.Fatalf("UpdateRollout to %s: %v", s.state, err)
		}
		r.Revision++
		if got := slices.Contains(active(), r.ID); got != s.want {
			t.Errorf("listed as active when %s: %v, want %v", s.state, got, s.want)
		}
	}
}

func testRolloutGroupListing(t *testing.T, e env) {
	ctx := context.Background()
	rs := rollouts(t, e)
	group, other := e.id(t, "g"), e.id(t, "h")
	var ids []string
	for i := range 5 {
		r := newRollout(group, at(time.Duration(i)*time.Minute))
		if err := rs.CreateRollout(ctx, r); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID)
		if err := rs.CreateRollout(ctx, newRollout(other, at(time.Duration(i)*time.Minute+time.Second))); err != nil {
			t.Fatal(err)
		}
	}
	slices.Reverse(ids)
	for _, limit := range []int{1, 2, 5, 6, 100} {
		t.Run(fmt.Sprint("limit ", limit), func(t *testing.T) {
			var got []string
			cursor := ""
			for page := 0; ; page++ {
				rolls, next, err := rs.GroupRollouts(ctx, group, cursor, limit)
				if err != nil {
					t.Fatalf("GroupRollouts: %v", err)
				}
				if len(rolls) > limit || (next != "" && len(rolls) < limit) {
					t.Fatalf("page %d: %d rollouts with cursor %q, want full pages of at most %d", page, len(rolls), next, limit)
				}
				for _, r := range rolls {
					if r.Group != group {
						t.Errorf("rollout %s of group %q listed in %q", r.ID, r.Group, group)
					}
					got = append(got, r.ID)
				}
				if next == "" {
					break
				}
				cursor = next
			}
			if !slices.Equal(got, ids) {
				t.Errorf("listing: got %v, want newest first %v", got, ids)
			}
		})
	}
	_, _, err := rs.GroupRollouts(ctx, group, "", 0)
	wantErr(t, "GroupRollouts with limit 0", err, fleet.ErrInvalid)
	_, _, err = rs.GroupRollouts(ctx, group, "no such cursor!", 1)
	wantErr(t, "GroupRollouts with a malformed cursor", err, fleet.ErrInvalid)
	rolls, next, err := rs.GroupRollouts(ctx, e.id(t, "empty"), "", 10)
	if err != nil || len(rolls) != 0 || next != "" {
		t.Errorf("GroupRollouts of a group without rollouts: %d, %q, %v; want none", len(rolls), next, err)
	}
}

func newWaves(rolloutID string, n, size int, prefix string) []fleet.RolloutWave {
	var out []fleet.RolloutWave
	for i := range n {
		w := fleet.RolloutWave{RolloutID: rolloutID, Index: i}
		for j := range size {
			w.Terminals = append(w.Terminals, fmt.Sprintf("%s.%03d", prefix, i*size+j))
		}
		out = append(out, w)
	}
	return out
}

func testRolloutWavesStoredOnce(t *testing.T, e env) {
	ctx := context.Background()
	rs := rollouts(t, e)
	id := rolloutID(at(0))
	waves := newWaves(id, 3, 4, e.id(t, "t"))
	waves[2].Terminals = waves[2].Terminals[:1]
	if err := rs.PutRolloutWaves(ctx, waves...); err != nil {
		t.Fatalf("PutRolloutWaves: %v", err)
	}
	other := newWaves(id, 4, 2, e.id(t, "u"))
	if err := rs.PutRolloutWaves(ctx, other...); err != nil {
		t.Fatalf("PutRolloutWaves again: %v", err)
	}
	want := append(waves, other[3])
	got, err := rs.RolloutWaves(ctx, id)
	if err != nil {
		t.Fatalf("RolloutWaves: %v", err)
	}
	if len(got) != len(want) {
		t.Fatalf("RolloutWaves: %d waves, want %d", len(got), len(want))
	}
	for i := range want {
		// RolloutWaves reads the tallies, not the terminal lists.
		if got[i].Index != i || got[i].RolloutID != id || got[i].Terminals != nil || got[i].Size != len(want[i].Terminals) || got[i].Counts != (fleet.WaveCounts{}) {
			t.Errorf("RolloutWaves: wave %d = %+v, want index %d, size %d, no terminals, no counts (a stored wave is never replaced)", i, got[i], i, len(want[i].Terminals))
		}
		one, err := rs.RolloutWave(ctx, id, i)
		if err != nil || !slices.Equal(one.Terminals, want[i].Terminals) || one.Size != len(want[i].Terminals) || one.Index != i {
			t.Errorf("RolloutWave(%d) = %+v, %v; want %+v", i, one, err, want[i])
		}
	}
	_, err = rs.RolloutWave(ctx, id, 4)
	wantErr(t, "RolloutWave of an absent wave", err, fleet.ErrNotFound)
	_, err = rs.AddRolloutWaveCounts(ctx, id, 7, fleet.WaveCounts{Succeeded: 1})
	wantErr(t, "AddRolloutWaveCounts of an absent wave", err, fleet.ErrNotFound)
	wantErr(t, "MarkRolloutWave of an absent wave", rs.MarkRolloutWave(ctx, id, 7, at(0), time.Time{}, "", fleet.WaveCounts{}), fleet.ErrNotFound)
	if _, err := rs.RolloutWave(ctx, id, 7); !errors.Is(err, fleet.ErrNotFound) {
		t.Errorf("RolloutWave after changing an absent wave: %v, want ErrNotFound (nothing creates a wave but PutRolloutWaves)", err)
	}
	none, err := rs.RolloutWaves(ctx, rolloutID(at(time.Hour)))
	if err != nil || len(none) != 0 {
		t.Errorf("RolloutWaves of an unknown rollout: %v, %v; want none", none, err)
	}
}

func testRolloutWaveCountersAtomic(t *testing.T, e env) {
	ctx := context.Background()
	rs := rollouts(t, e)
	id := rolloutID(at(0))
	if err := rs.PutRolloutWaves(ctx, newWaves(id, 1, 30, e.id(t, "t"))...); err != nil {
		t.Fatal(err)
	}
	const n = 24
	seen := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			d := fleet.WaveCounts{Succeeded: 1}
			if i%4 == 0 {
				d = fleet.WaveCounts{Failed: 1, CaughtUp: 2}
			}
			w, err := rs.AddRolloutWaveCounts(ctx, id, 0, d)
			if err != nil {
				t.Errorf("AddRolloutWaveCounts: %v", err)
				return
			}
			if w.Size != 30 || w.Terminals != nil {
				t.Errorf("AddRolloutWaveCounts returned size %d and %d terminals, want the wave's size 30 and no terminals", w.Size, len(w.Terminals))
			}
			seen[i] = w.Counts.Succeeded + w.Counts.Failed
		})
	}
	wg.Wait()
	// DynamoDB returns each addition's own result (1..n once each); moto
	// does not serialize concurrent updates of one item and may repeat a
	// total. What the service needs holds on both: no addition is lost,
	// and the last one sees the whole (a wave's last answer finds it
	// complete; the scheduler decides a wave any counter misled).
	if slices.Max(seen) != n || slices.Min(seen) < 1 {
		t.Errorf("totals returned by %d concurrent additions: %v; want each within 1..%d and the last one %d", n, seen, n, n)
	}
	w, err := rs.RolloutWave(ctx, id, 0)
	if err != nil {
		t.Fatal(err)
	}
	if want := (fleet.WaveCounts{Succeeded: 18, Failed: 6, CaughtUp: 12}); w.Counts != want {
		t.Errorf("counts after concurrent additions: %+v, want %+v", w.Counts, want)
	}
	w, err = rs.AddRolloutWaveCounts(ctx, id, 0, fleet.WaveCounts{})
	if err != nil || w.Counts.Succeeded != 18 {
		t.Errorf("adding nothing: %+v, %v; want the counts unchanged", w.Counts, err)
	}
}

func testRolloutWaveMark(t *testing.T, e env) {
	ctx := context.Background()
	rs := rollouts(t, e)
	id := rolloutID(at(0))
	if err := rs.PutRolloutWaves(ctx, newWaves(id, 2, 3, e.id(t, "t"))...); err != nil {
		t.Fatal(err)
	}
	if _, err := rs.AddRolloutWaveCounts(ctx, id, 0, fleet.WaveCounts{Succeeded: 5, CaughtUp: 1, RolledBack: 2, RollbackFailed: 3, CatchUpFailed: 4}); err != nil {
		t.Fatal(err)
	}
	if err := rs.MarkRolloutWave(ctx, id, 0, at(time.Minute), time.Time{}, "", fleet.WaveCounts{}); err != nil {
		t.Fatalf("MarkRolloutWave started: %v", err)
	}
	if err := rs.MarkRolloutWave(ctx, id, 0, at(2*time.Minute), time.Time{}, "", fleet.WaveCounts{}); err != nil {
		t.Fatalf("MarkRolloutWave started again: %v", err)
	}
	final := fleet.WaveCounts{Succeeded: 1, Failed: 1, TimedOut: 1, Offline: 0, Skipped: 0, CaughtUp: 99, RolledBack: 99}
	if err := rs.MarkRolloutWave(ctx, id, 0, time.Time{}, at(3*time.Minute), fleet.WaveAborted, final); err != nil {
		t.Fatalf("MarkRolloutWave finished: %v", err)
	}
	w, err := rs.RolloutWave(ctx, id, 0)
	if err != nil {
		t.Fatal(err)
	}
	var d diffs
	d.time("StartedAt", w.StartedAt, at(time.Minute))
	d.time("FinishedAt", w.FinishedAt, at(3*time.Minute))
	d.value("Outcome", w.Outcome, fleet.WaveAborted)
	d.value("Counts", w.Counts, fleet.WaveCounts{Succeeded: 1, Failed: 1, TimedOut: 1, CaughtUp: 1, CatchUpFailed: 4, RolledBack: 2, RollbackFailed: 3})
	d.report(t, "wave 0 (a start is kept; an end sets the outcome counters only)")
	if other, _ := rs.RolloutWave(ctx, id, 1); !other.StartedAt.IsZero() || other.Outcome != "" {
		t.Errorf("wave 1 changed by marking wave 0: %+v", other)
	}
}
