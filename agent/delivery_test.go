package agent_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/edgesync/edgesync/agent"
	"github.com/edgesync/edgesync/agent/agenttest"
	"github.com/edgesync/edgesync/protocol"
)

func randomText(n int) string {
	b := make([]byte, n*3/4+1)
	rand.Read(b)
	return base64.RawStdEncoding.EncodeToString(b)[:n]
}

func TestBatchWindowHoldsLinesUntilAMessageIsFull(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	cfg := testConfig(t, srv)
	cfg.BatchWindowMS = 60000 // only a full message's worth of bytes sends
	cfg.BatchMaxBytes = 4096
	a := newAgent(t, cfg)
	start(t, a)
	waitFor(t, srv, "hello", func(v agenttest.View) bool { return len(v.Hellos()) == 1 })
	// Well under 4 KB: held by the window.
	for i := 1; i <= 5; i++ {
		a.Log("info", lineMsg(i), "test")
	}
	waitSpooled(t, a)
	// A command round trip: the agent has processed its events by now.
	command(t, srv, protocol.CommandPing, nil)
	srv.Inspect(func(v agenttest.View) {
		if n := len(v.Batches()); n != 0 {
			t.Errorf("%d batches sent inside the window, want 0", n)
		}
	})
	// Enough bytes to fill a message: everything goes, the first lines too.
	n := 5
	for a.Stats().NextSeq <= 80 {
		n++
		a.Log("info", lineMsg(n)+" "+strings.Repeat("x", 80), "test")
		waitSpooled(t, a)
		if n > 1000 {
			t.Fatal("lines never reached the spool")
		}
	}
	waitFor(t, srv, "the first batch", func(v agenttest.View) bool { return len(v.Batches()) >= 1 })
	srv.Inspect(func(v agenttest.View) {
		b := v.Batches()[0]
		if b.FirstSeq != 1 || b.Lines < 6 {
			t.Errorf("first batch = %+v, want it to start at seq 1 with the held lines", b)
		}
		if b.Bytes > cfg.BatchMaxBytes {
			t.Errorf("batch of %d bytes, limit %d", b.Bytes, cfg.BatchMaxBytes)
		}
	})
}

func TestBatchesSplitAt32KB(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	cfg := testConfig(t, srv)
	a := newAgent(t, cfg)
	// Incompressible lines, ~600 KB: many messages.
	const n = 3000
	msgs := make([]string, n+1)
	for i := 1; i <= n; i++ {
		msgs[i] = fmt.Sprintf("%05d %s", i, randomText(200))
		a.Log("info", msgs[i], "test")
	}
	start(t, a)
	waitDelivered(t, srv, a, n)
	checkExactlyOnce(t, srv, n, func(i int) string { return msgs[i] })
	srv.Inspect(func(v agenttest.View) {
		bs := v.Batches()
		if len(bs) < 600*1024/protocol.MaxFrameBytes {
			t.Errorf("%d batches for ~600 KB, want at least %d", len(bs), 600*1024/protocol.MaxFrameBytes)
		}
		full := 0
		for _, b := range bs {
			if b.Bytes > protocol.MaxFrameBytes {
				t.Errorf("batch %d..%d is %d bytes, over %d", b.FirstSeq, b.LastSeq, b.Bytes, protocol.MaxFrameBytes)
			}
			if b.Bytes > protocol.MaxFrameBytes-400 {
				full++
			}
		}
		if full < len(bs)/2 {
			t.Errorf("only %d of %d batches fill a 32 KB unit", full, len(bs))
		}
		if o := v.Oversized(); len(o) > 0 {
			t.Errorf("oversized messages: %v", o)
		}
	})
}

