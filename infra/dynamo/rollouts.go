package dynamo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/edgesync/edgesync/fleet"
)

// Rollouts (fleet.RolloutStore); the layout is in the package
// documentation. Every rollout item lives under a partition starting with
// "R#", the prefix the functions' policies allow writes to.

var _ fleet.RolloutStore = (*Store)(nil)

// Rollout partitions and sort keys.
const (
	rolloutActivePK = "R#active"
	// skWavePrefix: a wave's counters (small, updated by every answer);
	// skWaveTerminalsPrefix: its terminal list (written once).
	skWavePrefix          = "W#"
	skWaveTerminalsPrefix = "WT#"
	skTargetPrefix        = "T#"
)

func rolloutPK(id string) string         { return "R#" + id }
func rolloutGroupPK(group string) string { return "R#group#" + group }
func waveSK(index int) string            { return fmt.Sprintf("%s%04d", skWavePrefix, index) }
func waveTerminalsSK(index int) string   { return fmt.Sprintf("%s%04d", skWaveTerminalsPrefix, index) }
func targetSK(terminalID string) string  { return skTargetPrefix + terminalID }

// Attributes of rollout items (names of their own, so that they never
// collide with the attributes of other items).
const (
	roGroup           = "group"
	roConfig          = "config"
	roPatch           = "patch"
	roWaveSize        = "waveSize"
	roWaveIntervalMs  = "waveIntervalMs"
	roAbortAbove      = "abortAbove"
	roOverride        = "override"
	roTotal           = "total"
	roWaves           = "waves"
	roState           = "state"
	roWave            = "wave"
	roWaveSent        = "waveSent"
	roPhase           = "phase"
	roPhaseAt         = "phaseAt"
	roNextWaveAt      = "nextWaveAt"
	roWaveDeadline    = "waveDeadline"
	roRollbackWaves   = "rollbackWaves"
	roRolledBackWaves = "rolledBackWaves"
	roReason          = "reason"
	roCreatedAt       = "createdAt"
	roCreatedBy       = "createdBy"
	roCreatorRole     = "creatorRole"
	roUpdatedAt       = "updatedAt"
	roRevision        = "revision"
	// roWrite is a random token of the write that stored the item (putOwn).
	roWrite = "writeToken"

	roTerminals  = "terminals"
	roSize       = "size"
	roStartedAt  = "startedAt"
	roFinishedAt = "finishedAt"
	roOutcome    = "outcome"

	roRequestID         = "requestId"
	roPrevious          = "previous"
	roPreviousVersion   = "previousVersion"
	roTargetVersion     = "targetVersion"
	roSentAt            = "sentAt"
	roCompletedAt       = "completedAt"
	roDeadline          = "deadline"
	roCatchUp           = "catchUp"
	roCatchUpRequestID  = "catchUpRequestId"
	roRollback          = "rollback"
	roRollbackReason    = "rollbackReason"
	roRollbackRequestID = "rollbackRequestId"
)

// waveCounters are the counter attributes of a wave item, in WaveCounts order.
var waveCounters = []string{"succeeded", "failed", "timedOut", "offline", "skipped", "caughtUp", "catchUpFailed", "rolledBack", "rollbackFailed"}

func countValues(c fleet.WaveCounts) []int {
	return []int{c.Succeeded, c.Failed, c.TimedOut, c.Offline, c.Skipped, c.CaughtUp, c.CatchUpFailed, c.RolledBack, c.RollbackFailed}
}

func countsFrom(v []int) fleet.WaveCounts {
	return fleet.WaveCounts{Succeeded: v[0], Failed: v[1], TimedOut: v[2], Offline: v[3], Skipped: v[4],
		CaughtUp: v[5], CatchUpFailed: v[6], RolledBack: v[7], RollbackFailed: v[8]}
}

