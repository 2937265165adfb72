package httpapi_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"

	"github.com/edgesync/edgesync/devstack/idp"
	"github.com/edgesync/edgesync/fleet"
	"github.com/edgesync/edgesync/httpapi"
	"github.com/edgesync/edgesync/infra/apigw"
	"github.com/edgesync/edgesync/infra/embedded"
)

func TestMain(m *testing.M) {
	slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil)))
	os.Exit(m.Run())
}

type pushes struct {
	mu   sync.Mutex
	msgs []map[string]any
}

func (p *pushes) Push(_ context.Context, _ string, msg []byte) error {
	var m map[string]any
	_ = json.Unmarshal(msg, &m)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.msgs = append(p.msgs, m)
	return nil
}

func (p *pushes) take() []map[string]any {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := p.msgs
	p.msgs = nil
	return out
}

type clock struct{ ns atomic.Int64 }

func (c *clock) Now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

type fixture struct {
	svc   *fleet.Service
	push  *pushes
	clock *clock
	srv   *httptest.Server
	iss   *idp.Issuer
	// admin, operator and viewer are bearer tokens; operator and viewer
	// see group "line-1" (terminal t1), not "line-2" (t2).
	admin, operator, viewer string
}

// identify verifies the bearer token like API Gateway's JWT authorizer
// would, then reads the principal from its claims.
func identify(iss *idp.Issuer) func(*http.Request) (fleet.Principal, error) {
	return func(r *http.Request) (fleet.Principal, error) {
		claims, _, err := iss.Authorize(r)
		if err != nil {
			return fleet.Principal{}, fmt.Errorf("%v: %w", err, fleet.ErrUnauthenticated)
		}
		return fleet.PrincipalFromClaims(claims, fleet.ClaimsConfig{})
	}
}

// newFixture serves the API over real HTTP on the embedded store with one
// online terminal "t1" whose config, status and 30 log lines are synced,
// and one offline terminal "t2" that never connected.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	st, err := embedded.Open(filepath.Join(t.TempDir(), "edgesync.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f := &fixture{push: &pushes{}, clock: &clock{}}
	f.clock.ns.Store(time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC).UnixNano())
	f.svc = fleet.NewService(st, f.push, fleet.DefaultConfig(), fleet.WithClock(f.clock.Now))
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	f.iss = idp.New(key, "https://issuer.test", "edgesync-test")
	f.admin, _ = f.iss.Mint("ada", []string{"admin"}, time.Hour)
	f.operator, _ = f.iss.Mint("otto", []string{"operator", "line-1"}, time.Hour)
	f.viewer, _ = f.iss.Mint("vera", []string{"viewer", "line-1"}, time.Hour)
	f.srv = httptest.NewServer(httpapi.New(f.svc, httpapi.Options{AllowedOrigins: []string{"https://dash.example"}, Identify: identify(f.iss)}))
	t.Cleanup(f.srv.Close)

	ctx := context.Background()
	token, err := f.svc.CreateTerminal(ctx, fleet.System("test"), "t1", "Press 1", []string{"line-1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.CreateTerminal(ctx, fleet.System("test"), "t2", "", []string{"line-2"}); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.Connect(ctx, fleet.ConnectRequest{ConnectionID: "c1", TerminalID: "t1", Token: token}); err != nil {
		t.Fatal(err)
	}
	f.terminalSays(t, `{"type":"hello"}`)
	for _, c := range f.push.take() {
		result := map[string]string{
			"get_config": `{"threshold":0.8,"db_password":"hunter2","upload":{"api_token":"tok-123","url":"https://x"}}`,
			"get_status": `{"cpu_percent":12.5}`,
			"get_logs":   `{"entries":[]}`,
		}[c["command"].(string)]
		f.answer(t, c, true, result)
	}
	var lines []string
	for s := 1; s <= 30; s++ {
		level := "info"
		if s%10 == 0 {
			level = "error"
		}
		lines = append(lines, fmt.Sprintf(`{"seq":%d,"ts":"2026-11-27T09:00:00Z","level":%q,"msg":"line %d"}`, s, level, s))
	}
	f.terminalSays(t, `{"type":"logs","entries":[`+strings.Join(lines, ",")+`]}`)
	f.push.take()
	return f
}

