package servicetest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/edgesync/edgesync/fleet"
	"github.com/edgesync/edgesync/protocol"
)

func testHelloPullsStatusConfigLogs(t *testing.T, e *env) {
	token := e.terminal(t, "t1")
	e.connect(t, "t1", token, "c1")
	// Lines 1..5 are already stored: the pull asks only for what follows.
	e.send(t, "c1", map[string]any{"type": "logs", "entries": entries(1, 5, "info")})
	e.push.take(t, "c1")
	e.send(t, "c1", map[string]any{"type": "hello", "terminal_id": "t1", "agent_version": "1.2.3"})
	msgs := e.push.take(t, "c1")
	cmds := commandsIn(msgs)
	for _, name := range []string{"get_status", "get_config", "get_logs"} {
		if cmds[name] == nil {
			t.Errorf("hello: %s not pushed; got %v", name, cmds)
		}
	}
	for _, m := range msgs {
		if m["type"] == protocol.TypeWelcome {
			t.Errorf("hello without the welcome capability answered with a welcome: %v", m)
		}
	}
	params, _ := cmds["get_logs"]["params"].(map[string]any)
	if params["count"] != float64(100) || params["since_seq"] != float64(5) {
		t.Errorf("get_logs params: got %v, want count 100 since_seq 5", params)
	}
	v, _ := e.svc.Terminal(context.Background(), admin, "t1")
	if v.AgentVersion != "1.2.3" {
		t.Errorf("agent version: got %q, want 1.2.3", v.AgentVersion)
	}
}

func testHelloForAnotherTerminalIsRefused(t *testing.T, e *env) {
	token := e.terminal(t, "t1")
	e.terminal(t, "t2")
	e.connect(t, "t1", token, "c1")
	e.send(t, "c1", map[string]any{"type": "hello", "terminal_id": "t2"})
	msgs := e.push.take(t, "c1")
	if len(msgs) != 1 || msgs[0]["type"] != "error" || msgs[0]["code"] != protocol.CodeForbidden {
		t.Fatalf("hello claiming t2 on t1's connection: got %v, want one forbidden error", msgs)
	}
	if v, _ := e.svc.Terminal(context.Background(), admin, "t2"); v.Online {
		t.Errorf("t2 online after another terminal claimed it")
	}
}

func testMalformedMessagesAnswered(t *testing.T, e *env) {
	token := e.terminal(t, "t1")
	e.connect(t, "t1", token, "c1")
	big := `{"type":"heartbeat","pad":"` + strings.Repeat("x", protocol.MaxMessageBytes) + `"}`
	tests := []struct {
		name, body, code string
	}{
		{"not JSON", `hello`, protocol.CodeBadJSON},
		{"array", `[1,2]`, protocol.CodeBadJSON},
		{"truncated", `{"type":"logs"`, protocol.CodeBadJSON},
		{"invalid UTF-8", "{\"type\":\"heartbeat\",\"x\":\"\xff\"}", protocol.CodeBadJSON},
		{"no type", `{"a":1}`, protocol.CodeUnknownType},
		{"unknown type", `{"type":"reboot"}`, protocol.CodeUnknownType},
		{"too large", big, protocol.CodeTooLarge},
		{"seq wrong type", `{"type":"logs","entries":[{"seq":"1","ts":"2026-01-01T00:00:00Z","level":"info","msg":"x"}]}`, protocol.CodeInvalid},
		{"seq overflow", `{"type":"logs","entries":[{"seq":18446744073709551616,"ts":"2026-01-01T00:00:00Z","level":"info","msg":"x"}]}`, protocol.CodeInvalid},
		{"empty batch", `{"type":"logs","entries":[]}`, protocol.CodeInvalid},
		{"unknown request", `{"type":"command_response","request_id":"nope","command":"ping","success":true}`, protocol.CodeInvalid},
		{"status not object", `{"type":"status","status":[1]}`, protocol.CodeInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := e.svc.HandleMessage(context.Background(), "c1", []byte(tt.body)); err != nil {
				t.Fatalf("HandleMessage returned %v; protocol errors must be answered, not returned", err)
			}
			msgs := e.push.take(t, "c1")
			if len(msgs) != 1 || msgs[0]["type"] != "error" || msgs[0]["code"] != tt.code {
				t.Fatalf("got %v, want one error with code %s", msgs, tt.code)
			}
		})
	}
	// An unknown connection is told to reconnect.
	if err := e.svc.HandleMessage(context.Background(), "stranger", []byte(`{"type":"heartbeat"}`)); err != nil {
		t.Fatal(err)
	}
	if msgs := e.push.take(t, "stranger"); len(msgs) != 1 || msgs[0]["code"] != protocol.CodeForbidden {
		t.Fatalf("message on an unknown connection: got %v, want a forbidden error", msgs)
	}
}

