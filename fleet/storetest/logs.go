package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
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
		{"PutLogChunk/LargeChunk", testLargeChunk},
		{"PutLogChunk/Overlapping", testOverlapping},
		{"ScanLogChunks/MoreThanOneMegabyte", testScanLarge},
		{"ScanLogChunks/ManyChunks", testScanMany},
		{"ScanLogChunks/OverlappingByLastSeq", testScanOverlapping},
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
			entry.Attrs = protocol.Attrs{"zone": "a", "score": "0.93"}
		}
		if seq%10 == 0 {
			// Typed values keep their type and a number its exact text.
			entry.Attrs = protocol.Attrs{"zone": "a", "count": json.Number("12345678901234567890"), "ratio": json.Number("-1.5e-3"), "ok": true, "none": nil}
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

// lastSeqs returns the LastSeq of each chunk, the order the store keeps.
func lastSeqs(cs []fleet.LogChunk) []uint64 {
	out := make([]uint64, 0, len(cs))
	for _, c := range cs {
		out = append(out, c.LastSeq)
	}
	return out
}

// spans describes chunks as "first..last" for failure messages.
func spans(cs []fleet.LogChunk) []string {
	out := make([]string, 0, len(cs))
	for _, c := range cs {
		out = append(out, fmt.Sprintf("%d..%d", c.FirstSeq, c.LastSeq))
	}
	return out
}

// reversed returns s in reverse order.
func reversed[T any](s []T) []T {
	out := make([]T, len(s))
	for i := range s {
		out[len(s)-1-i] = s[i]
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
		t.Fatalf("after storing one chunk three times: got %d chunks %v, want 1", len(got), spans(got))
	}
	checkChunk(t, got[0], c)
	term := get(t, e.store, id)
	if term.LastSeq != 5 || term.Dropped != 0 {
		t.Errorf("terminal LastSeq, Dropped: got %d, %d, want 5, 0", term.LastSeq, term.Dropped)
	}
}

// largeChunk returns a chunk as large as one API Gateway message can carry
// uncompressed (about 115 KB of entries as JSON).
func largeChunk(t *testing.T, id string, first uint64) fleet.LogChunk {
	t.Helper()
	c := chunk(id, first, first+599, at(time.Hour))
	for i := range c.Entries {
		c.Entries[i].Message = fmt.Sprintf("%05d %s", i, strings.Repeat("x", 90))
	}
	if size := len(mustJSON(t, c.Entries)); size < 100_000 || size > protocol.MaxMessageBytes {
		t.Fatalf("test chunk is %d bytes of JSON, want 100000..%d", size, protocol.MaxMessageBytes)
	}
	return c
}

// testScanLarge stores 12 large chunks (more than DynamoDB returns in one
// 1 MB query page) and scans them in both directions.
func testScanLarge(t *testing.T, e env) {
	id := e.id(t, "a")
	create(t, e.store, id)
	var want []uint64
	for i := uint64(0); i < 12; i++ {
		c := largeChunk(t, id, 1+600*i)
		put(t, e.store, c, 0)
		want = append(want, c.LastSeq)
	}
	if got := lastSeqs(scan(t, e.store, id, 0, false, at(0), 0)); !sameSeqs(got, want) {
		t.Errorf("ascending LastSeqs: got %v, want %v", got, want)
	}
	if got := lastSeqs(scan(t, e.store, id, 0, true, at(0), 0)); !sameSeqs(got, reversed(want)) {
		t.Errorf("descending LastSeqs: got %v, want %v", got, reversed(want))
	}
}

// testLargeChunk stores and reads back one large chunk.
func testLargeChunk(t *testing.T, e env) {
	id := e.id(t, "a")
	create(t, e.store, id)
	c := largeChunk(t, id, 1000)
	put(t, e.store, c, 0)
	got := scan(t, e.store, id, 0, false, at(0), 0)
	if len(got) != 1 {
		t.Fatalf("got %d chunks, want 1", len(got))
	}
	checkChunk(t, got[0], c)
}

// resent returns c as its agent might send it again: the same lines with
// each message tagged and a later StoredAt and ExpiresAt, so a test can
// tell which of two chunks with the same range was kept.
func resent(c fleet.LogChunk, tag string) fleet.LogChunk {
	c.Entries = slices.Clone(c.Entries)
	for i := range c.Entries {
		c.Entries[i].Message += " " + tag
	}
	c.StoredAt = c.StoredAt.Add(time.Minute)
	c.ExpiresAt = c.ExpiresAt.Add(time.Minute)
	return c
}

// testOverlapping stores chunks whose ranges overlap: of chunks with the
// same LastSeq the store keeps the one with the lowest FirstSeq (the latest
// stored among equals); chunks with different LastSeqs all stay.
func testOverlapping(t *testing.T, e env) {
	type step struct {
		first, last uint64
		tag         string // non-empty: a resent variant (see resent)
		dropped     uint64
	}
	tests := []struct {
		name  string
		steps []step
		want  []int // indexes of the steps whose chunks remain, ascending by LastSeq
	}{
		{"narrower chunk with the same LastSeq is ignored", []step{{1, 10, "", 0}, {5, 10, "", 0}}, []int{0}},
		{"wider chunk with the same LastSeq replaces", []step{{5, 10, "", 0}, {1, 10, "", 0}}, []int{1}},
		{"same range stored again replaces", []step{{1, 10, "", 0}, {1, 10, "again", 0}}, []int{1}},
		{"single line at the end is ignored", []step{{1, 10, "", 0}, {10, 10, "", 0}}, []int{0}},
		{"different LastSeqs coexist", []step{{1, 10, "", 0}, {5, 12, "", 0}}, []int{0, 1}},
		{"ordered by LastSeq, not FirstSeq", []step{{1, 10, "", 0}, {8, 9, "", 0}}, []int{1, 0}},
		{"widest of many with one LastSeq wins", []step{
			{5, 10, "", 0}, {3, 10, "b", 0}, {4, 10, "c", 0}, {1, 10, "d", 0}, {2, 10, "e", 0},
		}, []int{3}},
		{"replacing one chunk leaves the others", []step{
			{1, 10, "", 0}, {5, 12, "", 0}, {1, 12, "wide", 0}, {11, 12, "narrow", 0},
		}, []int{0, 2}},
		{"ignored chunk still raises Dropped", []step{{1, 10, "", 1}, {5, 10, "", 4}}, []int{0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			id := e.id(t, "a")
			term := create(t, e.store, id)
			var stored []fleet.LogChunk
			for _, s := range tt.steps {
				c := chunk(id, s.first, s.last, at(time.Hour))
				if s.tag != "" {
					c = resent(c, s.tag)
				}
				put(t, e.store, c, s.dropped)
				stored = append(stored, c)
				term.LastSeq = max(term.LastSeq, s.last)
				term.Dropped = max(term.Dropped, s.dropped)
			}
			var want []fleet.LogChunk
			for _, i := range tt.want {
				want = append(want, stored[i])
			}
			for _, desc := range []bool{false, true} {
				w := want
				if desc {
					w = reversed(want)
				}
				got := scan(t, e.store, id, 0, desc, at(0), 0)
				if len(got) != len(w) {
					t.Fatalf("scan (desc %v): got chunks %v, want %v", desc, spans(got), spans(w))
				}
				for i := range w {
					checkChunk(t, got[i], w[i])
				}
			}
			checkTerminal(t, get(t, e.store, id), term)
		})
	}
}

// testScanOverlapping scans overlapping chunks from points where ordering
// and bounds by LastSeq differ from ordering by FirstSeq.
func testScanOverlapping(t *testing.T, e env) {
	id := e.id(t, "a")
	create(t, e.store, id)
	byLast := map[uint64]fleet.LogChunk{}
	for _, s := range [][2]uint64{{1, 10}, {8, 9}, {5, 12}} {
		c := chunk(id, s[0], s[1], at(time.Hour))
		put(t, e.store, c, 0)
		byLast[c.LastSeq] = c
	}
	tests := []struct {
		name string
		from uint64
		desc bool
		want []uint64 // LastSeqs
	}{
		{"ascending from 0", 0, false, []uint64{9, 10, 12}},
		{"ascending from a FirstSeq below earlier LastSeqs", 8, false, []uint64{9, 10, 12}},
		{"ascending from inside every chunk", 9, false, []uint64{9, 10, 12}},
		{"ascending from 10", 10, false, []uint64{10, 12}},
		{"ascending from 11", 11, false, []uint64{12}},
		{"ascending past the newest", 13, false, nil},
		{"descending from 0 means newest", 0, true, []uint64{12, 10, 9}},
		{"descending from 11", 11, true, []uint64{10, 9}},
		{"descending from 9", 9, true, []uint64{9}},
		{"descending from a FirstSeq below every LastSeq", 8, true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := scan(t, e.store, id, tt.from, tt.desc, at(0), 0)
			if g := lastSeqs(got); !sameSeqs(g, tt.want) {
				t.Fatalf("LastSeqs: got %v (chunks %v), want %v", g, spans(got), tt.want)
			}
			for _, c := range got {
				checkChunk(t, c, byLast[c.LastSeq])
			}
		})
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
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
	// Chunk i (0-based) holds lines 3i+1..3i+3, so LastSeqs are 3, 6, ..., 900.
	want := make([]fleet.LogChunk, n)
	byLast := map[uint64]fleet.LogChunk{}
	for i := range want {
		want[i] = chunk(id, uint64(3*i+1), uint64(3*i+3), at(time.Hour))
		byLast[want[i].LastSeq] = want[i]
	}
	var wg sync.WaitGroup
	work := make(chan fleet.LogChunk)
	for w := 0; w < 8; w++ {
		wg.Go(func() {
			for c := range work {
				if err := e.store.PutLogChunk(context.Background(), c, 0); err != nil {
					t.Errorf("PutLogChunk(%s, %d..%d): %v", c.TerminalID, c.FirstSeq, c.LastSeq, err)
				}
			}
		})
	}
	for i := 0; i < n; i++ {
		work <- want[i]
		if i%10 == 0 {
			// Neighbours with the same LastSeq must never show up.
			work <- chunk(longer, want[i].FirstSeq, want[i].LastSeq, at(time.Hour))
			work <- chunk(shorter, want[i].FirstSeq, want[i].LastSeq, at(time.Hour))
		}
	}
	close(work)
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}

	seqs := lastSeqs(want)
	tests := []struct {
		name string
		from uint64
		desc bool
		max  int
		want []uint64
	}{
		{"ascending from 0", 0, false, 0, seqs},
		{"ascending from 1", 1, false, 0, seqs},
		{"ascending from an exact LastSeq", 453, false, 0, seqs[150:]},
		{"ascending from inside a chunk includes it", 452, false, 0, seqs[150:]},
		{"ascending from a FirstSeq includes its chunk", 451, false, 0, seqs[150:]},
		{"ascending from the last", 900, false, 0, seqs[299:]},
		{"ascending from inside the last", 899, false, 0, seqs[299:]},
		{"ascending past the last", 901, false, 0, nil},
		{"ascending from max", math.MaxUint64, false, 0, nil},
		{"descending from 0 means newest", 0, true, 0, reversed(seqs)},
		{"descending from max", math.MaxUint64, true, 0, reversed(seqs)},
		{"descending from an exact LastSeq", 453, true, 0, reversed(seqs[:151])},
		{"descending from inside a chunk excludes it", 452, true, 0, reversed(seqs[:150])},
		{"descending from a FirstSeq excludes its chunk", 451, true, 0, reversed(seqs[:150])},
		{"descending from the first LastSeq", 3, true, 0, seqs[:1]},
		{"descending from below the first LastSeq", 2, true, 0, nil},
		{"descending from 1", 1, true, 0, nil},
		{"ascending stops when fn returns false", 0, false, 5, seqs[:5]},
		{"ascending stops after the first", 100, false, 1, seqs[33:34]},
		{"descending stops when fn returns false", 0, true, 7, reversed(seqs)[:7]},
		{"descending stops in the middle", 600, true, 120, reversed(seqs[:200])[:120]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := scan(t, e.store, id, tt.from, tt.desc, at(0), tt.max)
			if g := lastSeqs(got); !sameSeqs(g, tt.want) {
				t.Fatalf("LastSeqs: got %d chunks %v, want %d chunks %v", len(g), g, len(tt.want), tt.want)
			}
			for _, c := range got {
				checkChunk(t, c, byLast[c.LastSeq])
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
	tests := []struct {
		name string
		now  time.Time
		desc bool
		want []uint64
	}{
		{"none expired yet", early.Add(-time.Millisecond), false, all},
		{"expired at now skipped ascending", early, false, keep},
		{"expired at now skipped descending", early, true, reversed(keep)},
		{"all expired", late, false, nil},
		{"all expired descending", late.Add(time.Hour), true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := lastSeqs(scan(t, e.store, id, 0, tt.desc, tt.now, 0))
			if !sameSeqs(got, tt.want) {
				t.Errorf("LastSeqs: got %v, want %v", got, tt.want)
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
			t.Errorf("ScanLogChunks of a terminal without logs (desc %v): got %v, want none", desc, spans(got))
		}
		if got := scan(t, e.store, e.id(t, "absent"), 0, desc, at(0), 0); len(got) != 0 {
			t.Errorf("ScanLogChunks of an absent terminal (desc %v): got %v, want none", desc, spans(got))
		}
	}
}
