package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/edgesync/edgesync/dashboard"
	"github.com/edgesync/edgesync/fleet"
)

// Options configure the API.
type Options struct {
	// AllowedOrigins lists the origins a browser may call the API from;
	// "*" allows any. Empty means "*".
	AllowedOrigins []string
	// Identify returns the authenticated caller of a request (from the API
	// Gateway JWT authorizer's claims in Lambda, see infra/apigw.Identify).
	// It returns an error wrapping fleet.ErrUnauthenticated or
	// fleet.ErrForbidden to refuse. Nil refuses every request but the public
	// ones (health, OpenAPI document, dashboard files).
	Identify func(*http.Request) (fleet.Principal, error)
	// Metrics receives each request's response time (nil: none).
	Metrics fleet.Metrics
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
	svc      *fleet.Service
	origins  []string
	identify func(*http.Request) (fleet.Principal, error)
	metrics  fleet.Metrics
}

// maxBodyBytes bounds request bodies.
const maxBodyBytes = 64 * 1024

// New returns the API handler.
func New(svc *fleet.Service, opts Options) http.Handler {
	a := &api{svc: svc, origins: opts.AllowedOrigins, identify: opts.Identify, metrics: opts.Metrics}
	if len(a.origins) == 0 {
		a.origins = []string{"*"}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /openapi.yaml", serveOpenAPI)
	mux.HandleFunc("GET /me", a.protect(fleet.RoleViewer, a.me))
	mux.HandleFunc("GET /terminals", a.protect(fleet.RoleViewer, a.listTerminals))
	mux.HandleFunc("POST /terminals", a.protect(fleet.RoleAdmin, a.createTerminal))
	mux.HandleFunc("GET /terminals/{id}", a.protect(fleet.RoleViewer, a.getTerminal))
	mux.HandleFunc("GET /terminals/{id}/config", a.protect(fleet.RoleViewer, a.getConfig))
	mux.HandleFunc("PUT /terminals/{id}/config", a.protect(fleet.RoleOperator, a.putConfig))
	mux.HandleFunc("GET /terminals/{id}/status", a.protect(fleet.RoleViewer, a.getStatus))
	mux.HandleFunc("GET /terminals/{id}/status/history", a.protect(fleet.RoleViewer, a.getStatusHistory))
	mux.HandleFunc("GET /terminals/{id}/logs", a.protect(fleet.RoleViewer, a.getLogs))
	mux.HandleFunc("POST /terminals/{id}/sync", a.protect(fleet.RoleOperator, a.sync))
	mux.HandleFunc("POST /terminals/{id}/commands", a.protect(fleet.RoleOperator, a.sendCommand))
	mux.HandleFunc("GET /terminals/{id}/commands/{requestId}", a.protect(fleet.RoleViewer, a.getCommand))
	mux.HandleFunc("GET /terminals/{id}/credentials", a.protect(fleet.RoleAdmin, a.listCredentials))
	mux.HandleFunc("POST /terminals/{id}/credentials/rotate", a.protect(fleet.RoleAdmin, a.rotateCredentials))
	mux.HandleFunc("POST /terminals/{id}/credentials/revoke", a.protect(fleet.RoleAdmin, a.revokeCredentials))
	mux.HandleFunc("GET /terminals/{id}/audit", a.protect(fleet.RoleAdmin, a.terminalAudit))
	mux.HandleFunc("GET /audit", a.protect(fleet.RoleAdmin, a.audit))
	// The operator dashboard: the page at / and its assets under /ui/.
	ui := dashboard.Handler()
	mux.Handle("GET /{$}", ui)
	mux.Handle("GET "+dashboard.AssetPrefix+"{file...}", ui)
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
			// Keep escapes such as %2F: an id never becomes a path segment.
			r.URL.RawPath = strings.TrimSuffix(r.URL.RawPath, "/")
		}
		if p := r.URL.Path; p != "/" && path.Clean(p) != p {
			// ServeMux would redirect to the cleaned path with an HTML body;
			// an API answers in JSON and does not guess.
			rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
			writeError(rec, http.StatusBadRequest, "invalid", "path has empty, . or .. segments")
			a.logRequest(r, rec.status, start, "")
			return
		}
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		_, pattern := mux.Handler(r)
		if pattern == "/" && r.URL.Path != "/" {
			// Distinguish a known path with the wrong method from an unknown path.
			for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut} {
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
	ms := float64(time.Since(start).Microseconds()) / 1000
	slog.InfoContext(r.Context(), "http request", "method", r.Method, "path", r.URL.Path, "route", pattern,
		"status", status, "durationMs", ms)
	if a.metrics != nil {
		a.metrics.Record(fleet.MetricAPILatency, ms, fleet.UnitMilliseconds)
	}
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
	h.Set("Access-Control-Allow-Methods", "GET, POST, PUT, DELETE, OPTIONS")
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

func (a *api) listTerminals(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
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
	visible := make([]fleet.TerminalView, 0, len(ts))
	for _, t := range ts {
		if p.Sees(t.Terminal) {
			visible = append(visible, t)
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"terminals": visible, "nextCursor": next})
}

func (a *api) getTerminal(w http.ResponseWriter, r *http.Request) {
	if _, ok := a.visible(w, r); !ok {
		return
	}
	t, err := a.svc.Terminal(r.Context(), r.PathValue("id"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, t)
}

func (a *api) getConfig(w http.ResponseWriter, r *http.Request) {
	if _, ok := a.visible(w, r); !ok {
		return
	}
	v, err := a.svc.TerminalConfigView(r.Context(), r.PathValue("id"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if !principal(r).Can(fleet.RoleAdmin) {
		v.Data = fleet.MaskSecrets(v.Data)
		if v.Desired != nil {
			v.Desired.Data = fleet.MaskSecrets(v.Desired.Data)
		}
	}
	writeJSON(w, http.StatusOK, v)
}

// ConfigRequest is the body of PUT /terminals/{id}/config.
type ConfigRequest struct {
	Config json.RawMessage `json:"config"`
}

func (a *api) putConfig(w http.ResponseWriter, r *http.Request) {
	if _, ok := a.visible(w, r); !ok {
		return
	}
	var req ConfigRequest
	if !readJSON(w, r, &req) {
		return
	}
	d, err := a.svc.SetConfig(r.Context(), principal(r), r.PathValue("id"), req.Config)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if !principal(r).Can(fleet.RoleAdmin) {
		d.Data = fleet.MaskSecrets(d.Data)
	}
	writeJSON(w, http.StatusAccepted, d)
}

func (a *api) getStatus(w http.ResponseWriter, r *http.Request) {
	if _, ok := a.visible(w, r); !ok {
		return
	}
	v, err := a.svc.TerminalStatus(r.Context(), r.PathValue("id"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if !principal(r).Can(fleet.RoleAdmin) {
		v.Data = fleet.MaskSecrets(v.Data)
	}
	writeJSON(w, http.StatusOK, v)
}

func (a *api) getStatusHistory(w http.ResponseWriter, r *http.Request) {
	if _, ok := a.visible(w, r); !ok {
		return
	}
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
		t, ok := timeParam(w, "since", v)
		if !ok {
			return
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
	if !principal(r).Can(fleet.RoleAdmin) {
		for i := range samples {
			samples[i].Data = fleet.MaskSecrets(samples[i].Data)
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"terminalId": r.PathValue("id"), "samples": samples})
}

// timeParam parses an RFC 3339 time or a positive duration back from now.
func timeParam(w http.ResponseWriter, name, v string) (time.Time, bool) {
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, true
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		writeError(w, http.StatusBadRequest, "invalid", fmt.Sprintf("query parameter %q: want an RFC 3339 time or a positive duration like 30m", name))
		return time.Time{}, false
	}
	return time.Now().Add(-d), true
}

func (a *api) getLogs(w http.ResponseWriter, r *http.Request) {
	if _, ok := a.visible(w, r); !ok {
		return
	}
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
	if !principal(r).Can(fleet.RoleAdmin) {
		for i := range page.Entries {
			for k := range page.Entries[i].Attrs {
				if fleet.IsSecretKey(k) {
					page.Entries[i].Attrs[k] = fleet.Masked
				}
			}
		}
	}
	writeJSON(w, http.StatusOK, page)
}

func (a *api) sync(w http.ResponseWriter, r *http.Request) {
	if _, ok := a.visible(w, r); !ok {
		return
	}
	cmds, err := a.svc.SyncAs(r.Context(), principal(r), r.PathValue("id"))
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
	if _, ok := a.visible(w, r); !ok {
		return
	}
	var req CommandRequest
	if !readJSON(w, r, &req) {
		return
	}
	if req.TimeoutSeconds < 0 || req.TimeoutSeconds > 300 {
		writeError(w, http.StatusBadRequest, "invalid", `field "timeoutSeconds": must be from 0 to 300`)
		return
	}
	if req.Command == "set_config" {
		writeError(w, http.StatusBadRequest, "invalid", "change config with PUT /terminals/{id}/config: it is validated, versioned and audited")
		return
	}
	p := principal(r)
	timeout := time.Duration(req.TimeoutSeconds * float64(time.Second))
	c, err := a.svc.SendCommandAs(r.Context(), p, r.PathValue("id"), req.Command, req.Params, timeout)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	w.Header().Set("Location", "/terminals/"+url.PathEscape(c.TerminalID)+"/commands/"+url.PathEscape(c.RequestID))
	writeJSON(w, http.StatusAccepted, maskCommand(p, c))
}

func (a *api) getCommand(w http.ResponseWriter, r *http.Request) {
	if _, ok := a.visible(w, r); !ok {
		return
	}
	c, err := a.svc.Command(r.Context(), r.PathValue("id"), r.PathValue("requestId"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, maskCommand(principal(r), c))
}

func maskCommand(p fleet.Principal, c fleet.Command) fleet.Command {
	if !p.Can(fleet.RoleAdmin) {
		c.Params = fleet.MaskSecrets(c.Params)
		c.Result = fleet.MaskSecrets(c.Result)
	}
	return c
}

// fail maps a service error to a response. Client errors carry the
// service's message; server errors are logged once and answered generically.
func (a *api) fail(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, fleet.ErrInvalid):
		writeError(w, http.StatusBadRequest, "invalid", clientMessage(err))
	case errors.Is(err, fleet.ErrNotFound):
		writeError(w, http.StatusNotFound, "not_found", clientMessage(err))
	case errors.Is(err, fleet.ErrExists):
		writeError(w, http.StatusConflict, "exists", clientMessage(err))
	case errors.Is(err, fleet.ErrOffline):
		writeError(w, http.StatusConflict, "offline", "terminal is offline; its last known data stays readable")
	case errors.Is(err, fleet.ErrUnauthenticated):
		writeError(w, http.StatusUnauthorized, "unauthenticated", "authentication required")
	case errors.Is(err, fleet.ErrForbidden):
		writeError(w, http.StatusForbidden, "forbidden", clientMessage(err))
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
	for _, s := range []error{fleet.ErrInvalid, fleet.ErrNotFound, fleet.ErrForbidden, fleet.ErrExists} {
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
