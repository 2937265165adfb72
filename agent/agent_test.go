package agent_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/edgesync/edgesync/agent"
	"github.com/edgesync/edgesync/agent/agenttest"
	"github.com/edgesync/edgesync/fleet"
	"github.com/edgesync/edgesync/protocol"
)

const (
	testTerminal = "T-1"
	testToken    = "tok-secret-123"
	// waitLimit bounds every wait for something to happen; reaching it is
	// a failure, never a measure of speed.
	waitLimit = 30 * time.Second
)

func newServer(t *testing.T) *agenttest.Server {
	t.Helper()
	srv := agenttest.NewServer(testTerminal, testToken)
	t.Cleanup(srv.Close)
	return srv
}

// testConfig is a valid config against srv with short intervals.
func testConfig(t *testing.T, srv *agenttest.Server) agent.Config {
	t.Helper()
	cfg := agent.DefaultConfig()
	cfg.TerminalID = testTerminal
	cfg.ServerURL = srv.URL
	cfg.Token = testToken
	cfg.SpoolDir = t.TempDir()
	cfg.WebSocketTimeout = 5
	cfg.ReconnectAttempts = 0
	cfg.StatusInterval = 300
	cfg.HeartbeatInterval = 300
	cfg.AckTimeout = 10
	cfg.BatchWindowMS = 20
	cfg.IdleBatchWindowMS = 0 // always live unless a test says otherwise
	return cfg
}

func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
}

func newAgent(t *testing.T, cfg agent.Config, opts ...agent.Option) *agent.Agent {
	t.Helper()
	opts = append([]agent.Option{agent.WithLogger(quietLogger()), agent.WithBackoff(5*time.Millisecond, 50*time.Millisecond)}, opts...)
	a, err := agent.New(cfg, opts...)
	if err != nil {
		t.Fatalf("agent.New: %v", err)
	}
	return a
}

// started is a running agent.
type started struct {
	a      *agent.Agent
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

// start runs a until the test ends (or stop/crash is called).
func start(t *testing.T, a *agent.Agent) *started {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &started{a: a, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- a.Run(ctx) }()
	t.Cleanup(func() { r.crash(t) })
	return r
}

// crash stops Run by cancelling its context (no flush) and closes the agent.
func (r *started) crash(t *testing.T) error {
	t.Helper()
	var err error
	r.once.Do(func() {
		r.cancel()
		select {
		case err = <-r.done:
		case <-time.After(waitLimit):
			t.Errorf("Run did not return after cancel")
		}
		if cerr := r.a.Close(); cerr != nil {
			t.Errorf("Close: %v", cerr)
		}
	})
	return err
}

func waitCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	t.Cleanup(cancel)
	return ctx
}

