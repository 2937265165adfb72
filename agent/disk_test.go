package agent_test

import (
	"fmt"
	"strings"
	"syscall"
	"testing"

	"github.com/edgesync/edgesync/agent"
	"github.com/edgesync/edgesync/agent/agenttest"
	"github.com/edgesync/edgesync/agent/spool/spooltest"
)

func TestFullDiskDeliversDirectlyWhileConnected(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	cfg := testConfig(t, srv)
	disk := spooltest.NewDiskFS(cfg.SpoolDir)
	a := newAgent(t, cfg, agent.WithSpoolFS(disk))
	start(t, a)
	waitFor(t, srv, "hello", func(v agenttest.View) bool { return len(v.Hellos()) == 1 })

	disk.FailWrites(syscall.ENOSPC)
	const n = 500
	for i := 1; i <= n; i++ {
		a.Log("info", lineMsg(i), "test")
	}
	waitDelivered(t, srv, a, n)
	checkExactlyOnce(t, srv, n, lineMsg)
	if st := a.Stats(); !st.SpoolDegraded || st.Dropped != 0 || !strings.Contains(st.SpoolDiskError, "no space") {
		t.Errorf("stats = %+v, want degraded with nothing dropped", st)
	}
	if disk.Refused() == 0 {
		t.Errorf("the disk was never written to while full")
	}
}

func TestFullDiskCountsDropsAndRecoversByItself(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	srv.RefuseAll(true) // and the cloud is out of reach
	cfg := testConfig(t, srv)
	cfg.SpoolMaxBytes = 64 * 1024 // memory holds at most this much too
	disk := spooltest.NewDiskFS(cfg.SpoolDir)
	a := newAgent(t, cfg, agent.WithSpoolFS(disk))
	start(t, a)

	disk.FailWrites(syscall.ENOSPC)
	const n = 2000 // ~300 KB
	msg := func(i int) string { return fmt.Sprintf("%05d %s", i, strings.Repeat("d", 150)) }
	for i := 1; i <= n; i++ {
		a.Log("info", msg(i), "test")
		if i%100 == 0 {
			waitSpooled(t, a)
		}
	}
	waitSpooled(t, a)
	st := a.Stats()
	if !st.SpoolDegraded || st.Dropped == 0 || st.Dropped+st.SpoolLines != n {
		t.Fatalf("stats = %+v, want degraded, drops counted and dropped + held = %d", st, n)
	}

	// Space returns and then the cloud: no restart, no command.
	disk.FailWrites(nil)
	waitFor(t, srv, "the spool on disk again", func(agenttest.View) bool { return !a.Stats().SpoolDegraded })
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
	})
	// And new lines go through the disk again.
	for i := n + 1; i <= n+10; i++ {
		a.Log("info", msg(i), "test")
	}
	waitFor(t, srv, "lines after recovery", func(v agenttest.View) bool { return v.Stored() == kept+10 && v.AllAcked() })
	if st := a.Stats(); st.SpoolDegraded || st.SpoolMemoryLines != 0 {
		t.Errorf("stats after recovery = %+v", st)
	}
}
