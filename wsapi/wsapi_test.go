package wsapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/edgesync/edgesync/fleet"
	"github.com/edgesync/edgesync/infra/embedded"
	"github.com/edgesync/edgesync/wsapi"
)

func TestMain(m *testing.M) {
	slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil)))
	os.Exit(m.Run())
}

// pushes records what the service pushes to terminals.
type pushes struct {
	mu   sync.Mutex
	msgs map[string][]map[string]any
}

func (p *pushes) Push(_ context.Context, connID string, msg []byte) error {
	var m map[string]any
	if err := json.Unmarshal(msg, &m); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.msgs[connID] = append(p.msgs[connID], m)
	return nil
}

func (p *pushes) take(connID string) []map[string]any {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := p.msgs[connID]
	delete(p.msgs, connID)
	return out
}

type fixture struct {
	svc                       *fleet.Service
	push                      *pushes
	connect, disconnect, send lambda.Handler
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	st, err := embedded.Open(filepath.Join(t.TempDir(), "edgesync.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f := &fixture{push: &pushes{msgs: map[string][]map[string]any{}}}
	f.svc = fleet.NewService(st, f.push, fleet.DefaultConfig())
	f.connect = lambda.NewHandler(wsapi.NewConnect(f.svc).Handle)
	f.disconnect = lambda.NewHandler(wsapi.NewDisconnect(f.svc).Handle)
	f.send = lambda.NewHandler(wsapi.NewMessage(f.svc).Handle)
	return f
}

// event loads one of aws-lambda-go's API Gateway WebSocket fixtures and
// lets edit adapt it.
func event(t *testing.T, file string, edit func(*events.APIGatewayWebsocketProxyRequest)) []byte {
	t.Helper()
	raw, err := os.ReadFile("testdata/" + file)
	if err != nil {
		t.Fatal(err)
	}
	var req events.APIGatewayWebsocketProxyRequest
	if err := json.Unmarshal(raw, &req); err != nil {
		t.Fatal(err)
	}
	edit(&req)
	out, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func invoke(t *testing.T, h lambda.Handler, payload []byte) events.APIGatewayProxyResponse {
	t.Helper()
	out, err := h.Invoke(context.Background(), payload)
	if err != nil {
		t.Fatalf("invoke: %v", err)
	}
	var resp events.APIGatewayProxyResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		t.Fatalf("response %s: %v", out, err)
	}
	return resp
}

func (f *fixture) connectEvent(t *testing.T, connID string, query map[string]string, headers map[string]string) events.APIGatewayProxyResponse {
	t.Helper()
	return invoke(t, f.connect, event(t, "apigw-websocket-request.json", func(r *events.APIGatewayWebsocketProxyRequest) {
		r.RequestContext.ConnectionID = connID
		r.RequestContext.RouteKey = "$connect"
		// API Gateway stamps the connection's opening; the fixture's is from 2019.
		r.RequestContext.ConnectedAt = time.Now().UnixMilli()
		r.QueryStringParameters = query
		r.MultiValueQueryStringParameters = nil
		for k, v := range headers {
			r.Headers[k] = v
		}
	}))
}

func (f *fixture) message(t *testing.T, connID, body string) {
	t.Helper()
	resp := invoke(t, f.send, event(t, "apigw-websocket-request-send-message.json", func(r *events.APIGatewayWebsocketProxyRequest) {
		r.RequestContext.ConnectionID = connID
		r.Body = body
	}))
	if resp.StatusCode != 200 {
		t.Fatalf("message handler answered %d", resp.StatusCode)
	}
}

func (f *fixture) disconnectEvent(t *testing.T, connID string, code int64) {
	t.Helper()
	resp := invoke(t, f.disconnect, event(t, "apigw-websocket-request-disconnect.json", func(r *events.APIGatewayWebsocketProxyRequest) {
		r.RequestContext.ConnectionID = connID
		r.RequestContext.DisconnectStatusCode = code
	}))
	if resp.StatusCode != 200 {
		t.Fatalf("disconnect handler answered %d: %s", resp.StatusCode, resp.Body)
	}
}

func TestConnectStatusCodes(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	token, err := f.svc.CreateTerminal(context.Background(), fleet.System("test"), "press-07", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		query   map[string]string
		headers map[string]string
		want    int
	}{
		{"bearer header", map[string]string{"terminal_id": "press-07"}, map[string]string{"authorization": "Bearer " + token}, 200},
		{"token query, id header", map[string]string{"token": token}, map[string]string{"X-Terminal-Id": "press-07"}, 200},
		{"no token", map[string]string{"terminal_id": "press-07"}, nil, 401},
		{"no terminal id", nil, map[string]string{"Authorization": "Bearer " + token}, 401},
		{"wrong token", map[string]string{"terminal_id": "press-07", "token": "est_wrong"}, nil, 403},
		{"unknown terminal", map[string]string{"terminal_id": "press-99", "token": token}, nil, 403},
		{"id with path characters", map[string]string{"terminal_id": "../press-07", "token": token}, nil, 400},
		{"id with control characters", map[string]string{"terminal_id": "press\n07", "token": token}, nil, 400},
		{"basic auth is not a token", map[string]string{"terminal_id": "press-07"}, map[string]string{"Authorization": "Basic " + token}, 401},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := f.connectEvent(t, fmt.Sprintf("conn-%d=", i), tt.query, tt.headers)
			if resp.StatusCode != tt.want {
				t.Fatalf("status: got %d (%s), want %d", resp.StatusCode, resp.Body, tt.want)
			}
			if tt.want != 200 {
				var body map[string]string
				if err := json.Unmarshal([]byte(resp.Body), &body); err != nil || body["code"] == "" || body["message"] == "" {
					t.Errorf("error body: got %q, want JSON with code and message", resp.Body)
				}
			}
		})
	}
}

