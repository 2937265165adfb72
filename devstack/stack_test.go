package devstack_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"
	"github.com/coder/websocket"

	"github.com/edgesync/edgesync/agent"
	"github.com/edgesync/edgesync/devstack"
	"github.com/edgesync/edgesync/devstack/gateway"
	"github.com/edgesync/edgesync/fleet"
	"github.com/edgesync/edgesync/infra/apigw"
	"github.com/edgesync/edgesync/internal/dynalite"
	"github.com/edgesync/edgesync/internal/poll"
	"github.com/edgesync/edgesync/internal/testenv"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func start(t *testing.T, cfg devstack.Config) *devstack.Stack {
	t.Helper()
	cfg.HTTPAddr, cfg.WSAddr = "127.0.0.1:0", "127.0.0.1:0"
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	cfg.Logger = quiet()
	s, err := devstack.Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("start local stack: %v", err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	tokens.Store(s.HTTPURL, s.Users["admin"])
	return s
}

// runAgent starts a real agent for terminal id against the stack; stop ends
// it gracefully (it flushes and closes with a normal closure).
func runAgent(t *testing.T, s *devstack.Stack, id, token, spool string) (a *agent.Agent, stop func()) {
	t.Helper()
	cfg := agent.DefaultConfig()
	cfg.TerminalID, cfg.ServerURL, cfg.Token, cfg.SpoolDir = id, s.WSURL, token, spool
	cfg.ReconnectAttempts = 0
	a, err := agent.New(cfg, agent.WithLogger(quiet()), agent.WithAgentVersion("e2e"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer scancel()
		if err := a.Shutdown(sctx); err != nil {
			t.Errorf("agent shutdown: %v", err)
		}
		cancel()
		<-done
		a.Close()
	}
	t.Cleanup(stop)
	return a, stop
}

// adminToken authenticates the tests' HTTP calls (set per stack in start).
var tokens sync.Map // base URL → admin token

func authorized(method, url string, body io.Reader) *http.Request {
	req, _ := http.NewRequest(method, url, body)
	tokens.Range(func(k, v any) bool {
		if strings.HasPrefix(url, k.(string)) {
			req.Header.Set("Authorization", "Bearer "+v.(string))
		}
		return true
	})
	return req
}

func getJSON(t *testing.T, url string, v any) int {
	t.Helper()
	resp, err := http.DefaultClient.Do(authorized("GET", url, nil))
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: decode: %v", url, err)
	}
	return resp.StatusCode
}

func postJSON(t *testing.T, url, body string, v any) int {
	t.Helper()
	req := authorized("POST", url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("POST %s: decode: %v", url, err)
	}
	return resp.StatusCode
}

type logPage struct {
	Entries []struct {
		Seq uint64 `json:"seq"`
		Msg string `json:"msg"`
	} `json:"entries"`
	NextCursor string `json:"nextCursor"`
	LastSeq    uint64 `json:"lastSeq"`
	Online     bool   `json:"online"`
}

// allLines reads every stored line forward through the HTTP API's cursor.
func allLines(t *testing.T, s *devstack.Stack, id string) []uint64 {
	t.Helper()
	var seqs []uint64
	url := fmt.Sprintf("%s/terminals/%s/logs/?since=0&count=1000", s.HTTPURL, id)
	for {
		var page logPage
		if code := getJSON(t, url, &page); code != 200 {
			t.Fatalf("GET logs: %d", code)
		}
		for _, e := range page.Entries {
			seqs = append(seqs, e.Seq)
		}
		if len(page.Entries) == 0 {
			return seqs
		}
		url = fmt.Sprintf("%s/terminals/%s/logs/?cursor=%s&count=1000", s.HTTPURL, id, page.NextCursor)
	}
}

func checkExactlyOnce(t *testing.T, seqs []uint64, n uint64) {
	t.Helper()
	if uint64(len(seqs)) != n {
		t.Fatalf("read %d lines, want %d", len(seqs), n)
	}
	for i, s := range seqs {
		if s != uint64(i+1) {
			t.Fatalf("line %d has seq %d, want %d (each seq once, in order)", i, s, i+1)
		}
	}
}

type doc struct {
	Online      bool            `json:"online"`
	Fresh       bool            `json:"fresh"`
	SyncedAt    time.Time       `json:"syncedAt"`
	ConfirmedAt time.Time       `json:"confirmedAt"`
	Data        json.RawMessage `json:"data"`
}

// TestAgentsThroughTheStack: real agents over real WebSockets through the
// emulator into the store, read over HTTP; then disconnect → offline →
// reconnect → resync, and a command's outcome.
func TestAgentsThroughTheStack(t *testing.T) {
	t.Parallel()
	s := start(t, devstack.Config{})
	testFlow(t, s)
}

func testFlow(t *testing.T, s *devstack.Stack) {
	ctx := context.Background()
	token, err := s.Admin().CreateTerminal(ctx, fleet.System("test"), "press-07", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	spool := filepath.Join(t.TempDir(), "spool")
	a, stop := runAgent(t, s, "press-07", token, spool)
	base := s.HTTPURL + "/terminals/press-07"

	var cfg doc
	poll.Until(t, "config synced after hello", func() bool {
		return getJSON(t, base+"/config/", &cfg) == 200 && cfg.Fresh && cfg.Online
	})
	var st doc
	poll.Until(t, "status synced after hello", func() bool { return getJSON(t, base+"/status", &st) == 200 && st.Fresh })
	if strings.Contains(string(cfg.Data), token) {
		t.Errorf("config shows the terminal's token: %s", cfg.Data)
	}

	const lines = 500
	for i := 1; i <= lines; i++ {
		a.Log("info", fmt.Sprintf("line %d", i), "e2e")
	}
	poll.Until(t, "every line readable", func() bool { return uint64(len(allLines(t, s, "press-07"))) >= lines })
	checkExactlyOnce(t, allLines(t, s, "press-07"), lines)

	var cmd fleet.Command
	if code := postJSON(t, base+"/commands", `{"command":"ping"}`, &cmd); code != 202 {
		t.Fatalf("POST command: %d", code)
	}
	poll.Until(t, "ping answered", func() bool {
		getJSON(t, base+"/commands/"+cmd.RequestID, &cmd)
		return cmd.State != fleet.CommandPending
	})
	if cmd.State != fleet.CommandSucceeded {
		t.Fatalf("ping: %s (%s), want succeeded", cmd.State, cmd.Error)
	}

	stop()
	var term struct {
		Online           bool   `json:"online"`
		DisconnectReason string `json:"disconnectReason"`
	}
	poll.Until(t, "offline after the agent stopped", func() bool { getJSON(t, base, &term); return !term.Online })
	if term.DisconnectReason == "" {
		t.Errorf("offline terminal has no disconnect reason")
	}
	before := cfg.SyncedAt

	a, _ = runAgent(t, s, "press-07", token, spool)
	// Today's agent names the config it runs in its hello and reports: the
	// stored version is confirmed (no pull) or, had it changed, pulled.
	poll.Until(t, "config current after reconnect", func() bool {
		return getJSON(t, base+"/config", &cfg) == 200 && cfg.Online && cfg.Fresh && (cfg.SyncedAt.After(before) || cfg.ConfirmedAt.After(before))
	})
	a.Log("warn", "after reconnect", "e2e")
	poll.Until(t, "line after reconnect readable", func() bool { return uint64(len(allLines(t, s, "press-07"))) == lines+1 })
	checkExactlyOnce(t, allLines(t, s, "press-07"), lines+1)

	var sync struct {
		Commands []fleet.Command `json:"commands"`
	}
	if code := postJSON(t, base+"/sync", "", &sync); code != 202 || len(sync.Commands) != 3 {
		t.Fatalf("sync: %d %v", code, sync)
	}
	for _, c := range sync.Commands {
		poll.Until(t, c.Name+" of the resync answered", func() bool {
			var got fleet.Command
			getJSON(t, base+"/commands/"+c.RequestID, &got)
			return got.State == fleet.CommandSucceeded
		})
	}
}

// TestOversizedMessageClosesWith1009 sends a 129 KB message on a terminal's
// connection: the emulator closes it with 1009, as API Gateway does.
func TestOversizedMessageClosesWith1009(t *testing.T) {
	t.Parallel()
	s := start(t, devstack.Config{})
	token, err := s.Admin().CreateTerminal(context.Background(), fleet.System("test"), "t1", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, s.WSURL+"?terminal_id=t1", &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + token}}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	w, err := conn.Writer(ctx, websocket.MessageText)
	if err != nil {
		t.Fatal(err)
	}
	chunk := []byte(`{"type":"heartbeat","pad":"` + strings.Repeat("x", 16*1024))
	for written := 0; written < 129*1024; written += len(chunk) {
		if _, err := w.Write(chunk); err != nil {
			break // the server may close before the end
		}
		chunk = []byte(strings.Repeat("x", 16*1024))
	}
	w.Close()
	_, _, err = conn.Read(ctx)
	if got := websocket.CloseStatus(err); got != websocket.StatusMessageTooBig {
		t.Fatalf("close status: got %v (%v), want 1009", got, err)
	}
}

// TestManagementAPIThroughSDK posts to a live connection with the AWS SDK's
// signed client, and gets 410 (fleet.ErrGone) for a connection that is gone.
func TestManagementAPIThroughSDK(t *testing.T) {
	t.Parallel()
	s := start(t, devstack.Config{})
	token, _ := s.Admin().CreateTerminal(context.Background(), fleet.System("test"), "t1", "", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, s.WSURL+"?terminal_id=t1&token="+token, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	pusher := apigw.New(apigatewaymanagementapi.New(apigatewaymanagementapi.Options{
		Region: devstack.Region, BaseEndpoint: aws.String(s.ConnectionsURL),
		Credentials: credentials.NewStaticCredentialsProvider("k", "s", ""),
	}))
	// The hello makes the server push three commands, proving the binding.
	// A client cannot learn its connection id, so the test reads it from
	// the terminal's record.
	if err := conn.Write(ctx, websocket.MessageText, []byte(`{"type":"hello"}`)); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, msg, err := conn.Read(ctx); err != nil || !strings.Contains(string(msg), `"type":"command"`) {
			t.Fatalf("after hello: %s %v", msg, err)
		}
	}
	term, err := s.Admin().Store().Terminal(ctx, "t1")
	if err != nil {
		t.Fatal(err)
	}
	if err := pusher.Push(ctx, term.ConnectionID, []byte(`{"type":"ack","of":"test"}`)); err != nil {
		t.Fatalf("signed PostToConnection: %v", err)
	}
	if _, msg, err := conn.Read(ctx); err != nil || string(msg) != `{"type":"ack","of":"test"}` {
		t.Fatalf("pushed message: got %s %v", msg, err)
	}
	conn.Close(websocket.StatusNormalClosure, "bye")
	poll.Until(t, "410 after close", func() bool {
		return errors.Is(pusher.Push(ctx, term.ConnectionID, []byte(`{}`)), fleet.ErrGone)
	})
}

// TestRIEMode runs the same flow with each function's real bootstrap under
// aws-lambda-runtime-interface-emulator, on DynamoDB (dynalite).
func TestRIEMode(t *testing.T) {
	t.Parallel()
	if _, err := gateway.LookRIE(); errors.Is(err, gateway.ErrRIENotFound) {
		testenv.Missing(t, "aws-lambda-rie", err.Error(), "make tools")
	}
	db := dynalite.ForTest(t)
	s := start(t, devstack.Config{Lambda: devstack.LambdaRIE, DynamoDBEndpoint: db.Endpoint()})
	testFlow(t, s)
	starts := s.ColdStarts()
	if len(starts) < 4 {
		t.Errorf("cold starts recorded: %d, want one at least per function", len(starts))
	}
	for _, c := range starts {
		t.Logf("cold start %s: init %v", c.Function, c.InitDuration)
	}
}

// TestAccessControl: the HTTP API's JWT authorizer and the query
// function's roles and groups, from real signed tokens of the local issuer.
func TestAccessControl(t *testing.T) {
	t.Parallel()
	s := start(t, devstack.Config{})
	ctx := context.Background()
	admin := fleet.System("test")
	if _, err := s.Admin().CreateTerminal(ctx, admin, "in-demo", "", []string{"demo"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Admin().CreateTerminal(ctx, admin, "elsewhere", "", []string{"hall-b"}); err != nil {
		t.Fatal(err)
	}
	iss := s.Issuer()
	expired, _ := iss.Sign(map[string]any{"iss": devstack.LocalIssuer, "aud": devstack.LocalAudience, "sub": "x", "exp": time.Now().Add(-time.Minute).Unix(), "cognito:groups": []string{"admin"}})
	wrongAud, _ := iss.Sign(map[string]any{"iss": devstack.LocalIssuer, "aud": "someone-else", "sub": "x", "exp": time.Now().Add(time.Hour).Unix(), "cognito:groups": []string{"admin"}})
	wrongIss, _ := iss.Sign(map[string]any{"iss": "https://evil.example", "aud": devstack.LocalAudience, "sub": "x", "exp": time.Now().Add(time.Hour).Unix(), "cognito:groups": []string{"admin"}})
	noRole, _ := iss.Mint("nobody", []string{"demo"}, time.Hour)
	tests := []struct {
		name, method, path, token string
		want                      int
	}{
		{"no token", "GET", "/terminals", "", 401},
		{"garbage token", "GET", "/terminals", "not.a.jwt", 401},
		{"expired", "GET", "/terminals", expired, 401},
		{"wrong audience", "GET", "/terminals", wrongAud, 401},
		{"wrong issuer", "GET", "/terminals", wrongIss, 401},
		{"no role", "GET", "/terminals", noRole, 403},
		{"viewer reads own group", "GET", "/terminals/in-demo/config", s.Users["viewer"], 200},
		{"viewer outside groups: as absent", "GET", "/terminals/elsewhere/config", s.Users["viewer"], 404},
		{"viewer changes config", "PUT", "/terminals/in-demo/config", s.Users["viewer"], 403},
		{"viewer sends command", "POST", "/terminals/in-demo/commands", s.Users["viewer"], 403},
		{"operator reads audit", "GET", "/audit", s.Users["operator"], 403},
		{"operator rotates token", "POST", "/terminals/in-demo/credentials/rotate", s.Users["operator"], 403},
		{"admin reads other group", "GET", "/terminals/elsewhere/logs/", s.Users["admin"], 200},
		{"admin reads audit", "GET", "/audit", s.Users["admin"], 200},
		{"dashboard is public", "GET", "/", "", 200},
		{"health is public", "GET", "/healthz", "", 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := strings.NewReader("{}")
			req, _ := http.NewRequest(tt.method, s.HTTPURL+tt.path, body)
			req.Header.Set("Content-Type", "application/json")
			if tt.token != "" {
				req.Header.Set("Authorization", "Bearer "+tt.token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Fatalf("got %d, want %d", resp.StatusCode, tt.want)
			}
		})
	}
	// The viewer's list shows only terminals of its groups.
	var list struct {
		Terminals []struct{ ID string } `json:"terminals"`
	}
	req, _ := http.NewRequest("GET", s.HTTPURL+"/terminals", nil)
	req.Header.Set("Authorization", "Bearer "+s.Users["viewer"])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	json.NewDecoder(resp.Body).Decode(&list)
	resp.Body.Close()
	if len(list.Terminals) != 1 || list.Terminals[0].ID != "in-demo" {
		t.Errorf("viewer's terminal list: got %+v, want only in-demo", list.Terminals)
	}
	// Denied requests are in the audit trail.
	var audit struct {
		Records []fleet.AuditRecord `json:"records"`
	}
	getJSON(t, s.HTTPURL+"/audit?action=request.denied", &audit)
	if len(audit.Records) < 4 {
		t.Errorf("denied requests audited: %d, want at least 4", len(audit.Records))
	}
}

// TestMetricsEndpoint: the figures the functions emit as EMF in AWS are
// served by the local stack.
func TestMetricsEndpoint(t *testing.T) {
	t.Parallel()
	s := start(t, devstack.Config{Demo: 1, DemoLinesPerSecond: 20})
	base := s.HTTPURL + "/terminals/demo-1"
	poll.Until(t, "demo status synced", func() bool {
		var st doc
		return getJSON(t, base+"/status", &st) == 200 && st.Fresh
	})
	var m devstack.MetricsSnapshot
	poll.Until(t, "metrics counted", func() bool {
		resp, err := http.Get(s.MetricsURL)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		m = devstack.MetricsSnapshot{}
		json.NewDecoder(resp.Body).Decode(&m)
		// Today's agent reports its status in the hello and syncs
		// incrementally: the hello pulls its config alone.
		return m.Totals[fleet.MetricConnects] >= 1 && m.Totals[fleet.MetricLogLines] > 0 && m.Latencies[fleet.MetricSyncLatency].Count >= 1
	})
	if m.CacheHitRate <= 0 || m.Latencies[fleet.MetricAPILatency].Count == 0 || m.Latencies[fleet.MetricLogDelay].Count == 0 {
		t.Errorf("metrics: %+v", m)
	}
}
