package wsapi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/edgesync/edgesync/fleet"
)

// Connect handles $connect: it authenticates the terminal. A non-2xx answer
// makes API Gateway refuse the WebSocket handshake with that status.
type Connect struct{ svc *fleet.Service }

// NewConnect returns the $connect handler.
func NewConnect(svc *fleet.Service) *Connect { return &Connect{svc: svc} }

// Handle authenticates: the terminal id comes from the query parameter
// terminal_id or the X-Terminal-Id header, the token from
// "Authorization: Bearer <token>" or the query parameter token.
// Missing credentials answer 401, wrong ones 403, a malformed id 400.
func (h *Connect) Handle(ctx context.Context, req events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
	rc := req.RequestContext
	r := fleet.ConnectRequest{
		ConnectionID: rc.ConnectionID,
		TerminalID:   firstNonEmpty(query(req, "terminal_id"), header(req, "X-Terminal-Id")),
		Token:        firstNonEmpty(bearer(header(req, "Authorization")), query(req, "token")),
		SourceIP:     rc.Identity.SourceIP,
	}
	if rc.ConnectedAt > 0 {
		r.ConnectedAt = time.UnixMilli(rc.ConnectedAt)
	}
	if err := h.svc.Connect(ctx, r); err != nil {
		status, code := statusOf(err)
		if status >= 500 {
			slog.ErrorContext(ctx, "connect failed", "connection", rc.ConnectionID, "error", err)
			return response(status, code, "internal error"), nil
		}
		slog.WarnContext(ctx, "connect refused", "connection", rc.ConnectionID, "sourceIp", rc.Identity.SourceIP, "status", status, "error", err)
		return response(status, code, publicMessage(status)), nil
	}
	return events.APIGatewayProxyResponse{StatusCode: http.StatusOK}, nil
}

// Disconnect handles $disconnect.
type Disconnect struct{ svc *fleet.Service }

// NewDisconnect returns the $disconnect handler.
func NewDisconnect(svc *fleet.Service) *Disconnect { return &Disconnect{svc: svc} }

// Handle marks the terminal offline with the close code and reason API
// Gateway reports, unless a newer connection is current. A store failure
// is logged here and answered 500, not returned to the runtime: API Gateway
// neither retries $disconnect nor uses its answer, and the connection
// record expires on its own (ConnectionTTL).
func (h *Disconnect) Handle(ctx context.Context, req events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
	rc := req.RequestContext
	reason := "closed"
	if rc.DisconnectStatusCode != 0 {
		reason = "close " + strconv.FormatInt(rc.DisconnectStatusCode, 10)
	}
	if rc.DisconnectReason != nil && *rc.DisconnectReason != "" {
		reason += ": " + *rc.DisconnectReason
	}
	if err := h.svc.Disconnect(ctx, rc.ConnectionID, reason); err != nil {
		slog.ErrorContext(ctx, "disconnect failed", "connection", rc.ConnectionID, "error", err)
		return response(http.StatusInternalServerError, "internal", "internal error"), nil
	}
	return events.APIGatewayProxyResponse{StatusCode: http.StatusOK}, nil
}

// Message handles $default: every message a terminal sends.
type Message struct{ svc *fleet.Service }

// NewMessage returns the $default handler.
func NewMessage(svc *fleet.Service) *Message { return &Message{svc: svc} }

// Handle passes the body to the service. Protocol errors are answered to
// the terminal by the service; the Lambda itself always succeeds so that
// API Gateway does not add its own generic error message.
func (h *Message) Handle(ctx context.Context, req events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
	rc := req.RequestContext
	body := []byte(req.Body)
	if req.IsBase64Encoded {
		decoded, err := base64.StdEncoding.DecodeString(req.Body)
		if err != nil {
			body = []byte{0xff} // not UTF-8: the service answers bad_json
		} else {
			body = decoded
		}
	}
	if err := h.svc.HandleMessage(ctx, rc.ConnectionID, body); err != nil {
		slog.ErrorContext(ctx, "message failed", "connection", rc.ConnectionID, "error", err)
	}
	return events.APIGatewayProxyResponse{StatusCode: http.StatusOK}, nil
}

func statusOf(err error) (int, string) {
	switch {
	case errors.Is(err, fleet.ErrUnauthenticated):
		return http.StatusUnauthorized, "unauthenticated"
	case errors.Is(err, fleet.ErrForbidden):
		return http.StatusForbidden, "forbidden"
	case errors.Is(err, fleet.ErrInvalid):
		return http.StatusBadRequest, "invalid"
	case errors.Is(err, fleet.ErrThrottled):
		return http.StatusServiceUnavailable, "throttled"
	}
	return http.StatusInternalServerError, "internal"
}

func publicMessage(status int) string {
	switch status {
	case http.StatusUnauthorized:
		return "terminal id and token required (terminal_id query parameter or X-Terminal-Id header; Authorization: Bearer token)"
	case http.StatusForbidden:
		return "terminal credentials not accepted"
	case http.StatusBadRequest:
		return "malformed terminal id"
	}
	return http.StatusText(status)
}

func response(status int, code, msg string) events.APIGatewayProxyResponse {
	body, _ := json.Marshal(map[string]string{"code": code, "message": msg})
	return events.APIGatewayProxyResponse{
		StatusCode: status,
		Headers:    map[string]string{"Content-Type": "application/json"},
		Body:       string(body),
	}
}

// header returns a request header, matching its name without regard to case.
func header(req events.APIGatewayWebsocketProxyRequest, name string) string {
	for k, v := range req.Headers {
		if strings.EqualFold(k, name) && v != "" {
			return v
		}
	}
	for k, vs := range req.MultiValueHeaders {
		if strings.EqualFold(k, name) && len(vs) > 0 {
			return vs[0]
		}
	}
	return ""
}

func query(req events.APIGatewayWebsocketProxyRequest, name string) string {
	if v := req.QueryStringParameters[name]; v != "" {
		return v
	}
	if vs := req.MultiValueQueryStringParameters[name]; len(vs) > 0 {
		return vs[0]
	}
	return ""
}

func bearer(v string) string {
	scheme, token, ok := strings.Cut(strings.TrimSpace(v), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(token)
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}
