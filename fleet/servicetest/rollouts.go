package servicetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgesync/edgesync/fleet"
	"github.com/edgesync/edgesync/protocol"
)

// Group config with staged rollout, on fast fake terminals: a fakeFleet
// is the pusher of a service of its own and answers what it pushed as
// agents would (set_config replaces the config, secrets sent as
// "[redacted]" keeping theirs; get_config reports it), when the test
// drains it. Waves that are due start when the test runs the scheduler's
// Tick, as in the deployed stack.

// fakeTerminal is one simulated agent.
type fakeTerminal struct {
	id, conn string
	config   map[string]any
	// refuse answers set_config with a failure; silent never answers it.
	refuse, silent bool
	// setConfigs counts the set_config commands it received.
	setConfigs int
}

// fakeFleet is a fleet.Pusher whose connections are fake terminals.
type fakeFleet struct {
	t     *testing.T
	svc   *fleet.Service
	mu    sync.Mutex
	terms map[string]*fakeTerminal // by connection
	queue map[string][][]byte
	gone  map[string]bool
}

func (f *fakeFleet) Push(_ context.Context, conn string, msg []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.gone[conn] {
		return fleet.ErrGone
	}
	f.queue[conn] = append(f.queue[conn], append([]byte(nil), msg...))
	return nil
}

// drain answers everything pushed, and what the answers make the service
// push, until nothing is left; each terminal's messages in order, up to
// eight terminals at a time.
func (f *fakeFleet) drain() {
	f.t.Helper()
	for {
		f.mu.Lock()
		batch := f.queue
		f.queue = map[string][][]byte{}
		f.mu.Unlock()
		if len(batch) == 0 {
			return
		}
		sem := make(chan struct{}, 8)
		var wg sync.WaitGroup
		for conn, msgs := range batch {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				for _, m := range msgs {
					f.answer(conn, m)
				}
			})
		}
		wg.Wait()
	}
}

// answer handles one pushed message as the agent on conn would.
func (f *fakeFleet) answer(conn string, raw []byte) {
	var m struct {
		Type      string          `json:"type"`
		RequestID string          `json:"request_id"`
		Command   string          `json:"command"`
		Params    json.RawMessage `json:"params"`
	}
	if json.Unmarshal(raw, &m) != nil || m.Type != protocol.TypeCommand {
		return
	}
	f.mu.Lock()
	ft := f.terms[conn]
	f.mu.Unlock()
	if ft == nil {
		return
	}
	reply := map[string]any{"type": "command_response", "request_id": m.RequestID, "command": m.Command, "success": true}
	f.mu.Lock()
	switch m.Command {
	case protocol.CommandGetConfig:
		reply["result"] = maps.Clone(ft.config)
	case protocol.CommandSetConfig:
		ft.setConfigs++
		var p struct {
			Config map[string]any `json:"config"`
		}
		_ = json.Unmarshal(m.Params, &p)
		switch {
		case ft.silent:
			f.mu.Unlock()
			return
		case ft.refuse:
			reply["success"], reply["error"] = false, "config refused: the device policy forbids it"
		default:
			for k, v := range p.Config {
				if v == protocol.Redacted && protocol.IsSecretKey(k) {
					p.Config[k] = ft.config[k]
				}
			}
			ft.config = p.Config
			reply["result"] = map[string]any{"version": "v"}
		}
	default:
		f.mu.Unlock()
		return // status and logs pulls are not needed here; they time out
	}
	f.mu.Unlock()
	body, _ := json.Marshal(reply)
	if err := f.svc.HandleMessage(context.Background(), conn, body); err != nil {
		f.t.Errorf("terminal %s: answer %s: %v", ft.id, m.Command, err)
	}
}

// newFakeFleet makes a service over e's store whose pusher is a fake
// fleet, with n terminals "<prefix>-000"… in groups, connected, their
// config {"log_level":"info", …} reported.
func newFakeFleet(t *testing.T, e *env, prefix string, n int, groups ...string) (*fakeFleet, []*fakeTerminal) {
	t.Helper()
	f := &fakeFleet{t: t, terms: map[string]*fakeTerminal{}, queue: map[string][][]byte{}, gone: map[string]bool{}}
	f.svc = fleet.NewService(e.store, f, fleet.DefaultConfig(), fleet.WithClock(e.clock.Now))
	var terms []*fakeTerminal
	for i := range n {
		ft := f.add(t, fmt.Sprintf("%s-%03d", prefix, i), groups...)
		terms = append(terms, ft)
	}
	f.drain()
	return f, terms
}

