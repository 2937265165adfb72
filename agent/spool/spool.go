package spool

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/edgesync/edgesync/agent/atomicfile"
	"github.com/edgesync/edgesync/protocol"
)

// FileName is the name of the database inside the spool directory.
const FileName = "spool.db"

// seqFileName holds a high-water mark above every sequence number ever
// assigned. It lets a spool whose database had to be set aside (corrupt)
// continue numbering instead of starting again at 1.
const seqFileName = "seq.hwm"

// seqReserve is how far ahead of the next sequence number the high-water
// mark is written, so the file is rewritten once per seqReserve lines.
const seqReserve = 1 << 16

// MinMaxBytes is the smallest accepted size bound.
const MinMaxBytes = 64 * 1024

// ErrLocked is returned by Open when another process holds the spool.
var ErrLocked = errors.New("spool is in use by another process")

var (
	bucketLines = []byte("lines")
	bucketMeta  = []byte("meta")
	bucketMarks = []byte("marks")

	keyNextSeq        = []byte("next_seq")
	keyDropped        = []byte("dropped")
	keyDroppedInvalid = []byte("dropped_invalid")
	keyLastAck        = []byte("last_ack")
	keyLines          = []byte("lines")
	keyBytes          = []byte("bytes")
)

// Stats describes the spool's content and counters.
type Stats struct {
	// Lines and Bytes are the unacknowledged lines held and their stored size.
	Lines uint64
	Bytes int64
	// FirstSeq is the lowest sequence number held, 0 when empty.
	FirstSeq uint64
	// NextSeq is the sequence number the next appended line gets.
	NextSeq uint64
	// LastAckSeq is the highest sequence number acknowledged so far.
	LastAckSeq uint64
	// Dropped counts lines evicted because the spool was full.
	Dropped uint64
	// DroppedInvalid counts lines the server rejected as invalid for good.
	DroppedInvalid uint64
}

// Spool is an on-disk, size-bounded queue of log lines keyed by sequence
// number. It is safe for concurrent use.
type Spool struct {
	dir string
	db  *bolt.DB

	mu       sync.Mutex
	stats    Stats
	maxBytes int64
	hwm      uint64 // persisted high-water mark (seq.hwm)

	recovered string
}

// Open opens (creating if needed) the spool in dir, bounded to maxBytes of
// stored lines. A database that cannot be read is renamed aside (to
// spool.db.corrupt-<unix time>) and a fresh one started, numbering above
// every sequence number handed out before; Recovered then says so.
func Open(dir string, maxBytes int64) (*Spool, error) {
	if maxBytes < MinMaxBytes {
		return nil, fmt.Errorf("open spool %s: max bytes %d is below the minimum %d", dir, maxBytes, MinMaxBytes)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("open spool: create %s: %w", dir, err)
	}
	hwm, err := readHWM(dir)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, FileName)
	db, err := openDB(path)
	recovered := ""
	if isCorrupt(err) {
		aside := fmt.Sprintf("%s.corrupt-%d", path, time.Now().Unix())
		if rerr := os.Rename(path, aside); rerr != nil {
			return nil, fmt.Errorf("%w (and moving it aside failed: %v)", err, rerr)
		}
		recovered = fmt.Sprintf("spool %s was unreadable (%v); moved it to %s and started a new one", path, err, aside)
		db, err = openDB(path)
	}
	if err != nil {
		return nil, err
	}
	s := &Spool{dir: dir, db: db, maxBytes: maxBytes, hwm: hwm, recovered: recovered}
	if err := s.load(); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// Recovered describes the unreadable database Open set aside, or is empty.
func (s *Spool) Recovered() string { return s.recovered }

// isCorrupt reports whether err says the database file is unreadable
// (rather than locked, inaccessible or on a full disk).
func isCorrupt(err error) bool {
	return errors.Is(err, bolt.ErrInvalid) || errors.Is(err, bolt.ErrChecksum) || errors.Is(err, bolt.ErrVersionMismatch)
}

func openDB(path string) (*bolt.DB, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, fmt.Errorf("open spool %s: %w", path, ErrLocked)
	}
	if err != nil {
		return nil, fmt.Errorf("open spool %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketLines, bucketMeta, bucketMarks} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open spool %s: create buckets: %w", path, err)
	}
	return db, nil
}

