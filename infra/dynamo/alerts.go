package dynamo

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/edgesync/edgesync/fleet"
)

// Alert rules and alerts (fleet.AlertStore); see the package
// documentation's Alerts section for the layout.
const (
	// alertRulePK is the partition of every alert rule (sk "<group> <id>").
	alertRulePK = "ALERTRULE"
	// alertPK is the partition of every alert (sk fleet.AlertKey.String()).
	alertPK = "ALERT"

	attrGroup     = "group"
	attrRuleID    = "ruleId"
	attrKind      = "kind"
	attrMinutes   = "minutes"
	attrField     = "field"
	attrOp        = "op"
	attrThreshold = "threshold"
	attrCreatedBy = "createdBy"
	attrRuleName  = "ruleName"
	// attrTerminalID, attrName and attrState are shared with connections,
	// terminals and commands.
	attrOpenedAt       = "openedAt"
	attrAcknowledgedAt = "acknowledgedAt"
	attrAcknowledgedBy = "acknowledgedBy"
	attrClearedAt      = "clearedAt"
	attrMessage        = "message"
	attrValue          = "value"
	attrNotified       = "notified"
)

// alertPageSize is the Limit of one Query page of rules or alerts.
const alertPageSize = 100

func checkAlertKey(k fleet.AlertKey) error {
	for _, part := range []string{k.Group, k.RuleID, k.TerminalID} {
		if part == "" || strings.Contains(part, " ") || len(k.String()) > maxKeyPart {
			return fmt.Errorf("%w: alert key %q", fleet.ErrInvalid, k.String())
		}
	}
	return nil
}

// number is a float as a string attribute: exact, and free of DynamoDB's
// 38-digit limit on numbers.
func number(v float64) types.AttributeValue { return attrS(strconv.FormatFloat(v, 'g', -1, 64)) }

func (r *itemReader) float(name string) float64 {
	s := r.str(name)
	if s == "" {
		return 0
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil && r.err == nil {
		r.err = fmt.Errorf("attribute %q: %w", name, err)
	}
	return v
}

// PutAlertRule stores r under (r.Group, r.ID), replacing a rule stored there.
func (s *Store) PutAlertRule(ctx context.Context, r fleet.AlertRule) error {
	if r.Group == "" || r.ID == "" || strings.Contains(r.Group, " ") || strings.Contains(r.ID, " ") || len(r.Group)+len(r.ID) >= maxKeyPart {
		return fmt.Errorf("put alert rule %q of %q: %w", r.ID, r.Group, fleet.ErrInvalid)
	}
	it := item(key(alertRulePK, r.Group+" "+r.ID))
	it.str(attrGroup, r.Group)
	it.str(attrRuleID, r.ID)
	it.str(attrKind, string(r.Kind))
	it.str(attrName, r.Name)
	it[attrMinutes] = attrN(int64(r.Minutes))
	it.str(attrField, r.Field)
	it.str(attrOp, r.Op)
	it[attrThreshold] = number(r.Threshold)
	it.time(attrCreatedAt, r.CreatedAt)
	it.str(attrCreatedBy, r.CreatedBy)
	if _, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: s.table, Item: it}); err != nil {
		return fmt.Errorf("put alert rule %s of %q: %w", r.ID, r.Group, storeError(err))
	}
	return nil
}

// DeleteAlertRule removes the rule (a DeleteItem conditional on its
// existence). fleet.ErrNotFound if absent.
func (s *Store) DeleteAlertRule(ctx context.Context, group, id string) error {
	e := newExpr()
	_, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:                s.table,
		Key:                      key(alertRulePK, group+" "+id),
		ConditionExpression:      aws.String("attribute_exists(" + e.name(attrPK) + ")"),
		ExpressionAttributeNames: e.nameMap(),
	})
	if failed, _ := conditionFailed(err); failed {
		return fmt.Errorf("delete alert rule %s of %q: %w", id, group, fleet.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("delete alert rule %s of %q: %w", id, group, storeError(err))
	}
	return nil
}

