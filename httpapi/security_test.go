package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/edgesync/edgesync/fleet"
	"github.com/edgesync/edgesync/httpapi"
)

func (f *fixture) as(t *testing.T, token, method, path, body string) (int, map[string]any, string) {
	t.Helper()
	status, _, m := f.do(t, method, path, body, "Authorization", "Bearer "+token, "Content-Type", "application/json")
	raw, _ := json.Marshal(m)
	return status, m, string(raw)
}

// TestNoSecretInAnyReadByNonAdmins reads everything a viewer and an
// operator can read and looks for the terminal's secret values.
func TestNoSecretInAnyReadByNonAdmins(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.terminalSays(t, `{"type":"status","status":{"cpu_percent":3,"wifi_password":"pw-status"}}`)
	f.terminalSays(t, `{"type":"logs","entries":[{"seq":31,"ts":"2026-11-27T09:00:00Z","level":"info","msg":"login","attrs":{"session_token":"tok-log","user":"bob"}}]}`)
	f.push.take() // the ack
	// An operator sets a config holding a new secret.
	status, _, body := f.as(t, f.operator, "PUT", "/terminals/t1/config", `{"config":{"threshold":0.9,"db_password":"s3cret-new"}}`)
	if status != 202 {
		t.Fatalf("PUT config as operator: %d %s", status, body)
	}
	setConfig := f.push.take()
	if len(setConfig) != 1 || setConfig[0]["command"] != "set_config" {
		t.Fatalf("pushed: %v, want one set_config", setConfig)
	}
	reqID := setConfig[0]["request_id"].(string)
	// An operator's command with a secret parameter, answered with a secret.
	status, sent, body := f.as(t, f.operator, "POST", "/terminals/t1/commands", `{"command":"ping","params":{"password":"cmd-pw"}}`)
	if status != 202 || strings.Contains(body, "cmd-pw") {
		t.Fatalf("POST command as operator: %d %s; want 202 with the password masked", status, body)
	}
	ping := f.push.take()
	if len(ping) != 1 || !strings.Contains(fmt.Sprint(ping[0]["params"]), "cmd-pw") {
		t.Fatalf("pushed %v; want the ping with its real parameters", ping)
	}
	f.answer(t, ping[0], true, `{"echo":{"client_secret":"result-pw"}}`)
	secrets := []string{"hunter2", "tok-123", "pw-status", "tok-log", "s3cret-new", "cmd-pw", "result-pw"}
	reads := []string{
		"/terminals/t1", "/terminals/t1/config", "/terminals/t1/status", "/terminals/t1/status/history?since=24h",
		"/terminals/t1/logs?count=1000", "/terminals/t1/commands/" + reqID, "/terminals/t1/commands/" + sent["requestId"].(string), "/terminals",
	}
	for _, who := range []struct{ name, token string }{{"viewer", f.viewer}, {"operator", f.operator}} {
		for _, path := range reads {
			status, _, body := f.as(t, who.token, "GET", path, "")
			if status != 200 {
				t.Fatalf("%s GET %s: %d %s", who.name, path, status, body)
			}
			for _, s := range secrets {
				if strings.Contains(body, s) {
					t.Errorf("%s GET %s shows secret %q: %s", who.name, path, s, body)
				}
			}
		}
	}
	// The admin sees them; the audit trail shows none to anyone.
	_, _, body = f.as(t, f.admin, "GET", "/terminals/t1/config", "")
	if !strings.Contains(body, "hunter2") || !strings.Contains(body, "s3cret-new") {
		t.Errorf("admin config read lacks the secrets: %s", body)
	}
	_, _, body = f.as(t, f.admin, "GET", "/terminals/t1/commands/"+sent["requestId"].(string), "")
	if !strings.Contains(body, "cmd-pw") || !strings.Contains(body, "result-pw") {
		t.Errorf("admin command read lacks the secrets: %s", body)
	}
	_, _, body = f.as(t, f.admin, "GET", "/audit?action=config.set", "")
	if strings.Contains(body, "s3cret-new") || strings.Contains(body, "hunter2") || !strings.Contains(body, "threshold") {
		t.Errorf("audit of the config change: %s; want a diff with the threshold and no secret", body)
	}
}

