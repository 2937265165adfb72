package spool

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/edgesync/edgesync/protocol"
)

// MinMaxBytes is the smallest accepted size bound.
const MinMaxBytes = 64 * 1024

// DefaultMemoryBytes bounds the lines kept in memory while the disk refuses
// writes (see Stats.Degraded).
const DefaultMemoryBytes = 4 << 20

// ChunkBytes bounds one write to the disk: Append writes larger batches in
// pieces of at most this size, making room (evicting) before each.
const ChunkBytes = 256 << 10

// RetryEvery is how often a degraded spool tries the disk again on its own
// (Append and Ack try at most this often; Retry tries at once).
const RetryEvery = time.Second

const (
	segPrefix   = "seg-"
	segSuffix   = ".log"
	lockName    = "lock"
	reserveName = "reserve"
	// reserveBytes is kept allocated on disk (the file "reserve") and
	// given up when the disk is full, so that the spool can still record
	// that lines are being kept in memory (see recVolatile).
	reserveBytes = 16 << 10
	// indexEvery: one in this many lines of a segment has its offset kept
	// in memory, so reads seek close to the line they want.
	indexEvery = 64
	// volatileSpan is how many sequence numbers a volatile record covers.
	volatileSpan = 1 << 20
	// corruptSkip is how far numbering jumps after unreadable data, in
	// case that data held higher sequence numbers.
	corruptSkip = 1 << 20
	// Legacy files of the bbolt spool, migrated by Open.
	legacyDB  = "spool.db"
	legacyHWM = "seq.hwm"
)

// ErrLocked is returned by Open when another process holds the spool.
var ErrLocked = errors.New("spool is in use by another process")

// Stats describes the spool's content and counters.
type Stats struct {
	// Lines is how many unacknowledged lines are held, on disk or in memory.
	Lines uint64
	// Bytes is the size of the spool's files on disk, what the bound limits.
	Bytes int64
	// FirstSeq is the lowest sequence number held, 0 when empty.
	FirstSeq uint64
	// NextSeq is the sequence number the next appended line gets.
	NextSeq uint64
	// LastAckSeq is the highest sequence number acknowledged so far.
	LastAckSeq uint64
	// Dropped counts lines lost before delivery: evicted because the
	// spool was full, lost by the caller (Append's lost), or pushed out of
	// memory while the disk refused writes.
	Dropped uint64
	// DroppedInvalid counts lines the server rejected as invalid for good.
	DroppedInvalid uint64
	// Degraded is true while the disk refuses writes (full, read-only, an
	// I/O error): new lines are then kept in memory (MemoryLines,
	// MemoryBytes, bounded by WithMemoryBytes) and written out as soon as
	// a write succeeds again. DegradedSince and DiskError say since when
	// and why.
	Degraded      bool
	DegradedSince time.Time
	DiskError     string
	MemoryLines   uint64
	MemoryBytes   int64
}

// Option configures a Spool.
type Option func(*Spool)

// WithFS sets the filesystem (default OS).
func WithFS(fs FS) Option { return func(s *Spool) { s.fs = fs } }

// WithMemoryBytes bounds the lines kept in memory while the disk refuses
// writes (default DefaultMemoryBytes, at most the spool's bound).
func WithMemoryBytes(n int64) Option { return func(s *Spool) { s.memMax = n } }

// Spool is an on-disk, size-bounded queue of log lines keyed by sequence
// number. It is safe for concurrent use.
type Spool struct {
	dir  string
	fs   FS
	lock *os.File
	now  func() time.Time

	mu       sync.Mutex
	maxBytes int64
	memMax   int64
	segs     []*segment // oldest first
	active   File       // appends go to segs[len(segs)-1]; nil if none could be started
	// volatileLimit, while degraded, is the sequence number a durable
	// volatile record covers up to (excluded): no line held only in memory
	// is numbered at or beyond it. volatileSpan is how far a record reaches.
	volatileLimit, volatileSpan uint64
	readers                     map[uint64]File
	nextID                      uint64
	closed                      bool

	next, lastAck, dropped, droppedInvalid uint64
	removed                                rangeSet // sequence numbers no longer held
	marks                                  map[string][]byte
	lines                                  uint64
	firstSeq                               uint64
	diskBytes                              int64 // segment files
	reserveOK                              bool

	mem           []memLine // lines held in memory only, by seq
	memBytes      int64
	degraded      bool
	degradedSince time.Time
	diskErr       error
	lastTry       time.Time

	recovered []string
}

