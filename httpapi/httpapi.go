package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/edgesync/edgesync/fleet"
)

// Options configure the API.
type Options struct {
	// AllowedOrigins lists the origins a browser may call the API from;
	// "*" allows any. Empty means "*".
	AllowedOrigins []string
}

// OriginsFromEnv splits a comma-separated CORS_ALLOW_ORIGINS value.
func OriginsFromEnv(v string) []string {
	var out []string
	for _, o := range strings.Split(v, ",") {
		if o = strings.TrimSpace(o); o != "" {
			out = append(out, o)
		}
	}
	return out
}

type api struct {
	svc     *fleet.Service
	origins []string
}

// maxBodyBytes bounds request bodies.
const maxBodyBytes = 64 * 1024

// New returns the API handler.
func New(svc *fleet.Service, opts Options) http.Handler {
	a := &api{svc: svc, origins: opts.AllowedOrigins}
	if len(a.origins) == 0 {
		a.origins = []string{"*"}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /terminals", a.listTerminals)
	mux.HandleFunc("GET /terminals/{id}", a.getTerminal)
	mux.HandleFunc("GET /terminals/{id}/config", a.getConfig)
	mux.HandleFunc("GET /terminals/{id}/status", a.getStatus)
	mux.HandleFunc("GET /terminals/{id}/status/history", a.getStatusHistory)
	mux.HandleFunc("GET /terminals/{id}/logs", a.getLogs)
	mux.HandleFunc("POST /terminals/{id}/sync", a.sync)
	mux.HandleFunc("POST /terminals/{id}/commands", a.sendCommand)
	mux.HandleFunc("GET /terminals/{id}/commands/{requestId}", a.getCommand)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "no such resource: "+r.URL.Path)
	})
	return a.middleware(mux)
}

// middleware applies CORS, trailing-slash folding, method checks and
// request logging (the API response time metric).
func (a *api) middleware(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		a.cors(w, r)
		if r.Method == http.MethodOptions {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		if p := r.URL.Path; len(p) > 1 && strings.HasSuffix(p, "/") {
			r.URL.Path = strings.TrimSuffix(p, "/")
			r.URL.RawPath = ""
		}
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		_, pattern := mux.Handler(r)
		if pattern == "/" && r.URL.Path != "/" {
			// Distinguish a known path with the wrong method from an unknown path.
			for _, m := range []string{http.MethodGet, http.MethodPost} {
				probe := r.Clone(r.Context())
				probe.Method = m
				if _, p := mux.Handler(probe); p != "/" {
					rec.Header().Set("Allow", m)
					writeError(rec, http.StatusMethodNotAllowed, "method_not_allowed", r.Method+" is not allowed on "+r.URL.Path)
					a.logRequest(r, rec.status, start, pattern)
					return
				}
			}
		}
		mux.ServeHTTP(rec, r)
		a.logRequest(r, rec.status, start, pattern)
	})
}

func (a *api) logRequest(r *http.Request, status int, start time.Time, pattern string) {
	slog.InfoContext(r.Context(), "http request", "method", r.Method, "path", r.URL.Path, "route", pattern,
		"status", status, "durationMs", float64(time.Since(start).Microseconds())/1000)
}

func (a *api) cors(w http.ResponseWriter, r *http.Request) {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return
	}
	allowed := ""
	for _, o := range a.origins {
		if o == "*" {
			allowed = "*"
			break
		}
		if strings.EqualFold(o, origin) {
			allowed = origin
			break
		}
	}
	if allowed == "" {
		return
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", allowed)
	if allowed != "*" {
		h.Add("Vary", "Origin")
	}
	h.Set("Access-Control-Allow-Methods", "GET, POST, PUT, OPTIONS")
	h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
	h.Set("Access-Control-Max-Age", "600")
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

// actor names who is calling; until frontend access control lands it is
// the caller's address.
func actor(r *http.Request) string {
	return "http:" + r.RemoteAddr
}

func (a *api) listTerminals(w http.ResponseWriter, r *http.Request) {
	q, ok := params(w, r, "limit", "cursor")
	if !ok {
		return
	}
	limit, ok := intParam(w, q, "limit", 100, 1, fleet.MaxPageSize)
	if !ok {
		return
	}
	ts, next, err := a.svc.Terminals(r.Context(), q.Get("cursor"), limit)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"terminals": ts, "nextCursor": next})
}