func rolloutItem(r fleet.Rollout) item {
	it := item(key(rolloutPK(r.ID), skMeta))
	it[roGroup] = attrS(r.Group)
	it.json(roConfig, r.Config)
	it.json(roPatch, r.Patch)
	it[roWaveSize] = attrN(int64(r.WaveSize))
	it[roWaveIntervalMs] = attrN(r.WaveInterval.Milliseconds())
	it[roAbortAbove] = &types.AttributeValueMemberN{Value: strconv.FormatFloat(r.AbortAbove, 'g', -1, 64)}
	if r.OverrideTerminalConfig {
		it[roOverride] = attrBool(true)
	}
	it[roTotal] = attrN(int64(r.Total))
	it[roWaves] = attrN(int64(r.Waves))
	it[roState] = attrS(string(r.State))
	it[roWave] = attrN(int64(r.Wave))
	if r.WaveSent > 0 {
		it[roWaveSent] = attrN(int64(r.WaveSent))
	}
	it.str(roPhase, string(r.Phase))
	it.time(roPhaseAt, r.PhaseAt)
	it.time(roNextWaveAt, r.NextWaveAt)
	it.time(roWaveDeadline, r.WaveDeadline)
	if r.RollbackWaves > 0 || r.RolledBackWaves > 0 {
		it[roRollbackWaves] = attrN(int64(r.RollbackWaves))
		it[roRolledBackWaves] = attrN(int64(r.RolledBackWaves))
	}
	it.str(roReason, r.Reason)
	it.time(roCreatedAt, r.CreatedAt)
	it.str(roCreatedBy, r.CreatedBy)
	it.str(roCreatorRole, string(r.CreatorRole))
	it.time(roUpdatedAt, r.UpdatedAt)
	it[roRevision] = attrU(r.Revision)
	return it
}

func decodeRollout(it map[string]types.AttributeValue) (fleet.Rollout, error) {
	r := itemReader{item: it}
	pk := r.str(attrPK)
	ro := fleet.Rollout{
		ID:                     pk[len("R#"):],
		Group:                  r.str(roGroup),
		Config:                 r.json(roConfig),
		Patch:                  r.json(roPatch),
		WaveSize:               int(r.int(roWaveSize)),
		WaveInterval:           time.Duration(r.int(roWaveIntervalMs)) * time.Millisecond,
		OverrideTerminalConfig: r.boolean(roOverride),
		Total:                  int(r.int(roTotal)),
		Waves:                  int(r.int(roWaves)),
		State:                  fleet.RolloutState(r.str(roState)),
		Wave:                   int(r.int(roWave)),
		WaveSent:               int(r.int(roWaveSent)),
		Phase:                  fleet.WavePhase(r.str(roPhase)),
		PhaseAt:                r.time(roPhaseAt),
		NextWaveAt:             r.time(roNextWaveAt),
		WaveDeadline:           r.time(roWaveDeadline),
		RollbackWaves:          int(r.int(roRollbackWaves)),
		RolledBackWaves:        int(r.int(roRolledBackWaves)),
		Reason:                 r.str(roReason),
		CreatedAt:              r.time(roCreatedAt),
		CreatedBy:              r.str(roCreatedBy),
		CreatorRole:            fleet.Role(r.str(roCreatorRole)),
		UpdatedAt:              r.time(roUpdatedAt),
		Revision:               r.uint(roRevision),
	}
	if v, ok := r.number(roAbortAbove); ok {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil && r.err == nil {
			r.err = fmt.Errorf("attribute %q: %w", roAbortAbove, err)
		}
		ro.AbortAbove = f
	}
	if r.err != nil {
		return fleet.Rollout{}, fmt.Errorf("decode rollout %s: %w", pk, r.err)
	}
	return ro, nil
}

// putOwn writes it with a condition; when the condition fails it reports
// whether the stored item is it itself (the SDK retried a write whose
// answer was lost: the item holds this write's random token, roWrite,
// which no concurrent writer of the same content has), absent (nil old),
// or another.
func (s *Store) putOwn(ctx context.Context, it item, cond string, e *expr) (failed bool, old map[string]types.AttributeValue, err error) {
	var token [8]byte
	_, _ = rand.Read(token[:])
	it[roWrite] = attrS(hex.EncodeToString(token[:]))
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                           s.table,
		Item:                                it,
		ConditionExpression:                 aws.String(cond),
		ExpressionAttributeNames:            e.nameMap(),
		ExpressionAttributeValues:           e.values(),
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	failed, returned := conditionFailed(err)
	if !failed {
		return false, nil, storeError(err)
	}
	old, err = s.itemAfterFailedCondition(ctx, returned, key(it[attrPK].(*types.AttributeValueMemberS).Value, it[attrSK].(*types.AttributeValueMemberS).Value))
	if err != nil {
		return true, nil, err
	}
	if old != nil && reflect.DeepEqual(map[string]types.AttributeValue(it), old) {
		return false, nil, nil // our own write, retried
	}
	return true, old, nil
}