func TestConfigChangeDesiredVersusReported(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	status, d, body := f.as(t, f.operator, "PUT", "/terminals/t1/config/", `{"config":{"threshold":0.9}}`)
	if status != 202 || d["pending"] != true || d["version"] == "" || d["setBy"] != "otto" {
		t.Fatalf("PUT config: %d %s", status, body)
	}
	_, cfg, _ := f.as(t, f.viewer, "GET", "/terminals/t1/config", "")
	desired := cfg["desired"].(map[string]any)
	if desired["pending"] != true || desired["state"] != "pending" || cfg["data"].(map[string]any)["threshold"] != 0.8 {
		t.Fatalf("before the terminal confirms: %v", cfg)
	}
	pushed := f.push.take()
	f.answer(t, pushed[0], true, `{"version":"abc"}`)
	// The server pulls the config the terminal now runs.
	pull := f.push.take()
	if len(pull) != 1 || pull[0]["command"] != "get_config" {
		t.Fatalf("after set_config succeeded: pushed %v, want get_config", pull)
	}
	f.answer(t, pull[0], true, `{"threshold":0.9}`)
	_, cfg, _ = f.as(t, f.viewer, "GET", "/terminals/t1/config", "")
	desired = cfg["desired"].(map[string]any)
	if desired["pending"] != false || desired["state"] != "succeeded" || cfg["data"].(map[string]any)["threshold"] != 0.9 {
		t.Fatalf("after the terminal confirmed: %v", cfg)
	}
	// A failing change stays visible with its error; an offline terminal
	// cannot be changed; bad bodies are refused.
	f.as(t, f.operator, "PUT", "/terminals/t1/config", `{"config":{"threshold":7}}`)
	f.answer(t, f.push.take()[0], false, `"threshold out of range"`)
	_, cfg, _ = f.as(t, f.viewer, "GET", "/terminals/t1/config", "")
	if d := cfg["desired"].(map[string]any); d["state"] != "failed" || d["error"] != "threshold out of range" || d["pending"] != true {
		t.Errorf("failed change: %v", d)
	}
	for _, tt := range []struct {
		body string
		want int
	}{
		{`{"config":[1]}`, 400}, {`{"config":"x"}`, 400}, {`{}`, 400}, {`{"config":{"a":1},"x":1}`, 400},
	} {
		if status, _, body := f.as(t, f.operator, "PUT", "/terminals/t1/config", tt.body); status != tt.want {
			t.Errorf("PUT %s: %d %s, want %d", tt.body, status, body, tt.want)
		}
	}
	if status, _, _ := f.as(t, f.admin, "PUT", "/terminals/t2/config", `{"config":{"a":1}}`); status != 409 {
		t.Errorf("PUT config of an offline terminal: %d, want 409", status)
	}
}

func TestRolesAndGroups(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	expired, _ := f.iss.Mint("old", []string{"admin"}, -time.Minute)
	noRole, _ := f.iss.Mint("nobody", []string{"line-1"}, time.Hour)
	tests := []struct {
		name, token, method, path, body string
		want                            int
	}{
		{"no token", "", "GET", "/terminals", "", 401},
		{"expired token", expired, "GET", "/terminals", "", 401},
		{"no role", noRole, "GET", "/terminals", "", 403},
		{"viewer reads", f.viewer, "GET", "/terminals/t1/logs", "", 200},
		{"viewer outside groups: as absent", f.viewer, "GET", "/terminals/t2/status", "", 404},
		{"viewer syncs", f.viewer, "POST", "/terminals/t1/sync", "", 403},
		{"viewer changes config", f.viewer, "PUT", "/terminals/t1/config", `{"config":{}}`, 403},
		{"viewer sends command", f.viewer, "POST", "/terminals/t1/commands", `{"command":"ping"}`, 403},
		{"operator outside groups: as absent", f.operator, "POST", "/terminals/t2/commands", `{"command":"ping"}`, 404},
		{"operator syncs", f.operator, "POST", "/terminals/t1/sync", "", 202},
		{"operator creates terminal", f.operator, "POST", "/terminals", `{"id":"t9"}`, 403},
		{"operator lists credentials", f.operator, "GET", "/terminals/t1/credentials", "", 403},
		{"operator reads audit", f.operator, "GET", "/terminals/t1/audit", "", 403},
		{"set_config only through PUT", f.operator, "POST", "/terminals/t1/commands", `{"command":"set_config","params":{"config":{}}}`, 400},
		{"admin anywhere", f.admin, "GET", "/terminals/t2/status", "", 200},
		{"me", f.viewer, "GET", "/me", "", 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, _, body := f.as(t, tt.token, tt.method, tt.path, tt.body)
			if status != tt.want {
				t.Fatalf("got %d %s, want %d", status, body, tt.want)
			}
		})
	}
	_, list, _ := f.as(t, f.viewer, "GET", "/terminals", "")
	if ts := list["terminals"].([]any); len(ts) != 1 || ts[0].(map[string]any)["id"] != "t1" {
		t.Errorf("viewer's list: %v, want only t1", ts)
	}
	_, audit, _ := f.as(t, f.admin, "GET", "/audit?action=request.denied&limit=100", "")
	denied := audit["records"].([]any)
	if len(denied) < 6 {
		t.Errorf("denied requests audited: %d, want at least 6", len(denied))
	}
	for _, r := range denied {
		if r.(map[string]any)["outcome"] != "denied" {
			t.Errorf("denied record: %v", r)
		}
	}
}

