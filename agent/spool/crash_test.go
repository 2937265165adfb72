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
	spool.Crash(s) // the process dies: memory is lost

	s, err = spool.Open(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if held, _ := s.Read(1, 1000, 1<<30); len(held) != 100 {
		t.Errorf("held %d lines after the crash, want the 100 that reached the disk", len(held))
	}
	next, _ := s.Append(lines(1, 1), 0, nil)
	if next[0].Seq <= 200 {
		t.Errorf("first seq after the crash = %d, want above 200 (101..200 were handed out from memory)", next[0].Seq)
	}
}
