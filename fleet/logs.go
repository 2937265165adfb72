package fleet

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/edgesync/edgesync/protocol"
)

// Log query bounds.
const (
	// DefaultLogCount is the page size of a log read without count.
	DefaultLogCount = 100
	// MaxLogCount is the largest page of a log read.
	MaxLogCount = 1000
	// maxChunksPerRead bounds the chunks one read may scan; a filtered read
	// that reaches it returns what it found and a cursor to continue.
	maxChunksPerRead = 400
)

// LogQuery selects log lines of one terminal.
//
// With After set (HasAfter), it returns the oldest Count lines with seq >
// After, ascending, and NextCursor continues forward: the live-tail mode.
// Otherwise it returns the newest Count lines with seq < Before (0: no
// bound), still in ascending order, and NextCursor continues backward.
type LogQuery struct {
	Count    int
	After    uint64
	HasAfter bool
	Before   uint64
	// Level is the minimum level ("" for all).
	Level string
	// Search keeps lines whose message or source contains it, ignoring case.
	Search string
}

// LogPage is the answer to a log read. Each sequence number appears at most
// once, in increasing order.
type LogPage struct {
	TerminalID string              `json:"terminalId"`
	Entries    []protocol.LogEntry `json:"entries"`
	// NextCursor continues the read in its direction; empty when there is
	// nothing more (for now, in forward mode).
	NextCursor string `json:"nextCursor,omitempty"`
	LastSeq    uint64 `json:"lastSeq"`
	Dropped    uint64 `json:"dropped"`
	Online     bool   `json:"online"`
	Freshness
}

// ParseLogCursor decodes a NextCursor into q.
func ParseLogCursor(cursor string, q *LogQuery) error {
	dir, num, ok := strings.Cut(cursor, ":")
	n, err := strconv.ParseUint(num, 10, 64)
	if !ok || err != nil {
		return fmt.Errorf("cursor %q: %w", truncate(cursor, 64), ErrInvalid)
	}
	switch dir {
	case "after":
		q.After, q.HasAfter, q.Before = n, true, 0
	case "before":
		if n == 0 {
			return fmt.Errorf("cursor %q: %w", truncate(cursor, 64), ErrInvalid)
		}
		q.Before, q.HasAfter, q.After = n, false, 0
	default:
		return fmt.Errorf("cursor %q: %w", truncate(cursor, 64), ErrInvalid)
	}
	return nil
}

// TerminalLogs reads log lines. Logs of an online terminal are fresh;
// those of an offline terminal are fresh for LogsTTL after they were
// stored, then served marked stale. Reading an online terminal's logs
// pushes it a live hint (see LiveFor and goLive): it sends the lines it
// holds at once and each new line within its live batch window for
// LiveFor; Refreshing says a hint was pushed by this read, so lines
// written since the terminal's last send are on their way. Lines are
// returned as p sees them (attributes under secret keys masked).
func (s *Service) TerminalLogs(ctx context.Context, p Principal, id string, q LogQuery) (LogPage, error) {
	t, err := s.access(ctx, p, opReadLogs, id)
	if err != nil {
		return LogPage{}, err
	}
	if q.Count == 0 {
		q.Count = DefaultLogCount
	}
	if q.Count < 1 || q.Count > MaxLogCount {
		return LogPage{}, fmt.Errorf("count %d: must be from 1 to %d: %w", q.Count, MaxLogCount, ErrInvalid)
	}
	minRank := 0
	if q.Level != "" {
		level, ok := protocol.NormalizeLevel(q.Level)
		if !ok {
			return LogPage{}, fmt.Errorf("level %q: must be debug, info, warn or error: %w", truncate(q.Level, 32), ErrInvalid)
		}
		minRank = protocol.LevelRank(level)
	}
	if len(q.Search) > 256 {
		return LogPage{}, fmt.Errorf("search: longer than 256 bytes: %w", ErrInvalid)
	}
	search := strings.ToLower(q.Search)
	match := func(e *protocol.LogEntry) bool {
		if protocol.LevelRank(e.Level) < minRank {
			return false
		}
		return search == "" || strings.Contains(strings.ToLower(e.Message), search) || strings.Contains(strings.ToLower(e.Source), search)
	}
	now := s.now()
	r := &logReader{s: s, id: t.ID, now: now, match: match}
	page := LogPage{TerminalID: t.ID, LastSeq: t.LastSeq, Dropped: t.Dropped, Online: s.online(t, now)}
	if q.HasAfter {
		entries, next, _, err := r.forward(ctx, q.After, q.Count)
		if err != nil {
			return LogPage{}, err
		}
		page.Entries = entries
		page.NextCursor = "after:" + strconv.FormatUint(next, 10)
	} else {
		// Newest first: from the newest chunk, not the record's LastSeq,
		// which may lag the newest chunks (LogBatch.Record).
		hi := uint64(math.MaxUint64)
		if q.Before != 0 {
			hi = q.Before - 1
		}
		var entries []protocol.LogEntry
		lowest := uint64(0)
		if hi > 0 {
			if entries, lowest, err = r.backward(ctx, hi, q.Count); err != nil {
				return LogPage{}, err
			}
		}
		page.Entries = entries
		if lowest > 1 {
			page.NextCursor = "before:" + strconv.FormatUint(lowest, 10)
		}
	}
	if page.Entries == nil {
		page.Entries = []protocol.LogEntry{}
	}
	page.LastSeq = max(page.LastSeq, r.maxSeq)
	page.Entries = p.entries(page.Entries)
	page.Freshness = freshness(r.newest, s.cfg.LogsTTL, now)
	if page.Online {
		page.Fresh, page.Stale = true, false
		page.Refreshing = s.goLive(ctx, t, now)
	}
	s.freshness(page.Freshness)
	return page, nil
}