// segment is one file of records; its lines have sequence numbers
// first..last (gaps being in Spool.removed).
type segment struct {
	id          uint64
	size        int64 // bytes of valid records
	first, last uint64
	index       []indexEntry
}

type indexEntry struct {
	seq uint64
	off int64
}

func (g *segment) count() uint64 {
	if g.first == 0 {
		return 0
	}
	return g.last - g.first + 1
}

// memLine is a line held in memory: its seq and JSON.
type memLine struct {
	seq uint64
	raw []byte
}

// checkpoint is the state at the start of a segment.
type checkpoint struct {
	NextSeq        uint64            `json:"next_seq"`
	LastAck        uint64            `json:"last_ack,omitempty"`
	Dropped        uint64            `json:"dropped,omitempty"`
	DroppedInvalid uint64            `json:"dropped_invalid,omitempty"`
	Marks          map[string][]byte `json:"marks,omitempty"`
	Removed        [][2]uint64       `json:"removed,omitempty"`
}

// Open opens (creating if needed) the spool in dir, bounded to maxBytes on
// disk. Data that cannot be read (a torn write at the end of the newest
// file after a crash, or corruption) is cut off; Recovered then says so,
// and after corruption numbering jumps ahead so that no sequence number
// handed out before is reused. A bbolt spool of an earlier version
// (spool.db) is migrated.
func Open(dir string, maxBytes int64, opts ...Option) (*Spool, error) {
	if maxBytes < MinMaxBytes {
		return nil, fmt.Errorf("open spool %s: max bytes %d is below the minimum %d", dir, maxBytes, MinMaxBytes)
	}
	s := &Spool{dir: dir, fs: OS, now: time.Now, maxBytes: maxBytes, memMax: DefaultMemoryBytes, volatileSpan: volatileSpan,
		readers: map[uint64]File{}, marks: map[string][]byte{}, next: 1}
	for _, o := range opts {
		o(s)
	}
	if err := s.fs.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("open spool: create %s: %w", dir, err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, lockName), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open spool %s: %w", dir, err)
	}
	if ok, err := lockFile(lock); !ok {
		lock.Close()
		if err != nil {
			return nil, fmt.Errorf("open spool %s: lock: %w", dir, err)
		}
		return nil, fmt.Errorf("open spool %s: %w", dir, ErrLocked)
	}
	s.lock = lock
	if err := s.load(); err != nil {
		s.closeFiles()
		return nil, err
	}
	return s, nil
}

func (s *Spool) path(name string) string { return filepath.Join(s.dir, name) }

func segName(id uint64) string { return fmt.Sprintf("%s%016x%s", segPrefix, id, segSuffix) }

func (s *Spool) budget() int64 { return s.maxBytes - reserveBytes }

func (s *Spool) segTarget() int64 { return min(max(s.maxBytes/16, 16<<10), 4<<20) }

// load reads the segments, migrates a legacy spool, and starts a new
// segment for this run.
func (s *Spool) load() error {
	entries, err := s.fs.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("open spool %s: %w", s.dir, err)
	}
	var ids []uint64
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, segPrefix) || !strings.HasSuffix(name, segSuffix) {
			continue
		}
		id, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(name, segPrefix), segSuffix), 16, 64)
		if err == nil {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	var pending []memLine // lines to write into the first segment (migration)
	if len(ids) == 0 {
		if pending, err = s.migrate(); err != nil {
			return err
		}
	}
	volatile := uint64(0)
	corrupt := false
	evicted := map[uint64]bool{}
	for i, id := range ids {
		seg, v, bad, err := s.replay(id, i == len(ids)-1, evicted)
		if err != nil {
			return err
		}
		if v != 0 {
			volatile = v
		}
		corrupt = corrupt || bad
		s.nextID = id + 1
		if seg.size == 0 {
			s.fs.Remove(s.path(segName(id)))
			continue
		}
		s.segs = append(s.segs, seg)
	}
	s.segs = slices.DeleteFunc(s.segs, func(g *segment) bool {
		if evicted[g.id] {
			s.fs.Remove(s.path(segName(g.id))) // an eviction cut short by a crash
			return true
		}
		return false
	})
	s.next = max(s.next, volatile)
	if corrupt {
		s.next += corruptSkip
	}
	s.recount()
	s.reserveOK = s.ensureReserve() == nil
	if err := s.roll(pending); err != nil {
		if len(pending) > 0 {
			return fmt.Errorf("open spool %s: migrate: %w", s.dir, err)
		}
		s.enterDegraded(err)
	} else {
		s.removeLegacy()
		s.deleteEmpty()
	}
	s.recount()
	return nil
}