func TestCredentialsAndAuditThroughAPI(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	status, created, body := f.as(t, f.admin, "POST", "/terminals", `{"id":"t9","name":"Nine","groups":["line-1"]}`)
	if status != 201 || !strings.HasPrefix(fmt.Sprint(created["token"]), "est_") {
		t.Fatalf("create: %d %s", status, body)
	}
	if status, _, _ := f.as(t, f.admin, "POST", "/terminals", `{"id":"t9"}`); status != 409 {
		t.Errorf("create twice: %d, want 409", status)
	}
	if status, _, _ := f.as(t, f.admin, "POST", "/terminals", `{"id":"../x"}`); status != 400 {
		t.Errorf("create with a bad id: %d, want 400", status)
	}
	status, rotated, _ := f.as(t, f.admin, "POST", "/terminals/t9/credentials/rotate", `{"overlapSeconds":0}`)
	if status != 200 || rotated["token"] == created["token"] {
		t.Fatalf("rotate: %d %v", status, rotated)
	}
	_, creds, body := f.as(t, f.admin, "GET", "/terminals/t9/credentials", "")
	if n := len(creds["credentials"].([]any)); n != 2 || strings.Contains(body, "hash") {
		t.Errorf("credentials: %s; want two, no hashes", body)
	}
	if status, _, _ := f.as(t, f.admin, "POST", "/terminals/t9/credentials/revoke", `{}`); status != 200 {
		t.Errorf("revoke: %d", status)
	}
	if status, _, _ := f.as(t, f.admin, "POST", "/terminals/t9/credentials/revoke", `{"credentialId":"nope"}`); status != 404 {
		t.Errorf("revoke unknown credential: %d, want 404", status)
	}
	_, audit, _ := f.as(t, f.admin, "GET", "/terminals/t9/audit", "")
	var actions []string
	for _, r := range audit["records"].([]any) {
		rec := r.(map[string]any)
		actions = append(actions, rec["action"].(string)+":"+rec["outcome"].(string))
		if rec["action"] == "credential.revoke" {
			// The revoked credential's id is no secret: the audit shows it
			// (a detail key named "credential" was masked as one).
			if body, _ := json.Marshal(rec); strings.Contains(string(body), "[redacted]") {
				t.Errorf("revoke audit record %s: masked, want the credential's id readable", body)
			}
		}
		if rec["actor"] != "ada" {
			t.Errorf("audit actor: %v, want ada", rec["actor"])
		}
	}
	// Every operation is recorded before it acts; the ones that failed
	// (the second create, the unknown credential) are followed by "failed".
	want := "credential.revoke:failed,credential.revoke:requested,credential.revoke:requested,credential.rotate:requested," +
		"terminal.create:failed,terminal.create:requested,terminal.create:requested"
	if got := strings.Join(actions, ","); got != want {
		t.Errorf("audit of t9, newest first:\n got %s\nwant %s", got, want)
	}
	_, page, _ := f.as(t, f.admin, "GET", "/audit?limit=1", "")
	if len(page["records"].([]any)) != 1 || page["nextCursor"] == "" {
		t.Errorf("audit page of 1: %v", page)
	}
	for _, bad := range []string{"/audit?limit=0", "/audit?since=yesterday", "/audit?cursor=zzz", "/audit?terminal=../x"} {
		if status, _, body := f.as(t, f.admin, "GET", bad, ""); status != 400 {
			t.Errorf("GET %s: %d %s, want 400", bad, status, body)
		}
	}
}