// LiveFor is how long a read of an online terminal's logs makes the
// terminal send each line as soon as it is written (protocol.Live): an
// operator reading logs usually reads them again. Nobody reading, the Go
// agent gathers lines for its idle window (30 s by default) and sends them
// with its status report, a twentieth of the messages, invocations and
// writes of sending each line at once.
const LiveFor = time.Minute

// livePush is the last live hint this process pushed to a terminal.
type livePush struct {
	connID string
	at     time.Time
}

// goLive pushes a live hint to the online terminal t unless one went to
// its current connection recently: this process renews it after LiveFor/2,
// and across processes ClaimRefresh allows one push per command timeout
// and connection. It reports whether it pushed one (the terminal's unsent
// lines are then on their way).
func (s *Service) goLive(ctx context.Context, t Terminal, now time.Time) bool {
	if v, ok := s.live.Load(t.ID); ok {
		if last := v.(livePush); last.connID == t.ConnectionID && now.Sub(last.at) < LiveFor/2 {
			return false
		}
	}
	// A claim made before the current connection began was not for it
	// (the store keeps claims to the millisecond).
	notBefore := now.Add(-s.cfg.CommandTimeout)
	if connected := t.ConnectedAt.Add(-time.Millisecond); connected.After(notBefore) {
		notBefore = connected
	}
	won, err := s.store.ClaimRefresh(ctx, t.ID, "live", now, notBefore)
	if err != nil {
		slog.ErrorContext(ctx, "claim live push", "terminal", t.ID, "error", err)
		return false
	}
	if !won {
		return false
	}
	if err := s.send(ctx, t.ID, t.ConnectionID, protocol.Live{Type: protocol.TypeLive, Seconds: int(LiveFor / time.Second)}); err != nil {
		return false
	}
	s.live.Store(t.ID, livePush{connID: t.ConnectionID, at: now})
	return true
}

// logReader merges a terminal's chunks, which may overlap when a terminal
// resends lines, into one deduplicated ascending stream of lines.
//
// Chunks are keyed by LastSeq. Read newest first, a chunk ending at L is
// followed only by chunks ending at or below L, so every buffered line above
// L is final: backward reads need no look-ahead (an older page starts its
// scan up to MaxBatchSpan-1 above its bound, for chunks that straddle it). Read oldest first, a later
// chunk can start up to protocol.MaxBatchSpan-1 below its end, so forward
// reads cut short by count look ahead a bounded number of chunks.
type logReader struct {
	s        *Service
	id       string
	now      time.Time
	match    func(*protocol.LogEntry) bool
	scanned  int
	lastRead uint64    // LastSeq of the last chunk read
	maxSeq   uint64    // highest LastSeq among chunks read
	newest   time.Time // newest StoredAt among chunks read
}

// lookAheadChunks bounds the chunks a forward read examines past its page
// to find lines resent in a later, overlapping chunk.
const lookAheadChunks = 64

func (r *logReader) saw(c LogChunk) {
	r.scanned++
	r.lastRead = c.LastSeq
	r.maxSeq = max(r.maxSeq, c.LastSeq)
	if c.StoredAt.After(r.newest) {
		r.newest = c.StoredAt
	}
}

