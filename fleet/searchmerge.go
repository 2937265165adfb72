package fleet

import (
	"container/heap"
	"context"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/edgesync/edgesync/protocol"
	"golang.org/x/sync/errgroup"
)

// The search's reading and merging: one stream per terminal read newest
// first, a k-way merge by time on a heap, the seek to Until, and the
// cursor that holds each terminal's position (search.go says how the cost
// is bounded).

// fromNewest, as a stream's hi, means every line remains: its first read
// starts at the terminal's newest chunk, whatever the record says.
const fromNewest = math.MaxUint64

// searchStream is one terminal's lines, read newest first.
type searchStream struct {
	id string
	// hi: lines at or below it remain to be read (0: none; fromNewest:
	// all).
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
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(searchFanOut)
	share := max(1, (r.budget-r.read)/len(streams))
	for _, st := range streams {
		n := r.take(min(st.fill, share))
		if n == 0 {
			break
		}
		st.fill = min(st.fill*2, searchMaxFill)
		g.Go(func() error {
			used, err := r.fill(ctx, st, n)
			r.giveBack(n - used)
			return err
		})
	}
	return g.Wait()
}

// fill reads up to n more chunks of st, stopping early once it holds a
// matching line; it returns how many chunks it read.
func (r *searcher) fill(ctx context.Context, st *searchStream, n int) (int, error) {
	from := st.next
	if !st.started {
		from = max(st.scanFrom, st.hi)
		if from == fromNewest {
			from = 0 // descending from 0: from the newest
		}
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
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(searchFanOut)
	for _, st := range r.streams {
		if !st.done {
			g.Go(func() error { return r.seek(ctx, st) })
		}
	}
	return g.Wait()
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
	switch {
	case oldest:
		from, desc = 1, false
	case at == fromNewest:
		from = 0 // descending from 0: from the newest
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
			if probes == 0 {
				hi = 0 // nothing stored
			}
			break // nothing stored at or below mid
		}
		if probes == 0 {
			// The newest chunk: nothing ends above it.
			hi = min(hi, c.LastSeq)
			mid = hi
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

// searchCursorVersion 2: positions as hi+1 (0: from the newest).
const searchCursorVersion = 2

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
		// hi+1, wrapping: 0 for fromNewest (a terminal not read yet), 1
		// for none left.
		buf = binary.AppendUvarint(buf, pos.hi+1)
		if pos.hi != 0 && pos.hi != fromNewest {
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
		v, k := binary.Uvarint(rest)
		if k <= 0 {
			return searchCursor{}, bad
		}
		pos.hi = v - 1 // 0 wraps to fromNewest
		rest = rest[k:]
		if pos.hi == fromNewest {
			pos.scanFrom = fromNewest
		} else if pos.hi != 0 {
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
