package servicetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgesync/edgesync/fleet"
	"github.com/edgesync/edgesync/protocol"
)

// publisher is a fleet.AlertPublisher that records what it was given.
type publisher struct {
	mu   sync.Mutex
	got  []string // "terminal state"
	fail bool
}

func (p *publisher) Publish(_ context.Context, a fleet.Alert) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fail {
		return errors.New("topic unreachable")
	}
	p.got = append(p.got, a.TerminalID+" "+string(a.State))
	return nil
}

// take returns and forgets what was published.
func (p *publisher) take() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := p.got
	p.got = nil
	return out
}

var operatorA = fleet.Principal{Subject: "olga", Role: fleet.RoleOperator, Groups: []string{"a"}}

// alerting returns a service like e.svc that delivers alerts to a
// publisher (the scheduler function's).
func alerting(e *env) (*fleet.Service, *publisher) {
	pub := &publisher{}
	return fleet.NewService(e.store, e.push, fleet.DefaultConfig(), fleet.WithClock(e.clock.Now), fleet.WithAlertPublisher(pub)), pub
}

// tick runs the scheduler's periodic work now.
func tick(t *testing.T, svc *fleet.Service, e *env) {
	t.Helper()
	if err := svc.Tick(context.Background(), e.clock.Now()); err != nil {
		t.Fatalf("Tick: %v", err)
	}
}

// alertStates lists the alerts of group a as "terminal state".
func alertStates(t *testing.T, svc *fleet.Service) []string {
	t.Helper()
	as, _, err := svc.Alerts(context.Background(), operatorA, fleet.AlertQuery{Group: "a"})
	if err != nil {
		t.Fatalf("Alerts: %v", err)
	}
	out := []string{}
	for _, a := range as {
		out = append(out, a.TerminalID+" "+string(a.State))
	}
	return out
}

func createRule(t *testing.T, svc *fleet.Service, r fleet.AlertRule) fleet.AlertRule {
	t.Helper()
	got, err := svc.CreateAlertRule(context.Background(), operatorA, "a", r)
	if err != nil {
		t.Fatalf("CreateAlertRule(%+v): %v", r, err)
	}
	return got
}

// step is one step of an alert test: what happens, then after a tick
// the alerts and the deliveries expected.
type step struct {
	name      string
	do        func()
	alerts    []string
	published []string
}

func runSteps(t *testing.T, svc *fleet.Service, pub *publisher, e *env, steps []step) {
	t.Helper()
	for _, s := range steps {
		s.do()
		tick(t, svc, e)
		if got := alertStates(t, svc); !reflect.DeepEqual(got, s.alerts) {
			t.Fatalf("%s: alerts %v, want %v", s.name, got, s.alerts)
		}
		if got := pub.take(); !reflect.DeepEqual(got, s.published) {
			t.Fatalf("%s: published %v, want %v", s.name, got, s.published)
		}
	}
}

func testAlertOffline(t *testing.T, e *env) {
	svc, pub := alerting(e)
	token := e.terminal(t, "t1", "a")
	e.terminal(t, "t9", "b") // another group's terminal, never connected: no alert of a's rule
	e.connect(t, "t1", token, "c1")
	createRule(t, svc, fleet.AlertRule{Kind: fleet.AlertOffline, Minutes: 5, Name: "gone"})
	ctx := context.Background()
	heartbeat := func() { e.send(t, "c1", map[string]any{"type": "heartbeat"}) }
	runSteps(t, svc, pub, e, []step{
		{"online", func() {}, []string{}, nil},
		{"disconnected 1 min", func() {
			if err := e.svc.Disconnect(ctx, "c1", "closed"); err != nil {
				t.Fatal(err)
			}
			e.clock.Advance(time.Minute)
		}, []string{}, nil},
		{"offline 5 min", func() { e.clock.Advance(4 * time.Minute) }, []string{"t1 open"}, []string{"t1 open"}},
		{"still offline: one alert", func() { e.clock.Advance(time.Minute) }, []string{"t1 open"}, nil},
		{"reconnected", func() { e.connect(t, "t1", token, "c2"); heartbeat() }, []string{"t1 cleared"}, []string{"t1 cleared"}},
		{"silent past the inactivity timeout and 5 min", func() { e.clock.Advance(8 * time.Minute) }, []string{"t1 open"}, []string{"t1 open"}},
	})
}

