package dynamo

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/edgesync/edgesync/fleet"
)

// skDesired is the sort key of a terminal's desired config item. It begins
// with skMeta, so Terminal's one Query reads it with the record.
const skDesired = "META#desired"

// Attributes of the desired config item (data and version as in the config item).
const (
	attrSetAt = "setAt"
	attrSetBy = "setBy"
	// attrRequestID ("requestId") is shared with commands.
)

// SetDesiredConfig records the config an operator asked the terminal to
// run in the terminal's META#desired item, unconditionally (the last
// request wins). fleet.ErrNotFound if the terminal is absent.
func (s *Store) SetDesiredConfig(ctx context.Context, id string, d fleet.DesiredConfig) error {
	if err := checkID("terminal id", id); err != nil {
		return fmt.Errorf("set desired config: %w", err)
	}
	// The item is separate from the record, so check the record first: a
	// desired config must never exist without its terminal.
	if err := s.mustExist(ctx, id, nil); err != nil {
		return fmt.Errorf("set desired config of %s: %w", id, err)
	}
	if _, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: s.table, Item: desiredItem(id, d)}); err != nil {
		return fmt.Errorf("set desired config of %s: %w", id, storeError(err))
	}
	return nil
}

// desiredItem is the META#desired item of terminal id.
func desiredItem(id string, d fleet.DesiredConfig) item {
	it := item(key(terminalPK(id), skDesired))
	it.json(attrData, d.Data)
	it.str(attrVersion, d.Version)
	it.time(attrSetAt, d.SetAt)
	it.str(attrSetBy, d.SetBy)
	it.str(attrRequestID, d.RequestID)
	return it
}

// hasDesired reports whether d holds anything worth an item.
func hasDesired(d fleet.DesiredConfig) bool {
	return len(d.Data) > 0 || d.Version != "" || !d.SetAt.IsZero() || d.SetBy != "" || d.RequestID != ""
}

// decodeDesired reads a META#desired item; nil is the zero config.
func decodeDesired(it map[string]types.AttributeValue) (fleet.DesiredConfig, error) {
	if it == nil {
		return fleet.DesiredConfig{}, nil
	}
	r := itemReader{item: it}
	d := fleet.DesiredConfig{
		Data:      r.json(attrData),
		Version:   r.str(attrVersion),
		SetAt:     r.time(attrSetAt),
		SetBy:     r.str(attrSetBy),
		RequestID: r.str(attrRequestID),
	}
	if r.err != nil {
		return fleet.DesiredConfig{}, fmt.Errorf("desired config: %w", r.err)
	}
	return d, nil
}