// AlertRules returns the rules of group (every group for ""): one
// strongly consistent Query of the ALERTRULE partition.
func (s *Store) AlertRules(ctx context.Context, group string) ([]fleet.AlertRule, error) {
	var out []fleet.AlertRule
	err := s.queryPartition(ctx, alertRulePK, group, "", 0, func(it map[string]types.AttributeValue) (bool, error) {
		r := itemReader{item: it}
		rule := fleet.AlertRule{
			ID: r.str(attrRuleID), Group: r.str(attrGroup), Kind: fleet.AlertKind(r.str(attrKind)), Name: r.str(attrName),
			Minutes: int(r.int(attrMinutes)), Field: r.str(attrField), Op: r.str(attrOp), Threshold: r.float(attrThreshold),
			CreatedAt: r.time(attrCreatedAt), CreatedBy: r.str(attrCreatedBy),
		}
		if r.err != nil {
			return false, fmt.Errorf("decode alert rule %s: %w", r.str(attrSK), r.err)
		}
		out = append(out, rule)
		return true, nil
	})
	if err != nil {
		return nil, fmt.Errorf("alert rules of %q: %w", group, err)
	}
	return out, nil
}

// queryPartition calls fn with the items of partition pk, in sort key
// order: those of group (sk beginning "<group> ") or all, after the sort
// key after, pages of up to limit items (0: alertPageSize), until fn
// returns false or the items run out.
func (s *Store) queryPartition(ctx context.Context, pk, group, after string, limit int, fn func(map[string]types.AttributeValue) (bool, error)) error {
	e := newExpr()
	cond := e.name(attrPK) + " = " + e.value(attrS(pk))
	lo, hi := after, ""
	if group != "" {
		// Keys of the group are "<group> …"; '!' follows ' ', and no
		// group holds a space, so they sort between these two.
		if prefix := group + " "; lo < prefix {
			lo = prefix
		}
		hi = group + "!"
	}
	switch {
	case hi != "":
		cond += " AND " + e.name(attrSK) + " BETWEEN " + e.value(attrS(lo)) + " AND " + e.value(attrS(hi))
	case lo != "":
		cond += " AND " + e.name(attrSK) + " > " + e.value(attrS(lo))
	}
	if limit <= 0 {
		limit = alertPageSize
	}
	in := &dynamodb.QueryInput{
		TableName:                 s.table,
		KeyConditionExpression:    aws.String(cond),
		ExpressionAttributeNames:  e.nameMap(),
		ExpressionAttributeValues: e.values(),
		ConsistentRead:            aws.Bool(true),
		Limit:                     aws.Int32(int32(min(limit, 1000))),
	}
	for {
		out, err := s.db.Query(ctx, in)
		if err != nil {
			return storeError(err)
		}
		for _, it := range out.Items {
			r := itemReader{item: it}
			if sk := r.str(attrSK); sk == after {
				continue // BETWEEN includes its bounds; after is excluded
			}
			more, err := fn(it)
			if err != nil || !more {
				return err
			}
		}
		if len(out.LastEvaluatedKey) == 0 {
			return nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// alertItem is the item of alert a.
func alertItem(a fleet.Alert) item {
	it := item(key(alertPK, a.AlertKey.String()))
	it.str(attrGroup, a.Group)
	it.str(attrRuleID, a.RuleID)
	it.str(attrTerminalID, a.TerminalID)
	it.str(attrKind, string(a.Kind))
	it.str(attrRuleName, a.RuleName)
	it.str(attrState, string(a.State))
	it.time(attrOpenedAt, a.OpenedAt)
	it.time(attrAcknowledgedAt, a.AcknowledgedAt)
	it.str(attrAcknowledgedBy, a.AcknowledgedBy)
	it.time(attrClearedAt, a.ClearedAt)
	it.str(attrMessage, a.Message)
	it[attrValue] = number(a.Value)
	it.str(attrNotified, string(a.Notified))
	it.expiry(a.ExpiresAt)
	return it
}

func decodeAlert(it map[string]types.AttributeValue) (fleet.Alert, error) {
	r := itemReader{item: it}
	a := fleet.Alert{
		AlertKey: fleet.AlertKey{Group: r.str(attrGroup), RuleID: r.str(attrRuleID), TerminalID: r.str(attrTerminalID)},
		Kind:     fleet.AlertKind(r.str(attrKind)), RuleName: r.str(attrRuleName), State: fleet.AlertState(r.str(attrState)),
		OpenedAt: r.time(attrOpenedAt), AcknowledgedAt: r.time(attrAcknowledgedAt), AcknowledgedBy: r.str(attrAcknowledgedBy),
		ClearedAt: r.time(attrClearedAt), Message: r.str(attrMessage), Value: r.float(attrValue),
		Notified: fleet.AlertState(r.str(attrNotified)), ExpiresAt: r.expiresAt(),
	}
	if r.err != nil {
		return fleet.Alert{}, fmt.Errorf("decode alert %s: %w", r.str(attrSK), r.err)
	}
	return a, nil
}

// OpenAlert puts a (state open) on the condition that no alert is stored
// under its key or the stored one is cleared (a cleared alert carries its
// expiry; an active one never expires).
func (s *Store) OpenAlert(ctx context.Context, a fleet.Alert) (bool, error) {
	if err := checkAlertKey(a.AlertKey); err != nil {
		return false, fmt.Errorf("open alert: %w", err)
	}
	a.State, a.ExpiresAt = fleet.AlertOpen, time.Time{}
	e := newExpr()
	cond := fmt.Sprintf("attribute_not_exists(%s) OR %s = %s", e.name(attrPK), e.name(attrState), e.value(attrS(string(fleet.AlertCleared))))
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                 s.table,
		Item:                      alertItem(a),
		ConditionExpression:       aws.String(cond),
		ExpressionAttributeNames:  e.nameMap(),
		ExpressionAttributeValues: e.values(),
	})
	if failed, _ := conditionFailed(err); failed {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("open alert %s: %w", a.AlertKey.String(), storeError(err))
	}
	return true, nil
}

// updateAlert runs one conditional UpdateItem on the alert under k and
// reports whether its condition held; with it held and returnNew, it
// returns the item as updated, and with it failed the old item (nil when
// absent).
func (s *Store) updateAlert(ctx context.Context, k fleet.AlertKey, e *expr, u *update, cond string, returnNew bool) (bool, map[string]types.AttributeValue, error) {
	if err := checkAlertKey(k); err != nil {
		return false, nil, err
	}
	in := &dynamodb.UpdateItemInput{
		TableName:                           s.table,
		Key:                                 key(alertPK, k.String()),
		UpdateExpression:                    aws.String(u.String()),
		ConditionExpression:                 aws.String(cond),
		ExpressionAttributeNames:            e.nameMap(),
		ExpressionAttributeValues:           e.values(),
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}
	if returnNew {
		in.ReturnValues = types.ReturnValueAllNew
	}
	out, err := s.db.UpdateItem(ctx, in)
	if failed, returned := conditionFailed(err); failed {
		old, err := s.itemAfterFailedCondition(ctx, returned, key(alertPK, k.String()))
		return false, old, err
	}
	if err != nil {
		return false, nil, storeError(err)
	}
	return true, out.Attributes, nil
}

// AcknowledgeAlert moves the open alert under key to acknowledged (an
// update conditional on state open), returning it as updated.
func (s *Store) AcknowledgeAlert(ctx context.Context, k fleet.AlertKey, by string, at time.Time) (fleet.Alert, error) {
	e := newExpr()
	u := newUpdate(e).setValue(attrState, attrS(string(fleet.AlertAcknowledged))).setValue(attrAcknowledgedAt, attrMs(at)).setString(attrAcknowledgedBy, by)
	cond := fmt.Sprintf("%s = %s", e.name(attrState), e.value(attrS(string(fleet.AlertOpen))))
	ok, it, err := s.updateAlert(ctx, k, e, u, cond, true)
	switch {
	case err != nil:
		return fleet.Alert{}, fmt.Errorf("acknowledge alert %s: %w", k.String(), err)
	case !ok && (it == nil || (&itemReader{item: it}).expired(at)):
		return fleet.Alert{}, fmt.Errorf("acknowledge alert %s: %w", k.String(), fleet.ErrNotFound)
	case !ok:
		return fleet.Alert{}, fmt.Errorf("acknowledge alert %s: %w", k.String(), fleet.ErrConflict)
	}
	return decodeAlert(it)
}

// ClearAlert clears the occurrence opened at openedAt (an update
// conditional on openedAt and a state other than cleared), setting its
// expiry.
func (s *Store) ClearAlert(ctx context.Context, k fleet.AlertKey, openedAt, at, expiresAt time.Time, message string) (bool, error) {
	e := newExpr()
	u := newUpdate(e).setValue(attrState, attrS(string(fleet.AlertCleared))).setValue(attrClearedAt, attrMs(at)).setString(attrMessage, message)
	if !expiresAt.IsZero() {
		u.setValue(attrExpiresAt, attrN(ttlSeconds(expiresAt))).setValue(attrExpiresAtMs, attrMs(expiresAt))
	}
	cond := fmt.Sprintf("%s = %s AND %s <> %s", e.name(attrOpenedAt), e.value(attrMs(openedAt)), e.name(attrState), e.value(attrS(string(fleet.AlertCleared))))
	ok, _, err := s.updateAlert(ctx, k, e, u, cond, false)
	if err != nil {
		return false, fmt.Errorf("clear alert %s: %w", k.String(), err)
	}
	return ok, nil
}

// MarkAlertNotified records a delivered state (an update conditional on
// openedAt and that state).
func (s *Store) MarkAlertNotified(ctx context.Context, k fleet.AlertKey, openedAt time.Time, state fleet.AlertState) (bool, error) {
	e := newExpr()
	u := newUpdate(e).setValue(attrNotified, attrS(string(state)))
	cond := fmt.Sprintf("%s = %s AND %s = %s", e.name(attrOpenedAt), e.value(attrMs(openedAt)), e.name(attrState), e.value(attrS(string(state))))
	ok, _, err := s.updateAlert(ctx, k, e, u, cond, false)
	if err != nil {
		return false, fmt.Errorf("mark alert %s notified: %w", k.String(), err)
	}
	return ok, nil
}

// Alerts returns group's alerts ("" for all) after the key after: a
// strongly consistent Query of the ALERT partition, expired ones dropped.
func (s *Store) Alerts(ctx context.Context, group, after string, limit int, now time.Time) ([]fleet.Alert, error) {
	if limit < 1 {
		return nil, fmt.Errorf("list alerts: %w: limit %d, want at least 1", fleet.ErrInvalid, limit)
	}
	if len(after) > maxKeyPart {
		return nil, fmt.Errorf("list alerts: %w: cursor too long", fleet.ErrInvalid)
	}
	var out []fleet.Alert
	err := s.queryPartition(ctx, alertPK, group, after, limit+1, func(it map[string]types.AttributeValue) (bool, error) {
		if (&itemReader{item: it}).expired(now) {
			return true, nil
		}
		a, err := decodeAlert(it)
		if err != nil {
			return false, err
		}
		out = append(out, a)
		return len(out) < limit, nil
	})
	if err != nil {
		return nil, fmt.Errorf("list alerts of %q: %w", group, err)
	}
	return out, nil
}