func testAlertStatus(t *testing.T, e *env) {
	svc, pub := alerting(e)
	e.connect(t, "t1", e.terminal(t, "t1", "a"), "c1")
	e.connect(t, "t2", e.terminal(t, "t2", "a"), "c2")
	createRule(t, svc, fleet.AlertRule{Kind: fleet.AlertStatus, Field: "disk.used_percent", Op: ">", Threshold: 90})
	status := func(conn string, v float64) func() {
		return func() {
			e.clock.Advance(time.Second)
			e.send(t, conn, map[string]any{"type": "status", "status": map[string]any{"disk": map[string]any{"used_percent": v}}})
		}
	}
	runSteps(t, svc, pub, e, []step{
		{"below", status("c1", 50), []string{}, nil},
		{"above", status("c1", 95), []string{"t1 open"}, []string{"t1 open"}},
		{"still above", status("c1", 99), []string{"t1 open"}, nil},
		{"equal is not above", status("c1", 90), []string{"t1 cleared"}, []string{"t1 cleared"}},
		{"another terminal above", status("c2", 91), []string{"t1 cleared", "t2 open"}, []string{"t2 open"}},
		{"above again", status("c1", 97.5), []string{"t1 open", "t2 open"}, []string{"t1 open"}},
		{"field gone", func() {
			e.clock.Advance(time.Second)
			e.send(t, "c1", map[string]any{"type": "status", "status": map[string]any{"cpu_percent": 3}})
		}, []string{"t1 cleared", "t2 open"}, []string{"t1 cleared"}},
	})
	as, _, err := svc.Alerts(context.Background(), operatorA, fleet.AlertQuery{Group: "a", State: "open"})
	if err != nil || len(as) != 1 || as[0].Value != 91 || as[0].Message != "disk.used_percent 91 > 90" {
		t.Errorf("open alerts = %+v, %v; want t2's with value 91", as, err)
	}
}

func testAlertErrorRate(t *testing.T, e *env) {
	svc, pub := alerting(e)
	e.connect(t, "t1", e.terminal(t, "t1", "a"), "c1")
	createRule(t, svc, fleet.AlertRule{Kind: fleet.AlertErrorRate, Minutes: 5, Threshold: 3})
	seq := uint64(0)
	batch := func(errs, infos int) func() {
		return func() {
			e.clock.Advance(10 * time.Second)
			var lines []protocol.LogEntry
			for i := 0; i < errs+infos; i++ {
				seq++
				level := "info"
				if i < errs {
					level = "error"
				}
				lines = append(lines, protocol.LogEntry{Seq: seq, Time: e.clock.Now(), Level: level, Message: "x"})
			}
			// Through the message function's service (no publisher).
			e.send(t, "c1", map[string]any{"type": "logs", "entries": lines})
		}
	}
	runSteps(t, svc, pub, e, []step{
		{"2 errors", batch(2, 5), []string{}, nil},
		{"1 more: 3, not more than 3", batch(1, 5), []string{}, nil},
		{"1 more: 4 within 5 min", batch(1, 0), []string{"t1 open"}, []string{"t1 open"}},
		{"more errors: still one alert", batch(5, 0), []string{"t1 open"}, nil},
		{"6 min of calm", func() { e.clock.Advance(6 * time.Minute); e.send(t, "c1", map[string]any{"type": "heartbeat"}) }, []string{"t1 cleared"}, []string{"t1 cleared"}},
		{"4 errors at once", batch(4, 1), []string{"t1 open"}, []string{"t1 open"}},
	})
}

func testAlertDropped(t *testing.T, e *env) {
	svc, pub := alerting(e)
	e.connect(t, "t1", e.terminal(t, "t1", "a"), "c1")
	createRule(t, svc, fleet.AlertRule{Kind: fleet.AlertDropped, Minutes: 10})
	seq := uint64(0)
	report := func(dropped int) func() {
		return func() {
			e.clock.Advance(time.Minute)
			seq++
			e.send(t, "c1", map[string]any{"type": "logs", "dropped": dropped, "entries": []protocol.LogEntry{{Seq: seq, Time: e.clock.Now(), Level: "info", Message: "x"}}})
			e.send(t, "c1", map[string]any{"type": "status", "status": map[string]any{"dropped_lines": dropped}})
		}
	}
	calm := func(minutes int, dropped int) func() {
		return func() {
			for range minutes {
				report(dropped)()
			}
		}
	}
	runSteps(t, svc, pub, e, []step{
		{"none dropped", report(0), []string{}, nil},
		{"5 dropped", report(5), []string{"t1 open"}, []string{"t1 open"}},
		{"no more for 5 min", calm(5, 5), []string{"t1 open"}, nil},
		{"no more for 11 min", calm(6, 5), []string{"t1 cleared"}, []string{"t1 cleared"}},
		{"9 dropped", report(9), []string{"t1 open"}, []string{"t1 open"}},
	})
}