// add creates, connects and says hello for one fake terminal.
func (f *fakeFleet) add(t *testing.T, id string, groups ...string) *fakeTerminal {
	t.Helper()
	ctx := context.Background()
	token, err := f.svc.CreateTerminal(ctx, admin, id, "", groups)
	if err != nil {
		t.Fatalf("create %s: %v", id, err)
	}
	ft := &fakeTerminal{id: id, conn: "c-" + id, config: map[string]any{
		"terminal_id": id, "server_url": "wss://api.example/prod", "token": protocol.Redacted,
		"log_level": "info", "status_interval": float64(30), "detector": map[string]any{"threshold": 0.5},
	}}
	f.mu.Lock()
	f.terms[ft.conn] = ft
	f.mu.Unlock()
	f.connect(t, ft, token)
	return ft
}

func (f *fakeFleet) connect(t *testing.T, ft *fakeTerminal, token string) {
	t.Helper()
	if err := f.svc.Connect(context.Background(), fleet.ConnectRequest{ConnectionID: ft.conn, TerminalID: ft.id, Token: token}); err != nil {
		t.Fatalf("connect %s: %v", ft.id, err)
	}
	if err := f.svc.HandleMessage(context.Background(), ft.conn, []byte(`{"type":"hello"}`)); err != nil {
		t.Fatalf("hello %s: %v", ft.id, err)
	}
}

// tick runs the scheduler's periodic work once.
func (f *fakeFleet) tick(t *testing.T) {
	t.Helper()
	if err := f.svc.Tick(context.Background(), time.Time{}); err != nil {
		t.Fatalf("Tick: %v", err)
	}
}

func (f *fakeFleet) setConfigs(ft *fakeTerminal) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return ft.setConfigs
}

func (f *fakeFleet) configOf(ft *fakeTerminal) map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(ft.config)
}

