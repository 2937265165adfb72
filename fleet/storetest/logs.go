package storetest

import (
	"context"
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/edgesync/edgesync/fleet"
	"github.com/edgesync/edgesync/protocol"
)

func logContracts() []contract {
	return []contract{
		{"PutLogChunk/RoundTripAndIdempotent", testPutLogChunk},
		{"PutLogChunk/LastSeqAndDroppedOnlyRise", testLastSeqDropped},
		{"ScanLogChunks/ManyChunks", testScanMany},
		{"ScanLogChunks/Expiry", testScanExpiry},
		{"ScanLogChunks/Empty", testScanEmpty},
	}
}

// chunk returns a chunk of terminal id holding lines first..last.
func chunk(id string, first, last uint64, expiresAt time.Time) fleet.LogChunk {
	c := fleet.LogChunk{TerminalID: id, FirstSeq: first, LastSeq: last, StoredAt: at(time.Duration(first) * time.Millisecond), ExpiresAt: expiresAt}
	for seq := first; seq <= last; seq++ {
		entry := protocol.LogEntry{
			Seq:     seq,
			Time:    at(time.Duration(seq) * time.Millisecond),
			Level:   protocol.LevelInfo,
			Message: fmt.Sprintf("line %d: détection ✓ \"quoted\" \\ tab\t", seq),
		}
		if seq%2 == 0 {
			entry.Level = protocol.LevelWarn
			entry.Source = "camera-2"
			entry.Attrs = map[string]string{"zone": "a", "score": "0.93"}
		}
		c.Entries = append(c.Entries, entry)
	}
	return c
}

func put(t *testing.T, st fleet.Store, c fleet.LogChunk, dropped uint64) {
	t.Helper()
	if err := st.PutLogChunk(context.Background(), c, dropped); err != nil {
		t.Fatalf("PutLogChunk(%s, %d..%d): %v", c.TerminalID, c.FirstSeq, c.LastSeq, err)
	}
}

// scan collects the chunks ScanLogChunks yields, stopping after max (0: no limit).
func scan(t *testing.T, st fleet.Store, id string, from uint64, desc bool, now time.Time, max int) []fleet.LogChunk {
	t.Helper()
	var got []fleet.LogChunk
	stopped := false
	err := st.ScanLogChunks(context.Background(), id, from, desc, now, func(c fleet.LogChunk) bool {
		if stopped {
			t.Errorf("ScanLogChunks called fn again after it returned false")
		}
		got = append(got, c)
		if max > 0 && len(got) >= max {
			stopped = true
			return false
		}
		return true
	})
	if err != nil {
		t.Fatalf("ScanLogChunks(%s, from %d, desc %v): %v", id, from, desc, err)
	}
	return got
}

func firstSeqs(cs []fleet.LogChunk) []uint64 {
	out := make([]uint64, 0, len(cs))
	for _, c := range cs {
		out = append(out, c.FirstSeq)
	}
	return out
}