func TestBatchesCompressWhenItPays(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	cfg := testConfig(t, srv)
	a := newAgent(t, cfg)
	// Repetitive lines compress well: one gzip message carries far more
	// than 32 KB of them. A batch span stays within MaxBatchSpan.
	const n = 6000
	for i := 1; i <= n; i++ {
		a.Log("warn", fmt.Sprintf("sensor %d reading out of range: temperature high, retrying calibration", i%7), "detector")
	}
	start(t, a)
	waitDelivered(t, srv, a, n)
	checkExactlyOnce(t, srv, n, func(i int) string {
		return fmt.Sprintf("sensor %d reading out of range: temperature high, retrying calibration", i%7)
	})
	srv.Inspect(func(v agenttest.View) {
		gz, maxLines := 0, 0
		for _, b := range v.Batches() {
			if b.Gzip {
				gz++
			}
			maxLines = max(maxLines, b.Lines)
			if span := b.LastSeq - b.FirstSeq + 1; span > protocol.MaxBatchSpan {
				t.Errorf("batch span %d over %d", span, protocol.MaxBatchSpan)
			}
		}
		if gz == 0 {
			t.Errorf("no gzip batch among %d", len(v.Batches()))
		}
		// A plain line is ~150 bytes: 32 KB holds ~215 of them.
		if maxLines <= protocol.MaxFrameBytes/100 {
			t.Errorf("largest batch has %d lines; compression should carry more", maxLines)
		}
		lines := v.Lines()
		if e := lines[1]; e.Level != protocol.LevelWarn || e.Source != "detector" || e.Time.IsZero() {
			t.Errorf("decoded line 1 = %+v", e)
		}
	})
}

func TestSmallBatchIsNotCompressed(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	a := newAgent(t, testConfig(t, srv))
	a.Log("info", "x", "test")
	start(t, a)
	waitDelivered(t, srv, a, 1)
	srv.Inspect(func(v agenttest.View) {
		if b := v.Batches()[0]; b.Gzip {
			t.Errorf("one short line was gzipped: %+v", b)
		}
	})
}

func TestOversizedLinesGetThroughTruncated(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	a := newAgent(t, testConfig(t, srv))
	huge := strings.Repeat("A", 100*1024)
	escapes := strings.Repeat("\x01", 16*1024) // each byte encodes as \u0001
	a.Log("error", huge, "test")
	a.Log("error", escapes, "test")
	a.LogEntry(protocol.LogEntry{Level: "info", Message: "attrs", Attrs: protocol.Attrs{"big": strings.Repeat("b", 50*1024)}})
	start(t, a)
	waitDelivered(t, srv, a, 3)
	srv.Inspect(func(v agenttest.View) {
		lines := v.Lines()
		for seq := uint64(1); seq <= 2; seq++ {
			m := lines[seq].Message
			if !strings.Contains(m, "truncated") || len(m) > protocol.MaxMessageLength {
				t.Errorf("seq %d: %d-byte message without a truncation marker: %.40q…", seq, len(m), m)
			}
		}
		if !strings.HasPrefix(lines[1].Message, "AAAA") || !strings.Contains(lines[1].Message, "102400 bytes") {
			t.Errorf("seq 1 = %.60q…, want the start kept and the original size named", lines[1].Message)
		}
		if got := protocol.AttrString(lines[3].Attrs["big"]); len(got) > 2048 || !strings.Contains(got, "truncated") {
			t.Errorf("big attribute kept at %d bytes", len(got))
		}
		for _, b := range v.Batches() {
			if b.Bytes > protocol.MaxFrameBytes {
				t.Errorf("batch of %d bytes", b.Bytes)
			}
		}
	})
}

// sleepRecorder replaces the backoff wait: it records the delays and does
// not wait at all, so the test measures the schedule, not the clock.
type sleepRecorder struct {
	mu     sync.Mutex
	delays []time.Duration
}

func (r *sleepRecorder) sleep(ctx context.Context, d time.Duration) error {
	r.mu.Lock()
	r.delays = append(r.delays, d)
	r.mu.Unlock()
	return ctx.Err()
}

func (r *sleepRecorder) get() []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]time.Duration(nil), r.delays...)
}