func (a *api) getTerminal(w http.ResponseWriter, r *http.Request) {
	t, err := a.svc.Terminal(r.Context(), r.PathValue("id"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, t)
}

func (a *api) getConfig(w http.ResponseWriter, r *http.Request) {
	v, err := a.svc.TerminalConfig(r.Context(), r.PathValue("id"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (a *api) getStatus(w http.ResponseWriter, r *http.Request) {
	v, err := a.svc.TerminalStatus(r.Context(), r.PathValue("id"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (a *api) getStatusHistory(w http.ResponseWriter, r *http.Request) {
	q, ok := params(w, r, "since", "limit")
	if !ok {
		return
	}
	limit, ok := intParam(w, q, "limit", 120, 1, 2000)
	if !ok {
		return
	}
	since := time.Now().Add(-time.Hour)
	if v := q.Get("since"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			d, derr := time.ParseDuration(v)
			if derr != nil || d <= 0 {
				writeError(w, http.StatusBadRequest, "invalid", `query parameter "since": want an RFC 3339 time or a positive duration like 30m`)
				return
			}
			t = time.Now().Add(-d)
		}
		since = t
	}
	samples, err := a.svc.StatusHistory(r.Context(), r.PathValue("id"), since, limit)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if samples == nil {
		samples = []fleet.StatusSample{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"terminalId": r.PathValue("id"), "samples": samples})
}

func (a *api) getLogs(w http.ResponseWriter, r *http.Request) {
	q, ok := params(w, r, "count", "limit", "since", "since_seq", "level", "cursor", "q")
	if !ok {
		return
	}
	var lq fleet.LogQuery
	countKey := "count"
	if q.Has("limit") && !q.Has("count") {
		countKey = "limit"
	}
	if lq.Count, ok = intParam(w, q, countKey, fleet.DefaultLogCount, 1, fleet.MaxLogCount); !ok {
		return
	}
	sinceKey := "since"
	if q.Has("since_seq") && !q.Has("since") {
		sinceKey = "since_seq"
	}
	if v := q.Get(sinceKey); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			writeError(w, http.StatusBadRequest, "invalid", fmt.Sprintf("query parameter %q: want a sequence number (a whole number 0 or more)", sinceKey))
			return
		}
		lq.After, lq.HasAfter = n, true
	}
	if c := q.Get("cursor"); c != "" {
		if lq.HasAfter {
			writeError(w, http.StatusBadRequest, "invalid", `query parameters "since" and "cursor": give one, not both`)
			return
		}
		if err := fleet.ParseLogCursor(c, &lq); err != nil {
			writeError(w, http.StatusBadRequest, "invalid", `query parameter "cursor": not a cursor this API returned`)
			return
		}
	}
	lq.Level = q.Get("level")
	lq.Search = q.Get("q")
	page, err := a.svc.TerminalLogs(r.Context(), r.PathValue("id"), lq)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, page)
}

func (a *api) sync(w http.ResponseWriter, r *http.Request) {
	cmds, err := a.svc.Sync(r.Context(), r.PathValue("id"), actor(r))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"terminalId": r.PathValue("id"), "commands": cmds})
}

// CommandRequest is the body of POST /terminals/{id}/commands.
type CommandRequest struct {
	Command        string          `json:"command"`
	Params         json.RawMessage `json:"params,omitempty"`
	TimeoutSeconds float64         `json:"timeoutSeconds,omitempty"`
}

func (a *api) sendCommand(w http.ResponseWriter, r *http.Request) {
	var req CommandRequest
	if !readJSON(w, r, &req) {
		return
	}
	if req.TimeoutSeconds < 0 || req.TimeoutSeconds > 300 {
		writeError(w, http.StatusBadRequest, "invalid", `field "timeoutSeconds": must be from 0 to 300`)
		return
	}
	timeout := time.Duration(req.TimeoutSeconds * float64(time.Second))
	c, err := a.svc.SendCommand(r.Context(), r.PathValue("id"), req.Command, req.Params, actor(r), timeout)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	w.Header().Set("Location", "/terminals/"+url.PathEscape(c.TerminalID)+"/commands/"+url.PathEscape(c.RequestID))
	writeJSON(w, http.StatusAccepted, c)
}

func (a *api) getCommand(w http.ResponseWriter, r *http.Request) {
	c, err := a.svc.Command(r.Context(), r.PathValue("id"), r.PathValue("requestId"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, c)
}

// fail maps a service error to a response. Client errors carry the
// service's message; server errors are logged once and answered generically.
func (a *api) fail(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, fleet.ErrInvalid):
		writeError(w, http.StatusBadRequest, "invalid", clientMessage(err))
	case errors.Is(err, fleet.ErrNotFound):
		writeError(w, http.StatusNotFound, "not_found", clientMessage(err))
	case errors.Is(err, fleet.ErrOffline):
		writeError(w, http.StatusConflict, "offline", "terminal is offline; its last known data stays readable")
	case errors.Is(err, fleet.ErrUnauthenticated):
		writeError(w, http.StatusUnauthorized, "unauthenticated", "authentication required")
	case errors.Is(err, fleet.ErrForbidden):
		writeError(w, http.StatusForbidden, "forbidden", "not allowed")
	case errors.Is(err, fleet.ErrThrottled):
		w.Header().Set("Retry-After", "1")
		writeError(w, http.StatusServiceUnavailable, "throttled", "the store is busy; retry shortly")
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		writeError(w, http.StatusGatewayTimeout, "timeout", "the request took too long")
	default:
		slog.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "error", err)
		writeError(w, http.StatusInternalServerError, "internal", "internal error")
	}
}

