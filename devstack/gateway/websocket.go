package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
	"github.com/coder/websocket"
)

// Defaults for WebSocketConfig, API Gateway's own values where it has one.
const (
	DefaultRouteSelectionExpression = "$request.body.action"
	DefaultStage                    = "prod"
	DefaultIdleTimeout              = 10 * time.Minute
	DefaultMaxDuration              = 2 * time.Hour
	DefaultMaxFrameBytes            = 32 << 10
	DefaultMaxMessageBytes          = 128 << 10
	DefaultMaxInFlight              = 10
	DefaultIntegrationTimeout       = 29 * time.Second
)

// billingUnit is the size API Gateway meters WebSocket messages in.
const billingUnit = 32 << 10

// Route keys with a meaning of their own.
const (
	RouteConnect    = "$connect"
	RouteDisconnect = "$disconnect"
	RouteDefault    = "$default"
)

// WebSocketConfig configures a WebSocketAPI.
type WebSocketConfig struct {
	// Routes maps route keys ("$connect", "$disconnect", "$default" or a
	// value of the route selection expression) to function names.
	Routes map[string]string
	// RouteSelectionExpression picks a message's route key from its JSON
	// body: "$request.body.<path>" or "${request.body.<path>}" (empty:
	// DefaultRouteSelectionExpression). A body that is not JSON, or whose
	// value at the path is not a string with a route, goes to $default.
	RouteSelectionExpression string
	// Invoker runs the functions. Required.
	Invoker Invoker
	// Stage is requestContext.stage (empty: DefaultStage).
	Stage string
	// DomainName is requestContext.domainName (empty: the Host of the
	// connection's handshake request).
	DomainName string
	// APIID is requestContext.apiId (empty: a random 10-character id).
	APIID string
	// IdleTimeout closes a connection that received no client message for
	// that long (empty: DefaultIdleTimeout).
	IdleTimeout time.Duration
	// MaxDuration closes a connection that long after it opened (empty:
	// DefaultMaxDuration).
	MaxDuration time.Duration
	// MaxFrameBytes is the largest frame payload a client may send, and the
	// fragment size of messages sent to clients (zero: DefaultMaxFrameBytes).
	MaxFrameBytes int
	// MaxMessageBytes is the largest message a client may send or the
	// management API may post (zero: DefaultMaxMessageBytes).
	MaxMessageBytes int
	// MaxInFlight bounds the concurrent invocations for one connection's
	// messages; further messages wait, unread (zero: DefaultMaxInFlight).
	MaxInFlight int
	// IntegrationTimeout bounds each invocation (zero:
	// DefaultIntegrationTimeout, API Gateway's 29 s).
	IntegrationTimeout time.Duration
	// Logger receives the emulator's log (nil: slog.Default()).
	Logger *slog.Logger
}

