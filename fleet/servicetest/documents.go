package servicetest

import (
	"context"
	"testing"
	"time"

	"github.com/edgesync/edgesync/fleet"
)

func testSyncedDataFreshnessAndFallback(t *testing.T, e *env) {
	ctx := context.Background()
	token := e.terminal(t, "t1")
	e.connect(t, "t1", token, "c1")
	e.send(t, "c1", map[string]any{"type": "hello"})
	cmds := commandsIn(e.push.take(t, "c1"))
	respond(t, e, "c1", cmds["get_config"], true, map[string]any{"threshold": 0.8})
	respond(t, e, "c1", cmds["get_status"], true, map[string]any{"cpu_percent": 12.5})
	respond(t, e, "c1", cmds["get_logs"], true, map[string]any{"entries": entries(1, 3, "info")})
	e.push.take(t, "c1")

	cfg, err := e.svc.TerminalConfig(ctx, admin, "t1")
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.Fresh || cfg.Stale || string(cfg.Data) != `{"threshold":0.8}` {
		t.Fatalf("config right after sync: got fresh=%v stale=%v data=%s", cfg.Fresh, cfg.Stale, cfg.Data)
	}
	if got, want := cfg.FreshUntil, e.clock.Now().Add(300*time.Second); !got.Equal(want) {
		t.Errorf("config fresh until: got %v, want %v (TTL 300 s)", got, want)
	}
	st, _ := e.svc.TerminalStatus(ctx, admin, "t1")
	if got, want := st.FreshUntil, e.clock.Now().Add(60*time.Second); !got.Equal(want) {
		t.Errorf("status fresh until: got %v, want %v (TTL 60 s)", got, want)
	}

	// 61 s later the status is stale, the config still fresh; the read of
	// the stale status returns the last value and pushes one refresh.
	e.clock.Advance(61 * time.Second)
	e.send(t, "c1", map[string]any{"type": "heartbeat"})
	st, _ = e.svc.TerminalStatus(ctx, admin, "t1")
	if st.Fresh || !st.Stale || string(st.Data) != `{"cpu_percent":12.5}` || !st.Refreshing {
		t.Fatalf("status after 61 s: got fresh=%v stale=%v refreshing=%v data=%s; want the last value, stale, refreshing", st.Fresh, st.Stale, st.Refreshing, st.Data)
	}
	if _, err := e.svc.TerminalStatus(ctx, admin, "t1"); err != nil {
		t.Fatal(err)
	}
	refresh := commandsIn(e.push.take(t, "c1"))
	if len(refresh) != 1 || refresh["get_status"] == nil {
		t.Fatalf("refresh pushes after two stale reads: got %v, want exactly one get_status", refresh)
	}
	if cfg, _ := e.svc.TerminalConfig(ctx, admin, "t1"); !cfg.Fresh {
		t.Errorf("config after 61 s: stale, want fresh (TTL 300 s)")
	}
	respond(t, e, "c1", refresh["get_status"], true, map[string]any{"cpu_percent": 50})
	if st, _ := e.svc.TerminalStatus(ctx, admin, "t1"); !st.Fresh || string(st.Data) != `{"cpu_percent":50}` {
		t.Errorf("status after refresh: got fresh=%v data=%s", st.Fresh, st.Data)
	}

	// Offline: stale data stays readable and no refresh is pushed.
	if err := e.svc.Disconnect(ctx, "c1", "test"); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(301 * time.Second)
	cfg, _ = e.svc.TerminalConfig(ctx, admin, "t1")
	if !cfg.Stale || cfg.Refreshing || string(cfg.Data) != `{"threshold":0.8}` {
		t.Errorf("config of offline terminal after 362 s: got stale=%v refreshing=%v data=%s", cfg.Stale, cfg.Refreshing, cfg.Data)
	}
	e.clock.Advance(1800 * time.Second)
	logs, err := e.svc.TerminalLogs(ctx, admin, "t1", fleet.LogQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(logs.Entries) != 3 || !logs.Stale {
		t.Errorf("logs of offline terminal past 1800 s: got %d lines stale=%v, want 3 stale", len(logs.Entries), logs.Stale)
	}
}
