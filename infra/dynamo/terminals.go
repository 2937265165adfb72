package dynamo

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/edgesync/edgesync/fleet"
)

// Attributes of the terminal record (sk META) and its config item.
const (
	attrName             = "name"
	attrGroups           = "groups"
	attrCreds            = "creds"
	attrCredsVersion     = "credsVersion"
	attrCreatedAt        = "createdAt"
	attrOnline           = "online"
	attrConnID           = "connId"
	attrConnectedAt      = "connectedAt"
	attrLastSeen         = "lastSeen"
	attrDisconnectedAt   = "disconnectedAt"
	attrDisconnectReason = "disconnectReason"
	attrAgentVersion     = "agentVersion"
	attrLastSeq          = "lastSeq"
	attrDropped          = "dropped"
	attrStatus           = "status"
	attrStatusAt         = "statusAt"
	attrStatusVersion    = "statusVersion"
	// refreshPrefix + what holds the time of the last claimed refresh push.
	refreshPrefix = "refresh:"

	// Config item (sk META#config).
	attrData     = "data"
	attrSyncedAt = "syncedAt"
	attrVersion  = "version"

	// Credential map keys.
	credID        = "id"
	credHash      = "hash"
	credCreatedAt = "createdAt"
	credNotAfter  = "notAfter"
)

// maxTerminalsPage caps the limit of one Terminals page.
const maxTerminalsPage = 1000

// CreateTerminal stores a new terminal record (and its config, when set),
// after the membership items of its groups (see putMemberships).
// fleet.ErrExists if the id is taken.
func (s *Store) CreateTerminal(ctx context.Context, t fleet.Terminal) error {
	if err := checkID("terminal id", t.ID); err != nil {
		return fmt.Errorf("create terminal: %w", err)
	}
	if err := s.putMemberships(ctx, t); err != nil {
		return fmt.Errorf("create terminal %s: %w", t.ID, err)
	}
	e := newExpr()
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                           s.table,
		Item:                                terminalItem(t),
		ConditionExpression:                 aws.String("attribute_not_exists(" + e.name(attrPK) + ")"),
		ExpressionAttributeNames:            e.nameMap(),
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	if failed, old := conditionFailed(err); failed {
		// The SDK may have retried this very write after losing its answer.
		mine, rerr := s.ownCreate(ctx, t, old)
		if rerr != nil {
			return fmt.Errorf("create terminal %s: %w", t.ID, rerr)
		}
		if !mine {
			return fmt.Errorf("create terminal %s: %w", t.ID, fleet.ErrExists)
		}
	} else if err != nil {
		return fmt.Errorf("create terminal %s: %w", t.ID, storeError(err))
	}
	if !t.Config.SyncedAt.IsZero() || len(t.Config.Data) > 0 {
		if _, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: s.table, Item: configItem(t.ID, t.Config)}); err != nil {
			return fmt.Errorf("create terminal %s: store config: %w", t.ID, storeError(err))
		}
	}
	if hasDesired(t.Desired) {
		if _, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: s.table, Item: desiredItem(t.ID, t.Desired)}); err != nil {
			return fmt.Errorf("create terminal %s: store desired config: %w", t.ID, storeError(err))
		}
	}
	return nil
}

