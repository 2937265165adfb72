package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi/types"
	"github.com/coder/websocket"
)

// wsFixture is a WebSocketAPI with recording test functions behind it, its
// client side and its management API on two httptest servers, and an AWS SDK
// management client pointed at the latter.
type wsFixture struct {
	api       *WebSocketAPI
	clientURL string // ws://…/prod
	mgmtURL   string // http://…/prod (the SDK's BaseEndpoint)
	sdk       *apigatewaymanagementapi.Client

	connects    chan events.APIGatewayWebsocketProxyRequest
	disconnects chan events.APIGatewayWebsocketProxyRequest
	messages    chan events.APIGatewayWebsocketProxyRequest

	// block, if set, is called by the message function for bodies
	// containing "block".
	block func(ctx context.Context) error

	mu      sync.Mutex
	clients []*websocket.Conn
}

func newWSFixture(t *testing.T, tweak func(*WebSocketConfig)) *wsFixture {
	t.Helper()
	f := &wsFixture{
		connects:    make(chan events.APIGatewayWebsocketProxyRequest, 100),
		disconnects: make(chan events.APIGatewayWebsocketProxyRequest, 100),
		messages:    make(chan events.APIGatewayWebsocketProxyRequest, 100),
	}
	connect := func(ctx context.Context, req events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
		f.connects <- req
		switch s := req.QueryStringParameters["status"]; s {
		case "":
			resp := events.APIGatewayProxyResponse{StatusCode: 200}
			if p := req.QueryStringParameters["protocol"]; p != "" {
				resp.Headers = map[string]string{"Sec-WebSocket-Protocol": p}
			}
			return resp, nil
		case "error":
			return events.APIGatewayProxyResponse{}, errors.New("connect exploded")
		default:
			code, _ := strconv.Atoi(s)
			return events.APIGatewayProxyResponse{StatusCode: code, Body: "refused"}, nil
		}
	}
	disconnect := func(ctx context.Context, req events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
		f.disconnects <- req
		return events.APIGatewayProxyResponse{StatusCode: 200}, nil
	}
	message := func(ctx context.Context, req events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
		if strings.Contains(req.Body, "block") && f.block != nil {
			if err := f.block(ctx); err != nil {
				return events.APIGatewayProxyResponse{}, err
			}
		}
		f.messages <- req
		if strings.Contains(req.Body, "fail") {
			return events.APIGatewayProxyResponse{}, errors.New("message exploded")
		}
		// A body API Gateway must not send back (no route response).
		return events.APIGatewayProxyResponse{StatusCode: 200, Body: "response body that must not reach the client"}, nil
	}
	cfg := WebSocketConfig{
		Routes: map[string]string{
			RouteConnect:    "ConnectFunction",
			RouteDisconnect: "DisconnectFunction",
			RouteDefault:    "MessageFunction",
			"echo":          "EchoFunction",
		},
		RouteSelectionExpression: "$request.body.type",
		Invoker: HandlerFuncInvoker(map[string]any{
			"ConnectFunction":    connect,
			"DisconnectFunction": disconnect,
			"MessageFunction":    message,
			"EchoFunction":       message,
		}),
		Stage:      "prod",
		DomainName: "example.execute-api.localhost",
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if tweak != nil {
		tweak(&cfg)
	}
	f.api = NewWebSocketAPI(cfg)
	clientSrv := httptest.NewServer(f.api.ClientHandler())
	mgmtSrv := httptest.NewServer(f.api.ManagementHandler())
	t.Cleanup(clientSrv.Close)
	t.Cleanup(mgmtSrv.Close)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := f.api.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	f.clientURL = "ws" + strings.TrimPrefix(clientSrv.URL, "http") + "/prod"
	f.mgmtURL = mgmtSrv.URL + "/prod"
	f.sdk = apigatewaymanagementapi.New(apigatewaymanagementapi.Options{
		BaseEndpoint: aws.String(f.mgmtURL),
		Region:       "eu-west-1",
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
	})
	return f
}

// dial connects a client and returns it with its connection id (from the
// $connect event).
func (f *wsFixture) dial(t *testing.T, query string) (*websocket.Conn, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, f.clientURL+query, nil)
	if err != nil {
		t.Fatalf("Dial: %v (response %v)", err, resp)
	}
	c.SetReadLimit(1 << 20)
	t.Cleanup(func() { c.CloseNow() })
	f.mu.Lock()
	f.clients = append(f.clients, c)
	f.mu.Unlock()
	ev := recv(t, f.connects, "$connect")
	return c, ev.RequestContext.ConnectionID
}

