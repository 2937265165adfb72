package agent

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultStallAfter is the least time delivery may make no progress, with
// lines waiting, before Health reports the agent stalled (see
// WithStallAfter; the config's windows can make it longer).
const DefaultStallAfter = 5 * time.Minute

// WithStallAfter sets how long delivery may make no progress, with lines
// waiting, before Health reports the agent stalled (default: the larger of
// DefaultStallAfter and three times idle_batch_window_ms + status_interval
// + ack_timeout).
func WithStallAfter(d time.Duration) Option { return func(o *options) { o.stallAfter = d } }

// progress records when the agent last did its work, for Health and the
// local status. Durations are monotonic, since the agent started.
type progress struct {
	moved     atomic.Int64 // delivery progressed or had nothing to do
	dialed    atomic.Int64 // a connection attempt ended
	committed atomic.Int64 // lines reached the spool

	ackedLines     atomic.Uint64 // lines acknowledged since the start
	lastAckAt      atomic.Int64  // wall clock, unix nanoseconds
	connectedSince atomic.Int64  // wall clock, unix nanoseconds; 0 when disconnected

	mu      sync.Mutex
	lastErr string // why the last connection attempt or connection failed
}

func (a *Agent) mark(v *atomic.Int64) { v.Store(int64(a.sinceStart())) }

// acked records an acknowledgement of n lines.
func (a *Agent) acked(n int) {
	a.mark(&a.prog.moved)
	if n > 0 {
		a.prog.ackedLines.Add(uint64(n))
		a.prog.lastAckAt.Store(time.Now().UnixNano())
	}
}

func (a *Agent) setLastError(err error) {
	a.prog.mu.Lock()
	defer a.prog.mu.Unlock()
	a.prog.lastErr = ""
	if err != nil {
		a.prog.lastErr = err.Error()
	}
}

func (a *Agent) lastError() string {
	a.prog.mu.Lock()
	defer a.prog.mu.Unlock()
	return a.prog.lastErr
}

// stallAfter is how long delivery may make no progress before it counts
// as stalled.
func (a *Agent) stallAfter() time.Duration {
	if a.opts.stallAfter > 0 {
		return a.opts.stallAfter
	}
	c := a.Config()
	window := time.Duration(max(c.IdleBatchWindowMS, c.BatchWindowMS)) * time.Millisecond
	return max(DefaultStallAfter, 3*(window+c.StatusInterval.Duration()+c.AckTimeout.Duration()))
}

// Health says whether the agent is doing its work: OK while delivery
// makes progress or has nothing to do. A cloud that cannot be reached is
// not a stall as long as the agent keeps trying; a process watchdog feeds
// on OK (the binary's systemd watchdog does).
type Health struct {
	OK bool `json:"ok"`
	// Stalled says what made no progress, and for how long, when not OK.
	Stalled string `json:"stalled,omitempty"`
}

// Health checks the agent's progress now:
//
//   - nothing to deliver (every line acknowledged, none waiting for the
//     spool): OK;
//   - lines waiting for the spool for the stall time, none reaching it:
//     stalled;
//   - connected, lines waiting, and no acknowledgement for the stall time
//     (counted from when lines started waiting): stalled;
//   - disconnected, and no connection attempt for the stall time plus the
//     backoff's cap: stalled (the reconnect loop is stuck);
//   - else OK.
func (a *Agent) Health() Health {
	now := a.sinceStart()
	limit := a.stallAfter()
	since := func(v *atomic.Int64) time.Duration { return now - time.Duration(v.Load()) }
	st := a.spool.Stats()
	queueEmpty := a.queue.empty()
	if st.Lines == 0 && queueEmpty {
		a.mark(&a.prog.moved)
		return Health{OK: true}
	}
	if d := a.queue.waiting(); d > limit && since(&a.prog.committed) > limit {
		return Health{Stalled: fmt.Sprintf("lines have waited %v for the spool", d.Round(time.Second))}
	}
	if a.connected.Load() {
		if d := since(&a.prog.moved); d > limit {
			return Health{Stalled: fmt.Sprintf("connected, %d lines waiting, no acknowledgement for %v", st.Lines, d.Round(time.Second))}
		}
		return Health{OK: true}
	}
	if d := since(&a.prog.dialed); a.running.Load() && d > limit+a.opts.backoffMax+a.Config().WebSocketTimeout.Duration() {
		return Health{Stalled: fmt.Sprintf("disconnected, no connection attempt for %v", d.Round(time.Second))}
	}
	return Health{OK: true}
}

