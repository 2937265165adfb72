package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"
)

var quietLogger = slog.New(slog.NewTextHandler(io.Discard, nil))

var queryRoutes = []HTTPRoute{
	{Method: "ANY", Path: "/{proxy+}", Function: "QueryFunction"},
	{Method: "ANY", Path: "/", Function: "QueryFunction"},
}

// echoApp is the net/http application run as the function, through the
// aws-lambda-go-api-proxy adapter, as the query function does.
func echoApp() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /binary", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(b)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var cookies []string
		for _, c := range r.Cookies() {
			cookies = append(cookies, c.Name+"="+c.Value)
		}
		w.Header().Set("X-Echo", "yes")
		w.Header().Add("Vary", "Origin")
		http.SetCookie(w, &http.Cookie{Name: "session", Value: "abc"})
		http.SetCookie(w, &http.Cookie{Name: "theme", Value: "dark"})
		w.Header().Set("Content-Type", "application/json")
		status := http.StatusOK
		if r.Method == http.MethodPost {
			status = http.StatusCreated
		}
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(map[string]any{
			"method":  r.Method,
			"path":    r.URL.Path,
			"query":   r.URL.Query(),
			"header":  r.Header.Get("X-Custom"),
			"cookies": cookies,
			"body":    string(b),
		})
	})
	return mux
}

func newHTTPServer(t *testing.T, cfg HTTPConfig) *httptest.Server {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = quietLogger
	}
	srv := httptest.NewServer(NewHTTPAPI(cfg))
	t.Cleanup(srv.Close)
	return srv
}

type echoed struct {
	Method  string              `json:"method"`
	Path    string              `json:"path"`
	Query   map[string][]string `json:"query"`
	Header  string              `json:"header"`
	Cookies []string            `json:"cookies"`
	Body    string              `json:"body"`
}

