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

// The rollout store contract, continued: a rollout's targets (one per
// terminal), their revisions and batch reads.

func newTarget(rolloutID, terminalID string, wave int) fleet.RolloutTarget {
	return fleet.RolloutTarget{
		RolloutID: rolloutID, TerminalID: terminalID, Wave: wave, State: fleet.TargetPending,
		Reason: "", RequestID: "req-" + terminalID, Previous: json.RawMessage(`{"log_level":"info","api_key":"[redacted]","nested":{"门":[1,2]}}`),
		PreviousVersion: "aaaaaaaaaaaa", TargetVersion: "bbbbbbbbbbbb", SentAt: at(time.Second), Deadline: at(11 * time.Second),
	}
}

func checkTarget(t *testing.T, got, want fleet.RolloutTarget) {
	t.Helper()
	var d diffs
	d.value("RolloutID", got.RolloutID, want.RolloutID)
	d.value("TerminalID", got.TerminalID, want.TerminalID)
	d.value("Wave", got.Wave, want.Wave)
	d.value("State", got.State, want.State)
	d.value("Reason", got.Reason, want.Reason)
	d.value("RequestID", got.RequestID, want.RequestID)
	d.json("Previous", got.Previous, want.Previous)
	d.value("PreviousVersion", got.PreviousVersion, want.PreviousVersion)
	d.value("TargetVersion", got.TargetVersion, want.TargetVersion)
	d.time("SentAt", got.SentAt, want.SentAt)
	d.time("CompletedAt", got.CompletedAt, want.CompletedAt)
	d.time("Deadline", got.Deadline, want.Deadline)
	d.value("CatchUp", got.CatchUp, want.CatchUp)
	d.value("CatchUpRequestID", got.CatchUpRequestID, want.CatchUpRequestID)
	d.value("Rollback", got.Rollback, want.Rollback)
	d.value("RollbackReason", got.RollbackReason, want.RollbackReason)
	d.value("RollbackRequestID", got.RollbackRequestID, want.RollbackRequestID)
	d.value("Revision", got.Revision, want.Revision)
	d.report(t, "target "+want.TerminalID)
}

func testRolloutTargets(t *testing.T, e env) {
	ctx := context.Background()
	rs := rollouts(t, e)
	id := rolloutID(at(0))
	a, b, c := e.id(t, "a"), e.id(t, "b"), e.id(t, "c")
	ta := newTarget(id, a, 0)
	created, err := rs.PutRolloutTarget(ctx, ta)
	if err != nil || !created {
		t.Fatalf("PutRolloutTarget: %v, %v; want created", created, err)
	}
	tb := newTarget(id, b, 1)
	tb.State, tb.Reason, tb.RequestID, tb.Previous, tb.Deadline, tb.SentAt = fleet.TargetSkipped, "has its own desired config", "", nil, time.Time{}, time.Time{}
	if _, err := rs.PutRolloutTarget(ctx, tb); err != nil {
		t.Fatal(err)
	}
	dup := ta
	dup.State, dup.Wave = fleet.TargetFailed, 3
	created, err = rs.PutRolloutTarget(ctx, dup)
	if err != nil || created {
		t.Errorf("PutRolloutTarget of a stored target: %v, %v; want not created, no error", created, err)
	}
	want := ta
	want.Revision = 1
	got, err := rs.RolloutTarget(ctx, id, a)
	if err != nil {
		t.Fatal(err)
	}
	checkTarget(t, got, want)

	next := want
	next.State, next.Reason, next.CompletedAt = fleet.TargetFailed, "config refused: 北", at(5*time.Second)
	next.CatchUp, next.CatchUpRequestID, next.Rollback, next.RollbackReason, next.RollbackRequestID = fleet.TargetSucceeded, "req-c", fleet.TargetPending, "x", "req-r"
	if err := rs.UpdateRolloutTarget(ctx, next); err != nil {
		t.Fatalf("UpdateRolloutTarget at revision 1: %v", err)
	}
	wantErr(t, "UpdateRolloutTarget over a stale revision", rs.UpdateRolloutTarget(ctx, want), fleet.ErrConflict)
	next.Revision = 2
	got, _ = rs.RolloutTarget(ctx, id, a)
	checkTarget(t, got, next)

	absent := newTarget(id, c, 0)
	absent.Revision = 1
	wantErr(t, "UpdateRolloutTarget of an absent target", rs.UpdateRolloutTarget(ctx, absent), fleet.ErrNotFound)
	_, err = rs.RolloutTarget(ctx, id, c)
	wantErr(t, "RolloutTarget of an absent target", err, fleet.ErrNotFound)
	_, err = rs.RolloutTarget(ctx, rolloutID(at(time.Hour)), a)
	wantErr(t, "RolloutTarget of another rollout", err, fleet.ErrNotFound)

	list, err := rs.RolloutTargets(ctx, id, []string{b, c, a})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].TerminalID != b || list[1].TerminalID != a {
		t.Fatalf("RolloutTargets(b, c, a): %d targets, want b then a (c has none)", len(list))
	}
	tb.Revision = 1
	checkTarget(t, list[0], tb)
	checkTarget(t, list[1], next)
}