// replay reads one segment into the state. The last segment's cut-off
// tail is truncated away.
func (s *Spool) replay(id uint64, last bool, evicted map[uint64]bool) (seg *segment, volatile uint64, corrupt bool, err error) {
	name := s.path(segName(id))
	f, err := s.fs.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		return nil, 0, false, fmt.Errorf("open spool segment %s: %w", name, err)
	}
	defer f.Close()
	seg = &segment{id: id}
	rr := newRecordReader(io.NewSectionReader(f, 0, 1<<62), 0)
	for {
		off, kind, p, err := rr.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if !errors.Is(err, errBadRecord) {
				return nil, 0, false, fmt.Errorf("read spool segment %s: %w", name, err)
			}
			fi, _ := f.Stat()
			// A power loss tears at most the writes since the last sync
			// (one Append, and acknowledgements): a bad record near the
			// end of the newest segment is such a tear, whose lines no
			// one was told about. Anywhere else it is corruption.
			if last && fi != nil && fi.Size()-off <= 2*ChunkBytes {
				if fi != nil && fi.Size() > off {
					s.recovered = append(s.recovered, fmt.Sprintf("spool %s: discarded %d bytes of an unfinished write at its end (a crash during a write)", name, fi.Size()-off))
				}
			} else {
				corrupt = true
				s.recovered = append(s.recovered, fmt.Sprintf("spool %s: unreadable from offset %d (%v); kept what came before and continued numbering above every sequence number handed out", name, off, err))
			}
			if terr := f.Truncate(off); terr != nil && last {
				return nil, 0, false, fmt.Errorf("truncate spool segment %s: %w", name, terr)
			}
			break
		}
		seg.size = rr.off
		if !s.apply(seg, off, kind, p, evicted, &volatile) {
			corrupt = true
			s.recovered = append(s.recovered, fmt.Sprintf("spool %s: record of kind %d at offset %d is malformed; skipped it", name, kind, off))
		}
	}
	return seg, volatile, corrupt, nil
}

// apply replays one record; false means it was malformed.
func (s *Spool) apply(seg *segment, off int64, kind byte, p []byte, evicted map[uint64]bool, volatile *uint64) bool {
	switch kind {
	case recCheckpoint:
		var c checkpoint
		if json.Unmarshal(p, &c) != nil {
			return false
		}
		s.next, s.lastAck, s.dropped, s.droppedInvalid = max(c.NextSeq, 1), c.LastAck, c.Dropped, c.DroppedInvalid
		s.marks = c.Marks
		if s.marks == nil {
			s.marks = map[string][]byte{}
		}
		s.removed = nil
		for _, r := range c.Removed {
			s.removed.add(r[0], r[1])
		}
		*volatile = 0
	case recLine:
		if len(p) < 8 {
			return false
		}
		seq := binary.BigEndian.Uint64(p)
		if seg.first == 0 {
			seg.first = seq
		} else if seq != seg.last+1 {
			if seq <= seg.last {
				return false
			}
			s.removed.add(seg.last+1, seq-1)
		}
		if seg.count()%indexEvery == 0 {
			seg.index = append(seg.index, indexEntry{seq, off})
		}
		seg.last = seq
		s.next = max(s.next, seq+1)
	case recRemove:
		if len(p) != 25 {
			return false
		}
		first, last, n := binary.BigEndian.Uint64(p[1:]), binary.BigEndian.Uint64(p[9:]), binary.BigEndian.Uint64(p[17:])
		s.removed.add(first, last)
		if p[0] == removeAck {
			s.lastAck = max(s.lastAck, last)
		} else {
			s.droppedInvalid += n
		}
	case recLost:
		if len(p) != 8 {
			return false
		}
		s.dropped += binary.BigEndian.Uint64(p)
	case recMark:
		if len(p) < 2 || len(p) < 2+int(binary.BigEndian.Uint16(p)) {
			return false
		}
		n := int(binary.BigEndian.Uint16(p))
		s.marks[string(p[2:2+n])] = slices.Clone(p[2+n:])
	case recEvict:
		if len(p) != 16 {
			return false
		}
		evicted[binary.BigEndian.Uint64(p)] = true
		s.dropped += binary.BigEndian.Uint64(p[8:])
	case recVolatile:
		if len(p) != 8 {
			return false
		}
		*volatile = max(*volatile, binary.BigEndian.Uint64(p))
	default:
		return false
	}
	return true
}

