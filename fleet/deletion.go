package fleet

import (
	"context"
	"fmt"
)

// DeleteTerminal removes a terminal: its connections end first (bindings
// deleted, so their messages are refused from then on, and closed through
// the management API when the pusher can), then its record, credentials,
// config, desired config and group memberships go (Store.DeleteTerminal).
// Its logs, status history and commands expire by their retention; its
// audit trail stays. It needs the admin role and is audited.
func (s *Service) DeleteTerminal(ctx context.Context, p Principal, id string) error {
	if err := s.allow(ctx, p, opDeleteTerminal, id); err != nil {
		return err
	}
	return s.audited(ctx, p, AuditTerminalDelete, id, nil, func() error {
		t, err := s.visible(ctx, p, opDeleteTerminal, id)
		if err != nil {
			return err
		}
		// The bindings go before the record: a connection of a deleted
		// terminal must not act on a re-created one of the same id.
		if _, err := s.endConnections(ctx, t.ID, func(Connection) bool { return true }, "terminal deleted", false); err != nil {
			return fmt.Errorf("delete terminal %s: %w", id, err)
		}
		if err := s.store.DeleteTerminal(ctx, t.ID); err != nil {
			return fmt.Errorf("delete terminal %s: %w", id, err)
		}
		return nil
	})
}
