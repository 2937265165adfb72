package fleet

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/edgesync/edgesync/protocol"
)

// Audit actions and outcomes.
const (
	AuditConfigSet        = "config.set"
	AuditCommand          = "command.send"
	AuditSync             = "terminal.sync"
	AuditTerminalCreate   = "terminal.create"
	AuditCredentialRotate = "credential.rotate"
	AuditCredentialRevoke = "credential.revoke"
	AuditRequestDenied    = "request.denied"
	AuditOutcomeRequested = "requested"
	AuditOutcomeDenied    = "denied"
	AuditOutcomeFailed    = "failed"
)

const (
	maxAuditDetailBytes    = 32 * 1024
	defaultAuditPageLimit  = 100
	maxAuditPageLimit      = 1000
	auditDetailTruncatedAt = "truncated"
)

// recordAudit writes an audit record of what p did. Secrets in detail are
// masked. Failing to audit is logged and returned: callers of sensitive
// operations treat it as a failure of the operation.
func (s *Service) recordAudit(ctx context.Context, p Principal, action, terminalID, outcome string, detail any) error {
	raw, err := json.Marshal(detail)
	if err != nil {
		return fmt.Errorf("audit %s: encode detail: %w", action, err)
	}
	raw = MaskSecrets(raw)
	if len(raw) > maxAuditDetailBytes {
		raw, _ = json.Marshal(map[string]any{auditDetailTruncatedAt: true, "bytes": len(raw)})
	}
	now := s.now()
	rec := AuditRecord{ID: NewAuditID(now), At: now, Actor: p.Subject, Role: string(p.Role), Action: action, TerminalID: terminalID, Outcome: outcome, Detail: raw}
	if err := s.store.PutAudit(ctx, rec); err != nil {
		slog.ErrorContext(ctx, "audit record lost", "action", action, "actor", p.Subject, "terminal", terminalID, "error", err)
		return fmt.Errorf("audit %s: %w", action, err)
	}
	return nil
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