// testAlertDroppedAt: a report's dropped_at (the Go agent's, on the
// terminal's clock, here an hour behind) says when it last dropped lines;
// while that is older than the rule's window the rule is calm without
// reading the status history (which here says otherwise, to show it was
// not read), unless the record counts drops the report does not yet, or
// the report puts the drop before the host booted (a clock stepped since).
func testAlertDroppedAt(t *testing.T, e *env) {
	svc, pub := alerting(e)
	e.connect(t, "t1", e.terminal(t, "t1", "a"), "c1")
	createRule(t, svc, fleet.AlertRule{Kind: fleet.AlertDropped, Minutes: 10})
	seq := uint64(0)
	skew := -time.Hour
	report := func(logsDropped, reported int, lastDropAgo, uptime time.Duration) func() {
		return func() {
			e.clock.Advance(time.Minute)
			seq++
			now := e.clock.Now()
			e.send(t, "c1", map[string]any{"type": "logs", "dropped": logsDropped, "entries": []protocol.LogEntry{{Seq: seq, Time: now, Level: "info", Message: "x"}}})
			st := map[string]any{"dropped_lines": reported, "time": now.Add(skew), "uptime_seconds": uptime.Seconds()}
			if reported > 0 {
				st["dropped_at"] = now.Add(skew - lastDropAgo)
			}
			e.send(t, "c1", map[string]any{"type": "status", "status": st})
		}
	}
	day := 24 * time.Hour
	runSteps(t, svc, pub, e, []step{
		{"none dropped", report(0, 0, 0, day), []string{}, nil},
		{"5 dropped just now", report(5, 5, 0, day), []string{"t1 open"}, []string{"t1 open"}},
		{"the terminal says its last drop was 11 min ago", report(5, 5, 11*time.Minute, day), []string{"t1 cleared"}, []string{"t1 cleared"}},
		{"the record counts 9, the report still 5", report(9, 5, 12*time.Minute, day), []string{"t1 open"}, []string{"t1 open"}},
		{"9 reported, the last 11 min ago", report(9, 9, 11*time.Minute, day), []string{"t1 cleared"}, []string{"t1 cleared"}},
		{"12 reported, the last a year ago, booted 2 min ago", report(12, 12, 365*day, 2*time.Minute), []string{"t1 open"}, []string{"t1 open"}},
	})
}

