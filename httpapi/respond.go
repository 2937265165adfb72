package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/edgesync/edgesync/fleet"
)

// Parsing requests and writing answers: query parameters, JSON bodies, and
// the mapping of service errors to status codes.

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
	case errors.Is(err, fleet.ErrConflict):
		writeError(w, http.StatusConflict, "conflict", "changed concurrently by another request; nothing changed, retry")
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

// boolParam reads an optional true/false parameter: nil when absent.
func boolParam(w http.ResponseWriter, q url.Values, name string) (*bool, bool) {
	switch q.Get(name) {
	case "":
		return nil, true
	case "true":
		v := true
		return &v, true
	case "false":
		v := false
		return &v, true
	}
	writeError(w, http.StatusBadRequest, "invalid", fmt.Sprintf("query parameter %q: want true or false", name))
	return nil, false
}

func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	if !jsonContentType(r.Header.Get("Content-Type")) {
		writeError(w, http.StatusUnsupportedMediaType, "unsupported_media_type", "send the body as application/json (or with no Content-Type)")
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

// jsonContentType reports whether a request body of this Content-Type is
// read as JSON: application/json (any parameters), none at all, and
// application/x-www-form-urlencoded, which is what `curl -d` sends when not
// told otherwise (the body must still be one JSON object, so a real form
// is refused as malformed JSON). Anything else is 415.
func jsonContentType(ct string) bool {
	if ct == "" {
		return true
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	return mt == "application/json" || mt == "application/x-www-form-urlencoded"
}
