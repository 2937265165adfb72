package fleet

import (
	"context"
	"fmt"
	"time"

	"github.com/edgesync/edgesync/protocol"
)

// TerminalView is a terminal as the frontend sees it.
type TerminalView struct {
	Terminal
	// Online is the effective state: marked online and heard from within
	// the inactivity timeout.
	Online        bool      `json:"online"`
	Inactive      bool      `json:"inactive,omitempty"`
	ConfigVersion string    `json:"configVersion,omitempty"`
	Config        Freshness `json:"config"`
	Status        Freshness `json:"status"`
}

func (s *Service) view(t Terminal, now time.Time) TerminalView {
	v := TerminalView{Terminal: t, Online: s.online(t, now), ConfigVersion: t.Config.Version}
	v.Inactive = t.Online && !v.Online
	v.Config = freshness(t.Config.SyncedAt, s.cfg.ConfigTTL, now)
	v.Status = freshness(t.Status.SyncedAt, s.cfg.StatusTTL, now)
	return v
}

// online reports the effective state: a terminal whose $disconnect never
// arrived goes offline after InactivityTimeout without a message.
func (s *Service) online(t Terminal, now time.Time) bool {
	return t.Online && t.ConnectionID != "" && now.Sub(t.LastSeen) < s.cfg.InactivityTimeout
}

// Terminal returns one terminal. ErrNotFound if unknown.
func (s *Service) Terminal(ctx context.Context, id string) (TerminalView, error) {
	t, err := s.lookup(ctx, id)
	if err != nil {
		return TerminalView{}, err
	}
	return s.view(t, s.now()), nil
}

func (s *Service) lookup(ctx context.Context, id string) (Terminal, error) {
	if !protocol.ValidID(id) {
		return Terminal{}, fmt.Errorf("terminal id %q: %w", truncate(id, 64), ErrInvalid)
	}
	t, err := s.store.Terminal(ctx, id)
	if err != nil {
		return Terminal{}, fmt.Errorf("terminal %s: %w", id, err)
	}
	return t, nil
}

// MaxPageSize bounds list pages.
const MaxPageSize = 500

// Terminals lists terminals, limit per page (1..MaxPageSize), from cursor.
func (s *Service) Terminals(ctx context.Context, cursor string, limit int) ([]TerminalView, string, error) {
	if limit < 1 || limit > MaxPageSize {
		return nil, "", fmt.Errorf("limit %d: must be from 1 to %d: %w", limit, MaxPageSize, ErrInvalid)
	}
	ts, next, err := s.store.Terminals(ctx, cursor, limit)
	if err != nil {
		return nil, "", fmt.Errorf("list terminals: %w", err)
	}
	now := s.now()
	out := make([]TerminalView, len(ts))
	for i, t := range ts {
		out[i] = s.view(t, now)
	}
	return out, next, nil
}

// CreateTerminal registers a terminal and returns its first token, which
// is shown once and stored only as a hash.
func (s *Service) CreateTerminal(ctx context.Context, id, name string, groups []string) (string, error) {
	if !protocol.ValidID(id) {
		return "", fmt.Errorf("terminal id %q: %w", truncate(id, 64), ErrInvalid)
	}
	now := s.now()
	token, cred := NewToken(now)
	t := Terminal{ID: id, Name: name, Groups: groups, Credentials: []Credential{cred}, CreatedAt: now}
	if err := s.store.CreateTerminal(ctx, t); err != nil {
		return "", fmt.Errorf("create terminal %s: %w", id, err)
	}
	return token, nil
}