// TestOutsideGroupsAnswersLikeAbsent: a viewer or operator of group line-1
// cannot tell a terminal of line-2 from one that does not exist: every
// route answers both with the same status, headers and body (the id aside),
// and nothing is done to the terminal.
func TestOutsideGroupsAnswersLikeAbsent(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	token, err := f.svc.CreateTerminal(ctx, fleet.System("test"), "t3", "Press 3", []string{"line-2"})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.svc.Connect(ctx, fleet.ConnectRequest{ConnectionID: "c3", TerminalID: "t3", Token: token}); err != nil {
		t.Fatal(err)
	}
	f.push.take()
	requests := []struct {
		method, path, body string
	}{
		{"GET", "/terminals/ID", ""}, {"GET", "/terminals/ID/", ""}, {"GET", "/terminals/ID/config", ""},
		{"GET", "/terminals/ID/status", ""}, {"GET", "/terminals/ID/status/history?since=1h", ""},
		{"GET", "/terminals/ID/logs?count=5", ""}, {"GET", "/terminals/ID/commands/req-1", ""},
		{"PUT", "/terminals/ID/config", `{"config":{"threshold":1}}`}, {"POST", "/terminals/ID/sync", ""},
		{"POST", "/terminals/ID/commands", `{"command":"ping"}`},
	}
	for _, who := range []struct{ name, token string }{{"viewer", f.viewer}, {"operator", f.operator}} {
		for _, r := range requests {
			t.Run(who.name+" "+r.method+" "+r.path, func(t *testing.T) {
				outsideStatus, outsideHeader, outside := f.do(t, r.method, strings.ReplaceAll(r.path, "ID", "t3"), r.body, "Authorization", "Bearer "+who.token, "Content-Type", "application/json")
				absentStatus, absentHeader, absent := f.do(t, r.method, strings.ReplaceAll(r.path, "ID", "t9"), r.body, "Authorization", "Bearer "+who.token, "Content-Type", "application/json")
				o, _ := json.Marshal(outside)
				a, _ := json.Marshal(absent)
				if outsideStatus != absentStatus || strings.ReplaceAll(string(o), "t3", "ID") != strings.ReplaceAll(string(a), "t9", "ID") {
					t.Fatalf("outside the groups: %d %s\nabsent:             %d %s\nwant the same answer", outsideStatus, o, absentStatus, a)
				}
				if outsideStatus != 404 && outsideStatus != 403 {
					t.Errorf("status %d, want 404 (or 403 where the role forbids it either way)", outsideStatus)
				}
				for _, h := range []string{"Content-Type", "Cache-Control", "Location", "Retry-After"} {
					if outsideHeader.Get(h) != absentHeader.Get(h) {
						t.Errorf("header %s: %q outside the groups, %q absent", h, outsideHeader.Get(h), absentHeader.Get(h))
					}
				}
			})
		}
	}
	if pushed := f.push.take(); len(pushed) != 0 {
		t.Errorf("pushed to terminals while answering users outside their groups: %v", pushed)
	}
}

