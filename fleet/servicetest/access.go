package servicetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/edgesync/edgesync/fleet"
)

// Users of the access tests: viewer and operator see group "line-1".
var (
	viewer    = fleet.Principal{Subject: "vera", Role: fleet.RoleViewer, Groups: []string{"line-1"}}
	operator  = fleet.Principal{Subject: "otto", Role: fleet.RoleOperator, Groups: []string{"line-1"}}
	adminUser = fleet.Principal{Subject: "ada", Role: fleet.RoleAdmin}
	noRole    = fleet.Principal{Subject: "nobody", Groups: []string{"line-1"}}
)

// call is one Service operation made as a principal on a terminal.
type call struct {
	name string
	do   func(ctx context.Context, e *env, p fleet.Principal, id string) error
}

// calls are the operations a caller makes on one terminal, each reading
// or acting on it; the bool is the role it needs.
func terminalCalls() []struct {
	call
	role fleet.Role
} {
	return []struct {
		call
		role fleet.Role
	}{
		{call{"Terminal", func(ctx context.Context, e *env, p fleet.Principal, id string) error {
			_, err := e.svc.Terminal(ctx, p, id)
			return err
		}}, fleet.RoleViewer},
		{call{"TerminalConfig", func(ctx context.Context, e *env, p fleet.Principal, id string) error {
			_, err := e.svc.TerminalConfig(ctx, p, id)
			return err
		}}, fleet.RoleViewer},
		{call{"TerminalStatus", func(ctx context.Context, e *env, p fleet.Principal, id string) error {
			_, err := e.svc.TerminalStatus(ctx, p, id)
			return err
		}}, fleet.RoleViewer},
		{call{"StatusHistory", func(ctx context.Context, e *env, p fleet.Principal, id string) error {
			_, err := e.svc.StatusHistory(ctx, p, id, time.Time{}, 10)
			return err
		}}, fleet.RoleViewer},
		{call{"TerminalLogs", func(ctx context.Context, e *env, p fleet.Principal, id string) error {
			_, err := e.svc.TerminalLogs(ctx, p, id, fleet.LogQuery{})
			return err
		}}, fleet.RoleViewer},
		{call{"Command", func(ctx context.Context, e *env, p fleet.Principal, id string) error {
			_, err := e.svc.Command(ctx, p, id, "req-1")
			return err
		}}, fleet.RoleViewer},
		{call{"SetConfig", func(ctx context.Context, e *env, p fleet.Principal, id string) error {
			_, err := e.svc.SetConfig(ctx, p, id, json.RawMessage(`{"threshold":0.5}`))
			return err
		}}, fleet.RoleOperator},
		{call{"SendCommand", func(ctx context.Context, e *env, p fleet.Principal, id string) error {
			_, err := e.svc.SendCommand(ctx, p, id, "ping", nil, 0)
			return err
		}}, fleet.RoleOperator},
		{call{"Sync", func(ctx context.Context, e *env, p fleet.Principal, id string) error {
			_, err := e.svc.Sync(ctx, p, id)
			return err
		}}, fleet.RoleOperator},
		{call{"Credentials", func(ctx context.Context, e *env, p fleet.Principal, id string) error {
			_, err := e.svc.Credentials(ctx, p, id)
			return err
		}}, fleet.RoleAdmin},
		{call{"RotateToken", func(ctx context.Context, e *env, p fleet.Principal, id string) error {
			_, err := e.svc.RotateToken(ctx, p, id, time.Hour)
			return err
		}}, fleet.RoleAdmin},
		{call{"RevokeToken", func(ctx context.Context, e *env, p fleet.Principal, id string) error {
			return e.svc.RevokeToken(ctx, p, id, "no-such-credential")
		}}, fleet.RoleAdmin},
	}
}

