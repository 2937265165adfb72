package chaostest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/edgesync/edgesync/devstack"
	"github.com/edgesync/edgesync/fleet"
	"github.com/edgesync/edgesync/infra/embedded"
	"github.com/edgesync/edgesync/internal/poll"
	"github.com/edgesync/edgesync/protocol"
)

// startStack starts a local stack on the embedded store for one test.
func startStack(t *testing.T, params map[string]string, wrap func(fleet.Store) fleet.Store) *devstack.Stack {
	t.Helper()
	s, err := devstack.Start(context.Background(), devstack.Config{
		HTTPAddr: "127.0.0.1:0", WSAddr: "127.0.0.1:0", DataDir: t.TempDir(), Logger: quiet(),
		Parameters: params, WrapStore: wrap,
	})
	if err != nil {
		t.Fatalf("start local stack: %v", err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	return s
}

// rawTerminal is a minimal terminal speaking the protocol over a WebSocket:
// it answers the pulls that follow its hello, then says only what the test
// makes it say.
type rawTerminal struct {
	conn *websocket.Conn
	mu   sync.Mutex
	got  []map[string]any
}

func dialTerminal(t *testing.T, s *devstack.Stack, id, token string) *rawTerminal {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, s.WSURL+"?terminal_id="+id, &websocket.DialOptions{
		HTTPHeader: http.Header{"Authorization": {"Bearer " + token}},
	})
	if err != nil {
		t.Fatalf("dial %s: %v", id, err)
	}
	t.Cleanup(func() { conn.CloseNow() })
	rt := &rawTerminal{conn: conn}
	rt.say(t, `{"type":"hello","agent_version":"raw"}`)
	answers := map[string]string{
		protocol.CommandGetStatus: `{"cpu_percent":1}`,
		protocol.CommandGetConfig: `{"threshold":0.5}`,
		protocol.CommandGetLogs:   `{"entries":[]}`,
	}
	for range 3 {
		_, data, err := conn.Read(ctx)
		if err != nil {
			t.Fatalf("%s: read pull: %v", id, err)
		}
		var cmd protocol.Command
		if err := json.Unmarshal(data, &cmd); err != nil || cmd.Type != protocol.TypeCommand {
			t.Fatalf("%s: after hello got %s, want a command", id, data)
		}
		rt.say(t, fmt.Sprintf(`{"type":"command_response","request_id":%q,"command":%q,"success":true,"result":%s}`, cmd.RequestID, cmd.Command, answers[cmd.Command]))
	}
	go func() { // keep reading, so pushes never block; record them
		for {
			_, data, err := conn.Read(context.Background())
			if err != nil {
				return
			}
			var m map[string]any
			_ = json.Unmarshal(data, &m)
			rt.mu.Lock()
			rt.got = append(rt.got, m)
			rt.mu.Unlock()
		}
	}()
	return rt
}

func (rt *rawTerminal) say(t *testing.T, msg string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := rt.conn.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
		t.Fatalf("send %s: %v", msg, err)
	}
}

type terminalView struct {
	Online           bool      `json:"online"`
	Inactive         bool      `json:"inactive"`
	LastSeen         time.Time `json:"lastSeen"`
	DisconnectReason string    `json:"disconnectReason"`
}

