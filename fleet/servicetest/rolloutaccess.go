package servicetest

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/edgesync/edgesync/fleet"
)

// Rollouts: who may start one and which config wins (precedence), and
// the pace at which waves and rollbacks are sent.

// testRolloutAccessAndPrecedence: who may start and read rollouts, the
// admin-only keys, and which config wins: a terminal's own desired config
// over the group's (unless overridden), and the later rollout over an
// earlier one, whose rollback then leaves the terminal alone.
func testRolloutAccessAndPrecedence(t *testing.T, e *env) {
	ctx := context.Background()
	f, terms := newFakeFleet(t, e, "a", 3, "line-1", "line-2")
	patch := fleet.RolloutSpec{Patch: json.RawMessage(`{"log_level":"debug"}`)}
	if _, err := f.svc.StartRollout(ctx, viewer, "line-1", patch); !errors.Is(err, fleet.ErrForbidden) {
		t.Errorf("viewer starts a rollout: %v, want ErrForbidden", err)
	}
	if _, err := f.svc.StartRollout(ctx, operator, "line-2", patch); !errors.Is(err, fleet.ErrNotFound) {
		t.Errorf("operator of line-1 starts one on line-2: %v, want ErrNotFound", err)
	}
	_, err := f.svc.StartRollout(ctx, operator, "line-1", fleet.RolloutSpec{Patch: json.RawMessage(`{"server_url":"wss://evil.example","log_level":"debug"}`)})
	if !errors.Is(err, fleet.ErrForbidden) || !strings.Contains(err.Error(), "server_url") {
		t.Errorf("operator's patch naming server_url: %v, want ErrForbidden naming it", err)
	}
	for _, bad := range []fleet.RolloutSpec{
		{}, {Patch: json.RawMessage(`[1]`)}, {Patch: json.RawMessage(`{}`), Config: json.RawMessage(`{}`)},
		{Patch: json.RawMessage(`{}`), WaveSize: 1, WavePercent: 10}, {Patch: json.RawMessage(`{}`), WavePercent: 101},
		{Patch: json.RawMessage(`{}`), WaveSize: 1001}, {Patch: json.RawMessage(`{}`), WaveIntervalSeconds: -1},
	} {
		if _, err := f.svc.StartRollout(ctx, operator, "line-1", bad); !errors.Is(err, fleet.ErrInvalid) {
			t.Errorf("spec %+v: %v, want ErrInvalid", bad, err)
		}
	}
	// terms[0] has its own desired config: skipped unless overridden.
	if _, err := f.svc.SetConfig(ctx, admin, terms[0].id, json.RawMessage(`{"terminal_id":"`+terms[0].id+`","server_url":"wss://api.example/prod","token":"[redacted]","log_level":"warn","status_interval":30,"detector":{"threshold":0.5}}`)); err != nil {
		t.Fatal(err)
	}
	f.drain()
	first, err := f.svc.StartRollout(ctx, operator, "line-1", fleet.RolloutSpec{Patch: json.RawMessage(`{"log_level":"debug"}`)})
	if err != nil {
		t.Fatal(err)
	}
	f.drain()
	v := rolloutOf(t, f.svc, viewer, "line-1", first.ID)
	if v.State != fleet.RolloutCompleted || v.Counts.Skipped != 1 || v.Counts.Succeeded != 2 {
		t.Fatalf("rollout over a terminal with its own config: %s %+v; want completed, 1 skipped, 2 succeeded", v.State, v.Counts)
	}
	if got := reported(t, e, terms[0].id)["log_level"]; got != "warn" {
		t.Errorf("terminal with its own desired config: log_level %v, want its own warn", got)
	}
	// A later rollout of another group the terminals are in wins, and the
	// first rollout's rollback leaves them alone.
	second, err := f.svc.StartRollout(ctx, admin, "line-2", fleet.RolloutSpec{Patch: json.RawMessage(`{"status_interval":10}`), OverrideTerminalConfig: true})
	if err != nil {
		t.Fatal(err)
	}
	f.drain()
	for _, ft := range terms {
		got := reported(t, e, ft.id)
		want := "debug"
		if ft == terms[0] {
			want = "warn"
		}
		if got["status_interval"] != float64(10) || got["log_level"] != want {
			t.Errorf("terminal %s after both rollouts: %v; want status_interval 10 and log_level %s", ft.id, got, want)
		}
	}
	if _, err := f.svc.RollbackRollout(ctx, operator, "line-1", first.ID); err != nil {
		t.Fatal(err)
	}
	f.drain()
	v = rolloutOf(t, f.svc, operator, "line-1", first.ID)
	if v.State != fleet.RolloutRolledBack || v.Counts.RolledBack != 0 {
		t.Errorf("rollback of a rollout changed since: %s, %d rolled back; want rolled_back, none", v.State, v.Counts.RolledBack)
	}
	wd, _ := f.svc.RolloutWaveDetail(ctx, operator, "line-1", first.ID, 0)
	for _, tg := range wd.Targets {
		if tg.Rollback != fleet.TargetSkipped {
			t.Errorf("target %s: rollback %s (%s), want skipped", tg.TerminalID, tg.Rollback, tg.RollbackReason)
		}
	}
	for _, ft := range terms[1:] {
		if got := reported(t, e, ft.id)["log_level"]; got != "debug" {
			t.Errorf("terminal %s after a skipped rollback: log_level %v, want debug kept", ft.id, got)
		}
	}
	// Reads: viewers of the group see it; others do not.
	if _, _, err := f.svc.Rollouts(ctx, viewer, "line-2", "", 10); !errors.Is(err, fleet.ErrNotFound) {
		t.Errorf("viewer of line-1 lists line-2's rollouts: %v, want ErrNotFound", err)
	}
	if _, err := f.svc.RolloutDetail(ctx, operator, "line-1", second.ID); !errors.Is(err, fleet.ErrNotFound) {
		t.Errorf("line-2's rollout read under line-1: %v, want ErrNotFound", err)
	}
	list, next, err := f.svc.Rollouts(ctx, viewer, "line-1", "", 10)
	if err != nil || len(list) != 1 || list[0].ID != first.ID || next != "" {
		t.Errorf("line-1's rollouts: %d, %q, %v; want the one", len(list), next, err)
	}
	// An admin-only key in a full config sent by an admin; the keys a
	// full config leaves out keep each terminal's values.
	third, err := f.svc.StartRollout(ctx, admin, "line-2", fleet.RolloutSpec{Config: json.RawMessage(`{"log_level":"info","status_interval":20}`), OverrideTerminalConfig: true})
	if err != nil {
		t.Fatal(err)
	}
	f.drain()
	if v := rolloutOf(t, f.svc, admin, "line-2", third.ID); v.State != fleet.RolloutCompleted {
		t.Fatalf("full-config rollout: %s", v.State)
	}
	for _, ft := range terms {
		got := f.configOf(ft)
		if got["server_url"] != "wss://api.example/prod" || got["terminal_id"] != ft.id || got["log_level"] != "info" || got["detector"] != nil {
			t.Errorf("terminal %s after a full config: %v; want its connection settings kept, the rest replaced", ft.id, got)
		}
	}
}