// onlineTerminals creates t1 in group line-1 and t2 in line-2, both
// connected (on c1 and c2), with a command req-1 stored for each.
func onlineTerminals(t *testing.T, e *env) {
	t.Helper()
	ctx := context.Background()
	for i, g := range []string{"line-1", "line-2"} {
		id, conn := fmt.Sprintf("t%d", i+1), fmt.Sprintf("c%d", i+1)
		e.connect(t, id, e.terminal(t, id, g), conn)
		now := e.clock.Now()
		c := fleet.Command{TerminalID: id, RequestID: "req-1", Name: "ping", State: fleet.CommandPending, CreatedAt: now, Deadline: now.Add(time.Minute), ExpiresAt: now.Add(time.Hour)}
		if err := e.store.PutCommands(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
}

// testRolesPerOperation: each operation needs its role; a caller without
// it is refused with ErrForbidden (audited), whoever they are.
func testRolesPerOperation(t *testing.T, e *env) {
	ctx := context.Background()
	onlineTerminals(t, e)
	callers := []struct {
		name string
		p    fleet.Principal
	}{
		{"viewer", viewer}, {"operator", operator}, {"admin", adminUser},
		{"no role", noRole}, {"a terminal", fleet.TerminalPrincipal("t1")}, {"zero principal", fleet.Principal{}},
	}
	denied := 0
	for _, c := range callers {
		for _, op := range terminalCalls() {
			err := op.do(ctx, e, c.p, "t1")
			if c.p.Can(op.role) {
				if errors.Is(err, fleet.ErrForbidden) {
					t.Errorf("%s %s: %v, want it allowed", c.name, op.name, err)
				}
				continue
			}
			denied++
			if !errors.Is(err, fleet.ErrForbidden) || !strings.Contains(err.Error(), "needs the "+string(op.role)+" role") {
				t.Errorf("%s %s: %v, want ErrForbidden naming the %s role", c.name, op.name, err, op.role)
			}
		}
		fleetCalls := []struct {
			name string
			role fleet.Role
			err  error
		}{
			{"Caller", fleet.RoleViewer, func() error { _, err := e.svc.Caller(ctx, c.p); return err }()},
			{"Terminals", fleet.RoleViewer, func() error { _, _, err := e.svc.Terminals(ctx, c.p, "", 10); return err }()},
			{"CreateTerminal", fleet.RoleAdmin, func() error {
				_, err := e.svc.CreateTerminal(ctx, c.p, "new-"+strings.ReplaceAll(c.name, " ", "-"), "", nil)
				return err
			}()},
			{"AuditTrail", fleet.RoleAdmin, func() error { _, _, err := e.svc.AuditTrail(ctx, c.p, fleet.AuditQuery{}); return err }()},
		}
		for _, fc := range fleetCalls {
			if c.p.Can(fc.role) != (fc.err == nil) {
				t.Errorf("%s %s: %v, want allowed %v", c.name, fc.name, fc.err, c.p.Can(fc.role))
			}
			if fc.err != nil {
				denied++
				if !errors.Is(fc.err, fleet.ErrForbidden) {
					t.Errorf("%s %s: %v, want ErrForbidden", c.name, fc.name, fc.err)
				}
			}
		}
	}
	recs, _, err := e.svc.AuditTrail(ctx, admin, fleet.AuditQuery{Action: fleet.AuditRequestDenied, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	// Denials are coalesced: one record per actor, operation and reason
	// (within a window), so at most one per refused call, at least one
	// per refusing caller, and never two alike.
	if len(recs) == 0 || len(recs) > denied {
		t.Errorf("denials audited: %d, want from 1 to one per refused call (%d)", len(recs), denied)
	}
	seen := map[string]bool{}
	for _, r := range recs {
		var d map[string]string
		if err := json.Unmarshal(r.Detail, &d); err != nil || d["operation"] == "" || !strings.Contains(d["reason"], "may not do this") {
			t.Errorf("denial record %s by %s: detail %s, want the operation and the reason", r.ID, r.Actor, r.Detail)
		}
		k := r.Actor + "|" + d["operation"] + "|" + d["reason"]
		if seen[k] {
			t.Errorf("two denial records of %s: repeats must be coalesced", k)
		}
		seen[k] = true
	}
}

// testOutsideGroupsIsAbsent: to a user, a terminal outside their groups is
// exactly an absent one — same error for every operation, nothing done —
// and the refusal is audited (as a lookup of an absent terminal is).
func testOutsideGroupsIsAbsent(t *testing.T, e *env) {
	ctx := context.Background()
	onlineTerminals(t, e)
	e.push.take(t, "c2")
	before, _, _ := e.svc.AuditTrail(ctx, admin, fleet.AuditQuery{Limit: 1000})
	for _, p := range []fleet.Principal{viewer, operator} {
		for _, op := range terminalCalls() {
			if !p.Can(op.role) {
				continue
			}
			outside := op.do(ctx, e, p, "t2")
			absent := op.do(ctx, e, p, "t9")
			if !errors.Is(outside, fleet.ErrNotFound) {
				t.Errorf("%s %s of a terminal outside their groups: %v, want ErrNotFound", p.Subject, op.name, outside)
				continue
			}
			if got, want := strings.ReplaceAll(outside.Error(), "t2", "ID"), strings.ReplaceAll(absent.Error(), "t9", "ID"); got != want {
				t.Errorf("%s %s: outside the groups %q, absent %q; want the same error", p.Subject, op.name, outside, absent)
			}
		}
	}
	if msgs := e.push.take(t, "c2"); len(msgs) != 0 {
		t.Errorf("pushed to t2 on calls by users outside its group: %v", msgs)
	}
	if v, err := e.svc.Terminal(ctx, adminUser, "t2"); err != nil || v.ID != "t2" {
		t.Errorf("admin reads t2: %v, %v; want it", v.ID, err)
	}
	after, _, _ := e.svc.AuditTrail(ctx, admin, fleet.AuditQuery{Limit: 1000})
	var denials []string
	for _, r := range after[:len(after)-len(before)] {
		if r.Action != fleet.AuditRequestDenied {
			t.Errorf("audit record %s %s on %s by %s after calls that did nothing", r.Action, r.Outcome, r.TerminalID, r.Actor)
			continue
		}
		var d map[string]string
		_ = json.Unmarshal(r.Detail, &d)
		denials = append(denials, d["terminal"])
	}
	if n := strings.Count(strings.Join(denials, ","), "t2"); n == 0 || n != strings.Count(strings.Join(denials, ","), "t9") {
		t.Errorf("denials audited for t2 and t9: %v, want as many of each", denials)
	}
}

// testSecretsMaskedForNonAdmins: every read and every answer a viewer or an
// operator gets shows secret values masked — config, desired config,
// status, its history, log attributes, command params and results — also in
// fields the JSON answer leaves out; an admin sees them.
func testSecretsMaskedForNonAdmins(t *testing.T, e *env) {
	ctx := context.Background()
	token := e.terminal(t, "t1", "line-1")
	e.connect(t, "t1", token, "c1")
	e.send(t, "c1", map[string]any{"type": "hello"})
	pulls := commandsIn(e.push.take(t, "c1"))
	respond(t, e, "c1", pulls["get_config"], true, map[string]any{"threshold": 0.8, "db_password": "hunter2", "upload": map[string]any{"api_token": "tok-123"}})
	respond(t, e, "c1", pulls["get_status"], true, map[string]any{"cpu_percent": 12.5, "wifi_password": "pw-status"})
	lines := entries(1, 2, "info")
	lines[1].Attrs = map[string]any{"session_token": "tok-log", "user": "bob"}
	respond(t, e, "c1", pulls["get_logs"], true, map[string]any{"entries": lines})
	if _, err := e.svc.SetConfig(ctx, adminUser, "t1", json.RawMessage(`{"threshold":0.9,"db_password":"s3cret-new"}`)); err != nil {
		t.Fatal(err)
	}
	e.push.take(t, "c1")
	secrets := []string{"hunter2", "tok-123", "pw-status", "tok-log", "s3cret-new", "cmd-pw", "result-pw", "credential:"}

	// reads returns everything p gets, as JSON and as the Go values whole
	// (with the documents and credentials JSON leaves out). A command
	// with secret params is sent first, by p if it may, else by operator.
	reads := func(p fleet.Principal) map[string]string {
		out := map[string]string{}
		add := func(name string, v any, err error) {
			t.Helper()
			if err != nil {
				t.Fatalf("%s %s: %v", p.Subject, name, err)
			}
			raw, _ := json.Marshal(v)
			out[name] = fmt.Sprintf("%s %s", raw, goValue(v))
		}
		sender := p
		if !p.Can(fleet.RoleOperator) {
			sender = operator
		}
		sent, err := e.svc.SendCommand(ctx, sender, "t1", "ping", json.RawMessage(`{"password":"cmd-pw"}`), 0)
		if sender.Subject == p.Subject {
			add("SendCommand", sent, err)
		}
		pushed := e.push.take(t, "c1")
		respond(t, e, "c1", pushed[0], true, map[string]any{"echo": map[string]any{"secret": "result-pw"}})
		c, err := e.svc.Command(ctx, p, "t1", sent.RequestID)
		add("Command", c, err)
		v, err := e.svc.Terminal(ctx, p, "t1")
		add("Terminal", v, err)
		list, _, err := e.svc.Terminals(ctx, p, "", 10)
		add("Terminals", list, err)
		cfg, err := e.svc.TerminalConfig(ctx, p, "t1")
		add("TerminalConfig", cfg, err)
		st, err := e.svc.TerminalStatus(ctx, p, "t1")
		add("TerminalStatus", st, err)
		hist, err := e.svc.StatusHistory(ctx, p, "t1", time.Time{}, 10)
		add("StatusHistory", hist, err)
		logs, err := e.svc.TerminalLogs(ctx, p, "t1", fleet.LogQuery{})
		add("TerminalLogs", logs, err)
		if p.Can(fleet.RoleOperator) {
			d, err := e.svc.SetConfig(ctx, p, "t1", json.RawMessage(`{"threshold":0.9,"db_password":"s3cret-new"}`))
			add("SetConfig", d, err)
		}
		e.push.take(t, "c1")
		return out
	}
	for _, p := range []fleet.Principal{viewer, operator} {
		got := reads(p)
		if len(got) < 7 {
			t.Fatalf("%s: %d reads, want every one", p.Subject, len(got))
		}
		for name, read := range got {
			for _, s := range secrets {
				if strings.Contains(read, s) {
					t.Errorf("%s %s shows secret %q: %s", p.Subject, name, s, read)
				}
			}
		}
	}
	got := reads(adminUser)
	for name, want := range map[string]string{
		"TerminalConfig": "s3cret-new", "Terminal": "hunter2", "Terminals": "credential:", "TerminalStatus": "pw-status",
		"StatusHistory": "pw-status", "TerminalLogs": "tok-log", "Command": "result-pw", "SendCommand": "cmd-pw", "SetConfig": "s3cret-new",
	} {
		if !strings.Contains(got[name], want) {
			t.Errorf("admin %s lacks %q: %s", name, want, got[name])
		}
	}
}

// goValue prints v with every field, json.RawMessage and []byte as text.
func goValue(v any) string {
	s := fmt.Sprintf("%+v", v)
	// %+v prints json.RawMessage as numbers; show it as text.
	var raw []string
	collectRaw(v, &raw)
	return s + " " + strings.Join(raw, " ")
}

// collectRaw gathers the documents the fleet views hold outside their JSON.
func collectRaw(v any, out *[]string) {
	switch x := v.(type) {
	case fleet.TerminalView:
		*out = append(*out, string(x.Terminal.Config.Data), string(x.Terminal.Status.Data), string(x.Terminal.Desired.Data))
		for _, c := range x.Credentials {
			*out = append(*out, "credential:"+c.ID)
		}
	case []fleet.TerminalView:
		for _, t := range x {
			collectRaw(t, out)
		}
	}
}

// testOperationsAreAudited: what a caller does is audited under their
// name before it happens; a denial names the request when the context
// carries it (fleet.WithRequest).
func testOperationsAreAudited(t *testing.T, e *env) {
	ctx := context.Background()
	onlineTerminals(t, e)
	if _, err := e.svc.SendCommand(ctx, operator, "t1", "ping", nil, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Sync(ctx, operator, "t1"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.SetConfig(ctx, operator, "t1", json.RawMessage(`{"a":1}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.SendCommand(ctx, operator, "t2", "ping", nil, 0); !errors.Is(err, fleet.ErrNotFound) {
		t.Fatalf("command to a terminal outside the groups: %v, want ErrNotFound", err)
	}
	reqCtx := fleet.WithRequest(ctx, "POST", "/terminals/t1/sync")
	if _, err := e.svc.Sync(reqCtx, viewer, "t1"); !errors.Is(err, fleet.ErrForbidden) {
		t.Fatalf("viewer syncs: %v, want ErrForbidden", err)
	}
	recs, _, err := e.svc.AuditTrail(ctx, admin, fleet.AuditQuery{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for i := len(recs) - 1; i >= 0; i-- {
		r := recs[i]
		if r.Action == fleet.AuditTerminalCreate {
			continue
		}
		got = append(got, fmt.Sprintf("%s %s %s %s %s", r.Actor, r.Role, r.Action, r.TerminalID, r.Outcome))
	}
	want := []string{
		"otto operator command.send t1 requested",
		"otto operator terminal.sync t1 requested",
		"otto operator config.set t1 requested",
		"otto operator request.denied  denied",
		"vera viewer request.denied  denied",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("audit trail, oldest first:\n got %q\nwant %q", got, want)
	}
	var d map[string]string
	_ = json.Unmarshal(recs[0].Detail, &d)
	if d["method"] != "POST" || d["path"] != "/terminals/t1/sync" || d["operation"] != fleet.AuditSync || d["terminal"] != "t1" {
		t.Errorf("denial detail: %s, want the request's method and path, the operation and the terminal", recs[0].Detail)
	}
}
