package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/edgesync/edgesync/fleet"
)

func logStatusContracts() []contract {
	return []contract{
		{"PutLogChunkStatus/SameAsPutLogChunkThenPutStatus", testPutLogChunkStatus},
		{"PutLogChunkStatus/NotFoundAndInvalid", testPutLogChunkStatusErrors},
	}
}

// logStatusStore returns the store as a fleet.LogStatusStore, or nil when
// it does not implement the option (the service then calls PutLogChunk and
// PutStatus, which the other contracts cover).
func logStatusStore(t *testing.T, st fleet.Store) fleet.LogStatusStore {
	t.Helper()
	ls, ok := st.(fleet.LogStatusStore)
	if !ok {
		t.Log("the store does not implement fleet.LogStatusStore: nothing more to check")
		return nil
	}
	return ls
}

// testPutLogChunkStatus: each step has the effect of PutLogChunk then
// PutStatus, also when only one part is newer than what is stored.
func testPutLogChunkStatus(t *testing.T, e env) {
	ls := logStatusStore(t, e.store)
	if ls == nil {
		return
	}
	ctx := context.Background()
	id := e.id(t, "a")
	want := create(t, e.store, id)
	expiry := at(7 * 24 * time.Hour)
	steps := []struct {
		name        string
		chunk       fleet.LogChunk
		dropped     uint64
		status      fleet.Snapshot
		wantSeq     uint64
		wantDropped uint64
		wantStatus  fleet.Snapshot
	}{
		{"both new", chunk(id, 1, 5, expiry), 2, status(1, at(time.Minute)), 5, 2, status(1, at(time.Minute))},
		{"newer lines, older status", chunk(id, 6, 8, expiry), 3, status(2, at(30*time.Second)), 8, 3, status(1, at(time.Minute))},
		{"older lines, newer status", chunk(id, 3, 4, expiry), 1, status(3, at(2*time.Minute)), 8, 3, status(3, at(2*time.Minute))},
		{"same chunk again, newer status", chunk(id, 6, 8, expiry), 3, status(4, at(3*time.Minute)), 8, 3, status(4, at(3*time.Minute))},
	}
	for _, s := range steps {
		if err := ls.PutLogChunkStatus(ctx, s.chunk, s.dropped, s.status, s.status.SyncedAt.Add(time.Hour)); err != nil {
			t.Fatalf("%s: PutLogChunkStatus: %v", s.name, err)
		}
		want.LastSeq, want.Dropped, want.Status = s.wantSeq, s.wantDropped, s.wantStatus
		want.LastSeen = s.wantStatus.SyncedAt
		t.Run(s.name, func(t *testing.T) { checkTerminal(t, get(t, e.store, id), want) })
	}
	// Every chunk is readable, and every report is in the history, the older one included.
	got := scan(t, e.store, id, 0, false, at(0), 0)
	wantChunks := []fleet.LogChunk{chunk(id, 3, 4, expiry), chunk(id, 1, 5, expiry), chunk(id, 6, 8, expiry)}
	if len(got) != len(wantChunks) {
		t.Fatalf("chunks: got %d, want %d", len(got), len(wantChunks))
	}
	for i := range wantChunks {
		checkChunk(t, got[i], wantChunks[i])
	}
	hist, err := e.store.StatusHistory(ctx, id, time.Time{}, at(0), 100)
	if err != nil {
		t.Fatalf("StatusHistory: %v", err)
	}
	var wantHist []fleet.StatusSample
	for _, s := range []fleet.Snapshot{status(2, at(30*time.Second)), status(1, at(time.Minute)), status(3, at(2*time.Minute)), status(4, at(3*time.Minute))} {
		smp := sample(s)
		smp.ExpiresAt = s.SyncedAt.Add(time.Hour)
		wantHist = append(wantHist, smp)
	}
	checkHistory(t, hist, wantHist)
}

func testPutLogChunkStatusErrors(t *testing.T, e env) {
	ls := logStatusStore(t, e.store)
	if ls == nil {
		return
	}
	ctx := context.Background()
	absent := e.id(t, "absent")
	wantErr(t, "PutLogChunkStatus of an absent terminal",
		ls.PutLogChunkStatus(ctx, chunk(absent, 1, 2, at(time.Hour)), 0, status(1, at(0)), at(time.Hour)), fleet.ErrNotFound)
	id := e.id(t, "a")
	create(t, e.store, id)
	bad := chunk(id, 1, 2, at(time.Hour))
	bad.FirstSeq = 0
	wantErr(t, "PutLogChunkStatus of a chunk starting at 0", ls.PutLogChunkStatus(ctx, bad, 0, status(1, at(0)), at(time.Hour)), fleet.ErrInvalid)
	wantErr(t, "PutLogChunkStatus of a status without time",
		ls.PutLogChunkStatus(ctx, chunk(id, 1, 2, at(time.Hour)), 0, status(1, time.Time{}), at(time.Hour)), fleet.ErrInvalid)
}
