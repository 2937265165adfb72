package servicetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgesync/edgesync/fleet"
	"github.com/edgesync/edgesync/protocol"
)

// Rollouts under races and store faults: two answers completing a wave at
// once, a claimed terminal whose change could not be recorded, a catch-up
// racing a rollback.

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
	f.reconnect(t, terms[1], tok)
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
