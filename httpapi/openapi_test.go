package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/edgesync/edgesync/fleet"
	"github.com/edgesync/edgesync/httpapi"
	"github.com/edgesync/edgesync/infra/embedded"
)

// notInDocument are the mux patterns that are not the JSON API: the
// dashboard's page and assets.
var notInDocument = map[string]bool{
	"GET /{$}": true,
	`"GET "+dashboard.AssetPrefix+"{file...}"`: true,
	"/": true, // the JSON 404 for everything else
}

// muxRoutes reads the patterns httpapi.New registers, from its source.
func muxRoutes(t *testing.T) []string {
	t.Helper()
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "httpapi.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("httpapi.go")
	if err != nil {
		t.Fatal(err)
	}
	var routes []string
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok || len(call.Args) != 2 {
			return true
		}
		sel, ok := call.Fun.(*ast.SelectorExpr)
		if !ok || (sel.Sel.Name != "HandleFunc" && sel.Sel.Name != "Handle") {
			return true
		}
		if id, ok := sel.X.(*ast.Ident); !ok || id.Name != "mux" {
			return true
		}
		if lit, ok := call.Args[0].(*ast.BasicLit); ok && lit.Kind == token.STRING {
			p, _ := strconv.Unquote(lit.Value)
			routes = append(routes, p)
		} else {
			routes = append(routes, string(src[fset.Position(call.Args[0].Pos()).Offset:fset.Position(call.Args[0].End()).Offset]))
		}
		return true
	})
	if len(routes) < 10 {
		t.Fatalf("found %d mux routes in httpapi.go; the parser no longer recognises how New registers them", len(routes))
	}
	return routes
}

func loadDocument(t *testing.T) *openapi3.T {
	t.Helper()
	data, err := os.ReadFile("openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := openapi3.NewLoader().LoadFromData(data)
	if err != nil {
		t.Fatalf("load openapi.yaml: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("openapi.yaml is not a valid OpenAPI 3 document: %v", err)
	}
	return doc
}

var pathParam = regexp.MustCompile(`\{[^}]+\}`)

// TestOpenAPIMatchesRoutes: every route of the mux is an operation of the
// document and every operation of the document is a route, with the same
// method and path (path parameters compared by position).
func TestOpenAPIMatchesRoutes(t *testing.T) {
	t.Parallel()
	doc := loadDocument(t)
	shape := func(p string) string { return pathParam.ReplaceAllString(p, "{}") }
	inMux := map[string]bool{}
	for _, r := range muxRoutes(t) {
		if notInDocument[r] {
			continue
		}
		method, path, ok := strings.Cut(r, " ")
		if !ok {
			t.Errorf("mux route %q has no method; the document cannot describe it", r)
			continue
		}
		inMux[method+" "+shape(path)] = true
	}
	inDoc := map[string]bool{}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			inDoc[method+" "+shape(path)] = true
		}
	}
	for r := range inMux {
		if !inDoc[r] {
			t.Errorf("route %s is served but not in openapi.yaml", r)
		}
	}
	for r := range inDoc {
		if !inMux[r] {
			t.Errorf("operation %s is in openapi.yaml but not served", r)
		}
	}
}

// recording is a pusher that answers every pushed pull and command as a
// terminal would, through the service, so commands complete.
type recording struct {
	mu   sync.Mutex
	msgs [][]byte
}

func (p *recording) Push(_ context.Context, _ string, msg []byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.msgs = append(p.msgs, msg)
	return nil
}