func testLogsRedeliveredStoredOnceAndAcked(t *testing.T, e *env) {
	ctx := context.Background()
	token := e.terminal(t, "t1")
	e.connect(t, "t1", token, "c1")
	// A batch, the same batch again, a resend with other boundaries that
	// overlaps both neighbours, and a batch delivered out of order.
	batches := [][2]uint64{{1, 10}, {1, 10}, {21, 30}, {5, 25}, {11, 20}, {31, 31}}
	for _, b := range batches {
		e.send(t, "c1", map[string]any{"type": "logs", "entries": entries(b[0], b[1], "info")})
		msgs := e.push.take(t, "c1")
		if len(msgs) != 1 || msgs[0]["type"] != "ack" || msgs[0]["first_seq"] != float64(b[0]) || msgs[0]["last_seq"] != float64(b[1]) {
			t.Fatalf("ack for %v: got %v", b, msgs)
		}
	}
	check := func(name string, q fleet.LogQuery, want []uint64) fleet.LogPage {
		t.Helper()
		page, err := e.svc.TerminalLogs(ctx, admin, "t1", q)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var got []uint64
		for _, l := range page.Entries {
			got = append(got, l.Seq)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("%s: got seqs %v, want %v", name, got, want)
		}
		return page
	}
	all := seqs(1, 31)
	check("tail of 100", fleet.LogQuery{}, all)
	check("since 0", fleet.LogQuery{HasAfter: true}, all)
	page := check("since 7, count 10", fleet.LogQuery{HasAfter: true, After: 7, Count: 10}, seqs(8, 17))
	var q fleet.LogQuery
	if err := fleet.ParseLogCursor(page.NextCursor, &q); err != nil {
		t.Fatal(err)
	}
	q.Count = 10
	check("next page forward", q, seqs(18, 27))
	page = check("tail of 8", fleet.LogQuery{Count: 8}, seqs(24, 31))
	q = fleet.LogQuery{Count: 8}
	if err := fleet.ParseLogCursor(page.NextCursor, &q); err != nil {
		t.Fatal(err)
	}
	check("older page", q, seqs(16, 23))
	if page.LastSeq != 31 {
		t.Errorf("last seq: got %d, want 31", page.LastSeq)
	}
}

// testLogsCarryingStatus: a status report riding in a logs message is
// stored as a status message would be, and the ack says so; a batch
// without one is acked without it.
func testLogsCarryingStatus(t *testing.T, e *env) {
	ctx := context.Background()
	token := e.terminal(t, "t1")
	e.connect(t, "t1", token, "c1")
	e.send(t, "c1", map[string]any{"type": "logs", "entries": entries(1, 3, "info"), "status": map[string]any{"cpu_percent": 12.5}})
	msgs := e.push.take(t, "c1")
	if len(msgs) != 1 || msgs[0]["type"] != "ack" || msgs[0]["last_seq"] != float64(3) || msgs[0]["status"] != true {
		t.Fatalf("ack of logs with status: got %v, want one ack of 1..3 with status true", msgs)
	}
	st, err := e.svc.TerminalStatus(ctx, admin, "t1")
	if err != nil {
		t.Fatal(err)
	}
	if string(st.Data) != `{"cpu_percent":12.5}` || !st.Fresh || !st.SyncedAt.Equal(e.clock.Now()) {
		t.Errorf("status: got %s fresh=%v synced %v, want the carried report, fresh, synced now", st.Data, st.Fresh, st.SyncedAt)
	}
	hist, err := e.svc.StatusHistory(ctx, admin, "t1", time.Time{}, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 1 {
		t.Errorf("status history: got %d samples, want 1", len(hist))
	}
	page, err := e.svc.TerminalLogs(ctx, admin, "t1", fleet.LogQuery{})
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
	if st, _ := e.svc.TerminalStatus(ctx, admin, "t1"); string(st.Data) != `{"cpu_percent":12.5}` {
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
}
