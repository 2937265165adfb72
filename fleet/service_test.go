package fleet_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgesync/edgesync/fleet"
	"github.com/edgesync/edgesync/infra/dynamo"
	"github.com/edgesync/edgesync/infra/embedded"
	"github.com/edgesync/edgesync/internal/dynalite"
	"github.com/edgesync/edgesync/protocol"
)

// recorder is a fleet.Pusher that keeps what was pushed; connections in
// gone answer fleet.ErrGone like API Gateway's 410.
type recorder struct {
	mu   sync.Mutex
	sent map[string][][]byte
	gone map[string]bool
}

func newRecorder() *recorder {
	return &recorder{sent: map[string][][]byte{}, gone: map[string]bool{}}
}

func (r *recorder) Push(_ context.Context, connID string, msg []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.gone[connID] {
		return fleet.ErrGone
	}
	r.sent[connID] = append(r.sent[connID], append([]byte(nil), msg...))
	return nil
}

func (r *recorder) setGone(connID string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.gone[connID] = true
}

// take returns and forgets the messages pushed to connID, decoded as maps.
func (r *recorder) take(t *testing.T, connID string) []map[string]any {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []map[string]any
	for _, raw := range r.sent[connID] {
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatalf("pushed message is not JSON: %s", raw)
		}
		out = append(out, m)
	}
	delete(r.sent, connID)
	return out
}

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

type env struct {
	svc   *fleet.Service
	store fleet.Store
	push  *recorder
	clock *clock
}

var dynamoEndpoint string

func TestMain(m *testing.M) {
	slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil)))
	srv, err := dynalite.Start(context.Background())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	dynamoEndpoint = srv.Endpoint()
	code := m.Run()
	srv.Close()
	os.Exit(code)
}

var tableSeq atomic.Int64

// eachStore runs fn once per Store implementation: the rules must hold on
// the embedded store and on DynamoDB (dynalite) alike.
func eachStore(t *testing.T, fn func(t *testing.T, e *env)) {
	t.Helper()
	for _, kind := range []string{"embedded", "dynamo"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			fn(t, newEnv(t, kind))
		})
	}
}

func newEnv(t *testing.T, kind string) *env {
	t.Helper()
	var st fleet.Store
	switch kind {
	case "embedded":
		es, err := embedded.Open(filepath.Join(t.TempDir(), "edgesync.db"))
		if err != nil {
			t.Fatalf("open embedded store: %v", err)
		}
		t.Cleanup(func() { es.Close() })
		st = es
	case "dynamo":
		client := dynalite.Client(t, dynamoEndpoint)
		table := fmt.Sprintf("fleet-test-%d", tableSeq.Add(1))
		if err := dynamo.CreateTable(context.Background(), client, table); err != nil {
			t.Fatalf("create table: %v", err)
		}
		st = dynamo.New(client, table)
	}
	e := &env{store: st, push: newRecorder(), clock: &clock{now: time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)}}
	e.svc = fleet.NewService(st, e.push, fleet.DefaultConfig(), fleet.WithClock(e.clock.Now))
	return e
}

// terminal creates a terminal and returns its token.
func (e *env) terminal(t *testing.T, id string) string {
	t.Helper()
	token, err := e.svc.CreateTerminal(context.Background(), id, "", nil)
	if err != nil {
		t.Fatalf("create terminal %s: %v", id, err)
	}
	return token
}

// connect creates (if token is empty) and connects a terminal, sends hello and
// answers nothing; it returns the pushed pull commands.
func (e *env) connect(t *testing.T, id, token, connID string) {
	t.Helper()
	if err := e.svc.Connect(context.Background(), fleet.ConnectRequest{ConnectionID: connID, TerminalID: id, Token: token}); err != nil {
		t.Fatalf("connect %s: %v", id, err)
	}
}

func (e *env) send(t *testing.T, connID string, msg any) {
	t.Helper()
	raw, err := json.Marshal(msg)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.svc.HandleMessage(context.Background(), connID, raw); err != nil {
		t.Fatalf("handle %s: %v", raw, err)
	}
}

func commandsIn(msgs []map[string]any) map[string]map[string]any {
	out := map[string]map[string]any{}
	for _, m := range msgs {
		if m["type"] == protocol.TypeCommand {
			out[m["command"].(string)] = m
		}
	}
	return out
}

