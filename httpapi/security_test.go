package httpapi_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
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
	secrets := []string{"hunter2", "tok-123", "pw-status", "tok-log", "s3cret-new"}
	reads := []string{
		"/terminals/t1", "/terminals/t1/config", "/terminals/t1/status", "/terminals/t1/status/history?since=24h",
		"/terminals/t1/logs?count=1000", "/terminals/t1/commands/" + reqID, "/terminals",
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
