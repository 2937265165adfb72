package samlocal_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/edgesync/edgesync/devstack/gateway"
	"github.com/edgesync/edgesync/devstack/samlocal"
	"github.com/edgesync/edgesync/devstack/template"
	"github.com/edgesync/edgesync/functions"
	"github.com/edgesync/edgesync/infra/dynamo"
	"github.com/edgesync/edgesync/internal/dynalite"
	"github.com/edgesync/edgesync/internal/testenv"
	"github.com/edgesync/edgesync/protocol"
)

// Placeholders in the events that only a running system can fill in (see
// events/README.md); the test writes the values in at invocation time.
const (
	tokenPlaceholder     = "REPLACE_WITH_THE_TOKEN_OF_press-07"
	requestIDPlaceholder = "REPLACE_WITH_A_PENDING_GET_CONFIG_REQUEST_ID"
	// The connection the ws-* events (but the bad-token one) belong to.
	connectionID = "ZvUq9dXpIAMCJkQ="
)

// samRefs are the values SAM CLI 1.170 resolves the template's references
// to when it runs a function locally (its logical ids for resources, a
// "local" stack); env.json overrides what matters.
var samRefs = map[string]string{
	"Table":          "Table",
	"WebSocketApi":   "WebSocketApi",
	"AWS::Region":    "us-east-1",
	"AWS::AccountId": "123456789012",
	"AWS::StackName": "local",
	"AWS::URLSuffix": "localhost",
}

// samVariables are the variables SAM CLI adds to every function's
// environment without credentials configured (samcli/local/lambdafn/env_vars.py).
var samVariables = map[string]string{
	"AWS_SAM_LOCAL":                  "true",
	"AWS_REGION":                     "us-east-1",
	"AWS_DEFAULT_REGION":             "us-east-1",
	"AWS_ACCESS_KEY_ID":              "defaultkey",
	"AWS_SECRET_ACCESS_KEY":          "defaultsecret",
	"AWS_ACCOUNT_ID":                 "123456789012",
	"AWS_LAMBDA_FUNCTION_VERSION":    "$LATEST",
	"AWS_LAMBDA_LOG_FORMAT":          "JSON",
	"AWS_LAMBDA_LOG_LEVEL":           "INFO",
	"AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
}

