package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
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

// Visible returns the terminal if p may see it: ErrNotFound if it does not
// exist, ErrForbidden (audited) if it is outside p's groups.
func (s *Service) Visible(ctx context.Context, p Principal, id, method, path string) (Terminal, error) {
	t, err := s.lookup(ctx, id)
	if err != nil {
		return Terminal{}, err
	}
	if !p.Sees(t) {
		return Terminal{}, s.Deny(ctx, p, t.ID, method, path, "terminal is outside the user's groups")
	}
	return t, nil
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

// ConfigView is a terminal's config as reported by it and as an operator
// asked for it: Pending until the set_config carrying Desired succeeds.
type ConfigView struct {
	DocumentView
	Desired *DesiredView `json:"desired,omitempty"`
}

// DesiredView is the desired config and the state of its delivery.
type DesiredView struct {
	DesiredConfig
	// State is the set_config command's state: pending, succeeded, failed
	// or timed_out; Pending is true until it succeeded.
	State   CommandState `json:"state"`
	Pending bool         `json:"pending"`
	Error   string       `json:"error,omitempty"`
}

// TerminalConfigView returns the reported config with its freshness (as
// TerminalConfig) and the desired config with its delivery state.
func (s *Service) TerminalConfigView(ctx context.Context, id string) (ConfigView, error) {
	doc, err := s.TerminalConfig(ctx, id)
	if err != nil {
		return ConfigView{}, err
	}
	v := ConfigView{DocumentView: doc}
	t, err := s.lookup(ctx, id)
	if err != nil {
		return ConfigView{}, err
	}
	if t.Desired.Version == "" {
		return v, nil
	}
	d := &DesiredView{DesiredConfig: t.Desired, State: CommandPending, Pending: true}
	if t.Desired.RequestID != "" {
		c, err := s.store.Command(ctx, t.ID, t.Desired.RequestID, s.now())
		switch {
		case err == nil:
			c = c.Effective(s.now())
			d.State, d.Error = c.State, c.Error
			d.Pending = c.State != CommandSucceeded
		case errors.Is(err, ErrNotFound):
			d.State = CommandTimedOut
		default:
			return ConfigView{}, fmt.Errorf("config of %s: desired state: %w", id, err)
		}
	}
	v.Desired = d
	return v, nil
}

// SetConfig records doc as the terminal's desired config with a new
// version, pushes set_config to it, and audits the change with a diff
// against the last reported config (secrets masked). The terminal must be
// online (ErrOffline otherwise, and nothing is recorded).
func (s *Service) SetConfig(ctx context.Context, p Principal, id string, doc json.RawMessage) (DesiredView, error) {
	if !protocol.IsObject(doc) {
		return DesiredView{}, fmt.Errorf("config: must be a JSON object: %w", ErrInvalid)
	}
	if len(doc) > maxDesiredConfigBytes {
		return DesiredView{}, fmt.Errorf("config: %d bytes, the limit is %d: %w", len(doc), maxDesiredConfigBytes, ErrInvalid)
	}
	doc = compact(doc)
	t, err := s.lookup(ctx, id)
	if err != nil {
		return DesiredView{}, err
	}
	now := s.now()
	if !s.online(t, now) {
		return DesiredView{}, fmt.Errorf("set config of %s: %w", id, ErrOffline)
	}
	version := ConfigVersion(doc)
	params, _ := json.Marshal(protocol.SetConfigParams{Config: doc})
	c := s.newCommand(t.ID, protocol.CommandSetConfig, params, p.Subject, now, 0)
	d := DesiredConfig{Data: doc, Version: version, SetAt: now, SetBy: p.Subject, RequestID: c.RequestID}
	detail := map[string]any{"version": version, "requestId": c.RequestID, "diff": Diff(t.Config.Data, doc)}
	err = s.audited(ctx, p, AuditConfigSet, t.ID, detail, func() error {
		if err := s.store.PutCommands(ctx, c); err != nil {
			return fmt.Errorf("record set_config for %s: %w", id, err)
		}
		if err := s.store.SetDesiredConfig(ctx, t.ID, d); err != nil {
			return fmt.Errorf("record desired config of %s: %w", id, err)
		}
		if err := s.send(ctx, t.ID, t.ConnectionID, c.message()); err != nil {
			if errors.Is(err, ErrGone) {
				return fmt.Errorf("set config of %s: %w", id, ErrOffline)
			}
			return err
		}
		return nil
	})
	if err != nil {
		return DesiredView{}, err
	}
	return DesiredView{DesiredConfig: d, State: CommandPending, Pending: true}, nil
}

// Change is one entry of a config diff: the dotted path of a key and its
// value before and after (absent on one side when added or removed).
type Change struct {
	Path   string          `json:"path"`
	Before json.RawMessage `json:"before,omitempty"`
	After  json.RawMessage `json:"after,omitempty"`
}

// Diff lists the changes from before to after, objects compared key by key,
// anything else as a whole. Secret values are masked in the result.
func Diff(before, after json.RawMessage) []Change {
	var b, a any
	_ = json.Unmarshal(before, &b)
	_ = json.Unmarshal(after, &a)
	var out []Change
	var walk func(path string, key string, b, a any, hadB, hadA bool)
	walk = func(path, key string, b, a any, hadB, hadA bool) {
		bm, bok := b.(map[string]any)
		am, aok := a.(map[string]any)
		if bok && aok && !IsSecretKey(key) {
			keys := map[string]bool{}
			for k := range bm {
				keys[k] = true
			}
			for k := range am {
				keys[k] = true
			}
			sorted := make([]string, 0, len(keys))
			for k := range keys {
				sorted = append(sorted, k)
			}
			slices.Sort(sorted)
			for _, k := range sorted {
				p := k
				if path != "" {
					p = path + "." + k
				}
				bv, hb := bm[k]
				av, ha := am[k]
				walk(p, k, bv, av, hb, ha)
			}
			return
		}
		bj, _ := json.Marshal(b)
		aj, _ := json.Marshal(a)
		if hadB == hadA && string(bj) == string(aj) {
			return
		}
		c := Change{Path: path}
		secret := IsSecretKey(key)
		if hadB {
			c.Before = maybeMask(bj, secret)
		}
		if hadA {
			c.After = maybeMask(aj, secret)
		}
		out = append(out, c)
	}
	walk("", "", b, a, before != nil && string(before) != "null", true)
	return out
}

func maybeMask(v json.RawMessage, secret bool) json.RawMessage {
	if secret {
		return json.RawMessage(`"` + Masked + `"`)
	}
	return MaskSecrets(v)
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