// testRolloutPaced: a wave goes out at the service's pace, a bounded
// number of terminals per request and per scheduler run; the scheduler
// takes a wave over only once its sender's lease (30 s) is over, sends
// each terminal once, and a rollback goes at the same pace.
func testRolloutPaced(t *testing.T, e *env) {
	ctx := context.Background()
	f, terms := newFakeFleet(t, e, "q", 11, "line-1")
	f.svc = fleet.NewService(e.store, f, fleet.DefaultConfig(), fleet.WithClock(e.clock.Now),
		fleet.WithRolloutPace(fleet.RolloutPace{PerSecond: 1000, PerRequest: 4, PerRun: 5}))
	sent := func() (n int) {
		for _, ft := range terms {
			n += f.setConfigs(ft)
		}
		return n
	}
	check := func(step string, wantSent, wantWaveSent int, wantPhase fleet.WavePhase, id string) fleet.RolloutView {
		t.Helper()
		v := rolloutOf(t, f.svc, operator, "line-1", id)
		if got := sent(); got != wantSent || v.WaveSent != wantWaveSent || v.Phase != wantPhase {
			t.Fatalf("%s: %d set_config sent, waveSent %d, phase %s; want %d, %d, %s", step, got, v.WaveSent, v.Phase, wantSent, wantWaveSent, wantPhase)
		}
		return v
	}
	r, err := f.svc.StartRollout(ctx, operator, "line-1", fleet.RolloutSpec{Patch: json.RawMessage(`{"log_level":"debug"}`), WaveSize: 10})
	if err != nil {
		t.Fatal(err)
	}
	f.drain()
	check("the request", 4, 4, fleet.PhaseSending, r.ID)
	f.tick(t)
	f.drain()
	check("a scheduler run within the request's lease", 4, 4, fleet.PhaseSending, r.ID)
	e.clock.Advance(29 * time.Second)
	f.tick(t)
	check("a scheduler run 29 s after", 4, 4, fleet.PhaseSending, r.ID)
	e.clock.Advance(time.Second)
	f.tick(t)
	f.drain()
	check("a scheduler run once the lease is over", 9, 9, fleet.PhaseSending, r.ID)
	e.clock.Advance(30 * time.Second)
	f.tick(t) // the wave's last terminal
	f.drain() // its answer completes the wave: the second wave is due
	check("the wave's last terminal answered", 10, 0, fleet.PhaseDue, r.ID)
	f.tick(t)
	f.drain()
	v := rolloutOf(t, f.svc, operator, "line-1", r.ID)
	if v.State != fleet.RolloutCompleted || v.Counts.Succeeded != 11 || sent() != 11 {
		t.Fatalf("end: %s, %+v, %d set_config; want completed, 11 succeeded, 11 sent", v.State, v.Counts, sent())
	}
	for _, ft := range terms {
		if n := f.setConfigs(ft); n != 1 {
			t.Errorf("terminal %s got %d set_config, want 1", ft.id, n)
		}
	}

	// The rollback: 4 in the request, 5 per scheduler run.
	if _, err := f.svc.RollbackRollout(ctx, operator, "line-1", r.ID); err != nil {
		t.Fatal(err)
	}
	f.drain()
	if got := sent(); got != 11+4 {
		t.Errorf("rollback request: %d set_config, want 4", got-11)
	}
	f.tick(t)
	f.drain()
	if got := sent(); got != 11+9 {
		t.Errorf("rollback after a scheduler run: %d set_config, want 9", got-11)
	}
	if v := rolloutOf(t, f.svc, operator, "line-1", r.ID); v.State != fleet.RolloutRollingBack || v.RolledBackWaves != 0 {
		t.Errorf("rollback after a scheduler run: %s, %d waves rolled back; want rolling_back, 0", v.State, v.RolledBackWaves)
	}
	f.tick(t)
	f.drain()
	v = rolloutOf(t, f.svc, operator, "line-1", r.ID)
	if v.State != fleet.RolloutRolledBack || v.Counts.RolledBack != 11 || sent() != 22 {
		t.Errorf("rollback's end: %s, %d rolled back, %d set_config; want rolled_back, 11, 11", v.State, v.Counts.RolledBack, sent()-11)
	}
	recs, _, err := e.store.Audit(ctx, fleet.AuditQuery{Action: fleet.AuditRolloutRolledBack, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	waves := 0
	for _, rec := range recs {
		var d struct {
			Wave *int `json:"wave"`
			Sent int  `json:"sent"`
		}
		if !strings.Contains(string(rec.Detail), r.ID) || json.Unmarshal(rec.Detail, &d) != nil || d.Wave == nil {
			continue
		}
		waves++
		if want := []int{10, 1}[*d.Wave]; d.Sent != want {
			t.Errorf("rollback of wave %d audited %d sent, want %d (all of the wave's, over several invocations)", *d.Wave, d.Sent, want)
		}
	}
	if waves != 2 {
		t.Errorf("rolled-back waves audited: %d, want 2", waves)
	}
}