func TestReconnectBackoff(t *testing.T) {
	t.Parallel()
	const base, ceiling = 10 * time.Millisecond, 80 * time.Millisecond
	tests := []struct {
		name     string
		jitter   float64
		refuse   int // refused handshakes before one succeeds; -1 all
		attempts int // reconnect_attempts
		want     []time.Duration
		dials    int
		giveUp   bool
	}{
		{"full ceiling doubles up to the cap", 1, 6, 0, []time.Duration{10e6, 20e6, 40e6, 80e6, 80e6, 80e6}, 7, false},
		{"jitter scales the ceiling", 0.5, 3, 0, []time.Duration{5e6, 10e6, 20e6}, 4, false},
		{"gives up after reconnect_attempts", 1, -1, 3, []time.Duration{10e6, 20e6}, 3, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t)
			if tt.refuse < 0 {
				srv.RefuseAll(true)
			} else {
				srv.Refuse(tt.refuse)
			}
			cfg := testConfig(t, srv)
			cfg.ReconnectAttempts = tt.attempts
			rec := &sleepRecorder{}
			a := newAgent(t, cfg, agent.WithBackoff(base, ceiling), agent.WithSleep(rec.sleep),
				agent.WithJitter(func() float64 { return tt.jitter }))
			r := start(t, a)
			if tt.giveUp {
				var err error
				select {
				case err = <-r.done:
				case <-time.After(waitLimit):
					t.Fatal("Run did not give up")
				}
				if err == nil || !strings.Contains(err.Error(), "gave up after 3 attempts") {
					t.Errorf("Run = %v, want it to give up after 3 attempts", err)
				}
				r.done <- err // for cleanup
			} else {
				waitFor(t, srv, "a connection", func(v agenttest.View) bool { return len(v.Hellos()) == 1 })
			}
			if got := rec.get(); fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("backoff delays = %v, want %v", got, tt.want)
			}
			srv.Inspect(func(v agenttest.View) {
				if got := len(v.Dials()); got != tt.dials {
					t.Errorf("handshake attempts = %d, want %d", got, tt.dials)
				}
			})
		})
	}
}

func TestConnectionDroppedMidBatch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		mode agenttest.DropMode
	}{
		{"before the batch is stored", agenttest.DropBeforeStore},
		{"after it is stored, before the ack", agenttest.DropAfterStore},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t)
			srv.DropOnLogs(3, tt.mode)
			cfg := testConfig(t, srv)
			cfg.BatchMaxBytes = 2048 // many small batches, several in flight
			a := newAgent(t, cfg)
			const n = 500
			for i := 1; i <= n/2; i++ {
				a.Log("info", lineMsg(i), "test")
			}
			start(t, a)
			for i := n/2 + 1; i <= n; i++ {
				a.Log("info", lineMsg(i), "test")
			}
			waitDelivered(t, srv, a, n)
			checkDelivered(t, srv, n, lineMsg, false)
			srv.Inspect(func(v agenttest.View) {
				if v.Connections() < 2 {
					t.Errorf("connections = %d, want a reconnect", v.Connections())
				}
			})
		})
	}
}

func TestAcksOutOfOrder(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	srv.ReverseAcks(3)
	cfg := testConfig(t, srv)
	cfg.BatchMaxBytes = 1024
	cfg.AckTimeout = 0.5 // the last, unpaired acks come after a resend
	a := newAgent(t, cfg)
	const n = 300
	for i := 1; i <= n; i++ {
		a.Log("info", lineMsg(i), "test")
	}
	start(t, a)
	waitDelivered(t, srv, a, n)
	srv.Inspect(func(v agenttest.View) {
		if len(v.Lines()) != n || len(v.Conflicts()) > 0 {
			t.Errorf("stored %d lines (conflicts %v), want %d", len(v.Lines()), v.Conflicts(), n)
		}
	})
	if st := a.Stats(); st.LastAckSeq != n {
		t.Errorf("last acked seq = %d, want %d", st.LastAckSeq, n)
	}
}

