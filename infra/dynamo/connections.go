package dynamo

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/edgesync/edgesync/fleet"
)

// Attributes of a connection item (pk C#<connId>, sk META) and of its
// entry in the terminal's partition (pk T#<id>, sk CONN#<connId>).
const (
	attrTerminalID   = "terminalId"
	attrSourceIP     = "sourceIp"
	attrCredentialID = "credentialId"
	attrConnID2      = "connectionId"

	// skConnPrefix prefixes the sort key of a terminal's connection entries.
	skConnPrefix = "CONN#"
)

func connectionSK(connID string) string { return skConnPrefix + connID }

// connectionItem is the item of binding c under k: the binding itself or
// its entry in the terminal's partition (both carry every field, so
// TerminalConnections needs no second read).
func connectionItem(k map[string]types.AttributeValue, c fleet.Connection) item {
	it := item(k)
	it[attrConnID2] = attrS(c.ID)
	it[attrTerminalID] = attrS(c.TerminalID)
	it.time(attrConnectedAt, c.ConnectedAt)
	it.str(attrSourceIP, c.SourceIP)
	it.str(attrCredentialID, c.CredentialID)
	it.expiry(c.ExpiresAt)
	return it
}

func decodeConnection(it map[string]types.AttributeValue) (fleet.Connection, error) {
	r := itemReader{item: it}
	c := fleet.Connection{
		ID:           r.str(attrConnID2),
		TerminalID:   r.str(attrTerminalID),
		ConnectedAt:  r.time(attrConnectedAt),
		SourceIP:     r.str(attrSourceIP),
		CredentialID: r.str(attrCredentialID),
		ExpiresAt:    r.expiresAt(),
	}
	return c, r.err
}

// PutConnection records a connection binding: first its entry in the
// terminal's partition (TerminalConnections), then the binding, so a
// binding never exists without its entry. Storing it again overwrites
// both with the same values.
func (s *Store) PutConnection(ctx context.Context, c fleet.Connection) error {
	if err := checkID("connection id", c.ID); err != nil {
		return fmt.Errorf("put connection: %w", err)
	}
	if err := checkID("terminal id", c.TerminalID); err != nil {
		return fmt.Errorf("put connection %s: %w", c.ID, err)
	}
	entry := connectionItem(key(terminalPK(c.TerminalID), connectionSK(c.ID)), c)
	if _, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: s.table, Item: entry}); err != nil {
		return fmt.Errorf("put connection %s: index under %s: %w", c.ID, c.TerminalID, storeError(err))
	}
	binding := connectionItem(key(connectionPK(c.ID), skMeta), c)
	if _, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: s.table, Item: binding}); err != nil {
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
	if (&itemReader{item: it}).expired(now) {
		return fleet.Connection{}, fmt.Errorf("connection %s: %w (expired)", connID, fleet.ErrNotFound)
	}
	c, err := decodeConnection(it)
	if err != nil {
		return fleet.Connection{}, fmt.Errorf("decode connection %s: %w", connID, err)
	}
	c.ID = connID
	return c, nil
}

// TerminalConnections returns the terminal's bindings unexpired at now:
// one strongly consistent Query of the CONN# entries of its partition.
func (s *Store) TerminalConnections(ctx context.Context, terminalID string, now time.Time) ([]fleet.Connection, error) {
	if err := checkID("terminal id", terminalID); err != nil {
		return nil, fmt.Errorf("connections of a terminal: %w", err)
	}
	items, err := s.queryPrefix(ctx, terminalPK(terminalID), skConnPrefix)
	if err != nil {
		return nil, fmt.Errorf("connections of %s: %w", terminalID, err)
	}
	var out []fleet.Connection
	for _, it := range items {
		if (&itemReader{item: it}).expired(now) {
			continue
		}
		c, err := decodeConnection(it)
		if err != nil {
			return nil, fmt.Errorf("decode a connection of %s: %w", terminalID, err)
		}
		out = append(out, c)
	}
	return out, nil
}

// queryPrefix returns every item of partition pk whose sort key begins
// with prefix, reading strongly consistently, all pages.
func (s *Store) queryPrefix(ctx context.Context, pk, prefix string) ([]map[string]types.AttributeValue, error) {
	e := newExpr()
	cond := fmt.Sprintf("%s = %s AND begins_with(%s, %s)", e.name(attrPK), e.value(attrS(pk)), e.name(attrSK), e.value(attrS(prefix)))
	in := &dynamodb.QueryInput{
		TableName:                 s.table,
		KeyConditionExpression:    aws.String(cond),
		ExpressionAttributeNames:  e.nameMap(),
		ExpressionAttributeValues: e.values(),
		ConsistentRead:            aws.Bool(true),
	}
	var out []map[string]types.AttributeValue
	for {
		page, err := s.db.Query(ctx, in)
		if err != nil {
			return nil, storeError(err)
		}
		out = append(out, page.Items...)
		if len(page.LastEvaluatedKey) == 0 {
			return out, nil
		}
		in.ExclusiveStartKey = page.LastEvaluatedKey
	}
}

// DeleteConnection removes the binding, then its entry in the terminal's
// partition (named by the binding DynamoDB returns as it deletes it);
// absent is not an error.
func (s *Store) DeleteConnection(ctx context.Context, connID string) error {
	if err := checkID("connection id", connID); err != nil {
		return fmt.Errorf("delete connection: %w", err)
	}
	out, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName: s.table, Key: key(connectionPK(connID), skMeta), ReturnValues: types.ReturnValueAllOld,
	})
	if err != nil {
		return fmt.Errorf("delete connection %s: %w", connID, storeError(err))
	}
	terminalID := (&itemReader{item: out.Attributes}).str(attrTerminalID)
	if terminalID == "" {
		return nil
	}
	if err := s.deleteItem(ctx, key(terminalPK(terminalID), connectionSK(connID))); err != nil {
		return fmt.Errorf("delete connection %s: its entry under %s: %w", connID, terminalID, err)
	}
	return nil
}

// deleteItem deletes one item; absent is not an error.
func (s *Store) deleteItem(ctx context.Context, k map[string]types.AttributeValue) error {
	if _, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: s.table, Key: k}); err != nil {
		return storeError(err)
	}
	return nil
}