// Recovered describes data Open had to discard, or is empty.
func (s *Spool) Recovered() string { return strings.Join(s.recovered, "; ") }

// ensureReserve makes sure the reserve file exists at its full size.
func (s *Spool) ensureReserve() error {
	name := s.path(reserveName)
	f, err := s.fs.OpenFile(name, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() == reserveBytes {
		return nil
	}
	if err := f.Truncate(0); err != nil {
		return err
	}
	if _, err := f.Write(make([]byte, reserveBytes)); err != nil {
		f.Truncate(0)
		return err
	}
	return f.Sync()
}

// liveIn returns how many lines of g are still held.
func (s *Spool) liveIn(g *segment) uint64 {
	if g.first == 0 {
		return 0
	}
	return g.count() - s.removed.count(g.first, g.last)
}

// recount recomputes the derived counters.
func (s *Spool) recount() {
	s.lines, s.diskBytes, s.firstSeq = 0, 0, 0
	for _, g := range s.segs {
		s.diskBytes += g.size
		n := s.liveIn(g)
		s.lines += n
		if s.firstSeq == 0 && n > 0 {
			s.firstSeq = s.removed.firstOutside(g.first, g.last)
		}
	}
	s.memBytes = 0
	for _, m := range s.mem {
		s.memBytes += int64(len(m.raw))
	}
	s.lines += uint64(len(s.mem))
	if s.firstSeq == 0 && len(s.mem) > 0 {
		s.firstSeq = s.mem[0].seq
	}
}

// Close writes lines kept in memory out if it can, and closes the files.
// It reports lines held in memory that the disk still refused.
func (s *Spool) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	var err error
	if s.degraded && !s.recover(true) && len(s.mem) > 0 {
		err = fmt.Errorf("close spool %s: %d lines held in memory could not be written (%v); their sequence numbers are not reused", s.dir, len(s.mem), s.diskErr)
	}
	if s.active != nil && err == nil {
		if serr := s.active.Sync(); serr != nil && !s.degraded {
			err = fmt.Errorf("close spool %s: %w", s.dir, serr)
		}
	}
	s.closeFiles()
	return err
}

func (s *Spool) closeFiles() {
	if s.active != nil {
		s.active.Close()
		s.active = nil
	}
	for id, f := range s.readers {
		f.Close()
		delete(s.readers, id)
	}
	if s.lock != nil {
		s.lock.Close()
		s.lock = nil
	}
}

// Stats returns the current counters.
func (s *Spool) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Stats{
		Lines: s.lines, Bytes: s.diskBytes, FirstSeq: s.firstSeq, NextSeq: s.next, LastAckSeq: s.lastAck,
		Dropped: s.dropped, DroppedInvalid: s.droppedInvalid,
		Degraded: s.degraded, DegradedSince: s.degradedSince,
		MemoryLines: uint64(len(s.mem)), MemoryBytes: s.memBytes,
	}
	if s.reserveOK {
		st.Bytes += reserveBytes
	}
	if s.diskErr != nil {
		st.DiskError = s.diskErr.Error()
	}
	return st
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
	err := s.makeRoom(0)
	s.recount()
	return err
}