// terminalItem is the META item of t.
func terminalItem(t fleet.Terminal) item {
	it := item(key(terminalPK(t.ID), skMeta))
	it[attrTPK] = attrS(terminalsPartition)
	it[attrTSK] = attrS(t.ID)
	it.str(attrName, t.Name)
	if len(t.Groups) > 0 {
		groups := make([]types.AttributeValue, len(t.Groups))
		for i, g := range t.Groups {
			groups[i] = attrS(g)
		}
		it[attrGroups] = &types.AttributeValueMemberL{Value: groups}
	}
	if len(t.Credentials) > 0 {
		it[attrCreds] = credentialsAttr(t.Credentials)
	}
	if t.CredentialsVersion > 0 {
		it[attrCredsVersion] = attrU(t.CredentialsVersion)
	}
	it.time(attrCreatedAt, t.CreatedAt)
	it[attrOnline] = attrBool(t.Online)
	it.str(attrConnID, t.ConnectionID)
	it.time(attrConnectedAt, t.ConnectedAt)
	it.time(attrLastSeen, t.LastSeen)
	it.time(attrDisconnectedAt, t.DisconnectedAt)
	it.str(attrDisconnectReason, t.DisconnectReason)
	it.str(attrAgentVersion, t.AgentVersion)
	it[attrLastSeq] = attrU(t.LastSeq)
	it[attrDropped] = attrU(t.Dropped)
	if len(t.Status.Data) > 0 {
		it[attrStatus] = statusAttr(t.Status.Data)
	}
	it.time(attrStatusAt, t.Status.SyncedAt)
	it.str(attrStatusVersion, t.Status.Version)
	return it
}

func credentialsAttr(creds []fleet.Credential) types.AttributeValue {
	l := make([]types.AttributeValue, len(creds))
	for i, c := range creds {
		m := item{credID: attrS(c.ID)}
		if len(c.Hash) > 0 {
			m[credHash] = attrB(c.Hash)
		}
		m.time(credCreatedAt, c.CreatedAt)
		m.time(credNotAfter, c.NotAfter)
		l[i] = &types.AttributeValueMemberM{Value: m}
	}
	return &types.AttributeValueMemberL{Value: l}
}

// configItem is the META#config item of terminal id.
func configItem(id string, snap fleet.Snapshot) item {
	it := item(key(terminalPK(id), skConfig))
	it.json(attrData, snap.Data)
	it.time(attrSyncedAt, snap.SyncedAt)
	it.str(attrVersion, snap.Version)
	return it
}

// decodeTerminal builds a terminal from its META item and, when stored,
// its config item.
func decodeTerminal(meta, config map[string]types.AttributeValue) (fleet.Terminal, error) {
	r := itemReader{item: meta}
	t := fleet.Terminal{
		ID:                 r.str(attrTSK),
		Name:               r.str(attrName),
		CredentialsVersion: r.uint(attrCredsVersion),
		CreatedAt:          r.time(attrCreatedAt),
		Online:             r.boolean(attrOnline),
		ConnectionID:       r.str(attrConnID),
		ConnectedAt:        r.time(attrConnectedAt),
		LastSeen:           r.time(attrLastSeen),
		DisconnectedAt:     r.time(attrDisconnectedAt),
		DisconnectReason:   r.str(attrDisconnectReason),
		AgentVersion:       r.str(attrAgentVersion),
		LastSeq:            r.uint(attrLastSeq),
		Dropped:            r.uint(attrDropped),
		Status: fleet.Snapshot{
			Data:     recordStatus(&r),
			SyncedAt: r.time(attrStatusAt),
			Version:  r.str(attrStatusVersion),
		},
	}
	for _, g := range r.list(attrGroups) {
		s, ok := g.(*types.AttributeValueMemberS)
		if !ok {
			return fleet.Terminal{}, fmt.Errorf("decode terminal %s: attribute %q: want L of S, have %T", t.ID, attrGroups, g)
		}
		t.Groups = append(t.Groups, s.Value)
	}
	for _, c := range r.list(attrCreds) {
		m, ok := c.(*types.AttributeValueMemberM)
		if !ok {
			return fleet.Terminal{}, fmt.Errorf("decode terminal %s: attribute %q: want L of M, have %T", t.ID, attrCreds, c)
		}
		cr := itemReader{item: m.Value}
		t.Credentials = append(t.Credentials, fleet.Credential{
			ID:        cr.str(credID),
			Hash:      cr.bytes(credHash),
			CreatedAt: cr.time(credCreatedAt),
			NotAfter:  cr.time(credNotAfter),
		})
		if cr.err != nil {
			return fleet.Terminal{}, fmt.Errorf("decode terminal %s: credential: %w", t.ID, cr.err)
		}
	}
	if config != nil {
		cr := itemReader{item: config}
		t.Config = fleet.Snapshot{Data: cr.json(attrData), SyncedAt: cr.time(attrSyncedAt), Version: cr.str(attrVersion)}
		if cr.err != nil {
			return fleet.Terminal{}, fmt.Errorf("decode terminal %s: config: %w", t.ID, cr.err)
		}
	}
	if r.err != nil {
		return fleet.Terminal{}, fmt.Errorf("decode terminal %s: %w", t.ID, r.err)
	}
	return t, nil
}

