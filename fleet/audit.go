package fleet

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/edgesync/edgesync/protocol"
)

// Audit actions.
const (
	AuditConfigSet         = "config.set"
	AuditCommand           = "command.send"
	AuditSync              = "terminal.sync"
	AuditTerminalCreate    = "terminal.create"
	AuditCredentialRotate  = "credential.rotate"
	AuditCredentialRevoke  = "credential.revoke"
	AuditRequestDenied     = "request.denied"
	AuditOutcomeRequested  = "requested"
	AuditOutcomeDenied     = "denied"
	AuditOutcomeFailed     = "failed"
	maxAuditDetailBytes    = 32 * 1024
	maxDesiredConfigBytes  = 64 * 1024
	defaultAuditPageLimit  = 100
	maxAuditPageLimit      = 1000
	auditDetailTruncatedAt = "truncated"
)

// Record writes an audit record of what p did. Secrets in detail are
// masked. Failing to audit is logged and returned: callers of sensitive
// operations treat it as a failure of the operation.
func (s *Service) Record(ctx context.Context, p Principal, action, terminalID, outcome string, detail any) error {
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

// Deny records a denied request and returns ErrForbidden wrapped with why.
func (s *Service) Deny(ctx context.Context, p Principal, terminalID, method, path, why string) error {
	_ = s.Record(ctx, p, AuditRequestDenied, terminalID, AuditOutcomeDenied, map[string]string{"method": method, "path": path, "reason": why})
	return fmt.Errorf("%s: %w", why, ErrForbidden)
}

// AuditTrail returns audit records, newest first. Limit 0 means 100.
func (s *Service) AuditTrail(ctx context.Context, q AuditQuery) ([]AuditRecord, string, error) {
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

// audited records what p is about to do (outcome "requested"), then does
// it: a sensitive operation never happens unaudited, and a failure to audit
// stops it before anything changed (so a token is never issued and then lost
// to an error). If op fails, a record with outcome "failed" follows (best
// effort); a "requested" record with no "failed" one after it was done.
func (s *Service) audited(ctx context.Context, p Principal, action, terminalID string, detail any, op func() error) error {
	if err := s.Record(ctx, p, action, terminalID, AuditOutcomeRequested, detail); err != nil {
		return err
	}
	if err := op(); err != nil {
		_ = s.Record(ctx, p, action, terminalID, AuditOutcomeFailed, map[string]any{"error": err.Error()})
		return err
	}
	return nil
}

// The operations below audit themselves as p (see audited).

// CreateTerminalAs registers a terminal (see CreateTerminal).
func (s *Service) CreateTerminalAs(ctx context.Context, p Principal, id, name string, groups []string) (token string, err error) {
	err = s.audited(ctx, p, AuditTerminalCreate, id, map[string]any{"name": name, "groups": groups}, func() error {
		token, err = s.CreateTerminal(ctx, id, name, groups)
		return err
	})
	return token, err
}

// RotateTokenAs rotates the terminal's token (see RotateToken).
func (s *Service) RotateTokenAs(ctx context.Context, p Principal, id string, overlap time.Duration) (token string, err error) {
	err = s.audited(ctx, p, AuditCredentialRotate, id, map[string]any{"overlapSeconds": overlap.Seconds()}, func() error {
		token, err = s.RotateToken(ctx, id, overlap)
		return err
	})
	return token, err
}

// RevokeTokenAs revokes credentials (see RevokeToken).
func (s *Service) RevokeTokenAs(ctx context.Context, p Principal, id, credID string) error {
	return s.audited(ctx, p, AuditCredentialRevoke, id, map[string]any{"credential": credID}, func() error {
		return s.RevokeToken(ctx, id, credID)
	})
}

// SendCommandAs sends a command for p (see SendCommand).
func (s *Service) SendCommandAs(ctx context.Context, p Principal, id, name string, params json.RawMessage, timeout time.Duration) (c Command, err error) {
	err = s.audited(ctx, p, AuditCommand, id, map[string]any{"command": name, "params": params}, func() error {
		c, err = s.SendCommand(ctx, id, name, params, p.Subject, timeout)
		return err
	})
	return c, err
}

// SyncAs pushes a fresh pull for p (see Sync).
func (s *Service) SyncAs(ctx context.Context, p Principal, id string) (cmds []Command, err error) {
	err = s.audited(ctx, p, AuditSync, id, nil, func() error {
		cmds, err = s.Sync(ctx, id, p.Subject)
		return err
	})
	return cmds, err
}
