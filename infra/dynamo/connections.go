package dynamo

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/edgesync/edgesync/fleet"
)

// Attributes of a connection item (pk C#<connId>, sk META).
const (
	attrTerminalID = "terminalId"
	attrSourceIP   = "sourceIp"
)

// PutConnection records a connection binding; storing it again overwrites
// it with the same values.
func (s *Store) PutConnection(ctx context.Context, c fleet.Connection) error {
	if err := checkID("connection id", c.ID); err != nil {
		return fmt.Errorf("put connection: %w", err)
	}
	if err := checkID("terminal id", c.TerminalID); err != nil {
		return fmt.Errorf("put connection %s: %w", c.ID, err)
	}
	it := item(key(connectionPK(c.ID), skMeta))
	it[attrTerminalID] = attrS(c.TerminalID)
	it.time(attrConnectedAt, c.ConnectedAt)
	it.str(attrSourceIP, c.SourceIP)
	it.expiry(c.ExpiresAt)
	if _, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: s.table, Item: it}); err != nil {
		return fmt.Errorf("put connection %s: %w", c.ID, storeError(err))
	}
	return nil
}

// Connection returns the binding of connID. fleet.ErrNotFound if absent or
// expired at now.
func (s *Store) Connection(ctx context.Context, connID string, now time.Time) (fleet.Connection, error) {
	if err := checkID("connection id", connID); err != nil {
		return fleet.Connection{}, fmt.Errorf("read connection: %w", err)
	}
	it, err := s.getItem(ctx, key(connectionPK(connID), skMeta))
	if err != nil {
		return fleet.Connection{}, fmt.Errorf("read connection %s: %w", connID, err)
	}
	if it == nil {
		return fleet.Connection{}, fmt.Errorf("connection %s: %w", connID, fleet.ErrNotFound)
	}
	r := itemReader{item: it}
	if r.expired(now) {
		return fleet.Connection{}, fmt.Errorf("connection %s: %w (expired)", connID, fleet.ErrNotFound)
	}
	c := fleet.Connection{
		ID:          connID,
		TerminalID:  r.str(attrTerminalID),
		ConnectedAt: r.time(attrConnectedAt),
		SourceIP:    r.str(attrSourceIP),
		ExpiresAt:   r.expiresAt(),
	}
	if r.err != nil {
		return fleet.Connection{}, fmt.Errorf("decode connection %s: %w", connID, r.err)
	}
	return c, nil
}

// DeleteConnection removes the binding; absent is not an error.
func (s *Store) DeleteConnection(ctx context.Context, connID string) error {
	if err := checkID("connection id", connID); err != nil {
		return fmt.Errorf("delete connection: %w", err)
	}
	_, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: s.table, Key: key(connectionPK(connID), skMeta)})
	if err != nil {
		return fmt.Errorf("delete connection %s: %w", connID, storeError(err))
	}
	return nil
}
