package embedded_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/edgesync/edgesync/fleet"
	"github.com/edgesync/edgesync/infra/embedded"
)

// TestConcurrentWritesShareCommitsCorrectly: the message path's writes
// from many goroutines at once (a logs message with status each, for
// terminals that exist and some that do not, connections coming and
// going) share transactions (batch) and still each have their own
// effect and their own error, durable once they returned: the store
// reopened holds every one.
func TestConcurrentWritesShareCommitsCorrectly(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "fleet.db")
	st, err := embedded.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	const terminals, rounds = 40, 5
	for i := range terminals {
		if err := st.CreateTerminal(ctx, fleet.Terminal{ID: fmt.Sprintf("t%02d", i), CreatedAt: t0}); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, 4*terminals*rounds)
	for i := range terminals {
		id := fmt.Sprintf("t%02d", i)
		conn := "c-" + id
		wg.Go(func() {
			if err := st.PutConnection(ctx, fleet.Connection{ID: conn, TerminalID: id, ConnectedAt: t0, ExpiresAt: t0.Add(time.Hour)}); err != nil {
				errs <- err
			}
			if err := st.MarkOnline(ctx, id, conn, t0); err != nil {
				errs <- err
			}
			for r := range rounds {
				at := t0.Add(time.Duration(r+1) * time.Second)
				c := fleet.LogChunk{TerminalID: id, FirstSeq: uint64(10*r + 1), LastSeq: uint64(10*r + 10), StoredAt: at, ExpiresAt: at.Add(time.Hour)}
				snap := fleet.Snapshot{Data: json.RawMessage(fmt.Sprintf(`{"round":%d}`, r)), SyncedAt: at}
				if err := st.PutLogBatch(ctx, fleet.LogBatch{Chunk: c, Dropped: uint64(r), Status: &snap, StatusExpiresAt: at.Add(time.Hour), Record: true}); err != nil {
					errs <- err
				}
			}
			did, err := st.MarkOffline(ctx, id, conn, t0.Add(time.Minute), "test")
			if err != nil || !did {
				errs <- fmt.Errorf("MarkOffline %s: %v, %v; want done", id, did, err)
			}
		})
		// Writes that fail in the same batches: absent terminals.
		wg.Go(func() {
			absent := "absent-" + id
			c := fleet.LogChunk{TerminalID: absent, FirstSeq: 1, LastSeq: 1, StoredAt: t0, ExpiresAt: t0.Add(time.Hour)}
			err := st.PutLogBatch(ctx, fleet.LogBatch{Chunk: c, Status: &fleet.Snapshot{Data: json.RawMessage(`{}`), SyncedAt: t0}, StatusExpiresAt: t0.Add(time.Hour), Record: true})
			if !errors.Is(err, fleet.ErrNotFound) {
				errs <- fmt.Errorf("PutLogBatch of %s: %v, want ErrNotFound", absent, err)
			}
			if did, err := st.MarkOffline(ctx, id, "not-its-connection", t0, "test"); err != nil || did {
				errs <- fmt.Errorf("MarkOffline of another connection of %s: %v, %v; want not done", id, did, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st = open(t, path)
	for i := range terminals {
		id := fmt.Sprintf("t%02d", i)
		term, err := st.Terminal(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if term.LastSeq != 10*rounds || term.Dropped != rounds-1 || string(term.Status.Data) != fmt.Sprintf(`{"round":%d}`, rounds-1) || term.Online {
			t.Errorf("%s after reopening: last seq %d, dropped %d, status %s, online %v; want %d, %d, round %d, offline",
				id, term.LastSeq, term.Dropped, term.Status.Data, term.Online, 10*rounds, rounds-1, rounds-1)
		}
		hist, err := st.StatusHistory(ctx, id, time.Time{}, t0, 100)
		if err != nil || len(hist) != rounds {
			t.Errorf("%s: %d status samples, %v; want %d", id, len(hist), err, rounds)
		}
		n := 0
		if err := st.ScanLogChunks(ctx, id, 0, false, t0, func(fleet.LogChunk) bool { n++; return true }); err != nil || n != rounds {
			t.Errorf("%s: %d chunks, %v; want %d", id, n, err, rounds)
		}
	}
}

// TestSweepInSmallTransactions: a sweep of more expired records than one
// of its write transactions deletes (sweepBatch, 1,000) deletes them all,
// and only them, while the stack goes on writing (a terminal's samples
// written during the sweep stay).
func TestSweepInSmallTransactions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := open(t, filepath.Join(t.TempDir(), "fleet.db"))
	const terminals, early, late = 30, 80, 5 // 2,400 expired samples
	for i := range terminals {
		id := fmt.Sprintf("t%02d", i)
		must(t, st.CreateTerminal(ctx, fleet.Terminal{ID: id, CreatedAt: t0}))
		for j := range early + late {
			exp := t0.Add(time.Hour)
			if j >= early {
				exp = t0.Add(3 * time.Hour)
			}
			must(t, st.PutStatus(ctx, id, fleet.Snapshot{Data: json.RawMessage(`{}`), SyncedAt: t0.Add(time.Duration(j) * time.Second)}, exp))
		}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { // the stack writing meanwhile
		for j := 0; ; j++ {
			select {
			case <-stop:
				return
			default:
			}
			if err := st.PutStatus(ctx, "t00", fleet.Snapshot{Data: json.RawMessage(`{}`), SyncedAt: t0.Add(time.Hour + time.Duration(j)*time.Millisecond)}, t0.Add(3*time.Hour)); err != nil {
				t.Errorf("PutStatus during the sweep: %v", err)
				return
			}
		}
	})
	got, err := st.Sweep(t0.Add(2 * time.Hour))
	close(stop)
	wg.Wait()
	if err != nil || got != terminals*early {
		t.Fatalf("Sweep: deleted %d, %v; want %d", got, err, terminals*early)
	}
	for i := range terminals {
		id := fmt.Sprintf("t%02d", i)
		hist, err := st.StatusHistory(ctx, id, time.Time{}, t0, 10000)
		if err != nil || len(hist) < late || (i > 0 && len(hist) != late) {
			t.Errorf("%s after the sweep: %d samples, %v; want its %d unexpired ones (and t00 those written meanwhile)", id, len(hist), err, late)
		}
	}
}