// Terminal returns the terminal record with its config and desired
// config, read with one strongly consistent Query. fleet.ErrNotFound if absent.
func (s *Store) Terminal(ctx context.Context, id string) (fleet.Terminal, error) {
	if err := checkID("terminal id", id); err != nil {
		return fleet.Terminal{}, fmt.Errorf("read terminal: %w", err)
	}
	e := newExpr()
	cond := fmt.Sprintf("%s = %s AND begins_with(%s, %s)",
		e.name(attrPK), e.value(attrS(terminalPK(id))), e.name(attrSK), e.value(attrS(skMeta)))
	out, err := s.db.Query(ctx, &dynamodb.QueryInput{
		TableName:                 s.table,
		KeyConditionExpression:    aws.String(cond),
		ExpressionAttributeNames:  e.nameMap(),
		ExpressionAttributeValues: e.values(),
		ConsistentRead:            aws.Bool(true),
	})
	if err != nil {
		return fleet.Terminal{}, fmt.Errorf("read terminal %s: %w", id, storeError(err))
	}
	var meta, config, desired map[string]types.AttributeValue
	for _, it := range out.Items {
		switch (&itemReader{item: it}).str(attrSK) {
		case skMeta:
			meta = it
		case skConfig:
			config = it
		case skDesired:
			desired = it
		}
	}
	if meta == nil {
		return fleet.Terminal{}, fmt.Errorf("terminal %s: %w", id, fleet.ErrNotFound)
	}
	t, err := decodeTerminal(meta, config)
	if err != nil {
		return fleet.Terminal{}, err
	}
	if t.Desired, err = decodeDesired(desired); err != nil {
		return fleet.Terminal{}, fmt.Errorf("decode terminal %s: %w", id, err)
	}
	return t, nil
}

// Terminals lists terminals in id order. It pages the "terminals" index
// (keys only) and reads the records with BatchGetItem. The cursor is the
// last id of the previous page.
func (s *Store) Terminals(ctx context.Context, cursor string, limit int) ([]fleet.Terminal, string, error) {
	if limit <= 0 {
		return nil, "", fmt.Errorf("list terminals: %w: limit %d, want at least 1", fleet.ErrInvalid, limit)
	}
	if len(cursor) > maxKeyPart {
		return nil, "", fmt.Errorf("list terminals: %w: cursor too long", fleet.ErrInvalid)
	}
	limit = min(limit, maxTerminalsPage)

	// Read one id more than asked: it tells whether there is a next page.
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
	terms, err := s.readTerminals(ctx, ids)
	if err != nil {
		return nil, "", fmt.Errorf("list terminals: %w", err)
	}
	return terms, next, nil
}

