package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/edgesync/edgesync/fleet"
)

func logStatusContracts() []contract {
	return []contract{
		{"PutLogBatch/RecordSameAsPutLogChunkThenPutStatus", testPutLogBatchRecord},
		{"PutLogBatch/WithoutRecord", testPutLogBatchWithoutRecord},
		{"PutLogBatch/NotFoundAndInvalid", testPutLogBatchErrors},
	}
}

// logBatchStore returns the store as a fleet.LogBatchStore, or nil when
// it does not implement the option (the service then calls PutLogChunk and
// PutStatus, which the other contracts cover).
func logBatchStore(t *testing.T, st fleet.Store) fleet.LogBatchStore {
	t.Helper()
	ls, ok := st.(fleet.LogBatchStore)
	if !ok {
		t.Log("the store does not implement fleet.LogBatchStore: nothing more to check")
		return nil
	}
	return ls
}

// testPutLogBatchRecord: with Record, each step has the effect of
// PutLogChunk then PutStatus, also when only one part is newer than what
// is stored; every report is in the history, the older one included.
func testPutLogBatchRecord(t *testing.T, e env) {
	ls := logBatchStore(t, e.store)
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
		{"newer lines, newer status", chunk(id, 9, 10, expiry), 3, status(4, at(3*time.Minute)), 10, 3, status(4, at(3*time.Minute))},
	}
	for _, s := range steps {
		b := fleet.LogBatch{Chunk: s.chunk, Dropped: s.dropped, Status: &s.status, StatusExpiresAt: s.status.SyncedAt.Add(time.Hour), Record: true}
		if err := ls.PutLogBatch(ctx, b); err != nil {
			t.Fatalf("%s: PutLogBatch: %v", s.name, err)
		}
		want.LastSeq, want.Dropped, want.Status = s.wantSeq, s.wantDropped, s.wantStatus
		want.LastSeen = s.wantStatus.SyncedAt
		t.Run(s.name, func(t *testing.T) { checkTerminal(t, get(t, e.store, id), want) })
	}
	got := scan(t, e.store, id, 0, false, at(0), 0)
	wantChunks := []fleet.LogChunk{chunk(id, 3, 4, expiry), chunk(id, 1, 5, expiry), chunk(id, 6, 8, expiry), chunk(id, 9, 10, expiry)}
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
	// The history's bounds hold for kept samples too: after since, the newest limit.
	hist, err = e.store.StatusHistory(ctx, id, at(45*time.Second), at(0), 2)
	if err != nil {
		t.Fatalf("StatusHistory since 45s, limit 2: %v", err)
	}
	checkHistory(t, hist, wantHist[2:])
	// A sample past its expiry is left out.
	hist, err = e.store.StatusHistory(ctx, id, time.Time{}, at(time.Minute+time.Hour), 100)
	if err != nil {
		t.Fatalf("StatusHistory after an hour: %v", err)
	}
	checkHistory(t, hist, wantHist[2:])
}

// testPutLogBatchWithoutRecord: without Record the chunk and its sample
// are stored (the record may lag); a later batch with Record brings the
// record up to date.
func testPutLogBatchWithoutRecord(t *testing.T, e env) {
	ls := logBatchStore(t, e.store)
	if ls == nil {
		return
	}
	ctx := context.Background()
	id := e.id(t, "a")
	want := create(t, e.store, id)
	expiry := at(7 * 24 * time.Hour)
	st1 := status(1, at(time.Minute))
	if err := ls.PutLogBatch(ctx, fleet.LogBatch{Chunk: chunk(id, 1, 4, expiry), Dropped: 1, Status: &st1, StatusExpiresAt: at(2 * time.Hour)}); err != nil {
		t.Fatalf("PutLogBatch without record: %v", err)
	}
	if err := ls.PutLogBatch(ctx, fleet.LogBatch{Chunk: chunk(id, 5, 6, expiry), Dropped: 1}); err != nil {
		t.Fatalf("PutLogBatch without record or status: %v", err)
	}
	got := scan(t, e.store, id, 0, false, at(0), 0)
	if len(got) != 2 {
		t.Fatalf("chunks: got %d, want 2", len(got))
	}
	checkChunk(t, got[0], chunk(id, 1, 4, expiry))
	checkChunk(t, got[1], chunk(id, 5, 6, expiry))
	hist, err := e.store.StatusHistory(ctx, id, time.Time{}, at(0), 100)
	if err != nil {
		t.Fatalf("StatusHistory: %v", err)
	}
	smp := sample(st1)
	smp.ExpiresAt = at(2 * time.Hour)
	checkHistory(t, hist, []fleet.StatusSample{smp})
	st2 := status(2, at(2*time.Minute))
	if err := ls.PutLogBatch(ctx, fleet.LogBatch{Chunk: chunk(id, 7, 9, expiry), Dropped: 2, Status: &st2, StatusExpiresAt: at(2 * time.Hour), Record: true}); err != nil {
		t.Fatalf("PutLogBatch with record: %v", err)
	}
	want.LastSeq, want.Dropped, want.Status, want.LastSeen = 9, 2, st2, st2.SyncedAt
	checkTerminal(t, get(t, e.store, id), want)
}

func testPutLogBatchErrors(t *testing.T, e env) {
	ls := logBatchStore(t, e.store)
	if ls == nil {
		return
	}
	ctx := context.Background()
	absent := e.id(t, "absent")
	st := status(1, at(0))
	wantErr(t, "PutLogBatch with record of an absent terminal",
		ls.PutLogBatch(ctx, fleet.LogBatch{Chunk: chunk(absent, 1, 2, at(time.Hour)), Status: &st, StatusExpiresAt: at(time.Hour), Record: true}), fleet.ErrNotFound)
	id := e.id(t, "a")
	create(t, e.store, id)
	bad := chunk(id, 1, 2, at(time.Hour))
	bad.FirstSeq = 0
	wantErr(t, "PutLogBatch of a chunk starting at 0", ls.PutLogBatch(ctx, fleet.LogBatch{Chunk: bad, Record: true}), fleet.ErrInvalid)
	noTime := status(1, time.Time{})
	wantErr(t, "PutLogBatch of a status without time",
		ls.PutLogBatch(ctx, fleet.LogBatch{Chunk: chunk(id, 1, 2, at(time.Hour)), Status: &noTime, StatusExpiresAt: at(time.Hour), Record: true}), fleet.ErrInvalid)
}
