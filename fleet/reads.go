package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/edgesync/edgesync/protocol"
)

// Freshness says how current a piece of synced data is (DESIGN §4): when it
// was synced, until when it counts as fresh, and whether a refresh was
// pushed to the terminal because it is not.
type Freshness struct {
	SyncedAt   time.Time `json:"syncedAt,omitzero"`
	FreshUntil time.Time `json:"freshUntil,omitzero"`
	Fresh      bool      `json:"fresh"`
	// Stale is true when data exists but is past its TTL: the last known
	// value is being served.
	Stale bool `json:"stale"`
	// Refreshing is true when a refresh has been pushed to the terminal
	// and its answer is pending.
	Refreshing bool `json:"refreshing"`
}

func freshness(syncedAt time.Time, ttl time.Duration, now time.Time) Freshness {
	if syncedAt.IsZero() {
		return Freshness{}
	}
	f := Freshness{SyncedAt: syncedAt, FreshUntil: syncedAt.Add(ttl)}
	f.Fresh = now.Before(f.FreshUntil)
	f.Stale = !f.Fresh
	return f
}

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

// DocumentView is a synced JSON document (config or status) with its freshness.
type DocumentView struct {
	TerminalID string          `json:"terminalId"`
	Online     bool            `json:"online"`
	Version    string          `json:"version,omitempty"`
	Data       json.RawMessage `json:"data"`
	Freshness
}

// TerminalConfig returns the terminal's last reported config. Past
// ConfigTTL it is returned marked stale and, if the terminal is online, a
// get_config refresh is pushed (at most one per command timeout).
func (s *Service) TerminalConfig(ctx context.Context, id string) (DocumentView, error) {
	return s.document(ctx, id, "config")
}

// TerminalStatus returns the terminal's last reported status, like TerminalConfig.
func (s *Service) TerminalStatus(ctx context.Context, id string) (DocumentView, error) {
	return s.document(ctx, id, "status")
}

func (s *Service) document(ctx context.Context, id, what string) (DocumentView, error) {
	t, err := s.lookup(ctx, id)
	if err != nil {
		return DocumentView{}, err
	}
	now := s.now()
	snap, ttl, command := t.Config, s.cfg.ConfigTTL, protocol.CommandGetConfig
	if what == "status" {
		snap, ttl, command = t.Status, s.cfg.StatusTTL, protocol.CommandGetStatus
	}
	v := DocumentView{TerminalID: t.ID, Online: s.online(t, now), Version: snap.Version, Data: snap.Data, Freshness: freshness(snap.SyncedAt, ttl, now)}
	if v.Data == nil {
		v.Data = json.RawMessage("null")
	}
	s.freshness(v.Freshness)
	if !v.Fresh && v.Online {
		v.Refreshing = s.refresh(ctx, t, what, command, nil)
	}
	return v, nil
}

// refresh pushes command to an online terminal unless a refresh of what was
// pushed within the last command timeout; it reports whether one is under way.
func (s *Service) refresh(ctx context.Context, t Terminal, what, command string, params json.RawMessage) bool {
	now := s.now()
	won, err := s.store.ClaimRefresh(ctx, t.ID, what, now, now.Add(-s.cfg.CommandTimeout))
	if err != nil {
		slog.ErrorContext(ctx, "claim refresh", "terminal", t.ID, "what", what, "error", err)
		return false
	}
	if !won {
		return true
	}
	c := s.newCommand(t.ID, command, params, "system:refresh", now, 0)
	if err := s.store.PutCommands(ctx, c); err != nil {
		slog.ErrorContext(ctx, "record refresh", "terminal", t.ID, "what", what, "error", err)
		return false
	}
	if err := s.send(ctx, t.ID, t.ConnectionID, c.message()); err != nil {
		return false
	}
	return true
}