func TestConnectAuthentication(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, e *env) {
		token := e.terminal(t, "t1")
		revokedToken := e.terminal(t, "t2")
		tr, err := e.store.Terminal(context.Background(), "t2")
		if err != nil {
			t.Fatal(err)
		}
		tr.Credentials[0].NotAfter = e.clock.Now().Add(-time.Second)
		if err := e.store.SetCredentials(context.Background(), "t2", tr.Credentials); err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			name      string
			id, token string
			want      error
		}{
			{"no terminal id", "", token, fleet.ErrUnauthenticated},
			{"no token", "t1", "", fleet.ErrUnauthenticated},
			{"malformed id", "../etc", token, fleet.ErrInvalid},
			{"unknown terminal", "nope", token, fleet.ErrForbidden},
			{"wrong token", "t1", token + "x", fleet.ErrForbidden},
			{"another terminal's token", "t1", revokedToken, fleet.ErrForbidden},
			{"revoked token", "t2", revokedToken, fleet.ErrForbidden},
			{"good", "t1", token, nil},
		}
		for i, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				err := e.svc.Connect(context.Background(), fleet.ConnectRequest{ConnectionID: fmt.Sprintf("c%d", i), TerminalID: tt.id, Token: tt.token})
				if !errors.Is(err, tt.want) && !(tt.want == nil && err == nil) {
					t.Fatalf("Connect: got %v, want %v", err, tt.want)
				}
			})
		}
		v, err := e.svc.Terminal(context.Background(), "t1")
		if err != nil {
			t.Fatal(err)
		}
		if !v.Online {
			t.Errorf("t1 online: got false, want true after a good connect")
		}
	})
}

func TestHelloPullsStatusConfigLogs(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, e *env) {
		token := e.terminal(t, "t1")
		e.connect(t, "t1", token, "c1")
		// Lines 1..5 are already stored: the pull asks only for what follows.
		e.send(t, "c1", map[string]any{"type": "logs", "entries": entries(1, 5, "info")})
		e.push.take(t, "c1")
		e.send(t, "c1", map[string]any{"type": "hello", "terminal_id": "t1", "agent_version": "1.2.3"})
		cmds := commandsIn(e.push.take(t, "c1"))
		for _, name := range []string{"get_status", "get_config", "get_logs"} {
			if cmds[name] == nil {
				t.Errorf("hello: %s not pushed; got %v", name, cmds)
			}
		}
		params, _ := cmds["get_logs"]["params"].(map[string]any)
		if params["count"] != float64(100) || params["since_seq"] != float64(5) {
			t.Errorf("get_logs params: got %v, want count 100 since_seq 5", params)
		}
		v, _ := e.svc.Terminal(context.Background(), "t1")
		if v.AgentVersion != "1.2.3" {
			t.Errorf("agent version: got %q, want 1.2.3", v.AgentVersion)
		}
	})
}

func TestHelloForAnotherTerminalIsRefused(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, e *env) {
		token := e.terminal(t, "t1")
		e.terminal(t, "t2")
		e.connect(t, "t1", token, "c1")
		e.send(t, "c1", map[string]any{"type": "hello", "terminal_id": "t2"})
		msgs := e.push.take(t, "c1")
		if len(msgs) != 1 || msgs[0]["type"] != "error" || msgs[0]["code"] != protocol.CodeForbidden {
			t.Fatalf("hello claiming t2 on t1's connection: got %v, want one forbidden error", msgs)
		}
		if v, _ := e.svc.Terminal(context.Background(), "t2"); v.Online {
			t.Errorf("t2 online after another terminal claimed it")
		}
	})
}

// respond answers the pushed command named name with result.
func respond(t *testing.T, e *env, connID string, cmd map[string]any, success bool, result any) {
	t.Helper()
	msg := map[string]any{"type": "command_response", "request_id": cmd["request_id"], "command": cmd["command"], "success": success}
	if success {
		msg["result"] = result
	} else {
		msg["error"] = fmt.Sprint(result)
	}
	e.send(t, connID, msg)
}