// Validate reports what is wrong with c, if anything.
func (c WebSocketConfig) Validate() error {
	var errs []error
	if c.Invoker == nil {
		errs = append(errs, errors.New("no Invoker"))
	}
	expr := c.RouteSelectionExpression
	if expr == "" {
		expr = DefaultRouteSelectionExpression
	}
	if _, err := parseRouteSelection(expr); err != nil {
		errs = append(errs, err)
	}
	for key, fn := range c.Routes {
		if key == "" || fn == "" {
			errs = append(errs, fmt.Errorf("route %q → %q: empty route key or function", key, fn))
		}
	}
	if c.IdleTimeout < 0 || c.MaxDuration < 0 || c.IntegrationTimeout < 0 {
		errs = append(errs, errors.New("negative duration"))
	}
	if c.MaxFrameBytes < 0 || c.MaxMessageBytes < 0 || c.MaxInFlight < 0 {
		errs = append(errs, errors.New("negative limit"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("websocket API config: %w", err)
	}
	return nil
}

// Stats counts what API Gateway bills a WebSocket API for, and the
// invocations it made, since the API was created.
type Stats struct {
	// Connections is the number of open connections.
	Connections int
	// ConnectionsOpened counts completed handshakes.
	ConnectionsOpened int64
	// ConnectionsRefused counts handshakes refused by $connect (or failed).
	ConnectionsRefused int64
	// MessagesIn and MessagesOut count data messages received from and sent
	// to clients (posts, and the gateway's own error messages).
	MessagesIn, MessagesOut int64
	// UnitsIn and UnitsOut count the same messages in the 32 KB units API
	// Gateway meters (a 33 KB message is 2 units, an empty one 1).
	UnitsIn, UnitsOut int64
	// ConnectionTime is the summed duration of all connections, open ones up
	// to now.
	ConnectionTime time.Duration
	// ConnectionMinutes is ConnectionTime metered per connection in whole
	// minutes, rounded up.
	ConnectionMinutes int64
	// Invocations and InvocationErrors count invocations per function;
	// Throttles the invocations refused because the function was at its
	// concurrency (ErrThrottled, LimitConcurrency), which are in neither,
	// as in Lambda's metrics.
	Invocations, InvocationErrors, Throttles map[string]int64
}

// WebSocketAPI emulates an API Gateway WebSocket API. ClientHandler serves
// the clients (ws:// in place of wss://), ManagementHandler the @connections
// API. It is an emulation of what functions and clients observe:
//
//   - $connect runs before the upgrade; a statusCode outside 2xx refuses the
//     handshake with that status (and the function's body), an invocation
//     error with 500. A Sec-WebSocket-Protocol header in its response selects
//     the subprotocol, as on API Gateway. Without a $connect route every
//     handshake is accepted.
//   - Each text message is routed with the route selection expression and
//     invoked; messages of one connection are invoked concurrently (up to
//     MaxInFlight), so they may complete out of order, as on API Gateway.
//     A message without a route and without $default gets
//     {"message":"Forbidden",…}; an invocation error gets
//     {"message": "Internal server error",…}, both as API Gateway sends them.
//   - The function's response body is not sent back: API Gateway does so
//     only for routes with a route response, which this emulator does not
//     have. Functions answer through the management API.
//   - Binary messages close the connection with 1003, as API Gateway does
//     not accept binary frames.
//   - A message over MaxMessageBytes or a frame over MaxFrameBytes closes the
//     connection with 1009 and is not invoked.
//   - IdleTimeout (no client message; pings do not count) and MaxDuration
//     close with 1001 "Going away".
//   - Every connection that completed the handshake gets exactly one
//     $disconnect, whatever closed it (client, network, DELETE, timeouts,
//     limits, Shutdown), with disconnectStatusCode and disconnectReason
//     (a throttled one is lost, as in AWS).
//   - An invoker that limits each function's concurrency
//     (LimitConcurrency) emulates Lambda throttling the integration: API
//     Gateway answers it as a failed invocation (500 at $connect, the
//     "Internal server error" frame for a message).
//
// Not emulated: authorizers, API keys, route responses and templates,
// the stage's and the account's throttling, stage variables, TLS, and
// the 500 KB/s per-connection rate.
type WebSocketAPI struct {
	cfg    WebSocketConfig
	cfgErr error
	sel    routeSelector
	log    *slog.Logger

	mu     sync.Mutex
	conns  map[string]*wsConn
	closed bool
	wg     sync.WaitGroup

	connsOpened, connsRefused                atomic.Int64
	msgsIn, msgsOut                          atomic.Int64
	unitsIn, unitsOut                        atomic.Int64
	closedTime                               atomic.Int64 // nanoseconds of closed connections
	closedMinutes                            atomic.Int64
	invMu                                    sync.Mutex
	invocations, invocationErrors, throttles map[string]int64
}

// NewWebSocketAPI returns the emulator for cfg, applying the defaults. If cfg
// is invalid (see Validate) the error is logged and every request is
// answered 500 with it.
func NewWebSocketAPI(cfg WebSocketConfig) *WebSocketAPI {
	a := &WebSocketAPI{
		conns:            map[string]*wsConn{},
		invocations:      map[string]int64{},
		invocationErrors: map[string]int64{},
		throttles:        map[string]int64{},
		log:              cfg.Logger,
	}
	if a.log == nil {
		a.log = slog.Default()
	}
	if cfg.RouteSelectionExpression == "" {
		cfg.RouteSelectionExpression = DefaultRouteSelectionExpression
	}
	if cfg.Stage == "" {
		cfg.Stage = DefaultStage
	}
	if cfg.APIID == "" {
		cfg.APIID = newAPIID()
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.MaxDuration == 0 {
		cfg.MaxDuration = DefaultMaxDuration
	}
	if cfg.MaxFrameBytes == 0 {
		cfg.MaxFrameBytes = DefaultMaxFrameBytes
	}
	if cfg.MaxMessageBytes == 0 {
		cfg.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if cfg.MaxInFlight == 0 {
		cfg.MaxInFlight = DefaultMaxInFlight
	}
	if cfg.IntegrationTimeout == 0 {
		cfg.IntegrationTimeout = DefaultIntegrationTimeout
	}
	routes := make(map[string]string, len(cfg.Routes))
	for k, v := range cfg.Routes {
		routes[k] = v
	}
	cfg.Routes = routes
	a.cfg = cfg
	if err := cfg.Validate(); err != nil {
		a.cfgErr = err
		a.log.Error("websocket API emulator misconfigured; refusing all requests", "error", err)
		return a
	}
	a.sel, _ = parseRouteSelection(cfg.RouteSelectionExpression)
	return a
}

// APIID returns requestContext.apiId.
func (a *WebSocketAPI) APIID() string { return a.cfg.APIID }

// Stage returns requestContext.stage.
func (a *WebSocketAPI) Stage() string { return a.cfg.Stage }

// ClientHandler returns the handler clients connect to (any path).
func (a *WebSocketAPI) ClientHandler() http.Handler { return http.HandlerFunc(a.serveClient) }

// Stats returns the counters so far.
func (a *WebSocketAPI) Stats() Stats {
	s := Stats{
		ConnectionsOpened:  a.connsOpened.Load(),
		ConnectionsRefused: a.connsRefused.Load(),
		MessagesIn:         a.msgsIn.Load(),
		MessagesOut:        a.msgsOut.Load(),
		UnitsIn:            a.unitsIn.Load(),
		UnitsOut:           a.unitsOut.Load(),
		Invocations:        map[string]int64{},
		InvocationErrors:   map[string]int64{},
		Throttles:          map[string]int64{},
	}
	a.mu.Lock()
	now := time.Now()
	s.Connections = len(a.conns)
	// Read the closed totals under a.mu: connections move from open to
	// closed under it, so none is counted twice or missed.
	s.ConnectionTime = time.Duration(a.closedTime.Load())
	s.ConnectionMinutes = a.closedMinutes.Load()
	for _, c := range a.conns {
		d := now.Sub(c.connectedAt)
		s.ConnectionTime += d
		s.ConnectionMinutes += billedMinutes(d)
	}
	a.mu.Unlock()
	a.invMu.Lock()
	for k, v := range a.invocations {
		s.Invocations[k] = v
	}
	for k, v := range a.invocationErrors {
		s.InvocationErrors[k] = v
	}
	for k, v := range a.throttles {
		s.Throttles[k] = v
	}
	a.invMu.Unlock()
	return s
}

// Shutdown stops accepting connections, closes the open ones with 1001
// "Going away" and waits for their $disconnect and message invocations to
// finish. A client has 5 s to answer the close; when ctx is done first, the
// remaining connections are dropped and ctx's error returned.
func (a *WebSocketAPI) Shutdown(ctx context.Context) error {
	a.mu.Lock()
	a.closed = true
	conns := make([]*wsConn, 0, len(a.conns))
	for _, c := range a.conns {
		conns = append(conns, c)
	}
	a.mu.Unlock()
	for _, c := range conns {
		c.closeWith(websocket.StatusGoingAway, "Going away")
	}
	done := make(chan struct{})
	go func() {
		a.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		a.mu.Lock()
		for _, c := range a.conns {
			select {
			case <-c.ready:
				if c.ws != nil {
					_ = c.ws.CloseNow()
				}
			default: // still upgrading; the close started above follows
			}
		}
		a.mu.Unlock()
		return fmt.Errorf("shut down websocket API: %w", ctx.Err())
	}
}

func billedMinutes(d time.Duration) int64 {
	return int64((d + time.Minute - 1) / time.Minute)
}

func units(n int) int64 {
	if n <= 0 {
		return 1
	}
	return int64((n + billingUnit - 1) / billingUnit)
}

// wsConn is one client connection.
type wsConn struct {
	api         *WebSocketAPI
	id          string
	ws          *websocket.Conn
	connectedAt time.Time
	domainName  string
	sourceIP    string
	userAgent   string
	host        string
	lastActive  atomic.Int64 // unix nanoseconds of the last client message
	frameTooBig atomic.Bool
	inFlight    chan struct{}
	ready       chan struct{} // closed once the upgrade is done (ws set) or failed (ws nil)
	done        chan struct{} // closed when the read loop has ended

	closeMu     sync.Mutex
	closing     bool
	closeCode   websocket.StatusCode
	closeReason string
	closeDone   chan struct{} // closed when a server-side close has finished
}

func (a *WebSocketAPI) serveClient(w http.ResponseWriter, r *http.Request) {
	if a.cfgErr != nil {
		http.Error(w, a.cfgErr.Error(), http.StatusInternalServerError)
		return
	}
	if !isWebSocketUpgrade(r) {
		w.Header().Set("Connection", "Upgrade")
		w.Header().Set("Upgrade", "websocket")
		http.Error(w, "WebSocket upgrade required", http.StatusUpgradeRequired)
		return
	}
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	a.wg.Add(1)
	a.mu.Unlock()
	defer a.wg.Done()

	now := time.Now()
	c := &wsConn{
		api:         a,
		id:          newGatewayID(),
		connectedAt: now,
		domainName:  a.cfg.DomainName,
		sourceIP:    remoteIP(r),
		userAgent:   r.UserAgent(),
		host:        r.Host,
		inFlight:    make(chan struct{}, a.cfg.MaxInFlight),
		done:        make(chan struct{}),
		closeDone:   make(chan struct{}),
		ready:       make(chan struct{}),
	}
	if c.domainName == "" {
		c.domainName = r.Host
	}
	c.lastActive.Store(now.UnixNano())
	log := a.log.With("connection_id", c.id)

	var subprotocols []string
	if fn, ok := a.cfg.Routes[RouteConnect]; ok {
		ev := a.event(c, RouteConnect, "CONNECT", now)
		ev.Headers, ev.MultiValueHeaders = connectHeaders(r, c.sourceIP)
		ev.QueryStringParameters, ev.MultiValueQueryStringParameters = queryParameters(r)
		resp, err := a.invoke(r.Context(), fn, ev)
		if err != nil {
			a.connsRefused.Add(1)
			if errors.Is(err, ErrThrottled) {
				log.DebugContext(r.Context(), "$connect throttled; refusing the handshake", "function", fn)
			} else {
				log.ErrorContext(r.Context(), "$connect failed; refusing the handshake", "function", fn, "error", err)
			}
			writeJSON(w, http.StatusInternalServerError, map[string]string{"message": "Internal server error"})
			return
		}
		status := resp.StatusCode
		if status == 0 {
			status = http.StatusOK
		}
		if status < 200 || status > 299 {
			a.connsRefused.Add(1)
			log.InfoContext(r.Context(), "$connect refused the handshake", "function", fn, "status", status)
			for k, v := range resp.Headers {
				w.Header().Set(k, v)
			}
			w.WriteHeader(status)
			_, _ = w.Write([]byte(resp.Body))
			return
		}
		for k, v := range resp.Headers {
			if strings.EqualFold(k, "Sec-WebSocket-Protocol") {
				subprotocols = append(subprotocols, v)
			}
		}
	}

	// Register before the upgrade: the client may post to itself, or be
	// posted to, as soon as it sees the 101. Until ready is closed the
	// management API waits for the upgrade to finish.
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		a.disconnect(c, websocket.StatusGoingAway, "Going away")
		return
	}
	a.conns[c.id] = c
	a.mu.Unlock()

	fw := &frameLimitWriter{
		ResponseWriter: w,
		limit:          uint64(a.cfg.MaxFrameBytes),
		tooBig: func(size uint64) {
			c.frameTooBig.Store(true)
			log.Info("frame too big; closing with 1009", "size", size, "limit", a.cfg.MaxFrameBytes)
			c.closeWith(websocket.StatusMessageTooBig, "Message too big")
		},
	}
	ws, err := websocket.Accept(fw, r, &websocket.AcceptOptions{
		Subprotocols:       subprotocols,
		InsecureSkipVerify: true, // API Gateway does not check Origin
		CompressionMode:    websocket.CompressionDisabled,
	})
	if err != nil {
		close(c.ready)
		a.mu.Lock()
		delete(a.conns, c.id)
		a.mu.Unlock()
		// $connect accepted the connection: tell $disconnect it is gone.
		log.WarnContext(r.Context(), "websocket handshake failed after $connect", "error", err)
		a.disconnect(c, websocket.StatusAbnormalClosure, "Handshake failed")
		return
	}
	ws.SetReadLimit(int64(a.cfg.MaxMessageBytes))
	c.ws = ws
	close(c.ready)
	a.connsOpened.Add(1)
	log.Debug("connected", "source_ip", c.sourceIP)
	c.run()
}

// run reads messages until the connection ends, then invokes $disconnect.
func (c *wsConn) run() {
	a := c.api
	a.wg.Add(1)
	go c.watchdog()

	var err error
	for {
		typ, data, rerr := c.ws.Read(context.Background())
		if rerr != nil {
			err = rerr
			break
		}
		if c.frameTooBig.Load() {
			continue // closing with 1009; the message is dropped
		}
		c.lastActive.Store(time.Now().UnixNano())
		a.msgsIn.Add(1)
		a.unitsIn.Add(units(len(data)))
		if typ != websocket.MessageText {
			c.closeWith(websocket.StatusUnsupportedData, "Binary frames are not supported")
			continue
		}
		c.inFlight <- struct{}{} // blocks reading while MaxInFlight run
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			defer func() { <-c.inFlight }()
			c.handleMessage(data)
		}()
	}
	close(c.done)
	c.closeMu.Lock()
	closing := c.closing
	c.closeMu.Unlock()
	if closing {
		<-c.closeDone
	}

	a.mu.Lock()
	delete(a.conns, c.id)
	d := time.Since(c.connectedAt)
	a.closedTime.Add(int64(d))
	a.closedMinutes.Add(billedMinutes(d))
	a.mu.Unlock()
	_ = c.ws.CloseNow()

	code, reason := c.disconnectStatus(err)
	a.log.Debug("disconnected", "connection_id", c.id, "code", int(code), "reason", reason)
	a.disconnect(c, code, reason)
}

// disconnectStatus tells why the read loop ended: the close the emulator
// started, else the client's close frame, else a network drop (1006).
func (c *wsConn) disconnectStatus(err error) (websocket.StatusCode, string) {
	c.closeMu.Lock()
	code, reason, closing := c.closeCode, c.closeReason, c.closing
	c.closeMu.Unlock()
	if closing {
		return code, reason
	}
	var ce websocket.CloseError
	switch {
	case errors.As(err, &ce):
		if ce.Reason != "" {
			return ce.Code, ce.Reason
		}
		return ce.Code, closeReasons[ce.Code]
	case errors.Is(err, websocket.ErrMessageTooBig):
		return websocket.StatusMessageTooBig, "Message too big"
	default:
		return websocket.StatusAbnormalClosure, closeReasons[websocket.StatusAbnormalClosure]
	}
}

var closeReasons = map[websocket.StatusCode]string{
	websocket.StatusNormalClosure:           "Connection Closed Normally",
	websocket.StatusGoingAway:               "Going away",
	websocket.StatusNoStatusRcvd:            "No status received",
	websocket.StatusAbnormalClosure:         "Connection closed abnormally",
	websocket.StatusUnsupportedData:         "Unsupported data",
	websocket.StatusMessageTooBig:           "Message too big",
	websocket.StatusPolicyViolation:         "Policy violation",
	websocket.StatusProtocolError:           "Protocol error",
	websocket.StatusInternalError:           "Internal error",
	websocket.StatusInvalidFramePayloadData: "Invalid frame payload data",
}

// closeWith starts a server-side close; the first call wins.
func (c *wsConn) closeWith(code websocket.StatusCode, reason string) {
	c.closeMu.Lock()
	defer c.closeMu.Unlock()
	if c.closing {
		return
	}
	select {
	case <-c.done: // already ended; run is reporting how
		return
	default:
	}
	c.closing, c.closeCode, c.closeReason = true, code, reason
	// run waits for closeDone, so the close handshake does not outlive the
	// connection's goroutine.
	go func() {
		defer close(c.closeDone)
		<-c.ready
		if c.ws != nil {
			_ = c.ws.Close(code, reason)
		}
	}()
}

// watchdog enforces the idle timeout and the maximum duration.
func (c *wsConn) watchdog() {
	defer c.api.wg.Done()
	idle := time.NewTimer(c.api.cfg.IdleTimeout)
	defer idle.Stop()
	maxDur := time.NewTimer(time.Until(c.connectedAt.Add(c.api.cfg.MaxDuration)))
	defer maxDur.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-maxDur.C:
			c.api.log.Info("maximum connection duration reached; closing", "connection_id", c.id)
			c.closeWith(websocket.StatusGoingAway, "Going away")
			return
		case <-idle.C:
			quiet := time.Since(time.Unix(0, c.lastActive.Load()))
			if quiet >= c.api.cfg.IdleTimeout {
				c.api.log.Info("connection idle; closing", "connection_id", c.id, "idle", quiet)
				c.closeWith(websocket.StatusGoingAway, "Going away")
				return
			}
			idle.Reset(c.api.cfg.IdleTimeout - quiet)
		}
	}
}