func TestUnacknowledgedBatchesAreResent(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	srv.WithholdAcks(2)
	cfg := testConfig(t, srv)
	cfg.AckTimeout = 0.2
	a := newAgent(t, cfg)
	const n = 50
	for i := 1; i <= n; i++ {
		a.Log("info", lineMsg(i), "test")
	}
	start(t, a)
	waitDelivered(t, srv, a, n)
	srv.Inspect(func(v agenttest.View) {
		if len(v.Batches()) < 2 {
			t.Errorf("batches = %d, want the withheld one sent again", len(v.Batches()))
		}
		if v.Connections() != 1 {
			t.Errorf("connections = %d, want the resend on the same connection", v.Connections())
		}
	})
}

func TestAgentKilledAndRestarted(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	srv.WithholdAcks(-1) // the first agent's lines are stored, never acked
	cfg := testConfig(t, srv)
	a1 := newAgent(t, cfg)
	r1 := start(t, a1)
	const n1, n2 = 300, 100
	for i := 1; i <= n1; i++ {
		a1.Log("info", lineMsg(i), "test")
	}
	waitSpooled(t, a1)
	waitFor(t, srv, "some lines received", func(v agenttest.View) bool { return v.Stored() >= n1/2 })
	// Crash: Run's context is cancelled; no flush, no close frame.
	if err := r1.crash(t); !errors.Is(err, context.Canceled) {
		t.Errorf("Run after cancel = %v, want context.Canceled", err)
	}
	if st := a1.Stats(); st.SpoolLines != n1 {
		t.Fatalf("spool after the crash holds %d lines, want %d", st.SpoolLines, n1)
	}

	srv.WithholdAcks(0)
	a2 := newAgent(t, cfg)
	start(t, a2)
	waitFor(t, srv, "the second connection", func(v agenttest.View) bool { return len(v.Hellos()) == 2 })
	// get_logs still knows the newest spooled lines after the restart.
	r := command(t, srv, protocol.CommandGetLogs, protocol.GetLogsParams{Count: 3})
	if got := logSeqs(t, r); fmt.Sprint(got) != "[298 299 300]" {
		t.Errorf("get_logs after restart = %v, want [298 299 300]", got)
	}
	for i := n1 + 1; i <= n1+n2; i++ {
		a2.Log("info", lineMsg(i), "test")
	}
	waitDelivered(t, srv, a2, n1+n2)
	checkExactlyOnce(t, srv, n1+n2, lineMsg)
	srv.Inspect(func(v agenttest.View) {
		if st := v.CloseStatuses(); len(st) == 0 || st[0] == websocket.StatusNormalClosure {
			t.Errorf("first connection closed with %v, want an abrupt end", st)
		}
		hellos := v.Hellos()
		if last := hellos[len(hellos)-1]; last.LastAckSeq != 0 {
			t.Errorf("restarted hello last_ack_seq = %d, want 0 (nothing was acked)", last.LastAckSeq)
		}
	})
	if st := a2.Stats(); st.NextSeq != n1+n2+1 || st.LastAckSeq != n1+n2 {
		t.Errorf("stats = %+v, want next seq %d and all acked", st, n1+n2+1)
	}
}