func TestSyncedDataFreshnessAndFallback(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		token := e.terminal(t, "t1")
		e.connect(t, "t1", token, "c1")
		e.send(t, "c1", map[string]any{"type": "hello"})
		cmds := commandsIn(e.push.take(t, "c1"))
		respond(t, e, "c1", cmds["get_config"], true, map[string]any{"threshold": 0.8})
		respond(t, e, "c1", cmds["get_status"], true, map[string]any{"cpu_percent": 12.5})
		respond(t, e, "c1", cmds["get_logs"], true, map[string]any{"entries": entries(1, 3, "info")})
		e.push.take(t, "c1")

		cfg, err := e.svc.TerminalConfig(ctx, "t1")
		if err != nil {
			t.Fatal(err)
		}
		if !cfg.Fresh || cfg.Stale || string(cfg.Data) != `{"threshold":0.8}` {
			t.Fatalf("config right after sync: got fresh=%v stale=%v data=%s", cfg.Fresh, cfg.Stale, cfg.Data)
		}
		if got, want := cfg.FreshUntil, e.clock.Now().Add(300*time.Second); !got.Equal(want) {
			t.Errorf("config fresh until: got %v, want %v (TTL 300 s)", got, want)
		}
		st, _ := e.svc.TerminalStatus(ctx, "t1")
		if got, want := st.FreshUntil, e.clock.Now().Add(60*time.Second); !got.Equal(want) {
			t.Errorf("status fresh until: got %v, want %v (TTL 60 s)", got, want)
		}

		// 61 s later the status is stale, the config still fresh; the read of
		// the stale status returns the last value and pushes one refresh.
		e.clock.Advance(61 * time.Second)
		e.send(t, "c1", map[string]any{"type": "heartbeat"})
		st, _ = e.svc.TerminalStatus(ctx, "t1")
		if st.Fresh || !st.Stale || string(st.Data) != `{"cpu_percent":12.5}` || !st.Refreshing {
			t.Fatalf("status after 61 s: got fresh=%v stale=%v refreshing=%v data=%s; want the last value, stale, refreshing", st.Fresh, st.Stale, st.Refreshing, st.Data)
		}
		if _, err := e.svc.TerminalStatus(ctx, "t1"); err != nil {
			t.Fatal(err)
		}
		refresh := commandsIn(e.push.take(t, "c1"))
		if len(refresh) != 1 || refresh["get_status"] == nil {
			t.Fatalf("refresh pushes after two stale reads: got %v, want exactly one get_status", refresh)
		}
		if cfg, _ := e.svc.TerminalConfig(ctx, "t1"); !cfg.Fresh {
			t.Errorf("config after 61 s: stale, want fresh (TTL 300 s)")
		}
		respond(t, e, "c1", refresh["get_status"], true, map[string]any{"cpu_percent": 50})
		if st, _ := e.svc.TerminalStatus(ctx, "t1"); !st.Fresh || string(st.Data) != `{"cpu_percent":50}` {
			t.Errorf("status after refresh: got fresh=%v data=%s", st.Fresh, st.Data)
		}

		// Offline: stale data stays readable and no refresh is pushed.
		if err := e.svc.Disconnect(ctx, "c1", "test"); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(301 * time.Second)
		cfg, _ = e.svc.TerminalConfig(ctx, "t1")
		if !cfg.Stale || cfg.Refreshing || string(cfg.Data) != `{"threshold":0.8}` {
			t.Errorf("config of offline terminal after 362 s: got stale=%v refreshing=%v data=%s", cfg.Stale, cfg.Refreshing, cfg.Data)
		}
		e.clock.Advance(1800 * time.Second)
		logs, err := e.svc.TerminalLogs(ctx, "t1", fleet.LogQuery{})
		if err != nil {
			t.Fatal(err)
		}
		if len(logs.Entries) != 3 || !logs.Stale {
			t.Errorf("logs of offline terminal past 1800 s: got %d lines stale=%v, want 3 stale", len(logs.Entries), logs.Stale)
		}
	})
}

func entries(from, to uint64, level string) []protocol.LogEntry {
	var out []protocol.LogEntry
	for s := from; s <= to; s++ {
		out = append(out, protocol.LogEntry{Seq: s, Time: time.Date(2026, 11, 27, 9, 0, 0, int(s)*1000, time.UTC), Level: level, Message: fmt.Sprintf("line %d", s)})
	}
	return out
}

func TestLogsRedeliveredStoredOnceAndAcked(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, e *env) {
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
			page, err := e.svc.TerminalLogs(ctx, "t1", q)
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
	})
}

func seqs(from, to uint64) []uint64 {
	var out []uint64
	for s := from; s <= to; s++ {
		out = append(out, s)
	}
	return out
}