func (f *fixture) terminalSays(t *testing.T, body string) {
	t.Helper()
	if err := f.svc.HandleMessage(context.Background(), "c1", []byte(body)); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) answer(t *testing.T, cmd map[string]any, ok bool, result string) {
	t.Helper()
	msg := fmt.Sprintf(`{"type":"command_response","request_id":%q,"command":%q,"success":%v`, cmd["request_id"], cmd["command"], ok)
	if ok {
		msg += `,"result":` + result + `}`
	} else {
		msg += `,"error":` + result + `}`
	}
	f.terminalSays(t, msg)
}

// do sends a request as the admin unless header sets Authorization.
func (f *fixture) do(t *testing.T, method, path, body string, header ...string) (int, http.Header, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+f.admin)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatalf("%s %s: body is not a JSON object: %s", method, path, raw)
		}
	}
	return resp.StatusCode, resp.Header, m
}

func TestReadsWithAndWithoutTrailingSlash(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, p := range []string{"/terminals/t1/config", "/terminals/t1/status", "/terminals/t1/logs", "/terminals/t1", "/terminals"} {
		for _, path := range []string{p, p + "/"} {
			t.Run(path, func(t *testing.T) {
				status, h, body := f.do(t, "GET", path, "")
				if status != 200 {
					t.Fatalf("status: got %d %v, want 200", status, body)
				}
				if ct := h.Get("Content-Type"); ct != "application/json" {
					t.Errorf("content type: got %q", ct)
				}
			})
		}
	}
	_, _, cfg := f.do(t, "GET", "/terminals/t1/config/", "")
	if cfg["fresh"] != true || cfg["data"].(map[string]any)["threshold"] != 0.8 || cfg["syncedAt"] == nil || cfg["data"].(map[string]any)["db_password"] != "hunter2" {
		t.Errorf("config: got %v, want fresh data with syncedAt", cfg)
	}
	_, _, logs := f.do(t, "GET", "/terminals/t1/logs/?count=5&level=error", "")
	if n := len(logs["entries"].([]any)); n != 3 {
		t.Errorf("error lines: got %d, want 3", n)
	}
}

// TestListTerminalsFilters: the listing's query parameters reach the
// service's filters, and each row carries its status summary.
func TestListTerminalsFilters(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	tests := []struct {
		query, token string
		want         []string
	}{
		{"", f.admin, []string{"t1", "t2"}},
		{"?q=PRESS", f.admin, []string{"t1"}},
		{"?q=t2", f.admin, []string{"t2"}},
		{"?online=true", f.admin, []string{"t1"}},
		{"?online=false", f.admin, []string{"t2"}},
		{"?stale=false", f.admin, []string{"t1", "t2"}},
		{"?stale=true", f.admin, nil},
		{"?group=line-2", f.admin, []string{"t2"}},
		{"?group=line-2", f.viewer, nil},
		{"?group=line-1&online=true&q=press", f.viewer, []string{"t1"}},
		{"?agentVersion=nope", f.admin, nil},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			status, _, body := f.do(t, "GET", "/terminals"+tt.query, "", "Authorization", "Bearer "+tt.token)
			if status != 200 {
				t.Fatalf("status %d: %v", status, body)
			}
			var got []string
			for _, v := range body["terminals"].([]any) {
				got = append(got, v.(map[string]any)["id"].(string))
			}
			if strings.Join(got, " ") != strings.Join(tt.want, " ") || body["nextCursor"] != "" {
				t.Errorf("GET /terminals%s: %v next %q, want %v and no next page", tt.query, got, body["nextCursor"], tt.want)
			}
		})
	}
	_, _, body := f.do(t, "GET", "/terminals?q=t1", "")
	summary := body["terminals"].([]any)[0].(map[string]any)["summary"]
	if want := map[string]any{"cpu": 12.5, "dropped": float64(0)}; fmt.Sprint(summary) != fmt.Sprint(want) {
		t.Errorf("t1 summary = %v, want %v", summary, want)
	}
}