func loadTemplate(t *testing.T) *template.Template {
	t.Helper()
	tpl, err := template.Load(filepath.Join(root, "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return tpl
}

func readEnvJSON(t *testing.T) samlocal.EnvVars {
	t.Helper()
	file, err := samlocal.ReadEnvVars(filepath.Join(root, "env.json"))
	if err != nil {
		t.Fatal(err)
	}
	return file
}

// TestEnvJSON checks env.json against template.yaml the way SAM CLI reads
// both: one entry per function, every variable declared by the function
// (SAM CLI silently drops the others), the DynamoDB endpoint, table and
// management endpoint set, and the endpoint the compose service's.
func TestEnvJSON(t *testing.T) {
	t.Parallel()
	tpl := loadTemplate(t)
	file := readEnvJSON(t)
	fns, err := tpl.Functions()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, fn := range fns {
		names = append(names, fn.LogicalID)
	}
	var keys []string
	for k := range file {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if !slices.Equal(keys, names) {
		t.Errorf("env.json has entries %v, want one per template function %v", keys, names)
	}
	compose, err := os.ReadFile(filepath.Join(root, "localstack", "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, fn := range names {
		declared, err := tpl.FunctionEnvironment(fn, samRefs)
		if err != nil {
			t.Fatal(err)
		}
		env, ignored := file.Environment(fn, declared)
		if len(ignored) > 0 {
			t.Errorf("env.json %s: SAM CLI ignores %v: template.yaml does not declare them for the function", fn, ignored)
		}
		overrides := file.Overrides(fn)
		if got := overrides["AWS_ENDPOINT_URL_DYNAMODB"]; got != "http://localstack:4566" {
			t.Errorf("env.json %s: AWS_ENDPOINT_URL_DYNAMODB = %q, want http://localstack:4566 (the compose service on the network sam local joins)", fn, got)
		}
		if got := overrides[functions.VarTableName]; got != "edgesync" {
			t.Errorf("env.json %s: TABLE_NAME = %q, want edgesync (the table localstack/init creates)", fn, got)
		}
		if fn == functions.Message || fn == functions.Query {
			if overrides[functions.VarConnectionsURL] == "" {
				t.Errorf("env.json %s: no CONNECTIONS_URL placeholder", fn)
			}
			if _, err := functions.Read(func(k string) string { return env[k] }, functions.Pushes); err != nil {
				t.Errorf("env.json %s: the function would not start: %v", fn, err)
			}
		}
	}
	for _, want := range []string{"name: edgesync-localstack\n", "\n  localstack:\n", `"127.0.0.1:4566:4566"`} {
		if !bytes.Contains(compose, []byte(want)) {
			t.Errorf("localstack/docker-compose.yml lacks %q, which env.json and the README's --docker-network edgesync-localstack_default rely on", want)
		}
	}
}

// decodeStrict decodes an event into v, refusing fields v does not have:
// every field of the events is one of aws-lambda-go's types.
func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("data after the event")
	}
	return nil
}

// routeEvent returns the function API Gateway invokes for the event,
// checking that the event is what API Gateway sends for the template's
// routes. A WebSocket event's routeKey must be the one its eventType and
// the route selection expression choose. An HTTP API event is replayed
// through the HTTP API emulator of devstack/gateway, with the template's
// routes and the event's own JWT claims as the authorizer's verdict: the
// event the emulator builds must have the same route key, path, query,
// path parameters and body, and claims exactly when the route is protected.
func routeEvent(tpl *template.Template, payload []byte) (string, error) {
	var probe struct {
		Version string `json:"version"`
	}
	if err := json.Unmarshal(payload, &probe); err != nil {
		return "", err
	}
	if probe.Version == "2.0" {
		return routeHTTP(tpl, payload)
	}
	var scheduled events.EventBridgeEvent
	if json.Unmarshal(payload, &scheduled) == nil && scheduled.Source == "aws.events" {
		if scheduled.DetailType != "Scheduled Event" {
			return "", fmt.Errorf("an EventBridge event of type %q; only scheduled events invoke a function here", scheduled.DetailType)
		}
		if err := decodeStrict(payload, &scheduled); err != nil {
			return "", fmt.Errorf("not an EventBridge event as aws-lambda-go knows it: %w", err)
		}
		schedules, err := tpl.Schedules()
		if err != nil {
			return "", err
		}
		if len(schedules) != 1 {
			return "", fmt.Errorf("the template has %d schedules; the test knows how to route to one", len(schedules))
		}
		return schedules[0].Function, nil
	}
	var ev events.APIGatewayWebsocketProxyRequest
	if err := decodeStrict(payload, &ev); err != nil {
		return "", fmt.Errorf("not an API Gateway WebSocket event as aws-lambda-go knows it: %w", err)
	}
	routes, err := tpl.WebSocketRoutes()
	if err != nil {
		return "", err
	}
	rc := ev.RequestContext
	var want string
	switch rc.EventType {
	case "CONNECT":
		want = "$connect"
	case "DISCONNECT":
		want = "$disconnect"
	case "MESSAGE":
		expr, err := tpl.RouteSelectionExpression()
		if err != nil {
			return "", err
		}
		field, ok := strings.CutPrefix(expr, "$request.body.")
		if !ok || strings.Contains(field, ".") {
			return "", fmt.Errorf("route selection expression %q: the test knows only $request.body.<field>", expr)
		}
		var body map[string]any
		if err := json.Unmarshal([]byte(ev.Body), &body); err != nil {
			return "", fmt.Errorf("message body is not a JSON object: %w", err)
		}
		want = "$default"
		if key, ok := body[field].(string); ok && slices.ContainsFunc(routes, func(r template.Route) bool { return r.Key == key }) {
			want = key
		}
		if err := protocolCheck(ev.Body); err != nil {
			return "", err
		}
	default:
		return "", fmt.Errorf("eventType %q", rc.EventType)
	}
	if rc.RouteKey != want {
		return "", fmt.Errorf("routeKey %q, but API Gateway routes a %s event here to %q", rc.RouteKey, rc.EventType, want)
	}
	if rc.ConnectionID == "" || rc.APIID == "" || rc.Stage == "" || rc.RequestID == "" || rc.DomainName == "" {
		return "", errors.New("requestContext lacks connectionId, apiId, stage, requestId or domainName")
	}
	for _, r := range routes {
		if r.Key == want {
			return r.Function, nil
		}
	}
	return "", fmt.Errorf("template.yaml has no %s route", want)
}

// protocolCheck decodes a message body with the server's own decoder,
// placeholders allowed: a sample message must be valid protocol.
func protocolCheck(body string) error {
	if _, err := protocol.Decode([]byte(body)); err != nil {
		return fmt.Errorf("message body is not valid protocol: %w", err)
	}
	return nil
}

// captureInvoker answers every invocation with an empty 200 and keeps the
// event.
type captureInvoker struct {
	mu       sync.Mutex
	function string
	event    []byte
}

func (c *captureInvoker) Invoke(_ context.Context, function string, payload []byte) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.function, c.event = function, payload
	return []byte(`{"statusCode":200}`), nil
}

func routeHTTP(tpl *template.Template, payload []byte) (string, error) {
	var ev events.APIGatewayV2HTTPRequest
	if err := decodeStrict(payload, &ev); err != nil {
		return "", fmt.Errorf("not an API Gateway HTTP API payload 2.0 event as aws-lambda-go knows it: %w", err)
	}
	templateRoutes, err := tpl.HTTPRoutes()
	if err != nil {
		return "", err
	}
	var claims map[string]string
	if a := ev.RequestContext.Authorizer; a != nil && a.JWT != nil {
		claims = a.JWT.Claims
	}
	inv := &captureInvoker{}
	cfg := gateway.HTTPConfig{Invoker: inv, Authorizers: map[string]gateway.JWTAuthorizer{}, Logger: slog.New(slog.DiscardHandler)}
	for _, r := range templateRoutes {
		cfg.Routes = append(cfg.Routes, gateway.HTTPRoute{Method: r.Method, Path: r.Path, Function: r.Function, Authorizer: r.Authorizer})
		if r.Authorizer != "" {
			cfg.Authorizers[r.Authorizer] = func(*http.Request) (map[string]string, []string, error) {
				if len(claims) == 0 {
					return nil, nil, errors.New("the event carries no JWT claims")
				}
				return claims, nil, nil
			}
		}
	}
	target := ev.RawPath
	if ev.RawQueryString != "" {
		target += "?" + ev.RawQueryString
	}
	req := httptest.NewRequest(ev.RequestContext.HTTP.Method, target, strings.NewReader(ev.Body))
	for k, v := range ev.Headers {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	gateway.NewHTTPAPI(cfg).ServeHTTP(rec, req)
	if inv.event == nil {
		return "", fmt.Errorf("%s %s: the HTTP API answers %d %s without invoking a function", req.Method, target, rec.Code, strings.TrimSpace(rec.Body.String()))
	}
	var got events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(inv.event, &got); err != nil {
		return "", err
	}
	var gotClaims map[string]string
	if a := got.RequestContext.Authorizer; a != nil && a.JWT != nil {
		gotClaims = a.JWT.Claims
	}
	var problems []string
	compare := func(what string, sample, gateway any) {
		if !reflect.DeepEqual(sample, gateway) {
			problems = append(problems, fmt.Sprintf("%s %#v, API Gateway sends %#v", what, sample, gateway))
		}
	}
	compare("routeKey", ev.RouteKey, got.RouteKey)
	compare("requestContext.routeKey", ev.RequestContext.RouteKey, got.RouteKey)
	compare("rawPath", ev.RawPath, got.RawPath)
	compare("requestContext.http.path", ev.RequestContext.HTTP.Path, got.RequestContext.HTTP.Path)
	compare("rawQueryString", ev.RawQueryString, got.RawQueryString)
	compare("queryStringParameters", ev.QueryStringParameters, got.QueryStringParameters)
	compare("pathParameters", ev.PathParameters, got.PathParameters)
	compare("body", ev.Body, got.Body)
	compare("isBase64Encoded", ev.IsBase64Encoded, got.IsBase64Encoded)
	compare("JWT claims", claims, gotClaims)
	if ev.RequestContext.Stage != gateway.DefaultHTTPStage {
		problems = append(problems, fmt.Sprintf("stage %q, the SAM HTTP API's is %q", ev.RequestContext.Stage, gateway.DefaultHTTPStage))
	}
	if len(problems) > 0 {
		return "", errors.New(strings.Join(problems, "; "))
	}
	return inv.function, nil
}

// managementAPI records what the functions push to connections, standing
// in for the @connections API at CONNECTIONS_URL.
type managementAPI struct {
	*httptest.Server
	mu     sync.Mutex
	pushes []push
}

type push struct {
	conn string
	msg  map[string]any
}

func newManagementAPI(t *testing.T) *managementAPI {
	m := &managementAPI{}
	m.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, ok := strings.CutPrefix(r.URL.Path, "/prod/@connections/")
		body, err := io.ReadAll(r.Body)
		if !ok || r.Method != http.MethodPost || err != nil {
			http.Error(w, "not a PostToConnection", http.StatusBadRequest)
			return
		}
		var msg map[string]any
		if err := json.Unmarshal(body, &msg); err != nil {
			http.Error(w, "not JSON", http.StatusBadRequest)
			return
		}
		m.mu.Lock()
		m.pushes = append(m.pushes, push{conn: conn, msg: msg})
		m.mu.Unlock()
	}))
	t.Cleanup(m.Close)
	return m
}