// readTerminals reads the records of ids (with their config and desired
// config) with BatchGetItem, in the order of ids; an id without a record
// is skipped.
func (s *Store) readTerminals(ctx context.Context, ids []string) ([]fleet.Terminal, error) {
	keys := make([]map[string]types.AttributeValue, 0, 3*len(ids))
	for _, id := range ids {
		keys = append(keys, key(terminalPK(id), skMeta), key(terminalPK(id), skConfig), key(terminalPK(id), skDesired))
	}
	items, err := s.batchGet(ctx, keys)
	if err != nil {
		return nil, err
	}
	metas := make(map[string]map[string]types.AttributeValue, len(ids))
	configs := make(map[string]map[string]types.AttributeValue, len(ids))
	desired := make(map[string]map[string]types.AttributeValue, len(ids))
	for _, it := range items {
		r := itemReader{item: it}
		pk, sk := r.str(attrPK), r.str(attrSK)
		switch sk {
		case skMeta:
			metas[pk] = it
		case skConfig:
			configs[pk] = it
		case skDesired:
			desired[pk] = it
		}
	}
	terms := make([]fleet.Terminal, 0, len(ids))
	for _, id := range ids {
		pk := terminalPK(id)
		meta, ok := metas[pk]
		if !ok {
			continue // listed by an index but not (yet) readable
		}
		t, err := decodeTerminal(meta, configs[pk])
		if err != nil {
			return nil, err
		}
		if t.Desired, err = decodeDesired(desired[pk]); err != nil {
			return nil, fmt.Errorf("terminal %s: %w", id, err)
		}
		terms = append(terms, t)
	}
	return terms, nil
}

