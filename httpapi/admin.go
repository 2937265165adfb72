package httpapi

import (
	"errors"
	"net/http"
	"time"

	"github.com/edgesync/edgesync/fleet"
)

// The handlers of the caller, terminal registration, credentials and the
// audit trail (the service requires the admin role for all but GET /me).

func (a *api) me(w http.ResponseWriter, r *http.Request) {
	v, err := a.svc.Caller(r.Context(), principal(r))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// CreateTerminalRequest is the body of POST /terminals.
type CreateTerminalRequest struct {
	ID     string   `json:"id"`
	Name   string   `json:"name,omitempty"`
	Groups []string `json:"groups,omitempty"`
}

func (a *api) createTerminal(w http.ResponseWriter, r *http.Request) {
	var req CreateTerminalRequest
	if !readJSON(w, r, &req) {
		return
	}
	token, err := a.svc.CreateTerminal(r.Context(), principal(r), req.ID, req.Name, req.Groups)
	if errors.Is(err, fleet.ErrExists) {
		writeError(w, http.StatusConflict, "exists", "a terminal with that id exists")
		return
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	w.Header().Set("Location", "/terminals/"+req.ID)
	writeJSON(w, http.StatusCreated, map[string]string{"id": req.ID, "token": token})
}

func (a *api) deleteTerminal(w http.ResponseWriter, r *http.Request) {
	if err := a.svc.DeleteTerminal(r.Context(), principal(r), r.PathValue("id")); err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *api) listCredentials(w http.ResponseWriter, r *http.Request) {
	creds, err := a.svc.Credentials(r.Context(), principal(r), r.PathValue("id"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if creds == nil {
		creds = []fleet.Credential{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"terminalId": r.PathValue("id"), "credentials": creds})
}

// RotateRequest is the body of POST /terminals/{id}/credentials/rotate.
type RotateRequest struct {
	// OverlapSeconds is how long the old tokens keep working (default 86400).
	OverlapSeconds *float64 `json:"overlapSeconds,omitempty"`
}

func (a *api) rotateCredentials(w http.ResponseWriter, r *http.Request) {
	var req RotateRequest
	if !readJSON(w, r, &req) {
		return
	}
	overlap := 24 * time.Hour
	if req.OverlapSeconds != nil {
		if *req.OverlapSeconds < 0 || *req.OverlapSeconds > 90*86400 {
			writeError(w, http.StatusBadRequest, "invalid", `field "overlapSeconds": must be from 0 to 7776000 (90 days)`)
			return
		}
		overlap = time.Duration(*req.OverlapSeconds * float64(time.Second))
	}
	token, err := a.svc.RotateToken(r.Context(), principal(r), r.PathValue("id"), overlap)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"terminalId": r.PathValue("id"), "token": token, "oldTokensUntil": time.Now().Add(overlap).UTC()})
}

// RevokeRequest is the body of POST /terminals/{id}/credentials/revoke.
type RevokeRequest struct {
	// CredentialID names one credential; empty revokes all of them.
	CredentialID string `json:"credentialId,omitempty"`
}

func (a *api) revokeCredentials(w http.ResponseWriter, r *http.Request) {
	var req RevokeRequest
	if !readJSON(w, r, &req) {
		return
	}
	if err := a.svc.RevokeToken(r.Context(), principal(r), r.PathValue("id"), req.CredentialID); err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"terminalId": r.PathValue("id"), "revoked": req.CredentialID})
}

func (a *api) terminalAudit(w http.ResponseWriter, r *http.Request) {
	a.auditPage(w, r, r.PathValue("id"))
}

func (a *api) audit(w http.ResponseWriter, r *http.Request) {
	a.auditPage(w, r, "")
}

func (a *api) auditPage(w http.ResponseWriter, r *http.Request, terminalID string) {
	q, ok := params(w, r, "limit", "cursor", "actor", "action", "since", "until", "terminal")
	if !ok {
		return
	}
	aq := fleet.AuditQuery{TerminalID: terminalID, Actor: q.Get("actor"), Action: q.Get("action"), Cursor: q.Get("cursor")}
	if terminalID == "" {
		aq.TerminalID = q.Get("terminal")
	}
	if aq.Limit, ok = intParam(w, q, "limit", 100, 1, 1000); !ok {
		return
	}
	if v := q.Get("since"); v != "" {
		if aq.Since, ok = timeParam(w, "since", v); !ok {
			return
		}
	}
	if v := q.Get("until"); v != "" {
		if aq.Until, ok = timeParam(w, "until", v); !ok {
			return
		}
	}
	recs, next, err := a.svc.AuditTrail(r.Context(), principal(r), aq)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if recs == nil {
		recs = []fleet.AuditRecord{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"records": recs, "nextCursor": next})
}
