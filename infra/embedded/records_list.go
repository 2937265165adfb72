package embedded

import (
	"context"

	"github.com/edgesync/edgesync/fleet"
)

// TerminalRecords is Terminals with Config and Desired left zero (the
// records hold them here, so it reads the same; the DynamoDB store reads
// a third of the items).
func (s *Store) TerminalRecords(ctx context.Context, cursor string, limit int) ([]fleet.Terminal, string, error) {
	ts, next, err := s.Terminals(ctx, cursor, limit)
	return recordsOnly(ts), next, err
}

// GroupTerminalRecords is GroupTerminals with Config and Desired left zero.
func (s *Store) GroupTerminalRecords(ctx context.Context, group, after string, limit int) ([]fleet.Terminal, error) {
	ts, err := s.GroupTerminals(ctx, group, after, limit)
	return recordsOnly(ts), err
}

func recordsOnly(ts []fleet.Terminal) []fleet.Terminal {
	for i := range ts {
		ts[i].Config, ts[i].Desired = fleet.Snapshot{}, fleet.DesiredConfig{}
	}
	return ts
}
