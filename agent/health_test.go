package agent_test

import (
	"testing"
	"time"

	"github.com/edgesync/edgesync/agent"
	"github.com/edgesync/edgesync/agent/agenttest"
)

func waitHealth(t *testing.T, srv *agenttest.Server, a *agent.Agent, what string, ok bool) agent.Health {
	t.Helper()
	var h agent.Health
	waitFor(t, srv, what, func(agenttest.View) bool {
		h = a.Health()
		return h.OK == ok
	})
	return h
}

func TestHealthFollowsDeliveryProgress(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	cfg := testConfig(t, srv)
	cfg.AckTimeout = 0.2
	a := newAgent(t, cfg, agent.WithStallAfter(200*time.Millisecond))
	start(t, a)
	waitFor(t, srv, "hello", func(v agenttest.View) bool { return len(v.Hellos()) == 1 })

	// Nothing to do: healthy however long it lasts.
	a.Log("info", lineMsg(1), "test")
	waitDelivered(t, srv, a, 1)
	waitHealth(t, srv, a, "healthy with nothing to deliver", true)

	// Connected, but no acknowledgement comes: stalled.
	srv.WithholdAcks(-1)
	a.Log("info", lineMsg(2), "test")
	h := waitHealth(t, srv, a, "stalled without acknowledgements", false)
	if h.Stalled == "" {
		t.Errorf("stalled health without a reason: %+v", h)
	}
	if st := a.LocalStatus(); st.Health.OK || st.OldestUnsentSeq != 2 || st.SpoolLines != 1 || !st.Connected {
		t.Errorf("local status while stalled = %+v", st)
	}

	// Acknowledgements resume: healthy again.
	srv.WithholdAcks(0)
	waitDelivered(t, srv, a, 2)
	waitHealth(t, srv, a, "healthy again", true)

}

func TestHealthWhileTheCloudIsUnreachable(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	srv.RefuseAll(true)
	cfg := testConfig(t, srv)
	// Any wait at all would count as a stall if it were one.
	a := newAgent(t, cfg, agent.WithStallAfter(time.Nanosecond))
	start(t, a)
	a.Log("info", lineMsg(1), "test")
	waitSpooled(t, a)
	waitFor(t, srv, "several refused attempts", func(agenttest.View) bool { return a.Stats().Dials >= 5 })
	// Lines wait and nothing is acknowledged, but the agent keeps trying:
	// restarting it would not help.
	if h := a.Health(); !h.OK {
		t.Errorf("health while the cloud refuses connections = %+v, want OK", h)
	}
	st := a.LocalStatus()
	if st.Connected || st.LastError == "" || st.SpoolLines != 1 || st.OldestUnsentTime.IsZero() {
		t.Errorf("local status while the cloud refuses = %+v", st)
	}
}
