package fleet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/edgesync/edgesync/protocol"
)

// ConnectRequest is what a terminal presents at $connect.
type ConnectRequest struct {
	ConnectionID string
	TerminalID   string
	Token        string
	SourceIP     string
	// ConnectedAt is when API Gateway opened the connection (zero: now).
	// Two reconnects racing through $connect are ordered by it, so the
	// newer connection stays current whichever handler finishes last.
	ConnectedAt time.Time
}

// Connect authenticates a terminal and binds the connection to it. It
// returns ErrUnauthenticated when the id or token is missing, ErrInvalid for
// a malformed id, and ErrForbidden for an unknown terminal or a token that
// is wrong, revoked or expired (the two are not told apart). It counts
// accepted and refused connections (MetricConnects, MetricConnectRefused).
func (s *Service) Connect(ctx context.Context, r ConnectRequest) error {
	err := s.connect(ctx, r)
	if err == nil {
		s.count(MetricConnects)
	} else if errors.Is(err, ErrUnauthenticated) || errors.Is(err, ErrForbidden) || errors.Is(err, ErrInvalid) {
		s.count(MetricConnectRefused)
	}
	return err
}

// connect does Connect's work.
func (s *Service) connect(ctx context.Context, r ConnectRequest) error {
	now := s.now()
	switch {
	case r.TerminalID == "":
		return fmt.Errorf("connect: no terminal id (query parameter terminal_id or header X-Terminal-Id): %w", ErrUnauthenticated)
	case r.Token == "":
		return fmt.Errorf("connect %s: no token (Authorization: Bearer or query parameter token): %w", r.TerminalID, ErrUnauthenticated)
	case !protocol.ValidID(r.TerminalID):
		return fmt.Errorf("connect: terminal id is malformed: %w", ErrInvalid)
	case r.ConnectionID == "":
		return fmt.Errorf("connect %s: no connection id", r.TerminalID)
	}
	t, err := s.store.Terminal(ctx, r.TerminalID)
	if errors.Is(err, ErrNotFound) {
		return fmt.Errorf("connect %s: unknown terminal: %w", r.TerminalID, ErrForbidden)
	}
	if err != nil {
		return fmt.Errorf("connect %s: %w", r.TerminalID, err)
	}
	cred, ok := acceptingCredential(t.Credentials, r.Token, now)
	if !ok {
		return fmt.Errorf("connect %s: token not accepted: %w", r.TerminalID, ErrForbidden)
	}
	at := r.ConnectedAt
	if at.IsZero() || at.After(now) {
		at = now
	}
	c := Connection{ID: r.ConnectionID, TerminalID: t.ID, ConnectedAt: at, SourceIP: r.SourceIP, CredentialID: cred.ID, ExpiresAt: at.Add(s.cfg.ConnectionTTL)}
	if !cred.NotAfter.IsZero() && cred.NotAfter.Before(c.ExpiresAt) {
		// The binding ends with the credential (a rotation's overlap).
		c.ExpiresAt = cred.NotAfter
	}
	if err := s.store.PutConnection(ctx, c); err != nil {
		return fmt.Errorf("connect %s: record connection: %w", t.ID, err)
	}
	if err := s.store.MarkOnline(ctx, t.ID, r.ConnectionID, at); err != nil {
		if errors.Is(err, ErrNotFound) {
			// Deleted since it was read: the binding must not outlive it.
			_ = s.store.DeleteConnection(ctx, r.ConnectionID)
			return fmt.Errorf("connect %s: unknown terminal: %w", r.TerminalID, ErrForbidden)
		}
		return fmt.Errorf("connect %s: mark online: %w", t.ID, err)
	}
	slog.InfoContext(ctx, "terminal connected", "terminal", t.ID, "connection", r.ConnectionID, "credential", cred.ID, "sourceIp", r.SourceIP)
	return nil
}

// Disconnect ends a connection: the terminal goes offline with reason,
// unless a newer connection of the same terminal is already current.
// Idempotent: an unknown connection is not an error.
func (s *Service) Disconnect(ctx context.Context, connID, reason string) error {
	now := s.now()
	defer s.forget(connID)
	c, err := s.store.Connection(ctx, connID, now)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("disconnect %s: %w", connID, err)
	}
	return s.endConnection(ctx, c.TerminalID, connID, reason)
}

func (s *Service) endConnection(ctx context.Context, terminalID, connID, reason string) error {
	now := s.now()
	current, err := s.store.MarkOffline(ctx, terminalID, connID, now, reason)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("disconnect %s: mark offline: %w", terminalID, err)
	}
	if err := s.store.DeleteConnection(ctx, connID); err != nil {
		return fmt.Errorf("disconnect %s: delete connection %s: %w", terminalID, connID, err)
	}
	s.forget(connID)
	s.count(MetricDisconnects)
	slog.InfoContext(ctx, "terminal disconnected", "terminal", terminalID, "connection", connID, "reason", reason, "wasCurrent", current)
	return nil
}

func (s *Service) forget(connID string) {
	s.touched.Delete(connID)
	s.recorded.Delete(connID)
}

// terminalOf returns the terminal bound to connID, read from the store on
// every call: ErrNotFound once the binding expired or was deleted.
func (s *Service) terminalOf(ctx context.Context, connID string, now time.Time) (string, error) {
	c, err := s.store.Connection(ctx, connID, now)
	if err != nil {
		return "", err
	}
	return c.TerminalID, nil
}

// endConnections ends the terminal's connections that end says must end
// (a revoked credential's, or all of a deleted terminal's): each binding
// is deleted first, so the message path refuses the connection from then
// on whatever happens next, then the terminal is marked offline if it was
// current (unless the terminal itself is gone), and the connection is
// closed at API Gateway when the pusher can close connections. It returns
// how many it ended. A failure to close is logged, not returned: the
// binding is gone, so the connection's next message is refused and closes
// it (HandleMessage).
func (s *Service) endConnections(ctx context.Context, terminalID string, end func(Connection) bool, reason string, markOffline bool) (int, error) {
	now := s.now()
	conns, err := s.store.TerminalConnections(ctx, terminalID, now)
	if err != nil {
		return 0, fmt.Errorf("connections of %s: %w", terminalID, err)
	}
	n := 0
	for _, c := range conns {
		if !end(c) {
			continue
		}
		if err := s.store.DeleteConnection(ctx, c.ID); err != nil {
			return n, fmt.Errorf("end connection %s of %s: %w", c.ID, terminalID, err)
		}
		s.forget(c.ID)
		if markOffline {
			if _, err := s.store.MarkOffline(ctx, terminalID, c.ID, now, reason); err != nil && !errors.Is(err, ErrNotFound) {
				return n, fmt.Errorf("end connection %s of %s: mark offline: %w", c.ID, terminalID, err)
			}
		}
		s.closeConnection(ctx, terminalID, c.ID, reason)
		n++
	}
	return n, nil
}

// closeConnection closes connID at API Gateway when the pusher can.
func (s *Service) closeConnection(ctx context.Context, terminalID, connID, reason string) {
	if s.closer == nil {
		return
	}
	if err := s.closer.Close(ctx, connID); err != nil {
		slog.ErrorContext(ctx, "close connection", "terminal", terminalID, "connection", connID, "reason", reason, "error", err)
		return
	}
	slog.InfoContext(ctx, "connection closed", "terminal", terminalID, "connection", connID, "reason", reason)
}