func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(20 * time.Second):
		t.Fatalf("no %s event", what)
		panic("unreachable")
	}
}

func write(t *testing.T, c *websocket.Conn, msg string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
		t.Fatalf("write %q: %v", msg, err)
	}
}

func read(t *testing.T, c *websocket.Conn) (websocket.MessageType, []byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return c.Read(ctx)
}

// expectClose reads until the connection closes and checks the close code.
func expectClose(t *testing.T, c *websocket.Conn, want websocket.StatusCode) {
	t.Helper()
	for {
		_, data, err := read(t, c)
		if err == nil {
			t.Logf("message before close: %s", data)
			continue
		}
		if got := websocket.CloseStatus(err); got != want {
			t.Fatalf("got close status %v (%v), want %v", got, err, want)
		}
		return
	}
}

// shutdown drops the clients and shuts the API down, after which every
// invocation has finished. (Dropping the clients first spares the close
// handshake a client that is not reading would never answer.)
func (f *wsFixture) shutdown(t *testing.T) Stats {
	t.Helper()
	f.mu.Lock()
	for _, c := range f.clients {
		c.CloseNow()
	}
	f.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := f.api.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	return f.api.Stats()
}

var gatewayIDPattern = regexp.MustCompile(`^[A-Za-z0-9]{15}=$`)

func TestWebSocketConnectEvent(t *testing.T) {
	t.Parallel()
	f := newWSFixture(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	before := time.Now().UnixMilli()
	c, _, err := websocket.Dial(ctx, f.clientURL+"?terminal=t-1&tag=a&tag=b", &websocket.DialOptions{
		HTTPHeader: http.Header{"X-Terminal-Token": {"secret"}, "User-Agent": {"edgesync-agent/1.0"}},
	})
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	defer c.CloseNow()
	ev := recv(t, f.connects, "$connect")
	rc := ev.RequestContext
	checks := []struct {
		name      string
		got, want any
	}{
		{"routeKey", rc.RouteKey, "$connect"},
		{"eventType", rc.EventType, "CONNECT"},
		{"stage", rc.Stage, "prod"},
		{"domainName", rc.DomainName, "example.execute-api.localhost"},
		{"apiId", rc.APIID, f.api.APIID()},
		{"messageDirection", rc.MessageDirection, "IN"},
		{"sourceIp", rc.Identity.SourceIP, "127.0.0.1"},
		{"userAgent", rc.Identity.UserAgent, "edgesync-agent/1.0"},
		{"connectionId shape", gatewayIDPattern.MatchString(rc.ConnectionID), true},
		{"requestId shape", gatewayIDPattern.MatchString(rc.RequestID), true},
		{"extendedRequestId", rc.ExtendedRequestID, rc.RequestID},
		{"connectedAt recent", rc.ConnectedAt >= before, true},
		{"requestTimeEpoch", rc.RequestTimeEpoch >= rc.ConnectedAt, true},
		{"requestTime set", rc.RequestTime != "", true},
		{"header", ev.Headers["X-Terminal-Token"], "secret"},
		{"multi header", strings.Join(ev.MultiValueHeaders["X-Terminal-Token"], ","), "secret"},
		{"host header", ev.Headers["Host"] != "", true},
		{"x-forwarded-for", ev.Headers["X-Forwarded-For"], "127.0.0.1"},
		{"query", ev.QueryStringParameters["terminal"], "t-1"},
		{"multi query", strings.Join(ev.MultiValueQueryStringParameters["tag"], ","), "a,b"},
		{"no messageId", rc.MessageID, nil},
	}
	for _, tt := range checks {
		if tt.got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, tt.got, tt.want)
		}
	}
	if apiID := f.api.APIID(); len(apiID) != 10 {
		t.Errorf("got apiId %q, want 10 characters", apiID)
	}
}

func TestWebSocketSubprotocol(t *testing.T) {
	t.Parallel()
	f := newWSFixture(t, nil)
	tests := []struct {
		query, want string
	}{
		{"?protocol=edgesync.v1", "edgesync.v1"}, // $connect selects it
		{"", ""},                                 // $connect selects none
	}
	for _, tt := range tests {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		c, _, err := websocket.Dial(ctx, f.clientURL+tt.query, &websocket.DialOptions{Subprotocols: []string{"edgesync.v1"}})
		cancel()
		if err != nil {
			t.Fatalf("Dial%s: %v", tt.query, err)
		}
		if got := c.Subprotocol(); got != tt.want {
			t.Errorf("Dial%s: got subprotocol %q, want %q", tt.query, got, tt.want)
		}
		c.CloseNow()
	}
}

