package dynamo

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/edgesync/edgesync/fleet"
)

// TerminalRecords is Terminals reading the terminal records alone (one
// item, one read unit per terminal, instead of the record, its config and
// its desired config): Config and Desired are left zero. The fleet-wide
// search and the alert evaluation list terminals with it.
func (s *Store) TerminalRecords(ctx context.Context, cursor string, limit int) ([]fleet.Terminal, string, error) {
	if limit <= 0 {
		return nil, "", fmt.Errorf("list terminal records: %w: limit %d, want at least 1", fleet.ErrInvalid, limit)
	}
	if len(cursor) > maxKeyPart {
		return nil, "", fmt.Errorf("list terminal records: %w: cursor too long", fleet.ErrInvalid)
	}
	limit = min(limit, maxTerminalsPage)
	ids, err := s.terminalIDs(ctx, cursor, limit+1)
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(ids) > limit {
		ids = ids[:limit]
		next = ids[limit-1]
	}
	if len(ids) == 0 {
		return nil, "", nil
	}
	terms, err := s.readRecords(ctx, ids)
	if err != nil {
		return nil, "", fmt.Errorf("list terminal records: %w", err)
	}
	return terms, next, nil
}

// GroupTerminalRecords is GroupTerminals reading the terminal records
// alone: Config and Desired are left zero.
func (s *Store) GroupTerminalRecords(ctx context.Context, group, after string, limit int) ([]fleet.Terminal, error) {
	return s.listGroup(ctx, "terminal records", group, after, limit, s.readRecords)
}

// readRecords reads the records of ids with BatchGetItem, in the order of
// ids; an id without a record is skipped.
func (s *Store) readRecords(ctx context.Context, ids []string) ([]fleet.Terminal, error) {
	keys := make([]map[string]types.AttributeValue, 0, len(ids))
	for _, id := range ids {
		keys = append(keys, key(terminalPK(id), skMeta))
	}
	items, err := s.batchGet(ctx, keys)
	if err != nil {
		return nil, err
	}
	byPK := make(map[string]map[string]types.AttributeValue, len(items))
	for _, it := range items {
		r := itemReader{item: it}
		byPK[r.str(attrPK)] = it
	}
	terms := make([]fleet.Terminal, 0, len(ids))
	for _, id := range ids {
		meta, ok := byPK[terminalPK(id)]
		if !ok {
			continue
		}
		t, err := decodeTerminal(meta, nil)
		if err != nil {
			return nil, err
		}
		terms = append(terms, t)
	}
	return terms, nil
}