// handleMessage routes and invokes one client message.
func (c *wsConn) handleMessage(data []byte) {
	a := c.api
	key := a.sel(data)
	fn, ok := "", false
	switch key {
	case "", RouteConnect, RouteDisconnect, RouteDefault:
	default:
		fn, ok = a.cfg.Routes[key]
	}
	if !ok {
		key = RouteDefault
		fn, ok = a.cfg.Routes[RouteDefault]
	}
	ev := a.event(c, key, "MESSAGE", time.Now())
	ev.RequestContext.MessageID = newGatewayID()
	ev.Body = string(data)
	if !ok {
		c.sendGatewayMessage("Forbidden", ev.RequestContext.RequestID)
		return
	}
	if _, err := a.invoke(context.Background(), fn, ev); err != nil {
		if errors.Is(err, ErrThrottled) {
			a.log.Debug("message invocation throttled", "connection_id", c.id, "route", key, "function", fn)
		} else {
			a.log.Error("message invocation failed", "connection_id", c.id, "route", key, "function", fn, "error", err)
		}
		c.sendGatewayMessage("Internal server error", ev.RequestContext.RequestID)
	}
}

// sendGatewayMessage sends the error document API Gateway itself sends.
func (c *wsConn) sendGatewayMessage(message, requestID string) {
	b, _ := json.Marshal(struct {
		Message      string `json:"message"`
		ConnectionID string `json:"connectionId"`
		RequestID    string `json:"requestId"`
	}{message, c.id, requestID})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.send(ctx, b); err != nil {
		c.api.log.Debug("could not send gateway message", "connection_id", c.id, "error", err)
	}
}