func waitFor(t *testing.T, srv *agenttest.Server, what string, cond func(agenttest.View) bool) {
	t.Helper()
	if err := srv.WaitFor(waitCtx(t), cond); err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

// waitDelivered waits until seqs 1..n are stored and acknowledged and the
// agent's spool is empty.
func waitDelivered(t *testing.T, srv *agenttest.Server, a *agent.Agent, n int) {
	t.Helper()
	waitFor(t, srv, fmt.Sprintf("%d lines delivered and acknowledged", n), func(v agenttest.View) bool {
		return v.Stored() >= n && v.AllAcked() && a.Stats().SpoolLines == 0
	})
}

func waitSpooled(t *testing.T, a *agent.Agent) {
	t.Helper()
	if err := a.Sync(waitCtx(t)); err != nil {
		t.Fatalf("Sync: %v", err)
	}
}

func command(t *testing.T, srv *agenttest.Server, name string, params any) protocol.CommandResponse {
	t.Helper()
	resp, err := srv.Command(waitCtx(t), name, params)
	if err != nil {
		t.Fatalf("command %s: %v", name, err)
	}
	if resp.Command != name && name != "" {
		t.Errorf("response command = %q, want %q", resp.Command, name)
	}
	return resp
}

// checkExactlyOnce checks that seqs 1..n are stored once with the expected
// messages and each acknowledged exactly once.
func checkExactlyOnce(t *testing.T, srv *agenttest.Server, n int, msg func(i int) string) {
	t.Helper()
	checkDelivered(t, srv, n, msg, true)
}

// checkDelivered checks that seqs 1..n are stored once with the expected
// messages and each acknowledged: exactly once if once is set, else at
// least once (an ack in flight when a connection breaks may be lost, and
// the lines are then sent and acknowledged again).
func checkDelivered(t *testing.T, srv *agenttest.Server, n int, msg func(i int) string, once bool) {
	t.Helper()
	srv.Inspect(func(v agenttest.View) {
		lines, acks := v.Lines(), v.Acks()
		if len(lines) != n {
			t.Errorf("stored %d distinct seqs, want %d", len(lines), n)
		}
		for seq := uint64(1); seq <= uint64(n); seq++ {
			e, ok := lines[seq]
			if !ok {
				t.Errorf("seq %d missing", seq)
				continue
			}
			if want := msg(int(seq)); e.Message != want {
				t.Errorf("seq %d msg = %q, want %q", seq, e.Message, want)
			}
			if acks[seq] == 0 || (once && acks[seq] != 1) {
				t.Errorf("seq %d acknowledged %d times", seq, acks[seq])
			}
		}
		if c := v.Conflicts(); len(c) > 0 {
			t.Errorf("conflicting resends: %v", c)
		}
		if errs := v.DecodeErrors(); len(errs) > 0 {
			t.Errorf("server rejected messages: %v", errs)
		}
	})
}

func lineMsg(i int) string { return fmt.Sprintf("line %05d", i) }

func TestCommands(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	cfg := testConfig(t, srv)
	file := filepath.Join(t.TempDir(), "agent.json")
	doc, _ := json.MarshalIndent(cfg, "", "  ")
	if err := os.WriteFile(file, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	// The device lets the cloud size its spool.
	policy := agent.Policy{RemoteKeys: append(slices.Clone(agent.DefaultRemoteKeys), "spool_max_bytes")}
	a := newAgent(t, cfg, agent.WithConfigFile(file), agent.WithPolicy(policy))
	start(t, a)
	waitFor(t, srv, "hello", func(v agenttest.View) bool { return len(v.Hellos()) == 1 })
	srv.Inspect(func(v agenttest.View) {
		h := v.Hellos()[0]
		if h.TerminalID != testTerminal || h.AgentVersion == "" || h.ConfigVersion != cfg.Version() || !slices.Contains(h.Capabilities, "gzip") {
			t.Errorf("hello = %+v", h)
		}
	})
	for i := 1; i <= 10; i++ {
		a.Log("info", lineMsg(i), "test")
	}
	waitSpooled(t, a)

	t.Run("ping", func(t *testing.T) {
		r := command(t, srv, protocol.CommandPing, nil)
		if !r.Success || !strings.Contains(string(r.Result), `"pong":true`) {
			t.Errorf("ping = %+v", r)
		}
	})
	t.Run("get_status", func(t *testing.T) {
		r := command(t, srv, protocol.CommandGetStatus, nil)
		var got map[string]any
		if err := json.Unmarshal(r.Result, &got); !r.Success || err != nil {
			t.Fatalf("get_status = %+v (%v)", r, err)
		}
		for _, k := range []string{"cpu_percent", "memory_percent", "disk_percent", "load1", "uptime_seconds", "agent_version",
			"spool_lines", "spool_bytes", "dropped_lines", "dropped_invalid", "config_version", "hostname"} {
			if _, ok := got[k]; !ok {
				t.Errorf("status lacks %q: %s", k, r.Result)
			}
		}
		if got["config_version"] != cfg.Version() {
			t.Errorf("config_version = %v, want %s", got["config_version"], cfg.Version())
		}
	})
	t.Run("get_config redacts secrets", func(t *testing.T) {
		r := command(t, srv, protocol.CommandGetConfig, nil)
		var got map[string]any
		if err := json.Unmarshal(r.Result, &got); !r.Success || err != nil {
			t.Fatalf("get_config = %+v (%v)", r, err)
		}
		if got["token"] != agent.Redacted {
			t.Errorf("token = %v, want %q", got["token"], agent.Redacted)
		}
		if strings.Contains(string(r.Result), testToken) {
			t.Errorf("get_config leaks the token: %s", r.Result)
		}
		if got["terminal_id"] != testTerminal || got["server_url"] != srv.URL {
			t.Errorf("get_config = %s", r.Result)
		}
	})
	t.Run("get_logs", func(t *testing.T) {
		tests := []struct {
			name   string
			params any
			want   []uint64
		}{
			{"newest count", protocol.GetLogsParams{Count: 3}, []uint64{8, 9, 10}},
			{"since_seq", protocol.GetLogsParams{SinceSeq: 7}, []uint64{8, 9, 10}},
			{"since_seq and count", protocol.GetLogsParams{SinceSeq: 2, Count: 2}, []uint64{9, 10}},
			{"default count", nil, []uint64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}},
			{"nothing new", protocol.GetLogsParams{SinceSeq: 10}, nil},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got := logSeqs(t, command(t, srv, protocol.CommandGetLogs, tt.params))
				if !slices.Equal(got, tt.want) {
					t.Errorf("seqs = %v, want %v", got, tt.want)
				}
			})
		}
	})
	t.Run("get_logs bad params", func(t *testing.T) {
		r := command(t, srv, protocol.CommandGetLogs, map[string]any{"count": -1})
		if r.Success || !strings.Contains(r.Error, "count") {
			t.Errorf("get_logs count -1 = %+v, want a failure naming count", r)
		}
	})
	t.Run("set_config", func(t *testing.T) {
		before, _ := os.ReadFile(file)
		get := command(t, srv, protocol.CommandGetConfig, nil)
		var doc map[string]any
		json.Unmarshal(get.Result, &doc)
		doc["spool_max_bytes"] = 1 << 20
		doc["batch_window_ms"] = 30

		bad := withKey(doc, "heartbeat_interval", 900)
		r := command(t, srv, protocol.CommandSetConfig, map[string]any{"config": bad})
		if r.Success || !strings.Contains(r.Error, "heartbeat_interval") {
			t.Errorf("invalid set_config = %+v, want a failure naming heartbeat_interval", r)
		}
		if after, _ := os.ReadFile(file); string(after) != string(before) {
			t.Errorf("invalid set_config changed the file")
		}
		r = command(t, srv, protocol.CommandSetConfig, map[string]any{"config": doc, "version": "not-the-version"})
		if r.Success || !strings.Contains(r.Error, "version") {
			t.Errorf("set_config with a stale version = %+v, want a failure", r)
		}

		r = command(t, srv, protocol.CommandSetConfig, map[string]any{"config": doc, "version": cfg.Version()})
		var res protocol.SetConfigResult
		if err := json.Unmarshal(r.Result, &res); !r.Success || err != nil || res.Version == "" {
			t.Fatalf("set_config = %+v (%v)", r, err)
		}
		if got := a.Config(); got.SpoolMaxBytes != 1<<20 || got.BatchWindowMS != 30 || got.Token != testToken {
			t.Errorf("applied config = %+v", got)
		}
		if a.ConfigVersion() != res.Version {
			t.Errorf("version in effect %s, answered %s", a.ConfigVersion(), res.Version)
		}
		persisted, err := agent.LoadConfig(file, nil)
		if err != nil {
			t.Fatalf("reload persisted config: %v", err)
		}
		if persisted.Token != testToken || persisted.SpoolMaxBytes != 1<<20 || persisted.Version() != res.Version {
			t.Errorf("persisted config = %+v (version %s), want token kept and spool_max_bytes applied", persisted, persisted.Version())
		}
		if fi, _ := os.Stat(file); fi.Mode().Perm() != 0o600 {
			t.Errorf("config file mode = %v, want 0600", fi.Mode().Perm())
		}
		get = command(t, srv, protocol.CommandGetConfig, nil)
		if !strings.Contains(string(get.Result), `"batch_window_ms":30`) {
			t.Errorf("get_config after set_config = %s", get.Result)
		}
	})
	t.Run("unknown command fails", func(t *testing.T) {
		r := command(t, srv, "reboot_now", nil)
		if r.Success || !strings.Contains(r.Error, "unknown command") {
			t.Errorf("unknown command = %+v, want a failed response", r)
		}
	})
	srv.Inspect(func(v agenttest.View) {
		if errs := v.DecodeErrors(); len(errs) > 0 {
			t.Errorf("server rejected messages: %v", errs)
		}
	})
}

