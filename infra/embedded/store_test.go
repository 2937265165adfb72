package embedded_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/edgesync/edgesync/fleet"
	"github.com/edgesync/edgesync/fleet/storetest"
	"github.com/edgesync/edgesync/infra/embedded"
	"github.com/edgesync/edgesync/protocol"
)

func open(t *testing.T, path string) *embedded.Store {
	t.Helper()
	st, err := embedded.Open(path)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil && !strings.Contains(err.Error(), "database not open") {
			t.Errorf("Close: %v", err)
		}
	})
	return st
}

// TestStore runs the fleet.Store contract with a fresh file per subtest.
func TestStore(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) fleet.Store {
		return open(t, filepath.Join(t.TempDir(), "fleet.db"))
	})
}

// TestStoreShared runs the contract with one store shared by every subtest,
// as a long-running local stack uses it.
func TestStoreShared(t *testing.T) {
	t.Parallel()
	st := open(t, filepath.Join(t.TempDir(), "fleet.db"))
	storetest.Run(t, func(*testing.T) fleet.Store { return st })
}

var t0 = time.Date(2030, time.January, 2, 3, 4, 5, 678_000_000, time.UTC)

func TestPersistsAcrossReopen(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "fleet.db")
	st, err := embedded.Open(path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	term := fleet.Terminal{ID: "cam-1", Name: "Camera 1", CreatedAt: t0,
		Credentials: []fleet.Credential{{ID: "k1", Hash: []byte{1, 2, 3}, CreatedAt: t0}}}
	conn := fleet.Connection{ID: "abc=", TerminalID: "cam-1", ConnectedAt: t0, ExpiresAt: t0.Add(2 * time.Hour)}
	chunk := fleet.LogChunk{TerminalID: "cam-1", FirstSeq: 1, LastSeq: 1, StoredAt: t0, ExpiresAt: t0.Add(time.Hour),
		Entries: []protocol.LogEntry{{Seq: 1, Time: t0, Level: protocol.LevelInfo, Message: "hello"}}}
	cmd := fleet.Command{TerminalID: "cam-1", RequestID: "r1", Name: protocol.CommandPing, State: fleet.CommandPending,
		CreatedAt: t0, Deadline: t0.Add(10 * time.Second), ExpiresAt: t0.Add(time.Hour)}
	steps := []error{
		st.CreateTerminal(ctx, term),
		st.PutConnection(ctx, conn),
		st.MarkOnline(ctx, "cam-1", conn.ID, t0),
		st.PutStatus(ctx, "cam-1", fleet.Snapshot{Data: json.RawMessage(`{"cpu_percent":5}`), SyncedAt: t0}, t0.Add(time.Hour)),
		st.PutLogChunk(ctx, chunk, 2),
		st.PutCommands(ctx, cmd),
	}
	for i, err := range steps {
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	st = open(t, path)
	got, err := st.Terminal(ctx, "cam-1")
	if err != nil {
		t.Fatalf("Terminal after reopen: %v", err)
	}
	if got.Name != term.Name || !got.Online || got.ConnectionID != conn.ID || got.LastSeq != 1 || got.Dropped != 2 ||
		len(got.Credentials) != 1 || string(got.Credentials[0].Hash) != "\x01\x02\x03" || !got.Status.SyncedAt.Equal(t0) {
		t.Errorf("terminal after reopen: got %+v", got)
	}
	if _, err := st.Connection(ctx, conn.ID, t0); err != nil {
		t.Errorf("Connection after reopen: %v", err)
	}
	if h, err := st.StatusHistory(ctx, "cam-1", time.Time{}, t0, 10); err != nil || len(h) != 1 {
		t.Errorf("StatusHistory after reopen: got %d samples, %v; want 1, nil", len(h), err)
	}
	n := 0
	if err := st.ScanLogChunks(ctx, "cam-1", 0, false, t0, func(fleet.LogChunk) bool { n++; return true }); err != nil || n != 1 {
		t.Errorf("ScanLogChunks after reopen: got %d chunks, %v; want 1, nil", n, err)
	}
	if _, err := st.Command(ctx, "cam-1", "r1", t0); err != nil {
		t.Errorf("Command after reopen: %v", err)
	}
}

func TestSweep(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := open(t, filepath.Join(t.TempDir(), "fleet.db"))
	for _, id := range []string{"a", "b"} {
		if err := st.CreateTerminal(ctx, fleet.Terminal{ID: id, CreatedAt: t0}); err != nil {
			t.Fatalf("CreateTerminal: %v", err)
		}
	}
	// Every kind of expiring item, one expiring at t0+1h and one at t0+2h;
	// terminal "b" has only early ones, so its nested buckets empty out.
	for i, exp := range []time.Time{t0.Add(time.Hour), t0.Add(2 * time.Hour)} {
		for _, id := range []string{"a", "b"} {
			if id == "b" && i == 1 {
				continue
			}
			seq := uint64(i + 1)
			must(t, st.PutConnection(ctx, fleet.Connection{ID: id + string(rune('0'+i)), TerminalID: id, ConnectedAt: t0, ExpiresAt: exp}))
			must(t, st.PutStatus(ctx, id, fleet.Snapshot{Data: json.RawMessage(`{}`), SyncedAt: t0.Add(time.Duration(i) * time.Second)}, exp))
			must(t, st.PutLogChunk(ctx, fleet.LogChunk{TerminalID: id, FirstSeq: seq, LastSeq: seq, ExpiresAt: exp}, 0))
			must(t, st.PutCommands(ctx, fleet.Command{TerminalID: id, RequestID: "r" + string(rune('0'+i)), State: fleet.CommandPending,
				Deadline: t0.Add(time.Minute), ExpiresAt: exp}))
		}
	}
	tests := []struct {
		name string
		now  time.Time
		want int
	}{
		{"nothing expired yet", t0.Add(time.Hour - time.Millisecond), 0},
		{"early items expire at their ExpiresAt", t0.Add(time.Hour), 8},
		{"sweeping again finds nothing", t0.Add(time.Hour), 0},
		{"the rest expire", t0.Add(3 * time.Hour), 4},
	}
	for _, tt := range tests {
		got, err := st.Sweep(tt.now)
		if err != nil {
			t.Fatalf("%s: Sweep: %v", tt.name, err)
		}
		if got != tt.want {
			t.Errorf("%s: Sweep deleted %d, want %d", tt.name, got, tt.want)
		}
		if tt.name == "early items expire at their ExpiresAt" {
			// Reading at an earlier now shows the early items are really gone,
			// and the later ones are still there.
			before := t0
			if _, err := st.Connection(ctx, "b0", before); !errors.Is(err, fleet.ErrNotFound) {
				t.Errorf("swept connection b0: got %v, want ErrNotFound", err)
			}
			if _, err := st.Connection(ctx, "a1", before); err != nil {
				t.Errorf("unexpired connection a1: %v", err)
			}
			if _, err := st.Command(ctx, "a", "r0", before); !errors.Is(err, fleet.ErrNotFound) {
				t.Errorf("swept command a/r0: got %v, want ErrNotFound", err)
			}
			if h, _ := st.StatusHistory(ctx, "a", time.Time{}, before, 10); len(h) != 1 {
				t.Errorf("status history of a after sweep: got %d samples, want 1", len(h))
			}
			var seqs []uint64
			_ = st.ScanLogChunks(ctx, "a", 0, false, before, func(c fleet.LogChunk) bool { seqs = append(seqs, c.FirstSeq); return true })
			if len(seqs) != 1 || seqs[0] != 2 {
				t.Errorf("log chunks of a after sweep: got %v, want [2]", seqs)
			}
		}
	}
	// Terminals never expire, and their LastSeq stays.
	for _, id := range []string{"a", "b"} {
		term, err := st.Terminal(ctx, id)
		if err != nil {
			t.Fatalf("Terminal(%s) after sweep: %v", id, err)
		}
		if term.LastSeq == 0 {
			t.Errorf("Terminal(%s).LastSeq after sweep: 0, want kept", id)
		}
	}
	// New items can be stored after their nested buckets were removed.
	must(t, st.PutLogChunk(ctx, fleet.LogChunk{TerminalID: "b", FirstSeq: 9, LastSeq: 9, ExpiresAt: t0.Add(5 * time.Hour)}, 0))
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestOpenErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()

	garbage := filepath.Join(dir, "garbage.db")
	if err := os.WriteFile(garbage, []byte(strings.Repeat("not a bolt file\n", 1000)), 0o600); err != nil {
		t.Fatal(err)
	}
	// withFormat writes a bolt file whose meta bucket records format.
	withFormat := func(name, format string) string {
		path := filepath.Join(dir, name)
		db, err := bolt.Open(path, 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		err = db.Update(func(tx *bolt.Tx) error {
			b, err := tx.CreateBucket([]byte("meta"))
			if err != nil {
				return err
			}
			return b.Put([]byte("format"), []byte(format))
		})
		if cerr := db.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			t.Fatal(err)
		}
		return path
	}
	future := withFormat("future.db", "99")
	// Format 1 keyed log chunks by FirstSeq; reading it as format 2 would
	// misorder them, so it is refused.
	firstSeqKeyed := withFormat("v1.db", "1")
	locked := filepath.Join(dir, "locked.db")
	open(t, locked)

	tests := []struct {
		name    string
		path    string
		wantMsg string
	}{
		{"missing directory", filepath.Join(dir, "no", "such", "dir", "fleet.db"), "no such file"},
		{"not a bolt file", garbage, "open store"},
		{"unknown format", future, `file format "99", this build reads only format "2"`},
		{"format 1 (chunks keyed by FirstSeq)", firstSeqKeyed, `file format "1", this build reads only format "2"`},
		{"locked by another opener", locked, "locked by another process"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := embedded.Open(tt.path)
			if err == nil {
				st.Close()
				t.Fatalf("Open(%s): got nil error, want one mentioning %q", tt.path, tt.wantMsg)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("Open(%s): got %v, want it to mention %q", tt.path, err, tt.wantMsg)
			}
		})
	}
	// A refused format-1 file still says format 1.
	db, err := bolt.Open(firstSeqKeyed, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	_ = db.View(func(tx *bolt.Tx) error {
		if got := string(tx.Bucket([]byte("meta")).Get([]byte("format"))); got != "1" {
			t.Errorf("format of a refused file after Open: got %q, want \"1\" (unchanged)", got)
		}
		return nil
	})
	db.Close()
	// The garbage file was not overwritten.
	if data, _ := os.ReadFile(garbage); !strings.HasPrefix(string(data), "not a bolt file") {
		t.Errorf("Open overwrote a file it could not read")
	}
}

func TestInvalidInput(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := open(t, filepath.Join(t.TempDir(), "fleet.db"))
	must(t, st.CreateTerminal(ctx, fleet.Terminal{ID: "a", CreatedAt: t0}))
	must(t, st.PutCommands(ctx, fleet.Command{TerminalID: "a", RequestID: "r", State: fleet.CommandPending, Deadline: t0.Add(time.Minute), ExpiresAt: t0.Add(time.Hour)}))
	tests := []struct {
		name string
		call func() error
		want error
	}{
		{"terminal without id", func() error { return st.CreateTerminal(ctx, fleet.Terminal{}) }, fleet.ErrInvalid},
		{"listing limit 0", func() error { _, _, err := st.Terminals(ctx, "", 0); return err }, fleet.ErrInvalid},
		{"malformed cursor", func() error { _, _, err := st.Terminals(ctx, "%%%", 10); return err }, fleet.ErrInvalid},
		{"history limit 0", func() error { _, err := st.StatusHistory(ctx, "a", time.Time{}, t0, 0); return err }, fleet.ErrInvalid},
		{"connection without id", func() error { return st.PutConnection(ctx, fleet.Connection{}) }, fleet.ErrInvalid},
		{"chunk with LastSeq before FirstSeq", func() error {
			return st.PutLogChunk(ctx, fleet.LogChunk{TerminalID: "a", FirstSeq: 5, LastSeq: 4}, 0)
		}, fleet.ErrInvalid},
		{"log chunk of an absent terminal", func() error {
			return st.PutLogChunk(ctx, fleet.LogChunk{TerminalID: "nobody", FirstSeq: 1, LastSeq: 1}, 0)
		}, fleet.ErrNotFound},
		{"command without request id", func() error { return st.PutCommands(ctx, fleet.Command{TerminalID: "a"}) }, fleet.ErrInvalid},
		{"completion with a pending state", func() error {
			return st.CompleteCommand(ctx, "a", "r", fleet.Completion{State: fleet.CommandPending, At: t0})
		}, fleet.ErrInvalid},
		{"claim for an absent terminal", func() error { _, err := st.ClaimRefresh(ctx, "nobody", "logs", t0, t0); return err }, fleet.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); !errors.Is(err, tt.want) {
				t.Errorf("got error %v, want %v", err, tt.want)
			}
		})
	}
	// Nothing was lost or changed by the rejected calls.
	if c, err := st.Command(ctx, "a", "r", t0); err != nil || c.State != fleet.CommandPending {
		t.Errorf("command after rejected completion: got %+v, %v; want pending", c, err)
	}
}

func TestCanceledContext(t *testing.T) {
	t.Parallel()
	st := open(t, filepath.Join(t.TempDir(), "fleet.db"))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := st.CreateTerminal(ctx, fleet.Terminal{ID: "a"}); !errors.Is(err, context.Canceled) {
		t.Errorf("CreateTerminal with a canceled context: got %v, want context.Canceled", err)
	}
	if _, err := st.Terminal(context.Background(), "a"); !errors.Is(err, fleet.ErrNotFound) {
		t.Errorf("Terminal after canceled create: got %v, want ErrNotFound", err)
	}
}