// CreateRollout writes the group entry, the active entry (when active)
// and then the record, conditional on its absence.
func (s *Store) CreateRollout(ctx context.Context, r fleet.Rollout) error {
	if err := checkID("rollout id", r.ID); err != nil {
		return fmt.Errorf("create rollout: %w", err)
	}
	if err := checkID("group", r.Group); err != nil {
		return fmt.Errorf("create rollout %s: %w", r.ID, err)
	}
	if _, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: s.table, Item: key(rolloutGroupPK(r.Group), r.ID)}); err != nil {
		return fmt.Errorf("create rollout %s: group entry: %w", r.ID, storeError(err))
	}
	if r.State.Active() {
		if err := s.putActiveEntry(ctx, r.ID, 1); err != nil {
			return fmt.Errorf("create rollout %s: active entry: %w", r.ID, err)
		}
	}
	r.Revision = 1
	e := newExpr()
	failed, _, err := s.putOwn(ctx, rolloutItem(r), "attribute_not_exists("+e.name(attrPK)+")", e)
	if err != nil {
		return fmt.Errorf("create rollout %s: %w", r.ID, err)
	}
	if failed {
		return fmt.Errorf("create rollout %s: %w", r.ID, fleet.ErrExists)
	}
	return nil
}

// Rollout reads the record.
func (s *Store) Rollout(ctx context.Context, id string) (fleet.Rollout, error) {
	if err := checkID("rollout id", id); err != nil {
		return fleet.Rollout{}, fmt.Errorf("read rollout: %w", err)
	}
	it, err := s.getItem(ctx, key(rolloutPK(id), skMeta))
	if err != nil {
		return fleet.Rollout{}, fmt.Errorf("read rollout %s: %w", id, err)
	}
	if it == nil {
		return fleet.Rollout{}, fmt.Errorf("rollout %s: %w", id, fleet.ErrNotFound)
	}
	return decodeRollout(it)
}

// UpdateRollout puts the record conditional on its revision, after writing
// the active entry (active) or before deleting it (not active). The
// active entry names the revision that wrote it, and is deleted only by
// a writer of that revision or a later one: an inactive revision's delete
// that lands after a later active revision's put (retries widen the gap)
// leaves the entry, so the scheduler still finds a rollout being rolled
// back.
func (s *Store) UpdateRollout(ctx context.Context, r fleet.Rollout) error {
	if err := checkID("rollout id", r.ID); err != nil {
		return fmt.Errorf("update rollout: %w", err)
	}
	if r.State.Active() {
		if err := s.putActiveEntry(ctx, r.ID, r.Revision+1); err != nil {
			return fmt.Errorf("update rollout %s: active entry: %w", r.ID, err)
		}
	}
	rev := r.Revision
	r.Revision++
	e := newExpr()
	cond := e.name(roRevision) + " = " + e.value(attrU(rev))
	failed, old, err := s.putOwn(ctx, rolloutItem(r), cond, e)
	switch {
	case err != nil:
		return fmt.Errorf("update rollout %s: %w", r.ID, err)
	case failed && old == nil:
		return fmt.Errorf("update rollout %s: %w", r.ID, fleet.ErrNotFound)
	case failed:
		return fmt.Errorf("update rollout %s: %w", r.ID, fleet.ErrConflict)
	}
	if !r.State.Active() {
		if err := s.dropActiveEntry(ctx, r.ID, r.Revision); err != nil {
			return fmt.Errorf("update rollout %s: drop active entry: %w", r.ID, err)
		}
	}
	return nil
}

// dropActiveEntry deletes rollout id's active entry unless a revision
// later than revision wrote it (see UpdateRollout).
func (s *Store) dropActiveEntry(ctx context.Context, id string, revision uint64) error {
	e := newExpr()
	cond := "attribute_not_exists(" + e.name(roRevision) + ") OR " + e.name(roRevision) + " <= " + e.value(attrU(revision))
	_, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: s.table, Key: key(rolloutActivePK, id),
		ConditionExpression: aws.String(cond), ExpressionAttributeNames: e.nameMap(), ExpressionAttributeValues: e.values()})
	if failed, _ := conditionFailed(err); err != nil && !failed {
		return storeError(err)
	}
	return nil
}