// send writes one message to the client, fragmented in frames of at most
// MaxFrameBytes; text if data is valid UTF-8, else binary.
func (c *wsConn) send(ctx context.Context, data []byte) error {
	typ := websocket.MessageText
	if !utf8.Valid(data) {
		typ = websocket.MessageBinary
	}
	w, err := c.ws.Writer(ctx, typ)
	if err != nil {
		return fmt.Errorf("send to %s: %w", c.id, err)
	}
	for rest := data; len(rest) > 0; {
		n := min(len(rest), c.api.cfg.MaxFrameBytes)
		if _, err := w.Write(rest[:n]); err != nil {
			_ = w.Close()
			return fmt.Errorf("send to %s: %w", c.id, err)
		}
		rest = rest[n:]
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("send to %s: %w", c.id, err)
	}
	c.api.msgsOut.Add(1)
	c.api.unitsOut.Add(units(len(data)))
	return nil
}

// disconnect invokes $disconnect, if routed, for a connection that has
// ended.
func (a *WebSocketAPI) disconnect(c *wsConn, code websocket.StatusCode, reason string) {
	fn, ok := a.cfg.Routes[RouteDisconnect]
	if !ok {
		return
	}
	ev := a.event(c, RouteDisconnect, "DISCONNECT", time.Now())
	ev.Headers = map[string]string{"Host": c.host, "X-Forwarded-For": c.sourceIP}
	ev.MultiValueHeaders = map[string][]string{"Host": {c.host}, "X-Forwarded-For": {c.sourceIP}}
	ev.RequestContext.DisconnectStatusCode = int64(code)
	ev.RequestContext.DisconnectReason = &reason
	if _, err := a.invoke(context.Background(), fn, ev); err != nil {
		if errors.Is(err, ErrThrottled) {
			a.log.Debug("$disconnect throttled; dropped", "connection_id", c.id, "function", fn)
		} else {
			a.log.Error("$disconnect failed", "connection_id", c.id, "function", fn, "error", err)
		}
	}
}