func TestLogFilters(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		token := e.terminal(t, "t1")
		e.connect(t, "t1", token, "c1")
		lines := entries(1, 40, "info")
		for i := range lines {
			if i%10 == 9 {
				lines[i].Level = "error"
				lines[i].Message = "Camera FAILED"
			}
		}
		e.send(t, "c1", map[string]any{"type": "logs", "entries": lines})
		tests := []struct {
			name string
			q    fleet.LogQuery
			want int
		}{
			{"level error", fleet.LogQuery{Level: "error"}, 4},
			{"level warning alias", fleet.LogQuery{Level: "warning"}, 4},
			{"search ignores case", fleet.LogQuery{Search: "failed"}, 4},
			{"level info", fleet.LogQuery{Level: "info"}, 40},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				page, err := e.svc.TerminalLogs(ctx, "t1", tt.q)
				if err != nil {
					t.Fatal(err)
				}
				if len(page.Entries) != tt.want {
					t.Errorf("got %d lines, want %d", len(page.Entries), tt.want)
				}
			})
		}
		bad := []fleet.LogQuery{{Count: -1}, {Count: 1001}, {Level: "loud"}, {Search: strings.Repeat("x", 300)}}
		for _, q := range bad {
			if _, err := e.svc.TerminalLogs(ctx, "t1", q); !errors.Is(err, fleet.ErrInvalid) {
				t.Errorf("TerminalLogs(%+v): got %v, want ErrInvalid", q, err)
			}
		}
	})
}

func TestDisconnectAfterReconnectKeepsTerminalOnline(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		token := e.terminal(t, "t1")
		e.connect(t, "t1", token, "old")
		e.clock.Advance(time.Second)
		e.connect(t, "t1", token, "new")
		if err := e.svc.Disconnect(ctx, "old", "close 1006"); err != nil {
			t.Fatal(err)
		}
		v, _ := e.svc.Terminal(ctx, "t1")
		if !v.Online {
			t.Fatalf("after the old connection's late $disconnect: offline, want online on the new connection")
		}
		if err := e.svc.Disconnect(ctx, "new", "close 1000"); err != nil {
			t.Fatal(err)
		}
		v, _ = e.svc.Terminal(ctx, "t1")
		if v.Online || v.DisconnectReason != "close 1000" {
			t.Fatalf("after the current connection's $disconnect: online=%v reason=%q, want offline with reason", v.Online, v.DisconnectReason)
		}
		if err := e.svc.Disconnect(ctx, "new", "again"); err != nil {
			t.Errorf("repeated $disconnect: %v, want nil (idempotent)", err)
		}
	})
}

func TestGoneConnectionIsCleanedUp(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		token := e.terminal(t, "t1")
		e.connect(t, "t1", token, "c1")
		e.push.setGone("c1")
		if _, err := e.svc.SendCommand(ctx, "t1", "ping", nil, "test", 0); !errors.Is(err, fleet.ErrOffline) {
			t.Fatalf("command to a gone connection: got %v, want ErrOffline", err)
		}
		v, _ := e.svc.Terminal(ctx, "t1")
		if v.Online || v.DisconnectReason != "gone" {
			t.Errorf("after 410: online=%v reason=%q, want offline, gone", v.Online, v.DisconnectReason)
		}
		if _, err := e.store.Connection(ctx, "c1", e.clock.Now()); !errors.Is(err, fleet.ErrNotFound) {
			t.Errorf("connection record after 410: got %v, want ErrNotFound", err)
		}
	})
}

func TestCommandLifecycle(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		token := e.terminal(t, "t1")
		e.connect(t, "t1", token, "c1")

		ok, err := e.svc.SendCommand(ctx, "t1", "ping", nil, "test", 0)
		if err != nil {
			t.Fatal(err)
		}
		failed, _ := e.svc.SendCommand(ctx, "t1", "set_config", json.RawMessage(`{"config":{}}`), "test", 0)
		slow, _ := e.svc.SendCommand(ctx, "t1", "ping", nil, "test", 0)
		pushed := e.push.take(t, "c1")
		if len(pushed) != 3 {
			t.Fatalf("pushed: got %d messages, want 3", len(pushed))
		}
		respond(t, e, "c1", pushed[0], true, map[string]any{})
		respond(t, e, "c1", pushed[1], false, "config rejected: threshold out of range")
		e.clock.Advance(10 * time.Second)
		respond(t, e, "c1", pushed[2], true, map[string]any{}) // late: at the deadline
		tests := []struct {
			name string
			id   string
			want fleet.CommandState
		}{
			{"answered", ok.RequestID, fleet.CommandSucceeded},
			{"failed", failed.RequestID, fleet.CommandFailed},
			{"late answer", slow.RequestID, fleet.CommandTimedOut},
		}
		for _, tt := range tests {
			c, err := e.svc.Command(ctx, "t1", tt.id)
			if err != nil {
				t.Fatal(err)
			}
			if c.State != tt.want {
				t.Errorf("%s: got %s, want %s", tt.name, c.State, tt.want)
			}
		}
		if _, err := e.svc.SendCommand(ctx, "t1", "reboot", nil, "test", 0); !errors.Is(err, fleet.ErrInvalid) {
			t.Errorf("unknown command: got %v, want ErrInvalid", err)
		}
		if _, err := e.svc.Command(ctx, "t1", "nope"); !errors.Is(err, fleet.ErrNotFound) {
			t.Errorf("unknown request id: got %v, want ErrNotFound", err)
		}
	})
}

