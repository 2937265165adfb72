package spool_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/edgesync/edgesync/agent/spool"
	"github.com/edgesync/edgesync/agent/spool/spooltest"
	"github.com/edgesync/edgesync/protocol"
)

// onDisk returns the bytes the spool's files take on disk: their sizes
// and, separately, the blocks the filesystem allocated to them.
func onDisk(t *testing.T, dir string) (size, allocated int64) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		fi, err := os.Stat(filepath.Join(dir, e.Name()))
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		size += fi.Size()
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			allocated += st.Blocks * 512
		}
	}
	return size, allocated
}

func bigLines(from, to int) []protocol.LogEntry {
	var out []protocol.LogEntry
	for i := from; i <= to; i++ {
		out = append(out, protocol.LogEntry{Time: time.Unix(1700000000, 0).UTC(), Level: "info",
			Message: fmt.Sprintf("line %07d %s", i, strings.Repeat("x", 200))})
	}
	return out
}

func TestBytesOnDiskStayWithinTheBound(t *testing.T) {
	t.Parallel()
	const bound = 1 << 20
	tests := []struct {
		name string
		ack  bool // acknowledge half of what is sent as it goes
	}{
		{"nothing acknowledged", false},
		{"half acknowledged", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			s := open(t, dir, bound)
			defer s.Close()
			var written, peak, peakAlloc int64
			next := 1
			for written < 10*bound {
				batch := bigLines(next, next+99)
				got, err := s.Append(batch, 0, nil)
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range batch {
					written += int64(len(e.Message)) + 60
				}
				next += len(got)
				if tt.ack {
					s.Ack(got[0].Seq, got[49].Seq)
				}
				size, alloc := onDisk(t, dir)
				peak, peakAlloc = max(peak, size), max(peakAlloc, alloc)
			}
			t.Logf("wrote %d bytes of lines; peak on disk %d bytes (%d allocated) for a bound of %d", written, peak, peakAlloc, bound)
			if limit := int64(bound * 11 / 10); peak > limit || peakAlloc > limit {
				t.Errorf("spool took up to %d bytes (%d allocated) on disk, want at most %d (1.1 x %d)", peak, peakAlloc, limit, bound)
			}
			st := s.Stats()
			if st.Bytes > bound {
				t.Errorf("Stats().Bytes = %d, over the bound %d", st.Bytes, bound)
			}
			if st.Dropped == 0 || (!tt.ack && st.FirstSeq != st.Dropped+1) {
				t.Errorf("stats %+v: the oldest lines should have been dropped", st)
			}
			// Once everything is acknowledged the files shrink to one
			// nearly empty segment.
			if _, err := s.Ack(1, st.NextSeq-1); err != nil {
				t.Fatal(err)
			}
			if size, _ := onDisk(t, dir); size > 64<<10 {
				t.Errorf("after acknowledging everything the spool still takes %d bytes", size)
			}
		})
	}
}