// event returns the fields every WebSocket event has.
func (a *WebSocketAPI) event(c *wsConn, routeKey, eventType string, now time.Time) events.APIGatewayWebsocketProxyRequest {
	requestID := newGatewayID()
	return events.APIGatewayWebsocketProxyRequest{
		RequestContext: events.APIGatewayWebsocketProxyRequestContext{
			RouteKey:          routeKey,
			EventType:         eventType,
			ExtendedRequestID: requestID,
			RequestTime:       now.UTC().Format(requestTimeLayout),
			MessageDirection:  "IN",
			Stage:             a.cfg.Stage,
			ConnectedAt:       c.connectedAt.UnixMilli(),
			RequestTimeEpoch:  now.UnixMilli(),
			Identity: events.APIGatewayRequestIdentity{
				SourceIP:  c.sourceIP,
				UserAgent: c.userAgent,
			},
			RequestID:    requestID,
			DomainName:   c.domainName,
			ConnectionID: c.id,
			APIID:        a.cfg.APIID,
		},
	}
}

// requestTimeLayout is API Gateway's requestTime format.
const requestTimeLayout = "02/Jan/2006:15:04:05 -0700"

// invoke sends ev to fn and decodes its proxy response. An unreadable
// response is an error; an empty or null one is a 200.
func (a *WebSocketAPI) invoke(ctx context.Context, fn string, ev events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
	var resp events.APIGatewayProxyResponse
	payload, err := json.Marshal(ev)
	if err != nil {
		return resp, fmt.Errorf("encode %s event: %w", ev.RequestContext.RouteKey, err)
	}
	ctx, cancel := context.WithTimeout(ctx, a.cfg.IntegrationTimeout)
	defer cancel()
	out, err := a.cfg.Invoker.Invoke(ctx, fn, payload)
	a.invMu.Lock()
	switch {
	case errors.Is(err, ErrThrottled):
		a.throttles[fn]++
	case err != nil:
		a.invocations[fn]++
		a.invocationErrors[fn]++
	default:
		a.invocations[fn]++
	}
	a.invMu.Unlock()
	if err != nil {
		return resp, err
	}
	out = bytes.TrimSpace(out)
	if len(out) == 0 || bytes.Equal(out, []byte("null")) {
		return resp, nil
	}
	if err := json.Unmarshal(out, &resp); err != nil {
		return resp, fmt.Errorf("function %s returned an invalid proxy response: %w", fn, err)
	}
	return resp, nil
}