// terminalIDs returns up to n terminal ids after cursor, in order.
func (s *Store) terminalIDs(ctx context.Context, cursor string, n int) ([]string, error) {
	e := newExpr()
	cond := e.name(attrTPK) + " = " + e.value(attrS(terminalsPartition))
	if cursor != "" {
		cond += " AND " + e.name(attrTSK) + " > " + e.value(attrS(cursor))
	}
	in := &dynamodb.QueryInput{
		TableName:                 s.table,
		IndexName:                 aws.String(terminalsIndex),
		KeyConditionExpression:    aws.String(cond),
		ExpressionAttributeNames:  e.nameMap(),
		ExpressionAttributeValues: e.values(),
	}
	var ids []string
	for len(ids) < n {
		in.Limit = aws.Int32(int32(n - len(ids)))
		out, err := s.db.Query(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("list terminal ids: %w", storeError(err))
		}
		for _, it := range out.Items {
			r := itemReader{item: it}
			ids = append(ids, r.str(attrTSK))
			if r.err != nil {
				return nil, fmt.Errorf("list terminal ids: %w", r.err)
			}
		}
		if len(out.LastEvaluatedKey) == 0 {
			break
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
	return ids, nil // the index returns them sorted by tsk, the id
}

// SetCredentials replaces the terminal's credentials and raises their
// version to version+1, in one UpdateItem conditional on the stored
// version being version (an absent credsVersion is 0): a concurrent
// change that came first fails the condition, so a revocation is never
// overwritten by a change computed from the credentials before it.
// fleet.ErrConflict on a lost race, fleet.ErrNotFound if absent.
func (s *Store) SetCredentials(ctx context.Context, id string, creds []fleet.Credential, version uint64) error {
	if err := checkID("terminal id", id); err != nil {
		return fmt.Errorf("set credentials: %w", err)
	}
	e := newExpr()
	u := newUpdate(e).setValue(attrCredsVersion, attrU(version+1))
	if len(creds) > 0 {
		u.setValue(attrCreds, credentialsAttr(creds))
	} else {
		u.removeAttr(attrCreds)
	}
	cond := "attribute_exists(" + e.name(attrPK) + ") AND "
	if version == 0 {
		cond += "(attribute_not_exists(" + e.name(attrCredsVersion) + ") OR " + e.name(attrCredsVersion) + " = " + e.value(attrU(0)) + ")"
	} else {
		cond += e.name(attrCredsVersion) + " = " + e.value(attrU(version))
	}
	err := s.updateTerminal(ctx, id, e, u, cond)
	failed, returned := conditionFailed(err)
	if err != nil && !failed {
		return fmt.Errorf("set credentials of %s: %w", id, storeError(err))
	}
	if !failed {
		return nil
	}
	if err := s.mustExist(ctx, id, returned); err != nil {
		return fmt.Errorf("set credentials of %s: %w", id, err)
	}
	return fmt.Errorf("set credentials of %s: changed since version %d was read: %w", id, version, fleet.ErrConflict)
}

// MarkOnline makes connID the terminal's current connection unless the
// stored connectedAt is after at (a newer connection is current: nothing
// changes and it returns nil). fleet.ErrNotFound if the terminal is absent.
func (s *Store) MarkOnline(ctx context.Context, id, connID string, at time.Time) error {
	if err := errors.Join(checkID("terminal id", id), checkID("connection id", connID)); err != nil {
		return fmt.Errorf("mark online: %w", err)
	}
	e := newExpr()
	u := newUpdate(e).
		setValue(attrOnline, attrBool(true)).
		setValue(attrConnID, attrS(connID)).
		setValue(attrConnectedAt, attrMs(at)).
		setValue(attrLastSeen, attrMs(at))
	cond := "attribute_exists(" + e.name(attrPK) + ") AND " + notAfter(e, attrConnectedAt, at)
	err := s.updateTerminal(ctx, id, e, u, cond)
	failed, returned := conditionFailed(err)
	if err != nil && !failed {
		return fmt.Errorf("mark %s online: %w", id, storeError(err))
	}
	if !failed {
		return nil
	}
	// A newer connection is current, or the terminal is absent.
	if err := s.mustExist(ctx, id, returned); err != nil {
		return fmt.Errorf("mark %s online: %w", id, err)
	}
	return nil
}

// MarkOffline marks the terminal offline if connID is still its current
// connection, and reports whether it did. An absent terminal reports false.
func (s *Store) MarkOffline(ctx context.Context, id, connID string, at time.Time, reason string) (bool, error) {
	if err := errors.Join(checkID("terminal id", id), checkID("connection id", connID)); err != nil {
		return false, fmt.Errorf("mark offline: %w", err)
	}
	e := newExpr()
	u := newUpdate(e).
		setValue(attrOnline, attrBool(false)).
		setValue(attrDisconnectedAt, attrMs(at)).
		setString(attrDisconnectReason, reason).
		removeAttr(attrConnID)
	err := s.updateTerminal(ctx, id, e, u, e.name(attrConnID)+" = "+e.value(attrS(connID)))
	if failed, _ := conditionFailed(err); failed {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("mark %s offline: %w", id, storeError(err))
	}
	return true, nil
}

// Touch moves LastSeen forward to at and sets AgentVersion when given.
// fleet.ErrNotFound if the terminal is absent.
func (s *Store) Touch(ctx context.Context, id string, at time.Time, agentVersion string) error {
	if err := checkID("terminal id", id); err != nil {
		return fmt.Errorf("touch: %w", err)
	}
	e := newExpr()
	u := newUpdate(e).setValue(attrLastSeen, attrMs(at))
	if agentVersion != "" {
		u.setValue(attrAgentVersion, attrS(agentVersion))
	}
	cond := "attribute_exists(" + e.name(attrPK) + ") AND " + notAfter(e, attrLastSeen, at)
	err := s.updateTerminal(ctx, id, e, u, cond)
	failed, returned := conditionFailed(err)
	if err != nil && !failed {
		return fmt.Errorf("touch %s: %w", id, storeError(err))
	}
	if !failed {
		return nil
	}
	// LastSeen is newer already, or the terminal is absent.
	if err := s.mustExist(ctx, id, returned); err != nil {
		return fmt.Errorf("touch %s: %w", id, err)
	}
	if agentVersion == "" {
		return nil
	}
	e = newExpr()
	u = newUpdate(e).setValue(attrAgentVersion, attrS(agentVersion))
	if err := s.updateTerminal(ctx, id, e, u, "attribute_exists("+e.name(attrPK)+")"); err != nil {
		return fmt.Errorf("touch %s: set agent version: %w", id, storeError(err))
	}
	return nil
}

// PutConfig stores the terminal's config unless a newer one is stored.
// fleet.ErrNotFound if the terminal is absent.
func (s *Store) PutConfig(ctx context.Context, id string, snap fleet.Snapshot) error {
	if err := checkID("terminal id", id); err != nil {
		return fmt.Errorf("put config: %w", err)
	}
	if snap.SyncedAt.IsZero() {
		return fmt.Errorf("put config of %s: %w: SyncedAt is required", id, fleet.ErrInvalid)
	}
	// The config item is separate from the record, so check the record
	// first: a config must never exist without its terminal.
	if err := s.mustExist(ctx, id, nil); err != nil {
		return fmt.Errorf("put config of %s: %w", id, err)
	}
	e := newExpr()
	cond := fmt.Sprintf("attribute_not_exists(%s) OR %s <= %s",
		e.name(attrPK), e.name(attrSyncedAt), e.value(attrMs(snap.SyncedAt)))
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                 s.table,
		Item:                      configItem(id, snap),
		ConditionExpression:       aws.String(cond),
		ExpressionAttributeNames:  e.nameMap(),
		ExpressionAttributeValues: e.values(),
	})
	if failed, _ := conditionFailed(err); failed {
		return nil // a newer config is stored
	}
	if err != nil {
		return fmt.Errorf("put config of %s: %w", id, storeError(err))
	}
	return nil
}

