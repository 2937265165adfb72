package dynamo

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/edgesync/edgesync/fleet"
	"github.com/edgesync/edgesync/protocol"
)

// TestShortHistoryReadsFewChunks: the status history of the last ten
// minutes (what a dropped-lines alert reads every minute) of a terminal
// with 400 chunks, a sample in each every 30 s, reads the window's chunks
// and a few pages' slack on the wire, not a page of hundreds (DynamoDB
// bills a Query for every item it reads), and returns every sample of the
// window.
func TestShortHistoryReadsFewChunks(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	table := newTable(t, "history-pages")
	st := New(client, table)
	const id, chunks = "hist-1", 400
	if err := st.CreateTerminal(ctx, fleet.Terminal{ID: id}); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 30, 6, 0, 0, 0, time.UTC)
	now := t0.Add(chunks * 30 * time.Second)
	var wg sync.WaitGroup
	errs := make(chan error, chunks)
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < chunks; i += 8 {
				at := t0.Add(time.Duration(i+1) * 30 * time.Second)
				seq := uint64(i + 1)
				data, _ := json.Marshal(map[string]any{"dropped_lines": i})
				b := fleet.LogBatch{
					Chunk: fleet.LogChunk{TerminalID: id, FirstSeq: seq, LastSeq: seq, StoredAt: at, ExpiresAt: now.Add(24 * time.Hour),
						Entries: []protocol.LogEntry{{Seq: seq, Time: at, Level: "info", Message: fmt.Sprintf("line %d", seq)}}},
					Status: &fleet.Snapshot{Data: data, SyncedAt: at}, StatusExpiresAt: now.Add(24 * time.Hour),
				}
				if err := st.PutLogBatch(ctx, b); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	counter := &countingReads{itemAPI: client}
	samples, err := newStore(counter, table).StatusHistory(ctx, id, now.Add(-10*time.Minute), now, 2000)
	if err != nil {
		t.Fatal(err)
	}
	if len(samples) != 20 || !samples[0].At.Equal(now.Add(-570*time.Second)) || !samples[19].At.Equal(now) {
		t.Fatalf("history of the last 10 min: %d samples (%v … ), want the 20 from %v to %v", len(samples), samples, now.Add(-570*time.Second), now)
	}
	// The window's 20 chunks and 20 more of slack (10 min) are in the
	// first two pages (32, then 128).
	if got, most := counter.queried.Load(), int64(firstHistoryPage*(1+4)); got > most {
		t.Errorf("read %d items for 20 samples of %d chunks, want at most %d", got, chunks, most)
	}
	t.Logf("read %d items", counter.queried.Load())
}