// TestGroupViewerPagesOnlyTheirGroup: a viewer of line-1 paging the
// terminal list gets full pages of line-1 terminals only; no page and no
// nextCursor names a line-2 terminal, whatever the page size or cursor.
func TestGroupViewerPagesOnlyTheirGroup(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	line2 := map[string]bool{"t2": true}
	want := []string{"t1"}
	for i := range 12 {
		id, group := fmt.Sprintf("p-%02d", i), "line-1"
		if i%3 != 0 {
			group = "line-2"
			line2[id] = true
		} else {
			want = append(want, id)
		}
		if _, err := f.svc.CreateTerminal(ctx, fleet.System("test"), id, "", []string{group}); err != nil {
			t.Fatal(err)
		}
	}
	slices.Sort(want)
	for _, limit := range []int{1, 2, 3, 4, 100} {
		var got []string
		cursor := ""
		for page := 0; ; page++ {
			status, body, raw := f.as(t, f.viewer, "GET", fmt.Sprintf("/terminals?limit=%d&cursor=%s", limit, cursor), "")
			if status != 200 {
				t.Fatalf("limit %d page %d: %d %s", limit, page, status, raw)
			}
			ts := body["terminals"].([]any)
			next, _ := body["nextCursor"].(string)
			for _, v := range ts {
				got = append(got, v.(map[string]any)["id"].(string))
			}
			if line2[next] || strings.Contains(raw, `"line-2"`) {
				t.Fatalf("limit %d page %d names a line-2 terminal: %s", limit, page, raw)
			}
			if next == "" {
				break
			}
			if len(ts) != limit {
				t.Errorf("limit %d page %d holds %d terminals, want a full page", limit, page, len(ts))
			}
			cursor = url.QueryEscape(next)
		}
		if !slices.Equal(got, want) {
			t.Errorf("limit %d: viewer listed %v, want %v", limit, got, want)
		}
	}
	// A cursor naming a line-2 terminal only positions the listing.
	_, body, raw := f.as(t, f.viewer, "GET", "/terminals?limit=2&cursor=p-01", "")
	ts := body["terminals"].([]any)
	if len(ts) != 2 || ts[0].(map[string]any)["id"] != "p-03" || ts[1].(map[string]any)["id"] != "p-06" {
		t.Errorf("after p-01 (line-2): %s, want p-03 and p-06", raw)
	}
}

// TestViewerCannotCommand: a viewer's command, sync and config change are
// refused with 403, nothing reaches the terminal, and nothing but the
// denials is audited.
func TestViewerCannotCommand(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, r := range []struct{ method, path, body string }{
		{"POST", "/terminals/t1/commands", `{"command":"ping"}`},
		{"POST", "/terminals/t1/commands", `{"command":"get_logs","params":{"count":1000}}`},
		{"POST", "/terminals/t1/sync", ""},
		{"PUT", "/terminals/t1/config", `{"config":{"threshold":0.1}}`},
	} {
		if status, _, body := f.as(t, f.viewer, r.method, r.path, r.body); status != 403 {
			t.Errorf("viewer %s %s: %d %s, want 403", r.method, r.path, status, body)
		}
	}
	if pushed := f.push.take(); len(pushed) != 0 {
		t.Errorf("pushed to the terminal on a viewer's requests: %v", pushed)
	}
	_, audit, _ := f.as(t, f.admin, "GET", "/audit?actor=vera", "")
	for _, r := range audit["records"].([]any) {
		rec := r.(map[string]any)
		if rec["action"] != "request.denied" || rec["outcome"] != "denied" {
			t.Errorf("audit record of the viewer: %v, want denials only", rec)
		}
	}
	// The two refused commands are one operation refused for one reason:
	// one record (denials are coalesced).
	if n := len(audit["records"].([]any)); n != 3 {
		t.Errorf("viewer's audit records: %d, want 3 (command.send, terminal.sync, config.set)", n)
	}
}

// racingStore loses every credential write to a concurrent change.
type racingStore struct{ fleet.Store }

func (racingStore) SetCredentials(context.Context, string, []fleet.Credential, uint64) error {
	return fleet.ErrConflict
}

// TestCredentialRaceAnswers409: a rotation or revocation that keeps losing
// to concurrent credential changes is answered 409 conflict: nothing
// changed, retry (the service has retried already).
func TestCredentialRaceAnswers409(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	svc := fleet.NewService(racingStore{f.svc.Store()}, f.push, fleet.DefaultConfig())
	srv := httptest.NewServer(httpapi.New(svc, httpapi.Options{Identify: identify(f.iss)}))
	t.Cleanup(srv.Close)
	for _, path := range []string{"/terminals/t1/credentials/rotate", "/terminals/t1/credentials/revoke"} {
		req, _ := http.NewRequest("POST", srv.URL+path, strings.NewReader(`{}`))
		req.Header.Set("Authorization", "Bearer "+f.admin)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body map[string]string
		_ = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != 409 || body["code"] != "conflict" {
			t.Errorf("POST %s losing every race: %d %v, want 409 conflict", path, resp.StatusCode, body)
		}
	}
}
