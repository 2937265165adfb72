package dynamo

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/edgesync/edgesync/fleet"
)

// Attributes of a command item (sk CMD#<requestId>).
const (
	attrRequestID   = "requestId"
	attrCommand     = "command"
	attrParams      = "params"
	attrState       = "state"
	attrDeadline    = "deadline"
	attrCompletedAt = "completedAt"
	attrResult      = "result"
	attrError       = "error"
	attrActor       = "actor"
)

// maxParallelPuts bounds the concurrent PutItem calls of one PutCommands.
const maxParallelPuts = 8

// PutCommands stores new commands, each with a PutItem conditional on the
// command not existing yet: storing one again (even after it completed)
// changes nothing. BatchWriteItem cannot be used, as it has no conditions.
func (s *Store) PutCommands(ctx context.Context, cmds ...fleet.Command) error {
	type cmdKey struct{ terminal, request string }
	seen := make(map[cmdKey]bool, len(cmds))
	var unique []fleet.Command
	for _, c := range cmds {
		if err := checkID("terminal id", c.TerminalID); err != nil {
			return fmt.Errorf("put commands: %w", err)
		}
		if err := checkID("request id", c.RequestID); err != nil {
			return fmt.Errorf("put commands for %s: %w", c.TerminalID, err)
		}
		k := cmdKey{c.TerminalID, c.RequestID}
		if !seen[k] {
			seen[k] = true
			unique = append(unique, c)
		}
	}
	errs := make([]error, len(unique))
	sem := make(chan struct{}, maxParallelPuts)
	var wg sync.WaitGroup
	for i, c := range unique {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			errs[i] = s.putCommand(ctx, c)
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) putCommand(ctx context.Context, c fleet.Command) error {
	state := c.State
	if state == "" {
		state = fleet.CommandPending
	}
	it := item(key(terminalPK(c.TerminalID), commandSK(c.RequestID)))
	it[attrRequestID] = attrS(c.RequestID)
	it.str(attrCommand, c.Name)
	it.json(attrParams, c.Params)
	it[attrState] = attrS(string(state))
	it.time(attrCreatedAt, c.CreatedAt)
	it.time(attrDeadline, c.Deadline)
	it.time(attrCompletedAt, c.CompletedAt)
	it.json(attrResult, c.Result)
	it.str(attrError, c.Error)
	it.str(attrActor, c.Actor)
	it.expiry(c.ExpiresAt)
	e := newExpr()
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                s.table,
		Item:                     it,
		ConditionExpression:      aws.String("attribute_not_exists(" + e.name(attrPK) + ")"),
		ExpressionAttributeNames: e.nameMap(),
	})
	if failed, _ := conditionFailed(err); failed {
		return nil // stored already
	}
	if err != nil {
		return fmt.Errorf("put command %s/%s: %w", c.TerminalID, c.RequestID, storeError(err))
	}
	return nil
}

// Command returns a stored command as stored. fleet.ErrNotFound if absent
// or expired at now.
func (s *Store) Command(ctx context.Context, terminalID, requestID string, now time.Time) (fleet.Command, error) {
	if err := checkID("terminal id", terminalID); err != nil {
		return fleet.Command{}, fmt.Errorf("read command: %w", err)
	}
	if err := checkID("request id", requestID); err != nil {
		return fleet.Command{}, fmt.Errorf("read command of %s: %w", terminalID, err)
	}
	it, err := s.getItem(ctx, key(terminalPK(terminalID), commandSK(requestID)))
	if err != nil {
		return fleet.Command{}, fmt.Errorf("read command %s/%s: %w", terminalID, requestID, err)
	}
	if it == nil || (&itemReader{item: it}).expired(now) {
		return fleet.Command{}, fmt.Errorf("command %s/%s: %w", terminalID, requestID, fleet.ErrNotFound)
	}
	return decodeCommand(terminalID, it)
}

func decodeCommand(terminalID string, it map[string]types.AttributeValue) (fleet.Command, error) {
	r := itemReader{item: it}
	c := fleet.Command{
		TerminalID:  terminalID,
		RequestID:   r.str(attrRequestID),
		Name:        r.str(attrCommand),
		Params:      r.json(attrParams),
		State:       fleet.CommandState(r.str(attrState)),
		CreatedAt:   r.time(attrCreatedAt),
		Deadline:    r.time(attrDeadline),
		CompletedAt: r.time(attrCompletedAt),
		Result:      r.json(attrResult),
		Error:       r.str(attrError),
		Actor:       r.str(attrActor),
		ExpiresAt:   r.expiresAt(),
	}
	if r.err != nil {
		return fleet.Command{}, fmt.Errorf("decode command %s/%s: %w", terminalID, c.RequestID, r.err)
	}
	return c, nil
}

// CompleteCommand records the outcome if the command is pending, its
// deadline is after c.At, and it has not expired. fleet.ErrNotFound if
// absent (or expired); fleet.ErrConflict otherwise.
func (s *Store) CompleteCommand(ctx context.Context, terminalID, requestID string, c fleet.Completion) error {
	if err := checkID("terminal id", terminalID); err != nil {
		return fmt.Errorf("complete command: %w", err)
	}
	if err := checkID("request id", requestID); err != nil {
		return fmt.Errorf("complete command of %s: %w", terminalID, err)
	}
	if c.State != fleet.CommandSucceeded && c.State != fleet.CommandFailed {
		return fmt.Errorf("complete command %s/%s: %w: state %q (want %q or %q)",
			terminalID, requestID, fleet.ErrInvalid, c.State, fleet.CommandSucceeded, fleet.CommandFailed)
	}
	if c.At.IsZero() {
		return fmt.Errorf("complete command %s/%s: %w: completion time is required", terminalID, requestID, fleet.ErrInvalid)
	}
	k := key(terminalPK(terminalID), commandSK(requestID))
	e := newExpr()
	u := newUpdate(e).
		setValue(attrState, attrS(string(c.State))).
		setValue(attrCompletedAt, attrMs(c.At))
	if len(c.Result) > 0 {
		u.setValue(attrResult, attrS(string(c.Result)))
	}
	u.setString(attrError, c.Error)
	atV := e.value(attrMs(c.At))
	cond := fmt.Sprintf("%s = %s AND %s > %s AND (attribute_not_exists(%s) OR %s > %s)",
		e.name(attrState), e.value(attrS(string(fleet.CommandPending))),
		e.name(attrDeadline), atV,
		e.name(attrExpiresAtMs), e.name(attrExpiresAtMs), atV)
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                           s.table,
		Key:                                 k,
		UpdateExpression:                    aws.String(u.String()),
		ConditionExpression:                 aws.String(cond),
		ExpressionAttributeNames:            e.nameMap(),
		ExpressionAttributeValues:           e.values(),
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	failed, returned := conditionFailed(err)
	if err != nil && !failed {
		return fmt.Errorf("complete command %s/%s: %w", terminalID, requestID, storeError(err))
	}
	if !failed {
		return nil
	}
	old, err := s.itemAfterFailedCondition(ctx, returned, k)
	if err != nil {
		return fmt.Errorf("complete command %s/%s: %w", terminalID, requestID, err)
	}
	if old == nil || (&itemReader{item: old}).expired(c.At) {
		return fmt.Errorf("complete command %s/%s: %w", terminalID, requestID, fleet.ErrNotFound)
	}
	return fmt.Errorf("complete command %s/%s: %w: it is no longer pending or its deadline has passed", terminalID, requestID, fleet.ErrConflict)
}
