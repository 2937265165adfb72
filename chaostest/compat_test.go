package chaostest

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgesync/edgesync/agent"
	"github.com/edgesync/edgesync/devstack"
	"github.com/edgesync/edgesync/fleet"
	"github.com/edgesync/edgesync/internal/dynalite"
	"github.com/edgesync/edgesync/internal/poll"
)

// TestProtocolVersionsThroughTheStack runs, side by side on the local
// stack (on the embedded store, then on DynamoDB on dynalite), an agent of
// the first protocol version (it announces none of today's capabilities:
// pulls answered, every batch acknowledged), today's agent (welcome, acks
// on request, incremental hello) and a hand-written terminal replaying the
// first version's message shapes. Every line of each is stored exactly
// once and acknowledged.
func TestProtocolVersionsThroughTheStack(t *testing.T) {
	t.Parallel()
	for _, store := range []string{"embedded", "dynamodb"} {
		t.Run(store, func(t *testing.T) {
			t.Parallel()
			cfg := devstack.Config{HTTPAddr: "127.0.0.1:0", WSAddr: "127.0.0.1:0", DataDir: t.TempDir(), Logger: quiet()}
			if store == "dynamodb" {
				db := dynalite.ForTest(t)
				cfg.DynamoDBEndpoint, cfg.Table = db.Endpoint(), "compat"
			}
			s, err := devstack.Start(context.Background(), cfg)
			if err != nil {
				t.Fatalf("start local stack: %v", err)
			}
			t.Cleanup(func() { s.Close(context.Background()) })
			testProtocolVersions(t, s)
		})
	}
}

func testProtocolVersions(t *testing.T, s *devstack.Stack) {
	ctx := context.Background()
	register := func(id string) string {
		token, err := s.Admin().CreateTerminal(ctx, fleet.System("test"), id, "", []string{"compat"})
		if err != nil {
			t.Fatalf("register %s: %v", id, err)
		}
		return token
	}
	const lines = 1500
	agents := map[string]*agent.Agent{}
	for _, v := range []struct {
		id   string
		caps []string
	}{{"first-version", agent.FirstVersionCapabilities}, {"today", agent.Capabilities}} {
		cfg := agent.DefaultConfig()
		cfg.TerminalID, cfg.ServerURL, cfg.Token = v.id, s.WSURL, register(v.id)
		cfg.SpoolDir = filepath.Join(t.TempDir(), v.id)
		cfg.ReconnectAttempts, cfg.BatchWindowMS, cfg.IdleBatchWindowMS, cfg.BatchMaxBytes = 0, 20, 0, 4096
		cfg.AckInterval = 0.5
		a, err := agent.New(cfg, agent.WithLogger(quiet()), agent.WithCapabilities(v.caps))
		if err != nil {
			t.Fatal(err)
		}
		actx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); _ = a.Run(actx) }()
		t.Cleanup(func() {
			sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer scancel()
			_ = a.Shutdown(sctx)
			cancel()
			<-done
			a.Close()
		})
		agents[v.id] = a
	}
	// Half the lines right away, half once the connection is under way
	// (today's agent then sends them deferred, acknowledged on request).
	logLines := func(from, to int) {
		for id, a := range agents {
			for i := from; i <= to; i++ {
				level := "info"
				if i%100 == 0 {
					level = "error"
				}
				a.Log(level, fmt.Sprintf("%s line %d", id, i), "compat")
			}
		}
	}
	logLines(1, lines/2)
	poll.Until(t, "both agents connected", func() bool {
		return agents["first-version"].Stats().Connected && agents["today"].Stats().Connected
	})
	time.Sleep(300 * time.Millisecond)
	logLines(lines/2+1, lines)

	// The hand-written terminal: hello, the three pulls, then logs acked
	// batch by batch, a status message and a heartbeat.
	raw := dialTerminal(t, s, "raw-1", register("raw-1"))
	for b := range 3 {
		first := 1 + b*10
		var entries []string
		for seq := first; seq < first+10; seq++ {
			entries = append(entries, fmt.Sprintf(`{"seq":%d,"ts":"2026-11-27T10:00:%02d.5Z","level":"warn","msg":"raw line %d","attrs":{"n":"%d"}}`, seq, seq%60, seq, seq))
		}
		raw.say(t, fmt.Sprintf(`{"type":"logs","request_id":"logs:%d-%d","entries":[%s]}`, first, first+9, strings.Join(entries, ",")))
	}
	raw.say(t, `{"type":"status","status":{"cpu_percent":3}}`)
	raw.say(t, `{"type":"heartbeat"}`)
	poll.Until(t, "the hand-written terminal's three batches acknowledged, batch by batch", func() bool {
		raw.mu.Lock()
		defer raw.mu.Unlock()
		acks := 0
		for _, m := range raw.got {
			switch m["type"] {
			case "ack":
				if m["last_seq"].(float64)-m["first_seq"].(float64) == 9 {
					acks++
				}
			case "welcome":
				t.Fatalf("the first-version terminal got a welcome: %v", m)
			}
		}
		return acks == 3
	})

	for id, a := range agents {
		poll.Until(t, id+": every line stored and acknowledged", func() bool {
			st := a.Stats()
			return st.SpoolLines == 0 && st.LastAckSeq == lines
		})
	}
	for id, want := range map[string]int{"first-version": lines, "today": lines, "raw-1": 30} {
		seen := map[uint64]int{}
		err := s.Admin().Store().ScanLogChunks(ctx, id, 0, false, time.Now(), func(c fleet.LogChunk) bool {
			for _, e := range c.Entries {
				seen[e.Seq]++
			}
			return true
		})
		if err != nil {
			t.Fatalf("%s: read back: %v", id, err)
		}
		page, err := s.Admin().TerminalLogs(ctx, fleet.System("test"), id, fleet.LogQuery{Count: 1000, HasAfter: true})
		if err != nil {
			t.Fatalf("%s: read logs: %v", id, err)
		}
		for i, e := range page.Entries {
			if e.Seq != uint64(i+1) {
				t.Errorf("%s: line %d of the read has seq %d (want each once, in order)", id, i, e.Seq)
				break
			}
		}
		if len(seen) != want {
			t.Errorf("%s: %d distinct lines stored, want %d", id, len(seen), want)
		}
	}
	// Both versions' status and config are current.
	for _, id := range []string{"first-version", "today", "raw-1"} {
		st, err := s.Admin().TerminalStatus(ctx, fleet.System("test"), id)
		if err != nil || !st.Fresh {
			t.Errorf("%s: status fresh=%v (%v), want fresh", id, st.Fresh, err)
		}
		cfg, err := s.Admin().TerminalConfig(ctx, fleet.System("test"), id)
		if err != nil || !cfg.Fresh {
			t.Errorf("%s: config fresh=%v (%v), want fresh", id, cfg.Fresh, err)
		}
	}
}
