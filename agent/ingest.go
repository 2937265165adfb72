package agent

import (
	"context"
	"sync"
	"time"

	"github.com/edgesync/edgesync/agent/spool"
	"github.com/edgesync/edgesync/protocol"
)

// pending is a line (or only a checkpoint) waiting for the spool.
type pending struct {
	entry *protocol.LogEntry
	size  int
	// mark, when set, is stored with the lines up to this one (an input's
	// position after them).
	mark      string
	markValue []byte
}

// queue holds lines between the producers and the spool writer, bounded by
// bytes. Producers that must not block (Log, Handler) push the oldest lines
// out when it is full, counting them as lost; the others wait for room.
type queue struct {
	wake chan struct{}

	mu      sync.Mutex
	items   []pending
	bytes   int
	max     int
	lost    uint64 // pushed out since the last commit
	pushed  uint64 // lines ever queued
	settled uint64 // lines ever committed or lost
	closed  bool
	changed chan struct{} // closed and replaced when settled grows or room frees
	since   time.Time     // when the queue last became non-empty
}

func newQueue(maxBytes int) *queue {
	return &queue{wake: make(chan struct{}, 1), max: max(maxBytes, 64*1024), changed: make(chan struct{})}
}

func (q *queue) signal() {
	close(q.changed)
	q.changed = make(chan struct{})
}

// push queues p, pushing out the oldest lines if there is no room. It
// reports whether p was queued (false after close).
func (q *queue) push(p pending) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return false
	}
	for q.bytes+p.size > q.max && len(q.items) > 0 {
		old := q.items[0]
		q.items = q.items[1:]
		q.bytes -= old.size
		if old.entry != nil {
			q.lost++
			q.settled++
		}
	}
	if len(q.items) == 0 {
		q.since = time.Now()
	}
	q.items = append(q.items, p)
	q.bytes += p.size
	if p.entry != nil {
		q.pushed++
	}
	return true
}

// pushWait queues ps once there is room for them, or returns ctx's error.
func (q *queue) pushWait(ctx context.Context, ps []pending) error {
	size := 0
	for _, p := range ps {
		size += p.size
	}
	q.mu.Lock()
	for !q.closed && len(q.items) > 0 && q.bytes+size > q.max {
		ch := q.changed
		q.mu.Unlock()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		}
		q.mu.Lock()
	}
	defer q.mu.Unlock()
	if q.closed {
		return context.Canceled
	}
	if len(q.items) == 0 {
		q.since = time.Now()
	}
	for _, p := range ps {
		q.items = append(q.items, p)
		q.bytes += p.size
		if p.entry != nil {
			q.pushed++
		}
	}
	return nil
}

// take removes the oldest queued items, up to about maxBytes (at least
// one), and the count of lines pushed out.
func (q *queue) take(maxBytes int) ([]pending, uint64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	n, size := 0, 0
	for n < len(q.items) && (n == 0 || size+q.items[n].size <= maxBytes) {
		size += q.items[n].size
		n++
	}
	items, lost := q.items[:n:n], q.lost
	q.items, q.bytes, q.lost = q.items[n:], q.bytes-size, 0
	if len(q.items) == 0 {
		q.items = nil
	}
	if n > 0 {
		q.signal()
	}
	return items, lost
}

// empty reports whether nothing is queued.
func (q *queue) empty() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items) == 0 && q.lost == 0
}

// waiting returns how long lines have been waiting in the queue without
// it becoming empty (0 when empty).
func (q *queue) waiting() time.Duration {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.items) == 0 {
		return 0
	}
	return time.Since(q.since)
}

// putBack returns items that could not be committed to the front.
func (q *queue) putBack(items []pending, lost uint64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.items = append(items, q.items...)
	q.lost += lost
	for _, p := range items {
		q.bytes += p.size
	}
}

// committed records that n lines reached the spool.
func (q *queue) committed(n int, lost uint64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.settled += uint64(n) + lost
	q.signal()
}

// wait returns once every line queued before the call is committed or lost.
func (q *queue) wait(ctx context.Context) error {
	q.mu.Lock()
	target := q.pushed
	for q.settled < target && !q.closed {
		ch := q.changed
		q.mu.Unlock()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		}
		q.mu.Lock()
	}
	q.mu.Unlock()
	return nil
}

func (q *queue) close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
}

func (q *queue) isClosed() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.closed
}