// openAPIFixture is the API on an embedded store with terminal "t1" online
// (synced config, status and logs), "t2" registered and offline, and
// "Bearer admin" / "Bearer viewer" identifying an admin and a viewer.
func openAPIFixture(t *testing.T) (http.Handler, *fleet.Service) {
	t.Helper()
	st, err := embedded.Open(filepath.Join(t.TempDir(), "edgesync.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	push := &recording{}
	svc := fleet.NewService(st, push, fleet.DefaultConfig())
	ctx := context.Background()
	token, err := svc.CreateTerminal(ctx, fleet.System("test"), "t1", "Press 1", []string{"line-a"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.CreateTerminal(ctx, fleet.System("test"), "t2", "", nil); err != nil {
		t.Fatal(err)
	}
	if err := svc.Connect(ctx, fleet.ConnectRequest{ConnectionID: "c1", TerminalID: "t1", Token: token}); err != nil {
		t.Fatal(err)
	}
	say := func(msg string) {
		t.Helper()
		if err := svc.HandleMessage(ctx, "c1", []byte(msg)); err != nil {
			t.Fatal(err)
		}
	}
	say(`{"type":"hello"}`)
	push.mu.Lock()
	pulls := push.msgs
	push.msgs = nil
	push.mu.Unlock()
	for _, raw := range pulls {
		var c struct {
			RequestID string `json:"request_id"`
			Command   string `json:"command"`
		}
		_ = json.Unmarshal(raw, &c)
		result := map[string]string{"get_config": `{"threshold":0.8,"api_key":"s3cret"}`, "get_status": `{"cpu_percent":12.5}`, "get_logs": `{"entries":[]}`}[c.Command]
		say(fmt.Sprintf(`{"type":"command_response","request_id":%q,"command":%q,"success":true,"result":%s}`, c.RequestID, c.Command, result))
	}
	var lines []string
	for s := 1; s <= 30; s++ {
		lines = append(lines, fmt.Sprintf(`{"seq":%d,"ts":"2026-11-27T09:00:00Z","level":"info","msg":"line %d","source":"cam","attrs":{"k":"v"}}`, s, s))
	}
	say(`{"type":"logs","dropped":1,"entries":[` + strings.Join(lines, ",") + `]}`)
	say(`{"type":"status","status":{"cpu_percent":20}}`)
	identify := func(r *http.Request) (fleet.Principal, error) {
		switch r.Header.Get("Authorization") {
		case "Bearer admin":
			return fleet.Principal{Subject: "alice", Role: fleet.RoleAdmin}, nil
		case "Bearer viewer":
			return fleet.Principal{Subject: "victor", Role: fleet.RoleViewer, Groups: []string{"line-a"}}, nil
		}
		return fleet.Principal{}, fmt.Errorf("no token: %w", fleet.ErrUnauthenticated)
	}
	return httpapi.New(svc, httpapi.Options{Identify: identify}), svc
}

// exchange is one request of the conformance test and its answer.
type exchange struct {
	method, path, auth, body string
	status                   int // the status the fixture must answer
}

// exchanges exercises every operation of the document, in order (later
// ones use what earlier ones created), with answers of each kind.
func exchanges() []exchange {
	return []exchange{
		{"GET", "/healthz", "", "", 200},
		{"GET", "/openapi.yaml", "", "", 200},
		{"GET", "/me", "admin", "", 200},
		{"GET", "/me", "", "", 401},
		{"GET", "/terminals", "admin", "", 200},
		{"GET", "/terminals?limit=1", "viewer", "", 200},
		{"GET", "/terminals?limit=0", "admin", "", 400},
		{"POST", "/terminals", "admin", `{"id":"t3","name":"Press 3","groups":["line-a"]}`, 201},
		{"POST", "/terminals", "admin", `{"id":"t3"}`, 409},
		{"POST", "/terminals", "admin", `{"id":"a b"}`, 400},
		{"POST", "/terminals", "viewer", `{"id":"t4"}`, 403},
		{"POST", "/terminals", "admin", `{"id":`, 400},
		{"GET", "/terminals/t1", "admin", "", 200},
		{"GET", "/terminals/t1/", "viewer", "", 200},
		{"GET", "/terminals/t2", "admin", "", 200},
		{"GET", "/terminals/nobody", "admin", "", 404},
		{"GET", "/terminals/t2", "viewer", "", 404},
		{"GET", "/terminals/t1/config", "admin", "", 200},
		{"GET", "/terminals/t1/config/", "viewer", "", 200},
		{"GET", "/terminals/t2/config", "admin", "", 200},
		{"PUT", "/terminals/t1/config", "admin", `{"config":{"threshold":0.9,"api_key":"[redacted]"}}`, 202},
		{"PUT", "/terminals/t1/config", "admin", `{"config":[1]}`, 400},
		{"PUT", "/terminals/t1/config", "viewer", `{"config":{}}`, 403},
		{"GET", "/terminals/t1/status", "admin", "", 200},
		{"GET", "/terminals/t2/status/", "admin", "", 200},
		{"GET", "/terminals/t1/status/history?since=1h&limit=10", "admin", "", 200},
		{"GET", "/terminals/t1/status/history?since=later", "admin", "", 400},
		{"GET", "/terminals/t1/logs?count=5", "admin", "", 200},
		{"GET", "/terminals/t1/logs/?since=10&count=5&level=info&q=line", "viewer", "", 200},
		{"GET", "/terminals/t1/logs?count=-1", "admin", "", 400},
		{"GET", "/terminals/t2/logs", "admin", "", 200},
		{"POST", "/terminals/t1/sync", "admin", "", 202},
		{"POST", "/terminals/t2/sync", "admin", "", 409},
		{"POST", "/terminals/t1/commands", "admin", `{"command":"ping","timeoutSeconds":5}`, 202},
		{"POST", "/terminals/t1/commands", "admin", `{"command":"reboot"}`, 400},
		{"POST", "/terminals/t1/commands", "admin", `{"command":"ping","pad":"` + strings.Repeat("x", 70*1024) + `"}`, 413},
		{"POST", "/terminals/t2/commands", "admin", `{"command":"ping"}`, 409},
		{"GET", "/terminals/t1/commands/$last", "admin", "", 200},
		{"GET", "/terminals/t1/commands/nope", "admin", "", 404},
		{"GET", "/terminals/t1/credentials", "admin", "", 200},
		{"GET", "/terminals/t1/credentials", "viewer", "", 403},
		{"POST", "/terminals/t3/credentials/rotate", "admin", `{"overlapSeconds":60}`, 200},
		{"POST", "/terminals/t3/credentials/rotate", "admin", `{"overlapSeconds":-1}`, 400},
		{"POST", "/terminals/t3/credentials/revoke", "admin", `{}`, 200},
		{"GET", "/terminals/t1/audit?limit=5", "admin", "", 200},
		{"GET", "/audit", "admin", "", 200},
		{"GET", "/audit?since=yesterday", "admin", "", 400},
		{"PUT", "/groups/line-a/config", "admin", `{"patch":{"threshold":0.95},"waveSize":1,"waveIntervalSeconds":600}`, 202},
		{"PUT", "/groups/line-a/config", "viewer", `{"patch":{}}`, 403},
		{"PUT", "/groups/line-b/config", "admin", `{"patch":{}}`, 404},
		{"GET", "/groups/line-a/rollouts?cursor=nope", "admin", "", 400},
		{"PUT", "/groups/line-a/config", "admin", `{"patch":{},"config":{}}`, 400},
		{"GET", "/groups/line-a/rollouts", "viewer", "", 200},
		{"GET", "/groups/line-b/rollouts?limit=5", "viewer", "", 404},
		{"GET", "/groups/line-a/rollouts/$rollout", "viewer", "", 200},
		{"GET", "/groups/line-a/rollouts/$rollout/waves/0", "viewer", "", 200},
		{"GET", "/groups/line-a/rollouts/$rollout/waves/9", "viewer", "", 404},
		{"GET", "/groups/line-a/rollouts/nope", "admin", "", 400},
		{"POST", "/groups/line-a/rollouts/$rollout/pause", "admin", "", 200},
		{"POST", "/groups/line-a/rollouts/$rollout/pause", "admin", "", 409},
		{"POST", "/groups/line-a/rollouts/$rollout/resume", "admin", "", 200},
		{"POST", "/groups/line-a/rollouts/$rollout/rollback", "viewer", "", 403},
		{"POST", "/groups/line-a/rollouts/$rollout/rollback", "admin", "", 200},
		{"PUT", "/groups/line-a/config", "admin", `{"patch":{"threshold":0.7},"overrideTerminalConfig":true}`, 202},
		{"POST", "/groups/line-a/rollouts/$rollout/cancel", "admin", "", 200},
		{"POST", "/groups/line-a/rollouts/$rollout/cancel", "admin", "", 409},
		{"GET", "/groups/line-a/rollouts/$rollout/waves/0", "admin", "", 200},
		{"DELETE", "/terminals/t1", "viewer", "", 403},
		{"DELETE", "/terminals/t9", "admin", "", 404},
		{"DELETE", "/terminals/t3", "admin", "", 204},
		{"DELETE", "/terminals/t1/config", "admin", "", 405},
		// Fleet-wide search and alerts.
		{"GET", "/logs", "admin", "", 200},
		{"GET", "/logs?group=line-a&level=info&q=line&since=2026-11-27T08:00:00Z&until=1m&limit=5", "viewer", "", 200},
		{"GET", "/logs?limit=2", "viewer", "", 200},
		{"GET", "/logs?limit=0", "admin", "", 400},
		{"GET", "/logs?since=later", "admin", "", 400},
		{"GET", "/logs?cursor=zzz", "admin", "", 400},
		{"GET", "/alerts", "viewer", "", 200},
		{"GET", "/alerts?state=bogus", "admin", "", 400},
		{"GET", "/groups/line-a/alert-rules", "viewer", "", 200},
		{"POST", "/groups/line-a/alert-rules", "admin", `{"kind":"status","name":"busy","field":"cpu_percent","op":">","threshold":10}`, 201},
		{"POST", "/groups/line-a/alert-rules", "viewer", `{"kind":"offline"}`, 403},
		{"POST", "/groups/line-a/alert-rules", "admin", `{"kind":"loud"}`, 400},
		{"TICK", "", "", "", 0},
		{"GET", "/alerts?group=line-a&state=open&limit=10", "viewer", "", 200},
		{"POST", "/groups/line-a/alerts/$rule/t1/acknowledge", "viewer", "", 403},
		{"POST", "/groups/line-a/alerts/$rule/t1/acknowledge", "admin", "", 200},
		{"POST", "/groups/line-a/alerts/$rule/t1/acknowledge", "admin", "", 409},
		{"POST", "/groups/line-a/alerts/$rule/t2/acknowledge", "admin", "", 404},
		{"DELETE", "/groups/line-a/alert-rules/$rule", "admin", "", 204},
		{"DELETE", "/groups/line-a/alert-rules/$rule", "admin", "", 404},
	}
}

// TestOpenAPIDescribesResponses sends real requests for every operation
// and validates each request and answer against openapi.yaml: the status
// must be documented for the operation and the body must match its schema.
func TestOpenAPIDescribesResponses(t *testing.T) {
	t.Parallel()
	doc := loadDocument(t)
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	api, svc := openAPIFixture(t)
	lastRequestID, lastRollout, lastRule := "", "", ""
	covered := map[string]bool{}
	for _, ex := range exchanges() {
		if ex.method == "TICK" { // the scheduler's periodic work (alerts)
			if err := svc.Tick(context.Background(), time.Time{}); err != nil {
				t.Fatalf("Tick: %v", err)
			}
			continue
		}
		path := strings.NewReplacer("$last", lastRequestID, "$rollout", lastRollout, "$rule", lastRule).Replace(ex.path)
		req := httptest.NewRequest(ex.method, path, strings.NewReader(ex.body))
		if ex.body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		if ex.auth != "" {
			req.Header.Set("Authorization", "Bearer "+ex.auth)
		}
		rec := httptest.NewRecorder()
		api.ServeHTTP(rec, req)
		body := rec.Body.Bytes()
		if rec.Code != ex.status {
			t.Errorf("%s %s: %d %s, want %d", ex.method, path, rec.Code, body, ex.status)
			continue
		}
		if ex.method == "POST" && strings.HasSuffix(path, "/alert-rules") && rec.Code == 201 {
			var r struct{ ID string }
			_ = json.Unmarshal(body, &r)
			lastRule = r.ID
		}
		if ex.method == "POST" && strings.HasSuffix(path, "/commands") && rec.Code == 202 {
			var c struct{ RequestID string }
			_ = json.Unmarshal(body, &c)
			lastRequestID = c.RequestID
		}
		if ex.method == "PUT" && strings.HasPrefix(path, "/groups/") && rec.Code == 202 {
			var ro struct{ ID string }
			_ = json.Unmarshal(body, &ro)
			lastRollout = ro.ID
		}
		if os.Getenv("OPENAPI_DUMP") != "" {
			t.Logf("%s %s → %d %s", ex.method, path, rec.Code, body)
		}
		// The document lists canonical paths; the API folds a trailing slash.
		canonical := path
		if p, q, _ := strings.Cut(path, "?"); len(p) > 1 && strings.HasSuffix(p, "/") {
			canonical = strings.TrimSuffix(p, "/")
			if q != "" {
				canonical += "?" + q
			}
		}
		vreq := httptest.NewRequest(ex.method, canonical, strings.NewReader(ex.body))
		vreq.Header = req.Header.Clone()
		vreq.URL.Host, vreq.URL.Scheme, vreq.Host = "localhost", "http", "localhost"
		route, params, err := router.FindRoute(vreq)
		if err != nil {
			if rec.Code == http.StatusMethodNotAllowed {
				continue // the method is not an operation; the 405 shape is checked below
			}
			t.Errorf("%s %s: no operation in openapi.yaml: %v", ex.method, path, err)
			continue
		}
		covered[ex.method+" "+route.Path] = true
		in := &openapi3filter.RequestValidationInput{
			Request: vreq, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, IncludeResponseStatus: true},
		}
		if rec.Code < 300 {
			if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
				t.Errorf("%s %s: the request the API accepted breaks the document: %v", ex.method, path, err)
			}
		}
		out := &openapi3filter.ResponseValidationInput{
			RequestValidationInput: in, Status: rec.Code, Header: rec.Header(), Body: io.NopCloser(bytes.NewReader(body)),
			Options: &openapi3filter.Options{IncludeResponseStatus: true},
		}
		if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
			t.Errorf("%s %s → %d: the answer breaks the document: %v\n%s", ex.method, path, rec.Code, err, body)
		}
	}
	var missing []string
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			if !covered[method+" "+path] {
				missing = append(missing, method+" "+path)
			}
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("operations no request exercised (add them to exchanges): %v", missing)
	}
}