// PutStatus stores the last known status unless a newer one is stored,
// moves LastSeen forward, and appends a history sample. The common case (a
// status newer than both) is one conditional update plus the sample.
// fleet.ErrNotFound if the terminal is absent.
func (s *Store) PutStatus(ctx context.Context, id string, snap fleet.Snapshot, expiresAt time.Time) error {
	if err := checkSample(id, snap); err != nil {
		return err
	}
	e := newExpr()
	u := setStatus(newUpdate(e), snap).setValue(attrLastSeen, attrMs(snap.SyncedAt))
	cond := "attribute_exists(" + e.name(attrPK) + ") AND " + notAfter(e, attrStatusAt, snap.SyncedAt) +
		" AND " + notAfter(e, attrLastSeen, snap.SyncedAt)
	err := s.updateTerminal(ctx, id, e, u, cond)
	failed, returned := conditionFailed(err)
	if err != nil && !failed {
		return fmt.Errorf("put status of %s: %w", id, storeError(err))
	}
	if failed {
		// Absent, or the stored status or LastSeen is newer: apply each
		// part on its own condition.
		if err := s.mustExist(ctx, id, returned); err != nil {
			return fmt.Errorf("put status of %s: %w", id, err)
		}
		if err := s.raiseStatus(ctx, id, snap); err != nil {
			return fmt.Errorf("put status of %s: %w", id, err)
		}
	}
	return s.putStatusSample(ctx, id, snap, expiresAt)
}

func checkSample(id string, snap fleet.Snapshot) error {
	if err := checkID("terminal id", id); err != nil {
		return fmt.Errorf("put status: %w", err)
	}
	if ms := snap.SyncedAt.UnixMilli(); snap.SyncedAt.IsZero() || ms < 0 || ms > maxSampleMs {
		return fmt.Errorf("put status of %s: %w: SyncedAt %v is missing or out of range", id, fleet.ErrInvalid, snap.SyncedAt)
	}
	return nil
}

// setStatus adds the status attributes of snap to u.
func setStatus(u *update, snap fleet.Snapshot) *update {
	if len(snap.Data) > 0 {
		u.setValue(attrStatus, statusAttr(snap.Data))
	} else {
		u.removeAttr(attrStatus)
	}
	return u.setValue(attrStatusAt, attrMs(snap.SyncedAt)).setString(attrStatusVersion, snap.Version)
}

