package securitytest

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/edgesync/edgesync/internal/poll"
	"github.com/edgesync/edgesync/protocol"
)

// TestOperatorCannotRedirectTerminal (holes 1 and 2, the cloud's side):
// an operator who sends a connected agent's own config back with
// server_url pointing at a host they control — secrets left
// "[redacted]", so the agent would keep its real token and carry it
// there — is refused, and so are log_inputs naming the agent's own config
// (its token in clear as log lines), allow_insecure and a new token; the
// agent never hears of it and stays connected. A tuning change goes
// through, and an admin may move the terminal.
func TestOperatorCannotRedirectTerminal(t *testing.T) {
	t.Parallel()
	s := start(t, nil)
	const id = "press-01"
	a := runAgent(t, s, id, terminal(t, s, id))
	operator, admin := s.Users["operator"], s.Users["admin"]
	var reported map[string]any
	poll.Until(t, "the agent's config synced", func() bool {
		got := call(t, s, operator, "GET", "/terminals/"+id+"/config", "")
		reported, _ = got.body["data"].(map[string]any)
		return got.status == 200 && reported != nil && reported["server_url"] == s.WSURL
	})
	if reported["token"] != protocol.Redacted {
		t.Fatalf("the operator reads the token as %v, want it %s", reported["token"], protocol.Redacted)
	}
	with := func(change func(cfg map[string]any)) string {
		cfg := map[string]any{}
		for k, v := range reported {
			cfg[k] = v
		}
		change(cfg)
		raw, _ := json.Marshal(map[string]any{"config": cfg})
		return string(raw)
	}
	attacks := []struct {
		name string
		body string
		key  string
	}{
		{"server_url to the operator's host", with(func(c map[string]any) { c["server_url"] = "wss://collector.evil.example/prod" }), "server_url"},
		{"the agent's own config as a log input", with(func(c map[string]any) { c["log_inputs"] = []string{"/etc/edgesync/agent.json"} }), "log_inputs"},
		{"allow_insecure", with(func(c map[string]any) { c["allow_insecure"] = true }), "allow_insecure"},
		{"a token of the operator's choosing", with(func(c map[string]any) { c["token"] = "est_mine" }), "token"},
		{"the token left out", with(func(c map[string]any) { delete(c, "token") }), "token"},
	}
	for _, at := range attacks {
		got := call(t, s, operator, "PUT", "/terminals/"+id+"/config", at.body)
		if got.status != 403 || !strings.Contains(got.raw, at.key) || !strings.Contains(got.raw, "only be changed by an admin") {
			t.Errorf("%s: %d %s, want 403 saying %s may only be changed by an admin", at.name, got.status, pretty(got.raw), at.key)
		}
	}
	if got := a.Config(); got.ServerURL != s.WSURL || got.Token == "" || len(got.LogInputs) != 0 {
		t.Fatalf("the agent's config after the refused changes: server %s, inputs %v; want it untouched", got.ServerURL, got.LogInputs)
	}
	// A tuning change is the operator's to make, and it applies.
	got := call(t, s, operator, "PUT", "/terminals/"+id+"/config", with(func(c map[string]any) { c["log_level"] = "debug" }))
	if got.status != 202 {
		t.Fatalf("operator changes log_level: %d %s, want 202", got.status, pretty(got.raw))
	}
	poll.Until(t, "the agent runs log_level debug", func() bool { return a.Config().LogLevel == "debug" })
	// An admin may change connection settings (here to the same stack
	// under another spelling of its address, so the agent stays).
	moved := strings.Replace(s.WSURL, "127.0.0.1", "localhost", 1)
	if got := call(t, s, admin, "PUT", "/terminals/"+id+"/config", with(func(c map[string]any) { c["server_url"] = moved; c["log_level"] = "debug" })); got.status != 202 {
		t.Errorf("admin changes server_url: %d %s, want 202", got.status, pretty(got.raw))
	}
	audit := call(t, s, admin, "GET", "/audit?action=request.denied&actor=local-operator", "")
	if !strings.Contains(audit.raw, "admin-only") {
		t.Errorf("the operator's refused changes are not in the audit trail: %s", pretty(audit.raw))
	}
}

