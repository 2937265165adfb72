package fleet

import (
	"container/heap"
	"context"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/edgesync/edgesync/protocol"
)

// Fleet-wide log search: the lines of every terminal a principal sees,
// newest first, a page at a time, at a bounded cost per request.
//
// How the cost is bounded. A search reads the terminal records it covers
// (at most MaxSearchTerminals: the caller's groups, one group, or the
// fleet for admins), then reads each terminal's log chunks newest first
// (Store.ScanLogChunks, descending), fanned out searchFanOut at a time,
// and merges the terminals' lines by time (a k-way merge on a heap). A
// terminal is read only as far as the merge needs: a first read of
// searchFirstFill chunks, then reads that double up to searchMaxFill, and
// only while its lines may be newer than the next line of the page. Every
// request reads at most SearchChunkBudget chunks (and, on the first page
// of a search with Until, at most maxSeekProbes more per terminal to find
// its last line before Until: an interpolation search by time, a few
// probes on lines that arrive at a steady pace); when the budget runs out
// first (a rare filter, a long way back), the page is short, even empty,
// and its cursor continues where each terminal's read stopped. No index is
// written: a search costs nothing until someone searches.
//
// Order. Lines are ordered by their time (ts), newest first, ties by
// terminal id then sequence number. A terminal's lines are read in
// descending sequence numbers, which the merge takes as descending time:
// a terminal whose clock went backwards has those lines placed by
// sequence, and Since stops a terminal's read at its first line older
// than Since.
//
// The cursor holds each terminal's position (the sequence number to read
// at or below next), compact: a hash of the terminal list and one varint
// per terminal, about three bytes per terminal. If the terminals the
// caller sees changed between pages (one was created or deleted), the
// positions no longer apply and the search continues from the time of the
// last line returned instead (lines of exactly that time may then be
// skipped).

// Search bounds.
const (
	// DefaultSearchLimit and MaxSearchLimit are page sizes of SearchLogs.
	DefaultSearchLimit = 100
	MaxSearchLimit     = 500
	// MaxSearchTerminals bounds the terminals one search covers; a caller
	// who sees more names a group.
	MaxSearchTerminals = 1000
	// SearchChunkBudget bounds the log chunks one request reads.
	SearchChunkBudget = 1500
	searchFanOut      = 16
	searchFirstFill   = 2
	searchMaxFill     = 64
	maxSearchQuery    = 256
	// maxSeekProbes bounds the chunks a seek reads per terminal to find
	// its lines before Until (outside SearchChunkBudget).
	maxSeekProbes = 24
)

// TerminalRecords lists terminals' records without their documents: what
// the fleet-wide search (LastSeq) and the alert evaluation (presence,
// Dropped, the last status) read of every terminal they cover, at a third
// of the reads of Terminals and GroupTerminals in the DynamoDB store
// (which keeps the config and the desired config in items of their own).
type TerminalRecords interface {
	// TerminalRecords is Store.Terminals with each terminal's Config and
	// Desired left zero (the same pages and cursors).
	TerminalRecords(ctx context.Context, cursor string, limit int) ([]Terminal, string, error)
	// GroupTerminalRecords is Store.GroupTerminals with each terminal's
	// Config and Desired left zero.
	GroupTerminalRecords(ctx context.Context, group, after string, limit int) ([]Terminal, error)
}

// LogSearch selects log lines across the terminals a principal sees.
type LogSearch struct {
	// Group keeps the terminals of one group ("" for every terminal the
	// caller sees). A group the caller is not in has no lines for it.
	Group string
	// Level is the minimum level ("" for all).
	Level string
	// Query keeps lines whose message or source contains it, ignoring case.
	Query string
	// Since and Until bound the lines' times (inclusive since, exclusive
	// until); zero is open.
	Since, Until time.Time
	// Cursor continues a previous page ("" for the first).
	Cursor string
	// Limit is the page size, 1 to MaxSearchLimit (0: DefaultSearchLimit).
	Limit int
}

// SearchLine is a log line and the terminal it came from.
type SearchLine struct {
	TerminalID string `json:"terminalId"`
	protocol.LogEntry
}

