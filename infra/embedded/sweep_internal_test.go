package embedded

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/edgesync/edgesync/fleet"
)

// TestSweepBoundsEveryTransaction: a terminal with more expired records
// than one write transaction may delete (a stack stopped for a day) is
// swept in several, none over sweepBatch, and nothing expired is left.
func TestSweepBoundsEveryTransaction(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := Open(filepath.Join(t.TempDir(), "fleet.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	t0 := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	const expired = 2*sweepBatch + 500
	for _, id := range []string{"a", "b"} {
		if err := st.CreateTerminal(ctx, fleet.Terminal{ID: id, CreatedAt: t0}); err != nil {
			t.Fatal(err)
		}
	}
	for j := range expired {
		if err := st.PutStatus(ctx, "a", fleet.Snapshot{Data: json.RawMessage(`{}`), SyncedAt: t0.Add(time.Duration(j) * time.Millisecond)}, t0.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.PutStatus(ctx, "b", fleet.Snapshot{Data: json.RawMessage(`{}`), SyncedAt: t0}, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	var writes []int
	st.sweepWrote = func(n int) { writes = append(writes, n) }
	got, err := st.Sweep(t0.Add(2 * time.Hour))
	if err != nil || got != expired+1 {
		t.Fatalf("Sweep: deleted %d, %v; want %d", got, err, expired+1)
	}
	for _, n := range writes {
		if n > sweepBatch {
			t.Errorf("a write transaction deleted %d records, want at most %d (all: %v)", n, sweepBatch, writes)
		}
	}
	if len(writes) < 3 {
		t.Errorf("write transactions %v, want at least 3 for %d records", writes, expired+1)
	}
	for _, id := range []string{"a", "b"} {
		if hist, err := st.StatusHistory(ctx, id, time.Time{}, t0, 10000); err != nil || len(hist) != 0 {
			t.Errorf("%s after the sweep: %d samples, %v; want none", id, len(hist), err)
		}
	}
}