// reported returns the terminal's reported config as the service stores it.
func reported(t *testing.T, e *env, id string) map[string]any {
	t.Helper()
	term, err := e.store.Terminal(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(term.Config.Data, &m); err != nil {
		t.Fatalf("reported config of %s: %s: %v", id, term.Config.Data, err)
	}
	return m
}

func rolloutOf(t *testing.T, svc *fleet.Service, p fleet.Principal, group, id string) fleet.RolloutView {
	t.Helper()
	v, err := svc.RolloutDetail(context.Background(), p, group, id)
	if err != nil {
		t.Fatalf("RolloutDetail: %v", err)
	}
	return v
}

// auditActions returns the actions of the audit records of what was done
// (outcome requested) that mention rollout id, oldest first.
func auditActions(t *testing.T, e *env, id string, actions ...string) []string {
	t.Helper()
	recs, _, err := e.store.Audit(context.Background(), fleet.AuditQuery{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range slices.Backward(recs) {
		if slices.Contains(actions, r.Action) && r.Outcome == fleet.AuditOutcomeRequested && strings.Contains(string(r.Detail), id) {
			out = append(out, r.Action)
		}
	}
	return out
}

// testRolloutAbortsAndRollsBack is issue 17's scenario: 200 terminals in
// waves of 50 where the second wave's failures pass the threshold. The
// rollout stops there, the other 100 terminals keep their config and get
// no command at all; then a rollback restores each changed terminal's
// previous config.
func testRolloutAbortsAndRollsBack(t *testing.T, e *env) {
	ctx := context.Background()
	f, terms := newFakeFleet(t, e, "r", 200, "line-1")
	before := map[string]map[string]any{}
	for i, ft := range terms {
		ft.config["detector"] = map[string]any{"threshold": 0.5 + float64(i)/1000} // each its own
		before[ft.id] = f.configOf(ft)
	}
	// The reported configs follow: a sync pulls them.
	for _, ft := range terms {
		if _, err := f.svc.Sync(ctx, admin, ft.id); err != nil {
			t.Fatal(err)
		}
	}
	f.drain()
	for i := 50; i < 100; i += 5 {
		terms[i].refuse = true // 10 of the second wave's 50: 20% > 10%
	}
	abort := 0.10
	v, err := f.svc.StartRollout(ctx, operator, "line-1", fleet.RolloutSpec{
		Patch: json.RawMessage(`{"log_level":"debug","detector":{"sensitivity":"high"}}`), WaveSize: 50, AbortAbove: &abort,
	})
	if err != nil {
		t.Fatalf("StartRollout: %v", err)
	}
	if v.Total != 200 || v.Waves != 4 || v.WaveSize != 50 || v.State != fleet.RolloutRunning || v.Phase != fleet.PhaseWaiting {
		t.Fatalf("rollout after start: total %d waves %d size %d state %s phase %s; want 200, 4, 50, running, waiting", v.Total, v.Waves, v.WaveSize, v.State, v.Phase)
	}
	f.drain()
	v = rolloutOf(t, f.svc, operator, "line-1", v.ID)
	if v.Wave != 1 || v.Phase != fleet.PhaseDue || v.WaveList[0].Outcome != fleet.WavePassed || v.WaveList[0].Counts.Succeeded != 50 {
		t.Fatalf("after wave 1's answers: wave %d phase %s, wave 1 %+v; want wave 2 due, wave 1 passed with 50 successes", v.Wave+1, v.Phase, v.WaveList[0])
	}
	for _, ft := range terms[50:] {
		if n := f.setConfigs(ft); n != 0 {
			t.Fatalf("terminal %s got %d set_config before its wave started", ft.id, n)
		}
	}
	f.tick(t) // the scheduler starts the wave that is due
	f.drain()
	v = rolloutOf(t, f.svc, operator, "line-1", v.ID)
	if v.State != fleet.RolloutAborted || !strings.Contains(v.Reason, "wave 2 of 4 (index 1): 10 of the 50") {
		t.Fatalf("after wave 2: state %s (%s), want aborted naming wave 2's 10 of 50", v.State, v.Reason)
	}
	if w := v.WaveList[1]; w.Outcome != fleet.WaveAborted || w.Counts.Succeeded != 40 || w.Counts.Failed != 10 {
		t.Errorf("wave 2: %+v, want aborted with 40 succeeded and 10 failed", w)
	}
	f.tick(t)
	f.drain()
	for i, ft := range terms {
		got := reported(t, e, ft.id)
		changed := i < 100 && !ft.refuse
		if changed != (got["log_level"] == "debug") {
			t.Errorf("terminal %s: reported log_level %v; changed by the rollout: %v", ft.id, got["log_level"], changed)
		}
		if i >= 100 {
			if n := f.setConfigs(ft); n != 0 {
				t.Errorf("terminal %s of a wave never started got %d set_config", ft.id, n)
			}
			term, _ := e.store.Terminal(ctx, ft.id)
			if term.Desired.Version != "" {
				t.Errorf("terminal %s of a wave never started has a desired config %+v", ft.id, term.Desired)
			}
		}
		if changed {
			det := got["detector"].(map[string]any)
			if det["sensitivity"] != "high" || det["threshold"] != before[ft.id]["detector"].(map[string]any)["threshold"] {
				t.Errorf("terminal %s: detector %v after the patch; want sensitivity added and its own threshold kept", ft.id, det)
			}
		}
	}
	if got := auditActions(t, e, v.ID, fleet.AuditRolloutWaveFinish); len(got) != 2 {
		t.Errorf("wave decisions audited: %v, want two", got)
	}
	wd, err := f.svc.RolloutWaveDetail(ctx, operator, "line-1", v.ID, 1)
	if err != nil || len(wd.Targets) != 50 || wd.Targets[0].Previous == nil {
		t.Fatalf("wave 2 detail: %d targets, %v; want 50 with their previous config", len(wd.Targets), err)
	}

	// Rollback: each terminal changed gets its previous config back.
	v, err = f.svc.RollbackRollout(ctx, operator, "line-1", v.ID)
	if err != nil {
		t.Fatalf("RollbackRollout: %v", err)
	}
	f.drain()
	f.tick(t)
	f.drain()
	v = rolloutOf(t, f.svc, operator, "line-1", v.ID)
	if v.State != fleet.RolloutRolledBack || v.RollbackWaves != 2 || v.Counts.RolledBack != 90 {
		t.Fatalf("after rollback: state %s, %d waves, %d rolled back; want rolled_back, 2, 90", v.State, v.RollbackWaves, v.Counts.RolledBack)
	}
	for _, ft := range terms {
		if got, want := f.configOf(ft), before[ft.id]; !jsonSame(got, want) {
			t.Errorf("terminal %s runs %v after the rollback, want its previous %v", ft.id, got, want)
		}
		if got := reported(t, e, ft.id); !jsonSame(got, before[ft.id]) {
			t.Errorf("terminal %s reports %v after the rollback, want %v", ft.id, got, before[ft.id])
		}
	}
	for _, ft := range terms[50:100] {
		if ft.refuse && f.setConfigs(ft) != 1 {
			t.Errorf("terminal %s refused the change; the rollback sent it %d more", ft.id, f.setConfigs(ft)-1)
		}
	}
}

func jsonSame(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

// testRolloutOfflineCatchesUp: a terminal offline when its wave is sent
// gets the change when it reconnects (its hello), the wave counting it as
// offline; after a cancellation, a terminal offline then gets nothing and
// its undelivered desired config is withdrawn.
func testRolloutOfflineCatchesUp(t *testing.T, e *env) {
	ctx := context.Background()
	f, terms := newFakeFleet(t, e, "o", 4, "line-1")
	tokens := map[string]string{}
	for _, ft := range terms[2:] {
		tok, err := f.svc.RotateToken(ctx, admin, ft.id, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		tokens[ft.id] = tok
		if err := f.svc.Disconnect(ctx, ft.conn, "test"); err != nil {
			t.Fatal(err)
		}
	}
	first, err := f.svc.StartRollout(ctx, operator, "line-1", fleet.RolloutSpec{Patch: json.RawMessage(`{"log_level":"warn"}`), WaveSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	f.drain()
	f.tick(t)
	f.drain()
	v := rolloutOf(t, f.svc, operator, "line-1", first.ID)
	if v.State != fleet.RolloutCompleted || v.Counts.Succeeded != 2 || v.Counts.Offline != 2 {
		t.Fatalf("rollout with two offline terminals: %s, %+v; want completed, 2 succeeded, 2 offline", v.State, v.Counts)
	}
	cfg, err := f.svc.TerminalConfig(ctx, operator, terms[2].id)
	if err != nil || cfg.Desired == nil || !cfg.Desired.Pending || cfg.Desired.SetBy != "rollout:"+first.ID {
		t.Fatalf("offline terminal's config view: %+v, %v; want the rollout's desired config pending", cfg.Desired, err)
	}
	// terms[2] reconnects: its hello delivers the change.
	terms[2].conn = "c2-" + terms[2].id
	f.mu.Lock()
	f.terms[terms[2].conn] = terms[2]
	f.mu.Unlock()
	f.connect(t, terms[2], tokens[terms[2].id])
	f.drain()
	if got := reported(t, e, terms[2].id)["log_level"]; got != "warn" {
		t.Errorf("terminal back online: log_level %v, want warn", got)
	}
	v = rolloutOf(t, f.svc, operator, "line-1", first.ID)
	if v.Counts.CaughtUp != 1 {
		t.Errorf("caught up: %d, want 1", v.Counts.CaughtUp)
	}
	wd, _ := f.svc.RolloutWaveDetail(ctx, operator, "line-1", first.ID, 1)
	for _, tg := range wd.Targets {
		want := fleet.TargetState("")
		if tg.TerminalID == terms[2].id {
			want = fleet.TargetSucceeded
		}
		if tg.State != fleet.TargetOffline || tg.CatchUp != want {
			t.Errorf("target %s: state %s catch-up %q, want offline, %q", tg.TerminalID, tg.State, tg.CatchUp, want)
		}
	}
	// A second hello delivers nothing more.
	before := f.setConfigs(terms[2])
	if err := f.svc.HandleMessage(ctx, terms[2].conn, []byte(`{"type":"hello"}`)); err != nil {
		t.Fatal(err)
	}
	f.drain()
	if got := f.setConfigs(terms[2]); got != before {
		t.Errorf("a second hello sent %d more set_config", got-before)
	}

	// A cancelled rollout's offline terminal: its change is withdrawn.
	e.clock.Advance(time.Minute)
	second, err := f.svc.StartRollout(ctx, operator, "line-1", fleet.RolloutSpec{Patch: json.RawMessage(`{"log_level":"error"}`), WaveSize: 1, WaveIntervalSeconds: 3600})
	if err != nil {
		t.Fatal(err)
	}
	f.drain()
	if _, err := f.svc.CancelRollout(ctx, operator, "line-1", second.ID); err != nil {
		t.Fatal(err)
	}
	// terms[3], offline since before the first rollout, still owes that
	// (completed) rollout its change: reconnecting delivers it.
	terms[3].conn = "c2-" + terms[3].id
	f.mu.Lock()
	f.terms[terms[3].conn] = terms[3]
	f.mu.Unlock()
	f.connect(t, terms[3], tokens[terms[3].id])
	f.drain()
	if got := reported(t, e, terms[3].id)["log_level"]; got != "warn" {
		t.Errorf("terminal offline during the first rollout: log_level %v after reconnecting, want warn (the first rollout completed)", got)
	}
	if got := reported(t, e, terms[1].id)["log_level"]; got != "warn" {
		t.Errorf("terminal of the cancelled rollout's unsent wave: log_level %v, want warn", got)
	}
	if got := reported(t, e, terms[0].id)["log_level"]; got != "error" {
		t.Errorf("terminal of the cancelled rollout's first wave: log_level %v, want error (cancel keeps changes made)", got)
	}
}

// testRolloutWithdrawnWhenCancelled: an offline terminal's undelivered
// change of a cancelled rollout is withdrawn at its hello, not sent.
func testRolloutWithdrawnWhenCancelled(t *testing.T, e *env) {
	ctx := context.Background()
	f, terms := newFakeFleet(t, e, "w", 2, "line-1")
	tok, err := f.svc.RotateToken(ctx, admin, terms[1].id, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.svc.Disconnect(ctx, terms[1].conn, "test"); err != nil {
		t.Fatal(err)
	}
	r, err := f.svc.StartRollout(ctx, operator, "line-1", fleet.RolloutSpec{Patch: json.RawMessage(`{"log_level":"warn"}`), WaveSize: 1, WaveIntervalSeconds: 60})
	if err != nil {
		t.Fatal(err)
	}
	f.drain()
	e.clock.Advance(61 * time.Second)
	f.tick(t) // wave 2: terms[1] offline
	f.drain()
	if _, err := f.svc.CancelRollout(ctx, operator, "line-1", r.ID); !errors.Is(err, fleet.ErrConflict) {
		// It completed: both waves are over. Cancel only a running one.
		t.Fatalf("cancel a completed rollout: %v, want ErrConflict", err)
	}
	terms[0].silent = true // keeps r2's only wave waiting: r2 stays running
	r2, err := f.svc.StartRollout(ctx, operator, "line-1", fleet.RolloutSpec{Patch: json.RawMessage(`{"log_level":"error"}`)})
	if err != nil {
		t.Fatal(err)
	}
	f.drain()
	if _, err := f.svc.CancelRollout(ctx, operator, "line-1", r2.ID); err != nil {
		t.Fatal(err) // terms[1] owes r2 its change
	}
	terms[1].conn = "c2-" + terms[1].id
	f.mu.Lock()
	f.terms[terms[1].conn] = terms[1]
	f.mu.Unlock()
	f.connect(t, terms[1], tok)
	f.drain()
	if n := f.setConfigs(terms[1]); n != 0 {
		t.Errorf("offline terminal of a cancelled rollout got %d set_config at its hello, want none", n)
	}
	term, _ := e.store.Terminal(ctx, terms[1].id)
	if term.Desired.Version != "" {
		t.Errorf("desired config after the hello: %+v, want withdrawn", term.Desired)
	}
	recs, _, err := f.svc.AuditTrail(ctx, admin, fleet.AuditQuery{TerminalID: terms[1].id, Action: fleet.AuditConfigSet, Limit: 10})
	if err != nil || len(recs) == 0 || !strings.Contains(string(recs[0].Detail), "withdrawn") || !strings.Contains(string(recs[0].Detail), r2.ID) {
		t.Errorf("the withdrawal is not the terminal's last audited config change: %v", err)
	}
}

// testRolloutPauseResumeCancel: pause holds the next wave (the wave in
// flight still finishes), resume starts it, cancel stops for good.
func testRolloutPauseResumeCancel(t *testing.T, e *env) {
	ctx := context.Background()
	f, terms := newFakeFleet(t, e, "p", 4, "line-1")
	r, err := f.svc.StartRollout(ctx, operator, "line-1", fleet.RolloutSpec{Patch: json.RawMessage(`{"log_level":"debug"}`), WaveSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.ResumeRollout(ctx, operator, "line-1", r.ID); !errors.Is(err, fleet.ErrConflict) {
		t.Errorf("resume a running rollout: %v, want ErrConflict", err)
	}
	v, err := f.svc.PauseRollout(ctx, operator, "line-1", r.ID)
	if err != nil || v.State != fleet.RolloutPaused {
		t.Fatalf("pause: %v, %v", v.State, err)
	}
	f.drain() // wave 1's answer comes while paused
	f.tick(t)
	f.drain()
	if n := f.setConfigs(terms[1]); n != 0 {
		t.Fatalf("a paused rollout sent wave 2")
	}
	v = rolloutOf(t, f.svc, operator, "line-1", r.ID)
	if v.Wave != 1 || v.Phase != fleet.PhaseDue || v.WaveList[0].Outcome != fleet.WavePassed {
		t.Fatalf("paused after wave 1's answer: wave %d phase %s; want wave 2 due, wave 1 passed", v.Wave+1, v.Phase)
	}
	if v, err = f.svc.ResumeRollout(ctx, operator, "line-1", r.ID); err != nil || v.State != fleet.RolloutRunning {
		t.Fatalf("resume: %v, %v", v.State, err)
	}
	f.drain() // no Tick: the resume itself started wave 2
	if n := f.setConfigs(terms[1]); n != 1 {
		t.Fatalf("resume sent wave 2 %d times, want once, at once", n)
	}
	if _, err := f.svc.CancelRollout(ctx, operator, "line-1", r.ID); err != nil {
		t.Fatal(err)
	}
	f.tick(t)
	f.drain()
	for _, ft := range terms[2:] {
		if n := f.setConfigs(ft); n != 0 {
			t.Errorf("terminal %s got %d set_config after the cancel", ft.id, n)
		}
	}
	v = rolloutOf(t, f.svc, operator, "line-1", r.ID)
	if v.State != fleet.RolloutCancelled {
		t.Errorf("state after cancel: %s", v.State)
	}
	if _, err := f.svc.PauseRollout(ctx, operator, "line-1", r.ID); !errors.Is(err, fleet.ErrConflict) {
		t.Errorf("pause a cancelled rollout: %v, want ErrConflict", err)
	}
	want := []string{fleet.AuditRolloutStart, fleet.AuditRolloutWaveStart, fleet.AuditRolloutPause, fleet.AuditRolloutWaveFinish,
		fleet.AuditRolloutResume, fleet.AuditRolloutWaveStart, fleet.AuditRolloutWaveFinish, fleet.AuditRolloutCancel}
	got := auditActions(t, e, r.ID, fleet.AuditRolloutStart, fleet.AuditRolloutWaveStart, fleet.AuditRolloutWaveFinish,
		fleet.AuditRolloutPause, fleet.AuditRolloutResume, fleet.AuditRolloutCancel)
	if !slices.Equal(got, want) {
		t.Errorf("audit trail of the rollout:\n got %v\nwant %v", got, want)
	}
}

// testRolloutTimeoutCounts: a terminal that never answers times out when
// the scheduler runs after the deadline, and counts against the threshold.
func testRolloutTimeoutCounts(t *testing.T, e *env) {
	ctx := context.Background()
	f, terms := newFakeFleet(t, e, "s", 3, "line-1")
	terms[0].silent = true
	r, err := f.svc.StartRollout(ctx, operator, "line-1", fleet.RolloutSpec{Patch: json.RawMessage(`{"log_level":"debug"}`), WaveSize: 3})
	if err != nil {
		t.Fatal(err)
	}
	f.drain()
	f.tick(t)
	if v := rolloutOf(t, f.svc, operator, "line-1", r.ID); v.State != fleet.RolloutRunning || v.Phase != fleet.PhaseWaiting {
		t.Fatalf("before the deadline: %s %s, want running and waiting", v.State, v.Phase)
	}
	e.clock.Advance(11 * time.Second)
	f.tick(t)
	v := rolloutOf(t, f.svc, operator, "line-1", r.ID)
	if v.State != fleet.RolloutAborted || v.WaveList[0].Counts.TimedOut != 1 || v.WaveList[0].Counts.Succeeded != 2 {
		t.Errorf("after the deadline: %s, %+v; want aborted with 1 timed out of 3 (33%% > 10%%)", v.State, v.WaveList[0].Counts)
	}
}

// testRolloutConcurrentCompletions: two answers that both find their wave
// complete (concurrent, both past the counter) decide it once: one wave
// decision, the next wave due once, never skipped.
func testRolloutConcurrentCompletions(t *testing.T, e *env) {
	ctx := context.Background()
	rs, ok := e.store.(fleet.RolloutStore)
	if !ok {
		t.Fatalf("%T is not a fleet.RolloutStore", e.store)
	}
	race := &racingStore{Store: e.store, RolloutStore: rs, counts: newBarrier(2), update: newBarrier(2)}
	f := &fakeFleet{t: t, terms: map[string]*fakeTerminal{}, queue: map[string][][]byte{}, gone: map[string]bool{}}
	f.svc = fleet.NewService(race, f, fleet.DefaultConfig(), fleet.WithClock(e.clock.Now))
	var terms []*fakeTerminal
	for i := range 4 {
		terms = append(terms, f.add(t, fmt.Sprintf("k-%d", i), "line-1"))
	}
	f.drain()
	r, err := f.svc.StartRollout(ctx, operator, "line-1", fleet.RolloutSpec{Patch: json.RawMessage(`{"log_level":"debug"}`), WaveSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	race.arm(r.ID)
	f.drain() // both answers at once: each waits at the counter for the other, then both decide
	if !race.counts.met() || !race.update.met() {
		t.Fatalf("the two answers did not race (counter barrier met: %v, decision barrier met: %v)", race.counts.met(), race.update.met())
	}
	v := rolloutOf(t, f.svc, operator, "line-1", r.ID)
	if v.Wave != 1 || v.Phase != fleet.PhaseDue || v.WaveList[0].Outcome != fleet.WavePassed {
		t.Fatalf("after two concurrent completions: wave %d phase %s; want wave 2 due", v.Wave+1, v.Phase)
	}
	if got := auditActions(t, e, r.ID, fleet.AuditRolloutWaveFinish); len(got) != 1 {
		t.Errorf("wave decisions audited: %d, want 1", len(got))
	}
	race.disarm()
	f.tick(t)
	f.drain()
	v = rolloutOf(t, f.svc, operator, "line-1", r.ID)
	if v.State != fleet.RolloutCompleted || v.Counts.Succeeded != 4 {
		t.Errorf("end: %s %+v; want completed with 4 successes", v.State, v.Counts)
	}
	for _, ft := range terms {
		if n := f.setConfigs(ft); n != 1 {
			t.Errorf("terminal %s got %d set_config, want 1", ft.id, n)
		}
	}
}

// racingStore makes the two answers of one wave race: each addition to
// the wave's counters waits for the other and then reports the wave
// complete (as a lost-answer retry could), and both decisions read the
// rollout before either writes.
type racingStore struct {
	fleet.Store
	fleet.RolloutStore
	mu     sync.Mutex
	armed  string
	counts *barrier
	update *barrier
}

func (r *racingStore) arm(id string) { r.mu.Lock(); r.armed = id; r.mu.Unlock() }
func (r *racingStore) disarm()       { r.mu.Lock(); r.armed = ""; r.mu.Unlock() }

func (r *racingStore) isArmed(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.armed != "" && r.armed == id
}

func (r *racingStore) AddRolloutWaveCounts(ctx context.Context, id string, index int, d fleet.WaveCounts) (fleet.RolloutWave, error) {
	w, err := r.RolloutStore.AddRolloutWaveCounts(ctx, id, index, d)
	if err == nil && r.isArmed(id) && d.Succeeded > 0 {
		r.counts.wait()
		w.Counts.Succeeded = w.Size
	}
	return w, err
}

func (r *racingStore) UpdateRollout(ctx context.Context, ro fleet.Rollout) error {
	if r.isArmed(ro.ID) && ro.Wave == 1 && ro.Phase == fleet.PhaseDue {
		r.update.wait() // both decisions, over the same revision
	}
	return r.RolloutStore.UpdateRollout(ctx, ro)
}

// barrier lets n callers through once all n arrived (or after 10 s, so a
// broken test fails instead of hanging).
type barrier struct {
	mu      sync.Mutex
	n, seen int
	done    chan struct{}
}

func newBarrier(n int) *barrier { return &barrier{n: n, done: make(chan struct{})} }

func (b *barrier) wait() {
	b.mu.Lock()
	b.seen++
	if b.seen == b.n {
		close(b.done)
	}
	b.mu.Unlock()
	select {
	case <-b.done:
	case <-time.After(10 * time.Second):
	}
}

func (b *barrier) met() bool {
	select {
	case <-b.done:
		return true
	default:
		return false
	}
}

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

// testRolloutClaimedButUnsentFails: a terminal whose target a wave claimed
// but whose set_config (online) or undelivered desired config (offline)
// could not be recorded reads failed, and counts so: no sender ever comes
// back to a claimed target, so left pending or offline it would time out
// unsent or never be caught up.
func testRolloutClaimedButUnsentFails(t *testing.T, e *env) {
	ctx := context.Background()
	rs, ok := e.store.(fleet.RolloutStore)
	if !ok {
		t.Fatalf("%T is not a fleet.RolloutStore", e.store)
	}
	st := &failingStore{Store: e.store, RolloutStore: rs, commandsOf: "u-1", desiredOf: "u-2"}
	f := &fakeFleet{t: t, terms: map[string]*fakeTerminal{}, queue: map[string][][]byte{}, gone: map[string]bool{}}
	f.svc = fleet.NewService(st, f, fleet.DefaultConfig(), fleet.WithClock(e.clock.Now))
	var terms []*fakeTerminal
	for i := range 3 {
		terms = append(terms, f.add(t, fmt.Sprintf("u-%d", i), "line-1"))
	}
	f.drain()
	if err := f.svc.Disconnect(ctx, terms[2].conn, "test"); err != nil { // u-2 offline
		t.Fatal(err)
	}
	st.arm()
	r, err := f.svc.StartRollout(ctx, operator, "line-1", fleet.RolloutSpec{Patch: json.RawMessage(`{"log_level":"debug"}`), WaveSize: 3})
	if err != nil {
		t.Fatal(err)
	}
	f.drain()
	for id, want := range map[string]fleet.TargetState{"u-0": fleet.TargetSucceeded, "u-1": fleet.TargetFailed, "u-2": fleet.TargetFailed} {
		tg, err := rs.RolloutTarget(ctx, r.ID, id)
		if err != nil {
			t.Fatalf("target %s: %v", id, err)
		}
		if tg.State != want {
			t.Errorf("target %s: %s (%s), want %s", id, tg.State, tg.Reason, want)
		}
		if want == fleet.TargetFailed && !strings.Contains(tg.Reason, "could not be sent") {
			t.Errorf("target %s: reason %q, want it to say it could not be sent", id, tg.Reason)
		}
	}
	v := rolloutOf(t, f.svc, operator, "line-1", r.ID)
	if v.WaveList[0].Counts.Failed != 2 || v.WaveList[0].Counts.Succeeded != 1 {
		t.Errorf("wave counts %+v, want 1 succeeded and 2 failed", v.WaveList[0].Counts)
	}
	if v.State != fleet.RolloutAborted {
		t.Errorf("rollout %s, want aborted (2 of 3 failed)", v.State)
	}
}

// failingStore fails, once armed, the set_config records of terminal
// commandsOf and the desired configs of terminal desiredOf.
type failingStore struct {
	fleet.Store
	fleet.RolloutStore
	mu                    sync.Mutex
	armed                 bool
	commandsOf, desiredOf string
}

func (s *failingStore) arm() { s.mu.Lock(); s.armed = true; s.mu.Unlock() }

func (s *failingStore) on() bool { s.mu.Lock(); defer s.mu.Unlock(); return s.armed }

func (s *failingStore) PutCommands(ctx context.Context, cmds ...fleet.Command) error {
	for _, c := range cmds {
		if s.on() && c.TerminalID == s.commandsOf && c.Name == protocol.CommandSetConfig {
			return errors.New("injected: put commands")
		}
	}
	return s.Store.PutCommands(ctx, cmds...)
}

func (s *failingStore) SetDesiredConfig(ctx context.Context, id string, d fleet.DesiredConfig) error {
	if s.on() && id == s.desiredOf {
		return errors.New("injected: set desired config")
	}
	return s.Store.SetDesiredConfig(ctx, id, d)
}

// testRolloutCatchUpYieldsToRollback: an offline terminal whose target a
// rollback has decided (skipped: the rollout never reached it) is not sent
// the rollout's config when it says hello, even if the rollout still reads
// running (read before the rollback began): its undelivered config is
// withdrawn.
func testRolloutCatchUpYieldsToRollback(t *testing.T, e *env) {
	ctx := context.Background()
	rs, ok := e.store.(fleet.RolloutStore)
	if !ok {
		t.Fatalf("%T is not a fleet.RolloutStore", e.store)
	}
	f, terms := newFakeFleet(t, e, "y", 2, "line-1")
	tok, err := f.svc.RotateToken(ctx, admin, terms[1].id, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.svc.Disconnect(ctx, terms[1].conn, "test"); err != nil {
		t.Fatal(err)
	}
	r, err := f.svc.StartRollout(ctx, operator, "line-1", fleet.RolloutSpec{Patch: json.RawMessage(`{"log_level":"warn"}`), WaveSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	f.drain()
	// The rollback's decision on the offline terminal, the rollout itself
	// not yet switched (the order a catch-up can observe).
	tg, err := rs.RolloutTarget(ctx, r.ID, terms[1].id)
	if err != nil || tg.State != fleet.TargetOffline {
		t.Fatalf("offline target: %+v, %v", tg, err)
	}
	tg.Rollback, tg.RollbackReason = fleet.TargetSkipped, "the rollout never changed it"
	if err := rs.UpdateRolloutTarget(ctx, tg); err != nil {
		t.Fatal(err)
	}
	terms[1].conn = "c2-" + terms[1].id
	f.mu.Lock()
	f.terms[terms[1].conn] = terms[1]
	f.mu.Unlock()
	f.connect(t, terms[1], tok)
	f.drain()
	if n := f.setConfigs(terms[1]); n != 0 {
		t.Errorf("the terminal got %d set_config after its rollback decided it, want 0", n)
	}
	if got := reported(t, e, terms[1].id)["log_level"]; got != "info" {
		t.Errorf("log_level %v, want info (the config before the rollout)", got)
	}
	cfg, err := f.svc.TerminalConfig(ctx, operator, terms[1].id)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Desired != nil && cfg.Desired.Pending {
		t.Errorf("desired config %+v still pending, want it withdrawn", cfg.Desired)
	}
}