func testAlertAccess(t *testing.T, e *env) {
	ctx := context.Background()
	svc, pub := alerting(e)
	e.connect(t, "t1", e.terminal(t, "t1", "a"), "c1")
	e.connect(t, "t2", e.terminal(t, "t2", "b"), "c2")
	viewerA := fleet.Principal{Subject: "vic", Role: fleet.RoleViewer, Groups: []string{"a"}}
	operatorB := fleet.Principal{Subject: "bob", Role: fleet.RoleOperator, Groups: []string{"b"}}
	rule := fleet.AlertRule{Kind: fleet.AlertStatus, Field: "cpu_percent", Op: ">=", Threshold: 80}
	if _, err := svc.CreateAlertRule(ctx, viewerA, "a", rule); !errors.Is(err, fleet.ErrForbidden) {
		t.Errorf("a viewer creates a rule: %v, want ErrForbidden", err)
	}
	if _, err := svc.CreateAlertRule(ctx, operatorB, "a", rule); !errors.Is(err, fleet.ErrForbidden) {
		t.Errorf("an operator of b creates a rule in a: %v, want ErrForbidden", err)
	}
	bad := []fleet.AlertRule{
		{Kind: "loud"}, {Kind: fleet.AlertStatus, Field: "api_token", Op: ">", Threshold: 1}, {Kind: fleet.AlertStatus, Field: "cpu", Op: "=="},
		{Kind: fleet.AlertErrorRate, Minutes: 0}, {Kind: fleet.AlertErrorRate, Minutes: 61}, {Kind: fleet.AlertOffline, Minutes: -1},
		{Kind: fleet.AlertDropped, Minutes: 0}, {Kind: fleet.AlertStatus, Field: "a..b", Op: ">"},
	}
	for _, r := range bad {
		if _, err := svc.CreateAlertRule(ctx, operatorA, "a", r); !errors.Is(err, fleet.ErrInvalid) {
			t.Errorf("CreateAlertRule(%+v): %v, want ErrInvalid", r, err)
		}
	}
	r := createRule(t, svc, rule)
	rb, err := svc.CreateAlertRule(ctx, operatorB, "b", rule)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []fleet.Principal{viewerA, operatorA} {
		if got, err := svc.AlertRules(ctx, p, "a"); err != nil || len(got) != 1 || got[0].ID != r.ID || got[0].CreatedBy != "olga" {
			t.Errorf("%s reads a's rules: %+v, %v", p.Subject, got, err)
		}
		if got, err := svc.AlertRules(ctx, p, "b"); err != nil || len(got) != 0 {
			t.Errorf("%s reads b's rules: %+v, %v; want none", p.Subject, got, err)
		}
	}
	for _, c := range []string{"c1", "c2"} {
		e.send(t, c, map[string]any{"type": "status", "status": map[string]any{"cpu_percent": 85}})
	}
	tick(t, svc, e)
	if got := pub.take(); len(got) != 2 {
		t.Errorf("published %v, want t1's and t2's alerts", got)
	}
	as, _, err := svc.Alerts(ctx, viewerA, fleet.AlertQuery{})
	if err != nil || len(as) != 1 || as[0].TerminalID != "t1" {
		t.Fatalf("viewer of a lists %+v, %v; want t1's alert only", as, err)
	}
	if as, _, err := svc.Alerts(ctx, viewerA, fleet.AlertQuery{Group: "b"}); err != nil || len(as) != 0 {
		t.Errorf("viewer of a lists b's alerts: %+v, %v; want none", as, err)
	}
	if as, _, err := svc.Alerts(ctx, admin, fleet.AlertQuery{State: "active"}); err != nil || len(as) != 2 {
		t.Errorf("the system lists %+v, %v; want both", as, err)
	}
	if _, err := svc.AcknowledgeAlert(ctx, viewerA, "a", r.ID, "t1"); !errors.Is(err, fleet.ErrForbidden) {
		t.Errorf("a viewer acknowledges: %v, want ErrForbidden", err)
	}
	if _, err := svc.AcknowledgeAlert(ctx, operatorA, "b", rb.ID, "t2"); !errors.Is(err, fleet.ErrForbidden) {
		t.Errorf("an operator of a acknowledges b's alert: %v, want ErrForbidden", err)
	}
	if _, err := svc.AcknowledgeAlert(ctx, operatorA, "a", rb.ID, "t2"); !errors.Is(err, fleet.ErrNotFound) {
		t.Errorf("an operator of a names b's rule under a: %v, want ErrNotFound", err)
	}
	a, err := svc.AcknowledgeAlert(ctx, operatorA, "a", r.ID, "t1")
	if err != nil || a.State != fleet.AlertAcknowledged || a.AcknowledgedBy != "olga" {
		t.Fatalf("AcknowledgeAlert = %+v, %v", a, err)
	}
	if _, err := svc.AcknowledgeAlert(ctx, operatorA, "a", r.ID, "t1"); !errors.Is(err, fleet.ErrConflict) {
		t.Errorf("acknowledging twice: %v, want ErrConflict", err)
	}
	tick(t, svc, e)
	if got := pub.take(); !reflect.DeepEqual(got, []string{"t1 acknowledged"}) {
		t.Errorf("published after acknowledging: %v, want t1 acknowledged", got)
	}
	// Delivery retries: a failing topic leaves the change to the next tick.
	e.send(t, "c1", map[string]any{"type": "status", "status": map[string]any{"cpu_percent": 10}})
	pub.fail = true
	tick(t, svc, e)
	pub.fail = false
	tick(t, svc, e)
	if got := pub.take(); !reflect.DeepEqual(got, []string{"t1 cleared"}) {
		t.Errorf("published after a failed delivery: %v, want t1 cleared once", got)
	}
	// Deleting the rule clears its alerts.
	if err := svc.DeleteAlertRule(ctx, operatorB, "b", rb.ID); err != nil {
		t.Fatal(err)
	}
	if as, _, _ := svc.Alerts(ctx, operatorB, fleet.AlertQuery{Group: "b"}); len(as) != 1 || as[0].State != fleet.AlertCleared {
		t.Errorf("after deleting the rule: %+v, want its alert cleared", as)
	}
	if err := svc.DeleteAlertRule(ctx, operatorA, "a", rb.ID); !errors.Is(err, fleet.ErrNotFound) {
		t.Errorf("deleting b's rule under a: %v, want ErrNotFound", err)
	}
	records, _, err := svc.AuditTrail(ctx, admin, fleet.AuditQuery{Action: fleet.AuditAlertAck, Limit: 10})
	if err != nil || len(records) == 0 || records[0].TerminalID != "t1" {
		t.Errorf("audit of the acknowledgement: %+v, %v", records, err)
	}
}

