package agent_test

import (
	"testing"
	"time"

	"github.com/edgesync/edgesync/agent"
	"github.com/edgesync/edgesync/agent/agenttest"
	"github.com/edgesync/edgesync/internal/poll"
	"github.com/edgesync/edgesync/protocol"
)

// idleConfig holds lines for a long idle window and reports no status
// unless a test sets an interval.
func idleConfig(t *testing.T, srv *agenttest.Server) agent.Config {
	cfg := testConfig(t, srv)
	cfg.IdleBatchWindowMS = 600000
	cfg.BatchWindowMS = 20
	return cfg
}

// TestLiveHintSendsHeldLines: nobody reading, lines wait for the idle
// window; the server's live hint sends them at once, and for its duration
// new lines go within the live window; after it they wait again.
func TestLiveHintSendsHeldLines(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	a := newAgent(t, idleConfig(t, srv))
	start(t, a)
	waitFor(t, srv, "hello", func(v agenttest.View) bool { return len(v.Hellos()) == 1 })
	for i := 1; i <= 3; i++ {
		a.Log("info", lineMsg(i), "test")
	}
	if err := a.Sync(waitCtx(t)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // ten live windows: lines would have gone if live
	srv.Inspect(func(v agenttest.View) {
		if n := len(v.Batches()); n != 0 {
			t.Fatalf("idle: %d batches sent, want the lines held by the idle window", n)
		}
	})
	if a.Stats().Live {
		t.Fatalf("Live before any hint")
	}

	if err := srv.Send(waitCtx(t), protocol.Live{Type: protocol.TypeLive, Seconds: 1}); err != nil {
		t.Fatal(err)
	}
	waitDelivered(t, srv, a, 3)
	if !a.Stats().Live {
		t.Errorf("Live is false during the live period")
	}
	a.Log("info", lineMsg(4), "test")
	waitDelivered(t, srv, a, 4)

	// After the live period lines wait again.
	poll.Until(t, "the live period's end", func() bool { return !a.Stats().Live })
	a.Log("info", lineMsg(5), "test")
	if err := a.Sync(waitCtx(t)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	srv.Inspect(func(v agenttest.View) {
		if v.Stored() != 4 {
			t.Errorf("after the live period: %d lines stored, want 4 (line 5 held)", v.Stored())
		}
	})
}

// TestStatusRidesWithLines: a status report falling due goes in the logs
// message of the lines waiting for the idle window; with no lines waiting
// it goes on its own.
func TestStatusRidesWithLines(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	cfg := idleConfig(t, srv)
	cfg.StatusInterval = 0.2
	a := newAgent(t, cfg)
	start(t, a)
	waitFor(t, srv, "hello", func(v agenttest.View) bool { return len(v.Hellos()) == 1 })
	for i := 1; i <= 5; i++ {
		a.Log("info", lineMsg(i), "test")
	}
	waitDelivered(t, srv, a, 5)
	srv.Inspect(func(v agenttest.View) {
		b := v.Batches()
		if len(b) != 1 || b[0].FirstSeq != 1 || b[0].LastSeq != 5 || !b[0].Status {
			t.Errorf("batches %+v, want one of lines 1..5 carrying a status report", b)
		}
		if v.CarriedStatuses() != 1 {
			t.Errorf("carried statuses: got %d, want 1", v.CarriedStatuses())
		}
	})
	waitFor(t, srv, "status reports on their own", func(v agenttest.View) bool {
		return len(v.Statuses())-v.CarriedStatuses() >= 2
	})
}

// TestOlderServerGetsStatusOnItsOwn: a server that acks a logs message
// without confirming its status report (it predates them) gets that report
// again on its own, and every later one on its own too.
func TestOlderServerGetsStatusOnItsOwn(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	srv.IgnoreStatusInLogs(true)
	cfg := idleConfig(t, srv)
	cfg.StatusInterval = 0.2
	a := newAgent(t, cfg)
	start(t, a)
	waitFor(t, srv, "hello", func(v agenttest.View) bool { return len(v.Hellos()) == 1 })
	a.Log("info", lineMsg(1), "test")
	waitDelivered(t, srv, a, 1)
	waitFor(t, srv, "the ignored report resent on its own", func(v agenttest.View) bool { return len(v.Statuses()) >= 1 })
	for round := 2; round <= 3; round++ {
		a.Log("info", lineMsg(round), "test")
		waitDelivered(t, srv, a, round)
	}
	srv.Inspect(func(v agenttest.View) {
		b := v.Batches()
		if len(b) != 3 || !b[0].Status || b[1].Status || b[2].Status {
			t.Errorf("batches %+v, want 3, only the first carrying a report", b)
		}
		if v.CarriedStatuses() != 0 {
			t.Errorf("the old server stored %d carried reports, want 0", v.CarriedStatuses())
		}
	})
}

// TestLiveHintsAreBounded: malformed, zero and huge live hints neither
// break the session nor make the agent live beyond protocol.MaxLiveSeconds.
func TestLiveHintsAreBounded(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	a := newAgent(t, idleConfig(t, srv))
	start(t, a)
	waitFor(t, srv, "hello", func(v agenttest.View) bool { return len(v.Hellos()) == 1 })
	for _, msg := range []any{
		map[string]any{"type": "live", "seconds": "soon"},
		protocol.Live{Type: protocol.TypeLive, Seconds: 0},
		protocol.Live{Type: protocol.TypeLive, Seconds: -5},
	} {
		if err := srv.Send(waitCtx(t), msg); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := srv.Command(waitCtx(t), protocol.CommandPing, nil)
	if err != nil || !resp.Success {
		t.Fatalf("ping after bad hints: %+v %v", resp, err)
	}
	if a.Stats().Live {
		t.Errorf("Live after hints of no duration")
	}
	if err := srv.Send(waitCtx(t), protocol.Live{Type: protocol.TypeLive, Seconds: 1 << 30}); err != nil {
		t.Fatal(err)
	}
	a.Log("info", lineMsg(1), "test")
	waitDelivered(t, srv, a, 1)
	st := a.Stats()
	if !st.Live || st.LiveUntil.After(time.Now().Add(protocol.MaxLiveSeconds*time.Second)) {
		t.Errorf("live until %v, want live and at most %d s from now", st.LiveUntil, protocol.MaxLiveSeconds)
	}
}

// TestNoHeartbeatBesideStatus: with the status interval equal to the
// heartbeat interval (both 30 s by default) the status reports keep the
// connection alive: no heartbeat goes, not even when the heartbeat's tick
// comes just before a report (the two timers drift by the time a report
// takes to collect).
func TestNoHeartbeatBesideStatus(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	cfg := idleConfig(t, srv)
	cfg.StatusInterval, cfg.HeartbeatInterval = 0.1, 0.1
	a := newAgent(t, cfg)
	start(t, a)
	waitFor(t, srv, "ten status reports", func(v agenttest.View) bool { return len(v.Statuses()) >= 10 })
	srv.Inspect(func(v agenttest.View) {
		if n := v.Heartbeats(); n != 0 {
			t.Errorf("%d heartbeats beside %d status reports, want none", n, len(v.Statuses()))
		}
	})
}
