package fleet

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/edgesync/edgesync/protocol"
)

// Audit actions and outcomes.
const (
	AuditConfigSet        = "config.set"
	AuditCommand          = "command.send"
	AuditSync             = "terminal.sync"
	AuditTerminalCreate   = "terminal.create"
	AuditTerminalDelete   = "terminal.delete"
	AuditCredentialRotate = "credential.rotate"
	AuditCredentialRevoke = "credential.revoke"
	AuditRequestDenied    = "request.denied"
	AuditOutcomeRequested = "requested"
	AuditOutcomeDenied    = "denied"
	AuditOutcomeFailed    = "failed"
)

const (
	// maxAuditDetailBytes bounds the detail of one audit record (its JSON
	// after masking); a larger detail is replaced by boundDetail's
	// truncated form, so no caller can make a record large.
	maxAuditDetailBytes = 2048
	// maxAuditNameBytes bounds the actor and role a record names (a JWT
	// subject is the caller's to choose within the IdP's rules).
	maxAuditNameBytes     = 256
	defaultAuditPageLimit = 100
	maxAuditPageLimit     = 1000
	// auditDetailTruncated is the key that marks a truncated detail.
	auditDetailTruncated = "truncated"
)

// recordAudit writes an audit record of what p did. Secrets in detail are
// masked and its size bounded (boundDetail). Failing to audit is logged
// and returned: callers of sensitive operations treat it as a failure of
// the operation.
func (s *Service) recordAudit(ctx context.Context, p Principal, action, terminalID, outcome string, detail any) error {
	now := s.now()
	return s.putAudit(ctx, p, AuditRecord{ID: NewAuditID(now), At: now, Action: action, TerminalID: terminalID, Outcome: outcome}, detail)
}

// putAudit fills rec's actor, role and detail from p and detail, and
// stores it.
func (s *Service) putAudit(ctx context.Context, p Principal, rec AuditRecord, detail any) error {
	raw, err := json.Marshal(detail)
	if err != nil {
		return fmt.Errorf("audit %s: encode detail: %w", rec.Action, err)
	}
	rec.Actor, rec.Role = truncate(p.Subject, maxAuditNameBytes), truncate(string(p.Role), maxAuditNameBytes)
	rec.Detail = boundDetail(MaskSecrets(raw))
	if err := s.store.PutAudit(ctx, rec); err != nil {
		slog.ErrorContext(ctx, "audit record lost", "action", rec.Action, "actor", rec.Actor, "terminal", rec.TerminalID, "error", err)
		return fmt.Errorf("audit %s: %w", rec.Action, err)
	}
	return nil
}

// boundDetail returns raw if it is at most maxAuditDetailBytes, else
// {"truncated": true, "bytes": <its size>, "prefix": "<its beginning>"}
// within that size.
func boundDetail(raw json.RawMessage) json.RawMessage {
	if len(raw) <= maxAuditDetailBytes {
		return raw
	}
	keep := maxAuditDetailBytes / 2
	for {
		prefix := strings.ToValidUTF8(string(raw[:keep]), "")
		out, _ := json.Marshal(map[string]any{auditDetailTruncated: true, "bytes": len(raw), "prefix": prefix})
		if len(out) <= maxAuditDetailBytes || keep == 0 {
			return out
		}
		keep /= 2
	}
}

// denialWindow is the span over which repeated denials of one caller are
// one audit record (see deny).
const denialWindow = 5 * time.Minute

// denialID is the audit id of the denials of actor's operation for
// reason within the window starting at window: the same for every repeat,
// so repeats are idempotent writes of one record (Store.PutAudit keeps the
// first). It has NewAuditID's form for window.
func denialID(window time.Time, actor, operation, reason string) string {
	h := sha256.New()
	for _, part := range []string{actor, operation, reason} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	return fmt.Sprintf("%0*d-d%x", auditMillisDigits, window.UnixMilli(), h.Sum(nil)[:12])
}

// recentDenials remembers the denial records this process wrote, so a
// repeat within the window costs no write at all; other processes' repeats
// are idempotent writes (denialID).
type recentDenials struct {
	mu  sync.Mutex
	ids map[string]struct{}
}

// maxRecentDenials bounds recentDenials; it starts over when full.
const maxRecentDenials = 4096

func (r *recentDenials) seen(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.ids[id]
	return ok
}

func (r *recentDenials) add(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ids == nil || len(r.ids) >= maxRecentDenials {
		r.ids = make(map[string]struct{})
	}
	r.ids[id] = struct{}{}
}

// audited records what p is about to do (outcome "requested"), then does
// it: a sensitive operation never happens unaudited, and a failure to audit
// stops it before anything changed (so a token is never issued and then lost
// to an error). If op fails, a record with outcome "failed" follows (best
// effort); a "requested" record with no "failed" one after it was done.
func (s *Service) audited(ctx context.Context, p Principal, action, terminalID string, detail any, op func() error) error {
	if err := s.recordAudit(ctx, p, action, terminalID, AuditOutcomeRequested, detail); err != nil {
		return err
	}
	if err := op(); err != nil {
		_ = s.recordAudit(ctx, p, action, terminalID, AuditOutcomeFailed, map[string]any{"error": err.Error()})
		return err
	}
	return nil
}

// AuditTrail returns audit records, newest first. Limit 0 means 100. It
// needs the admin role.
func (s *Service) AuditTrail(ctx context.Context, p Principal, q AuditQuery) ([]AuditRecord, string, error) {
	if err := s.allow(ctx, p, opReadAudit, q.TerminalID); err != nil {
		return nil, "", err
	}
	if q.Limit == 0 {
		q.Limit = defaultAuditPageLimit
	}
	if q.Limit < 1 || q.Limit > maxAuditPageLimit {
		return nil, "", fmt.Errorf("limit %d: must be from 1 to %d: %w", q.Limit, maxAuditPageLimit, ErrInvalid)
	}
	if q.TerminalID != "" && !protocol.ValidID(q.TerminalID) {
		return nil, "", fmt.Errorf("terminal id %q: %w", truncate(q.TerminalID, 64), ErrInvalid)
	}
	if !q.Since.IsZero() && !q.Until.IsZero() && !q.Since.Before(q.Until) {
		return nil, "", fmt.Errorf("since must be before until: %w", ErrInvalid)
	}
	recs, next, err := s.store.Audit(ctx, q)
	if err != nil {
		return nil, "", fmt.Errorf("read audit trail: %w", err)
	}
	return recs, next, nil
}