// Append stores entries in order, assigning each the next sequence number,
// and returns them with Seq set. lost adds to the dropped counter (lines the
// caller had to discard before they reached the spool). marks are stored
// with the lines (see Mark). If the spool goes over its bound, the oldest
// lines are evicted and counted as dropped.
//
// Lines are written in pieces of at most ChunkBytes, then synced. If the
// disk refuses a write, Append does not fail: the spool becomes Degraded
// and keeps the lines in memory until the disk takes writes again.
func (s *Spool) Append(entries []protocol.LogEntry, lost uint64, marks map[string][]byte) ([]protocol.LogEntry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, fmt.Errorf("append to spool %s: closed", s.dir)
	}
	defer s.recount()
	if s.degraded {
		s.recover(false)
	}
	raws := make([][]byte, len(entries))
	for i, e := range entries {
		e.Seq = 0
		raw, err := json.Marshal(e)
		if err != nil {
			return nil, fmt.Errorf("append to spool: encode line: %w", err)
		}
		raws[i] = raw
	}
	out := make([]protocol.LogEntry, 0, len(entries))
	take := func(k int, g *segment) {
		e := entries[k]
		e.Seq = s.next
		s.next++
		if g != nil {
			if g.first == 0 {
				g.first = e.Seq
			}
			g.last = e.Seq
		}
		out = append(out, e)
	}
	i, wrote, metaDone := 0, false, false
	for !s.degraded && !metaDone {
		// One piece: lines up to ChunkBytes, and after the last line the
		// counters and marks.
		var buf []byte
		first, seq := i, s.next
		for i < len(entries) && (i == first || len(buf)+len(raws[i]) < ChunkBytes) {
			buf = appendRecord(buf, recLine, u64(seq), raws[i])
			seq, i = seq+1, i+1
		}
		last := i == len(entries)
		if last {
			buf = s.appendMeta(buf, lost, marks)
		}
		if len(buf) == 0 {
			break
		}
		if err := s.write(buf); err != nil {
			s.enterDegraded(err)
			i = first
			break
		}
		wrote = true
		g := s.segs[len(s.segs)-1]
		g.index = append(g.index, reindex(buf, g.size-int64(len(buf)), g.count())...)
		for k := first; k < i; k++ {
			take(k, g)
		}
		if last {
			s.dropped += lost
			for k, v := range marks {
				s.marks[k] = slices.Clone(v)
			}
			metaDone = true
		}
	}
	if wrote {
		if err := s.active.Sync(); err != nil {
			s.enterDegraded(fmt.Errorf("sync spool %s: %w", s.dir, err))
		}
	}
	if metaDone {
		return out, nil
	}
	// The disk refused: the rest is held in memory. A durable volatile
	// record covers the numbers it hands out, renewed as they run out (at
	// most one try per Append). A disk that takes no write at all (a
	// read-only remount) leaves none: the lines are still numbered and
	// delivered from memory, and only a crash before the disk comes back
	// could reuse their numbers.
	tried := false
	for ; i < len(entries); i++ {
		if s.next >= s.volatileLimit && !tried {
			tried = true
			s.extendVolatile()
		}
		take(i, nil)
		s.mem = append(s.mem, memLine{seq: s.next - 1, raw: raws[i]})
		s.memBytes += int64(len(raws[i]))
		s.lines++
	}
	s.dropped += lost
	for k, v := range marks {
		s.marks[k] = slices.Clone(v)
	}
	s.boundMemory()
	return out, nil
}

// reindex computes the index entries of the line records in buf, written
// at offset base of a segment that held count lines before.
func reindex(buf []byte, base int64, count uint64) []indexEntry {
	var idx []indexEntry
	for off := 0; off+recordHeader < len(buf); {
		n := int(binary.BigEndian.Uint32(buf[off:]))
		if buf[off+recordHeader] == recLine {
			if count%indexEvery == 0 {
				idx = append(idx, indexEntry{binary.BigEndian.Uint64(buf[off+recordHeader+1:]), base + int64(off)})
			}
			count++
		}
		off += recordHeader + n
	}
	return idx
}

// appendMeta appends the records of lost lines and marks to buf.
func (s *Spool) appendMeta(buf []byte, lost uint64, marks map[string][]byte) []byte {
	if lost > 0 {
		buf = appendRecord(buf, recLost, u64(lost))
	}
	names := make([]string, 0, len(marks))
	for k := range marks {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		var n [2]byte
		binary.BigEndian.PutUint16(n[:], uint16(len(k)))
		buf = appendRecord(buf, recMark, n[:], []byte(k), marks[k])
	}
	return buf
}

// write appends buf to the active segment, first starting a new segment
// if the active one is full and evicting the oldest to stay in bounds. On
// error nothing of buf remains in the file.
func (s *Spool) write(buf []byte) error {
	if s.active == nil {
		return errors.New("no segment open for writing")
	}
	if g := s.segs[len(s.segs)-1]; g.size >= s.segTarget() {
		if err := s.roll(nil); err != nil {
			return err
		}
	}
	if err := s.makeRoom(int64(len(buf))); err != nil {
		return err
	}
	return s.appendRaw(buf)
}