func TestBadRequests(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	tests := []struct {
		method, path, body string
		want               int
		code               string
	}{
		{"GET", "/terminals/nope/config/", "", 404, "not_found"},
		{"GET", "/terminals/bad%20id/config", "", 400, "invalid"},
		{"GET", "/terminals/bad%0Aid/logs", "", 400, "invalid"},
		{"GET", "/terminals/t1%2Fconfig", "", 400, "invalid"},
		{"GET", "/terminals/t1%2Fconfig/", "", 400, "invalid"},
		{"GET", "/terminals/t1/logs?count=abc", "", 400, "invalid"},
		{"GET", "/terminals/t1/logs?count=0", "", 400, "invalid"},
		{"GET", "/terminals/t1/logs?count=1001", "", 400, "invalid"},
		{"GET", "/terminals/t1/logs?count=-5", "", 400, "invalid"},
		{"GET", "/terminals/t1/logs?count=99999999999999999999", "", 400, "invalid"},
		{"GET", "/terminals/t1/logs?since=-1", "", 400, "invalid"},
		{"GET", "/terminals/t1/logs?level=loud", "", 400, "invalid"},
		{"GET", "/terminals/t1/logs?cursor=garbage", "", 400, "invalid"},
		{"GET", "/terminals/t1/logs?count=1&count=2", "", 400, "invalid"},
		{"GET", "/terminals/t1/logs?since=3&cursor=after:4", "", 400, "invalid"},
		{"GET", "/terminals?limit=0", "", 400, "invalid"},
		{"GET", "/terminals?online=yes", "", 400, "invalid"},
		{"GET", "/terminals?stale=1", "", 400, "invalid"},
		{"GET", "/terminals?group=a%20b", "", 400, "invalid"},
		{"GET", "/terminals?q=" + strings.Repeat("x", 201), "", 400, "invalid"},
		{"GET", "/terminals?online=true&online=false", "", 400, "invalid"},
		{"GET", "/terminals?cursor=~garbage", "", 400, "invalid"},
		{"GET", "/terminals/t1/status/history?since=yesterday", "", 400, "invalid"},
		{"POST", "/terminals/t1/commands", `{"command":"reboot"}`, 400, "invalid"},
		{"POST", "/terminals/t1/commands", `{"command":"ping","params":[1]}`, 400, "invalid"},
		{"POST", "/terminals/t1/commands", `{"command":"ping","timeoutSeconds":9999}`, 400, "invalid"},
		{"POST", "/terminals/t1/commands", `{"command":`, 400, "invalid"},
		{"POST", "/terminals/t1/commands", `{"command":"ping","extra":1}`, 400, "invalid"},
		{"POST", "/terminals/t1/commands", `{"command":"ping","pad":"` + strings.Repeat("x", 70000) + `"}`, 413, "too_large"},
		{"POST", "/terminals/t2/sync", "", 409, "offline"},
		{"POST", "/terminals/t2/commands", `{"command":"ping"}`, 409, "offline"},
		{"GET", "/terminals/t1/commands/nope", "", 404, "not_found"},
		{"DELETE", "/terminals/t1/config", "", 405, "method_not_allowed"},
		{"GET", "/nowhere", "", 404, "not_found"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			status, _, body := f.do(t, tt.method, tt.path, tt.body)
			if status != tt.want || body["code"] != tt.code || body["message"] == "" {
				t.Fatalf("got %d %v, want %d with code %q and a message", status, body, tt.want, tt.code)
			}
		})
	}
}