func TestWebSocketConnectRefused(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		query  string
		status int
	}{
		{"401 from $connect", "?status=401", http.StatusUnauthorized},
		{"403 from $connect", "?status=403", http.StatusForbidden},
		{"invoke error", "?status=error", http.StatusInternalServerError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newWSFixture(t, nil)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c, resp, err := websocket.Dial(ctx, f.clientURL+tt.query, nil)
			if err == nil {
				c.CloseNow()
				t.Fatal("got a connection, want the handshake refused")
			}
			if resp == nil || resp.StatusCode != tt.status {
				t.Fatalf("got response %v (%v), want status %d", resp, err, tt.status)
			}
			st := f.shutdown(t)
			if st.ConnectionsRefused != 1 || st.ConnectionsOpened != 0 || st.Invocations["DisconnectFunction"] != 0 {
				t.Errorf("got refused %d, opened %d, $disconnect invocations %d; want 1, 0, 0",
					st.ConnectionsRefused, st.ConnectionsOpened, st.Invocations["DisconnectFunction"])
			}
		})
	}
}

func TestWebSocketNotAnUpgrade(t *testing.T) {
	t.Parallel()
	f := newWSFixture(t, nil)
	resp, err := http.Get("http" + strings.TrimPrefix(f.clientURL, "ws"))
	if err != nil {
		t.Fatalf("GET: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUpgradeRequired {
		t.Errorf("got status %d, want 426", resp.StatusCode)
	}
	if n := f.shutdown(t).Invocations["ConnectFunction"]; n != 0 {
		t.Errorf("got %d $connect invocations for a plain GET, want 0", n)
	}
}

func TestWebSocketRouting(t *testing.T) {
	t.Parallel()
	f := newWSFixture(t, nil)
	c, id := f.dial(t, "")
	tests := []struct {
		body      string
		wantRoute string
	}{
		{`{"type":"echo","n":1}`, "echo"},
		{`{"type":"nothing-routed"}`, "$default"},
		{`not json`, "$default"},
		{`{"type":7}`, "$default"},
		{`{"type":"$connect"}`, "$default"},
		{`{"other":"echo"}`, "$default"},
	}
	for _, tt := range tests {
		t.Run(tt.body, func(t *testing.T) {
			write(t, c, tt.body)
			ev := recv(t, f.messages, "message")
			rc := ev.RequestContext
			if rc.RouteKey != tt.wantRoute || ev.Body != tt.body {
				t.Errorf("got route %q body %q, want %q %q", rc.RouteKey, ev.Body, tt.wantRoute, tt.body)
			}
			id2, _ := rc.MessageID.(string)
			if rc.EventType != "MESSAGE" || rc.ConnectionID != id || !gatewayIDPattern.MatchString(id2) || rc.RequestID == "" {
				t.Errorf("got eventType %q connectionId %q messageId %v requestId %q; want MESSAGE, %q, an id, an id",
					rc.EventType, rc.ConnectionID, rc.MessageID, rc.RequestID, id)
			}
			if ev.Headers != nil || ev.QueryStringParameters != nil {
				t.Errorf("got headers %v and query %v on a message, want none", ev.Headers, ev.QueryStringParameters)
			}
		})
	}
	st := f.shutdown(t)
	if st.Invocations["EchoFunction"] != 1 || st.Invocations["MessageFunction"] != 5 {
		t.Errorf("got invocations %v, want EchoFunction 1 and MessageFunction 5", st.Invocations)
	}
}

func TestWebSocketGatewayMessages(t *testing.T) {
	t.Parallel()
	t.Run("invoke error", func(t *testing.T) {
		t.Parallel()
		f := newWSFixture(t, nil)
		c, id := f.dial(t, "")
		// The function's response body is never sent back (no route
		// response), so the first message the client gets is the error.
		write(t, c, `{"type":"echo"}`)
		recv(t, f.messages, "message")
		write(t, c, `{"type":"please fail"}`)
		_, data, err := read(t, c)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		var got map[string]string
		if err := json.Unmarshal(data, &got); err != nil {
			t.Fatalf("decode %s: %v", data, err)
		}
		if got["message"] != "Internal server error" || got["connectionId"] != id || got["requestId"] == "" {
			t.Errorf("got %s, want the Internal server error document for %s", data, id)
		}
	})
	t.Run("no route and no $default", func(t *testing.T) {
		t.Parallel()
		f := newWSFixture(t, func(c *WebSocketConfig) { delete(c.Routes, RouteDefault) })
		c, id := f.dial(t, "")
		write(t, c, `{"type":"unknown"}`)
		_, data, err := read(t, c)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		var got map[string]string
		if err := json.Unmarshal(data, &got); err != nil {
			t.Fatalf("decode %s: %v", data, err)
		}
		if got["message"] != "Forbidden" || got["connectionId"] != id {
			t.Errorf("got %s, want the Forbidden document for %s", data, id)
		}
	})
}

// TestWebSocketConcurrentInvocation proves messages of one connection are
// invoked concurrently: each blocks until three are in flight at once.
func TestWebSocketConcurrentInvocation(t *testing.T) {
	t.Parallel()
	f := newWSFixture(t, nil)
	const n = 3
	var arrived atomic.Int32
	all := make(chan struct{})
	f.block = func(ctx context.Context) error {
		if arrived.Add(1) == n {
			close(all)
		}
		select {
		case <-all:
			return nil
		case <-ctx.Done():
			return errors.New("the other messages were not invoked concurrently")
		}
	}
	c, _ := f.dial(t, "")
	for i := range n {
		write(t, c, `{"type":"block","i":`+strconv.Itoa(i)+`}`)
	}
	for range n {
		recv(t, f.messages, "message")
	}
	if st := f.shutdown(t); st.InvocationErrors["MessageFunction"] != 0 {
		t.Errorf("got %d failed invocations, want 0", st.InvocationErrors["MessageFunction"])
	}
}

// TestWebSocketInFlightBound checks that no more than MaxInFlight messages of
// a connection are invoked at once.
func TestWebSocketInFlightBound(t *testing.T) {
	t.Parallel()
	const bound, sent = 2, 5
	var mu sync.Mutex
	cur, peak := 0, 0
	release := make(chan struct{})
	arrivedBound := make(chan struct{})
	var once sync.Once
	f := newWSFixture(t, func(c *WebSocketConfig) { c.MaxInFlight = bound })
	f.block = func(ctx context.Context) error {
		mu.Lock()
		cur++
		peak = max(peak, cur)
		if cur == bound {
			once.Do(func() { close(arrivedBound) })
		}
		mu.Unlock()
		<-release
		mu.Lock()
		cur--
		mu.Unlock()
		return nil
	}
	c, _ := f.dial(t, "")
	for i := range sent {
		write(t, c, `{"type":"block","i":`+strconv.Itoa(i)+`}`)
	}
	recv(t, arrivedBound, "in-flight bound reached")
	close(release)
	for range sent {
		recv(t, f.messages, "message")
	}
	mu.Lock()
	defer mu.Unlock()
	if peak != bound {
		t.Errorf("got at most %d invocations in flight, want %d", peak, bound)
	}
}

func TestWebSocketDisconnect(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		tweak      func(*WebSocketConfig)
		close      func(t *testing.T, f *wsFixture, c *websocket.Conn, id string)
		wantCode   int64
		wantReason string
	}{
		{
			name: "client close",
			close: func(t *testing.T, f *wsFixture, c *websocket.Conn, id string) {
				if err := c.Close(websocket.StatusNormalClosure, "bye"); err != nil {
					t.Errorf("Close: %v", err)
				}
			},
			wantCode: 1000, wantReason: "bye",
		},
		{
			name: "network drop",
			close: func(t *testing.T, f *wsFixture, c *websocket.Conn, id string) {
				c.CloseNow()
			},
			wantCode: 1006, wantReason: "Connection closed abnormally",
		},
		{
			name: "DeleteConnection",
			close: func(t *testing.T, f *wsFixture, c *websocket.Conn, id string) {
				if _, err := f.sdk.DeleteConnection(context.Background(), &apigatewaymanagementapi.DeleteConnectionInput{ConnectionId: &id}); err != nil {
					t.Fatalf("DeleteConnection: %v", err)
				}
				expectClose(t, c, websocket.StatusNormalClosure)
			},
			wantCode: 1000, wantReason: "Connection Closed Normally",
		},
		{
			name:  "idle timeout",
			tweak: func(c *WebSocketConfig) { c.IdleTimeout = 300 * time.Millisecond },
			close: func(t *testing.T, f *wsFixture, c *websocket.Conn, id string) {
				expectClose(t, c, websocket.StatusGoingAway)
			},
			wantCode: 1001, wantReason: "Going away",
		},
		{
			name:  "max duration",
			tweak: func(c *WebSocketConfig) { c.MaxDuration = 300 * time.Millisecond },
			close: func(t *testing.T, f *wsFixture, c *websocket.Conn, id string) {
				expectClose(t, c, websocket.StatusGoingAway)
			},
			wantCode: 1001, wantReason: "Going away",
		},
		{
			name: "message over 128 KB",
			close: func(t *testing.T, f *wsFixture, c *websocket.Conn, id string) {
				writeFragmented(t, c, 128<<10+1, 16<<10)
				expectClose(t, c, websocket.StatusMessageTooBig)
			},
			wantCode: 1009, wantReason: "Message too big",
		},
		{
			name: "frame over 32 KB",
			close: func(t *testing.T, f *wsFixture, c *websocket.Conn, id string) {
				writeFragmented(t, c, 40<<10, 40<<10)
				expectClose(t, c, websocket.StatusMessageTooBig)
			},
			wantCode: 1009, wantReason: "Message too big",
		},
		{
			name: "binary message",
			close: func(t *testing.T, f *wsFixture, c *websocket.Conn, id string) {
				if err := c.Write(context.Background(), websocket.MessageBinary, []byte{0xff, 0x00}); err != nil {
					t.Fatalf("write: %v", err)
				}
				expectClose(t, c, websocket.StatusUnsupportedData)
			},
			wantCode: 1003, wantReason: "Binary frames are not supported",
		},
		{
			name: "Shutdown",
			close: func(t *testing.T, f *wsFixture, c *websocket.Conn, id string) {
				go f.api.Shutdown(context.Background())
				expectClose(t, c, websocket.StatusGoingAway)
			},
			wantCode: 1001, wantReason: "Going away",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newWSFixture(t, tt.tweak)
			c, id := f.dial(t, "")
			tt.close(t, f, c, id)
			ev := recv(t, f.disconnects, "$disconnect")
			rc := ev.RequestContext
			reason := ""
			if rc.DisconnectReason != nil {
				reason = *rc.DisconnectReason
			}
			if rc.RouteKey != "$disconnect" || rc.EventType != "DISCONNECT" || rc.ConnectionID != id {
				t.Errorf("got %s %s for %s, want $disconnect DISCONNECT for %s", rc.RouteKey, rc.EventType, rc.ConnectionID, id)
			}
			if rc.DisconnectStatusCode != tt.wantCode || reason != tt.wantReason {
				t.Errorf("got disconnect %d %q, want %d %q", rc.DisconnectStatusCode, reason, tt.wantCode, tt.wantReason)
			}
			st := f.shutdown(t)
			if n := st.Invocations["DisconnectFunction"]; n != 1 {
				t.Errorf("got %d $disconnect invocations, want exactly 1", n)
			}
			if st.Connections != 0 {
				t.Errorf("got %d open connections, want 0", st.Connections)
			}
			// Oversized and binary messages are never invoked.
			if n := st.Invocations["MessageFunction"]; n != 0 {
				t.Errorf("got %d message invocations, want 0", n)
			}
		})
	}
}

