package spool_test

import (
	"testing"

	"github.com/edgesync/edgesync/agent/spool"
	"github.com/edgesync/edgesync/agent/spool/spooltest"
)

// A crash while lines are held only in memory must not let the next run
// hand out their sequence numbers again: the server may have stored them.
func TestCrashWhileDegradedNeverReusesSequenceNumbers(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	disk := spooltest.NewDiskFS(dir)
	s, err := spool.Open(dir, 1<<20, spool.WithFS(disk))
	if err != nil {
		t.Fatal(err)
	}
	s.Append(lines(1, 100), 0, nil)
	// Full, except for what the reserve gives back plus a few bytes: the
	// volatile record fits, the lines do not.
	disk.SetCapacity(disk.Used() - spool.ReserveBytes + 200)
	got, _ := s.Append(lines(101, 200), 0, nil)
	if st := s.Stats(); !st.Degraded || st.MemoryLines != 100 || got[99].Seq != 200 {
		t.Fatalf("stats = %+v, want 100 lines in memory", st)
	}
	s = crashAndCheckNext(t, s, dir, 200) // the process dies: memory is lost
	if held, _ := s.Read(1, 200, 1<<30); len(held) != 100 {
		t.Errorf("held %d lines after the crash, want the 100 that reached the disk", len(held))
	}
}

// crashAndCheckNext crashes s (its memory is lost), opens the spool in dir
// again and checks that the next line is numbered above last, the highest
// number handed out before: the server may have stored those lines. It
// returns the reopened spool, holding that line, closed when the test ends.
func crashAndCheckNext(t *testing.T, s *spool.Spool, dir string, last uint64) *spool.Spool {
	t.Helper()
	spool.Crash(s)
	s, err := spool.Open(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	next, _ := s.Append(lines(1, 1), 0, nil)
	if len(next) == 0 || next[0].Seq <= last {
		t.Errorf("first line after the crash %+v, want numbered above %d (handed out from memory)", next, last)
	}
	return s
}

// A disk full for long enough to number more lines in memory than one
// volatile record covers: the record is renewed, and a crash still never
// reuses a number handed out.
func TestCrashAfterLongDegradationNeverReusesSequenceNumbers(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	disk := spooltest.NewDiskFS(dir)
	s, err := spool.Open(dir, 1<<20, spool.WithFS(disk))
	if err != nil {
		t.Fatal(err)
	}
	spool.SetVolatileSpan(s, 50)
	s.Append(lines(1, 10), 0, nil)
	disk.SetCapacity(disk.Used() - spool.ReserveBytes + 2000) // room for records, not lines
	var last uint64
	for i := 11; i <= 500; i += 10 {
		got, _ := s.Append(lines(i, i+9), 0, nil)
		if len(got) > 0 {
			last = got[len(got)-1].Seq
		}
	}
	if st := s.Stats(); !st.Degraded || last < 400 {
		t.Fatalf("stats %+v, last seq %d: want degraded with lines numbered past several spans", st, last)
	}
	crashAndCheckNext(t, s, dir, last)
}

// A disk already full when the spool opens: the reserve makes room for a
// small segment holding the volatile record, so a crash does not reuse
// the numbers of lines held only in memory.
func TestCrashWhenFullSinceOpenNeverReusesSequenceNumbers(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	disk := spooltest.NewDiskFS(dir)
	s, err := spool.Open(dir, 1<<20, spool.WithFS(disk))
	if err != nil {
		t.Fatal(err)
	}
	s.Append(lines(1, 100), 0, nil)
	s.Close()
	disk.SetCapacity(disk.Used()) // full: the next segment will not fit
	s, err = spool.Open(dir, 1<<20, spool.WithFS(disk))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := s.Append(lines(101, 200), 0, nil)
	if st := s.Stats(); len(got) == 0 || !st.Degraded || st.MemoryLines == 0 {
		t.Fatalf("took %d lines, stats %+v; want them held in memory, degraded", len(got), st)
	}
	last := got[len(got)-1].Seq
	crashAndCheckNext(t, s, dir, last)
}

// An acknowledgement of numbers not handed out yet (a server holding the
// lines of an earlier spool) removes nothing: the lines numbered next are
// still read and counted.
func TestAckBeyondTheNumbersHandedOutHidesNothing(t *testing.T) {
	t.Parallel()
	s, err := spool.Open(t.TempDir(), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Ack(1, 1000); err != nil {
		t.Fatal(err)
	}
	s.Append(lines(1, 10), 0, nil)
	held, _ := s.Read(1, 1000, 1<<30)
	if st := s.Stats(); len(held) != 10 || st.Lines != 10 {
		t.Errorf("held %d lines, stats %+v; want the 10 appended after the ack", len(held), st)
	}
}