func sameSeqs(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func testPutLogChunk(t *testing.T, e env) {
	id := e.id(t, "a")
	create(t, e.store, id)
	c := chunk(id, 1, 5, at(time.Hour))
	for i := 0; i < 3; i++ {
		put(t, e.store, c, 0)
	}
	got := scan(t, e.store, id, 0, false, at(0), 0)
	if len(got) != 1 {
		t.Fatalf("after storing one chunk three times: got %d chunks %v, want 1", len(got), firstSeqs(got))
	}
	checkChunk(t, got[0], c)
	term := get(t, e.store, id)
	if term.LastSeq != 5 || term.Dropped != 0 {
		t.Errorf("terminal LastSeq, Dropped: got %d, %d, want 5, 0", term.LastSeq, term.Dropped)
	}
}

func testLastSeqDropped(t *testing.T, e env) {
	id := e.id(t, "a")
	want := create(t, e.store, id)
	steps := []struct {
		name              string
		first, last       uint64
		dropped           uint64
		wantSeq, wantDrop uint64
	}{
		{"first chunk", 1, 10, 0, 10, 0},
		{"later chunk raises", 11, 20, 3, 20, 3},
		{"resent older chunk keeps LastSeq", 5, 12, 1, 20, 3},
		{"dropped lower keeps Dropped", 21, 21, 2, 21, 3},
		{"dropped higher raises", 22, 30, 7, 30, 7},
		{"huge seq", 1 << 40, 1<<40 + 2, 7, 1<<40 + 2, 7},
	}
	for _, s := range steps {
		put(t, e.store, chunk(id, s.first, s.last, at(time.Hour)), s.dropped)
		want.LastSeq, want.Dropped = s.wantSeq, s.wantDrop
		t.Run(s.name, func(t *testing.T) { checkTerminal(t, get(t, e.store, id), want) })
	}
}

// testScanMany stores 300 chunks (plus chunks of two terminals whose ids
// extend and truncate this one's) and scans them in every way.
func testScanMany(t *testing.T, e env) {
	const n = 300
	id := e.id(t, "a")
	longer := id + "0"
	shorter := e.id(t, "")
	shorter = shorter[:len(shorter)-1]
	for _, x := range []string{id, longer, shorter} {
		create(t, e.store, x)
	}
	// Chunk i (0-based) holds lines 3i+1..3i+3, so FirstSeqs are 1, 4, ..., 898.
	want := make([]fleet.LogChunk, n)
	for i := range want {
		want[i] = chunk(id, uint64(3*i+1), uint64(3*i+3), at(time.Hour))
	}
	var wg sync.WaitGroup
	work := make(chan fleet.LogChunk)
	for w := 0; w < 8; w++ {
		wg.Go(func() {
			for c := range work {
				if err := e.store.PutLogChunk(context.Background(), c, 0); err != nil {
					t.Errorf("PutLogChunk(%s, %d): %v", c.TerminalID, c.FirstSeq, err)
				}
			}
		})
	}
	for i := 0; i < n; i++ {
		work <- want[i]
		if i%10 == 0 {
			// Neighbours with the same FirstSeq must never show up.
			work <- chunk(longer, want[i].FirstSeq, want[i].LastSeq, at(time.Hour))
			work <- chunk(shorter, want[i].FirstSeq, want[i].LastSeq, at(time.Hour))
		}
	}
	close(work)
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}

	seqs := firstSeqs(want)
	reversed := func(s []uint64) []uint64 {
		out := make([]uint64, len(s))
		for i := range s {
			out[len(s)-1-i] = s[i]
		}
		return out
	}
	tests := []struct {
		name string
		from uint64
		desc bool
		max  int
		want []uint64
	}{
		{"ascending from 0", 0, false, 0, seqs},
		{"ascending from 1", 1, false, 0, seqs},
		{"ascending from an exact FirstSeq", 451, false, 0, seqs[150:]},
		{"ascending from between FirstSeqs", 450, false, 0, seqs[150:]},
		{"ascending from the last", 898, false, 0, seqs[299:]},
		{"ascending past the last", 899, false, 0, nil},
		{"ascending from max", math.MaxUint64, false, 0, nil},
		{"descending from 0 means newest", 0, true, 0, reversed(seqs)},
		{"descending from max", math.MaxUint64, true, 0, reversed(seqs)},
		{"descending from an exact FirstSeq", 451, true, 0, reversed(seqs[:151])},
		{"descending from between FirstSeqs", 450, true, 0, reversed(seqs[:150])},
		{"descending from 1", 1, true, 0, seqs[:1]},
		{"ascending stops when fn returns false", 0, false, 5, seqs[:5]},
		{"ascending stops after the first", 100, false, 1, seqs[33:34]},
		{"descending stops when fn returns false", 0, true, 7, reversed(seqs)[:7]},
		{"descending stops in the middle", 600, true, 120, reversed(seqs[:200])[:120]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := scan(t, e.store, id, tt.from, tt.desc, at(0), tt.max)
			if g := firstSeqs(got); !sameSeqs(g, tt.want) {
				t.Fatalf("FirstSeqs: got %d chunks %v, want %d chunks %v", len(g), g, len(tt.want), tt.want)
			}
			for _, c := range got {
				checkChunk(t, c, want[(c.FirstSeq-1)/3])
			}
		})
	}
}

func testScanExpiry(t *testing.T, e env) {
	id := e.id(t, "a")
	create(t, e.store, id)
	// Chunks 1..40; every fourth expires early, and a run of ten in the
	// middle expires early too (a page of nothing but expired chunks).
	early, late := at(30*time.Minute), at(time.Hour)
	var keep []uint64
	for i := uint64(1); i <= 40; i++ {
		exp := late
		if i%4 == 0 || (i >= 15 && i < 25) {
			exp = early
		} else {
			keep = append(keep, i)
		}
		put(t, e.store, chunk(id, i, i, exp), 0)
	}
	var all []uint64
	for i := uint64(1); i <= 40; i++ {
		all = append(all, i)
	}
	rev := func(s []uint64) []uint64 {
		out := make([]uint64, len(s))
		for i := range s {
			out[len(s)-1-i] = s[i]
		}
		return out
	}
	tests := []struct {
		name string
		now  time.Time
		desc bool
		want []uint64
	}{
		{"none expired yet", early.Add(-time.Millisecond), false, all},
		{"expired at now skipped ascending", early, false, keep},
		{"expired at now skipped descending", early, true, rev(keep)},
		{"all expired", late, false, nil},
		{"all expired descending", late.Add(time.Hour), true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := firstSeqs(scan(t, e.store, id, 0, tt.desc, tt.now, 0))
			if !sameSeqs(got, tt.want) {
				t.Errorf("FirstSeqs: got %v, want %v", got, tt.want)
			}
		})
	}
	// Expired chunks still do not lower LastSeq.
	if term := get(t, e.store, id); term.LastSeq != 40 {
		t.Errorf("LastSeq: got %d, want 40", term.LastSeq)
	}
}

func testScanEmpty(t *testing.T, e env) {
	id := e.id(t, "a")
	create(t, e.store, id)
	for _, desc := range []bool{false, true} {
		if got := scan(t, e.store, id, 0, desc, at(0), 0); len(got) != 0 {
			t.Errorf("ScanLogChunks of a terminal without logs (desc %v): got %v, want none", desc, firstSeqs(got))
		}
		if got := scan(t, e.store, e.id(t, "absent"), 0, desc, at(0), 0); len(got) != 0 {
			t.Errorf("ScanLogChunks of an absent terminal (desc %v): got %v, want none", desc, firstSeqs(got))
		}
	}
}
