package dynamo

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/edgesync/edgesync/protocol"
)

// segmentCases are messages whose digits are awkward to cut: leading
// zeros, runs too long for a number, more numbers than a line's columns,
// digits at either end, digits of other scripts, nothing but digits.
var segmentCases = []string{
	"",
	"0",
	"00",
	"007 and 0.07 and 000",
	"x0y00z000",
	"123456789012345678",     // 18 digits: a number
	"1234567890123456789",    // 19: stays text
	"0001234567890123456789", // zeros, then 19
	"18446744073709551615 99999999999999999999999999",
	strings.Repeat("1 ", 40) + "tail 7",
	"٣ Arabic-Indic ३ Devanagari 3 ASCII",
	"9",
	"end 42",
	"42 start",
	"frame 1000042 cam 3: 4 objects (person 0.87, vest 0.51) in 33 ms",
	"-7 +5 1e9 0x1F 3.14159 1,234,567",
	"détection ✓ \x00 nul \xff bad utf8 12",
}

// TestSegmentsRoundTrip: every message comes back byte for byte from the
// segment columns, whatever its digits, on its own and among others with
// a different count of numbers.
func TestSegmentsRoundTrip(t *testing.T) {
	t.Parallel()
	base := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	entries := func(msgs []string) []protocol.LogEntry {
		var es []protocol.LogEntry
		for i, m := range msgs {
			es = append(es, protocol.LogEntry{Seq: uint64(1 + i), Time: base.Add(time.Duration(i) * time.Millisecond), Level: "info", Message: m})
		}
		return es
	}
	tests := []struct {
		name string
		msgs []string
	}{{"all together", segmentCases}}
	for _, m := range segmentCases {
		tests = append(tests, struct {
			name string
			msgs []string
		}{fmt.Sprintf("%.20q twice", m), []string{m, m}})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			es := entries(tt.msgs)
			data, err := encodeWith(es, func(b []byte) []byte { return appendSegments(b, es) })
			if err != nil {
				t.Fatal(err)
			}
			got, err := decodeEntries(data, 1)
			if err != nil {
				t.Fatalf("decodeEntries: %v", err)
			}
			for i, m := range tt.msgs {
				if got[i].Message != m {
					t.Errorf("message %d = %q, want %q", i, got[i].Message, m)
				}
			}
		})
	}
}

// TestOlderLayoutsStillRead: chunks written before segment columns (the
// messages plain or in token columns) read as they were written.
func TestOlderLayoutsStillRead(t *testing.T) {
	t.Parallel()
	base := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	var es []protocol.LogEntry
	for i, m := range segmentCases {
		es = append(es, protocol.LogEntry{Seq: uint64(10 + i), Time: base, Level: "warn", Message: m, Source: "s"})
	}
	for _, tokenized := range []bool{false, true} {
		data, err := encodeWith(es, func(b []byte) []byte { return appendMessages(b, es, tokenized) })
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeEntries(data, 10)
		if err != nil {
			t.Fatalf("tokenized %v: decodeEntries: %v", tokenized, err)
		}
		for i := range es {
			if got[i].Message != es[i].Message || got[i].Seq != es[i].Seq {
				t.Errorf("tokenized %v: entry %d = %+v, want %+v", tokenized, i, got[i], es[i])
			}
		}
	}
}

// TestSegmentsShrinkTemplatedLines: lines of one template whose fields
// vary at random (the detector's) are stored at least a fifth smaller in
// segment columns than plain, at 30 lines (the default window's batch) and
// 150; lines that share no template are stored plain (encodeEntries keeps
// the smaller), so they cost no more than before.
func TestSegmentsShrinkTemplatedLines(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(7, 8))
	classes := []string{"person", "forklift", "pallet", "helmet", "vest", "box"}
	base := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	detector := func(n int) []protocol.LogEntry {
		var es []protocol.LogEntry
		at := base
		for i := range n {
			at = at.Add(time.Duration(rng.Int64N(int64(2 * time.Second))))
			msg := fmt.Sprintf("frame %d cam %d: %d objects (%s %.2f, %s %.2f) in %d ms", 5_000_000+i, rng.IntN(4)+1, rng.IntN(5)+1,
				classes[rng.IntN(6)], 0.5+float64(rng.IntN(50))/100, classes[rng.IntN(6)], 0.5+float64(rng.IntN(50))/100, 20+rng.IntN(40))
			es = append(es, protocol.LogEntry{Seq: uint64(1 + i), Time: at, Level: "info", Message: msg, Source: "detector"})
		}
		return es
	}
	prose := func(n int) []protocol.LogEntry {
		words := strings.Fields("the quick brown fox jumps over a lazy dog while seven wizards quietly hex jovial frogs near 12 old barns")
		var es []protocol.LogEntry
		for i := range n {
			rng.Shuffle(len(words), func(a, b int) { words[a], words[b] = words[b], words[a] })
			es = append(es, protocol.LogEntry{Seq: uint64(1 + i), Time: base, Level: "info", Message: strings.Join(words[:8], " ")})
		}
		return es
	}
	for _, n := range []int{30, 150} {
		es := detector(n)
		plain, err := encodeWith(es, func(b []byte) []byte { return appendMessages(b, es, false) })
		if err != nil {
			t.Fatal(err)
		}
		got, err := encodeEntries(es)
		if err != nil {
			t.Fatal(err)
		}
		if len(got)*5 > len(plain)*4 {
			t.Errorf("%d detector lines: %d bytes, plain %d; want at most four fifths", n, len(got), len(plain))
		}
		t.Logf("%d detector lines: %d bytes (%.1f a line), plain %d", n, len(got), float64(len(got))/float64(n), len(plain))
		es = prose(n)
		plain, err = encodeWith(es, func(b []byte) []byte { return appendMessages(b, es, false) })
		if err != nil {
			t.Fatal(err)
		}
		if got, err = encodeEntries(es); err != nil || len(got) > len(plain) {
			t.Errorf("%d lines of prose: %d bytes (%v), plain %d; want no more", n, len(got), err, len(plain))
		}
	}
}