func TestInactiveTerminalReadsOffline(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		token := e.terminal(t, "t1")
		e.connect(t, "t1", token, "c1")
		e.clock.Advance(119 * time.Second)
		if v, _ := e.svc.Terminal(ctx, "t1"); !v.Online {
			t.Fatalf("119 s after the last message: offline, want online")
		}
		e.clock.Advance(time.Second)
		v, _ := e.svc.Terminal(ctx, "t1")
		if v.Online || !v.Inactive {
			t.Fatalf("120 s after the last message: online=%v inactive=%v, want offline and inactive", v.Online, v.Inactive)
		}
		if _, err := e.svc.SendCommand(ctx, "t1", "ping", nil, "test", 0); !errors.Is(err, fleet.ErrOffline) {
			t.Errorf("command to an inactive terminal: got %v, want ErrOffline", err)
		}
	})
}

func TestMalformedMessagesAnswered(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, e *env) {
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
	})
}

func TestRotateAndRevoke(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		old := e.terminal(t, "t1")
		fresh, err := e.svc.RotateToken(ctx, "t1", time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		try := func(name, token string, want error) {
			t.Helper()
			err := e.svc.Connect(ctx, fleet.ConnectRequest{ConnectionID: "c-" + name, TerminalID: "t1", Token: token})
			if !errors.Is(err, want) && !(want == nil && err == nil) {
				t.Errorf("%s: got %v, want %v", name, err, want)
			}
		}
		try("old token inside the overlap", old, nil)
		try("new token", fresh, nil)
		e.clock.Advance(time.Hour)
		try("old token after the overlap", old, fleet.ErrForbidden)
		try("new token after the overlap", fresh, nil)
		if err := e.svc.RevokeToken(ctx, "t1", ""); err != nil {
			t.Fatal(err)
		}
		try("revoked token", fresh, fleet.ErrForbidden)
		if err := e.svc.RevokeToken(ctx, "t1", "nope"); !errors.Is(err, fleet.ErrNotFound) {
			t.Errorf("revoke unknown credential: got %v, want ErrNotFound", err)
		}
	})
}

// TestReconnectRaceKeepsNewerConnection: the older connection's $connect
// is handled last, yet the newer connection (by API Gateway's
// connectedAt) stays current and the older one's $disconnect changes nothing.
func TestReconnectRaceKeepsNewerConnection(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		token := e.terminal(t, "t1")
		opened := e.clock.Now().Add(-2 * time.Second)
		newer := fleet.ConnectRequest{ConnectionID: "new", TerminalID: "t1", Token: token, ConnectedAt: opened.Add(time.Second)}
		older := fleet.ConnectRequest{ConnectionID: "old", TerminalID: "t1", Token: token, ConnectedAt: opened}
		if err := e.svc.Connect(ctx, newer); err != nil {
			t.Fatal(err)
		}
		if err := e.svc.Connect(ctx, older); err != nil {
			t.Fatal(err)
		}
		tr, _ := e.store.Terminal(ctx, "t1")
		if tr.ConnectionID != "new" {
			t.Fatalf("current connection: got %q, want new", tr.ConnectionID)
		}
		if err := e.svc.Disconnect(ctx, "old", "close 1006"); err != nil {
			t.Fatal(err)
		}
		if v, _ := e.svc.Terminal(ctx, "t1"); !v.Online {
			t.Errorf("after the older connection's $disconnect: offline, want online on the newer one")
		}
	})
}
