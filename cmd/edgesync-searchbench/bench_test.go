package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgesync/edgesync/fleet"
)

// TestWorkload: a generated day is the reference workload: a chunk per
// 30 s, about 86,400 lines, consecutive sequence numbers, times in order.
func TestWorkload(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	var got []fleet.LogChunk
	lines, err := chunks(3, 1, now, func(cs []fleet.LogChunk) error { got = append(got, cs...); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2880 {
		t.Errorf("%d chunks a day, want 2880 (one per 30 s)", len(got))
	}
	if lines < 80_000 || lines > 93_000 {
		t.Errorf("%d lines a day, want about 86,400", lines)
	}
	seq := uint64(0)
	var last time.Time
	for _, c := range got {
		if c.FirstSeq != seq+1 || c.LastSeq != c.FirstSeq+uint64(len(c.Entries))-1 || !c.ExpiresAt.After(now) {
			t.Fatalf("chunk %d..%d after seq %d: not consecutive, or expired", c.FirstSeq, c.LastSeq, seq)
		}
		for _, e := range c.Entries {
			if e.Time.Before(last) || len(e.Message) < 60 || len(e.Message) > 100 {
				t.Fatalf("line %d at %s (after %s), %d bytes: want time order and 60 to 100 bytes", e.Seq, e.Time, last, len(e.Message))
			}
			last = e.Time
		}
		seq = c.LastSeq
	}
}

func TestWriteInto(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "B.md")
	if err := os.WriteFile(path, []byte("# B\n\ntext\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, report := range []string{"first\n", "second\n"} {
		if err := writeInto(path, []byte(report)); err != nil {
			t.Fatal(err)
		}
		doc, _ := os.ReadFile(path)
		want := "# B\n\ntext\n\n" + beginMarker + "\n" + report + endMarker + "\n"
		if string(doc) != want {
			t.Errorf("after writing %q:\n%s\nwant\n%s", report, doc, want)
		}
	}
	if err := os.WriteFile(path, []byte(endMarker+"\n"+beginMarker+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := writeInto(path, []byte("x")); err == nil || !strings.Contains(err.Error(), "not in order") {
		t.Errorf("markers out of order: %v, want an error", err)
	}
}
