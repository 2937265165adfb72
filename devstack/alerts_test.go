package devstack_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/edgesync/edgesync/devstack"
	"github.com/edgesync/edgesync/fleet"
	"github.com/edgesync/edgesync/internal/poll"
)

// TestLocalAlertSink: in the local stack, stopping a demo terminal makes
// the scheduled function open an offline alert and deliver it to the
// stack's sink (the SNS topic in AWS), which serves it at AlertsURL; the
// stored alert shows there too.
func TestLocalAlertSink(t *testing.T) {
	t.Parallel()
	s := start(t, devstack.Config{Demo: 2, ScheduleEvery: 100 * time.Millisecond})
	ctx := context.Background()
	poll.Until(t, "demo terminals online", func() bool {
		v, err := s.Admin().Terminal(ctx, fleet.System("test"), "demo-1")
		return err == nil && v.Online
	})
	rule, err := s.Admin().CreateAlertRule(ctx, fleet.System("test"), "demo", fleet.AlertRule{Kind: fleet.AlertOffline, Name: "stopped"})
	if err != nil {
		t.Fatal(err)
	}
	// POST /demo/{id}/stop, as the browser test does.
	resp, err := http.Post(s.AlertsURL[:len(s.AlertsURL)-len("/alerts")]+"/demo/demo-1/stop", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("POST /demo/demo-1/stop: %s", resp.Status)
	}
	var snap devstack.AlertsSnapshot
	poll.Until(t, "the offline alert of demo-1 delivered", func() bool {
		resp, err := http.Get(s.AlertsURL)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		snap = devstack.AlertsSnapshot{}
		if json.NewDecoder(resp.Body).Decode(&snap) != nil {
			return false
		}
		for _, d := range snap.Delivered {
			if d.TerminalID == "demo-1" && d.RuleID == rule.ID && d.State == fleet.AlertOpen {
				return true
			}
		}
		return false
	})
	if len(snap.Alerts) != 1 || snap.Alerts[0].TerminalID != "demo-1" || snap.Alerts[0].State != fleet.AlertOpen {
		t.Errorf("stored alerts %+v, want demo-1's open (demo-2 runs on)", snap.Alerts)
	}
}
