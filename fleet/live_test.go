package fleet_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/edgesync/edgesync/fleet"
	"github.com/edgesync/edgesync/protocol"
)

// TestLogsCarryingStatus: a status report riding in a logs message is
// stored as a status message would be, and the ack says so; a batch
// without one is acked without it.
func TestLogsCarryingStatus(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		token := e.terminal(t, "t1")
		e.connect(t, "t1", token, "c1")
		e.send(t, "c1", map[string]any{"type": "logs", "entries": entries(1, 3, "info"), "status": map[string]any{"cpu_percent": 12.5}})
		msgs := e.push.take(t, "c1")
		if len(msgs) != 1 || msgs[0]["type"] != "ack" || msgs[0]["last_seq"] != float64(3) || msgs[0]["status"] != true {
			t.Fatalf("ack of logs with status: got %v, want one ack of 1..3 with status true", msgs)
		}
		st, err := e.svc.TerminalStatus(ctx, "t1")
		if err != nil {
			t.Fatal(err)
		}
		if string(st.Data) != `{"cpu_percent":12.5}` || !st.Fresh || !st.SyncedAt.Equal(e.clock.Now()) {
			t.Errorf("status: got %s fresh=%v synced %v, want the carried report, fresh, synced now", st.Data, st.Fresh, st.SyncedAt)
		}
		hist, err := e.svc.StatusHistory(ctx, "t1", time.Time{}, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(hist) != 1 {
			t.Errorf("status history: got %d samples, want 1", len(hist))
		}
		page, err := e.svc.TerminalLogs(ctx, "t1", fleet.LogQuery{})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Entries) != 3 {
			t.Errorf("logs: got %d lines, want 3", len(page.Entries))
		}
		e.push.take(t, "c1") // the live hint of that read

		e.clock.Advance(time.Second)
		e.send(t, "c1", map[string]any{"type": "logs", "entries": entries(4, 4, "info")})
		msgs = e.push.take(t, "c1")
		if len(msgs) != 1 || msgs[0]["type"] != "ack" || msgs[0]["status"] != nil {
			t.Fatalf("ack of logs without status: got %v, want an ack without status", msgs)
		}
		if st, _ := e.svc.TerminalStatus(ctx, "t1"); string(st.Data) != `{"cpu_percent":12.5}` {
			t.Errorf("status after logs without one: got %s, want it unchanged", st.Data)
		}

		// A status that is not an object rejects the message, lines included.
		e.send(t, "c1", map[string]any{"type": "logs", "request_id": "logs:5-5", "entries": entries(5, 5, "info"), "status": "busy"})
		msgs = e.push.take(t, "c1")
		if len(msgs) != 1 || msgs[0]["type"] != "error" || msgs[0]["code"] != protocol.CodeInvalid || msgs[0]["request_id"] != "logs:5-5" {
			t.Fatalf("logs with a bad status: got %v, want an invalid error naming the batch", msgs)
		}
		if tr, _ := e.store.Terminal(ctx, "t1"); tr.LastSeq != 4 {
			t.Errorf("last seq after the rejected batch: got %d, want 4", tr.LastSeq)
		}
	})
}

// TestReadingLogsGoesLive: reading an online terminal's logs pushes it a
// live hint, at most once per renewal period per connection, also across
// service instances (Lambda containers); never to an offline terminal.
func TestReadingLogsGoesLive(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		token := e.terminal(t, "t1")
		e.connect(t, "t1", token, "c1")
		read := func(svc *fleet.Service) bool {
			t.Helper()
			page, err := svc.TerminalLogs(ctx, "t1", fleet.LogQuery{Count: 10})
			if err != nil {
				t.Fatalf("read logs: %v", err)
			}
			return page.Refreshing
		}
		lives := func(connID string) []map[string]any {
			t.Helper()
			var out []map[string]any
			for _, m := range e.push.take(t, connID) {
				if m["type"] == protocol.TypeLive {
					out = append(out, m)
				}
			}
			return out
		}
		other := fleet.NewService(e.store, e.push, fleet.DefaultConfig(), fleet.WithClock(e.clock.Now))

		steps := []struct {
			name      string
			advance   time.Duration
			svc       *fleet.Service
			connect   string // reconnect on this connection first
			disconn   string // disconnect this connection first
			wantConn  string // connection the hint goes to ("" for none)
			wantFresh bool
		}{
			{name: "first read", svc: e.svc, wantConn: "c1"},
			{name: "read again at once", svc: e.svc},
			{name: "another container, same window", advance: 5 * time.Second, svc: other},
			{name: "another container, next window", advance: 6 * time.Second, svc: other, wantConn: "c1"},
			{name: "first container within half the lease", advance: 10 * time.Second, svc: e.svc},
			{name: "first container renews", advance: 20 * time.Second, svc: e.svc, wantConn: "c1"},
			{name: "new connection", advance: time.Second, svc: e.svc, connect: "c2", wantConn: "c2"},
			{name: "offline", advance: time.Minute, svc: e.svc, disconn: "c2"},
		}
		for _, st := range steps {
			e.clock.Advance(st.advance)
			if st.connect != "" {
				e.connect(t, "t1", token, st.connect)
			}
			if st.disconn != "" {
				if err := e.svc.Disconnect(ctx, st.disconn, "test"); err != nil {
					t.Fatal(err)
				}
			}
			refreshing := read(st.svc)
			for _, c := range []string{"c1", "c2"} {
				got := lives(c)
				want := 0
				if c == st.wantConn {
					want = 1
				}
				if len(got) != want {
					t.Fatalf("%s: %d live hints to %s, want %d", st.name, len(got), c, want)
				}
				if want == 1 {
					raw, _ := json.Marshal(got[0])
					if string(raw) != `{"seconds":60,"type":"live"}` {
						t.Errorf("%s: hint %s, want seconds 60", st.name, raw)
					}
				}
			}
			if refreshing != (st.wantConn != "") {
				t.Errorf("%s: Refreshing %v, want %v", st.name, refreshing, st.wantConn != "")
			}
		}
	})
}