// appendRaw appends buf to the active segment as it is.
func (s *Spool) appendRaw(buf []byte) error {
	g := s.segs[len(s.segs)-1]
	if _, err := s.active.Write(buf); err != nil {
		s.active.Truncate(g.size) // undo a partial write (needs no space)
		return fmt.Errorf("write spool %s: %w", s.dir, err)
	}
	g.size += int64(len(buf))
	s.diskBytes += int64(len(buf))
	return nil
}

// makeRoom evicts the oldest segments until need more bytes fit in the
// bound. A full active segment is closed (a new one started) so that it
// can be evicted too.
func (s *Spool) makeRoom(need int64) error {
	for s.diskBytes+need > s.budget() && len(s.segs) > 0 {
		if len(s.segs) < 2 {
			g := s.segs[len(s.segs)-1]
			if s.active == nil || g.count() == 0 {
				return nil // nothing to evict: the write goes over
			}
			if err := s.roll(nil); err != nil {
				return err
			}
			continue
		}
		s.evict(s.segs[0])
	}
	return nil
}

// evict deletes segment g (never the newest), counting its lines as
// dropped.
func (s *Spool) evict(g *segment) {
	n := s.liveIn(g)
	if s.active != nil && !s.degraded {
		if err := s.appendRaw(appendRecord(nil, recEvict, u64s(g.id, n))); err != nil {
			s.enterDegraded(err)
		}
	}
	s.dropped += n
	s.lines -= n
	s.removeSegment(g)
}

func (s *Spool) removeSegment(g *segment) {
	if f, ok := s.readers[g.id]; ok {
		f.Close()
		delete(s.readers, g.id)
	}
	s.fs.Remove(s.path(segName(g.id)))
	s.diskBytes -= g.size
	s.segs = slices.DeleteFunc(s.segs, func(x *segment) bool { return x == g })
}

// deleteEmpty deletes every segment but the newest whose lines are all
// gone (acknowledged, rejected or evicted).
func (s *Spool) deleteEmpty() {
	for i := 0; i < len(s.segs)-1; i++ {
		if g := s.segs[i]; s.liveIn(g) == 0 {
			s.removeSegment(g)
			i--
		}
	}
}