// LocalStatus is the agent's state as the device sees it, for the local
// status command: it needs no cloud.
type LocalStatus struct {
	Time          time.Time `json:"time"`
	TerminalID    string    `json:"terminal_id"`
	AgentVersion  string    `json:"agent_version"`
	ConfigVersion string    `json:"config_version"`
	ServerURL     string    `json:"server_url"`
	// Connected and since when; LastError says why the last connection
	// attempt or connection failed.
	Connected      bool      `json:"connected"`
	ConnectedSince time.Time `json:"connected_since,omitzero"`
	LastError      string    `json:"last_error,omitempty"`
	Reconnects     uint64    `json:"reconnects"`
	Live           bool      `json:"live"`
	// The spool: lines held (on disk or in memory), its bytes on disk
	// and its bound; degraded while the disk refuses writes.
	SpoolLines         uint64    `json:"spool_lines"`
	SpoolBytes         int64     `json:"spool_bytes"`
	SpoolMaxBytes      int64     `json:"spool_max_bytes"`
	SpoolDegraded      bool      `json:"spool_degraded"`
	SpoolDegradedSince time.Time `json:"spool_degraded_since,omitzero"`
	SpoolMemoryLines   uint64    `json:"spool_memory_lines"`
	DiskError          string    `json:"disk_error,omitempty"`
	// The oldest line not yet acknowledged.
	OldestUnsentSeq  uint64    `json:"oldest_unsent_seq,omitempty"`
	OldestUnsentTime time.Time `json:"oldest_unsent_time,omitzero"`
	NextSeq          uint64    `json:"next_seq"`
	LastAckSeq       uint64    `json:"last_ack_seq"`
	LastAckTime      time.Time `json:"last_ack_time,omitzero"`
	// LinesAcked counts lines acknowledged since the agent started.
	LinesAcked     uint64 `json:"lines_acked"`
	DroppedLines   uint64 `json:"dropped_lines"`
	DroppedInvalid uint64 `json:"dropped_invalid"`
	Health         Health `json:"health"`
}

// LocalStatus returns the agent's state now.
func (a *Agent) LocalStatus() LocalStatus {
	st := a.Stats()
	cfg := a.Config()
	ls := LocalStatus{
		Time: time.Now().UTC(), TerminalID: cfg.TerminalID, AgentVersion: a.opts.version,
		ConfigVersion: st.ConfigVersion, ServerURL: cfg.ServerURL,
		Connected: st.Connected, Reconnects: max(st.Sessions, 1) - 1, Live: st.Live,
		SpoolLines: st.SpoolLines, SpoolBytes: st.SpoolBytes, SpoolMaxBytes: cfg.SpoolMaxBytes,
		SpoolDegraded: st.SpoolDegraded, SpoolDegradedSince: st.SpoolDegradedSince.UTC(),
		SpoolMemoryLines: st.SpoolMemoryLines, DiskError: st.SpoolDiskError,
		NextSeq: st.NextSeq, LastAckSeq: st.LastAckSeq, LinesAcked: a.prog.ackedLines.Load(),
		DroppedLines: st.Dropped, DroppedInvalid: st.DroppedInvalid, Health: a.Health(),
	}
	if n := a.prog.connectedSince.Load(); n != 0 && st.Connected {
		ls.ConnectedSince = time.Unix(0, n).UTC()
	}
	if !st.Connected {
		ls.LastError = a.lastError()
	}
	if n := a.prog.lastAckAt.Load(); n != 0 {
		ls.LastAckTime = time.Unix(0, n).UTC()
	}
	if first := a.spool.Stats().FirstSeq; first != 0 {
		ls.OldestUnsentSeq = first
		if e, err := a.spool.Read(first, first, 1); err == nil && len(e) == 1 {
			ls.OldestUnsentTime = e[0].Time.UTC()
		}
	}
	return ls
}