func withKey(m map[string]any, k string, v any) map[string]any {
	out := make(map[string]any, len(m))
	for kk, vv := range m {
		out[kk] = vv
	}
	out[k] = v
	return out
}

func TestSetConfigAppliesOnANewConnection(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	cfg := testConfig(t, srv)
	a := newAgent(t, cfg)
	start(t, a)
	waitFor(t, srv, "first connection", func(v agenttest.View) bool { return len(v.Hellos()) == 1 })
	doc := map[string]any{}
	json.Unmarshal(cfg.Document(), &doc)
	doc["token"] = agent.Redacted // keeps the current token
	doc["status_interval"] = 0.05
	r := command(t, srv, protocol.CommandSetConfig, map[string]any{"config": doc})
	if !r.Success {
		t.Fatalf("set_config = %+v", r)
	}
	// A timer change takes effect on a new connection.
	waitFor(t, srv, "reconnect and status", func(v agenttest.View) bool {
		return len(v.Hellos()) >= 2 && len(v.Statuses()) >= 1
	})
	srv.Inspect(func(v agenttest.View) {
		if st := v.CloseStatuses(); len(st) == 0 || st[0] != websocket.StatusNormalClosure {
			t.Errorf("close statuses = %v, want a normal closure first", st)
		}
	})
}

