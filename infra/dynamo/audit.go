package dynamo

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/edgesync/edgesync/fleet"
)

// Audit layout; see the package documentation.
const (
	attrAPK = "apk"
	attrASK = "ask"

	// auditIndex is the sparse GSI listing every audit record, newest last.
	auditIndex = "audit"
	// auditPartition is the apk of every audit record.
	auditPartition = "audit"
	// fleetAuditPK is the partition of audit records that name no terminal.
	fleetAuditPK = "AUDIT"

	skAuditPrefix = "AUDIT#"

	attrRole    = "role"
	attrAction  = "action"
	attrOutcome = "outcome"
	attrDetail  = "detail"
	// attrAt, attrActor and attrTerminalID are shared with other items.
)

// Audit ids are fleet.NewAuditID's; fleet.ValidAuditID and
// fleet.AuditIDRange hold their rules. Key range bounds of audit ids: every id starts with a digit, so "0" is
// below and ":" (the byte after '9') above all of them.
const (
	auditIDFloor   = "0"
	auditIDCeiling = ":"
)

// maxAuditPage caps the limit of one Audit page; minFilteredRead is the
// fewest items one Query reads when an actor or action filter may drop
// most of them.
const (
	maxAuditPage    = 1000
	minFilteredRead = 100
)

func auditSK(id string) string { return skAuditPrefix + id }

// PutAudit stores an audit record, without expiry, in one item: under its
// terminal's partition, or under AUDIT for fleet-wide records, carrying the
// "audit" index keys. A record whose ID is stored already is kept as first
// stored (the put is conditional on absence). fleet.ErrInvalid unless the ID
// is one fleet.NewAuditID makes for r.At (so that ID order is time order
// and Since/Until become key ranges) and Detail, when set, is valid JSON.
// At is kept to the millisecond, the precision of the ID.
func (s *Store) PutAudit(ctx context.Context, r fleet.AuditRecord) error {
	if err := checkAuditRecord(r); err != nil {
		return fmt.Errorf("put audit record %q: %w", r.ID, err)
	}
	e := newExpr()
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                s.table,
		Item:                     auditItem(r),
		ConditionExpression:      aws.String("attribute_not_exists(" + e.name(attrPK) + ")"),
		ExpressionAttributeNames: e.nameMap(),
	})
	if failed, _ := conditionFailed(err); failed {
		return nil // stored already
	}
	if err != nil {
		return fmt.Errorf("put audit record %s: %w", r.ID, storeError(err))
	}
	return nil
}

// auditItem is the one item of an audit record.
func auditItem(r fleet.AuditRecord) item {
	pk := fleetAuditPK
	if r.TerminalID != "" {
		pk = terminalPK(r.TerminalID)
	}
	it := item(key(pk, auditSK(r.ID)))
	it[attrAPK] = attrS(auditPartition)
	it[attrASK] = attrS(r.ID)
	it[attrAt] = attrMs(r.At)
	it.str(attrActor, r.Actor)
	it.str(attrRole, r.Role)
	it.str(attrAction, r.Action)
	it.str(attrTerminalID, r.TerminalID)
	it.str(attrOutcome, r.Outcome)
	it.json(attrDetail, r.Detail)
	return it
}

func decodeAudit(it map[string]types.AttributeValue) (fleet.AuditRecord, error) {
	r := itemReader{item: it}
	rec := fleet.AuditRecord{
		ID:         r.str(attrASK),
		At:         r.time(attrAt),
		Actor:      r.str(attrActor),
		Role:       r.str(attrRole),
		Action:     r.str(attrAction),
		TerminalID: r.str(attrTerminalID),
		Outcome:    r.str(attrOutcome),
		Detail:     r.json(attrDetail),
	}
	if r.err != nil {
		return fleet.AuditRecord{}, fmt.Errorf("decode audit record %s: %w", rec.ID, r.err)
	}
	return rec, nil
}

