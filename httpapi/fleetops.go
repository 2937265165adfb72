package httpapi

import (
	"net/http"
	"net/url"

	"github.com/edgesync/edgesync/fleet"
)

// The handlers of fleet-wide operations: searching the logs of every
// terminal the caller sees, and alert rules and alerts per group. The
// service decides what the caller may do and see (groups, roles, masking).

// searchLogs answers a page of fleet.SearchLogs: lines newest first, each
// with its terminal; a page may be short with a nextCursor (the request's
// read budget ran out).
func (a *api) searchLogs(w http.ResponseWriter, r *http.Request) {
	q, ok := params(w, r, "group", "level", "q", "since", "until", "cursor", "limit")
	if !ok {
		return
	}
	s := fleet.LogSearch{Group: q.Get("group"), Level: q.Get("level"), Query: q.Get("q"), Cursor: q.Get("cursor")}
	if s.Limit, ok = intParam(w, q, "limit", fleet.DefaultSearchLimit, 1, fleet.MaxSearchLimit); !ok {
		return
	}
	if v := q.Get("since"); v != "" {
		if s.Since, ok = timeParam(w, "since", v); !ok {
			return
		}
	}
	if v := q.Get("until"); v != "" {
		if s.Until, ok = timeParam(w, "until", v); !ok {
			return
		}
	}
	page, err := a.svc.SearchLogs(r.Context(), principal(r), s)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, page)
}

func (a *api) listAlerts(w http.ResponseWriter, r *http.Request) {
	q, ok := params(w, r, "group", "state", "cursor", "limit")
	if !ok {
		return
	}
	aq := fleet.AlertQuery{Group: q.Get("group"), State: q.Get("state"), Cursor: q.Get("cursor")}
	if aq.Limit, ok = intParam(w, q, "limit", fleet.DefaultAlertPage, 1, fleet.MaxAlertPage); !ok {
		return
	}
	alerts, next, err := a.svc.Alerts(r.Context(), principal(r), aq)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"alerts": alerts, "nextCursor": next})
}

func (a *api) listAlertRules(w http.ResponseWriter, r *http.Request) {
	rules, err := a.svc.AlertRules(r.Context(), principal(r), r.PathValue("group"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"group": r.PathValue("group"), "rules": rules})
}

// AlertRuleRequest is the body of POST /groups/{group}/alert-rules.
type AlertRuleRequest struct {
	Kind      fleet.AlertKind `json:"kind"`
	Name      string          `json:"name,omitempty"`
	Minutes   int             `json:"minutes,omitempty"`
	Field     string          `json:"field,omitempty"`
	Op        string          `json:"op,omitempty"`
	Threshold float64         `json:"threshold,omitempty"`
}

func (a *api) createAlertRule(w http.ResponseWriter, r *http.Request) {
	var req AlertRuleRequest
	if !readJSON(w, r, &req) {
		return
	}
	group := r.PathValue("group")
	rule, err := a.svc.CreateAlertRule(r.Context(), principal(r), group, fleet.AlertRule{
		Kind: req.Kind, Name: req.Name, Minutes: req.Minutes, Field: req.Field, Op: req.Op, Threshold: req.Threshold,
	})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	w.Header().Set("Location", "/groups/"+url.PathEscape(group)+"/alert-rules/"+url.PathEscape(rule.ID))
	writeJSON(w, http.StatusCreated, rule)
}

func (a *api) deleteAlertRule(w http.ResponseWriter, r *http.Request) {
	if err := a.svc.DeleteAlertRule(r.Context(), principal(r), r.PathValue("group"), r.PathValue("rule")); err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *api) acknowledgeAlert(w http.ResponseWriter, r *http.Request) {
	alert, err := a.svc.AcknowledgeAlert(r.Context(), principal(r), r.PathValue("group"), r.PathValue("rule"), r.PathValue("terminal"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, alert)
}
