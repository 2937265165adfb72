package spool_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/edgesync/edgesync/agent/spool"
	"github.com/edgesync/edgesync/protocol"
)

func lines(from, to int) []protocol.LogEntry {
	var out []protocol.LogEntry
	for i := from; i <= to; i++ {
		out = append(out, protocol.LogEntry{Time: time.Unix(1700000000, 0).UTC(), Level: "info", Message: fmt.Sprintf("line %d", i)})
	}
	return out
}

func open(t *testing.T, dir string, max int64) *spool.Spool {
	t.Helper()
	s, err := spool.Open(dir, max)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func seqs(entries []protocol.LogEntry) []uint64 {
	var out []uint64
	for _, e := range entries {
		out = append(out, e.Seq)
	}
	return out
}

func TestAppendReadAck(t *testing.T) {
	t.Parallel()
	s := open(t, t.TempDir(), 1<<20)
	defer s.Close()
	got, err := s.Append(lines(1, 10), 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(seqs(got)) != "[1 2 3 4 5 6 7 8 9 10]" {
		t.Errorf("assigned seqs %v", seqs(got))
	}
	tests := []struct {
		name        string
		first, last uint64
		maxBytes    int
		want        string
	}{
		{"range", 3, 5, 1 << 20, "[3 4 5]"},
		{"byte budget still returns one", 3, 10, 1, "[3]"},
		{"past the end", 11, 20, 1 << 20, "[]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Read(tt.first, tt.last, tt.maxBytes)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(seqs(got)) != tt.want {
				t.Errorf("Read(%d, %d) = %v, want %s", tt.first, tt.last, seqs(got), tt.want)
			}
		})
	}
	// Out-of-order acks leave a gap.
	if n, err := s.Ack(4, 6); err != nil || n != 3 {
		t.Fatalf("Ack(4,6) = %d, %v", n, err)
	}
	if n, _ := s.Ack(4, 6); n != 0 {
		t.Errorf("acking again removed %d", n)
	}
	rest, _ := s.Read(1, 100, 1<<20)
	if fmt.Sprint(seqs(rest)) != "[1 2 3 7 8 9 10]" {
		t.Errorf("after ack: %v", seqs(rest))
	}
	st := s.Stats()
	if st.Lines != 7 || st.FirstSeq != 1 || st.NextSeq != 11 || st.LastAckSeq != 6 {
		t.Errorf("stats = %+v", st)
	}
	if n, _ := s.DropInvalid(1, 2); n != 2 || s.Stats().DroppedInvalid != 2 || s.Stats().FirstSeq != 3 {
		t.Errorf("DropInvalid: n=%d stats=%+v", n, s.Stats())
	}
	if _, err := s.Ack(5, 4); err == nil {
		t.Errorf("reversed range accepted")
	}
}

func TestEvictsOldestWhenFull(t *testing.T) {
	t.Parallel()
	s := open(t, t.TempDir(), spool.MinMaxBytes)
	defer s.Close()
	var total int
	for i := 0; i < 50; i++ {
		got, err := s.Append(lines(total+1, total+100), 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		total += len(got)
	}
	st := s.Stats()
	if st.Bytes > spool.MinMaxBytes {
		t.Errorf("holds %d bytes, bound %d", st.Bytes, spool.MinMaxBytes)
	}
	if st.Dropped == 0 || st.Dropped+st.Lines != uint64(total) {
		t.Errorf("dropped %d + held %d != appended %d", st.Dropped, st.Lines, total)
	}
	if st.FirstSeq != st.Dropped+1 {
		t.Errorf("first held seq %d, want %d (the oldest go first)", st.FirstSeq, st.Dropped+1)
	}
	// Lowering the bound evicts at once.
	if err := s.SetMaxBytes(spool.MinMaxBytes / 2); err == nil {
		t.Errorf("SetMaxBytes below the minimum accepted")
	}
	if _, err := s.Append(nil, 5, nil); err != nil || s.Stats().Dropped != st.Dropped+5 {
		t.Errorf("lost lines not counted: %v %+v", err, s.Stats())
	}
}

func TestStatePersistsAcrossReopen(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := open(t, dir, 1<<20)
	s.Append(lines(1, 5), 2, map[string][]byte{"tail:/x": []byte(`{"offset":9}`)})
	s.Ack(1, 2)
	s.DropInvalid(3, 3)
	before := s.Stats()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, dir, 1<<20)
	defer s.Close()
	after := s.Stats()
	after.Bytes = before.Bytes // a new segment starts at each open
	if after != before {
		t.Errorf("stats after reopen = %+v, want %+v", after, before)
	}
	got, _ := s.Append(lines(6, 6), 0, nil)
	if got[0].Seq != 6 {
		t.Errorf("seq after reopen = %d, want 6", got[0].Seq)
	}
	if m, _ := s.Mark("tail:/x"); string(m) != `{"offset":9}` {
		t.Errorf("mark = %q", m)
	}
	if m, _ := s.Mark("none"); m != nil {
		t.Errorf("absent mark = %q", m)
	}
}

func TestSecondOpenIsRefused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := open(t, dir, 1<<20)
	defer s.Close()
	if _, err := spool.Open(dir, 1<<20); !errors.Is(err, spool.ErrLocked) {
		t.Errorf("second Open = %v, want ErrLocked", err)
	}
}

func TestOpenRejectsTinyBound(t *testing.T) {
	t.Parallel()
	if _, err := spool.Open(t.TempDir(), 10); err == nil {
		t.Errorf("Open with a 10-byte bound succeeded")
	}
}