// FuzzDecodeEntries: whatever bytes a chunk holds, reading it returns
// entries or an error, never a panic; what encodeEntries writes reads
// back.
func FuzzDecodeEntries(f *testing.F) {
	base := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	for _, m := range segmentCases {
		es := []protocol.LogEntry{{Seq: 1, Time: base, Level: "info", Message: m}, {Seq: 2, Time: base, Level: "info", Message: m + " 1"}}
		data, err := encodeWith(es, func(b []byte) []byte { return appendSegments(b, es) })
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, m)
	}
	f.Fuzz(func(t *testing.T, data []byte, msg string) {
		_, _ = decodeEntries(data, 1)
		es := []protocol.LogEntry{{Seq: 1, Time: base, Level: "info", Message: msg}, {Seq: 2, Time: base, Level: "info", Message: msg + " 007"}}
		enc, err := encodeEntries(es)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeEntries(enc, 1)
		if err != nil || got[0].Message != msg || got[1].Message != msg+" 007" {
			t.Fatalf("round trip of %q: %+v, %v", msg, got, err)
		}
	})
}

// TestSegmentsRefuseExpansion: a segment column that would expand past
// what a chunk may inflate to (a count of leading zeros is one varint) is
// refused with an error, not built.
func TestSegmentsRefuseExpansion(t *testing.T) {
	t.Parallel()
	es := []protocol.LogEntry{{Seq: 1, Time: time.Unix(0, 0).UTC(), Level: "info", Message: "7"}}
	for _, zeros := range []uint64{2, 1 << 40, uint64(maxInflatedChunk) + 1} {
		data, err := encodeWith(es, func(b []byte) []byte {
			b = append(b, messagesSegments, 1) // one line, one number
			b = append(b, 1, 0, 0)             // text column 0: one string, "", index 0
			b = append(b, numberZeros, 7)      // number column 0: the value 7
			b = binary.AppendUvarint(b, zeros) // and its leading zeros
			return append(b, 1, 0, 0)          // text column 1
		})
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeEntries(data, 1)
		switch {
		case zeros == 2 && (err != nil || got[0].Message != "007"):
			t.Errorf("2 zeros: %+v, %v; want the message 007", got, err)
		case zeros != 2 && err == nil:
			t.Errorf("%d zeros: decoded %d bytes, want an error", zeros, len(got[0].Message))
		}
	}
}

// TestHugeStringTableRefused: a chunk whose level and source table claims
// more strings than its lines could name is refused before anything is
// allocated for them (the count came first, unchecked, and a count near
// 2^62 panicked; 2^33 ran the process out of memory).
func TestHugeStringTableRefused(t *testing.T) {
	t.Parallel()
	enc, err := entriesEncoder()
	if err != nil {
		t.Fatal(err)
	}
	for _, count := range []uint64{3, 1 << 33, 1 << 62} {
		raw := []byte{chunkFormat, 1, 0, 0, 0, 0} // one entry, seqs implied, time 0, offset 0
		raw = binary.AppendUvarint(raw, count)
		func() {
			defer func() {
				if p := recover(); p != nil {
					t.Errorf("table of %d strings: decodeEntries panicked: %v", count, p)
				}
			}()
			if _, err := decodeEntries(enc.EncodeAll(raw, nil), 1); err == nil {
				t.Errorf("table of %d strings: decoded, want an error", count)
			}
		}()
	}
}

// encodeWith is the stored form of entries with the messages column that
// messages appends: one layout, where encodeEntries picks the smaller.
func encodeWith(entries []protocol.LogEntry, messages func([]byte) []byte) ([]byte, error) {
	head, tail, err := columns(entries)
	if err != nil {
		return nil, err
	}
	return compressLayout(head, tail, messages)
}
