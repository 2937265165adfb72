package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/edgesync/edgesync/fleet"
)

// The handlers of terminals and their data: each parses the request, calls
// the service as the caller and answers what it returns. What the caller
// may do, which terminals it sees (one outside its groups answers 404 like
// an absent one) and which values are masked is decided by the service.

// listTerminals answers a page of terminals, filtered by the service as it
// pages (fleet.QueryTerminals): a filtered page may be short, even empty,
// with a nextCursor that continues the scan.
func (a *api) listTerminals(w http.ResponseWriter, r *http.Request) {
	q, ok := params(w, r, "limit", "cursor", "group", "q", "online", "stale", "agentVersion")
	if !ok {
		return
	}
	tq := fleet.TerminalQuery{Cursor: q.Get("cursor"), Group: q.Get("group"), Search: q.Get("q"), AgentVersion: q.Get("agentVersion")}
	if tq.Limit, ok = intParam(w, q, "limit", 100, 1, fleet.MaxPageSize); !ok {
		return
	}
	if tq.Online, ok = boolParam(w, q, "online"); !ok {
		return
	}
	if tq.Stale, ok = boolParam(w, q, "stale"); !ok {
		return
	}
	ts, next, err := a.svc.QueryTerminals(r.Context(), principal(r), tq)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if ts == nil {
		ts = []fleet.TerminalView{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"terminals": ts, "nextCursor": next})
}

func (a *api) getTerminal(w http.ResponseWriter, r *http.Request) {
	t, err := a.svc.Terminal(r.Context(), principal(r), r.PathValue("id"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, t)
}

func (a *api) getConfig(w http.ResponseWriter, r *http.Request) {
	v, err := a.svc.TerminalConfig(r.Context(), principal(r), r.PathValue("id"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// ConfigRequest is the body of PUT /terminals/{id}/config.
type ConfigRequest struct {
	Config json.RawMessage `json:"config"`
}

func (a *api) putConfig(w http.ResponseWriter, r *http.Request) {
	var req ConfigRequest
	if !readJSON(w, r, &req) {
		return
	}
	d, err := a.svc.SetConfig(r.Context(), principal(r), r.PathValue("id"), req.Config)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, d)
}

func (a *api) getStatus(w http.ResponseWriter, r *http.Request) {
	v, err := a.svc.TerminalStatus(r.Context(), principal(r), r.PathValue("id"))
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
		t, ok := timeParam(w, "since", v)
		if !ok {
			return
		}
		since = t
	}
	samples, err := a.svc.StatusHistory(r.Context(), principal(r), r.PathValue("id"), since, limit)
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
	page, err := a.svc.TerminalLogs(r.Context(), principal(r), r.PathValue("id"), lq)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, page)
}

func (a *api) sync(w http.ResponseWriter, r *http.Request) {
	cmds, err := a.svc.Sync(r.Context(), principal(r), r.PathValue("id"))
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
	c, err := a.svc.SendCommand(r.Context(), principal(r), r.PathValue("id"), req.Command, req.Params, timeout)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	w.Header().Set("Location", "/terminals/"+url.PathEscape(c.TerminalID)+"/commands/"+url.PathEscape(c.RequestID))
	writeJSON(w, http.StatusAccepted, c)
}

func (a *api) getCommand(w http.ResponseWriter, r *http.Request) {
	c, err := a.svc.Command(r.Context(), principal(r), r.PathValue("id"), r.PathValue("requestId"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, c)
}