func TestHTTPAPIEndToEnd(t *testing.T) {
	t.Parallel()
	srv := newHTTPServer(t, HTTPConfig{
		Routes: queryRoutes,
		Invoker: HandlerFuncInvoker(map[string]any{
			"QueryFunction": httpadapter.NewV2(echoApp()).ProxyWithContext,
		}),
	})
	tests := []struct {
		name       string
		method     string
		path       string
		body       string
		wantStatus int
		want       echoed
	}{
		{"root", "GET", "/", "", 200, echoed{Method: "GET", Path: "/"}},
		{"trailing slash and query", "GET", "/terminals/t-1/logs/?count=5&level=info&level=warn", "", 200,
			echoed{Method: "GET", Path: "/terminals/t-1/logs/", Query: map[string][]string{"count": {"5"}, "level": {"info", "warn"}}}},
		{"no trailing slash", "GET", "/terminals/t-1/status", "", 200, echoed{Method: "GET", Path: "/terminals/t-1/status"}},
		{"escaped path", "GET", "/terminals/t%201/config/", "", 200, echoed{Method: "GET", Path: "/terminals/t 1/config/"}},
		{"post body", "POST", "/terminals/t-1/commands/", `{"command":"ping"}`, 201,
			echoed{Method: "POST", Path: "/terminals/t-1/commands/", Body: `{"command":"ping"}`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req, err := http.NewRequest(tt.method, srv.URL+tt.path, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("X-Custom", "custom-value")
			req.Header.Set("Content-Type", "application/json")
			req.AddCookie(&http.Cookie{Name: "a", Value: "1"})
			req.AddCookie(&http.Cookie{Name: "b", Value: "2"})
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatalf("%s %s: %v", tt.method, tt.path, err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("got status %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if got := resp.Header.Get("X-Echo"); got != "yes" {
				t.Errorf("got X-Echo %q, want yes", got)
			}
			if got := resp.Header.Get("Content-Type"); got != "application/json" {
				t.Errorf("got Content-Type %q, want application/json", got)
			}
			if got := resp.Header.Get("Apigw-Requestid"); got == "" {
				t.Error("got no apigw-requestid header")
			}
			var names []string
			for _, c := range resp.Cookies() {
				names = append(names, c.Name+"="+c.Value)
			}
			if got := strings.Join(names, ";"); got != "session=abc;theme=dark" {
				t.Errorf("got cookies %q, want session=abc;theme=dark", got)
			}
			var got echoed
			if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
				t.Fatalf("decode: %v", err)
			}
			tt.want.Header = "custom-value"
			tt.want.Cookies = []string{"a=1", "b=2"}
			if tt.want.Query == nil {
				tt.want.Query = map[string][]string{}
			}
			gotJSON, _ := json.Marshal(got)
			wantJSON, _ := json.Marshal(tt.want)
			if !bytes.Equal(gotJSON, wantJSON) {
				t.Errorf("got %s, want %s", gotJSON, wantJSON)
			}
		})
	}

	t.Run("binary body", func(t *testing.T) {
		t.Parallel()
		body := make([]byte, 256)
		for i := range body {
			body[i] = byte(i)
		}
		resp, err := http.Post(srv.URL+"/binary", "application/octet-stream", bytes.NewReader(body))
		if err != nil {
			t.Fatalf("POST: %v", err)
		}
		defer resp.Body.Close()
		got, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || !bytes.Equal(got, body) {
			t.Errorf("got status %d and %d bytes %x, want 200 and the 256 bytes sent", resp.StatusCode, len(got), got)
		}
	})
}

// captureInvoker records the events it gets and answers with a fixed result.
type captureInvoker struct {
	events chan []byte
	result string
}

func (c *captureInvoker) Invoke(ctx context.Context, function string, payload []byte) ([]byte, error) {
	c.events <- payload
	return []byte(c.result), nil
}

func TestHTTPAPIEventShape(t *testing.T) {
	t.Parallel()
	inv := &captureInvoker{events: make(chan []byte, 10), result: `{"statusCode":204}`}
	srv := newHTTPServer(t, HTTPConfig{Routes: queryRoutes, Invoker: inv, DomainName: "abc123.execute-api.localhost", APIID: "abc123"})

	req, _ := http.NewRequest("POST", srv.URL+"/terminals/t-1/logs/?count=5&level=info&level=warn", strings.NewReader(`{"x":1}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Add("X-Multi", "one")
	req.Header.Add("X-Multi", "two")
	req.Header.Set("User-Agent", "shape-test/1")
	req.Header.Set("Cookie", "a=1; b=2")
	before := time.Now().UnixMilli()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Errorf("got status %d, want 204", resp.StatusCode)
	}
	payload := <-inv.events
	var ev events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(payload, &ev); err != nil {
		t.Fatalf("decode event: %v", err)
	}
	rc := ev.RequestContext
	parsed, timeErr := time.Parse(requestTimeLayout, rc.Time)
	checks := []struct {
		name      string
		got, want any
	}{
		{"version", ev.Version, "2.0"},
		{"routeKey", ev.RouteKey, "ANY /{proxy+}"},
		{"rawPath", ev.RawPath, "/terminals/t-1/logs/"},
		{"rawQueryString", ev.RawQueryString, "count=5&level=info&level=warn"},
		{"cookies", strings.Join(ev.Cookies, "|"), "a=1|b=2"},
		{"no cookie header", ev.Headers["cookie"], ""},
		{"lower-cased, comma-joined header", ev.Headers["x-multi"], "one,two"},
		{"content-type", ev.Headers["content-type"], "application/json"},
		{"host", ev.Headers["host"], strings.TrimPrefix(srv.URL, "http://")},
		{"x-forwarded-for", ev.Headers["x-forwarded-for"], "127.0.0.1"},
		{"x-forwarded-proto", ev.Headers["x-forwarded-proto"], "http"},
		{"query single", ev.QueryStringParameters["count"], "5"},
		{"query repeated", ev.QueryStringParameters["level"], "info,warn"},
		{"pathParameters", ev.PathParameters["proxy"], "terminals/t-1/logs/"},
		{"body", ev.Body, `{"x":1}`},
		{"isBase64Encoded", ev.IsBase64Encoded, false},
		{"requestContext.routeKey", rc.RouteKey, "ANY /{proxy+}"},
		{"stage", rc.Stage, "$default"},
		{"apiId", rc.APIID, "abc123"},
		{"domainName", rc.DomainName, "abc123.execute-api.localhost"},
		{"domainPrefix", rc.DomainPrefix, "abc123"},
		{"requestId", gatewayIDPattern.MatchString(rc.RequestID), true},
		{"requestId header", resp.Header.Get("Apigw-Requestid"), rc.RequestID},
		{"http.method", rc.HTTP.Method, "POST"},
		{"http.path", rc.HTTP.Path, "/terminals/t-1/logs/"},
		{"http.protocol", rc.HTTP.Protocol, "HTTP/1.1"},
		{"http.sourceIp", rc.HTTP.SourceIP, "127.0.0.1"},
		{"http.userAgent", rc.HTTP.UserAgent, "shape-test/1"},
		{"time parses", timeErr, nil},
		{"time matches epoch", parsed.Unix(), rc.TimeEpoch / 1000},
		{"timeEpoch recent", rc.TimeEpoch >= before, true},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
	// The same keys as API Gateway's own sample event.
	var raw map[string]any
	json.Unmarshal(payload, &raw)
	for _, k := range []string{"version", "routeKey", "rawPath", "rawQueryString", "headers", "requestContext", "isBase64Encoded"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("event has no %q", k)
		}
	}
}

// routeInvoker answers with the name of the function invoked.
type routeInvoker struct{}

func (routeInvoker) Invoke(ctx context.Context, function string, payload []byte) ([]byte, error) {
	var ev events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(payload, &ev); err != nil {
		return nil, err
	}
	b, _ := json.Marshal(map[string]any{"function": function, "routeKey": ev.RouteKey, "params": ev.PathParameters})
	return json.Marshal(events.APIGatewayV2HTTPResponse{StatusCode: 200, Body: string(b)})
}

func TestHTTPAPIRouting(t *testing.T) {
	t.Parallel()
	srv := newHTTPServer(t, HTTPConfig{
		Routes: []HTTPRoute{
			{Method: "GET", Path: "/terminals/{id}", Function: "GetTerminal"},
			{Method: "ANY", Path: "/terminals/{id}", Function: "AnyTerminal"},
			{Method: "GET", Path: "/terminals/list", Function: "ListTerminals"},
			{Method: "ANY", Path: "/terminals/{id}/{rest+}", Function: "TerminalProxy"},
			{Method: "ANY", Path: "/{proxy+}", Function: "Proxy"},
			{Method: "GET", Path: "/", Function: "Root"},
			{Path: "$default", Function: "Default"},
		},
		Invoker: routeInvoker{},
	})
	tests := []struct {
		method, path, want, wantParams string
	}{
		{"GET", "/terminals/t1", "GetTerminal", `{"id":"t1"}`},
		{"DELETE", "/terminals/t1", "AnyTerminal", `{"id":"t1"}`},
		{"GET", "/terminals/list", "ListTerminals", `null`},
		{"GET", "/terminals/t1/", "Proxy", `{"proxy":"terminals/t1/"}`}, // a greedy variable needs a segment
		{"GET", "/terminals/t1/logs/", "TerminalProxy", `{"id":"t1","rest":"logs/"}`},
		{"GET", "/other/thing", "Proxy", `{"proxy":"other/thing"}`},
		{"GET", "/", "Root", `null`},
		{"POST", "/", "Default", `null`},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			t.Parallel()
			req, _ := http.NewRequest(tt.method, srv.URL+tt.path, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var got struct {
				Function string          `json:"function"`
				Params   json.RawMessage `json:"params"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
				t.Fatalf("decode: %v", err)
			}
			if got.Function != tt.want || string(got.Params) != tt.wantParams {
				t.Errorf("got %s %s, want %s %s", got.Function, got.Params, tt.want, tt.wantParams)
			}
		})
	}
}

