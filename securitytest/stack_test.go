package securitytest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/edgesync/edgesync/agent"
	"github.com/edgesync/edgesync/devstack"
	"github.com/edgesync/edgesync/fleet"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// start runs a local stack for one test: the embedded store, the
// functions in process, ports chosen by the system; params override
// template.yaml parameters as --param does.
func start(t *testing.T, params map[string]string) *devstack.Stack {
	t.Helper()
	s, err := devstack.Start(context.Background(), devstack.Config{
		HTTPAddr: "127.0.0.1:0", WSAddr: "127.0.0.1:0", DataDir: t.TempDir(), Logger: quiet(), Parameters: params,
	})
	if err != nil {
		t.Fatalf("start local stack: %v", err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	return s
}

// terminal registers a terminal in group "demo" (the group of the stack's
// operator and viewer) and returns its token.
func terminal(t *testing.T, s *devstack.Stack, id string) string {
	t.Helper()
	token, err := s.Admin().CreateTerminal(context.Background(), fleet.System("securitytest"), id, "", []string{"demo"})
	if err != nil {
		t.Fatal(err)
	}
	return token
}

// runAgent runs the real Go agent for terminal id against the stack until
// the test ends.
func runAgent(t *testing.T, s *devstack.Stack, id, token string) *agent.Agent {
	t.Helper()
	cfg := agent.DefaultConfig()
	cfg.TerminalID, cfg.ServerURL, cfg.Token, cfg.SpoolDir = id, s.WSURL, token, filepath.Join(t.TempDir(), "spool")
	cfg.ReconnectAttempts = 0
	a, err := agent.New(cfg, agent.WithLogger(quiet()), agent.WithAgentVersion("securitytest"), agent.WithBackoff(50*time.Millisecond, 500*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
		a.Close()
	})
	return a
}

// answer is an HTTP API answer: the status and the body, decoded when JSON.
type answer struct {
	status int
	body   map[string]any
	raw    string
}

// call makes an HTTP API request as the holder of bearer token.
func call(t *testing.T, s *devstack.Stack, token, method, path, body string) answer {
	t.Helper()
	req, err := http.NewRequest(method, s.HTTPURL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, raw: string(raw)}
	_ = json.Unmarshal(raw, &a.body)
	return a
}

// rawTerminal is a terminal speaking the protocol by hand over a real
// WebSocket: it sends what the attack needs, which the agent never would.
type rawTerminal struct {
	t    *testing.T
	conn *websocket.Conn
	in   chan map[string]any
	done chan error // the close (or read error) that ended the connection
}

// dialTerminal connects as terminal id with token. It fails the test
// unless the handshake succeeds.
func dialTerminal(t *testing.T, s *devstack.Stack, id, token string) *rawTerminal {
	t.Helper()
	rt, status, err := tryDial(t, s, id, token)
	if err != nil {
		t.Fatalf("connect as %s: %v (HTTP %d)", id, err, status)
	}
	return rt
}

// tryDial connects as terminal id with token; status is the handshake's
// HTTP status when it was refused.
func tryDial(t *testing.T, s *devstack.Stack, id, token string) (*rawTerminal, int, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	h := http.Header{"Authorization": {"Bearer " + token}}
	c, resp, err := websocket.Dial(ctx, s.WSURL+"?terminal_id="+url.QueryEscape(id), &websocket.DialOptions{HTTPHeader: h})
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		return nil, status, err
	}
	c.SetReadLimit(1 << 20)
	rt := &rawTerminal{t: t, conn: c, in: make(chan map[string]any, 100), done: make(chan error, 1)}
	go func() {
		for {
			_, data, err := c.Read(context.Background())
			if err != nil {
				rt.done <- err
				close(rt.in)
				return
			}
			var m map[string]any
			_ = json.Unmarshal(data, &m)
			rt.in <- m
		}
	}()
	t.Cleanup(func() { c.CloseNow() })
	return rt, 0, nil
}

// send writes msg as one JSON text message.
func (rt *rawTerminal) send(msg any) {
	rt.t.Helper()
	raw, err := json.Marshal(msg)
	if err != nil {
		rt.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := rt.conn.Write(ctx, websocket.MessageText, raw); err != nil {
		rt.t.Fatalf("send %s: %v", raw, err)
	}
}

// next returns the next message the server sent whose type is typ (and,
// for commands, whose command is command), skipping others; nil when the
// connection closed first.
func (rt *rawTerminal) next(typ, command string) map[string]any {
	rt.t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case m, ok := <-rt.in:
			if !ok {
				return nil
			}
			if m["type"] == typ && (command == "" || m["command"] == command) {
				return m
			}
		case <-timeout:
			rt.t.Fatalf("no %s %s from the server", typ, command)
		}
	}
}

// closed waits for the server to close the connection and returns the
// close status.
func (rt *rawTerminal) closed() websocket.StatusCode {
	rt.t.Helper()
	for {
		select {
		case _, ok := <-rt.in:
			if !ok {
				return websocket.CloseStatus(<-rt.done)
			}
		case <-time.After(30 * time.Second):
			rt.t.Fatal("the server did not close the connection")
		}
	}
}

// hello sends hello and answers the pull it triggers: status, a config,
// no logs.
func (rt *rawTerminal) hello(id, config string) {
	rt.t.Helper()
	rt.send(map[string]any{"type": "hello", "terminal_id": id, "agent_version": "raw"})
	for _, name := range []string{"get_status", "get_config", "get_logs"} {
		cmd := rt.next("command", name)
		if cmd == nil {
			rt.t.Fatalf("connection closed before the %s pull", name)
		}
		result := map[string]string{"get_status": `{"cpu_percent":1}`, "get_config": config, "get_logs": `{"entries":[]}`}[name]
		rt.respond(cmd, true, json.RawMessage(result))
	}
}

// respond answers a command.
func (rt *rawTerminal) respond(cmd map[string]any, success bool, result any) {
	rt.t.Helper()
	msg := map[string]any{"type": "command_response", "request_id": cmd["request_id"], "command": cmd["command"], "success": success}
	if success {
		msg["result"] = result
	} else {
		msg["error"] = fmt.Sprint(result)
	}
	rt.send(msg)
}

// logLine is one log entry as the protocol sends it.
func logLine(seq uint64, attrs map[string]string) map[string]any {
	e := map[string]any{"seq": seq, "ts": time.Now().UTC().Format(time.RFC3339Nano), "level": "info", "msg": fmt.Sprintf("line %d", seq)}
	if attrs != nil {
		e["attrs"] = attrs
	}
	return e
}

// pretty shortens a body for a failure message.
func pretty(raw string) string {
	var b bytes.Buffer
	if json.Compact(&b, []byte(raw)) == nil {
		raw = b.String()
	}
	if len(raw) > 600 {
		raw = raw[:600] + "…"
	}
	return raw
}

func TestMain(m *testing.M) {
	// The functions log every request; a failing test says what it saw.
	slog.SetDefault(quiet())
	os.Exit(m.Run())
}