func (m *managementAPI) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.pushes)
}

func (m *managementAPI) since(n int) []push {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.pushes[n:])
}

// answer is a function's response: events.APIGatewayProxyResponse from
// the WebSocket functions, events.APIGatewayV2HTTPResponse from the query
// function, both decoded to what the checks need.
type answer struct {
	StatusCode      int               `json:"statusCode"`
	Headers         map[string]string `json:"headers"`
	Body            string            `json:"body"`
	IsBase64Encoded bool              `json:"isBase64Encoded"`
}

func (a answer) json(t *testing.T) map[string]any {
	t.Helper()
	body := []byte(a.Body)
	if a.IsBase64Encoded {
		var err error
		if body, err = base64.StdEncoding.DecodeString(a.Body); err != nil {
			t.Fatalf("body: %v", err)
		}
	}
	var v map[string]any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("body %q is not a JSON object: %v", body, err)
	}
	return v
}

// testLog writes the functions' output to the test log.
type testLog struct{ t *testing.T }

func (w testLog) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// buildFunctions builds every template function as `sam build` does for
// provided.al2023 (a static bootstrap, here for this machine) and returns
// their paths by logical id.
func buildFunctions(t *testing.T, tpl *template.Template) map[string]string {
	t.Helper()
	fns, err := tpl.Functions()
	if err != nil {
		t.Fatal(err)
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	out := map[string]string{}
	for _, fn := range fns {
		bin := filepath.Join(dir, fn.LogicalID, "bootstrap")
		cmd := exec.CommandContext(t.Context(), "go", "build", "-tags", "lambda.norpc", "-o", bin, "./"+strings.TrimSuffix(fn.CodeURI, "/"))
		cmd.Dir = abs
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("build %s: %v\n%s", fn.LogicalID, err, b)
		}
		out[fn.LogicalID] = bin
	}
	return out
}

