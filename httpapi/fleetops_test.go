package httpapi_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/edgesync/edgesync/fleet"
)

// line2Terminal adds terminal t3 to group line-2, online, with log lines
// that say SECRET-LINE-2 (one with a secret attribute) and a status, and
// returns nothing: what a line-1 user must never read.
func (f *fixture) line2Terminal(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	token, err := f.svc.CreateTerminal(ctx, fleet.System("test"), "t3", "Press 3", []string{"line-2"})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.svc.Connect(ctx, fleet.ConnectRequest{ConnectionID: "c3", TerminalID: "t3", Token: token}); err != nil {
		t.Fatal(err)
	}
	var lines []string
	for s := 1; s <= 40; s++ {
		// Newer than t1's lines, so a fleet-wide page starts with them.
		lines = append(lines, fmt.Sprintf(`{"seq":%d,"ts":"2026-11-27T09:30:%02dZ","level":"error","msg":"SECRET-LINE-2 %d","attrs":{"api_token":"tok-line-2"}}`, s, s, s))
	}
	for _, msg := range []string{
		`{"type":"logs","entries":[` + strings.Join(lines, ",") + `]}`,
		`{"type":"status","status":{"cpu_percent":99}}`,
	} {
		if err := f.svc.HandleMessage(ctx, "c3", []byte(msg)); err != nil {
			t.Fatal(err)
		}
	}
	f.push.take()
}

// TestSearchNeverCrossesGroups attacks GET /logs as a viewer and an
// operator of line-1: whatever the parameters, cursor or page size, no
// answer holds a line, a terminal id or a secret of line-2.
func TestSearchNeverCrossesGroups(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.line2Terminal(t)
	// The admin sees both groups; its cursors are what a line-1 user may replay.
	_, body, raw := f.as(t, f.admin, "GET", "/logs?limit=3", "")
	if !strings.Contains(raw, "SECRET-LINE-2") || !strings.Contains(raw, "tok-line-2") {
		t.Fatalf("the admin's search does not show line-2's lines unmasked: %s", raw)
	}
	adminCursor, _ := body["nextCursor"].(string)
	forged := base64.RawURLEncoding.EncodeToString(append([]byte{1}, make([]byte, 30)...))
	paths := []string{
		"/logs", "/logs?limit=500", "/logs?limit=1", "/logs?group=line-2", "/logs?group=line-1&group=line-2",
		"/logs?group=" + url.QueryEscape("[line-1 line-2]"), "/logs?group=" + url.QueryEscape(`["line-2"]`),
		"/logs?group=" + url.QueryEscape("line-2 "), "/logs?group=LINE-2", "/logs?q=SECRET", "/logs?level=error",
		"/logs?cursor=" + url.QueryEscape(adminCursor), "/logs?group=line-1&cursor=" + url.QueryEscape(adminCursor),
		"/logs?cursor=" + forged, "/logs?until=2030-01-01T00:00:00Z&since=2000-01-01T00:00:00Z",
	}
	for _, who := range []struct{ name, token string }{{"viewer", f.viewer}, {"operator", f.operator}} {
		for _, p := range paths {
			t.Run(who.name+" "+p, func(t *testing.T) {
				next := p
				for page := 0; page < 100; page++ {
					status, body, raw := f.as(t, who.token, "GET", next, "")
					if status != 200 && status != 400 {
						t.Fatalf("%d %s", status, raw)
					}
					for _, bad := range []string{"SECRET-LINE-2", "tok-line-2", `"t3"`, "t2"} {
						if strings.Contains(raw, bad) {
							t.Fatalf("page %d holds %q: %s", page, bad, raw)
						}
					}
					cursor, _ := body["nextCursor"].(string)
					if status != 200 || cursor == "" {
						return
					}
					next = "/logs?limit=7&cursor=" + url.QueryEscape(cursor)
				}
				t.Fatal("the search never ended")
			})
		}
	}
	// And line-1's lines are there for them, with the terminal on each.
	status, body, raw := f.as(t, f.viewer, "GET", "/logs?level=error", "")
	lines, _ := body["lines"].([]any)
	if status != 200 || len(lines) != 3 || lines[0].(map[string]any)["terminalId"] != "t1" {
		t.Errorf("viewer's error lines: %d %s, want t1's 3", status, raw)
	}
}