// putActiveEntry lists rollout id among the active ones, naming the
// revision about to be written (see UpdateRollout).
func (s *Store) putActiveEntry(ctx context.Context, id string, revision uint64) error {
	it := item(key(rolloutActivePK, id))
	it[roRevision] = attrU(revision)
	if _, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: s.table, Item: it}); err != nil {
		return storeError(err)
	}
	return nil
}

// GroupRollouts queries the group's entries newest first and batch-reads
// the records they name.
func (s *Store) GroupRollouts(ctx context.Context, group, cursor string, limit int) ([]fleet.Rollout, string, error) {
	if limit < 1 {
		return nil, "", fmt.Errorf("rollouts of group %q: %w: limit %d, want at least 1", group, fleet.ErrInvalid, limit)
	}
	if cursor != "" && !fleet.ValidAuditID(cursor) {
		return nil, "", fmt.Errorf("rollouts of group %q: %w: malformed cursor", group, fleet.ErrInvalid)
	}
	if group == "" {
		return nil, "", nil
	}
	if err := checkID("group", group); err != nil {
		return nil, "", fmt.Errorf("rollouts of a group: %w", err)
	}
	e := newExpr()
	cond := e.name(attrPK) + " = " + e.value(attrS(rolloutGroupPK(group)))
	if cursor != "" {
		cond += " AND " + e.name(attrSK) + " < " + e.value(attrS(cursor))
	}
	in := &dynamodb.QueryInput{
		TableName: s.table, KeyConditionExpression: aws.String(cond),
		ExpressionAttributeNames: e.nameMap(), ExpressionAttributeValues: e.values(),
		ConsistentRead: aws.Bool(true), ScanIndexForward: aws.Bool(false),
	}
	ids, err := s.querySortKeys(ctx, in, limit+1)
	if err != nil {
		return nil, "", fmt.Errorf("rollouts of group %q: %w", group, err)
	}
	more := len(ids) > limit
	if more {
		ids = ids[:limit]
	}
	keys := make([]map[string]types.AttributeValue, len(ids))
	for i, id := range ids {
		keys[i] = key(rolloutPK(id), skMeta)
	}
	items, err := s.batchGet(ctx, keys)
	if err != nil {
		return nil, "", fmt.Errorf("rollouts of group %q: %w", group, err)
	}
	byID := map[string]fleet.Rollout{}
	for _, it := range items {
		r, err := decodeRollout(it)
		if err != nil {
			return nil, "", err
		}
		byID[r.ID] = r
	}
	var out []fleet.Rollout
	for _, id := range ids {
		if r, ok := byID[id]; ok {
			out = append(out, r)
		}
	}
	next := ""
	if more && len(ids) > 0 {
		next = ids[len(ids)-1]
	}
	return out, next, nil
}

// querySortKeys runs a key-only Query and returns up to n sort keys.
func (s *Store) querySortKeys(ctx context.Context, in *dynamodb.QueryInput, n int) ([]string, error) {
	var out []string
	for len(out) < n {
		in.Limit = aws.Int32(int32(n - len(out)))
		res, err := s.db.Query(ctx, in)
		if err != nil {
			return nil, storeError(err)
		}
		for _, it := range res.Items {
			r := itemReader{item: it}
			out = append(out, r.str(attrSK))
			if r.err != nil {
				return nil, r.err
			}
		}
		if len(res.LastEvaluatedKey) == 0 {
			break
		}
		in.ExclusiveStartKey = res.LastEvaluatedKey
	}
	return out, nil
}

// ActiveRollouts queries the active partition after the id after.
func (s *Store) ActiveRollouts(ctx context.Context, after string, limit int) ([]string, error) {
	if limit < 1 {
		return nil, fmt.Errorf("active rollouts: %w: limit %d, want at least 1", fleet.ErrInvalid, limit)
	}
	if len(after) > maxKeyPart {
		return nil, fmt.Errorf("active rollouts: %w: cursor too long", fleet.ErrInvalid)
	}
	e := newExpr()
	cond := e.name(attrPK) + " = " + e.value(attrS(rolloutActivePK))
	if after != "" {
		cond += " AND " + e.name(attrSK) + " > " + e.value(attrS(after))
	}
	ids, err := s.querySortKeys(ctx, &dynamodb.QueryInput{
		TableName: s.table, KeyConditionExpression: aws.String(cond),
		ExpressionAttributeNames: e.nameMap(), ExpressionAttributeValues: e.values(), ConsistentRead: aws.Bool(true),
	}, limit)
	if err != nil {
		return nil, fmt.Errorf("active rollouts: %w", err)
	}
	return ids, nil
}