func TestPeriodicStatus(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	cfg := testConfig(t, srv)
	cfg.StatusInterval = 0.05
	a := newAgent(t, cfg)
	start(t, a)
	waitFor(t, srv, "statuses", func(v agenttest.View) bool { return len(v.Statuses()) >= 2 })
	srv.Inspect(func(v agenttest.View) {
		var st agent.StatusReport
		if err := json.Unmarshal(v.Statuses()[0], &st); err != nil {
			t.Fatalf("status: %v", err)
		}
		if st.TerminalID != testTerminal || st.AgentVersion == "" || st.Hostname == "" || st.UptimeSeconds == 0 {
			t.Errorf("status = %+v", st)
		}
	})
}

func TestHeartbeatWhenSilent(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	cfg := testConfig(t, srv)
	cfg.HeartbeatInterval = 0.05
	a := newAgent(t, cfg)
	start(t, a)
	waitFor(t, srv, "heartbeats", func(v agenttest.View) bool { return v.Heartbeats() >= 2 })
}

func TestHandler(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	a := newAgent(t, testConfig(t, srv))
	start(t, a)
	log := slog.New(a.Handler("app", slog.LevelDebug)).With("build", "42").WithGroup("req")
	log.Debug("dbg")
	log.Info("hello", "id", 7, slog.Group("user", "name", "ann"))
	log.Warn("careful")
	log.Error("broken", "err", errors.New("boom"))
	slog.New(a.Handler("app", nil)).Debug("filtered out")
	waitDelivered(t, srv, a, 4)
	tests := []struct {
		seq   uint64
		level string
		msg   string
		attrs map[string]string
	}{
		{1, "debug", "dbg", map[string]string{"build": "42"}},
		{2, "info", "hello", map[string]string{"build": "42", "req.id": "7", "req.user.name": "ann"}},
		{3, "warn", "careful", map[string]string{"build": "42"}},
		{4, "error", "broken", map[string]string{"build": "42", "req.err": "boom"}},
	}
	srv.Inspect(func(v agenttest.View) {
		lines := v.Lines()
		if len(lines) != len(tests) {
			t.Errorf("stored %d lines, want %d", len(lines), len(tests))
		}
		for _, tt := range tests {
			got := lines[tt.seq]
			if got.Level != tt.level || got.Message != tt.msg || got.Source != "app" || !mapsEqual(got.Attrs, tt.attrs) {
				t.Errorf("seq %d = %+v, want level %s msg %q attrs %v", tt.seq, got, tt.level, tt.msg, tt.attrs)
			}
		}
	})
}

