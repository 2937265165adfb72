package servicetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgesync/edgesync/fleet"
	"github.com/edgesync/edgesync/protocol"
)

// The attacks of issue 12 on the service's rules, each performed and
// shown to fail. securitytest performs them again through the local
// stack's HTTP and WebSocket APIs with real agents.

// credentialIDs returns the ids of the terminal's credentials, oldest first.
func credentialIDs(t *testing.T, e *env, id string) []string {
	t.Helper()
	creds, err := e.svc.Credentials(context.Background(), admin, id)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, c := range creds {
		out = append(out, c.ID)
	}
	return out
}

// lastSeq returns the terminal's highest stored log sequence number.
func lastSeq(t *testing.T, e *env, id string) uint64 {
	t.Helper()
	v, err := e.svc.Terminal(context.Background(), admin, id)
	if err != nil {
		t.Fatal(err)
	}
	return v.LastSeq
}

// testRevokeEndsConnections: revoking a credential closes the connections
// that authenticated with it, and no message on them is accepted after,
// even by a service that handled their messages before (a warm Lambda
// container) while another one (the query function's) revoked.
func testRevokeEndsConnections(t *testing.T, e *env) {
	ctx := context.Background()
	first := e.terminal(t, "t1")
	second, err := e.svc.RotateToken(ctx, admin, "t1", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	ids := credentialIDs(t, e, "t1")
	e.connect(t, "t1", first, "c-first")
	e.clock.Advance(time.Second)
	e.connect(t, "t1", second, "c-second")
	// Both connections work: this service has read both bindings.
	e.send(t, "c-first", map[string]any{"type": "logs", "entries": entries(1, 2, "info")})
	e.send(t, "c-second", map[string]any{"type": "logs", "entries": entries(3, 4, "info")})
	e.push.take(t, "c-first")
	e.push.take(t, "c-second")

	// Another process revokes the first credential.
	other := newRecorder()
	revoker := fleet.NewService(e.store, other, fleet.DefaultConfig(), fleet.WithClock(e.clock.Now))
	if err := revoker.RevokeToken(ctx, admin, "t1", ids[0]); err != nil {
		t.Fatal(err)
	}
	if got := other.takeClosed(); !slices.Equal(got, []string{"c-first"}) {
		t.Errorf("closed on revoking the first credential: %v, want [c-first]", got)
	}
	e.send(t, "c-first", map[string]any{"type": "logs", "entries": entries(5, 6, "info")})
	if got := lastSeq(t, e, "t1"); got != 4 {
		t.Errorf("after a logs message on the revoked connection: LastSeq %d, want 4 (refused)", got)
	}
	if got := e.push.takeClosed(); !slices.Equal(got, []string{"c-first"}) {
		t.Errorf("closed by the message path: %v, want [c-first] (its binding is gone)", got)
	}
	// The other credential's connection goes on, current and online.
	e.send(t, "c-second", map[string]any{"type": "logs", "entries": entries(5, 6, "info")})
	if got := lastSeq(t, e, "t1"); got != 6 {
		t.Errorf("after a logs message on the live connection: LastSeq %d, want 6", got)
	}
	if v, _ := e.svc.Terminal(ctx, admin, "t1"); !v.Online {
		t.Errorf("t1 offline after revoking a credential its current connection does not use")
	}
	// Revoking every credential ends that one too, and the terminal is offline.
	if err := e.svc.RevokeToken(ctx, admin, "t1", ""); err != nil {
		t.Fatal(err)
	}
	if got := e.push.takeClosed(); !slices.Equal(got, []string{"c-second"}) {
		t.Errorf("closed on revoking every credential: %v, want [c-second]", got)
	}
	if v, _ := e.svc.Terminal(ctx, admin, "t1"); v.Online || v.DisconnectReason != "credential revoked" {
		t.Errorf("t1 after revoking every credential: online %v, reason %q; want offline, credential revoked", v.Online, v.DisconnectReason)
	}
	if err := e.svc.Connect(ctx, fleet.ConnectRequest{ConnectionID: "c-again", TerminalID: "t1", Token: second}); !errors.Is(err, fleet.ErrForbidden) {
		t.Errorf("reconnect with the revoked token: %v, want ErrForbidden", err)
	}
}

// testRotationWithoutOverlap: a rotation whose overlap is 0 ends the old
// tokens at once, and the connections made with them.
func testRotationWithoutOverlap(t *testing.T, e *env) {
	ctx := context.Background()
	old := e.terminal(t, "t1")
	e.connect(t, "t1", old, "c-old")
	if _, err := e.svc.RotateToken(ctx, admin, "t1", time.Hour); err != nil {
		t.Fatal(err)
	}
	if got := e.push.takeClosed(); len(got) != 0 {
		t.Errorf("closed by a rotation with an overlap: %v, want none", got)
	}
	if _, err := e.svc.RotateToken(ctx, admin, "t1", 0); err != nil {
		t.Fatal(err)
	}
	if got := e.push.takeClosed(); !slices.Equal(got, []string{"c-old"}) {
		t.Errorf("closed by a rotation without overlap: %v, want [c-old]", got)
	}
}

// testConcurrentRotateRevoke races rotations against the revocation of
// the first credential: whatever the order, the revoked token is never
// accepted again, and every rotation that succeeded issued a working token.
func testConcurrentRotateRevoke(t *testing.T, e *env) {
	ctx := context.Background()
	first := e.terminal(t, "t1")
	firstID := credentialIDs(t, e, "t1")[0]
	const rotations = 8
	var (
		mu     sync.Mutex
		tokens []string
		wg     sync.WaitGroup
	)
	start := make(chan struct{})
	for i := 0; i <= rotations; i++ {
		wg.Go(func() {
			<-start
			if i == 0 {
				// An admin retries a revocation answered 409 until it applies.
				for {
					err := e.svc.RevokeToken(ctx, admin, "t1", firstID)
					if err == nil {
						return
					}
					if !errors.Is(err, fleet.ErrConflict) {
						t.Errorf("revoke: %v", err)
						return
					}
				}
			}
			token, err := e.svc.RotateToken(ctx, admin, "t1", 24*time.Hour)
			switch {
			case errors.Is(err, fleet.ErrConflict):
				// Lost every attempt to concurrent changes: a 409, retried by the caller.
			case err != nil:
				t.Errorf("rotate: %v", err)
			default:
				mu.Lock()
				tokens = append(tokens, token)
				mu.Unlock()
			}
		})
	}
	close(start)
	wg.Wait()
	if err := e.svc.Connect(ctx, fleet.ConnectRequest{ConnectionID: "c-revoked", TerminalID: "t1", Token: first}); !errors.Is(err, fleet.ErrForbidden) {
		t.Errorf("the revoked token after concurrent rotations: %v, want ErrForbidden (it came back)", err)
	}
	if len(tokens) == 0 {
		t.Fatal("no rotation succeeded")
	}
	for i, token := range tokens {
		if err := e.svc.Connect(ctx, fleet.ConnectRequest{ConnectionID: fmt.Sprintf("c-%d", i), TerminalID: "t1", Token: token}); err != nil {
			t.Errorf("token of rotation %d: %v, want accepted (a rotation was lost)", i, err)
		}
	}
}

// testDeleteTerminal: only an admin deletes a terminal; its connections
// are closed and refused, its token no longer connects, reads find
// nothing, the deletion is audited, and the id can be registered again.
func testDeleteTerminal(t *testing.T, e *env) {
	ctx := context.Background()
	token := e.terminal(t, "t1", "line-1")
	e.connect(t, "t1", token, "c1")
	e.push.take(t, "c1")
	if err := e.svc.DeleteTerminal(ctx, operator, "t1"); !errors.Is(err, fleet.ErrForbidden) {
		t.Fatalf("operator deletes: %v, want ErrForbidden", err)
	}
	if err := e.svc.DeleteTerminal(ctx, adminUser, "t1"); err != nil {
		t.Fatalf("admin deletes: %v", err)
	}
	if got := e.push.takeClosed(); !slices.Equal(got, []string{"c1"}) {
		t.Errorf("closed on deletion: %v, want [c1]", got)
	}
	if _, err := e.svc.Terminal(ctx, admin, "t1"); !errors.Is(err, fleet.ErrNotFound) {
		t.Errorf("read after deletion: %v, want ErrNotFound", err)
	}
	if err := e.svc.Connect(ctx, fleet.ConnectRequest{ConnectionID: "c2", TerminalID: "t1", Token: token}); !errors.Is(err, fleet.ErrForbidden) {
		t.Errorf("connect after deletion: %v, want ErrForbidden", err)
	}
	if err := e.svc.DeleteTerminal(ctx, adminUser, "t1"); !errors.Is(err, fleet.ErrNotFound) {
		t.Errorf("delete again: %v, want ErrNotFound", err)
	}
	recs, _, err := e.svc.AuditTrail(ctx, admin, fleet.AuditQuery{TerminalID: "t1", Action: fleet.AuditTerminalDelete, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range recs {
		got = append(got, r.Actor+" "+r.Outcome)
	}
	if want := []string{"ada failed", "ada requested", "ada requested"}; !slices.Equal(got, want) {
		t.Errorf("audit of the deletions, newest first: %q, want %q (the deletion, then the repeat that failed)", got, want)
	}
	fresh := e.terminal(t, "t1", "line-2")
	e.connect(t, "t1", fresh, "c3")
	if v, err := e.svc.Terminal(ctx, admin, "t1"); err != nil || !v.Online || len(v.Groups) != 1 || v.Groups[0] != "line-2" {
		t.Errorf("re-created t1: %+v, %v; want the new terminal, online, in line-2 only", v, err)
	}
}

// testExpiredBindingRefused: a connection's binding ends at ConnectionTTL
// (here 15 s): a logs batch sent 25 s after connecting is refused and not
// stored, and the connection is closed.
func testExpiredBindingRefused(t *testing.T, e *env) {
	cfg := fleet.DefaultConfig()
	cfg.ConnectionTTL = 15 * time.Second
	svc := fleet.NewService(e.store, e.push, cfg, fleet.WithClock(e.clock.Now))
	token := e.terminal(t, "t1")
	if err := svc.Connect(context.Background(), fleet.ConnectRequest{ConnectionID: "c1", TerminalID: "t1", Token: token}); err != nil {
		t.Fatal(err)
	}
	send := func(msg any) {
		t.Helper()
		raw, _ := json.Marshal(msg)
		if err := svc.HandleMessage(context.Background(), "c1", raw); err != nil {
			t.Fatal(err)
		}
	}
	send(map[string]any{"type": "logs", "entries": entries(1, 2, "info")})
	if got := e.push.take(t, "c1"); len(got) != 1 || got[0]["type"] != "ack" {
		t.Fatalf("logs inside the TTL: %v, want an ack", got)
	}
	e.clock.Advance(25 * time.Second)
	send(map[string]any{"type": "logs", "entries": entries(3, 4, "info")})
	got := e.push.take(t, "c1")
	if len(got) != 1 || got[0]["type"] != "error" || got[0]["code"] != protocol.CodeForbidden || !strings.Contains(fmt.Sprint(got[0]["message"]), "reconnect") {
		t.Errorf("logs 25 s after connecting with a 15 s TTL: %v, want a forbidden error saying reconnect", got)
	}
	if n := lastSeq(t, e, "t1"); n != 2 {
		t.Errorf("LastSeq %d after the expired batch, want 2 (not stored)", n)
	}
	if closed := e.push.takeClosed(); !slices.Equal(closed, []string{"c1"}) {
		t.Errorf("closed: %v, want [c1]", closed)
	}
}

// reportConfig connects t1 and has it report cfg as its config.
func reportConfig(t *testing.T, e *env, cfg string) {
	t.Helper()
	e.connect(t, "t1", e.terminal(t, "t1", "line-1"), "c1")
	e.send(t, "c1", map[string]any{"type": "hello", "terminal_id": "t1"})
	cmds := commandsIn(e.push.take(t, "c1"))
	respond(t, e, "c1", cmds["get_config"], true, json.RawMessage(cfg))
}

// testOperatorCannotChangeConnectionSettings: an operator's desired
// config may not change where or how the terminal connects, its
// credentials, its TLS settings or what it exposes as logs (hole 1: a
// new server_url with the secrets left "[redacted]" would make the agent
// carry its token to the operator's host; hole 2: log_inputs naming the
// agent's own config file would publish its token as log lines).
func testOperatorCannotChangeConnectionSettings(t *testing.T, e *env) {
	ctx := context.Background()
	reported := `{"terminal_id":"t1","server_url":"wss://api.example/prod","token":"[redacted]","log_inputs":["/var/log/app.log"],"log_level":"info","status_interval":30}`
	reportConfig(t, e, reported)
	tests := []struct {
		name, doc string
		refused   []string // keys named in the refusal; none: accepted
	}{
		{"server_url to the operator's host, secrets redacted",
			`{"terminal_id":"t1","server_url":"wss://evil.example/prod","token":"[redacted]","log_inputs":["/var/log/app.log"],"log_level":"info","status_interval":30}`, []string{"server_url"}},
		{"the agent's own config added to log_inputs",
			`{"terminal_id":"t1","server_url":"wss://api.example/prod","token":"[redacted]","log_inputs":["/var/log/app.log","/etc/edgesync/agent.json"],"log_level":"info","status_interval":30}`, []string{"log_inputs"}},
		{"allow_insecure switched on and a proxy",
			`{"terminal_id":"t1","server_url":"wss://api.example/prod","token":"[redacted]","log_inputs":["/var/log/app.log"],"allow_insecure":true,"proxy_url":"http://evil.example:3128","log_level":"info","status_interval":30}`, []string{"allow_insecure", "proxy_url"}},
		{"a TLS object",
			`{"terminal_id":"t1","server_url":"wss://api.example/prod","token":"[redacted]","log_inputs":["/var/log/app.log"],"tls":{"insecure_skip_verify":true},"log_level":"info","status_interval":30}`, []string{"tls"}},
		{"a new token",
			`{"terminal_id":"t1","server_url":"wss://api.example/prod","token":"est_mine","log_inputs":["/var/log/app.log"],"log_level":"info","status_interval":30}`, []string{"token"}},
		{"connection settings left out",
			`{"log_level":"debug"}`, []string{"server_url", "terminal_id", "token", "log_inputs"}},
		{"tuning only, connection settings as reported",
			`{"terminal_id":"t1","server_url":"wss://api.example/prod","token":"[redacted]","log_inputs":["/var/log/app.log"],"log_level":"debug","status_interval":10}`, nil},
		{"same values in another key order and spacing",
			`{ "status_interval":30, "log_level":"warn", "log_inputs":[ "/var/log/app.log" ], "token":"[redacted]", "server_url":"wss://api.example/prod", "terminal_id":"t1" }`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.push.take(t, "c1")
			_, err := e.svc.SetConfig(ctx, operator, "t1", json.RawMessage(tt.doc))
			pushed := e.push.take(t, "c1")
			if len(tt.refused) == 0 {
				if err != nil {
					t.Fatalf("operator's change: %v, want accepted", err)
				}
				return
			}
			if !errors.Is(err, fleet.ErrForbidden) || !strings.Contains(err.Error(), "only be changed by an admin") {
				t.Fatalf("operator's change: %v, want ErrForbidden saying only an admin may", err)
			}
			for _, k := range tt.refused {
				if !strings.Contains(err.Error(), k) {
					t.Errorf("refusal %q does not name %s", err, k)
				}
			}
			if len(pushed) != 0 {
				t.Errorf("pushed to the terminal on a refused change: %v", pushed)
			}
		})
	}
	// An admin may; an operator may then send back what the admin set.
	moved := `{"terminal_id":"t1","server_url":"wss://api2.example/prod","token":"[redacted]","log_inputs":["/var/log/app.log"],"log_level":"info","status_interval":30}`
	if _, err := e.svc.SetConfig(ctx, adminUser, "t1", json.RawMessage(moved)); err != nil {
		t.Fatalf("admin moves the terminal: %v", err)
	}
	again := strings.Replace(moved, `"info"`, `"debug"`, 1)
	if _, err := e.svc.SetConfig(ctx, operator, "t1", json.RawMessage(again)); err != nil {
		t.Errorf("operator keeps the admin's desired server_url: %v, want accepted", err)
	}
	recs, _, err := e.svc.AuditTrail(ctx, admin, fleet.AuditQuery{Actor: "otto", Action: fleet.AuditRequestDenied, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) == 0 || !strings.Contains(string(recs[0].Detail), "admin-only") {
		t.Errorf("refusals audited: %+v, want a denial of otto's admin-only change", recs)
	}
}

// testConfigVersionHidesSecrets: the version every role sees is not a
// function of secret values, so a viewer cannot test a guessed password
// against it (hole 4).
func testConfigVersionHidesSecrets(t *testing.T, e *env) {
	ctx := context.Background()
	reportConfig(t, e, `{"threshold":0.5,"db_password":"[redacted]"}`)
	versionOf := func(doc string) string {
		t.Helper()
		d, err := e.svc.SetConfig(ctx, adminUser, "t1", json.RawMessage(doc))
		if err != nil {
			t.Fatal(err)
		}
		v, err := e.svc.TerminalConfig(ctx, viewer, "t1")
		if err != nil {
			t.Fatal(err)
		}
		if v.Desired == nil || v.Desired.Version != d.Version {
			t.Fatalf("viewer's desired version %+v, want %s", v.Desired, d.Version)
		}
		return d.Version
	}
	real := versionOf(`{"threshold":0.5,"db_password":"correct horse"}`)
	guess := versionOf(`{"threshold":0.5,"db_password":"hunter2"}`)
	if real != guess {
		t.Errorf("versions of configs differing only in a password: %s and %s, want the same", real, guess)
	}
	if other := versionOf(`{"threshold":0.6,"db_password":"correct horse"}`); other == real {
		t.Errorf("a change of threshold kept version %s, want a new one", real)
	}
	// The terminal reports the config with the secret redacted: the same
	// version as the desired one.
	reported, err := e.svc.TerminalConfig(ctx, viewer, "t1")
	if err != nil {
		t.Fatal(err)
	}
	if want := fleet.ConfigVersion(json.RawMessage(`{"threshold":0.5,"db_password":"anything"}`)); reported.Version != want || want != real {
		t.Errorf("reported version %s, desired %s, want both %s", reported.Version, real, want)
	}
}

// testGetLogsResultKeepsNoLines: a get_logs answer in gzip form carries
// log lines with secret attributes; the command record keeps a summary,
// never the lines, so no one reads them past the masking of log reads
// (hole 3).
func testGetLogsResultKeepsNoLines(t *testing.T, e *env) {
	ctx := context.Background()
	e.connect(t, "t1", e.terminal(t, "t1", "line-1"), "c1")
	lines := entries(1, 3, "info")
	lines[1].Attrs = map[string]any{"session_token": "tok-gz", "user": "bob"}
	data, err := protocol.CompressEntries(lines)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name    string
		success bool
		result  any
	}{
		{"gzip result", true, map[string]any{"encoding": "gzip", "data": data}},
		{"plain result", true, map[string]any{"entries": lines}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := e.svc.SendCommand(ctx, operator, "t1", "get_logs", json.RawMessage(`{"count":10}`), 0)
			if err != nil {
				t.Fatal(err)
			}
			sent := commandsIn(e.push.take(t, "c1"))["get_logs"]
			respond(t, e, "c1", sent, tt.success, tt.result)
			e.push.take(t, "c1")
			for _, p := range []fleet.Principal{viewer, adminUser} {
				got, err := e.svc.Command(ctx, p, "t1", c.RequestID)
				if err != nil {
					t.Fatal(err)
				}
				raw, _ := json.Marshal(got)
				if strings.Contains(string(raw), "tok-gz") || strings.Contains(string(raw), `"data"`) || got.State != fleet.CommandSucceeded {
					t.Errorf("%s reads the get_logs command: %s, want succeeded with no line in it", p.Subject, raw)
				}
				var sum fleet.GetLogsSummary
				if err := json.Unmarshal(got.Result, &sum); err != nil || sum != (fleet.GetLogsSummary{Count: 3, FirstSeq: 1, LastSeq: 3}) {
					t.Errorf("%s reads result %s, want the summary of lines 1..3", p.Subject, got.Result)
				}
			}
		})
	}
	page, err := e.svc.TerminalLogs(ctx, viewer, "t1", fleet.LogQuery{})
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(page)
	if len(page.Entries) != 3 || strings.Contains(string(raw), "tok-gz") {
		t.Errorf("viewer's log read: %s, want the 3 lines with the token masked", raw)
	}
	// A malformed answer fails the command with the protocol's own message.
	c, err := e.svc.SendCommand(ctx, operator, "t1", "get_logs", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	respond(t, e, "c1", commandsIn(e.push.take(t, "c1"))["get_logs"], true, map[string]any{"entries": []map[string]any{{"seq": 9, "msg": "no time"}}})
	got, err := e.svc.Command(ctx, admin, "t1", c.RequestID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != fleet.CommandFailed || got.Result != nil || !strings.HasPrefix(got.Error, "invalid result: entries[0].ts") {
		t.Errorf("malformed get_logs answer: state %s error %q result %s, want failed with the field named and no result", got.State, got.Error, got.Result)
	}
}

// testDenialsCoalesced: a viewer's thousand refused calls write a handful
// of audit records, each of bounded size (hole 13).
func testDenialsCoalesced(t *testing.T, e *env) {
	ctx := context.Background()
	onlineTerminals(t, e)
	big := json.RawMessage(`{"note":"` + strings.Repeat("x", 40_000) + `"}`)
	for i := range 1000 {
		switch i % 4 {
		case 0:
			_, _ = e.svc.SetConfig(ctx, viewer, "t1", big)
		case 1:
			_, _ = e.svc.SendCommand(ctx, viewer, "t1", "ping", big, 0)
		case 2:
			_, _ = e.svc.Terminal(ctx, viewer, fmt.Sprintf("probe-%d", i))
		case 3:
			_, _ = e.svc.Terminal(ctx, viewer, "t2")
		}
	}
	recs, _, err := e.svc.AuditTrail(ctx, admin, fleet.AuditQuery{Actor: "vera", Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	denials := len(recs)
	if denials > 5 {
		t.Errorf("1000 refused calls wrote %d audit records, want at most 5 (one per operation and reason)", denials)
	}
	// An operator's audited command with a huge parameter: the record's
	// detail is bounded and says it was truncated.
	if _, err := e.svc.SendCommand(ctx, operator, "t1", "ping", big, 0); err != nil {
		t.Fatal(err)
	}
	recs, _, err = e.svc.AuditTrail(ctx, admin, fleet.AuditQuery{Actor: "otto", Action: fleet.AuditCommand, Limit: 1})
	if err != nil || len(recs) != 1 {
		t.Fatalf("operator's command audit: %v %v", recs, err)
	}
	if n := len(recs[0].Detail); n > 4096 || !strings.Contains(string(recs[0].Detail), `"truncated":true`) {
		t.Errorf("detail of a command with a 40 KB parameter: %d bytes %.200s, want at most 4 KB marked truncated", n, recs[0].Detail)
	}
	// A new window starts a new record.
	e.clock.Advance(5 * time.Minute)
	_, _ = e.svc.Terminal(ctx, viewer, "t2")
	again, _, _ := e.svc.AuditTrail(ctx, admin, fleet.AuditQuery{Actor: "vera", Limit: 1000})
	if len(again) != denials+1 {
		t.Errorf("a denial in the next window: %d records, want %d (a new one)", len(again), denials+1)
	}
}