// waveItem is a wave's counters item (W#): its size, counters, start, end
// and outcome, tens of bytes whatever the wave's size.
func waveItem(w fleet.RolloutWave) item {
	it := item(key(rolloutPK(w.RolloutID), waveSK(w.Index)))
	it[roSize] = attrN(int64(len(w.Terminals)))
	for i, v := range countValues(w.Counts) {
		it[waveCounters[i]] = attrN(int64(v))
	}
	it.time(roStartedAt, w.StartedAt)
	it.time(roFinishedAt, w.FinishedAt)
	it.str(roOutcome, w.Outcome)
	return it
}

// waveTerminalsItem is a wave's terminal list (WT#).
func waveTerminalsItem(w fleet.RolloutWave) item {
	it := item(key(rolloutPK(w.RolloutID), waveTerminalsSK(w.Index)))
	ids := make([]types.AttributeValue, len(w.Terminals))
	for i, id := range w.Terminals {
		ids[i] = attrS(id)
	}
	it[roTerminals] = &types.AttributeValueMemberL{Value: ids}
	return it
}

// decodeWave decodes a counters item (W#). Terminals are set only by an
// item of the layout before the counters had an item of their own (the
// list and the counters in W#): a rollout started before it still reads.
func decodeWave(rolloutID string, it map[string]types.AttributeValue) (fleet.RolloutWave, error) {
	r := itemReader{item: it}
	sk := r.str(attrSK)
	index, err := strconv.Atoi(sk[len(skWavePrefix):])
	if err != nil {
		return fleet.RolloutWave{}, fmt.Errorf("decode wave %q of rollout %s: %w", sk, rolloutID, err)
	}
	w := fleet.RolloutWave{RolloutID: rolloutID, Index: index, Size: int(r.int(roSize)),
		StartedAt: r.time(roStartedAt), FinishedAt: r.time(roFinishedAt), Outcome: r.str(roOutcome)}
	if _, inline := it[roTerminals]; inline {
		if w.Terminals, err = decodeTerminalList(r.list(roTerminals)); err != nil {
			return fleet.RolloutWave{}, fmt.Errorf("decode wave %d of rollout %s: %w", index, rolloutID, err)
		}
		w.Size = len(w.Terminals)
	}
	vals := make([]int, len(waveCounters))
	for i, name := range waveCounters {
		vals[i] = int(r.int(name))
	}
	w.Counts = countsFrom(vals)
	if r.err != nil {
		return fleet.RolloutWave{}, fmt.Errorf("decode wave %d of rollout %s: %w", index, rolloutID, r.err)
	}
	return w, nil
}

func decodeTerminalList(l []types.AttributeValue) ([]string, error) {
	out := make([]string, 0, len(l))
	for _, v := range l {
		s, ok := v.(*types.AttributeValueMemberS)
		if !ok {
			return nil, fmt.Errorf("terminals: want L of S")
		}
		out = append(out, s.Value)
	}
	return out, nil
}

// PutRolloutWaves puts each wave's terminal list and then its counters,
// each conditional on its absence, so a wave never exists without its
// list and a stored one is never replaced.
func (s *Store) PutRolloutWaves(ctx context.Context, waves ...fleet.RolloutWave) error {
	for _, w := range waves {
		if err := checkID("rollout id", w.RolloutID); err != nil {
			return fmt.Errorf("put rollout waves: %w", err)
		}
		if w.Index < 0 || w.Index > 9999 {
			return fmt.Errorf("put wave %d of rollout %s: %w: index from 0 to 9999", w.Index, w.RolloutID, fleet.ErrInvalid)
		}
		for _, it := range []item{waveTerminalsItem(w), waveItem(w)} {
			e := newExpr()
			_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{
				TableName: s.table, Item: it,
				ConditionExpression:      aws.String("attribute_not_exists(" + e.name(attrPK) + ")"),
				ExpressionAttributeNames: e.nameMap(),
			})
			if failed, _ := conditionFailed(err); failed {
				continue // stored already
			}
			if err != nil {
				return fmt.Errorf("put wave %d of rollout %s: %w", w.Index, w.RolloutID, storeError(err))
			}
		}
	}
	return nil
}