// writer moves queued lines into the spool, in pieces of at most
// spool.ChunkBytes, until the queue is closed and empty. While the spool is
// degraded (its disk refuses writes) it asks the spool to try the disk
// again every spool.RetryEvery.
func (a *Agent) writer() {
	defer close(a.writerDone)
	var retry <-chan time.Time
	degraded := false
	for {
		select {
		case <-a.queue.wake:
		case <-retry:
			if degraded {
				a.spool.Retry()
			}
		}
		retry = nil
		closed := a.queue.isClosed()
		for {
			if err := a.commit(); err != nil {
				a.log.Error("spool lines", "err", err)
				if closed {
					return
				}
				retry = time.After(time.Second)
				break
			}
			if a.queue.empty() {
				break
			}
		}
		st := a.spool.Stats()
		if st.Degraded != degraded {
			degraded = st.Degraded
			if degraded {
				a.log.Error("spool: the disk refuses writes; keeping new lines in memory (beyond its bound the oldest are dropped, counted) and retrying",
					"err", st.DiskError, "memory_lines", st.MemoryLines)
			} else {
				a.log.Info("spool: the disk takes writes again; the lines kept in memory are on disk", "spooled_lines", st.Lines)
			}
		}
		if degraded && retry == nil {
			retry = time.After(spool.RetryEvery)
		}
		if closed {
			return
		}
	}
}

// commit appends the oldest queued lines, up to spool.ChunkBytes, to the
// spool.
func (a *Agent) commit() error {
	items, lost := a.queue.take(spool.ChunkBytes)
	if len(items) == 0 && lost == 0 {
		return nil
	}
	entries := make([]protocol.LogEntry, 0, len(items))
	marks := map[string][]byte{}
	bytes := 0
	for _, p := range items {
		if p.entry != nil {
			entries = append(entries, *p.entry)
			bytes += p.size
		}
		if p.mark != "" {
			marks[p.mark] = p.markValue
		}
	}
	wasEmpty := a.spool.Stats().Lines == 0
	stored, err := a.spool.Append(entries, lost, marks)
	if err != nil {
		a.queue.putBack(items, lost)
		return err
	}
	a.mark(&a.prog.committed)
	if wasEmpty {
		// Delivery had nothing to do until now: its clock starts here.
		a.mark(&a.prog.moved)
	}
	if lost > 0 {
		a.log.Warn("log lines arrived faster than they could be spooled; dropped the oldest", "dropped", lost)
	}
	a.ring.add(stored)
	if rank := protocol.LevelRank(a.Config().UrgentLevel); rank >= 0 {
		for i := len(stored) - 1; i >= 0; i-- {
			if protocol.LevelRank(stored[i].Level) >= rank {
				a.urgentSeq.Store(max(a.urgentSeq.Load(), stored[i].Seq))
				break
			}
		}
	}
	a.appended.Add(int64(bytes))
	a.queue.committed(len(stored), lost)
	notify(a.newLines)
	return nil
}

// entrySize estimates the encoded size of e.
func entrySize(e protocol.LogEntry) int {
	n := 96 + len(e.Message) + len(e.Source)
	for k, v := range e.Attrs {
		n += len(k) + len(protocol.AttrString(v)) + 6
	}
	return n
}

// ring keeps the most recent lines for get_logs.
type ring struct {
	mu    sync.Mutex
	buf   []protocol.LogEntry
	start int // index of the oldest
	n     int
}

func newRing(size int) *ring { return &ring{buf: make([]protocol.LogEntry, size)} }

func (r *ring) add(entries []protocol.LogEntry) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range entries {
		if r.n < len(r.buf) {
			r.buf[(r.start+r.n)%len(r.buf)] = e
			r.n++
			continue
		}
		r.buf[r.start] = e
		r.start = (r.start + 1) % len(r.buf)
	}
}

// newest returns, in order, the last count lines with Seq > since, with
// consecutive sequence numbers (a result is stored as one batch, so it stops
// at a gap).
func (r *ring) newest(since uint64, count int) []protocol.LogEntry {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []protocol.LogEntry
	for i := r.n - 1; i >= 0 && len(out) < count; i-- {
		e := r.buf[(r.start+i)%len(r.buf)]
		if e.Seq <= since || (len(out) > 0 && e.Seq != out[len(out)-1].Seq-1) {
			break
		}
		out = append(out, e)
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}