func isWebSocketUpgrade(r *http.Request) bool {
	return r.Method == http.MethodGet &&
		headerHasToken(r.Header, "Connection", "upgrade") &&
		headerHasToken(r.Header, "Upgrade", "websocket")
}

func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// connectHeaders returns the $connect headers: the request's, plus Host and
// the X-Forwarded-* headers API Gateway adds. headers holds the last value of
// each, multi all of them.
func connectHeaders(r *http.Request, sourceIP string) (headers map[string]string, multi map[string][]string) {
	headers = map[string]string{}
	multi = map[string][]string{}
	for k, vs := range r.Header {
		if len(vs) == 0 {
			continue
		}
		headers[k] = vs[len(vs)-1]
		multi[k] = append([]string(nil), vs...)
	}
	set := func(k, v string) {
		headers[k] = v
		multi[k] = []string{v}
	}
	set("Host", r.Host)
	xff := sourceIP
	if prior := r.Header.Get("X-Forwarded-For"); prior != "" {
		xff = prior + ", " + sourceIP
	}
	set("X-Forwarded-For", xff)
	set("X-Forwarded-Proto", scheme(r))
	if _, port, err := net.SplitHostPort(localAddr(r)); err == nil {
		set("X-Forwarded-Port", port)
	}
	return headers, multi
}

// queryParameters returns the query string as API Gateway v1 events carry
// it, or nils when there is none.
func queryParameters(r *http.Request) (single map[string]string, multi map[string][]string) {
	q := r.URL.Query()
	if len(q) == 0 {
		return nil, nil
	}
	single = make(map[string]string, len(q))
	multi = make(map[string][]string, len(q))
	for k, vs := range q {
		single[k] = vs[len(vs)-1]
		multi[k] = vs
	}
	return single, multi
}

func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func localAddr(r *http.Request) string {
	if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		return a.String()
	}
	return ""
}

func scheme(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	return "http"
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		b = []byte(`{"message":"Internal server error"}`)
		status = http.StatusInternalServerError
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