func TestRestartWithGapsInTheSpool(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	// Every other batch acknowledged: the spool keeps runs of lines with
	// gaps between them.
	var mu sync.Mutex
	received := 0
	var withheld []agenttest.Batch
	srv.WithholdAcksIf(func(b agenttest.Batch) bool {
		mu.Lock()
		defer mu.Unlock()
		received++
		if received%2 == 0 {
			withheld = append(withheld, b)
			return true
		}
		return false
	})
	cfg := testConfig(t, srv)
	cfg.BatchMaxBytes = 1024
	// Room for every withheld batch in flight: none waits for a timeout.
	a1 := newAgent(t, cfg, agent.WithMaxInflight(100))
	const n = 200
	msgs := make([]string, n+1)
	for i := 1; i <= n; i++ {
		msgs[i] = lineMsg(i) + " " + randomText(60)
		a1.Log("info", msgs[i], "test")
	}
	r1 := start(t, a1)
	held := func() int {
		mu.Lock()
		defer mu.Unlock()
		lines := 0
		for _, b := range withheld {
			lines += b.Lines
		}
		return lines
	}
	waitFor(t, srv, "every line received and the acks taken", func(v agenttest.View) bool {
		return v.Stored() == n && a1.Stats().SpoolLines == uint64(held())
	})
	r1.crash(t)
	mu.Lock()
	last := withheld[len(withheld)-1]
	if len(withheld) < 2 {
		t.Fatalf("withheld %d batches, want gaps between several", len(withheld))
	}
	mu.Unlock()

	srv.WithholdAcksIf(nil)
	a2 := newAgent(t, cfg)
	start(t, a2)
	waitFor(t, srv, "the second connection", func(v agenttest.View) bool { return len(v.Hellos()) == 2 })
	// get_logs answers with the newest run of consecutive lines.
	r := command(t, srv, protocol.CommandGetLogs, protocol.GetLogsParams{Count: 1000})
	var res protocol.GetLogsResult
	json.Unmarshal(r.Result, &res)
	entries, err := protocol.InflateEntries(res.Encoding, res.Entries, res.Data)
	if err != nil || len(entries) == 0 || entries[0].Seq != last.FirstSeq || entries[len(entries)-1].Seq != last.LastSeq {
		t.Errorf("get_logs = %d entries (%v), want the run %d..%d", len(entries), err, last.FirstSeq, last.LastSeq)
	}
	waitDelivered(t, srv, a2, n)
	checkExactlyOnce(t, srv, n, func(i int) string { return msgs[i] })
}

func TestFullSpoolCountsDrops(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	srv.RefuseAll(true)
	cfg := testConfig(t, srv)
	cfg.SpoolMaxBytes = 64 * 1024
	a := newAgent(t, cfg)
	start(t, a)
	const n = 2000 // ~300 KB: far more than the spool holds
	msg := func(i int) string { return fmt.Sprintf("%05d %s", i, strings.Repeat("d", 150)) }
	for i := 1; i <= n; i++ {
		a.Log("info", msg(i), "test")
		if i%100 == 0 {
			waitSpooled(t, a)
		}
	}
	waitSpooled(t, a)
	st := a.Stats()
	if st.Dropped == 0 || st.Dropped+st.SpoolLines != n {
		t.Fatalf("dropped %d + spooled %d, want %d in all with drops", st.Dropped, st.SpoolLines, n)
	}
	if st.SpoolBytes > cfg.SpoolMaxBytes {
		t.Errorf("spool holds %d bytes, bound %d", st.SpoolBytes, cfg.SpoolMaxBytes)
	}

	srv.RefuseAll(false)
	kept := int(st.SpoolLines)
	waitFor(t, srv, "the kept lines", func(v agenttest.View) bool {
		return v.Stored() == kept && v.AllAcked() && a.Stats().SpoolLines == 0
	})
	srv.Inspect(func(v agenttest.View) {
		for seq, e := range v.Lines() {
			if seq <= st.Dropped || e.Message != msg(int(seq)) {
				t.Errorf("stored seq %d (%q); the oldest %d should have been dropped", seq, e.Message, st.Dropped)
			}
		}
		for _, b := range v.Batches() {
			if b.Dropped != st.Dropped {
				t.Errorf("logs message reports dropped=%d, want %d", b.Dropped, st.Dropped)
			}
		}
	})
	r := command(t, srv, protocol.CommandGetStatus, nil)
	if want := fmt.Sprintf(`"dropped_lines":%d`, st.Dropped); !strings.Contains(string(r.Result), want) {
		t.Errorf("status %s lacks %s", r.Result, want)
	}
}

