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
	f.register(ft)
	f.connect(t, ft, token)
	return ft
}

// register makes ft answer the pushes to its connection.
func (f *fakeFleet) register(ft *fakeTerminal) {
	f.mu.Lock()
	f.terms[ft.conn] = ft
	f.mu.Unlock()
}

// reconnect brings ft back on a new connection, with its hello.
func (f *fakeFleet) reconnect(t *testing.T, ft *fakeTerminal, token string) {
	t.Helper()
	ft.conn = "c2-" + ft.id
	f.register(ft)
	f.connect(t, ft, token)
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
	f.reconnect(t, terms[2], tokens[terms[2].id])
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
	f.reconnect(t, terms[3], tokens[terms[3].id])
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
	f.reconnect(t, terms[1], tok)
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