// clientMessage strips the sentinel's own text from a wrapped client error.
func clientMessage(err error) string {
	msg := err.Error()
	for _, s := range []error{fleet.ErrInvalid, fleet.ErrNotFound} {
		msg = strings.TrimSuffix(msg, ": "+s.Error())
	}
	return msg
}

// params returns the query after checking that every parameter is known
// and given once.
func params(w http.ResponseWriter, r *http.Request, known ...string) (url.Values, bool) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid", "malformed query string")
		return nil, false
	}
	for k, vs := range q {
		isKnown := false
		for _, kk := range known {
			if k == kk {
				isKnown = true
			}
		}
		if !isKnown {
			continue // tolerate extra parameters a frontend may send
		}
		if len(vs) > 1 {
			writeError(w, http.StatusBadRequest, "invalid", fmt.Sprintf("query parameter %q: given %d times", k, len(vs)))
			return nil, false
		}
	}
	return q, true
}

func intParam(w http.ResponseWriter, q url.Values, name string, def, lo, hi int) (int, bool) {
	v := q.Get(name)
	if v == "" {
		return def, true
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		writeError(w, http.StatusBadRequest, "invalid", fmt.Sprintf("query parameter %q: want a whole number from %d to %d", name, lo, hi))
		return 0, false
	}
	return n, true
}

func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		writeError(w, http.StatusUnsupportedMediaType, "unsupported_media_type", "send application/json")
		return false
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("body is over %d bytes", maxBodyBytes))
			return false
		}
		writeError(w, http.StatusBadRequest, "invalid", "malformed JSON body: "+err.Error())
		return false
	}
	if dec.More() {
		writeError(w, http.StatusBadRequest, "invalid", "body must hold one JSON object")
		return false
	}
	return true
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		slog.Error("encode response", "error", err)
		status, body = http.StatusInternalServerError, []byte(`{"code":"internal","message":"internal error"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]string{"code": code, "message": msg})
}