func TestRejectedBatchIsDroppedNotResentForever(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		echo bool // the error echoes the batch's request_id
	}{
		{"error without the batch's request_id", false},
		{"error naming the batch", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t)
			srv.EchoRequestIDs(tt.echo)
			srv.Reject(func(entries []protocol.LogEntry) *protocol.ErrorMessage {
				for i, e := range entries {
					if strings.Contains(e.Message, "POISON") {
						return &protocol.ErrorMessage{Code: protocol.CodeInvalid, Message: fmt.Sprintf("entries[%d].msg: not allowed", i)}
					}
				}
				return nil
			})
			cfg := testConfig(t, srv)
			cfg.BatchMaxBytes = 1024
			cfg.AckTimeout = 0.3
			a := newAgent(t, cfg)
			const n = 200
			for i := 1; i <= n; i++ {
				m := lineMsg(i)
				if i == 77 {
					m += " POISON"
				}
				a.Log("info", m, "test")
			}
			start(t, a)
			waitFor(t, srv, "all but the rejected batch", func(v agenttest.View) bool {
				st := a.Stats()
				return st.SpoolLines == 0 && st.DroppedInvalid > 0 && v.AllAcked()
			})
			st := a.Stats()
			srv.Inspect(func(v agenttest.View) {
				if got := uint64(v.Stored()) + st.DroppedInvalid; got != n {
					t.Errorf("stored %d + dropped invalid %d = %d, want %d", v.Stored(), st.DroppedInvalid, got, n)
				}
				r := v.Rejected()
				t.Logf("rejected sends: %d; dropped invalid %d", len(r), st.DroppedInvalid)
				if st.DroppedInvalid != 1 {
					t.Errorf("dropped %d lines as invalid, want only the bad one", st.DroppedInvalid)
				}
				if _, ok := v.Lines()[77]; ok || v.Stored() != n-1 {
					t.Errorf("stored %d lines (seq 77 among them: %v), want all but seq 77", v.Stored(), ok)
				}
				// Halving a batch of ~70 lines down to one takes ~7 rejections.
				if len(r) > 12 {
					t.Errorf("the bad line was sent %d times", len(r))
				}
				if last := r[len(r)-1]; last.FirstSeq != 77 || last.LastSeq != 77 {
					t.Errorf("last rejected batch = %+v, want seq 77 alone", last)
				}
			})
			r := command(t, srv, protocol.CommandGetStatus, nil)
			if want := fmt.Sprintf(`"dropped_invalid":%d`, st.DroppedInvalid); !strings.Contains(string(r.Result), want) {
				t.Errorf("status %s lacks %s", r.Result, want)
			}
		})
	}
}

func TestProactiveReconnectBeforeMaxAge(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	cfg := testConfig(t, srv)
	cfg.MaxConnectionAge = 0.2
	a := newAgent(t, cfg)
	start(t, a)
	const n = 100
	for i := 1; i <= n; i++ {
		a.Log("info", lineMsg(i), "test")
	}
	waitFor(t, srv, "two recycled connections", func(v agenttest.View) bool { return len(v.CloseStatuses()) >= 2 })
	waitDelivered(t, srv, a, n)
	srv.Inspect(func(v agenttest.View) {
		for i, st := range v.CloseStatuses() {
			if st != websocket.StatusNormalClosure {
				t.Errorf("connection %d closed with %v, want a normal closure", i, st)
			}
		}
	})
}

func TestShutdownFlushesAndClosesNormally(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	cfg := testConfig(t, srv)
	cfg.BatchWindowMS = 60000 // nothing would go before the window
	a := newAgent(t, cfg)
	r := start(t, a)
	waitFor(t, srv, "hello", func(v agenttest.View) bool { return len(v.Hellos()) == 1 })
	const n = 20
	for i := 1; i <= n; i++ {
		a.Log("info", lineMsg(i), "test")
	}
	if err := a.Shutdown(waitCtx(t)); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := <-r.done; err != nil {
		t.Errorf("Run after Shutdown = %v, want nil", err)
	}
	r.done <- nil
	checkExactlyOnce(t, srv, n, lineMsg)
	waitFor(t, srv, "the close", func(v agenttest.View) bool { return len(v.CloseStatuses()) == 1 })
	srv.Inspect(func(v agenttest.View) {
		if st := v.CloseStatuses()[0]; st != websocket.StatusNormalClosure {
			t.Errorf("closed with %v, want a normal closure", st)
		}
	})
	if st := a.Stats(); st.SpoolLines != 0 {
		t.Errorf("spool holds %d lines after a clean shutdown", st.SpoolLines)
	}
}
