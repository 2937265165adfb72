package gateway

import (
	"context"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/coder/websocket"
)

// connectionsPath is the part of a management API path before the
// connection id.
const connectionsPath = "/@connections/"

// connectionInfo is the GetConnection response; the JSON names are the ones
// the AWS SDK's apigatewaymanagementapi deserializer reads.
type connectionInfo struct {
	ConnectedAt  string             `json:"connectedAt"`
	Identity     connectionIdentity `json:"identity"`
	LastActiveAt string             `json:"lastActiveAt"`
}

type connectionIdentity struct {
	SourceIP  string `json:"sourceIp"`
	UserAgent string `json:"userAgent"`
}

// ManagementHandler returns the handler of the @connections management API:
// POST, GET and DELETE on any path ending in "/@connections/{connectionId}",
// so it serves both "/@connections/…" and, behind a stage prefix,
// "/prod/@connections/…" — the AWS SDK client with BaseEndpoint
// "http://127.0.0.1:PORT/prod" sends the latter.
//
//   - Every request needs an Authorization header (any SigV4 signature is
//     accepted, none is verified); without one: 403 ForbiddenException.
//   - An unknown or closed connection: 410 GoneException.
//   - POST sends the body to the client as one message (text if valid UTF-8,
//     else binary) in frames of at most MaxFrameBytes; a body over
//     MaxMessageBytes: 413 PayloadTooLargeException.
//   - GET returns connectedAt, identity.sourceIp, identity.userAgent and
//     lastActiveAt (the last client message).
//   - DELETE closes the connection with 1000 and answers 204 with no body,
//     as DeleteConnection does; $disconnect follows, and the connection is
//     gone (410) from then on.
//
// Errors carry the x-amzn-ErrorType header and a {"message": …} body, so the
// SDK maps them to *types.GoneException and so on.
func (a *WebSocketAPI) ManagementHandler() http.Handler {
	return http.HandlerFunc(a.serveManagement)
}

func (a *WebSocketAPI) serveManagement(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("x-amzn-RequestId", newRequestUUID())
	if a.cfgErr != nil {
		writeAWSError(w, http.StatusInternalServerError, "InternalServerErrorException", a.cfgErr.Error())
		return
	}
	if r.Header.Get("Authorization") == "" {
		writeAWSError(w, http.StatusForbidden, "ForbiddenException", "Missing Authentication Token")
		return
	}
	i := strings.LastIndex(r.URL.Path, connectionsPath)
	id := ""
	if i >= 0 {
		id = r.URL.Path[i+len(connectionsPath):]
	}
	if id == "" || strings.Contains(id, "/") {
		writeAWSError(w, http.StatusNotFound, "NotFoundException", "expected /@connections/{connectionId}, got "+r.URL.Path)
		return
	}
	switch r.Method {
	case http.MethodPost, http.MethodGet, http.MethodDelete:
	default:
		w.Header().Set("Allow", "POST, GET, DELETE")
		writeAWSError(w, http.StatusMethodNotAllowed, "MethodNotAllowedException", r.Method+" is not supported on @connections")
		return
	}

	var body []byte
	if r.Method == http.MethodPost {
		b, err := io.ReadAll(io.LimitReader(r.Body, int64(a.cfg.MaxMessageBytes)+1))
		if err != nil {
			writeAWSError(w, http.StatusBadRequest, "BadRequestException", "read body: "+err.Error())
			return
		}
		if len(b) > a.cfg.MaxMessageBytes {
			writeAWSError(w, http.StatusRequestEntityTooLarge, "PayloadTooLargeException", "Message too long")
			return
		}
		body = b
	}

	a.mu.Lock()
	c := a.conns[id]
	a.mu.Unlock()
	if c != nil {
		select {
		case <-c.ready:
		case <-r.Context().Done():
			return
		}
	}
	if c == nil || c.ws == nil || c.isClosing() {
		writeAWSError(w, http.StatusGone, "GoneException", "")
		return
	}

	switch r.Method {
	case http.MethodPost:
		ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
		defer cancel()
		if err := c.send(ctx, body); err != nil {
			a.log.DebugContext(r.Context(), "post to connection failed", "connection_id", id, "error", err)
			writeAWSError(w, http.StatusGone, "GoneException", "")
			return
		}
		w.WriteHeader(http.StatusOK)
	case http.MethodGet:
		writeJSON(w, http.StatusOK, connectionInfo{
			ConnectedAt: c.connectedAt.UTC().Format(time.RFC3339Nano),
			Identity: connectionIdentity{
				SourceIP:  c.sourceIP,
				UserAgent: c.userAgent,
			},
			LastActiveAt: time.Unix(0, c.lastActive.Load()).UTC().Format(time.RFC3339Nano),
		})
	case http.MethodDelete:
		c.closeWith(websocket.StatusNormalClosure, closeReasons[websocket.StatusNormalClosure])
		w.WriteHeader(http.StatusNoContent)
	}
}

func (c *wsConn) isClosing() bool {
	c.closeMu.Lock()
	defer c.closeMu.Unlock()
	return c.closing
}

// writeAWSError writes an error as API Gateway's REST-JSON protocol does.
func writeAWSError(w http.ResponseWriter, status int, errorType, message string) {
	w.Header().Set("x-amzn-ErrorType", errorType)
	writeJSON(w, status, map[string]string{"message": message})
}