// RolloutWave reads the wave's counters item and its terminal list.
func (s *Store) RolloutWave(ctx context.Context, rolloutID string, index int) (fleet.RolloutWave, error) {
	if err := checkID("rollout id", rolloutID); err != nil {
		return fleet.RolloutWave{}, fmt.Errorf("read wave: %w", err)
	}
	if index < 0 || index > 9999 {
		return fleet.RolloutWave{}, fmt.Errorf("wave %d of rollout %s: %w", index, rolloutID, fleet.ErrNotFound)
	}
	it, err := s.getItem(ctx, key(rolloutPK(rolloutID), waveSK(index)))
	if err != nil {
		return fleet.RolloutWave{}, fmt.Errorf("read wave %d of rollout %s: %w", index, rolloutID, err)
	}
	if it == nil {
		return fleet.RolloutWave{}, fmt.Errorf("wave %d of rollout %s: %w", index, rolloutID, fleet.ErrNotFound)
	}
	w, err := decodeWave(rolloutID, it)
	if err != nil || w.Terminals != nil {
		return w, err
	}
	list, err := s.getItem(ctx, key(rolloutPK(rolloutID), waveTerminalsSK(index)))
	if err != nil {
		return fleet.RolloutWave{}, fmt.Errorf("read terminals of wave %d of rollout %s: %w", index, rolloutID, err)
	}
	if list == nil {
		return fleet.RolloutWave{}, fmt.Errorf("wave %d of rollout %s has no terminal list (%s)", index, rolloutID, waveTerminalsSK(index))
	}
	r := itemReader{item: list}
	if w.Terminals, err = decodeTerminalList(r.list(roTerminals)); err == nil {
		err = r.err
	}
	if err != nil {
		return fleet.RolloutWave{}, fmt.Errorf("decode terminals of wave %d of rollout %s: %w", index, rolloutID, err)
	}
	w.Size = len(w.Terminals)
	return w, nil
}

// RolloutWaves queries the rollout's W# items (the counters, not the
// terminal lists).
func (s *Store) RolloutWaves(ctx context.Context, rolloutID string) ([]fleet.RolloutWave, error) {
	if err := checkID("rollout id", rolloutID); err != nil {
		return nil, fmt.Errorf("read waves: %w", err)
	}
	e := newExpr()
	in := &dynamodb.QueryInput{
		TableName: s.table,
		KeyConditionExpression: aws.String(e.name(attrPK) + " = " + e.value(attrS(rolloutPK(rolloutID))) +
			" AND begins_with(" + e.name(attrSK) + ", " + e.value(attrS(skWavePrefix)) + ")"),
		ExpressionAttributeNames: e.nameMap(), ExpressionAttributeValues: e.values(), ConsistentRead: aws.Bool(true),
	}
	var out []fleet.RolloutWave
	for {
		res, err := s.db.Query(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("read waves of rollout %s: %w", rolloutID, storeError(err))
		}
		for _, it := range res.Items {
			w, err := decodeWave(rolloutID, it)
			if err != nil {
				return nil, err
			}
			w.Terminals = nil
			out = append(out, w)
		}
		if len(res.LastEvaluatedKey) == 0 {
			return out, nil
		}
		in.ExclusiveStartKey = res.LastEvaluatedKey
	}
}

// updateWave runs an UpdateItem on an existing wave's counters item and
// returns the wave as stored after, without its terminals.
func (s *Store) updateWave(ctx context.Context, rolloutID string, index int, e *expr, updateExpr string) (fleet.RolloutWave, error) {
	if err := checkID("rollout id", rolloutID); err != nil {
		return fleet.RolloutWave{}, fmt.Errorf("update wave: %w", err)
	}
	if index < 0 || index > 9999 {
		return fleet.RolloutWave{}, fmt.Errorf("wave %d of rollout %s: %w", index, rolloutID, fleet.ErrNotFound)
	}
	out, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: s.table, Key: key(rolloutPK(rolloutID), waveSK(index)),
		UpdateExpression:          aws.String(updateExpr),
		ConditionExpression:       aws.String("attribute_exists(" + e.name(attrPK) + ")"),
		ExpressionAttributeNames:  e.nameMap(),
		ExpressionAttributeValues: e.values(),
		ReturnValues:              types.ReturnValueAllNew,
	})
	if failed, _ := conditionFailed(err); failed {
		return fleet.RolloutWave{}, fmt.Errorf("wave %d of rollout %s: %w", index, rolloutID, fleet.ErrNotFound)
	}
	if err != nil {
		return fleet.RolloutWave{}, fmt.Errorf("update wave %d of rollout %s: %w", index, rolloutID, storeError(err))
	}
	w, err := decodeWave(rolloutID, out.Attributes)
	w.Terminals = nil
	return w, err
}

