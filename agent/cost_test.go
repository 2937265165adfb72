package agent_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/edgesync/edgesync/agent"
	"github.com/edgesync/edgesync/agent/agenttest"
	"github.com/edgesync/edgesync/fleet"
	"github.com/edgesync/edgesync/internal/poll"
	"github.com/edgesync/edgesync/protocol"
)

// TestUrgentLinesGoAtOnce: nobody reading, lines wait for the idle
// window, but a line at urgent_level (error) goes at once with the lines
// before it; with urgent_level empty it waits too.
func TestUrgentLinesGoAtOnce(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name   string
		urgent string
		sent   bool
	}{{"error is urgent", protocol.LevelError, true}, {"nothing is urgent", "", false}} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t)
			cfg := idleConfig(t, srv)
			cfg.UrgentLevel = tt.urgent
			a := newAgent(t, cfg)
			start(t, a)
			waitFor(t, srv, "hello", func(v agenttest.View) bool { return len(v.Hellos()) == 1 })
			a.Log("info", lineMsg(1), "test")
			a.Log("warn", lineMsg(2), "test")
			if err := a.Sync(waitCtx(t)); err != nil {
				t.Fatal(err)
			}
			time.Sleep(100 * time.Millisecond)
			srv.Inspect(func(v agenttest.View) {
				if n := len(v.Batches()); n != 0 {
					t.Fatalf("info and warn lines: %d batches sent, want them held by the idle window", n)
				}
			})
			a.Log("error", lineMsg(3), "test")
			if !tt.sent {
				if err := a.Sync(waitCtx(t)); err != nil {
					t.Fatal(err)
				}
				time.Sleep(100 * time.Millisecond)
				srv.Inspect(func(v agenttest.View) {
					if n := len(v.Batches()); n != 0 {
						t.Errorf("error line with no urgent level: %d batches sent, want none", n)
					}
				})
				return
			}
			waitDelivered(t, srv, a, 3)
			srv.Inspect(func(v agenttest.View) {
				if b := v.Batches(); len(b) != 1 || b[0].FirstSeq != 1 || b[0].LastSeq != 3 {
					t.Errorf("batches %+v, want one of lines 1..3", b)
				}
			})
		})
	}
}

// TestProfiles: the economy profile sets the timing keys it names unless
// the config sets them; the cloud may switch profiles (the device policy's
// default keys allow it), and a switch moves the keys the document leaves
// as they were while keeping those it changes.
func TestProfiles(t *testing.T) {
	t.Parallel()
	cfg, err := agent.ParseConfig([]byte(`{"terminal_id":"T-1","server_url":"wss://h/p","token":"x","profile":"economy","ack_interval":60}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.StatusInterval != 300 || cfg.HeartbeatInterval != 300 || cfg.IdleBatchWindowMS != 300000 || cfg.AckInterval != 60 || cfg.UrgentLevel != "error" {
		t.Errorf("economy: status %v heartbeat %v idle %d ack %v urgent %q; want 300, 300, 300000, 60 (set), error",
			cfg.StatusInterval, cfg.HeartbeatInterval, cfg.IdleBatchWindowMS, cfg.AckInterval, cfg.UrgentLevel)
	}
	if _, err := agent.ParseConfig([]byte(`{"terminal_id":"T-1","server_url":"wss://h/p","token":"x","profile":"cheap"}`), nil); err == nil {
		t.Errorf("unknown profile accepted")
	}

	srv := newServer(t)
	base := testConfig(t, srv)
	base.StatusInterval, base.HeartbeatInterval, base.IdleBatchWindowMS = 30, 30, 30000
	a := newAgent(t, base)
	doc := func(c agent.Config, change map[string]any) json.RawMessage {
		var m map[string]any
		_ = json.Unmarshal(c.Document(), &m)
		for k, v := range change {
			m[k] = v
		}
		raw, _ := json.Marshal(m)
		return raw
	}
	// The whole document as get_config returns it, with the profile changed
	// and one preset key changed too.
	if _, err := a.SetConfig(doc(a.Config(), map[string]any{"profile": "economy", "heartbeat_interval": 120}), ""); err != nil {
		t.Fatalf("set_config to economy: %v", err)
	}
	got := a.Config()
	if got.Profile != "economy" || got.StatusInterval != 300 || got.IdleBatchWindowMS != 300000 || got.HeartbeatInterval != 120 {
		t.Errorf("after switching to economy: profile %q status %v idle %d heartbeat %v; want economy, 300, 300000, 120 (changed with it)",
			got.Profile, got.StatusInterval, got.IdleBatchWindowMS, got.HeartbeatInterval)
	}
	if _, err := a.SetConfig(doc(a.Config(), map[string]any{"profile": "default"}), ""); err != nil {
		t.Fatalf("set_config back to default: %v", err)
	}
	if got := a.Config(); got.StatusInterval != 30 || got.IdleBatchWindowMS != 30000 {
		t.Errorf("back to default: status %v idle %d, want 30 and 30000", got.StatusInterval, got.IdleBatchWindowMS)
	}
}

// TestTypedAttributesOnlyWhenAccepted: an agent sends typed attribute
// values to a server whose welcome accepts them (the fleet service), as
// strings to one that sends no welcome (the first protocol version).
func TestTypedAttributesOnlyWhenAccepted(t *testing.T) {
	t.Parallel()
	entry := protocol.LogEntry{Level: "info", Message: "typed", Attrs: protocol.Attrs{"n": 12.5, "ok": true, "s": "v"}}

	srv := newServer(t)
	a := newAgent(t, testConfig(t, srv))
	start(t, a)
	a.LogEntry(entry)
	waitDelivered(t, srv, a, 1)
	srv.Inspect(func(v agenttest.View) {
		if got := v.Lines()[1].Attrs; got["n"] != "12.5" || got["ok"] != "true" || got["s"] != "v" {
			t.Errorf("to a server of the first version: attrs %#v, want strings", got)
		}
	})

	b := newFleetBridge(t)
	ctx := context.Background()
	token, cred := fleet.NewToken(time.Now())
	if err := b.store.CreateTerminal(ctx, fleet.Terminal{ID: "press-07", Credentials: []fleet.Credential{cred}, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	cfg := agent.DefaultConfig()
	cfg.TerminalID, cfg.ServerURL, cfg.Token, cfg.SpoolDir = "press-07", b.url, token, t.TempDir()
	cfg.BatchWindowMS, cfg.IdleBatchWindowMS = 20, 0
	a2 := newAgent(t, cfg)
	start(t, a2)
	poll.Until(t, "the welcome", func() bool { return a2.Stats().Sessions > 0 })
	time.Sleep(100 * time.Millisecond)
	a2.LogEntry(entry)
	var got protocol.Attrs
	poll.Until(t, "the typed line stored", func() bool {
		_ = b.store.ScanLogChunks(ctx, "press-07", 0, false, time.Now(), func(c fleet.LogChunk) bool {
			for _, e := range c.Entries {
				if e.Message == "typed" {
					got = e.Attrs
				}
			}
			return true
		})
		return got != nil
	})
	if _, isString := got["n"].(string); isString || protocol.AttrString(got["n"]) != "12.5" || got["ok"] != true {
		t.Errorf("to the fleet service: attrs %#v, want typed", got)
	}
}