type funcInvoker func(ctx context.Context, function string, payload []byte) ([]byte, error)

func (f funcInvoker) Invoke(ctx context.Context, function string, payload []byte) ([]byte, error) {
	return f(ctx, function, payload)
}

func TestHTTPAPIResponses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		cfg        HTTPConfig
		path       string
		body       string
		wantStatus int
		wantBody   string
		wantType   string
	}{
		{
			name: "result without statusCode",
			cfg: HTTPConfig{Invoker: funcInvoker(func(context.Context, string, []byte) ([]byte, error) {
				return []byte(`{"hello":"world"}`), nil
			})},
			wantStatus: 200, wantBody: `{"hello":"world"}`, wantType: "application/json",
		},
		{
			name: "base64 body",
			cfg: HTTPConfig{Invoker: funcInvoker(func(context.Context, string, []byte) ([]byte, error) {
				return []byte(`{"statusCode":202,"headers":{"Content-Type":"text/plain"},"body":"aGk=","isBase64Encoded":true}`), nil
			})},
			wantStatus: 202, wantBody: "hi", wantType: "text/plain",
		},
		{
			name: "function error",
			cfg: HTTPConfig{Invoker: funcInvoker(func(context.Context, string, []byte) ([]byte, error) {
				return nil, &FunctionError{Function: "F", Message: "boom"}
			})},
			wantStatus: 500, wantBody: `{"message":"Internal Server Error"}`, wantType: "application/json",
		},
		{
			name: "invalid response",
			cfg: HTTPConfig{Invoker: funcInvoker(func(context.Context, string, []byte) ([]byte, error) {
				return []byte(`{"statusCode":"abc"}`), nil
			})},
			wantStatus: 500, wantBody: `{"message":"Internal Server Error"}`, wantType: "application/json",
		},
		{
			name: "timeout",
			cfg: HTTPConfig{Timeout: 50 * time.Millisecond, Invoker: funcInvoker(func(ctx context.Context, _ string, _ []byte) ([]byte, error) {
				<-ctx.Done()
				return nil, ctx.Err()
			})},
			wantStatus: 503, wantBody: `{"message":"Service Unavailable"}`, wantType: "application/json",
		},
		{
			name:       "body too large",
			cfg:        HTTPConfig{MaxBodyBytes: 4, Invoker: routeInvoker{}},
			body:       "12345",
			wantStatus: 413, wantBody: `{"message":"Request Entity Too Large"}`, wantType: "application/json",
		},
		{
			name:       "no route",
			cfg:        HTTPConfig{Routes: []HTTPRoute{{Method: "GET", Path: "/only", Function: "F"}}, Invoker: routeInvoker{}},
			wantStatus: 404, wantBody: `{"message":"Not Found"}`, wantType: "application/json",
		},
		{
			name:       "outside the stage",
			cfg:        HTTPConfig{Stage: "v1", Invoker: routeInvoker{}},
			path:       "/terminals/",
			wantStatus: 404, wantBody: `{"message":"Not Found"}`, wantType: "application/json",
		},
		{
			name:       "invalid config",
			cfg:        HTTPConfig{Routes: []HTTPRoute{{Method: "GET", Path: "/{a+}/b", Function: "F"}}, Invoker: routeInvoker{}},
			wantStatus: 500, wantBody: `{"message":"HTTP API config: route \"GET /{a+}/b\": a greedy variable must be the last segment"}`, wantType: "application/json",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if tt.cfg.Routes == nil {
				tt.cfg.Routes = queryRoutes
			}
			srv := newHTTPServer(t, tt.cfg)
			path := tt.path
			if path == "" {
				path = "/x"
			}
			resp, err := http.Post(srv.URL+path, "text/plain", strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.wantStatus || string(b) != tt.wantBody || resp.Header.Get("Content-Type") != tt.wantType {
				t.Errorf("got %d %q %s, want %d %q %s", resp.StatusCode, resp.Header.Get("Content-Type"), b, tt.wantStatus, tt.wantType, tt.wantBody)
			}
		})
	}
}