// Audit returns the records matching q, newest first by ID, at most q.Limit
// (capped at 1000), and the cursor of the next page ("" after the last
// page): the ID of the page's last record. A terminal's records are one
// strongly consistent Query of its partition; fleet-wide queries read the
// "audit" index (eventually consistent, so a record may show a moment after
// PutAudit returned). Since and Until become a key range; Actor and Action
// are filter expressions, and Audit queries on until the page is full or
// the range is exhausted. fleet.ErrInvalid for a limit below 1 or a cursor
// that is not an audit record ID.
func (s *Store) Audit(ctx context.Context, q fleet.AuditQuery) ([]fleet.AuditRecord, string, error) {
	if q.Limit < 1 {
		return nil, "", fmt.Errorf("read audit: %w: limit %d, want at least 1", fleet.ErrInvalid, q.Limit)
	}
	if q.Cursor != "" && !fleet.ValidAuditID(q.Cursor) {
		return nil, "", fmt.Errorf("read audit: %w: malformed cursor", fleet.ErrInvalid)
	}
	if q.TerminalID != "" {
		if err := checkID("terminal id", q.TerminalID); err != nil {
			return nil, "", fmt.Errorf("read audit: %w", err)
		}
	}
	limit := min(q.Limit, maxAuditPage)

	lo, hi, ok := auditBounds(q.Since, q.Until)
	if !ok {
		return nil, "", nil
	}
	// The key range is inclusive; the cursor's own record is skipped below.
	// No id equals the Until bound (ids have a suffix), so it excludes.
	if q.Cursor != "" && q.Cursor < hi {
		hi = q.Cursor
	}
	if lo > hi {
		return nil, "", nil
	}

	e := newExpr()
	in := &dynamodb.QueryInput{TableName: s.table, ScanIndexForward: aws.Bool(false)}
	if q.TerminalID != "" {
		in.KeyConditionExpression = aws.String(fmt.Sprintf("%s = %s AND %s BETWEEN %s AND %s",
			e.name(attrPK), e.value(attrS(terminalPK(q.TerminalID))),
			e.name(attrSK), e.value(attrS(auditSK(lo))), e.value(attrS(auditSK(hi)))))
		in.ConsistentRead = aws.Bool(true)
	} else {
		in.IndexName = aws.String(auditIndex)
		in.KeyConditionExpression = aws.String(fmt.Sprintf("%s = %s AND %s BETWEEN %s AND %s",
			e.name(attrAPK), e.value(attrS(auditPartition)),
			e.name(attrASK), e.value(attrS(lo)), e.value(attrS(hi))))
	}
	var filters []string
	if q.Actor != "" {
		filters = append(filters, e.name(attrActor)+" = "+e.value(attrS(q.Actor)))
	}
	if q.Action != "" {
		filters = append(filters, e.name(attrAction)+" = "+e.value(attrS(q.Action)))
	}
	read := int32(limit + 2) // one more than the page tells whether there is a next; one for the cursor's record
	if len(filters) > 0 {
		in.FilterExpression = aws.String(strings.Join(filters, " AND "))
		read = max(read, minFilteredRead)
	}
	in.ExpressionAttributeNames = e.nameMap()
	in.ExpressionAttributeValues = e.values()
	in.Limit = aws.Int32(read)

	var out []fleet.AuditRecord
	for len(out) <= limit {
		page, err := s.db.Query(ctx, in)
		if err != nil {
			return nil, "", fmt.Errorf("read audit: %w", storeError(err))
		}
		for _, it := range page.Items {
			r, err := decodeAudit(it)
			if err != nil {
				return nil, "", fmt.Errorf("read audit: %w", err)
			}
			if r.ID != q.Cursor {
				out = append(out, r)
			}
		}
		if len(page.LastEvaluatedKey) == 0 {
			break
		}
		in.ExclusiveStartKey = page.LastEvaluatedKey
	}
	next := ""
	if len(out) > limit {
		out = out[:limit]
		next = out[limit-1].ID
	}
	return out, next, nil
}

// checkAuditRecord rejects records the store cannot key or keep whole.
func checkAuditRecord(r fleet.AuditRecord) error {
	if err := fleet.CheckAuditRecord(r); err != nil {
		return err
	}
	if r.TerminalID != "" {
		if err := checkID("terminal id", r.TerminalID); err != nil {
			return err
		}
	}
	return nil
}

// auditBounds is fleet.AuditIDRange with open ends closed by auditIDFloor
// and auditIDCeiling, as a key condition needs both.
func auditBounds(since, until time.Time) (lo, hi string, ok bool) {
	lo, hi, ok = fleet.AuditIDRange(since, until)
	if lo == "" {
		lo = auditIDFloor
	}
	if hi == "" {
		hi = auditIDCeiling
	}
	return lo, hi, ok
}