func mapsEqual(a protocol.Attrs, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if bv, ok := b[k]; !ok || bv != protocol.AttrString(v) {
			return false
		}
	}
	return true
}

// logSeqs returns the seqs of a get_logs response, checking each message.
func logSeqs(t *testing.T, r protocol.CommandResponse) []uint64 {
	t.Helper()
	var res protocol.GetLogsResult
	if err := json.Unmarshal(r.Result, &res); !r.Success || err != nil {
		t.Fatalf("get_logs = %+v (%v)", r, err)
	}
	entries, err := protocol.InflateEntries(res.Encoding, res.Entries, res.Data)
	if err != nil {
		t.Fatalf("inflate get_logs result: %v", err)
	}
	var seqs []uint64
	for _, e := range entries {
		seqs = append(seqs, e.Seq)
		if e.Message != lineMsg(int(e.Seq)) {
			t.Errorf("seq %d msg = %q", e.Seq, e.Message)
		}
	}
	return seqs
}

func TestForbiddenErrorReconnects(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	a := newAgent(t, testConfig(t, srv))
	start(t, a)
	waitFor(t, srv, "hello", func(v agenttest.View) bool { return len(v.Hellos()) == 1 })
	if err := srv.Send(waitCtx(t), protocol.ErrorMessage{Type: protocol.TypeError, Code: protocol.CodeForbidden, Message: "connection unknown"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, srv, "a new connection", func(v agenttest.View) bool { return len(v.Hellos()) == 2 })
}

// TestFailedHelloReconnects: the server failed to process the hello, so no
// pull will come; the agent reconnects and says hello again. Other internal
// errors keep the connection.
func TestFailedHelloReconnects(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	a := newAgent(t, testConfig(t, srv))
	start(t, a)
	waitFor(t, srv, "hello", func(v agenttest.View) bool { return len(v.Hellos()) == 1 })
	if err := srv.Send(waitCtx(t), protocol.ErrorMessage{Type: protocol.TypeError, Code: protocol.CodeInternal, Message: "store busy", RequestID: "hello"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, srv, "a second hello on a new connection", func(v agenttest.View) bool { return len(v.Hellos()) == 2 })
	if err := srv.Send(waitCtx(t), protocol.ErrorMessage{Type: protocol.TypeError, Code: protocol.CodeInternal, Message: "store busy"}); err != nil {
		t.Fatal(err)
	}
	a.Log("info", "still connected", "test")
	waitFor(t, srv, "the line on the same connection", func(v agenttest.View) bool { return len(v.Hellos()) == 2 && v.Stored() >= 1 })
}

func TestConfigVersionMatchesTheServersName(t *testing.T) {
	t.Parallel()
	// hello and status carry the version the server computes from the
	// get_config document, so both sides name a config the same way.
	cfg := agent.DefaultConfig()
	cfg.TerminalID, cfg.ServerURL, cfg.Token = "T-1", "wss://h/p", "x"
	if got, want := cfg.Version(), fleet.ConfigVersion(cfg.Document()); got != want {
		t.Errorf("Version = %s, fleet.ConfigVersion of the document = %s", got, want)
	}
}