// writeFragmented sends one text message of size bytes in frames of at most
// frame bytes.
func writeFragmented(t *testing.T, c *websocket.Conn, size, frame int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	w, err := c.Writer(ctx, websocket.MessageText)
	if err != nil {
		t.Fatalf("Writer: %v", err)
	}
	body := bytes.Repeat([]byte("x"), size)
	for len(body) > 0 {
		n := min(frame, len(body))
		if _, err := w.Write(body[:n]); err != nil {
			return // the server may close before the whole message is out
		}
		body = body[n:]
	}
	_ = w.Close()
}

func TestWebSocketLargeFragmentedMessage(t *testing.T) {
	t.Parallel()
	f := newWSFixture(t, nil)
	c, _ := f.dial(t, "")
	const size = 128 << 10 // exactly the limit, in 32 KB frames
	writeFragmented(t, c, size, 32<<10)
	ev := recv(t, f.messages, "message")
	if len(ev.Body) != size {
		t.Errorf("got a %d-byte body, want %d", len(ev.Body), size)
	}
	st := f.shutdown(t)
	if st.MessagesIn != 1 || st.UnitsIn != 4 {
		t.Errorf("got %d messages in %d units, want 1 in 4", st.MessagesIn, st.UnitsIn)
	}
}

func TestManagementAPI(t *testing.T) {
	t.Parallel()
	f := newWSFixture(t, nil)
	c, id := f.dial(t, "")
	ctx := context.Background()

	t.Run("post", func(t *testing.T) {
		for _, size := range []int{5, 100 << 10} {
			want := bytes.Repeat([]byte("y"), size)
			copy(want, "hello")
			if _, err := f.sdk.PostToConnection(ctx, &apigatewaymanagementapi.PostToConnectionInput{ConnectionId: &id, Data: want}); err != nil {
				t.Fatalf("PostToConnection: %v", err)
			}
			typ, got, err := read(t, c)
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			if typ != websocket.MessageText || !bytes.Equal(got, want) {
				t.Errorf("got a %v message of %d bytes, want text of %d bytes", typ, len(got), len(want))
			}
		}
	})

	t.Run("post too large", func(t *testing.T) {
		_, err := f.sdk.PostToConnection(ctx, &apigatewaymanagementapi.PostToConnectionInput{ConnectionId: &id, Data: make([]byte, 128<<10+1)})
		var tooLarge *types.PayloadTooLargeException
		if !errors.As(err, &tooLarge) {
			t.Errorf("got error %v, want *types.PayloadTooLargeException", err)
		}
	})

	t.Run("get", func(t *testing.T) {
		write(t, c, `{"type":"echo"}`)
		recv(t, f.messages, "message")
		out, err := f.sdk.GetConnection(ctx, &apigatewaymanagementapi.GetConnectionInput{ConnectionId: &id})
		if err != nil {
			t.Fatalf("GetConnection: %v", err)
		}
		if out.ConnectedAt == nil || out.LastActiveAt == nil || out.Identity == nil {
			t.Fatalf("got %+v, want connectedAt, lastActiveAt and identity", out)
		}
		if out.LastActiveAt.Before(*out.ConnectedAt) || out.ConnectedAt.IsZero() {
			t.Errorf("got connectedAt %v lastActiveAt %v, want set and ordered", out.ConnectedAt, out.LastActiveAt)
		}
		if aws.ToString(out.Identity.SourceIp) != "127.0.0.1" || aws.ToString(out.Identity.UserAgent) == "" {
			t.Errorf("got identity %s %s, want 127.0.0.1 and a user agent", aws.ToString(out.Identity.SourceIp), aws.ToString(out.Identity.UserAgent))
		}
	})

	t.Run("gone", func(t *testing.T) {
		unknown := "R1kmxc2VNjMCFIA="
		calls := map[string]func() error{
			"PostToConnection": func() error {
				_, err := f.sdk.PostToConnection(ctx, &apigatewaymanagementapi.PostToConnectionInput{ConnectionId: &unknown, Data: []byte("x")})
				return err
			},
			"GetConnection": func() error {
				_, err := f.sdk.GetConnection(ctx, &apigatewaymanagementapi.GetConnectionInput{ConnectionId: &unknown})
				return err
			},
			"DeleteConnection": func() error {
				_, err := f.sdk.DeleteConnection(ctx, &apigatewaymanagementapi.DeleteConnectionInput{ConnectionId: &unknown})
				return err
			},
		}
		for name, call := range calls {
			var gone *types.GoneException
			if err := call(); !errors.As(err, &gone) {
				t.Errorf("%s: got error %v, want *types.GoneException", name, err)
			}
		}
	})

	t.Run("unsigned", func(t *testing.T) {
		anon := apigatewaymanagementapi.New(apigatewaymanagementapi.Options{
			BaseEndpoint: aws.String(f.mgmtURL),
			Region:       "eu-west-1",
			Credentials:  aws.AnonymousCredentials{},
		})
		_, err := anon.PostToConnection(ctx, &apigatewaymanagementapi.PostToConnectionInput{ConnectionId: &id, Data: []byte("x")})
		var forbidden *types.ForbiddenException
		if !errors.As(err, &forbidden) {
			t.Errorf("got error %v, want *types.ForbiddenException", err)
		}
	})

	t.Run("path", func(t *testing.T) {
		// The SDK puts the stage before /@connections/ and escapes the id.
		req, err := http.NewRequest(http.MethodGet, f.mgmtURL+"/@connections/"+strings.ReplaceAll(id, "=", "%3D"), nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=x")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("GET: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("got status %d, want 200", resp.StatusCode)
		}
	})

	st := f.shutdown(t)
	if st.MessagesOut != 2 || st.UnitsOut != 1+4 || st.MessagesIn != 1 || st.ConnectionMinutes != 1 || st.ConnectionsOpened != 1 {
		t.Errorf("got stats %+v, want 2 messages out in 5 units, 1 in, 1 connection minute, 1 connection", st)
	}
}