func (s *Spool) load() error {
	return s.db.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		st := Stats{
			NextSeq:        getUint(meta, keyNextSeq),
			Dropped:        getUint(meta, keyDropped),
			DroppedInvalid: getUint(meta, keyDroppedInvalid),
			LastAckSeq:     getUint(meta, keyLastAck),
			Lines:          getUint(meta, keyLines),
			Bytes:          int64(getUint(meta, keyBytes)),
		}
		if st.NextSeq == 0 {
			st.NextSeq = max(1, s.hwm)
		}
		if k, _ := tx.Bucket(bucketLines).Cursor().First(); k != nil {
			st.FirstSeq = decodeSeq(k)
		}
		s.stats = st
		return nil
	})
}

// Close closes the database.
func (s *Spool) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close spool %s: %w", s.dir, err)
	}
	return nil
}

// Stats returns the current counters.
func (s *Spool) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// SetMaxBytes changes the size bound, evicting the oldest lines at once if
// the spool is now over it.
func (s *Spool) SetMaxBytes(n int64) error {
	if n < MinMaxBytes {
		return fmt.Errorf("spool max bytes %d is below the minimum %d", n, MinMaxBytes)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.maxBytes = n
	if s.stats.Bytes <= n {
		return nil
	}
	return s.update(func(tx *bolt.Tx, st *Stats) error {
		return s.evict(tx, st)
	})
}

// update runs fn in a write transaction on a copy of the stats, which
// replace the current ones only if the transaction commits. s.mu is held.
func (s *Spool) update(fn func(tx *bolt.Tx, st *Stats) error) error {
	st := s.stats
	err := s.db.Update(func(tx *bolt.Tx) error {
		if err := fn(tx, &st); err != nil {
			return err
		}
		if k, _ := tx.Bucket(bucketLines).Cursor().First(); k != nil {
			st.FirstSeq = decodeSeq(k)
		} else {
			st.FirstSeq = 0
		}
		meta := tx.Bucket(bucketMeta)
		for _, kv := range []struct {
			k []byte
			v uint64
		}{
			{keyNextSeq, st.NextSeq},
			{keyDropped, st.Dropped},
			{keyDroppedInvalid, st.DroppedInvalid},
			{keyLastAck, st.LastAckSeq},
			{keyLines, st.Lines},
			{keyBytes, uint64(st.Bytes)},
		} {
			if err := meta.Put(kv.k, encodeUint(kv.v)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.stats = st
	return nil
}

// evict deletes the oldest lines until the spool is within its bound.
func (s *Spool) evict(tx *bolt.Tx, st *Stats) error {
	if st.Bytes <= s.maxBytes {
		return nil
	}
	b := tx.Bucket(bucketLines)
	var doomed [][]byte
	bytes := st.Bytes
	c := b.Cursor()
	for k, v := c.First(); k != nil && bytes > s.maxBytes; k, v = c.Next() {
		doomed = append(doomed, k)
		bytes -= int64(len(k) + len(v))
	}
	for _, k := range doomed {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	st.Bytes = bytes
	st.Lines -= uint64(len(doomed))
	st.Dropped += uint64(len(doomed))
	return nil
}

// Append stores entries in order, assigning each the next sequence number,
// and returns them with Seq set. lost adds to the dropped counter (lines the
// caller had to discard before they reached the spool). marks are stored in
// the same transaction (see Mark). If the spool goes over its bound, the
// oldest lines are evicted and counted as dropped.
func (s *Spool) Append(entries []protocol.LogEntry, lost uint64, marks map[string][]byte) ([]protocol.LogEntry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	need := s.stats.NextSeq + uint64(len(entries))
	if need >= s.hwm {
		if err := writeHWM(s.dir, need+seqReserve); err != nil {
			return nil, err
		}
		s.hwm = need + seqReserve
	}
	out := make([]protocol.LogEntry, len(entries))
	err := s.update(func(tx *bolt.Tx, st *Stats) error {
		b := tx.Bucket(bucketLines)
		for i, e := range entries {
			e.Seq = st.NextSeq
			v, err := json.Marshal(e)
			if err != nil {
				return fmt.Errorf("encode line: %w", err)
			}
			k := encodeSeq(e.Seq)
			if err := b.Put(k, v); err != nil {
				return err
			}
			st.NextSeq++
			st.Lines++
			st.Bytes += int64(len(k) + len(v))
			out[i] = e
		}
		st.Dropped += lost
		mb := tx.Bucket(bucketMarks)
		for name, v := range marks {
			if err := mb.Put([]byte(name), v); err != nil {
				return err
			}
		}
		return s.evict(tx, st)
	})
	if err != nil {
		return nil, fmt.Errorf("append %d lines to spool: %w", len(entries), err)
	}
	return out, nil
}

// Read returns the stored lines with first <= Seq <= last, in order,
// stopping once their stored size reaches maxBytes (at least one line is
// returned if any is in range).
func (s *Spool) Read(first, last uint64, maxBytes int) ([]protocol.LogEntry, error) {
	var out []protocol.LogEntry
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketLines).Cursor()
		size := 0
		for k, v := c.Seek(encodeSeq(first)); k != nil && decodeSeq(k) <= last; k, v = c.Next() {
			var e protocol.LogEntry
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("decode line %d: %w", decodeSeq(k), err)
			}
			out = append(out, e)
			size += len(v)
			if size >= maxBytes {
				break
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read spool lines %d..%d: %w", first, last, err)
	}
	return out, nil
}

// Ack removes the lines first..last (those still held) as acknowledged and
// returns how many it removed.
func (s *Spool) Ack(first, last uint64) (int, error) {
	return s.remove(first, last, func(st *Stats, n int) {
		st.LastAckSeq = max(st.LastAckSeq, last)
	})
}

// DropInvalid removes the lines first..last (those still held) because the
// server rejected them for good, counting them in DroppedInvalid.
func (s *Spool) DropInvalid(first, last uint64) (int, error) {
	return s.remove(first, last, func(st *Stats, n int) {
		st.DroppedInvalid += uint64(n)
	})
}

func (s *Spool) remove(first, last uint64, count func(*Stats, int)) (int, error) {
	if last < first {
		return 0, fmt.Errorf("remove lines %d..%d: range is reversed", first, last)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	err := s.update(func(tx *bolt.Tx, st *Stats) error {
		b := tx.Bucket(bucketLines)
		c := b.Cursor()
		var doomed [][]byte
		var bytes int64
		for k, v := c.Seek(encodeSeq(first)); k != nil && decodeSeq(k) <= last; k, v = c.Next() {
			doomed = append(doomed, k)
			bytes += int64(len(k) + len(v))
		}
		for _, k := range doomed {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		n = len(doomed)
		st.Lines -= uint64(n)
		st.Bytes -= bytes
		count(st, n)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("remove lines %d..%d from spool: %w", first, last, err)
	}
	return n, nil
}

// Mark returns the value stored under name by Append, or nil.
func (s *Spool) Mark(name string) ([]byte, error) {
	var out []byte
	err := s.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketMarks).Get([]byte(name)); v != nil {
			out = append([]byte(nil), v...)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read spool mark %q: %w", name, err)
	}
	return out, nil
}

func encodeSeq(seq uint64) []byte {
	k := make([]byte, 8)
	binary.BigEndian.PutUint64(k, seq)
	return k
}

func decodeSeq(k []byte) uint64 { return binary.BigEndian.Uint64(k) }

func encodeUint(v uint64) []byte { return encodeSeq(v) }

func getUint(b *bolt.Bucket, k []byte) uint64 {
	v := b.Get(k)
	if len(v) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(v)
}

func readHWM(dir string) (uint64, error) {
	data, err := os.ReadFile(filepath.Join(dir, seqFileName))
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read sequence high-water mark: %w", err)
	}
	v, err := strconv.ParseUint(strings.TrimSpace(string(data)), 10, 64)
	if err != nil {
		// A torn write; the database still has the authoritative next_seq.
		return 0, nil
	}
	return v, nil
}

func writeHWM(dir string, v uint64) error {
	if err := atomicfile.Write(filepath.Join(dir, seqFileName), []byte(strconv.FormatUint(v, 10)+"\n"), 0o600); err != nil {
		return fmt.Errorf("write sequence high-water mark: %w", err)
	}
	return nil
}