// TestGzipCommandResultMasked (hole 3): a terminal answers get_logs with
// its lines gzip-compressed, one carrying a session token; a viewer
// reading the command sees no line and no token (the record keeps a
// summary), and reads the line itself with the token masked.
func TestGzipCommandResultMasked(t *testing.T) {
	t.Parallel()
	s := start(t, nil)
	const id = "press-02"
	rt := dialTerminal(t, s, id, terminal(t, s, id))
	rt.hello(id, `{"threshold":0.5}`)
	sent := call(t, s, s.Users["operator"], "POST", "/terminals/"+id+"/commands", `{"command":"get_logs","params":{"count":10}}`)
	if sent.status != 202 {
		t.Fatalf("operator sends get_logs: %d %s", sent.status, pretty(sent.raw))
	}
	cmd := rt.next("command", "get_logs")
	data, err := protocol.CompressEntries([]protocol.LogEntry{
		{Seq: 1, Time: time.Now().UTC(), Level: "info", Message: "login", Attrs: protocol.Attrs{"session_token": "tok-in-gzip", "user": "bob"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	rt.respond(cmd, true, map[string]any{"encoding": "gzip", "data": data})
	path := fmt.Sprintf("/terminals/%s/commands/%s", id, sent.body["requestId"])
	var read answer
	poll.Until(t, "the get_logs command completed", func() bool {
		read = call(t, s, s.Users["viewer"], "GET", path, "")
		return read.body["state"] == "succeeded"
	})
	if strings.Contains(read.raw, "tok-in-gzip") || strings.Contains(read.raw, `"data"`) || strings.Contains(read.raw, "H4sI") {
		t.Errorf("viewer reads the get_logs command: %s, want no line in it", pretty(read.raw))
	}
	if res, _ := read.body["result"].(map[string]any); res["count"] != 1.0 || res["firstSeq"] != 1.0 {
		t.Errorf("viewer reads result %v, want the summary (count 1, firstSeq 1)", read.body["result"])
	}
	logs := call(t, s, s.Users["viewer"], "GET", "/terminals/"+id+"/logs", "")
	if !strings.Contains(logs.raw, `"login"`) || strings.Contains(logs.raw, "tok-in-gzip") {
		t.Errorf("viewer reads the logs: %s, want the line with its token masked", pretty(logs.raw))
	}
}

// TestConfigVersionIsNoPasswordOracle (hole 4): the version a viewer sees
// of two desired configs differing only in a password is the same, so it
// tells nothing about the password and no guess can be tested against it.
func TestConfigVersionIsNoPasswordOracle(t *testing.T) {
	t.Parallel()
	s := start(t, nil)
	const id = "press-03"
	rt := dialTerminal(t, s, id, terminal(t, s, id))
	rt.hello(id, `{"threshold":0.5,"db_password":"[redacted]"}`)
	version := func(password string) string {
		t.Helper()
		body := fmt.Sprintf(`{"config":{"threshold":0.5,"db_password":%q}}`, password)
		if got := call(t, s, s.Users["admin"], "PUT", "/terminals/"+id+"/config", body); got.status != 202 {
			t.Fatalf("admin sets the config: %d %s", got.status, pretty(got.raw))
		}
		got := call(t, s, s.Users["viewer"], "GET", "/terminals/"+id+"/config", "")
		d, _ := got.body["desired"].(map[string]any)
		if strings.Contains(got.raw, password) {
			t.Fatalf("viewer reads the password: %s", pretty(got.raw))
		}
		v, _ := d["version"].(string)
		return v
	}
	real, guess := version("correct horse battery staple"), version("hunter2")
	if real == "" || real != guess {
		t.Errorf("desired versions with two passwords: %q and %q, want one version", real, guess)
	}
	reported := call(t, s, s.Users["viewer"], "GET", "/terminals/"+id+"/config", "")
	if reported.body["version"] != real {
		t.Errorf("the reported config's version %v, the desired one %s: want the same (one versioning rule)", reported.body["version"], real)
	}
}

// TestRevokedCredentialEndsConnections (hole 6): revoking a token closes
// the connections made with it through the management API, and the
// terminal cannot come back with it; a connection whose binding is gone
// (a revocation whose close failed) is refused at its next message, even
// by the warm function that accepted its earlier ones.
func TestRevokedCredentialEndsConnections(t *testing.T) {
	t.Parallel()
	s := start(t, nil)
	admin := s.Users["admin"]
	const id = "press-04"
	first := terminal(t, s, id)
	rotated := call(t, s, admin, "POST", "/terminals/"+id+"/credentials/rotate", `{"overlapSeconds":3600}`)
	second, _ := rotated.body["token"].(string)
	if rotated.status != 200 || second == "" {
		t.Fatalf("rotate: %d %s", rotated.status, pretty(rotated.raw))
	}
	creds := call(t, s, admin, "GET", "/terminals/"+id+"/credentials", "")
	list, _ := creds.body["credentials"].([]any)
	if len(list) != 2 {
		t.Fatalf("credentials: %s, want two", pretty(creds.raw))
	}
	firstID := list[0].(map[string]any)["id"].(string)

	stolen := dialTerminal(t, s, id, first) // someone holding the first token
	stolen.send(map[string]any{"type": "logs", "entries": []any{logLine(1, nil)}})
	if ack := stolen.next("ack", ""); ack == nil {
		t.Fatal("the first token's connection was not acked before the revocation")
	}
	legit := dialTerminal(t, s, id, second)
	legit.hello(id, `{}`)

	if got := call(t, s, admin, "POST", "/terminals/"+id+"/credentials/revoke", fmt.Sprintf(`{"credentialId":%q}`, firstID)); got.status != 200 {
		t.Fatalf("revoke the first token: %d %s", got.status, pretty(got.raw))
	}
	if code := stolen.closed(); code != websocket.StatusNormalClosure {
		t.Errorf("the revoked token's connection closed with %v, want 1000 (DELETE @connections)", code)
	}
	if _, status, err := tryDial(t, s, id, first); err == nil || status != 403 {
		t.Errorf("reconnect with the revoked token: %v (HTTP %d), want 403", err, status)
	}
	// The other credential's connection goes on.
	legit.send(map[string]any{"type": "logs", "entries": []any{logLine(2, nil)}})
	if legit.next("ack", "") == nil {
		t.Fatal("the live credential's connection was closed")
	}

	// A binding deleted behind the warm function's back (as a revocation
	// whose DELETE @connections failed leaves it): the next message is
	// refused and the connection closed.
	term, err := s.Admin().Store().Terminal(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Admin().Store().DeleteConnection(context.Background(), term.ConnectionID); err != nil {
		t.Fatal(err)
	}
	legit.send(map[string]any{"type": "logs", "entries": []any{logLine(3, nil)}})
	if e := legit.next("error", ""); e == nil || e["code"] != protocol.CodeForbidden {
		t.Errorf("a logs message without a binding: %v, want a forbidden error", e)
	}
	if code := legit.closed(); code != websocket.StatusNormalClosure {
		t.Errorf("the unbound connection closed with %v, want 1000", code)
	}
	logs := call(t, s, admin, "GET", "/terminals/"+id+"/logs?since=0", "")
	if logs.body["lastSeq"] != 2.0 {
		t.Errorf("stored up to %v, want 2 (line 3 came without a binding)", logs.body["lastSeq"])
	}
}

// TestRevokeEndsTheAgentsSession (hole 6 with the real agent): the agent
// whose only token is revoked is disconnected at once and stays out.
func TestRevokeEndsTheAgentsSession(t *testing.T) {
	t.Parallel()
	s := start(t, nil)
	const id = "press-05"
	runAgent(t, s, id, terminal(t, s, id))
	admin := s.Users["admin"]
	poll.Until(t, "the agent online", func() bool {
		return call(t, s, admin, "GET", "/terminals/"+id, "").body["online"] == true
	})
	if got := call(t, s, admin, "POST", "/terminals/"+id+"/credentials/revoke", `{}`); got.status != 200 {
		t.Fatalf("revoke: %d %s", got.status, pretty(got.raw))
	}
	var v answer
	poll.Until(t, "the agent offline", func() bool {
		v = call(t, s, admin, "GET", "/terminals/"+id, "")
		return v.body["online"] == false
	})
	if v.body["disconnectReason"] != "credential revoked" {
		t.Errorf("disconnect reason %v, want credential revoked", v.body["disconnectReason"])
	}
	time.Sleep(time.Second) // the agent retries with its backoff (50 ms to 500 ms)
	if v = call(t, s, admin, "GET", "/terminals/"+id, ""); v.body["online"] != false {
		t.Errorf("the agent came back with its revoked token: %s", pretty(v.raw))
	}
}

// TestDeleteTerminal (hole 6): only an admin deletes a terminal; its
// connection is closed, it is gone from every read, and its token no
// longer connects.
func TestDeleteTerminal(t *testing.T) {
	t.Parallel()
	s := start(t, nil)
	const id = "press-06"
	token := terminal(t, s, id)
	rt := dialTerminal(t, s, id, token)
	rt.hello(id, `{}`)
	if got := call(t, s, s.Users["operator"], "DELETE", "/terminals/"+id, ""); got.status != 403 {
		t.Errorf("operator deletes: %d, want 403", got.status)
	}
	if got := call(t, s, s.Users["admin"], "DELETE", "/terminals/"+id, ""); got.status != 204 {
		t.Fatalf("admin deletes: %d %s, want 204", got.status, pretty(got.raw))
	}
	if code := rt.closed(); code != websocket.StatusNormalClosure {
		t.Errorf("the deleted terminal's connection closed with %v, want 1000", code)
	}
	if got := call(t, s, s.Users["admin"], "GET", "/terminals/"+id, ""); got.status != 404 {
		t.Errorf("read after deletion: %d, want 404", got.status)
	}
	if _, status, err := tryDial(t, s, id, token); err == nil || status != 403 {
		t.Errorf("connect after deletion: %v (HTTP %d), want 403", err, status)
	}
	audit := call(t, s, s.Users["admin"], "GET", "/terminals/"+id+"/audit?action=terminal.delete", "")
	if !strings.Contains(audit.raw, `"local-admin"`) {
		t.Errorf("deletion audit: %s, want the admin's record", pretty(audit.raw))
	}
}

// TestRotateRevokeRace (hole 5): rotations and a revocation of the first
// token sent at once over the HTTP API: answers are 200 or 409 (retry),
// and once the revocation is answered 200 the revoked token never
// connects again, whatever the rotations did.
func TestRotateRevokeRace(t *testing.T) {
	t.Parallel()
	s := start(t, nil)
	admin := s.Users["admin"]
	const id = "press-07"
	first := terminal(t, s, id)
	creds := call(t, s, admin, "GET", "/terminals/"+id+"/credentials", "")
	firstID := creds.body["credentials"].([]any)[0].(map[string]any)["id"].(string)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range 9 {
		wg.Go(func() {
			<-start
			if i > 0 {
				got := call(t, s, admin, "POST", "/terminals/"+id+"/credentials/rotate", `{"overlapSeconds":86400}`)
				if got.status != 200 && got.status != 409 {
					t.Errorf("rotate: %d %s, want 200 or 409", got.status, pretty(got.raw))
				}
				return
			}
			for { // an admin retries a 409
				got := call(t, s, admin, "POST", "/terminals/"+id+"/credentials/revoke", fmt.Sprintf(`{"credentialId":%q}`, firstID))
				if got.status == 200 {
					return
				}
				if got.status != 409 {
					t.Errorf("revoke: %d %s, want 200 or 409", got.status, pretty(got.raw))
					return
				}
			}
		})
	}
	close(start)
	wg.Wait()
	if _, status, err := tryDial(t, s, id, first); err == nil || status != 403 {
		t.Errorf("the revoked token after racing rotations: %v (HTTP %d), want 403 (it came back)", err, status)
	}
}

// TestHostileGroupNames (hole 9): a JWT whose groups only look like a role
// ("plant-1,admin", "Admin", "admin " …) grants no role beyond what it
// names exactly.
func TestHostileGroupNames(t *testing.T) {
	t.Parallel()
	s := start(t, nil)
	tests := []struct {
		name   string
		groups any // the cognito:groups claim as the token carries it
		role   string
	}{
		{"comma-joined string", "plant-1,admin", ""},
		{"space-joined string", "plant-1 admin", ""},
		{"comma-joined group in a viewer's list", []string{"viewer", "plant-1,admin"}, "viewer"},
		{"capitalised role", []string{"viewer", "Admin"}, "viewer"},
		{"upper-case role alone", []string{"ADMIN"}, ""},
		{"role with a trailing space", []string{"viewer", "admin "}, ""}, // a malformed list claim: refused whole
		{"bracketed role", []string{"viewer", "[admin]"}, "viewer"},
		{"exact role", []string{"admin"}, "admin"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := time.Now()
			token, err := s.Issuer().Sign(map[string]any{
				"iss": "https://edgesync.local/issuer", "aud": "edgesync-local", "sub": "mallory",
				"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(), "cognito:groups": tt.groups,
			})
			if err != nil {
				t.Fatal(err)
			}
			me := call(t, s, token, "GET", "/me", "")
			if tt.role == "" {
				if me.status != 403 {
					t.Errorf("GET /me with groups %v: %d %s, want 403 (no role)", tt.groups, me.status, pretty(me.raw))
				}
				return
			}
			if me.status != 200 || me.body["role"] != tt.role {
				t.Errorf("GET /me with groups %v: %d %s, want role %s", tt.groups, me.status, pretty(me.raw), tt.role)
			}
			if audit := call(t, s, token, "GET", "/audit", ""); (audit.status == 200) != (tt.role == "admin") {
				t.Errorf("GET /audit with groups %v: %d, want 200 only for an admin", tt.groups, audit.status)
			}
		})
	}
}

// TestExpiredBindingRefused (hole 12): with ConnectionTTL=2 (the
// template parameter, as --param ConnectionTTL=2 sets it), a logs batch
// sent after the binding expired is refused with "reconnect" and not
// stored, and the connection is closed.
func TestExpiredBindingRefused(t *testing.T) {
	t.Parallel()
	s := start(t, map[string]string{"ConnectionTTL": "2"})
	const id = "press-08"
	rt := dialTerminal(t, s, id, terminal(t, s, id))
	connected := time.Now()
	rt.send(map[string]any{"type": "logs", "entries": []any{logLine(1, nil)}})
	if rt.next("ack", "") == nil {
		t.Fatal("no ack inside the TTL")
	}
	time.Sleep(time.Until(connected.Add(2500 * time.Millisecond)))
	rt.send(map[string]any{"type": "logs", "entries": []any{logLine(2, nil)}})
	e := rt.next("error", "")
	if e == nil || e["code"] != protocol.CodeForbidden || !strings.Contains(fmt.Sprint(e["message"]), "reconnect") {
		t.Errorf("logs after the binding expired: %v, want forbidden, reconnect", e)
	}
	if code := rt.closed(); code != websocket.StatusNormalClosure {
		t.Errorf("the expired connection closed with %v, want 1000", code)
	}
	logs := call(t, s, s.Users["admin"], "GET", "/terminals/"+id+"/logs?since=0", "")
	if logs.body["lastSeq"] != 1.0 {
		t.Errorf("stored up to %v, want 1 (line 2 came after expiry)", logs.body["lastSeq"])
	}
}

// TestAuditFloodBounded (hole 13): a viewer's 1,000 refused requests write
// a handful of audit records, not 1,000.
func TestAuditFloodBounded(t *testing.T) {
	t.Parallel()
	s := start(t, nil)
	const id = "press-09"
	terminal(t, s, id)
	viewer := s.Users["viewer"]
	big := `{"config":{"note":"` + strings.Repeat("x", 60_000) + `"}}`
	for i := range 1000 {
		var got answer
		switch i % 4 {
		case 0:
			got = call(t, s, viewer, "PUT", "/terminals/"+id+"/config", big)
		case 1:
			got = call(t, s, viewer, "POST", "/terminals/"+id+"/commands", `{"command":"ping"}`)
		case 2:
			got = call(t, s, viewer, "GET", fmt.Sprintf("/terminals/probe-%d", i), "")
		case 3:
			got = call(t, s, viewer, "GET", "/audit", "")
		}
		if got.status != 403 && got.status != 404 {
			t.Fatalf("request %d: %d, want refused", i, got.status)
		}
	}
	audit := call(t, s, s.Users["admin"], "GET", "/audit?actor=local-viewer&limit=1000", "")
	recs, _ := audit.body["records"].([]any)
	if len(recs) == 0 || len(recs) > 5 {
		t.Errorf("audit records of 1000 refused requests: %d, want 1 to 5", len(recs))
	}
	for _, r := range recs {
		if raw, _ := json.Marshal(r); len(raw) > 4096 {
			t.Errorf("a denial record of %d bytes, want at most 4 KB", len(raw))
		}
	}
}