// testAlertErrorRateAcrossProcesses: batches of one terminal handled by two
// message-function processes in turn (each sees gaps in the other's
// sequence numbers) still open the alert exactly when the window holds
// more error lines than the threshold.
func testAlertErrorRateAcrossProcesses(t *testing.T, e *env) {
	svc, pub := alerting(e)
	e.connect(t, "t1", e.terminal(t, "t1", "a"), "c1")
	createRule(t, svc, fleet.AlertRule{Kind: fleet.AlertErrorRate, Minutes: 5, Threshold: 4})
	other := fleet.NewService(e.store, e.push, fleet.DefaultConfig(), fleet.WithClock(e.clock.Now))
	procs := []*fleet.Service{e.svc, other}
	seq := uint64(0)
	for i := range 5 {
		e.clock.Advance(10 * time.Second)
		var lines []protocol.LogEntry
		for k := range 3 {
			seq++
			level := "info"
			if k == 0 {
				level = "error"
			}
			lines = append(lines, protocol.LogEntry{Seq: seq, Time: e.clock.Now(), Level: level, Message: "x"})
		}
		raw, _ := json.Marshal(map[string]any{"type": "logs", "entries": lines})
		// Two batches in a row on one process, then the other's turn.
		if err := procs[(i/2)%2].HandleMessage(context.Background(), "c1", raw); err != nil {
			t.Fatal(err)
		}
		tick(t, svc, e)
		want := []string{}
		if i == 4 {
			want = []string{"t1 open"}
		}
		if got := alertStates(t, svc); !reflect.DeepEqual(got, want) {
			t.Fatalf("after %d error lines: alerts %v, want %v", i+1, got, want)
		}
	}
	if got := pub.take(); !reflect.DeepEqual(got, []string{"t1 open"}) {
		t.Errorf("published %v, want one opening", got)
	}
}

// testAlertsKeptWhenTheGroupReadFails: a scheduler run that could not read
// a group's terminals (throttled) clears none of their alerts as if the
// terminals had left the group, and notifies nothing: the next run, which
// reads them, finds the alert still open.
func testAlertsKeptWhenTheGroupReadFails(t *testing.T, e *env) {
	flaky := &flakyGroupReads{Store: e.store}
	pub := &publisher{}
	svc := fleet.NewService(flaky, e.push, fleet.DefaultConfig(), fleet.WithClock(e.clock.Now), fleet.WithAlertPublisher(pub))
	token := e.terminal(t, "t1", "a")
	e.connect(t, "t1", token, "c1")
	createRule(t, svc, fleet.AlertRule{Kind: fleet.AlertOffline, Minutes: 5, Name: "gone"})
	if err := e.svc.Disconnect(context.Background(), "c1", "closed"); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(6 * time.Minute)
	tick(t, svc, e)
	if got := pub.take(); !slices.Equal(got, []string{"t1 open"}) {
		t.Fatalf("published %v, want t1 open", got)
	}
	flaky.fail.Store(true)
	e.clock.Advance(time.Minute)
	if err := svc.Tick(context.Background(), e.clock.Now()); err == nil {
		t.Error("Tick with the group's terminals unreadable: no error")
	}
	if got := pub.take(); len(got) != 0 {
		t.Errorf("published %v while the group could not be read, want nothing", got)
	}
	flaky.fail.Store(false)
	if got := alertStates(t, svc); !slices.Equal(got, []string{"t1 open"}) {
		t.Errorf("alerts %v after a failed read, want t1 still open", got)
	}
	e.clock.Advance(time.Minute)
	tick(t, svc, e)
	if got := pub.take(); len(got) != 0 {
		t.Errorf("published %v on the next run, want nothing (still open, notified)", got)
	}
}