func TestHTTPAPIStage(t *testing.T) {
	t.Parallel()
	inv := &captureInvoker{events: make(chan []byte, 1), result: `{"statusCode":200}`}
	srv := newHTTPServer(t, HTTPConfig{Routes: queryRoutes, Invoker: inv, Stage: "v1"})
	resp, err := http.Get(srv.URL + "/v1/terminals/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var ev events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(<-inv.events, &ev); err != nil {
		t.Fatal(err)
	}
	if ev.RawPath != "/v1/terminals/" || ev.PathParameters["proxy"] != "terminals/" || ev.RequestContext.Stage != "v1" {
		t.Errorf("got rawPath %q proxy %q stage %q, want /v1/terminals/, terminals/, v1", ev.RawPath, ev.PathParameters["proxy"], ev.RequestContext.Stage)
	}
}

func TestHTTPConfigValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		routes []HTTPRoute
		want   string
	}{
		{"no routes", nil, "no routes"},
		{"relative path", []HTTPRoute{{Method: "GET", Path: "x", Function: "F"}}, "must start with /"},
		{"empty segment", []HTTPRoute{{Method: "GET", Path: "/a//b", Function: "F"}}, "empty path segment"},
		{"trailing slash", []HTTPRoute{{Method: "GET", Path: "/a/", Function: "F"}}, "empty path segment"},
		{"malformed", []HTTPRoute{{Method: "GET", Path: "/a{b}", Function: "F"}}, "malformed segment"},
		{"unnamed", []HTTPRoute{{Method: "GET", Path: "/{}", Function: "F"}}, "unnamed variable"},
		{"no function", []HTTPRoute{{Method: "GET", Path: "/a"}}, "no function"},
		{"no method", []HTTPRoute{{Path: "/a", Function: "F"}}, "invalid method"},
		{"duplicate", []HTTPRoute{{Method: "get", Path: "/a", Function: "F"}, {Method: "GET", Path: "/a", Function: "G"}}, "defined twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := HTTPConfig{Routes: tt.routes, Invoker: routeInvoker{}}.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
	if err := (HTTPConfig{Routes: queryRoutes}).Validate(); err == nil || !strings.Contains(err.Error(), "no Invoker") {
		t.Errorf("got %v, want no Invoker", err)
	}
	if err := (HTTPConfig{Routes: queryRoutes, Invoker: routeInvoker{}}).Validate(); err != nil {
		t.Errorf("got %v for a valid config", err)
	}
}