// roll starts a new segment holding a checkpoint of the state and then
// lines (the memory's, or migrated ones), written and synced before the
// segment takes over; on error the new file is deleted and nothing
// changes.
func (s *Spool) roll(lines []memLine) error {
	id := s.nextID
	name := s.path(segName(id))
	g := &segment{id: id}
	// Gaps between the lines (acknowledged while in memory) are removed.
	removed := slices.Clone(s.removed)
	for i := 1; i < len(lines); i++ {
		if lines[i].seq > lines[i-1].seq+1 {
			removed.add(lines[i-1].seq+1, lines[i].seq-1)
		}
	}
	cp := checkpoint{NextSeq: s.next, LastAck: s.lastAck, Dropped: s.dropped, DroppedInvalid: s.droppedInvalid, Marks: s.marks}
	low := uint64(0)
	for _, x := range s.segs {
		if x.first != 0 && (low == 0 || x.first < low) {
			low = x.first
		}
	}
	if len(lines) > 0 && (low == 0 || lines[0].seq < low) {
		low = lines[0].seq
	}
	for _, r := range removed {
		if low != 0 && r.last >= low {
			cp.Removed = append(cp.Removed, [2]uint64{r.first, r.last})
		}
	}
	raw, err := json.Marshal(cp)
	if err != nil {
		return fmt.Errorf("encode spool checkpoint: %w", err)
	}
	var bufs [][]byte
	var off int64 // of cur in the file
	cur := appendRecord(nil, recCheckpoint, raw)
	for k, m := range lines {
		if len(cur) >= ChunkBytes {
			bufs = append(bufs, cur)
			off += int64(len(cur))
			cur = nil
		}
		if g.first == 0 {
			g.first = m.seq
		}
		if k%indexEvery == 0 {
			g.index = append(g.index, indexEntry{m.seq, off + int64(len(cur))})
		}
		cur = appendRecord(cur, recLine, u64(m.seq), m.raw)
		g.last = m.seq
	}
	bufs = append(bufs, cur)
	size := off + int64(len(cur))
	// The segment left behind may hold records not synced yet (the first
	// piece of an Append whose second piece rolls): they must be durable
	// before the new segment's checkpoint says they were written.
	if s.active != nil {
		if err := s.active.Sync(); err != nil {
			return fmt.Errorf("sync spool segment before starting %s: %w", name, err)
		}
	}
	f, err := s.fs.OpenFile(name, os.O_CREATE|os.O_EXCL|os.O_RDWR|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("start spool segment %s: %w", name, err)
	}
	fail := func(err error) error {
		f.Close()
		s.fs.Remove(name)
		return fmt.Errorf("start spool segment %s: %w", name, err)
	}
	for _, b := range bufs {
		if _, err := f.Write(b); err != nil {
			return fail(err)
		}
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	s.syncDir()
	g.size = size
	if s.active != nil {
		s.active.Close()
	}
	s.active = f
	s.nextID = id + 1
	s.segs = append(s.segs, g)
	s.diskBytes += size
	s.removed = removed
	return nil
}

func (s *Spool) syncDir() {
	if d, err := os.Open(s.dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// enterDegraded switches to keeping new lines in memory after the disk
// refused a write.
func (s *Spool) enterDegraded(err error) {
	s.diskErr = err
	s.lastTry = s.now()
	if s.degraded {
		return
	}
	s.degraded = true
	s.degradedSince = s.lastTry
	// The reserve file makes room for the volatile record on a full disk
	// (and, on a disk full since Open, for a first small segment).
	if s.reserveOK {
		s.fs.Remove(s.path(reserveName))
		s.reserveOK = false
	}
	s.volatileLimit = s.next
	s.extendVolatile()
}

// extendVolatile says, durably, that sequence numbers up to volatileSpan
// ahead may be handed out to lines that only memory holds, so that a
// crash before they reach the disk does not reuse them. When it cannot
// (no segment could be started, the record not written), volatileLimit
// stays where it is and Append tries again later.
func (s *Spool) extendVolatile() {
	if s.active == nil {
		if err := s.roll(nil); err != nil {
			return
		}
	}
	limit := s.next + s.volatileSpan
	rec := appendRecord(nil, recVolatile, u64(limit))
	if s.appendRaw(rec) != nil || s.active.Sync() != nil {
		return
	}
	s.volatileLimit = limit
}

// boundMemory keeps the memory within its bound: the oldest lines go
// first — on disk (evicted, which also frees space for the memory's lines)
// while any are there, then in memory.
func (s *Spool) boundMemory() {
	limit := min(s.memMax, s.maxBytes)
	for s.memBytes > limit && len(s.mem) > 0 {
		if len(s.segs) >= 2 {
			s.evict(s.segs[0])
			if s.recover(true) {
				return
			}
			continue
		}
		m := s.mem[0]
		s.mem = s.mem[1:]
		s.memBytes -= int64(len(m.raw))
		s.lines--
		s.dropped++
		s.removed.add(m.seq, m.seq)
	}
}

// Retry tries the disk again at once if the spool is degraded, writing the
// lines kept in memory out. It returns the disk's error if it still
// refuses.
func (s *Spool) Retry() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.recount()
	if !s.degraded || s.closed {
		return nil
	}
	if !s.recover(true) {
		return s.diskErr
	}
	return nil
}

// recover tries to leave degraded mode (at most every RetryEvery unless
// force): a new segment with the state and the memory's lines. It reports
// whether it did.
func (s *Spool) recover(force bool) bool {
	if !s.degraded {
		return true
	}
	now := s.now()
	if !force && now.Sub(s.lastTry) < RetryEvery {
		return false
	}
	s.lastTry = now
	need := s.memBytes + int64(len(s.mem))*(recordHeader+9) + 4096
	if len(s.segs) > 0 {
		// Evict within the bound as a normal write would (the memory's
		// lines are the newest).
		for s.diskBytes+need > s.budget() && len(s.segs) >= 2 {
			s.evict(s.segs[0])
		}
	}
	if err := s.roll(s.mem); err != nil {
		s.diskErr = err
		return false
	}
	s.mem, s.memBytes = nil, 0
	s.degraded, s.diskErr, s.degradedSince = false, nil, time.Time{}
	s.reserveOK = s.ensureReserve() == nil
	s.deleteEmpty()
	return true
}

// Read returns the held lines with first <= Seq <= last, in order,
// stopping once their stored size reaches maxBytes (at least one line is
// returned if any is in range).
func (s *Spool) Read(first, last uint64, maxBytes int) ([]protocol.LogEntry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []protocol.LogEntry
	size := 0
	add := func(seq uint64, raw []byte) (bool, error) {
		var e protocol.LogEntry
		if err := json.Unmarshal(raw, &e); err != nil {
			return false, fmt.Errorf("decode spooled line %d: %w", seq, err)
		}
		e.Seq = seq
		out = append(out, e)
		size += len(raw)
		return size >= maxBytes, nil
	}
	for _, g := range s.segs {
		if g.first == 0 || g.last < first || g.first > last {
			continue
		}
		done, err := s.readSegment(g, first, last, add)
		if err != nil {
			return nil, fmt.Errorf("read spool lines %d..%d: %w", first, last, err)
		}
		if done {
			return out, nil
		}
	}
	i := sort.Search(len(s.mem), func(i int) bool { return s.mem[i].seq >= first })
	for ; i < len(s.mem) && s.mem[i].seq <= last; i++ {
		done, err := add(s.mem[i].seq, s.mem[i].raw)
		if err != nil || done {
			return out, err
		}
	}
	return out, nil
}

// readSegment passes the held lines of g in first..last to add until add
// says it has enough (done).
func (s *Spool) readSegment(g *segment, first, last uint64, add func(uint64, []byte) (bool, error)) (bool, error) {
	f, err := s.reader(g)
	if err != nil {
		return false, err
	}
	var off int64
	for _, ie := range g.index {
		if ie.seq > first {
			break
		}
		off = ie.off
	}
	rr := newRecordReader(io.NewSectionReader(f, off, g.size-off), off)
	for {
		_, kind, p, err := rr.next()
		if errors.Is(err, io.EOF) {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("segment %s: %w", segName(g.id), err)
		}
		if kind != recLine {
			continue
		}
		seq := binary.BigEndian.Uint64(p)
		if seq < first || s.removed.contains(seq) {
			continue
		}
		if seq > last {
			return true, nil
		}
		if done, err := add(seq, p[8:]); err != nil || done {
			return true, err
		}
	}
}

func (s *Spool) reader(g *segment) (File, error) {
	if f, ok := s.readers[g.id]; ok {
		return f, nil
	}
	f, err := s.fs.OpenFile(s.path(segName(g.id)), os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	s.readers[g.id] = f
	return f, nil
}

// Ack removes the lines first..last (those still held) as acknowledged and
// returns how many it removed.
func (s *Spool) Ack(first, last uint64) (int, error) {
	return s.remove(first, last, removeAck)
}

// DropInvalid removes the lines first..last (those still held) because the
// server rejected them for good, counting them in DroppedInvalid.
func (s *Spool) DropInvalid(first, last uint64) (int, error) {
	return s.remove(first, last, removeInvalid)
}

func (s *Spool) remove(first, last uint64, why byte) (int, error) {
	if last < first {
		return 0, fmt.Errorf("remove lines %d..%d: range is reversed", first, last)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, fmt.Errorf("remove lines %d..%d from spool %s: closed", first, last, s.dir)
	}
	// Only numbers handed out can be removed: an ack of numbers beyond
	// (a server holding lines of an earlier spool) must not hide the lines
	// numbered next.
	if s.next == 0 || first >= s.next {
		return 0, nil
	}
	last = min(last, s.next-1)
	defer s.recount()
	var n uint64
	for _, g := range s.segs {
		if g.first == 0 || g.last < first || g.first > last {
			continue
		}
		lo, hi := max(first, g.first), min(last, g.last)
		n += hi - lo + 1 - s.removed.count(lo, hi)
	}
	before := len(s.mem)
	s.mem = slices.DeleteFunc(s.mem, func(m memLine) bool { return m.seq >= first && m.seq <= last })
	n += uint64(before - len(s.mem))
	s.removed.add(first, last)
	if why == removeAck {
		s.lastAck = max(s.lastAck, last)
	} else {
		s.droppedInvalid += n
	}
	if s.degraded {
		s.recover(false)
	} else if s.active != nil {
		rec := appendRecord(nil, recRemove, []byte{why}, u64s(first, last, n))
		if err := s.write(rec); err != nil {
			s.enterDegraded(err)
		}
	}
	s.deleteEmpty()
	return int(n), nil
}

// Mark returns the value stored under name by Append, or nil.
func (s *Spool) Mark(name string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := s.marks[name]; ok {
		return slices.Clone(v), nil
	}
	return nil, nil
}