func getTerminal(t *testing.T, s *devstack.Stack, id string) terminalView {
	t.Helper()
	var v terminalView
	if err := getJSON(s, s.HTTPURL+"/terminals/"+id, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// post sends an authorised POST and returns the status and error code.
func post(t *testing.T, s *devstack.Stack, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.HTTPURL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token := bearer(s); token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var e struct {
		Code string `json:"code"`
	}
	_ = json.Unmarshal(data, &e)
	return resp.StatusCode, e.Code
}

// TestSilentTerminalReadsOffline: a terminal that stops sending without
// closing its connection (so $disconnect never comes) reads offline once
// InactivityTimeout has passed without a message, refuses commands as
// offline, and reads online again as soon as it speaks.
func TestSilentTerminalReadsOffline(t *testing.T) {
	t.Parallel()
	const timeout = 3 * time.Second
	s := startStack(t, map[string]string{"InactivityTimeout": "3", "HeartbeatInterval": "1"}, nil)
	token, err := s.Admin().CreateTerminal(context.Background(), fleet.System("test"), "quiet-1", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	rt := dialTerminal(t, s, "quiet-1", token)

	// While it speaks, it reads online: a heartbeat, then a read, and the
	// check only counts when the read came within the timeout.
	for checked := false; !checked; {
		sent := time.Now()
		rt.say(t, `{"type":"heartbeat"}`)
		v := getTerminal(t, s, "quiet-1")
		if time.Since(sent) < timeout {
			if !v.Online || v.Inactive {
				t.Fatalf("right after a heartbeat: online %v inactive %v, want online", v.Online, v.Inactive)
			}
			checked = true
		}
	}

	silentSince := time.Now()
	var v terminalView
	poll.Until(t, "silent terminal reads offline", func() bool {
		v = getTerminal(t, s, "quiet-1")
		return !v.Online
	})
	if !v.Inactive {
		t.Errorf("silent terminal: inactive %v, want true (marked online, not heard from)", v.Inactive)
	}
	if quiet := time.Since(v.LastSeen); quiet < timeout {
		t.Errorf("read offline %v after its last message, before the %v inactivity timeout", quiet, timeout)
	}
	t.Logf("read offline %v after it fell silent (inactivity timeout %v)", time.Since(silentSince).Round(10*time.Millisecond), timeout)

	// $disconnect never came: the record still names the connection.
	rec, err := s.Admin().Store().Terminal(context.Background(), "quiet-1")
	if err != nil {
		t.Fatal(err)
	}
	if !rec.Online || rec.ConnectionID == "" {
		t.Errorf("stored record: online %v connection %q; want still marked online (no $disconnect)", rec.Online, rec.ConnectionID)
	}
	if n := s.Stats().Invocations["DisconnectFunction"]; n != 0 {
		t.Errorf("$disconnect ran %d times, want 0 (the connection is open)", n)
	}
	if code, errCode := post(t, s, "/terminals/quiet-1/commands", `{"command":"ping"}`); code != http.StatusConflict || errCode != "offline" {
		t.Errorf("command to a silent terminal: %d %q, want 409 offline", code, errCode)
	}

	rt.say(t, `{"type":"heartbeat"}`)
	poll.Until(t, "online again after it speaks", func() bool { return getTerminal(t, s, "quiet-1").Online })
}

// losingDisconnects is a store on which MarkOffline and DeleteConnection
// do nothing while lose is set: $disconnect is lost, as when API Gateway
// never delivers it.
type losingDisconnects struct {
	fleet.Store
	lose atomic.Bool
	lost atomic.Int64
}

func (l *losingDisconnects) MarkOffline(ctx context.Context, id, connID string, at time.Time, reason string) (bool, error) {
	if l.lose.Load() {
		l.lost.Add(1)
		return false, nil
	}
	return l.Store.MarkOffline(ctx, id, connID, at, reason)
}

func (l *losingDisconnects) DeleteConnection(ctx context.Context, connID string) error {
	if l.lose.Load() {
		return nil
	}
	return l.Store.DeleteConnection(ctx, connID)
}

// TestGoneConnectionIsCleanedUp: the terminal's connection is gone but
// its $disconnect was lost, so the record still says online. The next push
// to it gets 410 from the management API, which ends the connection: the
// terminal reads offline with reason "gone", the connection record is
// deleted, and the request that pushed answers 409 offline.
func TestGoneConnectionIsCleanedUp(t *testing.T) {
	t.Parallel()
	store := &losingDisconnects{}
	s := startStack(t, map[string]string{"InactivityTimeout": "60"}, func(inner fleet.Store) fleet.Store {
		store.Store = inner
		return store
	})
	token, err := s.Admin().CreateTerminal(context.Background(), fleet.System("test"), "gone-1", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	rt := dialTerminal(t, s, "gone-1", token)
	rec, err := store.Terminal(context.Background(), "gone-1")
	if err != nil || rec.ConnectionID == "" {
		t.Fatalf("after hello: %+v %v, want a current connection", rec, err)
	}
	connID := rec.ConnectionID

	store.lose.Store(true)
	rt.conn.Close(websocket.StatusNormalClosure, "bye")
	poll.Until(t, "$disconnect ran (and was lost)", func() bool { return store.lost.Load() > 0 })
	store.lose.Store(false)
	if v := getTerminal(t, s, "gone-1"); !v.Online {
		t.Fatalf("after a lost $disconnect: online %v, want still online (the test needs the stale record)", v.Online)
	}

	if code, errCode := post(t, s, "/terminals/gone-1/sync", ""); code != http.StatusConflict || errCode != "offline" {
		t.Errorf("sync to a gone connection: %d %q, want 409 offline", code, errCode)
	}
	v := getTerminal(t, s, "gone-1")
	if v.Online || v.DisconnectReason != "gone" {
		t.Errorf("after the 410: online %v reason %q, want offline, gone", v.Online, v.DisconnectReason)
	}
	if _, err := store.Connection(context.Background(), connID, time.Now()); !errors.Is(err, fleet.ErrNotFound) {
		t.Errorf("connection record after the 410: %v, want ErrNotFound (deleted)", err)
	}
}

// recorder is a pusher that keeps what it was asked to push.
type recorder struct {
	mu   sync.Mutex
	msgs []string
}

func (r *recorder) Push(_ context.Context, _ string, msg []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, string(msg))
	return nil
}

// TestConnectionRecordsExpire: a connection record carries a TTL
// (ConnectionTTL), because $disconnect is best effort. Past it, the store
// reads it as absent, the embedded store's sweep (DynamoDB's TTL deletion,
// locally) removes it, and a fresh function instance refuses messages on
// that connection.
func TestConnectionRecordsExpire(t *testing.T) {
	t.Parallel()
	var inner *embedded.Store
	s := startStack(t, map[string]string{"ConnectionTTL": "2"}, func(st fleet.Store) fleet.Store {
		inner = st.(*embedded.Store)
		return st
	})
	token, err := s.Admin().CreateTerminal(context.Background(), fleet.System("test"), "ttl-1", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	dialed := time.Now()
	dialTerminal(t, s, "ttl-1", token)
	rec, err := inner.Terminal(context.Background(), "ttl-1")
	if err != nil || rec.ConnectionID == "" {
		t.Fatalf("after hello: %+v %v, want a current connection", rec, err)
	}
	// The record must be there while its TTL runs (checked only if this
	// machine got here within it).
	conn, err := inner.Connection(context.Background(), rec.ConnectionID, time.Now())
	switch {
	case err == nil:
		if ttl := conn.ExpiresAt.Sub(conn.ConnectedAt); ttl != 2*time.Second {
			t.Errorf("connection record TTL %v, want 2s (ConnectionTTL)", ttl)
		}
	case time.Since(dialed) < 2*time.Second:
		t.Fatalf("connection record right after connecting: %v", err)
	}

	poll.Until(t, "connection record expired", func() bool {
		_, err := inner.Connection(context.Background(), rec.ConnectionID, time.Now())
		return errors.Is(err, fleet.ErrNotFound)
	})
	n, err := inner.Sweep(time.Now())
	if err != nil || n < 1 {
		t.Errorf("sweep after expiry: removed %d, %v; want the connection record removed", n, err)
	}

	// A new function instance (no cached binding) must refuse the connection.
	pushed := &recorder{}
	svc := fleet.NewService(inner, pushed, fleet.DefaultConfig())
	if err := svc.HandleMessage(context.Background(), rec.ConnectionID, []byte(`{"type":"heartbeat"}`)); err != nil {
		t.Fatalf("message on an expired connection: %v", err)
	}
	want := `{"type":"error","code":"forbidden","message":"connection is not registered; reconnect"}`
	if len(pushed.msgs) != 1 || pushed.msgs[0] != want {
		t.Errorf("answer to a message on an expired connection: %q, want [%s]", pushed.msgs, want)
	}
}