// AddRolloutWaveCounts adds delta with one UpdateItem (ADD) of the wave's
// counters item, returning the wave as it is after. DynamoDB bills an
// update by the larger of the item's sizes before and after: the counters
// item holds no terminal list, so an addition is one write unit whatever
// the wave's size (TestWaveCounterUpdateIsSmall).
func (s *Store) AddRolloutWaveCounts(ctx context.Context, rolloutID string, index int, delta fleet.WaveCounts) (fleet.RolloutWave, error) {
	e := newExpr()
	var adds []string
	for i, v := range countValues(delta) {
		adds = append(adds, e.name(waveCounters[i])+" "+e.value(attrN(int64(v))))
	}
	return s.updateWave(ctx, rolloutID, index, e, "ADD "+strings.Join(adds, ", "))
}

// MarkRolloutWave records a wave's start (if none is stored) or its end.
func (s *Store) MarkRolloutWave(ctx context.Context, rolloutID string, index int, started, finished time.Time, outcome string, counts fleet.WaveCounts) error {
	e := newExpr()
	u := newUpdate(e)
	if !started.IsZero() {
		u.set = append(u.set, e.name(roStartedAt)+" = if_not_exists("+e.name(roStartedAt)+", "+e.value(attrMs(started))+")")
	}
	if !finished.IsZero() {
		u.setValue(roFinishedAt, attrMs(finished))
		u.setString(roOutcome, outcome)
		for i, v := range countValues(counts)[:5] {
			u.setValue(waveCounters[i], attrN(int64(v)))
		}
	}
	if len(u.set) == 0 && len(u.remove) == 0 {
		_, err := s.RolloutWave(ctx, rolloutID, index)
		return err
	}
	_, err := s.updateWave(ctx, rolloutID, index, e, u.String())
	return err
}

func targetItem(t fleet.RolloutTarget) item {
	it := item(key(rolloutPK(t.RolloutID), targetSK(t.TerminalID)))
	it[roWave] = attrN(int64(t.Wave))
	it[roState] = attrS(string(t.State))
	it.str(roReason, t.Reason)
	it.str(roRequestID, t.RequestID)
	it.json(roPrevious, t.Previous)
	it.str(roPreviousVersion, t.PreviousVersion)
	it.str(roTargetVersion, t.TargetVersion)
	it.time(roSentAt, t.SentAt)
	it.time(roCompletedAt, t.CompletedAt)
	it.time(roDeadline, t.Deadline)
	it.str(roCatchUp, string(t.CatchUp))
	it.str(roCatchUpRequestID, t.CatchUpRequestID)
	it.str(roRollback, string(t.Rollback))
	it.str(roRollbackReason, t.RollbackReason)
	it.str(roRollbackRequestID, t.RollbackRequestID)
	it[roRevision] = attrU(t.Revision)
	return it
}

func decodeTarget(rolloutID string, it map[string]types.AttributeValue) (fleet.RolloutTarget, error) {
	r := itemReader{item: it}
	sk := r.str(attrSK)
	t := fleet.RolloutTarget{
		RolloutID: rolloutID, TerminalID: sk[len(skTargetPrefix):], Wave: int(r.int(roWave)),
		State: fleet.TargetState(r.str(roState)), Reason: r.str(roReason), RequestID: r.str(roRequestID),
		Previous: r.json(roPrevious), PreviousVersion: r.str(roPreviousVersion), TargetVersion: r.str(roTargetVersion),
		SentAt: r.time(roSentAt), CompletedAt: r.time(roCompletedAt), Deadline: r.time(roDeadline),
		CatchUp: fleet.TargetState(r.str(roCatchUp)), CatchUpRequestID: r.str(roCatchUpRequestID),
		Rollback: fleet.TargetState(r.str(roRollback)), RollbackReason: r.str(roRollbackReason),
		RollbackRequestID: r.str(roRollbackRequestID), Revision: r.uint(roRevision),
	}
	if r.err != nil {
		return fleet.RolloutTarget{}, fmt.Errorf("decode target %s of rollout %s: %w", sk, rolloutID, r.err)
	}
	return t, nil
}