// TestFullFlow drives connect → hello → the three pulls answered →
// logs → disconnect with API Gateway event JSON against the embedded store.
func TestFullFlow(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	token, err := f.svc.CreateTerminal(ctx, fleet.System("test"), "press-07", "Press 7", []string{"hall-a"})
	if err != nil {
		t.Fatal(err)
	}
	if resp := f.connectEvent(t, "R1kmxc2VNjMCFIA=", map[string]string{"terminal_id": "press-07"}, map[string]string{"Authorization": "Bearer " + token}); resp.StatusCode != 200 {
		t.Fatalf("connect: %d %s", resp.StatusCode, resp.Body)
	}
	f.message(t, "R1kmxc2VNjMCFIA=", `{"type":"hello","terminal_id":"press-07","agent_version":"1.0.0"}`)
	cmds := map[string]map[string]any{}
	for _, m := range f.push.take("R1kmxc2VNjMCFIA=") {
		cmds[m["command"].(string)] = m
	}
	if len(cmds) != 3 || cmds["get_status"] == nil || cmds["get_config"] == nil || cmds["get_logs"] == nil {
		t.Fatalf("after hello: got %v, want get_status, get_config, get_logs", cmds)
	}
	answer := func(name, result string) {
		f.message(t, "R1kmxc2VNjMCFIA=", fmt.Sprintf(`{"type":"command_response","request_id":%q,"command":%q,"success":true,"result":%s}`, cmds[name]["request_id"], name, result))
	}
	answer("get_config", `{"camera":{"fps":25},"threshold":0.8}`)
	answer("get_status", `{"cpu_percent":12.5,"memory_percent":40}`)
	answer("get_logs", `{"entries":[{"seq":1,"ts":"2026-11-27T10:00:00Z","level":"info","msg":"boot"},{"seq":2,"ts":"2026-11-27T10:00:01Z","level":"warn","msg":"cam slow"}]}`)
	f.message(t, "R1kmxc2VNjMCFIA=", `{"type":"logs","entries":[{"seq":3,"ts":"2026-11-27T10:00:02Z","level":"error","msg":"cam lost"}]}`)
	acks := f.push.take("R1kmxc2VNjMCFIA=")
	if len(acks) != 1 || acks[0]["type"] != "ack" || acks[0]["last_seq"] != float64(3) {
		t.Fatalf("after logs: got %v, want one ack of 3..3", acks)
	}
	for _, name := range []string{"get_config", "get_status", "get_logs"} {
		c, err := f.svc.Command(ctx, fleet.System("test"), "press-07", cmds[name]["request_id"].(string))
		if err != nil || c.State != fleet.CommandSucceeded {
			t.Errorf("%s command: state %v err %v, want succeeded", name, c.State, err)
		}
	}
	cfg, _ := f.svc.TerminalConfig(ctx, fleet.System("test"), "press-07")
	if !cfg.Fresh || string(cfg.Data) != `{"camera":{"fps":25},"threshold":0.8}` {
		t.Errorf("config: fresh=%v data=%s", cfg.Fresh, cfg.Data)
	}
	logs, _ := f.svc.TerminalLogs(ctx, fleet.System("test"), "press-07", fleet.LogQuery{})
	if len(logs.Entries) != 3 || logs.LastSeq != 3 {
		t.Errorf("logs: got %d lines, last seq %d; want 3, 3", len(logs.Entries), logs.LastSeq)
	}
	f.disconnectEvent(t, "R1kmxc2VNjMCFIA=", 1001)
	v, _ := f.svc.Terminal(ctx, fleet.System("test"), "press-07")
	if v.Online || v.DisconnectReason != "close 1001" {
		t.Errorf("after $disconnect: online=%v reason=%q, want offline, close 1001", v.Online, v.DisconnectReason)
	}
}

func TestMessageErrorsAreAnsweredNotFailed(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	token, _ := f.svc.CreateTerminal(context.Background(), fleet.System("test"), "t1", "", nil)
	f.connectEvent(t, "c1", map[string]string{"terminal_id": "t1", "token": token}, nil)
	f.message(t, "c1", `{"type":`)
	msgs := f.push.take("c1")
	if len(msgs) != 1 || msgs[0]["type"] != "error" || msgs[0]["code"] != "bad_json" {
		t.Fatalf("malformed JSON: got %v, want one bad_json error", msgs)
	}
	// A base64 body (binary frame) that does not decode is answered too.
	resp := invoke(t, f.send, event(t, "apigw-websocket-request-send-message.json", func(r *events.APIGatewayWebsocketProxyRequest) {
		r.RequestContext.ConnectionID = "c1"
		r.Body = "!!not base64"
		r.IsBase64Encoded = true
	}))
	if resp.StatusCode != 200 {
		t.Fatalf("binary garbage: status %d", resp.StatusCode)
	}
	if msgs := f.push.take("c1"); len(msgs) != 1 || msgs[0]["code"] != "bad_json" {
		t.Fatalf("binary garbage: got %v, want bad_json", msgs)
	}
}