// step is one invocation of the local loop: an events file, the function
// API Gateway routes it to, what to fill in, and what the answer must be.
type step struct {
	file     string
	function string
	fill     func(t *testing.T, payload []byte) []byte
	check    func(t *testing.T, a answer, pushed []push)
}

// TestEventsUnderRIE feeds every events/ file to its function's real
// bootstrap under aws-lambda-rie, as `sam local invoke -e events/… --env-vars
// env.json` does in its container: the environment is the template's with
// env.json's overrides applied as SAM CLI applies them, except that
// DynamoDB is dynalite instead of LocalStack and CONNECTIONS_URL a recorder
// of the pushes. The steps run in the order of events/README.md, the loop a
// SAM user goes through: register the terminal, connect, say hello, send
// logs, status, a heartbeat and the answer to the hello's get_config, read
// everything back over the HTTP API, send a command, disconnect.
func TestEventsUnderRIE(t *testing.T) {
	t.Parallel()
	riePath, err := gateway.LookRIE()
	if errors.Is(err, gateway.ErrRIENotFound) {
		testenv.Missing(t, "aws-lambda-rie", err.Error(), "make tools")
	}
	if err != nil {
		t.Fatal(err)
	}
	db := dynalite.ForTest(t)
	tpl := loadTemplate(t)
	file := readEnvJSON(t)
	mgmt := newManagementAPI(t)

	table := file.Overrides(functions.Connect)[functions.VarTableName]
	if err := dynamo.CreateTable(t.Context(), dynalite.NewClient(db.Endpoint()), table); err != nil {
		t.Fatal(err)
	}

	bins := buildFunctions(t, tpl)
	timeout := 10 * time.Second
	if p, ok := tpl.Parameters["FunctionTimeout"]; ok {
		if d, err := time.ParseDuration(p.Default + "s"); err == nil {
			timeout = d
		}
	}
	rieFns := map[string]gateway.RIEFunction{}
	for name, bin := range bins {
		declared, err := tpl.FunctionEnvironment(name, samRefs)
		if err != nil {
			t.Fatal(err)
		}
		env, ignored := file.Environment(name, declared)
		if len(ignored) > 0 {
			t.Fatalf("env.json %s: SAM CLI would ignore %v (not declared in template.yaml)", name, ignored)
		}
		for k, v := range samVariables {
			env[k] = v
		}
		// The two endpoints that differ from a laptop's: dynalite for
		// LocalStack, a recorder for the @connections API.
		if env["AWS_ENDPOINT_URL_DYNAMODB"] == "" {
			t.Fatalf("env.json gives %s no AWS_ENDPOINT_URL_DYNAMODB", name)
		}
		env["AWS_ENDPOINT_URL_DYNAMODB"] = db.Endpoint()
		if _, ok := file.Overrides(name)[functions.VarConnectionsURL]; ok {
			env[functions.VarConnectionsURL] = mgmt.URL + "/prod"
		}
		rieFns[name] = gateway.RIEFunction{Bootstrap: bin, Env: env, Timeout: timeout}
	}
	inv, err := gateway.NewRIEInvoker(gateway.RIEConfig{
		Path:      riePath,
		Functions: rieFns,
		Logger:    slog.New(slog.NewTextHandler(testLog{t}, &slog.HandlerOptions{Level: slog.LevelInfo})),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { inv.Close() })

	var token, getConfigID string
	statusOf := func(want int) func(*testing.T, answer) {
		return func(t *testing.T, a answer) {
			t.Helper()
			if a.StatusCode != want {
				t.Fatalf("statusCode %d, want %d; body %s", a.StatusCode, want, a.Body)
			}
		}
	}
	noErrors := func(t *testing.T, pushed []push) {
		t.Helper()
		for _, p := range pushed {
			if p.msg["type"] == protocol.TypeError {
				t.Errorf("pushed an error to %s: %v", p.conn, p.msg)
			}
		}
	}
	toConnection := func(pushed []push, typ string) []map[string]any {
		var out []map[string]any
		for _, p := range pushed {
			if p.conn == connectionID && p.msg["type"] == typ {
				out = append(out, p.msg)
			}
		}
		return out
	}
	wsOK := func(t *testing.T, a answer, pushed []push) {
		statusOf(200)(t, a)
		noErrors(t, pushed)
	}
	terminalIs := func(online bool) func(*testing.T, answer, []push) {
		return func(t *testing.T, a answer, _ []push) {
			statusOf(200)(t, a)
			v := a.json(t)
			if v["id"] != "press-07" || v["online"] != online || v["agentVersion"] != "1.0.0" || v["lastSeq"] != float64(3) {
				t.Errorf("terminal = %v, want press-07, online %v, agent 1.0.0, lastSeq 3", v, online)
			}
		}
	}

	steps := []step{
		{file: "http-post-terminals.json", function: functions.Query, check: func(t *testing.T, a answer, _ []push) {
			statusOf(201)(t, a)
			v := a.json(t)
			token, _ = v["token"].(string)
			if v["id"] != "press-07" || !strings.HasPrefix(token, "est_") {
				t.Fatalf("POST /terminals = %v, want press-07 and its token", v)
			}
		}},
		{file: "ws-connect.json", function: functions.Connect,
			fill: func(t *testing.T, p []byte) []byte { return fill(t, p, tokenPlaceholder, token) },
			check: func(t *testing.T, a answer, pushed []push) {
				statusOf(200)(t, a)
				if len(pushed) != 0 {
					t.Errorf("$connect pushed %v; API Gateway refuses posts to a connection not yet open", pushed)
				}
			}},
		{file: "ws-connect-bad-token.json", function: functions.Connect, check: func(t *testing.T, a answer, _ []push) {
			statusOf(403)(t, a)
			if v := a.json(t); v["code"] != "forbidden" {
				t.Errorf("body %v, want code forbidden", v)
			}
		}},
		{file: "ws-message-hello.json", function: functions.Message, check: func(t *testing.T, a answer, pushed []push) {
			wsOK(t, a, pushed)
			var names []string
			for _, c := range toConnection(pushed, protocol.TypeCommand) {
				names = append(names, c["command"].(string))
				if c["command"] == protocol.CommandGetConfig {
					getConfigID, _ = c["request_id"].(string)
				}
			}
			slices.Sort(names)
			if want := []string{"get_config", "get_logs", "get_status"}; !slices.Equal(names, want) || getConfigID == "" {
				t.Fatalf("hello pulled %v (get_config id %q), want %v", names, getConfigID, want)
			}
		}},
		{file: "ws-message-logs.json", function: functions.Message, check: func(t *testing.T, a answer, pushed []push) {
			wsOK(t, a, pushed)
			acks := toConnection(pushed, protocol.TypeAck)
			if len(acks) != 1 || acks[0]["of"] != "logs" || acks[0]["first_seq"] != float64(1) || acks[0]["last_seq"] != float64(3) {
				t.Errorf("acks %v, want one of logs 1-3", acks)
			}
		}},
		{file: "ws-message-status.json", function: functions.Message, check: wsOK},
		{file: "ws-message-heartbeat.json", function: functions.Message, check: wsOK},
		{file: "ws-message-command-response.json", function: functions.Message,
			fill:  func(t *testing.T, p []byte) []byte { return fill(t, p, requestIDPlaceholder, getConfigID) },
			check: wsOK},
		{file: "http-get-terminals.json", function: functions.Query, check: func(t *testing.T, a answer, _ []push) {
			statusOf(200)(t, a)
			list, _ := a.json(t)["terminals"].([]any)
			if len(list) != 1 || list[0].(map[string]any)["id"] != "press-07" {
				t.Errorf("terminals %v, want press-07", list)
			}
		}},
		{file: "http-get-terminal.json", function: functions.Query, check: terminalIs(true)},
		{file: "http-get-config.json", function: functions.Query, check: func(t *testing.T, a answer, _ []push) {
			statusOf(200)(t, a)
			v := a.json(t)
			want := map[string]any{"threshold": 0.8, "camera": map[string]any{"fps": float64(25), "exposure": "auto"}, "upload": map[string]any{"interval_seconds": float64(60)}}
			if !reflect.DeepEqual(v["data"], want) || v["fresh"] != true {
				t.Errorf("config %v, want fresh data %v (the command_response's result)", v, want)
			}
		}},
		{file: "http-get-status.json", function: functions.Query, check: func(t *testing.T, a answer, _ []push) {
			statusOf(200)(t, a)
			v := a.json(t)
			data, _ := v["data"].(map[string]any)
			if data["cpu_percent"] != 12.5 || data["hostname"] != "press-07" || v["fresh"] != true {
				t.Errorf("status %v, want the status message's, fresh", v)
			}
		}},
		{file: "http-get-logs.json", function: functions.Query, check: func(t *testing.T, a answer, _ []push) {
			statusOf(200)(t, a)
			entries, _ := a.json(t)["entries"].([]any)
			var got []string
			for _, e := range entries {
				m := e.(map[string]any)
				got = append(got, fmt.Sprintf("%v %v", m["seq"], m["msg"]))
			}
			if want := []string{"1 agent started", "2 camera 2 ready", "3 frame dropped"}; !slices.Equal(got, want) {
				t.Errorf("log entries %q, want %q", got, want)
			}
		}},
		{file: "http-post-command.json", function: functions.Query, check: func(t *testing.T, a answer, pushed []push) {
			statusOf(202)(t, a)
			v := a.json(t)
			cmds := toConnection(pushed, protocol.TypeCommand)
			if v["state"] != "pending" || len(cmds) != 1 || cmds[0]["command"] != "ping" || cmds[0]["request_id"] != v["requestId"] {
				t.Errorf("command %v, pushed %v; want a pending ping pushed to the terminal's connection", v, cmds)
			}
		}},
		{file: "http-get-me.json", function: functions.Query, check: func(t *testing.T, a answer, _ []push) {
			statusOf(200)(t, a)
			v := a.json(t)
			if v["role"] != "admin" || !reflect.DeepEqual(v["groups"], []any{"hall-a"}) || v["subject"] == "" {
				t.Errorf("me = %v, want the claims' admin of hall-a", v)
			}
		}},
		{file: "http-get-healthz.json", function: functions.Query, check: func(t *testing.T, a answer, _ []push) {
			statusOf(200)(t, a)
		}},
		{file: "scheduled-event.json", function: functions.Scheduler, check: func(t *testing.T, a answer, pushed []push) {
			if a.StatusCode != 0 || len(pushed) != 0 {
				t.Errorf("the scheduler answered %+v and pushed %d messages; want null and no pushes with nothing to do", a, len(pushed))
			}
		}},
		{file: "ws-disconnect.json", function: functions.Disconnect, check: wsOK},
		{file: "http-get-terminal.json", function: functions.Query, check: terminalIs(false)},
	}

	entries, err := filepath.Glob(filepath.Join(root, "events", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		name := filepath.Base(e)
		if !slices.ContainsFunc(steps, func(s step) bool { return s.file == name }) {
			t.Errorf("events/%s is in no step of this test", name)
		}
	}

	for i, s := range steps {
		ok := t.Run(fmt.Sprintf("%02d-%s", i+1, strings.TrimSuffix(s.file, ".json")), func(t *testing.T) {
			payload, err := os.ReadFile(filepath.Join(root, "events", s.file))
			if err != nil {
				t.Fatal(err)
			}
			fn, err := routeEvent(tpl, payload)
			if err != nil {
				t.Fatalf("events/%s: %v", s.file, err)
			}
			if fn != s.function {
				t.Fatalf("events/%s goes to %s, want %s", s.file, fn, s.function)
			}
			if s.fill != nil {
				payload = s.fill(t, payload)
			}
			before := mgmt.count()
			out, err := inv.Invoke(t.Context(), fn, payload)
			if err != nil {
				t.Fatalf("invoke %s with events/%s: %v", fn, s.file, err)
			}
			var a answer
			if err := json.Unmarshal(out, &a); err != nil {
				t.Fatalf("%s answered %s: %v", fn, out, err)
			}
			s.check(t, a, mgmt.since(before))
		})
		if !ok {
			t.Fatalf("step %d (events/%s) failed; the later steps depend on it", i+1, s.file)
		}
	}
}

// fill replaces placeholder in an event with value, failing if the event
// does not hold it (the README tells users to replace it there).
func fill(t *testing.T, payload []byte, placeholder, value string) []byte {
	t.Helper()
	if value == "" {
		t.Fatalf("no value for %s: an earlier step did not produce it", placeholder)
	}
	if !bytes.Contains(payload, []byte(placeholder)) {
		t.Fatalf("the event does not contain the placeholder %s", placeholder)
	}
	return bytes.ReplaceAll(payload, []byte(placeholder), []byte(value))
}