// StatusHistory returns the terminal's status samples since the given time,
// oldest first, at most limit.
func (s *Service) StatusHistory(ctx context.Context, id string, since time.Time, limit int) ([]StatusSample, error) {
	if _, err := s.lookup(ctx, id); err != nil {
		return nil, err
	}
	if limit < 1 || limit > 2000 {
		return nil, fmt.Errorf("limit %d: must be from 1 to 2000: %w", limit, ErrInvalid)
	}
	now := s.now()
	samples, err := s.store.StatusHistory(ctx, id, since, now, limit)
	if err != nil {
		return nil, fmt.Errorf("status history of %s: %w", id, err)
	}
	return samples, nil
}

// SendCommand records a command for an online terminal and pushes it. The
// call returns at once with the pending command; its outcome is read with
// Command. name must be one of protocol.Commands and params a JSON object
// or empty; timeout 0 means CommandTimeout (at most 5 minutes).
// ErrOffline when the terminal has no live connection.
func (s *Service) SendCommand(ctx context.Context, id, name string, params json.RawMessage, actor string, timeout time.Duration) (Command, error) {
	if !knownCommand(name) {
		return Command{}, fmt.Errorf("command %q: must be one of %v: %w", truncate(name, 64), protocol.Commands, ErrInvalid)
	}
	if len(params) > 0 && string(params) != "null" && !protocol.IsObject(params) {
		return Command{}, fmt.Errorf("params: must be a JSON object: %w", ErrInvalid)
	}
	if timeout < 0 || timeout > 5*time.Minute {
		return Command{}, fmt.Errorf("timeout %v: must be from 0 to 5m: %w", timeout, ErrInvalid)
	}
	if len(params) > 0 {
		params = compact(params)
	}
	t, err := s.lookup(ctx, id)
	if err != nil {
		return Command{}, err
	}
	now := s.now()
	if !s.online(t, now) {
		return Command{}, fmt.Errorf("command %s for %s: %w", name, id, ErrOffline)
	}
	c := s.newCommand(t.ID, name, params, actor, now, timeout)
	if err := s.store.PutCommands(ctx, c); err != nil {
		return Command{}, fmt.Errorf("record command %s for %s: %w", name, id, err)
	}
	if err := s.send(ctx, t.ID, t.ConnectionID, c.message()); err != nil {
		if errors.Is(err, ErrGone) {
			return Command{}, fmt.Errorf("command %s for %s: %w", name, id, ErrOffline)
		}
		return Command{}, err
	}
	return c, nil
}

func knownCommand(name string) bool {
	for _, c := range protocol.Commands {
		if c == name {
			return true
		}
	}
	return false
}

// Command returns a command with its effective state. ErrNotFound if unknown.
func (s *Service) Command(ctx context.Context, id, requestID string) (Command, error) {
	if _, err := s.lookup(ctx, id); err != nil {
		return Command{}, err
	}
	if !protocol.ValidID(requestID) {
		return Command{}, fmt.Errorf("request id %q: %w", truncate(requestID, 64), ErrInvalid)
	}
	now := s.now()
	c, err := s.store.Command(ctx, id, requestID, now)
	if err != nil {
		return Command{}, fmt.Errorf("command %s of %s: %w", requestID, id, err)
	}
	return c.Effective(now), nil
}

// Sync pushes a fresh pull (status, config, logs since what is stored) to an
// online terminal and returns the pending commands. ErrOffline otherwise.
func (s *Service) Sync(ctx context.Context, id, actor string) ([]Command, error) {
	t, err := s.lookup(ctx, id)
	if err != nil {
		return nil, err
	}
	if !s.online(t, s.now()) {
		return nil, fmt.Errorf("sync %s: %w", id, ErrOffline)
	}
	cmds, err := s.pull(ctx, t.ID, t.ConnectionID, actor, t.LastSeq)
	if errors.Is(err, ErrGone) {
		return nil, fmt.Errorf("sync %s: %w", id, ErrOffline)
	}
	return cmds, err
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