// flakyGroupReads fails GroupTerminalRecords while fail is set, as a
// throttled DynamoDB does after the SDK's retries.
type flakyGroupReads struct {
	fleet.Store
	fail atomic.Bool
}

func (f *flakyGroupReads) GroupTerminalRecords(ctx context.Context, group, after string, limit int) ([]fleet.Terminal, error) {
	if f.fail.Load() {
		return nil, fmt.Errorf("injected: %w", fleet.ErrThrottled)
	}
	return f.Store.GroupTerminalRecords(ctx, group, after, limit)
}

// testAlertErrorRateNotClearedOnACutCount: a terminal sending many small
// batches (live) has more chunks in a rule's window than the scheduler
// reads (400); its count of the newest is a lower bound and must not
// clear an alert the write path opened on the whole window (it would
// reopen a minute later: an open/cleared flap to SNS).
func testAlertErrorRateNotClearedOnACutCount(t *testing.T, e *env) {
	svc, pub := alerting(e)
	e.connect(t, "t1", e.terminal(t, "t1", "a"), "c1")
	createRule(t, svc, fleet.AlertRule{Kind: fleet.AlertErrorRate, Minutes: 60, Threshold: 100})
	seq := uint64(0)
	send := func(level string) {
		e.clock.Advance(time.Second)
		seq++
		e.send(t, "c1", map[string]any{"type": "logs", "entries": []protocol.LogEntry{{Seq: seq, Time: e.clock.Now(), Level: level, Message: "x"}}})
	}
	for range 120 {
		send("error")
	}
	for range 420 {
		send("info")
	}
	tick(t, svc, e)
	if got := alertStates(t, svc); !slices.Equal(got, []string{"t1 open"}) {
		t.Errorf("alerts %v, want t1 open (120 errors in the last 9 min, a rule of 100 an hour)", got)
	}
	for _, p := range pub.take() {
		if strings.HasSuffix(p, "cleared") {
			t.Errorf("published %q: the scheduler cleared on a count of the newest 400 chunks only", p)
		}
	}
}

// testAlertGroupsOfAReusedID: a terminal deleted and created again under
// its id in another group is judged by its new group's rules once the
// process's cache of its groups has aged (as long as the rules' cache):
// another group's error-rate rule no longer opens an alert on it.
func testAlertGroupsOfAReusedID(t *testing.T, e *env) {
	ctx := context.Background()
	e.connect(t, "t1", e.terminal(t, "t1", "a"), "c1")
	createRule(t, e.svc, fleet.AlertRule{Kind: fleet.AlertErrorRate, Minutes: 5, Threshold: 1})
	seq := uint64(0)
	errorsOn := func(conn string) {
		var lines []protocol.LogEntry
		for range 3 {
			seq++
			lines = append(lines, protocol.LogEntry{Seq: seq, Time: e.clock.Now(), Level: "error", Message: "x"})
		}
		e.send(t, conn, map[string]any{"type": "logs", "entries": lines})
	}
	errorsOn("c1")
	if got := alertStates(t, e.svc); !slices.Equal(got, []string{"t1 open"}) {
		t.Fatalf("alerts %v, want t1 open in group a", got)
	}
	if err := e.svc.DeleteTerminal(ctx, admin, "t1"); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(6 * time.Minute) // past the rule's window
	tick(t, e.svc, e)                // clears the deleted terminal's alert
	if got := alertStates(t, e.svc); !slices.Equal(got, []string{"t1 cleared"}) {
		t.Fatalf("alerts %v after the terminal was deleted, want t1 cleared", got)
	}
	e.connect(t, "t1", e.terminal(t, "t1", "b"), "c2")
	seq = 0
	errorsOn("c2")
	for _, s := range alertStates(t, e.svc) {
		if s == "t1 open" {
			t.Errorf("alerts of group a %v: group a's rule opened an alert on the t1 of group b", alertStates(t, e.svc))
		}
	}
}
