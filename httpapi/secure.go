package httpapi

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/edgesync/edgesync/fleet"
)

type principalKey struct{}

// principal returns the caller protect stored in the request's context.
func principal(r *http.Request) fleet.Principal {
	p, _ := r.Context().Value(principalKey{}).(fleet.Principal)
	return p
}

// protect identifies the caller and lets the request through if they hold
// role; a refusal for lack of role is audited.
func (a *api) protect(role fleet.Role, next http.HandlerFunc) http.HandlerFunc {
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
		if !p.Can(role) {
			_ = a.svc.Deny(r.Context(), p, r.PathValue("id"), r.Method, r.URL.Path, "role "+string(p.Role)+" may not do this; it needs "+string(role))
			writeError(w, http.StatusForbidden, "forbidden", "this needs the "+string(role)+" role")
			return
		}
		next(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
	}
}

// visible checks that the caller may see the terminal of the path; it has
// answered the request when it returns false.
func (a *api) visible(w http.ResponseWriter, r *http.Request) (fleet.Terminal, bool) {
	t, err := a.svc.Visible(r.Context(), principal(r), r.PathValue("id"), r.Method, r.URL.Path)
	if err != nil {
		a.fail(w, r, err)
		return fleet.Terminal{}, false
	}
	return t, true
}

func (a *api) me(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
	groups := p.Groups
	if groups == nil {
		groups = []string{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"subject": p.Subject, "role": p.Role, "groups": groups})
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
	if len(req.Name) > 200 || len(req.Groups) > 50 {
		writeError(w, http.StatusBadRequest, "invalid", "name is at most 200 bytes and groups at most 50")
		return
	}
	token, err := a.svc.CreateTerminalAs(r.Context(), principal(r), req.ID, req.Name, req.Groups)
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

func (a *api) listCredentials(w http.ResponseWriter, r *http.Request) {
	creds, err := a.svc.Credentials(r.Context(), r.PathValue("id"))
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
	token, err := a.svc.RotateTokenAs(r.Context(), principal(r), r.PathValue("id"), overlap)
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
	if err := a.svc.RevokeTokenAs(r.Context(), principal(r), r.PathValue("id"), req.CredentialID); err != nil {
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
	recs, next, err := a.svc.AuditTrail(r.Context(), aq)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if recs == nil {
		recs = []fleet.AuditRecord{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"records": recs, "nextCursor": next})
}