// SearchPage is a page of a fleet-wide search.
type SearchPage struct {
	// Lines are newest first.
	Lines []SearchLine `json:"lines"`
	// NextCursor continues the search; "" when no lines remain. A page
	// may be shorter than the limit (even empty) and still have one: the
	// request's read budget ran out.
	NextCursor string `json:"nextCursor"`
	// Terminals is how many terminals the search covers.
	Terminals int `json:"terminals"`
	// Chunks is how many stored log chunks this page read.
	Chunks int `json:"chunks"`
}

// SearchLogs returns a page of the log lines of the terminals p sees
// matching q, newest first (see the comment at the top of search.go for
// its cost and order). It needs the viewer role. Lines are returned as p
// sees them (attributes under secret keys masked).
func (s *Service) SearchLogs(ctx context.Context, p Principal, q LogSearch) (SearchPage, error) {
	if err := s.allow(ctx, p, opSearchLogs, ""); err != nil {
		return SearchPage{}, err
	}
	if q.Limit == 0 {
		q.Limit = DefaultSearchLimit
	}
	if q.Limit < 1 || q.Limit > MaxSearchLimit {
		return SearchPage{}, fmt.Errorf("limit %d: must be from 1 to %d: %w", q.Limit, MaxSearchLimit, ErrInvalid)
	}
	minRank := 0
	if q.Level != "" {
		level, ok := protocol.NormalizeLevel(q.Level)
		if !ok {
			return SearchPage{}, fmt.Errorf("level %q: must be debug, info, warn or error: %w", truncate(q.Level, 32), ErrInvalid)
		}
		minRank = protocol.LevelRank(level)
	}
	if len(q.Query) > maxSearchQuery || !utf8.ValidString(q.Query) {
		return SearchPage{}, fmt.Errorf("q: at most %d bytes of UTF-8: %w", maxSearchQuery, ErrInvalid)
	}
	if q.Group != "" && !validGroup(q.Group) {
		return SearchPage{}, fmt.Errorf("group %q: must be 1 to %d bytes of UTF-8 without spaces or control characters: %w", truncate(q.Group, 64), maxGroupBytes, ErrInvalid)
	}
	var cur *searchCursor
	if q.Cursor != "" {
		c, err := decodeSearchCursor(q.Cursor)
		if err != nil {
			return SearchPage{}, err
		}
		cur = &c
	}
	terminals, err := s.searchTerminals(ctx, p, q.Group)
	if err != nil {
		return SearchPage{}, err
	}
	needle := strings.ToLower(q.Query)
	r := &searcher{s: s, now: s.now(), since: q.Since, until: q.Until, budget: SearchChunkBudget,
		match: func(e *protocol.LogEntry) bool {
			if protocol.LevelRank(e.Level) < minRank {
				return false
			}
			return needle == "" || strings.Contains(strings.ToLower(e.Message), needle) || strings.Contains(strings.ToLower(e.Source), needle)
		}}
	hash := terminalsHash(terminals)
	// A first page seeks each terminal's lines before until; later pages
	// resume where the cursor says.
	seek := cur == nil && !q.Until.IsZero()
	if cur != nil && (cur.hash != hash || len(cur.positions) != len(terminals)) {
		// The terminals changed: continue from the last line's time.
		seek = true
		if r.until.IsZero() || cur.bound.Before(r.until) {
			r.until = cur.bound
		}
		cur = nil
	}
	for i, t := range terminals {
		// No chunk ends above the terminal's LastSeq.
		st := &searchStream{id: t.ID, hi: t.LastSeq, scanFrom: t.LastSeq, fill: searchFirstFill}
		if cur != nil {
			st.hi, st.scanFrom = cur.positions[i].hi, cur.positions[i].scanFrom
		}
		st.boundary = st.hi + 1
		st.done = st.hi == 0
		r.streams = append(r.streams, st)
	}
	if seek {
		if err := r.seekAll(ctx); err != nil {
			return SearchPage{}, err
		}
	}
	lines, err := r.merge(ctx, q.Limit)
	if err != nil {
		return SearchPage{}, err
	}
	page := SearchPage{Lines: lines, Terminals: len(terminals), Chunks: r.read + r.probes}
	if page.Lines == nil {
		page.Lines = []SearchLine{}
	}
	if !r.finished() {
		bound := r.until
		if len(lines) > 0 {
			bound = lines[len(lines)-1].Time
		} else if cur != nil {
			bound = cur.bound
		}
		page.NextCursor = r.cursor(hash, bound)
	}
	for i := range page.Lines {
		page.Lines[i].LogEntry = p.entries([]protocol.LogEntry{page.Lines[i].LogEntry})[0]
	}
	return page, nil
}