func TestCommandOutcomes(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	send := func() string {
		status, h, body := f.do(t, "POST", "/terminals/t1/commands", `{"command":"ping"}`, "Content-Type", "application/json")
		if status != 202 || body["state"] != "pending" || h.Get("Location") == "" {
			t.Fatalf("POST command: got %d %v, want 202 pending with Location", status, body)
		}
		return body["requestId"].(string)
	}
	state := func(id string) any {
		_, _, body := f.do(t, "GET", "/terminals/t1/commands/"+id, "")
		return body["state"]
	}
	ok, bad, slow := send(), send(), send()
	pushed := f.push.take()
	if len(pushed) != 3 {
		t.Fatalf("pushed %d commands, want 3", len(pushed))
	}
	if got := state(ok); got != "pending" {
		t.Errorf("before the answer: got %v, want pending", got)
	}
	f.answer(t, pushed[0], true, `{}`)
	f.answer(t, pushed[1], false, `"busy"`)
	f.clock.Advance(10 * time.Second)
	for id, want := range map[string]string{ok: "succeeded", bad: "failed", slow: "timed_out"} {
		if got := state(id); got != want {
			t.Errorf("command %s: got %v, want %s", id, got, want)
		}
	}
}

func TestStaleReadRefreshesOnlineTerminal(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.clock.Advance(61 * time.Second)
	f.terminalSays(t, `{"type":"heartbeat"}`)
	_, _, st := f.do(t, "GET", "/terminals/t1/status/", "")
	if st["fresh"] != false || st["stale"] != true || st["refreshing"] != true || st["data"].(map[string]any)["cpu_percent"] != 12.5 {
		t.Fatalf("status after 61 s: got %v, want the last value, stale, refreshing", st)
	}
	pushed := f.push.take()
	if len(pushed) != 1 || pushed[0]["command"] != "get_status" {
		t.Fatalf("refresh: got %v, want one get_status", pushed)
	}
	status, _, body := f.do(t, "POST", "/terminals/t1/sync", "")
	if status != 202 || len(body["commands"].([]any)) != 3 {
		t.Fatalf("sync: got %d %v, want 202 with three commands", status, body)
	}
}

func TestCORS(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	status, h, _ := f.do(t, "OPTIONS", "/terminals/t1/logs/", "", "Origin", "https://dash.example", "Access-Control-Request-Method", "GET")
	if status != 204 || h.Get("Access-Control-Allow-Origin") != "https://dash.example" || !strings.Contains(h.Get("Access-Control-Allow-Headers"), "Authorization") {
		t.Fatalf("preflight: got %d %v", status, h)
	}
	_, h, _ = f.do(t, "GET", "/terminals", "", "Origin", "https://evil.example")
	if h.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("foreign origin allowed: %q", h.Get("Access-Control-Allow-Origin"))
	}
}

// TestThroughLambdaAdapter feeds API Gateway HTTP API (payload v2) event
// JSON through aws-lambda-go-api-proxy, as functions/query runs it.
func TestThroughLambdaAdapter(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	raw, err := os.ReadFile("testdata/apigw-v2-request-no-authorizer.json")
	if err != nil {
		t.Fatal(err)
	}
	adapter := httpadapter.NewV2(httpapi.New(f.svc, httpapi.Options{Identify: apigw.Identify(fleet.ClaimsConfig{})}))
	for _, path := range []string{"/terminals/t1/logs/", "/terminals/t1/logs"} {
		var ev events.APIGatewayV2HTTPRequest
		if err := json.Unmarshal(raw, &ev); err != nil {
			t.Fatal(err)
		}
		ev.RawPath, ev.RequestContext.HTTP.Path, ev.RequestContext.HTTP.Method = path, path, "GET"
		ev.RawQueryString, ev.QueryStringParameters = "count=2", map[string]string{"count": "2"}
		ev.Body, ev.IsBase64Encoded = "", false
		// What API Gateway's JWT authorizer passes on after verifying a token.
		ev.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
			JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{Claims: map[string]string{"sub": "ada", "cognito:groups": "[admin]"}},
		}
		resp, err := adapter.ProxyWithContext(context.Background(), ev)
		if err != nil {
			t.Fatal(err)
		}
		var page map[string]any
		if err := json.Unmarshal([]byte(resp.Body), &page); err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s: got %d %s", path, resp.StatusCode, resp.Body)
		}
		if n := len(page["entries"].([]any)); n != 2 {
			t.Errorf("%s: got %d lines, want 2", path, n)
		}
	}
}