func testRolloutTargetConcurrentUpdates(t *testing.T, e env) {
	ctx := context.Background()
	rs := rollouts(t, e)
	id := rolloutID(at(0))
	tg := newTarget(id, e.id(t, "a"), 0)
	if _, err := rs.PutRolloutTarget(ctx, tg); err != nil {
		t.Fatal(err)
	}
	tg.Revision = 1
	const n = 8
	var wins sync.WaitGroup
	var mu sync.Mutex
	won := 0
	for i := range n {
		wins.Go(func() {
			x := tg
			x.State, x.Reason = fleet.TargetSucceeded, fmt.Sprint("answer ", i)
			err := rs.UpdateRolloutTarget(ctx, x)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				won++
			case !errors.Is(err, fleet.ErrConflict):
				t.Errorf("update %d: %v, want nil or ErrConflict", i, err)
			}
		})
	}
	wins.Wait()
	if won != 1 {
		t.Errorf("%d of %d concurrent updates over revision 1 succeeded, want exactly one", won, n)
	}
}

func testRolloutTargetsMany(t *testing.T, e env) {
	ctx := context.Background()
	rs := rollouts(t, e)
	id := rolloutID(at(0))
	var ids []string
	for i := range 150 {
		tid := e.id(t, fmt.Sprintf("t%03d", i))
		ids = append(ids, tid)
		if i%3 == 2 {
			continue
		}
		if _, err := rs.PutRolloutTarget(ctx, newTarget(id, tid, i/50)); err != nil {
			t.Fatal(err)
		}
	}
	waves := []fleet.RolloutWave{{RolloutID: id, Index: 0, Terminals: ids}}
	for i := range 1000 {
		waves[0].Terminals = append(waves[0].Terminals, fmt.Sprintf("%s.x%04d", e.id(t, "w"), i))
	}
	if err := rs.PutRolloutWaves(ctx, waves...); err != nil {
		t.Fatalf("PutRolloutWaves of a wave of %d terminals: %v", len(waves[0].Terminals), err)
	}
	w, err := rs.RolloutWave(ctx, id, 0)
	if err != nil || len(w.Terminals) != 1150 {
		t.Fatalf("RolloutWave: %d terminals, %v; want 1150", len(w.Terminals), err)
	}
	list, err := rs.RolloutTargets(ctx, id, slices.Concat(ids, ids[:10]))
	if err != nil {
		t.Fatalf("RolloutTargets of 160 ids: %v", err)
	}
	var got []string
	for _, tg := range list {
		got = append(got, tg.TerminalID)
	}
	var want []string
	for i, tid := range ids {
		if i%3 != 2 {
			want = append(want, tid)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("RolloutTargets: %d targets, want the %d stored, each once, in the order named", len(got), len(want))
	}
}