func TestFullDiskKeepsLinesInMemoryAndRecovers(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	disk := spooltest.NewDiskFS(dir)
	s, err := spool.Open(dir, 1<<20, spool.WithFS(disk))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Append(lines(1, 100), 0, map[string][]byte{"tail:/a": []byte("1")}); err != nil {
		t.Fatal(err)
	}

	// The disk fills up (by someone else), with less room than even the
	// spool's reserve gives back.
	disk.SetCapacity(disk.Used() - 16<<10)
	got, err := s.Append(lines(101, 200), 3, map[string][]byte{"tail:/a": []byte("2")})
	if err != nil {
		t.Fatalf("Append on a full disk = %v, want the lines kept in memory", err)
	}
	if len(got) != 100 || got[0].Seq != 101 {
		t.Fatalf("Append on a full disk returned %d lines from seq %d", len(got), got[0].Seq)
	}
	st := s.Stats()
	if !st.Degraded || st.MemoryLines == 0 || st.DiskError == "" || !strings.Contains(st.DiskError, "no space") {
		t.Errorf("stats on a full disk = %+v, want degraded with lines in memory and the disk's error", st)
	}
	if st.Lines != 200 || st.Dropped != 3 {
		t.Errorf("stats = %+v, want 200 lines held and the 3 lost counted", st)
	}
	all, err := s.Read(1, 1000, 1<<30)
	if err != nil || len(all) != 200 || all[199].Seq != 200 {
		t.Fatalf("Read on a full disk = %d lines (%v), want 1..200", len(all), err)
	}
	// Acknowledgements still work, in memory and on disk.
	if n, err := s.Ack(1, 150); err != nil || n != 150 {
		t.Fatalf("Ack on a full disk = %d, %v", n, err)
	}
	if err := s.Retry(); err == nil {
		t.Errorf("Retry on a still full disk succeeded")
	}

	// Space returns: the next retry writes the memory out.
	disk.SetCapacity(0)
	if err := s.Retry(); err != nil {
		t.Fatalf("Retry once space returned: %v", err)
	}
	st = s.Stats()
	if st.Degraded || st.MemoryLines != 0 || st.Lines != 50 {
		t.Errorf("stats after recovery = %+v, want 50 lines on disk and none in memory", st)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := spool.Open(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	rest, _ := s2.Read(1, 1000, 1<<30)
	if len(rest) != 50 || rest[0].Seq != 151 || rest[0].Message != "line 151" {
		t.Errorf("after reopening: %d lines from %v, want 151..200", len(rest), seqs(rest[:min(1, len(rest))]))
	}
	st = s2.Stats()
	if st.NextSeq != 201 || st.Dropped != 3 || st.LastAckSeq != 150 {
		t.Errorf("stats after reopening = %+v", st)
	}
	if m, _ := s2.Mark("tail:/a"); string(m) != "2" {
		t.Errorf("mark after reopening = %q, want the one stored while the disk was full", m)
	}
}

func TestFullDiskDropsTheOldestBeyondTheMemoryBound(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	disk := spooltest.NewDiskFS(dir)
	s, err := spool.Open(dir, 1<<20, spool.WithFS(disk), spool.WithMemoryBytes(16<<10))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	disk.FailWrites(syscall.EROFS) // a read-only remount
	const n = 1000
	for i := 1; i <= n; i += 100 {
		if _, err := s.Append(bigLines(i, i+99), 0, nil); err != nil {
			t.Fatal(err)
		}
	}
	st := s.Stats()
	if st.MemoryBytes > 16<<10 || st.Dropped == 0 || st.Dropped+st.Lines != n {
		t.Errorf("stats = %+v, want memory within 16 KiB and dropped + held = %d", st, n)
	}
	held, _ := s.Read(1, n, 1<<30)
	if len(held) == 0 || held[len(held)-1].Seq != n || held[0].Seq != st.Dropped+1 {
		t.Errorf("held %d lines ending at %d, want the newest kept", len(held), held[len(held)-1].Seq)
	}
	disk.FailWrites(nil)
	if err := s.Retry(); err != nil {
		t.Fatalf("Retry: %v", err)
	}
	if st := s.Stats(); st.Degraded || st.Lines != uint64(len(held)) {
		t.Errorf("after recovery: %+v", st)
	}
}

func TestFullDiskFilledByTheSpoolEvictsToRecover(t *testing.T) {
	t.Parallel()
	// The spool's own lines fill a small disk: evicting the oldest of them
	// makes room for the newest.
	dir := t.TempDir()
	disk := spooltest.NewDiskFS(dir)
	disk.SetCapacity(256 << 10)
	s, err := spool.Open(dir, 1<<20, spool.WithFS(disk), spool.WithMemoryBytes(64<<10))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const n = 5000
	for i := 1; i <= n; i += 100 {
		if _, err := s.Append(bigLines(i, i+99), 0, nil); err != nil {
			t.Fatal(err)
		}
	}
	st := s.Stats()
	if st.Dropped+st.Lines != n || st.Lines == 0 {
		t.Errorf("stats = %+v, want dropped + held = %d", st, n)
	}
	held, _ := s.Read(1, n, 1<<30)
	if len(held) == 0 || held[len(held)-1].Seq != n {
		t.Errorf("the newest line is not held")
	}
	if used := disk.Used(); used > 256<<10 {
		t.Errorf("used %d bytes of a 256 KiB disk", used)
	}
}

func TestTornWriteAtTheEndIsCutOff(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := open(t, dir, 1<<20)
	s.Append(lines(1, 10), 0, nil)
	s.Close()
	segs, _ := filepath.Glob(filepath.Join(dir, "seg-*.log"))
	slices.Sort(segs)
	f, err := os.OpenFile(segs[len(segs)-1], os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte{0, 0, 1, 0, 9, 9}) // the start of a record, cut short
	f.Close()

	s = open(t, dir, 1<<20)
	defer s.Close()
	if got, _ := s.Read(1, 100, 1<<20); len(got) != 10 {
		t.Errorf("read %d lines after a torn write, want 10", len(got))
	}
	if got, _ := s.Append(lines(11, 11), 0, nil); got[0].Seq != 11 {
		t.Errorf("next seq = %d, want 11", got[0].Seq)
	}
}

func TestCorruptSegmentNumberingContinues(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := open(t, dir, 1<<20)
	s.Append(lines(1, 10), 0, nil)
	s.Close()
	s = open(t, dir, 1<<20) // a newer segment follows the lines
	s.Close()
	// A bit flips in the middle of the lines.
	segs, _ := filepath.Glob(filepath.Join(dir, "seg-*.log"))
	slices.Sort(segs)
	for _, seg := range segs {
		data, _ := os.ReadFile(seg)
		if len(data) > 400 {
			data[len(data)/2] ^= 0xff
			os.WriteFile(seg, data, 0o600)
		}
	}
	s = open(t, dir, 1<<20)
	defer s.Close()
	if s.Recovered() == "" {
		t.Errorf("Recovered is empty after corruption")
	}
	got, err := s.Append(lines(1, 1), 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got[0].Seq <= 10 {
		t.Errorf("seq after corruption = %d, want above 10 (never reused)", got[0].Seq)
	}
}

func TestMigratesTheBboltSpool(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db, err := bolt.Open(filepath.Join(dir, "spool.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	u := func(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }
	err = db.Update(func(tx *bolt.Tx) error {
		lb, _ := tx.CreateBucket([]byte("lines"))
		mb, _ := tx.CreateBucket([]byte("meta"))
		kb, _ := tx.CreateBucket([]byte("marks"))
		for _, seq := range []uint64{5, 6, 8} { // 7 was acknowledged out of order
			lb.Put(u(seq), []byte(fmt.Sprintf(`{"seq":%d,"ts":"2024-05-01T10:00:00Z","level":"info","msg":"old %d"}`, seq, seq)))
		}
		mb.Put([]byte("next_seq"), u(9))
		mb.Put([]byte("dropped"), u(2))
		mb.Put([]byte("last_ack"), u(7))
		kb.Put([]byte("tail:/x"), []byte(`{"offset":3}`))
		return nil
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "seq.hwm"), []byte("65545\n"), 0o600)

	s := open(t, dir, 1<<20)
	defer s.Close()
	got, _ := s.Read(1, 100, 1<<20)
	if fmt.Sprint(seqs(got)) != "[5 6 8]" || got[2].Message != "old 8" {
		t.Errorf("migrated lines %v", seqs(got))
	}
	st := s.Stats()
	if st.Lines != 3 || st.Dropped != 2 || st.LastAckSeq != 7 || st.NextSeq != 65545 {
		t.Errorf("migrated stats = %+v", st)
	}
	if m, _ := s.Mark("tail:/x"); string(m) != `{"offset":3}` {
		t.Errorf("migrated mark = %q", m)
	}
	if _, err := os.Stat(filepath.Join(dir, "spool.db")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("spool.db still there after migration: %v", err)
	}
}