func TestWebSocketConfigInvalid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  WebSocketConfig
		want string
	}{
		{"no invoker", WebSocketConfig{}, "no Invoker"},
		{"bad expression", WebSocketConfig{Invoker: HandlerInvoker(nil), RouteSelectionExpression: "$request.header.x"}, "only $request.body"},
		{"empty route", WebSocketConfig{Invoker: HandlerInvoker(nil), Routes: map[string]string{"x": ""}}, "empty route key or function"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
			if err := tt.cfg.Validate(); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error containing %q", err, tt.want)
			}
			api := NewWebSocketAPI(tt.cfg)
			srv := httptest.NewServer(api.ClientHandler())
			defer srv.Close()
			_, resp, err := websocket.Dial(context.Background(), "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
			if err == nil || resp == nil || resp.StatusCode != http.StatusInternalServerError {
				t.Errorf("got %v (%v), want a 500 handshake", resp, err)
			}
		})
	}
}

func TestRouteSelection(t *testing.T) {
	t.Parallel()
	tests := []struct {
		expr, body, want string
	}{
		{"$request.body.type", `{"type":"hello"}`, "hello"},
		{"${request.body.type}", `{"type":"hello"}`, "hello"},
		{"$request.body.meta.kind", `{"meta":{"kind":"logs"}}`, "logs"},
		{"$request.body.meta.kind", `{"meta":"logs"}`, ""},
		{"$request.body.type", `{"type":1}`, ""},
		{"$request.body.type", `[1,2]`, ""},
		{"$request.body.type", `garbage`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.expr+" "+tt.body, func(t *testing.T) {
			t.Parallel()
			sel, err := parseRouteSelection(tt.expr)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if got := sel([]byte(tt.body)); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
	for _, bad := range []string{"", "$request.body.", "$request.body.a..b", "$request.querystring.x", "action"} {
		if _, err := parseRouteSelection(bad); err == nil {
			t.Errorf("parse %q: got no error", bad)
		}
	}
}

// TestManagementSameServer serves the client side and the management API on
// one server, the management API under the stage prefix, as the local stack
// does.
func TestManagementSameServer(t *testing.T) {
	t.Parallel()
	connects := make(chan events.APIGatewayWebsocketProxyRequest, 1)
	api := NewWebSocketAPI(WebSocketConfig{
		Routes: map[string]string{RouteConnect: "Connect"},
		Invoker: HandlerFuncInvoker(map[string]any{
			"Connect": func(req events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
				connects <- req
				return events.APIGatewayProxyResponse{StatusCode: 200}, nil
			},
		}),
		Stage:  "prod",
		Logger: quietLogger,
	})
	mux := http.NewServeMux()
	mux.Handle("/prod/@connections/", api.ManagementHandler())
	mux.Handle("/", api.ClientHandler())
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	t.Cleanup(func() { api.Shutdown(context.Background()) })

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/prod", nil)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	defer c.CloseNow()
	id := recv(t, connects, "$connect").RequestContext.ConnectionID
	sdk := apigatewaymanagementapi.New(apigatewaymanagementapi.Options{
		BaseEndpoint: aws.String(srv.URL + "/prod"),
		Region:       "eu-west-1",
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""),
	})
	if _, err := sdk.PostToConnection(ctx, &apigatewaymanagementapi.PostToConnectionInput{ConnectionId: &id, Data: []byte(`{"type":"command"}`)}); err != nil {
		t.Fatalf("PostToConnection: %v", err)
	}
	_, got, err := c.Read(ctx)
	if err != nil || string(got) != `{"type":"command"}` {
		t.Errorf("got %q (%v), want the posted message", got, err)
	}
	c.Close(websocket.StatusNormalClosure, "")
}