func checkTargetKey(rolloutID, terminalID string) error {
	if err := checkID("rollout id", rolloutID); err != nil {
		return err
	}
	return checkID("terminal id", terminalID)
}

// PutRolloutTarget puts the target conditional on its absence.
func (s *Store) PutRolloutTarget(ctx context.Context, t fleet.RolloutTarget) (bool, error) {
	if err := checkTargetKey(t.RolloutID, t.TerminalID); err != nil {
		return false, fmt.Errorf("put rollout target: %w", err)
	}
	t.Revision = 1
	e := newExpr()
	failed, _, err := s.putOwn(ctx, targetItem(t), "attribute_not_exists("+e.name(attrPK)+")", e)
	if err != nil {
		return false, fmt.Errorf("put target %s of rollout %s: %w", t.TerminalID, t.RolloutID, err)
	}
	return !failed, nil
}

// RolloutTarget reads one target.
func (s *Store) RolloutTarget(ctx context.Context, rolloutID, terminalID string) (fleet.RolloutTarget, error) {
	if err := checkTargetKey(rolloutID, terminalID); err != nil {
		return fleet.RolloutTarget{}, fmt.Errorf("read rollout target: %w", err)
	}
	it, err := s.getItem(ctx, key(rolloutPK(rolloutID), targetSK(terminalID)))
	if err != nil {
		return fleet.RolloutTarget{}, fmt.Errorf("read target %s of rollout %s: %w", terminalID, rolloutID, err)
	}
	if it == nil {
		return fleet.RolloutTarget{}, fmt.Errorf("target %s of rollout %s: %w", terminalID, rolloutID, fleet.ErrNotFound)
	}
	return decodeTarget(rolloutID, it)
}

// RolloutTargets batch-reads the targets of the terminals named.
func (s *Store) RolloutTargets(ctx context.Context, rolloutID string, terminalIDs []string) ([]fleet.RolloutTarget, error) {
	if err := checkID("rollout id", rolloutID); err != nil {
		return nil, fmt.Errorf("read rollout targets: %w", err)
	}
	seen := map[string]bool{}
	var keys []map[string]types.AttributeValue
	for _, id := range terminalIDs {
		if id == "" || seen[id] || len(id) > maxKeyPart {
			continue
		}
		seen[id] = true
		keys = append(keys, key(rolloutPK(rolloutID), targetSK(id)))
	}
	items, err := s.batchGet(ctx, keys)
	if err != nil {
		return nil, fmt.Errorf("read targets of rollout %s: %w", rolloutID, err)
	}
	byID := map[string]fleet.RolloutTarget{}
	for _, it := range items {
		t, err := decodeTarget(rolloutID, it)
		if err != nil {
			return nil, err
		}
		byID[t.TerminalID] = t
	}
	var out []fleet.RolloutTarget
	for _, id := range terminalIDs {
		if t, ok := byID[id]; ok {
			out = append(out, t)
			delete(byID, id)
		}
	}
	return out, nil
}

// UpdateRolloutTarget puts the target conditional on its revision.
func (s *Store) UpdateRolloutTarget(ctx context.Context, t fleet.RolloutTarget) error {
	if err := checkTargetKey(t.RolloutID, t.TerminalID); err != nil {
		return fmt.Errorf("update rollout target: %w", err)
	}
	rev := t.Revision
	t.Revision++
	e := newExpr()
	failed, old, err := s.putOwn(ctx, targetItem(t), e.name(roRevision)+" = "+e.value(attrU(rev)), e)
	switch {
	case err != nil:
		return fmt.Errorf("update target %s of rollout %s: %w", t.TerminalID, t.RolloutID, err)
	case failed && old == nil:
		return fmt.Errorf("update target %s of rollout %s: %w", t.TerminalID, t.RolloutID, fleet.ErrNotFound)
	case failed:
		return fmt.Errorf("update target %s of rollout %s: %w", t.TerminalID, t.RolloutID, fleet.ErrConflict)
	}
	return nil
}