// statusAttr is the record's copy of a status report: zstd primed with
// the agent report's keys (B), a third of its JSON. The record is written
// about once a minute per terminal and DynamoDB bills an update by the
// whole item's started KB: the JSON alone would take half of one.
func statusAttr(data json.RawMessage) types.AttributeValue {
	enc, err := statusEncoder()
	if err != nil {
		return attrS(string(data))
	}
	return attrB(enc.EncodeAll(data, nil))
}

// recordStatus reads the record's status: zstd (statusAttr) or, as
// records written before hold it, the JSON as a string.
func recordStatus(r *itemReader) json.RawMessage {
	v, ok := r.item[attrStatus]
	if !ok {
		return nil
	}
	if _, isString := v.(*types.AttributeValueMemberS); isString {
		return r.json(attrStatus)
	}
	z := r.bytes(attrStatus)
	dec, err := decoder()
	if err != nil {
		r.err = cmp.Or(r.err, err)
		return nil
	}
	raw, err := dec.DecodeAll(z, nil)
	if err != nil {
		r.err = cmp.Or(r.err, fmt.Errorf("attribute %q: %w", attrStatus, err))
		return nil
	}
	return raw
}

// raiseStatus stores snap as the existing terminal's status unless a newer
// one is stored, and moves LastSeen forward to it, each on its own condition.
func (s *Store) raiseStatus(ctx context.Context, id string, snap fleet.Snapshot) error {
	e := newExpr()
	if _, err := s.raiseTerminal(ctx, id, e, setStatus(newUpdate(e), snap), notAfter(e, attrStatusAt, snap.SyncedAt)); err != nil {
		return err
	}
	e = newExpr()
	u := newUpdate(e).setValue(attrLastSeen, attrMs(snap.SyncedAt))
	if _, err := s.raiseTerminal(ctx, id, e, u, notAfter(e, attrLastSeen, snap.SyncedAt)); err != nil {
		return fmt.Errorf("move last seen: %w", err)
	}
	return nil
}

// putStatusSample appends snap to the terminal's status history.
func (s *Store) putStatusSample(ctx context.Context, id string, snap fleet.Snapshot, expiresAt time.Time) error {
	sample := item(key(terminalPK(id), statusSK(snap.SyncedAt)))
	sample[attrAt] = attrMs(snap.SyncedAt)
	sample.json(attrData, snap.Data)
	sample.expiry(expiresAt)
	if _, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: s.table, Item: sample}); err != nil {
		return fmt.Errorf("put status of %s: append history: %w", id, storeError(err))
	}
	return nil
}

// ClaimRefresh records a refresh push of what at at, unless one was
// recorded after notBefore; it reports whether the caller won.
// fleet.ErrNotFound if the terminal is absent.
func (s *Store) ClaimRefresh(ctx context.Context, id, what string, at, notBefore time.Time) (bool, error) {
	if err := checkID("terminal id", id); err != nil {
		return false, fmt.Errorf("claim refresh: %w", err)
	}
	if what == "" || len(what) > 64 {
		return false, fmt.Errorf("claim refresh of %s: %w: kind %q must be 1 to 64 bytes", id, fleet.ErrInvalid, what)
	}
	attr := refreshPrefix + what
	e := newExpr()
	u := newUpdate(e).setValue(attr, attrMs(at))
	cond := "attribute_exists(" + e.name(attrPK) + ") AND " + notAfter(e, attr, notBefore)
	err := s.updateTerminal(ctx, id, e, u, cond)
	failed, returned := conditionFailed(err)
	if err != nil && !failed {
		return false, fmt.Errorf("claim %s refresh of %s: %w", what, id, storeError(err))
	}
	if !failed {
		return true, nil
	}
	if err := s.mustExist(ctx, id, returned); err != nil {
		return false, fmt.Errorf("claim %s refresh of %s: %w", what, id, err)
	}
	return false, nil
}

// notAfter is the condition "attr is absent or at most t".
func notAfter(e *expr, attr string, t time.Time) string { return atMost(e, attr, attrMs(t)) }