// searchTerminals returns the terminals a search of p covers, in id order:
// group's (when p is in it), p's groups', or the fleet for admins. More
// than MaxSearchTerminals is ErrInvalid, asking for a group.
func (s *Service) searchTerminals(ctx context.Context, p Principal, group string) ([]Terminal, error) {
	tooMany := func() error {
		return fmt.Errorf("the search would cover more than %d terminals: name a group: %w", MaxSearchTerminals, ErrInvalid)
	}
	var out []Terminal
	switch {
	case group != "" && !p.memberOf(group):
		return nil, nil // another group's terminals are absent to p
	case group == "" && p.seesAll():
		cursor := ""
		for {
			ts, next, err := s.store.TerminalRecords(ctx, cursor, min(500, MaxSearchTerminals+1-len(out)))
			if err != nil {
				return nil, fmt.Errorf("terminals to search: %w", err)
			}
			out = append(out, ts...)
			if len(out) > MaxSearchTerminals {
				return nil, tooMany()
			}
			if next == "" {
				return out, nil
			}
			cursor = next
		}
	}
	groups := p.Groups
	if group != "" {
		groups = []string{group}
	}
	seen := map[string]bool{}
	for _, g := range groups {
		if !validGroup(g) {
			continue
		}
		after := ""
		for {
			ts, err := s.store.GroupTerminalRecords(ctx, g, after, 500)
			if err != nil {
				return nil, fmt.Errorf("terminals of group %q to search: %w", g, err)
			}
			for _, t := range ts {
				if !seen[t.ID] && p.Sees(t) {
					seen[t.ID] = true
					out = append(out, t)
				}
			}
			if len(out) > MaxSearchTerminals {
				return nil, tooMany()
			}
			if len(ts) < 500 {
				break
			}
			after = ts[len(ts)-1].ID
		}
	}
	slices.SortFunc(out, func(a, b Terminal) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// terminalsHash identifies a list of terminals (by id, in order).
func terminalsHash(ts []Terminal) uint64 {
	h := fnv.New64a()
	for _, t := range ts {
		h.Write([]byte(t.ID))
		h.Write([]byte{0})
	}
	return h.Sum64()
}

// searchStream is one terminal's lines, read newest first.
type searchStream struct {
	id string
	// hi: lines at or below it remain to be read (0: none).
	hi uint64
	// boundary: every stored line at or above it (and at or below hi) has
	// been read. Chunks are read by descending LastSeq and each holds
	// consecutive lines, so after reading chunk c every line from
	// c.FirstSeq up is in a chunk read: lines of later chunks at or above
	// boundary are duplicates.
	boundary uint64
	// scanFrom: the first read starts with the chunks ending at or below
	// it: the terminal's LastSeq, or where the previous page's reads of it
	// stopped (they covered every chunk ending above it), so no chunk is
	// read twice but the few that straddle a page's last line.
	scanFrom uint64
	// next: the next read continues with chunks whose LastSeq is at or
	// below it (0 with started: none left).
	next    uint64
	started bool
	// read are the chunks read, newest (highest LastSeq) first: where a
	// cursor must resume to read the lines not returned again.
	read []chunkSpan
	// ready are the matching lines read and not yet returned, newest first.
	ready []protocol.LogEntry
	// done: no lines remain to be read.
	done bool
	// oldest is the time of the oldest line read (matching or not): the
	// stream's unread lines are taken to be no newer. Zero until a line
	// was read.
	oldest time.Time
	fill   int // chunks of the next read
}

// chunkSpan is the sequence numbers a chunk read holds.
type chunkSpan struct{ first, last uint64 }

// position is where a cursor resumes st: its hi, and where its scan
// starts (every chunk ending above that was read).
func (st *searchStream) position() searchPosition {
	switch {
	case len(st.ready) > 0:
		// The lines not returned are re-read from the chunks that hold
		// them: the newest chunk read that reaches down to them ends
		// highest among them.
		pos := searchPosition{hi: st.ready[0].Seq, scanFrom: st.ready[0].Seq}
		for _, c := range st.read {
			if c.first <= pos.hi {
				pos.scanFrom = max(c.last, st.next)
				break
			}
		}
		return pos
	case st.done:
		return searchPosition{}
	case !st.started:
		return searchPosition{hi: st.hi, scanFrom: st.scanFrom}
	}
	// Every line from boundary up was read; no chunk read holds one below.
	return searchPosition{hi: min(st.hi, st.boundary-1), scanFrom: st.next}
}

// searcher is one search request's state.
type searcher struct {
	s            *Service
	now          time.Time
	since, until time.Time
	match        func(*protocol.LogEntry) bool
	streams      []*searchStream
	mu           sync.Mutex
	budget, read int
	probes       int // chunks read by seeks (not in the budget)
}

// take reserves up to n chunks of the budget; 0 when it is spent.
func (r *searcher) take(n int) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n = min(n, r.budget-r.read)
	r.read += max(n, 0)
	return max(n, 0)
}

// giveBack returns reserved chunks that were not read.
func (r *searcher) giveBack(n int) {
	r.mu.Lock()
	r.read -= n
	r.mu.Unlock()
}

// finished reports whether every stream is read and returned.
func (r *searcher) finished() bool {
	for _, st := range r.streams {
		if !st.done || len(st.ready) > 0 {
			return false
		}
	}
	return true
}

// merge returns up to limit lines, newest first, reading streams as it
// needs (see the comment at the top of search.go).
func (r *searcher) merge(ctx context.Context, limit int) ([]SearchLine, error) {
	h := &streamHeap{}
	inHeap := map[*searchStream]bool{}
	var out []SearchLine
	for len(out) < limit {
		for _, st := range r.streams {
			if len(st.ready) > 0 && !inHeap[st] {
				heap.Push(h, st)
				inHeap[st] = true
			}
		}
		var head *searchStream
		if h.Len() > 0 {
			head = (*h)[0]
		}
		// Streams that may hold a line newer than the head must be read on.
		var blockers []*searchStream
		for _, st := range r.streams {
			if st.done || len(st.ready) > 0 {
				continue
			}
			if head == nil || st.oldest.IsZero() || !st.oldest.Before(head.ready[0].Time) {
				blockers = append(blockers, st)
			}
		}
		if len(blockers) > 0 {
			if r.budget-r.read <= 0 {
				break
			}
			if err := r.fillAll(ctx, blockers); err != nil {
				return nil, err
			}
			continue
		}
		if head == nil {
			break // every stream is done
		}
		e := head.ready[0]
		head.ready = head.ready[1:]
		head.hi = e.Seq - 1
		out = append(out, SearchLine{TerminalID: head.id, LogEntry: e})
		if len(head.ready) == 0 {
			heap.Pop(h)
			delete(inHeap, head)
			if head.hi == 0 {
				head.done = true
			}
		} else {
			heap.Fix(h, 0)
		}
	}
	return out, nil
}

// fillAll reads the streams on, searchFanOut at a time, sharing the budget.
func (r *searcher) fillAll(ctx context.Context, streams []*searchStream) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	share := max(1, (r.budget-r.read)/len(streams))
	sem := make(chan struct{}, searchFanOut)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for _, st := range streams {
		n := r.take(min(st.fill, share))
		if n == 0 {
			break
		}
		st.fill = min(st.fill*2, searchMaxFill)
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			used, err := r.fill(ctx, st, n)
			r.giveBack(n - used)
			if err != nil {
				mu.Lock()
				if first == nil {
					first = err
					cancel()
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return first
}

// fill reads up to n more chunks of st, stopping early once it holds a
// matching line; it returns how many chunks it read.
func (r *searcher) fill(ctx context.Context, st *searchStream, n int) (int, error) {
	from := st.next
	if !st.started {
		from = max(st.scanFrom, st.hi)
		st.started = true
	}
	read := 0
	stopped := false
	err := r.s.store.ScanLogChunks(ctx, st.id, from, true, r.now, func(c LogChunk) bool {
		read++
		if c.LastSeq <= 1 {
			st.next = 0
		} else {
			st.next = c.LastSeq - 1
		}
		if c.FirstSeq <= st.hi && c.FirstSeq < st.boundary {
			st.read = append(st.read, chunkSpan{c.FirstSeq, c.LastSeq})
			newest := time.Time{}
			for i := len(c.Entries) - 1; i >= 0; i-- {
				e := &c.Entries[i]
				if e.Seq > st.hi || e.Seq >= st.boundary {
					continue
				}
				if newest.IsZero() {
					newest = e.Time
				}
				if st.oldest.IsZero() || e.Time.Before(st.oldest) {
					st.oldest = e.Time
				}
				if r.inTime(e.Time) && r.match(e) {
					st.ready = append(st.ready, *e)
				}
			}
			st.boundary = c.FirstSeq
			if !r.since.IsZero() && !newest.IsZero() && newest.Before(r.since) {
				st.done = true // the rest is older than since
				stopped = true
				return false
			}
		}
		if st.next == 0 || len(st.ready) > 0 || read >= n {
			stopped = st.next != 0
			return false
		}
		return true
	})
	if err != nil {
		return read, fmt.Errorf("search logs of %s: %w", st.id, err)
	}
	if !stopped {
		st.done = true // the chunks ran out
	}
	if st.boundary <= 1 {
		st.done = true
	}
	return read, nil
}

func (r *searcher) inTime(t time.Time) bool {
	return (r.since.IsZero() || !t.Before(r.since)) && (r.until.IsZero() || t.Before(r.until))
}

// seekAll moves each stream's hi below the lines at or after until, so a
// search far back does not read the newer chunks: a binary search over
// sequence numbers, one chunk read per probe (taken to be ordered by
// time, like the merge).
func (r *searcher) seekAll(ctx context.Context) error {
	if r.until.IsZero() {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sem := make(chan struct{}, searchFanOut)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for _, st := range r.streams {
		if st.done {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := r.seek(ctx, st); err != nil {
				mu.Lock()
				if first == nil {
					first = err
					cancel()
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return first
}

// probe reads one chunk: the one with the highest LastSeq at or below at,
// or (oldest) the terminal's oldest unexpired chunk. It counts in the
// page's Chunks, not in its budget: a seek reads at most maxSeekProbes
// chunks per terminal.
func (r *searcher) probe(ctx context.Context, id string, at uint64, oldest bool) (LogChunk, bool, error) {
	r.mu.Lock()
	r.probes++
	r.mu.Unlock()
	var got LogChunk
	found := false
	from, desc := at, true
	if oldest {
		from, desc = 1, false
	}
	err := r.s.store.ScanLogChunks(ctx, id, from, desc, r.now, func(c LogChunk) bool {
		got, found = c, true
		return false
	})
	if err != nil {
		return LogChunk{}, false, fmt.Errorf("search logs of %s: %w", id, err)
	}
	return got, found && len(got.Entries) > 0, nil
}

// seek finds the last line of st before until: an interpolation search by
// time over sequence numbers (lines arrive at a steady pace, so a few
// probes land close), every other probe halving the range instead so it
// never takes more than about twice a binary search.
func (r *searcher) seek(ctx context.Context, st *searchStream) error {
	// Lines above hi are at or after until; lines at or below lo are before.
	lo, hi := uint64(0), st.hi
	var tLo, tHi time.Time // times of the lines at lo and hi+1, once known
	var probed []chunkSpan
	for probes := 0; lo < hi && probes < maxSeekProbes; probes++ {
		mid := lo + (hi-lo+1)/2
		oldest := false
		switch {
		case probes == 0:
			mid = hi // the newest first: usually all of it is before until
		case probes == 1 && tLo.IsZero():
			oldest = true // the oldest, for the interpolation's other end
		case probes%2 == 0 && !tLo.IsZero() && !tHi.IsZero() && tHi.After(tLo):
			frac := float64(r.until.Sub(tLo)) / float64(tHi.Sub(tLo))
			mid = lo + uint64(frac*float64(hi+1-lo))
			mid = min(max(mid, lo+1), hi)
		}
		c, ok, err := r.probe(ctx, st.id, mid, oldest)
		if err != nil {
			return err
		}
		if !ok {
			if oldest {
				continue
			}
			break // nothing stored at or below mid
		}
		probed = append(probed, chunkSpan{c.FirstSeq, c.LastSeq})
		first, last := c.Entries[0], c.Entries[len(c.Entries)-1]
		switch {
		case !first.Time.Before(r.until):
			if c.FirstSeq-1 < hi {
				hi, tHi = c.FirstSeq-1, first.Time
			}
		case last.Time.Before(r.until):
			if c.LastSeq > lo {
				lo, tLo = c.LastSeq, last.Time
			}
			if !oldest && c.LastSeq < mid && mid > lo {
				// No chunk ends between c.LastSeq and mid: go on above it.
				lo = mid
			}
		default:
			// Until falls inside c.
			for i := len(c.Entries) - 1; i >= 0; i-- {
				if c.Entries[i].Time.Before(r.until) {
					hi = min(hi, c.Entries[i].Seq)
					break
				}
			}
			lo = hi
		}
	}
	// The scan starts at the highest end of a chunk probed that holds
	// lines at or below hi (the chunk until falls in). A line below hi held
	// only by a resent chunk ending higher, never probed, is missed.
	st.hi, st.boundary, st.done, st.scanFrom = hi, hi+1, hi == 0, hi
	for _, c := range probed {
		if c.first <= hi {
			st.scanFrom = max(st.scanFrom, c.last)
		}
	}
	return nil
}

// searchCursor is a decoded cursor: the terminal list's hash, the time of
// the last line returned, and each terminal's position.
type searchCursor struct {
	hash      uint64
	bound     time.Time
	positions []searchPosition
}

// searchPosition is where a search resumes a terminal: its lines at or
// below hi remain (0: none), and the scan starts with the chunks ending at
// or below scanFrom.
type searchPosition struct{ hi, scanFrom uint64 }

const searchCursorVersion = 1

// cursor encodes the streams' positions.
func (r *searcher) cursor(hash uint64, bound time.Time) string {
	buf := []byte{searchCursorVersion}
	buf = binary.BigEndian.AppendUint64(buf, hash)
	nanos := int64(0) // no bound
	if !bound.IsZero() {
		nanos = bound.UnixNano()
	}
	buf = binary.AppendVarint(buf, nanos)
	buf = binary.AppendUvarint(buf, uint64(len(r.streams)))
	for _, st := range r.streams {
		pos := st.position()
		buf = binary.AppendUvarint(buf, pos.hi)
		if pos.hi != 0 {
			buf = binary.AppendUvarint(buf, max(pos.scanFrom, pos.hi)-pos.hi)
		}
	}
	return base64.RawURLEncoding.EncodeToString(buf)
}

func decodeSearchCursor(s string) (searchCursor, error) {
	bad := fmt.Errorf("cursor: not one this search returned: %w", ErrInvalid)
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(raw) < 10 || raw[0] != searchCursorVersion {
		return searchCursor{}, bad
	}
	c := searchCursor{hash: binary.BigEndian.Uint64(raw[1:9])}
	rest := raw[9:]
	nanos, k := binary.Varint(rest)
	if k <= 0 {
		return searchCursor{}, bad
	}
	if nanos != 0 {
		c.bound = time.Unix(0, nanos).UTC()
	}
	rest = rest[k:]
	n, k := binary.Uvarint(rest)
	if k <= 0 || n > MaxSearchTerminals {
		return searchCursor{}, bad
	}
	rest = rest[k:]
	for range n {
		var pos searchPosition
		var k int
		if pos.hi, k = binary.Uvarint(rest); k <= 0 {
			return searchCursor{}, bad
		}
		rest = rest[k:]
		if pos.hi != 0 {
			delta, k := binary.Uvarint(rest)
			if k <= 0 || pos.hi+delta < pos.hi {
				return searchCursor{}, bad
			}
			pos.scanFrom = pos.hi + delta
			rest = rest[k:]
		}
		c.positions = append(c.positions, pos)
	}
	if len(rest) != 0 {
		return searchCursor{}, bad
	}
	return c, nil
}

// streamHeap orders streams by their next line: newest time first, then
// terminal id, then (within a terminal) the higher sequence number.
type streamHeap []*searchStream

func (h streamHeap) Len() int { return len(h) }
func (h streamHeap) Less(i, j int) bool {
	a, b := h[i].ready[0], h[j].ready[0]
	if !a.Time.Equal(b.Time) {
		return a.Time.After(b.Time)
	}
	return h[i].id < h[j].id
}
func (h streamHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *streamHeap) Push(x any)   { *h = append(*h, x.(*searchStream)) }
func (h *streamHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