// TestAlertsNeverCrossGroups: an operator of line-1 can neither read nor
// change line-2's rules and alerts, a viewer changes nothing, and an
// alert of line-2 never shows in their listings.
func TestAlertsNeverCrossGroups(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.line2Terminal(t)
	status, rule, raw := f.as(t, f.admin, "POST", "/groups/line-2/alert-rules", `{"kind":"status","field":"cpu_percent","op":">","threshold":50}`)
	if status != 201 {
		t.Fatalf("admin creates a line-2 rule: %d %s", status, raw)
	}
	id, _ := rule["id"].(string)
	if status, _, raw := f.as(t, f.operator, "POST", "/groups/line-1/alert-rules", `{"kind":"status","field":"cpu_percent","op":">","threshold":5}`); status != 201 {
		t.Fatalf("operator creates a line-1 rule: %d %s", status, raw)
	}
	if err := f.svc.Tick(context.Background(), time.Time{}); err != nil {
		t.Fatal(err)
	}
	requests := []struct {
		token, method, path, body string
		want                      int
	}{
		{f.operator, "POST", "/groups/line-2/alert-rules", `{"kind":"offline"}`, 403},
		{f.operator, "DELETE", "/groups/line-2/alert-rules/" + id, "", 403},
		{f.operator, "DELETE", "/groups/line-1/alert-rules/" + id, "", 404},
		{f.operator, "POST", "/groups/line-2/alerts/" + id + "/t3/acknowledge", "", 403},
		{f.operator, "POST", "/groups/line-1/alerts/" + id + "/t3/acknowledge", "", 404},
		{f.viewer, "POST", "/groups/line-1/alert-rules", `{"kind":"offline"}`, 403},
		{f.viewer, "GET", "/groups/line-2/alert-rules", "", 200},
		{f.operator, "GET", "/alerts?group=line-2", "", 200},
		{f.operator, "GET", "/alerts", "", 200},
		{f.viewer, "GET", "/alerts?state=open", "", 200},
		{f.viewer, "GET", "/alerts?cursor=" + base64.RawURLEncoding.EncodeToString([]byte("line-2 "+id+" t2")), "", 200},
	}
	for _, r := range requests {
		status, _, raw := f.as(t, r.token, r.method, r.path, r.body)
		if status != r.want {
			t.Errorf("%s %s: %d %s, want %d", r.method, r.path, status, raw, r.want)
		}
		// The answer is the one for a rule and terminal that do not exist:
		// it tells nothing of line-2's.
		absentPath := strings.ReplaceAll(strings.ReplaceAll(r.path, id, "norule"), "t3", "t9")
		absentStatus, _, absent := f.as(t, r.token, r.method, absentPath, r.body)
		if got := strings.ReplaceAll(strings.ReplaceAll(raw, id, "norule"), "t3", "t9"); absentStatus != status || got != absent {
			t.Errorf("%s %s: %d %s\nfor an absent rule and terminal: %d %s\nwant the same", r.method, r.path, status, raw, absentStatus, absent)
		}
		if r.method == "GET" && (strings.Contains(raw, "t3") || strings.Contains(raw, id)) {
			t.Errorf("%s %s: the answer names line-2's terminal or rule: %s", r.method, r.path, raw)
		}
	}
	// The line-2 alert is still open: nobody outside line-2 touched it.
	_, body, raw := f.as(t, f.admin, "GET", "/alerts?group=line-2", "")
	alerts, _ := body["alerts"].([]any)
	if len(alerts) != 1 || alerts[0].(map[string]any)["state"] != "open" {
		t.Errorf("line-2's alerts as the admin sees them: %s, want one open", raw)
	}
}
