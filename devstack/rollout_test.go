package devstack_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edgesync/edgesync/devstack"
	"github.com/edgesync/edgesync/fleet"
	"github.com/edgesync/edgesync/internal/poll"
)

// TestGroupRolloutWithRealAgents: a staged rollout through the local
// stack's HTTP API to real agents, moved on by their answers and by the
// scheduled function (every 50 ms here instead of every minute): waves of
// one, an offline terminal that gets the change when it reconnects, and a
// rollback that restores every terminal's previous config.
func TestGroupRolloutWithRealAgents(t *testing.T) {
	t.Parallel()
	s := start(t, devstack.Config{ScheduleEvery: 50 * time.Millisecond})
	ctx := context.Background()
	ids := []string{"ro-1", "ro-2", "ro-3", "ro-4"}
	tokens := map[string]string{}
	stops := map[string]func(){}
	spools := t.TempDir()
	for _, id := range ids {
		tok, err := s.Admin().CreateTerminal(ctx, fleet.System("test"), id, "", []string{"demo"})
		if err != nil {
			t.Fatal(err)
		}
		tokens[id] = tok
		_, stops[id] = runAgent(t, s, id, tok, filepath.Join(spools, id))
	}
	operator := s.Users["operator"]
	configOf := func(id string) map[string]any {
		var v struct {
			Data map[string]any `json:"data"`
		}
		call(t, "GET", s.HTTPURL+"/terminals/"+id+"/config", operator, "", &v)
		return v.Data
	}
	for _, id := range ids {
		poll.Until(t, id+" reports its config", func() bool { return configOf(id)["log_level"] == "info" })
	}
	stops["ro-4"]() // offline when its wave comes
	poll.Until(t, "ro-4 offline", func() bool {
		var v struct{ Online bool }
		call(t, "GET", s.HTTPURL+"/terminals/ro-4", operator, "", &v)
		return !v.Online
	})

	var r fleet.RolloutView
	if code := call(t, "PUT", s.HTTPURL+"/groups/demo/config", operator, `{"patch":{"log_level":"debug"},"waveSize":1}`, &r); code != http.StatusAccepted {
		t.Fatalf("PUT /groups/demo/config: %d, want 202", code)
	}
	if r.Waves != 4 || r.State != fleet.RolloutRunning {
		t.Fatalf("rollout started: %d waves, %s; want 4, running", r.Waves, r.State)
	}
	url := s.HTTPURL + "/groups/demo/rollouts/" + r.ID
	poll.Until(t, "the rollout completes (waves started by the scheduled function)", func() bool {
		call(t, "GET", url, operator, "", &r)
		return r.State != fleet.RolloutRunning
	})
	if r.State != fleet.RolloutCompleted || r.Counts.Succeeded != 3 || r.Counts.Offline != 1 {
		t.Fatalf("rollout: %s (%s), %+v; want completed with 3 succeeded and 1 offline", r.State, r.Reason, r.Counts)
	}
	for _, id := range ids[:3] {
		poll.Until(t, id+" runs and reports the new config", func() bool { return configOf(id)["log_level"] == "debug" })
	}

	// ro-4 comes back (the same device: its spool_dir is part of the
	// config it gets, and an agent refuses to change it while running):
	// its hello brings the change.
	_, stops["ro-4"] = runAgent(t, s, "ro-4", tokens["ro-4"], filepath.Join(spools, "ro-4"))
	poll.Until(t, "ro-4 catches up on reconnecting", func() bool { return configOf("ro-4")["log_level"] == "debug" })
	poll.Until(t, "the catch-up counted", func() bool {
		call(t, "GET", url, operator, "", &r)
		return r.Counts.CaughtUp == 1
	})

	// Rollback: every terminal gets its previous config back.
	if code := call(t, "POST", url+"/rollback", operator, "", &r); code != http.StatusOK {
		t.Fatalf("rollback: %d", code)
	}
	poll.Until(t, "the rollback completes", func() bool {
		call(t, "GET", url, operator, "", &r)
		return r.State == fleet.RolloutRolledBack && r.Counts.RolledBack == 4
	})
	for _, id := range ids {
		poll.Until(t, id+" runs its previous config", func() bool { return configOf(id)["log_level"] == "info" })
	}
	var wave fleet.WaveView
	call(t, "GET", url+"/waves/3", operator, "", &wave)
	if len(wave.Targets) != 1 || wave.Targets[0].CatchUp != fleet.TargetSucceeded || wave.Targets[0].Rollback != fleet.TargetSucceeded {
		t.Errorf("wave 4: %+v; want ro-4 caught up and rolled back", wave.Targets)
	}
	// Every step is in the audit trail.
	var audit struct {
		Records []fleet.AuditRecord `json:"records"`
	}
	call(t, "GET", s.HTTPURL+"/audit?limit=1000", s.Users["admin"], "", &audit)
	seen := map[string]int{}
	for _, rec := range audit.Records {
		if strings.Contains(string(rec.Detail), r.ID) {
			seen[rec.Action]++
		}
	}
	for action, want := range map[string]int{
		fleet.AuditRolloutStart: 1, fleet.AuditRolloutWaveStart: 4, fleet.AuditRolloutWaveFinish: 4,
		fleet.AuditRolloutRollback: 1, fleet.AuditConfigSet: 4 + 1 + 4, // each wave's, ro-4's catch-up, each rollback
	} {
		if seen[action] != want {
			t.Errorf("audit records %s of the rollout: %d, want %d (all: %v)", action, seen[action], want, seen)
		}
	}
}

// call sends an authenticated request and decodes the JSON answer into v.
func call(t *testing.T, method, url, token, body string, v any) int {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("%s %s: %d, decode: %v", method, url, resp.StatusCode, err)
	}
	if resp.StatusCode >= 300 {
		t.Logf("%s %s: %d %s", method, url, resp.StatusCode, fmt.Sprint(v))
	}
	return resp.StatusCode
}
