package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"path"
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
	// Dashboard serves the operator dashboard at / and under
	// dashboard.AssetPrefix (nil: dashboard.Handler(), a page that calls
	// this API's origin only; see dashboard.Options for other API origins).
	Dashboard http.Handler
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
	mux.HandleFunc("GET /me", a.identified(a.me))
	mux.HandleFunc("GET /terminals", a.identified(a.listTerminals))
	mux.HandleFunc("POST /terminals", a.identified(a.createTerminal))
	mux.HandleFunc("GET /terminals/{id}", a.identified(a.getTerminal))
	mux.HandleFunc("DELETE /terminals/{id}", a.identified(a.deleteTerminal))
	mux.HandleFunc("GET /terminals/{id}/config", a.identified(a.getConfig))
	mux.HandleFunc("PUT /terminals/{id}/config", a.identified(a.putConfig))
	mux.HandleFunc("GET /terminals/{id}/status", a.identified(a.getStatus))
	mux.HandleFunc("GET /terminals/{id}/status/history", a.identified(a.getStatusHistory))
	mux.HandleFunc("GET /terminals/{id}/logs", a.identified(a.getLogs))
	mux.HandleFunc("POST /terminals/{id}/sync", a.identified(a.sync))
	mux.HandleFunc("POST /terminals/{id}/commands", a.identified(a.sendCommand))
	mux.HandleFunc("GET /terminals/{id}/commands/{requestId}", a.identified(a.getCommand))
	mux.HandleFunc("GET /terminals/{id}/credentials", a.identified(a.listCredentials))
	mux.HandleFunc("POST /terminals/{id}/credentials/rotate", a.identified(a.rotateCredentials))
	mux.HandleFunc("POST /terminals/{id}/credentials/revoke", a.identified(a.revokeCredentials))
	mux.HandleFunc("GET /terminals/{id}/audit", a.identified(a.terminalAudit))
	mux.HandleFunc("GET /audit", a.identified(a.audit))
	mux.HandleFunc("PUT /groups/{group}/config", a.identified(a.putGroupConfig))
	mux.HandleFunc("GET /groups/{group}/rollouts", a.identified(a.listRollouts))
	mux.HandleFunc("GET /groups/{group}/rollouts/{rollout}", a.identified(a.getRollout))
	mux.HandleFunc("GET /groups/{group}/rollouts/{rollout}/waves/{wave}", a.identified(a.getRolloutWave))
	mux.HandleFunc("POST /groups/{group}/rollouts/{rollout}/pause", a.identified(a.controlRollout((*fleet.Service).PauseRollout)))
	mux.HandleFunc("POST /groups/{group}/rollouts/{rollout}/resume", a.identified(a.controlRollout((*fleet.Service).ResumeRollout)))
	mux.HandleFunc("POST /groups/{group}/rollouts/{rollout}/cancel", a.identified(a.controlRollout((*fleet.Service).CancelRollout)))
	mux.HandleFunc("POST /groups/{group}/rollouts/{rollout}/rollback", a.identified(a.controlRollout((*fleet.Service).RollbackRollout)))
	// Fleet-wide operations (fleetops.go).
	mux.HandleFunc("GET /logs", a.identified(a.searchLogs))
	mux.HandleFunc("GET /alerts", a.identified(a.listAlerts))
	mux.HandleFunc("GET /groups/{group}/alert-rules", a.identified(a.listAlertRules))
	mux.HandleFunc("POST /groups/{group}/alert-rules", a.identified(a.createAlertRule))
	mux.HandleFunc("DELETE /groups/{group}/alert-rules/{rule}", a.identified(a.deleteAlertRule))
	mux.HandleFunc("POST /groups/{group}/alerts/{rule}/{terminal}/acknowledge", a.identified(a.acknowledgeAlert))
	// The operator dashboard: the page at / and its assets under /ui/.
	ui := opts.Dashboard
	if ui == nil {
		ui = dashboard.Handler()
	}
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
			for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete} {
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

type principalKey struct{}

// principal returns the caller identified stored in the request's context.
func principal(r *http.Request) fleet.Principal {
	p, _ := r.Context().Value(principalKey{}).(fleet.Principal)
	return p
}

// identified authenticates the caller (Options.Identify) and passes the
// request on with the principal in its context, for the service to decide
// what the caller may do and see. Roles, groups and masking are the
// service's (fleet): this API applies none of them.
func (a *api) identified(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if a.identify == nil {
			writeError(w, http.StatusUnauthorized, "unauthenticated", "authentication required")
			return
		}
		p, err := a.identify(r)
		if err != nil {
			if errors.Is(err, fleet.ErrForbidden) {
				writeError(w, http.StatusForbidden, "forbidden", clientMessage(err))
				return
			}
			writeError(w, http.StatusUnauthorized, "unauthenticated", "authentication required: send Authorization: Bearer <JWT>")
			return
		}
		ctx := fleet.WithRequest(context.WithValue(r.Context(), principalKey{}, p), r.Method, r.URL.Path)
		next(w, r.WithContext(ctx))
	}
}