// atMost is the condition "attr is absent or at most v".
func atMost(e *expr, attr string, v types.AttributeValue) string {
	n := e.name(attr)
	return fmt.Sprintf("(attribute_not_exists(%s) OR %s <= %s)", n, n, e.value(v))
}

// updateTerminal runs one conditional UpdateItem on the terminal record.
// A failed condition comes back with the old item where DynamoDB supports
// ReturnValuesOnConditionCheckFailure.
func (s *Store) updateTerminal(ctx context.Context, id string, e *expr, u *update, cond string) error {
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                           s.table,
		Key:                                 key(terminalPK(id), skMeta),
		UpdateExpression:                    aws.String(u.String()),
		ConditionExpression:                 aws.String(cond),
		ExpressionAttributeNames:            e.nameMap(),
		ExpressionAttributeValues:           e.values(),
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	return err
}

// raiseTerminal applies an "only rise" update to an existing terminal
// record: cond guards the new value, and losing it is not an error. It
// reports whether the update applied.
func (s *Store) raiseTerminal(ctx context.Context, id string, e *expr, u *update, cond string) (bool, error) {
	err := s.updateTerminal(ctx, id, e, u, "attribute_exists("+e.name(attrPK)+") AND "+cond)
	if failed, _ := conditionFailed(err); failed {
		return false, nil
	}
	if err != nil {
		return false, storeError(err)
	}
	return true, nil
}

// mustExist returns fleet.ErrNotFound unless the terminal record exists,
// using the item a failed condition returned when there is one.
func (s *Store) mustExist(ctx context.Context, id string, returned map[string]types.AttributeValue) error {
	if returned != nil {
		return nil
	}
	it, err := s.getItem(ctx, key(terminalPK(id), skMeta), attrPK)
	if err != nil {
		return err
	}
	if it == nil {
		return fmt.Errorf("terminal %s: %w", id, fleet.ErrNotFound)
	}
	return nil
}

// DeleteTerminal removes the terminal: the bindings of its connections
// and their entries, its config and desired config items, its group
// memberships, and last the record itself, conditional on its existence
// (so a failure part way leaves a terminal that a retry deletes, and
// never a re-creatable id with a previous terminal's config). Log chunks,
// status samples and commands are left to DynamoDB's TTL; audit items
// stay. fleet.ErrNotFound if absent.
func (s *Store) DeleteTerminal(ctx context.Context, id string) error {
	if err := checkID("terminal id", id); err != nil {
		return fmt.Errorf("delete terminal: %w", err)
	}
	t, err := s.Terminal(ctx, id)
	if err != nil {
		return fmt.Errorf("delete terminal: %w", err)
	}
	conns, err := s.queryPrefix(ctx, terminalPK(id), skConnPrefix)
	if err != nil {
		return fmt.Errorf("delete terminal %s: its connections: %w", id, err)
	}
	var keys []map[string]types.AttributeValue
	for _, it := range conns {
		r := itemReader{item: it}
		keys = append(keys, key(connectionPK(r.str(attrConnID2)), skMeta), key(terminalPK(id), r.str(attrSK)))
	}
	keys = append(keys, key(terminalPK(id), skConfig), key(terminalPK(id), skDesired))
	for _, g := range t.Groups {
		if g != "" {
			keys = append(keys, key(groupPK(g), id))
		}
	}
	for _, k := range keys {
		if err := s.deleteItem(ctx, k); err != nil {
			return fmt.Errorf("delete terminal %s: %w", id, err)
		}
	}
	e := newExpr()
	_, err = s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:                s.table,
		Key:                      key(terminalPK(id), skMeta),
		ConditionExpression:      aws.String("attribute_exists(" + e.name(attrPK) + ")"),
		ExpressionAttributeNames: e.nameMap(),
	})
	if failed, _ := conditionFailed(err); failed {
		return fmt.Errorf("delete terminal %s: %w", id, fleet.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("delete terminal %s: %w", id, storeError(err))
	}
	return nil
}