// forward returns up to limit matching lines with seq > after, ascending,
// and the seq to continue after. more reports that lines may remain.
func (r *logReader) forward(ctx context.Context, after uint64, limit int) ([]protocol.LogEntry, uint64, bool, error) {
	pending := map[uint64]protocol.LogEntry{}
	full := false // pending holds at least limit matching lines
	extra := 0
	stoppedEarly := false
	var cutoff uint64
	err := r.s.store.ScanLogChunks(ctx, r.id, min(after, math.MaxUint64-1)+1, false, r.now, func(c LogChunk) bool {
		if full {
			// Only chunks that may hold a line at or below cutoff matter.
			if c.LastSeq >= cutoff+protocol.MaxBatchSpan || extra >= lookAheadChunks {
				stoppedEarly = true
				return false
			}
			extra++
		}
		r.saw(c)
		for _, e := range c.Entries {
			if e.Seq > after && (!full || e.Seq <= cutoff) {
				if _, dup := pending[e.Seq]; !dup && r.match(&e) {
					pending[e.Seq] = e
				}
			}
		}
		if !full && len(pending) >= limit {
			full = true
			cutoff = kthSmallest(pending, limit)
		}
		if r.scanned >= maxChunksPerRead && !full {
			stoppedEarly = true
			return false
		}
		return true
	})
	if err != nil {
		return nil, 0, false, fmt.Errorf("read logs of %s: %w", r.id, err)
	}
	out := sortedEntries(pending)
	if len(out) > limit {
		out = out[:limit]
	}
	next := after
	if len(out) > 0 {
		next = out[len(out)-1].Seq
	}
	if !full {
		// Every chunk read was examined whole (the page did not fill, or a
		// sparse filter ran out of scan budget): continue after the last one.
		next = max(next, r.lastRead)
	}
	return out, next, full || stoppedEarly, nil
}

// backward returns the newest limit matching lines with seq <= hi, in
// ascending order, and the lowest seq an older page must stay below.
func (r *logReader) backward(ctx context.Context, hi uint64, limit int) ([]protocol.LogEntry, uint64, error) {
	pending := map[uint64]protocol.LogEntry{}
	final := 0 // matching lines known complete: those above the current chunk's LastSeq
	lowest := hi
	if hi < math.MaxUint64 {
		lowest = hi + 1
	}
	exhausted := true
	// A chunk ending above hi can still hold lines at or below it, but it
	// starts at most MaxBatchSpan-1 below its end.
	from := hi + protocol.MaxBatchSpan - 1
	if from < hi {
		from = 0 // overflow: start from the newest
	}
	err := r.s.store.ScanLogChunks(ctx, r.id, from, true, r.now, func(c LogChunk) bool {
		if c.FirstSeq > hi {
			return true
		}
		// Lines above c.LastSeq can no longer gain a duplicate or a neighbour.
		final = countAbove(pending, c.LastSeq)
		if final >= limit || r.scanned >= maxChunksPerRead {
			exhausted = false
			return false
		}
		r.saw(c)
		for _, e := range c.Entries {
			if e.Seq <= hi {
				if _, dup := pending[e.Seq]; !dup && r.match(&e) {
					pending[e.Seq] = e
				}
			}
		}
		lowest = min(lowest, c.FirstSeq)
		return true
	})
	if err != nil {
		return nil, 0, fmt.Errorf("read logs of %s: %w", r.id, err)
	}
	out := sortedEntries(pending)
	if len(out) > limit {
		out = out[len(out)-limit:]
	}
	switch {
	case len(out) == limit:
		lowest = out[0].Seq
	case exhausted:
		lowest = 0 // nothing older
	}
	return out, lowest, nil
}

func countAbove(m map[uint64]protocol.LogEntry, seq uint64) int {
	n := 0
	for k := range m {
		if k > seq {
			n++
		}
	}
	return n
}

func kthSmallest(m map[uint64]protocol.LogEntry, k int) uint64 {
	keys := make([]uint64, 0, len(m))
	for s := range m {
		keys = append(keys, s)
	}
	slices.Sort(keys)
	return keys[k-1]
}

func sortedEntries(m map[uint64]protocol.LogEntry) []protocol.LogEntry {
	out := make([]protocol.LogEntry, 0, len(m))
	for _, e := range m {
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b protocol.LogEntry) int {
		switch {
		case a.Seq < b.Seq:
			return -1
		case a.Seq > b.Seq:
			return 1
		}
		return 0
	})
	return out
}
