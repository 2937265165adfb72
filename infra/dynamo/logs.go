package dynamo

import (
	"context"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/edgesync/edgesync/fleet"
)

// Attributes of a log chunk item (sk L#<LastSeq>).
const (
	attrFirstSeq = "firstSeq"
	attrEntries  = "entries"
	attrStoredAt = "storedAt"
	// The status sample riding with the lines (fleet.LogBatch.Status): its
	// time, expiry and report in one zstd frame (see encodeSample).
	attrSample = "sample"
)

// logPageSize is the largest Limit of one log chunk Query page: chunks
// are up to tens of KB, and scans usually stop after a few. A scan's first
// page reads logFirstPage chunks and each next page twice as many, up to
// logPageSize: a reader that stops after a chunk or two (a fleet-wide
// search reads every terminal's newest, a probe one chunk) pays for about
// what it reads, and DynamoDB bills a Query by the 4 KB of all its items.
const (
	logPageSize  = 25
	logFirstPage = 2
)

// PutLogChunk stores the chunk, keyed by its LastSeq, with its entries
// gzip-compressed, then raises the terminal's LastSeq and Dropped (also
// when the chunk itself is ignored). A chunk already stored with the same
// LastSeq is replaced only by one starting at the same FirstSeq or lower,
// which holds every line the stored one holds, or when the stored one has
// expired; so a shorter resend never hides lines. fleet.ErrNotFound if the
// terminal is absent (the chunk is then left to expire). A chunk whose item
// would be over DynamoDB's 400 KB item limit is refused before anything is
// written, with fleet.ErrInvalid naming the sizes (see chunkTooLarge): it
// is not split, as the parts would be chunks nobody stored, and a narrower
// resend ending at the same LastSeq would then replace the last part
// instead of being ignored, against the chunk contract.
func (s *Store) PutLogChunk(ctx context.Context, c fleet.LogChunk, dropped uint64) error {
	if err := checkChunk(c); err != nil {
		return err
	}
	it, compressed, err := chunkItem(c, nil)
	if err != nil {
		return fmt.Errorf("put log chunk %s/%d..%d: %w", c.TerminalID, c.FirstSeq, c.LastSeq, err)
	}
	if _, err := s.putChunk(ctx, c, it, compressed); err != nil {
		return err
	}
	if err := s.raiseLogCounters(ctx, c.TerminalID, c.LastSeq, dropped); err != nil {
		return fmt.Errorf("put log chunk %s/%d..%d: %w", c.TerminalID, c.FirstSeq, c.LastSeq, err)
	}
	return nil
}

func checkChunk(c fleet.LogChunk) error {
	if err := checkID("terminal id", c.TerminalID); err != nil {
		return fmt.Errorf("put log chunk: %w", err)
	}
	if c.FirstSeq == 0 || c.LastSeq < c.FirstSeq {
		return fmt.Errorf("put log chunk of %s: %w: seq range %d..%d (want 1 <= FirstSeq <= LastSeq)",
			c.TerminalID, fleet.ErrInvalid, c.FirstSeq, c.LastSeq)
	}
	return nil
}

// PutLogBatch stores a logs batch (fleet.LogBatchStore): the chunk item
// with the status sample inside it (attribute sample), so a report riding
// with lines costs no item of its own; and, only when b.Record is set, one
// update of the terminal record for LastSeq, Dropped, the status and
// LastSeen together (raiseLogCounters' update when no status rides). When
// the update's condition fails (something newer is stored, or the
// terminal is absent) each part is applied on its own conditions, as
// PutLogChunk and PutStatus do. When the chunk item is not written (a
// stored chunk ending at the same line holds these lines already) the
// sample goes to an item of its own, as PutStatus writes it. With Record,
// a sample that would make the chunk item cost one write unit more (DynamoDB
// bills every started KB) is left out of the history: the record holds
// the report, and a terminal reporting more often than StatusRecordEvery
// has about every other report recorded, so its history keeps at least
// one sample a minute. Without Record nothing reads the terminal record,
// so an absent terminal is not noticed (its chunk is left to expire).
func (s *Store) PutLogBatch(ctx context.Context, b fleet.LogBatch) error {
	c := b.Chunk
	if err := checkChunk(c); err != nil {
		return err
	}
	id := c.TerminalID
	var sample *fleet.StatusSample
	if b.Status != nil {
		if err := checkSample(id, *b.Status); err != nil {
			return err
		}
		sample = &fleet.StatusSample{At: b.Status.SyncedAt, Data: b.Status.Data, ExpiresAt: b.StatusExpiresAt}
	}
	it, compressed, err := chunkItem(c, nil)
	if err != nil {
		return fmt.Errorf("put log chunk %s/%d..%d: %w", id, c.FirstSeq, c.LastSeq, err)
	}
	kept := false
	if sample != nil {
		without := itemSize(it)
		if err := addSample(it, *sample); err != nil {
			return fmt.Errorf("put log chunk %s/%d..%d: %w", id, c.FirstSeq, c.LastSeq, err)
		}
		if kept = !b.Record || writeUnits(itemSize(it)) <= writeUnits(without); !kept {
			delete(it, attrSample)
		}
	}
	written, err := s.putChunk(ctx, c, it, compressed)
	if err != nil {
		return err
	}
	if b.Record {
		if b.Status == nil {
			if err := s.raiseLogCounters(ctx, id, c.LastSeq, b.Dropped); err != nil {
				return fmt.Errorf("put log chunk %s/%d..%d: %w", id, c.FirstSeq, c.LastSeq, err)
			}
		} else if err := s.recordBatch(ctx, c, b.Dropped, *b.Status); err != nil {
			return err
		}
	}
	if kept && !written {
		return s.putStatusSample(ctx, id, *b.Status, b.StatusExpiresAt)
	}
	return nil
}

// writeUnits is what DynamoDB bills to write an item of size bytes: one
// unit per started KB.
func writeUnits(size int) int { return (size + 1023) / 1024 }

// recordBatch updates the terminal record for a chunk and a status report
// in one conditional update, or part by part when that fails.
func (s *Store) recordBatch(ctx context.Context, c fleet.LogChunk, dropped uint64, snap fleet.Snapshot) error {
	id := c.TerminalID
	e := newExpr()
	u := setStatus(newUpdate(e), snap).setValue(attrLastSeen, attrMs(snap.SyncedAt)).
		setValue(attrLastSeq, attrU(c.LastSeq)).setValue(attrDropped, attrU(dropped))
	cond := "attribute_exists(" + e.name(attrPK) + ") AND " + notAfter(e, attrStatusAt, snap.SyncedAt) +
		" AND " + notAfter(e, attrLastSeen, snap.SyncedAt) + " AND " + atMost(e, attrLastSeq, attrU(c.LastSeq)) +
		" AND " + atMost(e, attrDropped, attrU(dropped))
	err := s.updateTerminal(ctx, id, e, u, cond)
	failed, returned := conditionFailed(err)
	if err != nil && !failed {
		return fmt.Errorf("put log chunk %s/%d..%d with status: %w", id, c.FirstSeq, c.LastSeq, storeError(err))
	}
	if !failed {
		return nil
	}
	if err := s.mustExist(ctx, id, returned); err != nil {
		return fmt.Errorf("put log chunk %s/%d..%d with status: %w", id, c.FirstSeq, c.LastSeq, err)
	}
	if err := s.raiseLogCounters(ctx, id, c.LastSeq, dropped); err != nil {
		return fmt.Errorf("put log chunk %s/%d..%d: %w", id, c.FirstSeq, c.LastSeq, err)
	}
	if err := s.raiseStatus(ctx, id, snap); err != nil {
		return fmt.Errorf("put status of %s: %w", id, err)
	}
	return nil
}

// putChunk writes it, chunk c's item (chunkItem: compressed is the size
// of its entries); see PutLogChunk. It reports whether it wrote it: on a
// failed condition a longer unexpired chunk holds these lines already. A
// chunk whose item would exceed DynamoDB's item size limit is refused
// before anything is written (chunkTooLarge).
func (s *Store) putChunk(ctx context.Context, c fleet.LogChunk, it item, compressed int) (bool, error) {
	if size := itemSize(it); size > maxItemBytes {
		return false, chunkTooLarge(c, size, compressed)
	}

	now := c.StoredAt
	if now.IsZero() {
		now = time.Now()
	}
	e := newExpr()
	cond := fmt.Sprintf("attribute_not_exists(%s) OR %s >= %s OR %s <= %s",
		e.name(attrPK), e.name(attrFirstSeq), e.value(attrU(c.FirstSeq)),
		e.name(attrExpiresAtMs), e.value(attrMs(now)))
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                 s.table,
		Item:                      it,
		ConditionExpression:       aws.String(cond),
		ExpressionAttributeNames:  e.nameMap(),
		ExpressionAttributeValues: e.values(),
	})
	failed, _ := conditionFailed(err)
	if err != nil && !failed {
		return false, fmt.Errorf("put log chunk %s/%d..%d: %w", c.TerminalID, c.FirstSeq, c.LastSeq, storeError(err))
	}
	return !failed, nil
}

// chunkTooLarge is the error for a chunk whose item would be size bytes,
// over DynamoDB's limit (which refuses such a write on every retry): it
// wraps fleet.ErrInvalid, which the service answers the terminal with the
// permanent too_large code instead of "retry later"; the agent then
// resends the batch in halves, and drops a single line that alone is too
// large.
func chunkTooLarge(c fleet.LogChunk, size, compressed int) error {
	return fmt.Errorf("put log chunk %s/%d..%d: %w: the item would be %d bytes (%d of them the %d entries, compressed; at most %d bytes of entries fit), DynamoDB's item limit is %d",
		c.TerminalID, c.FirstSeq, c.LastSeq, fleet.ErrInvalid, size, compressed, len(c.Entries), maxItemBytes-(size-compressed), maxItemBytes)
}

// chunkItem is the item of chunk c with sample (nil for none), and the
// size of its compressed entries.
func chunkItem(c fleet.LogChunk, sample *fleet.StatusSample) (item, int, error) {
	data, err := encodeEntries(c.Entries)
	if err != nil {
		return nil, 0, err
	}
	it := item(key(terminalPK(c.TerminalID), logSK(c.LastSeq)))
	it[attrFirstSeq] = attrU(c.FirstSeq)
	it[attrLastSeq] = attrU(c.LastSeq)
	it[attrEntries] = attrB(data)
	it.time(attrStoredAt, c.StoredAt)
	it.expiry(c.ExpiresAt)
	if sample != nil {
		if err := addSample(it, *sample); err != nil {
			return nil, 0, err
		}
	}
	return it, len(data), nil
}

// addSample puts smp into chunk item it, compressed (encodeSample).
func addSample(it item, smp fleet.StatusSample) error {
	z, err := encodeSample(smp)
	if err != nil {
		return err
	}
	it[attrSample] = attrB(z)
	return nil
}

// raiseLogCounters raises the terminal's LastSeq to lastSeq and Dropped to
// dropped, never lowering either. The usual case (both rise or stay) is one
// conditional update; otherwise each rises on its own.
func (s *Store) raiseLogCounters(ctx context.Context, id string, lastSeq, dropped uint64) error {
	e := newExpr()
	u := newUpdate(e).setValue(attrLastSeq, attrU(lastSeq)).setValue(attrDropped, attrU(dropped))
	cond := "attribute_exists(" + e.name(attrPK) + ") AND " + atMost(e, attrLastSeq, attrU(lastSeq)) +
		" AND " + atMost(e, attrDropped, attrU(dropped))
	err := s.updateTerminal(ctx, id, e, u, cond)
	failed, returned := conditionFailed(err)
	if err != nil && !failed {
		return fmt.Errorf("raise last seq of %s: %w", id, storeError(err))
	}
	if !failed {
		return nil
	}
	old, err := s.itemAfterFailedCondition(ctx, returned, key(terminalPK(id), skMeta))
	if err != nil {
		return fmt.Errorf("raise last seq of %s: %w", id, err)
	}
	if old == nil {
		return fmt.Errorf("terminal %s: %w", id, fleet.ErrNotFound)
	}
	r := itemReader{item: old}
	storedSeq, storedDropped := r.uint(attrLastSeq), r.uint(attrDropped)
	if r.err != nil {
		return fmt.Errorf("raise last seq of %s: decode: %w", id, r.err)
	}
	if storedSeq < lastSeq {
		e := newExpr()
		u := newUpdate(e).setValue(attrLastSeq, attrU(lastSeq))
		if _, err := s.raiseTerminal(ctx, id, e, u, atMost(e, attrLastSeq, attrU(lastSeq))); err != nil {
			return fmt.Errorf("raise last seq of %s: %w", id, err)
		}
	}
	if storedDropped < dropped {
		e := newExpr()
		u := newUpdate(e).setValue(attrDropped, attrU(dropped))
		if _, err := s.raiseTerminal(ctx, id, e, u, atMost(e, attrDropped, attrU(dropped))); err != nil {
			return fmt.Errorf("raise dropped of %s: %w", id, err)
		}
	}
	return nil
}

// ScanLogChunks calls fn with the terminal's unexpired chunks in LastSeq
// order, ascending from LastSeq >= from or descending from LastSeq <= from
// (0: the newest), paging the Query from logFirstPage up to logPageSize
// chunks at a time.
func (s *Store) ScanLogChunks(ctx context.Context, terminalID string, from uint64, desc bool, now time.Time, fn func(fleet.LogChunk) bool) error {
	if err := checkID("terminal id", terminalID); err != nil {
		return fmt.Errorf("scan log chunks: %w", err)
	}
	lo, hi := logSK(from), logSK(math.MaxUint64)
	if desc {
		lo = logSK(0)
		if from != 0 {
			hi = logSK(from)
		}
	}
	e := newExpr()
	cond := fmt.Sprintf("%s = %s AND %s BETWEEN %s AND %s",
		e.name(attrPK), e.value(attrS(terminalPK(terminalID))), e.name(attrSK), e.value(attrS(lo)), e.value(attrS(hi)))
	in := &dynamodb.QueryInput{
		TableName:                 s.table,
		KeyConditionExpression:    aws.String(cond),
		ExpressionAttributeNames:  e.nameMap(),
		ExpressionAttributeValues: e.values(),
		ScanIndexForward:          aws.Bool(!desc),
		Limit:                     aws.Int32(logFirstPage),
		ConsistentRead:            aws.Bool(true),
	}
	for {
		out, err := s.db.Query(ctx, in)
		if err != nil {
			return fmt.Errorf("scan log chunks of %s: %w", terminalID, storeError(err))
		}
		in.Limit = aws.Int32(min(2**in.Limit, logPageSize))
		for _, it := range out.Items {
			r := itemReader{item: it}
			if r.expired(now) {
				continue
			}
			c, err := decodeChunk(terminalID, r)
			if err != nil {
				return fmt.Errorf("scan log chunks of %s: %w", terminalID, err)
			}
			if !fn(c) {
				return nil
			}
		}
		if len(out.LastEvaluatedKey) == 0 {
			return nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

func decodeChunk(terminalID string, r itemReader) (fleet.LogChunk, error) {
	c := fleet.LogChunk{
		TerminalID: terminalID,
		FirstSeq:   r.uint(attrFirstSeq),
		LastSeq:    r.uint(attrLastSeq),
		StoredAt:   r.time(attrStoredAt),
		ExpiresAt:  r.expiresAt(),
	}
	data := r.bytes(attrEntries)
	sample, err := decodeChunkSample(&r)
	if r.err != nil {
		return fleet.LogChunk{}, fmt.Errorf("decode chunk %s: %w", r.str(attrSK), r.err)
	}
	if err != nil {
		return fleet.LogChunk{}, fmt.Errorf("decode chunk %s/%d..%d: %w", terminalID, c.FirstSeq, c.LastSeq, err)
	}
	entries, err := decodeEntries(data, c.FirstSeq)
	if err != nil {
		return fleet.LogChunk{}, fmt.Errorf("decode chunk %s/%d..%d: %w", terminalID, c.FirstSeq, c.LastSeq, err)
	}
	c.Entries, c.Status = entries, sample
	return c, nil
}

// decodeChunkSample reads a chunk item's status sample, nil if it has none.
func decodeChunkSample(r *itemReader) (*fleet.StatusSample, error) {
	z := r.bytes(attrSample)
	if z == nil {
		return nil, nil
	}
	smp, err := decodeSample(z)
	if err != nil {
		return nil, err
	}
	return &smp, nil
}

// ScanLogRanges calls fn with the FirstSeq and LastSeq of the terminal's
// unexpired chunks by ascending LastSeq from LastSeq >= from
// (fleet.LogRangeStore): a Query projecting the two and the expiry, so
// no line is decoded (DynamoDB bills the whole items read all the same).
func (s *Store) ScanLogRanges(ctx context.Context, terminalID string, from uint64, now time.Time, fn func(first, last uint64) bool) error {
	if err := checkID("terminal id", terminalID); err != nil {
		return fmt.Errorf("scan log ranges: %w", err)
	}
	e := newExpr()
	cond := fmt.Sprintf("%s = %s AND %s BETWEEN %s AND %s",
		e.name(attrPK), e.value(attrS(terminalPK(terminalID))), e.name(attrSK), e.value(attrS(logSK(from))), e.value(attrS(logSK(math.MaxUint64))))
	in := &dynamodb.QueryInput{
		TableName:                 s.table,
		KeyConditionExpression:    aws.String(cond),
		ProjectionExpression:      aws.String(e.names(attrFirstSeq, attrLastSeq, attrExpiresAt, attrExpiresAtMs)),
		ExpressionAttributeNames:  e.nameMap(),
		ExpressionAttributeValues: e.values(),
		Limit:                     aws.Int32(logFirstPage),
		ConsistentRead:            aws.Bool(true),
	}
	for {
		out, err := s.db.Query(ctx, in)
		if err != nil {
			return fmt.Errorf("scan log ranges of %s: %w", terminalID, storeError(err))
		}
		in.Limit = aws.Int32(logPageSize * 4)
		for _, it := range out.Items {
			r := itemReader{item: it}
			if r.expired(now) {
				continue
			}
			first, last := r.uint(attrFirstSeq), r.uint(attrLastSeq)
			if r.err != nil {
				return fmt.Errorf("scan log ranges of %s: %w", terminalID, r.err)
			}
			if !fn(first, last) {
				return nil
			}
		}
		if len(out.LastEvaluatedKey) == 0 {
			return nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// Attribute of a status sample item (sk S#<at>); its data is attrData.
const attrAt = "at"

// maxSampleMs is the latest sample time that fits the 15-digit key (the
// year 33658); maxStatusSK is its key.
const maxSampleMs = 999_999_999_999_999

var maxStatusSK = skStatusPrefix + "999999999999999"

// StatusHistory returns unexpired samples taken after since, oldest first,
// at most limit (the newest ones when there are more).
func (s *Store) StatusHistory(ctx context.Context, id string, since, now time.Time, limit int) ([]fleet.StatusSample, error) {
	if err := checkID("terminal id", id); err != nil {
		return nil, fmt.Errorf("status history: %w", err)
	}
	if limit <= 0 {
		return nil, fmt.Errorf("status history of %s: %w: limit %d, want at least 1", id, fleet.ErrInvalid, limit)
	}
	if since.UnixMilli() >= maxSampleMs {
		return nil, nil
	}
	lo := statusSK(time.UnixMilli(0))
	if !since.IsZero() && since.UnixMilli() >= 0 {
		// After since: the first whole millisecond past it.
		lo = statusSK(since.Truncate(time.Millisecond).Add(time.Millisecond))
	}
	e := newExpr()
	cond := fmt.Sprintf("%s = %s AND %s BETWEEN %s AND %s",
		e.name(attrPK), e.value(attrS(terminalPK(id))), e.name(attrSK), e.value(attrS(lo)), e.value(attrS(maxStatusSK)))
	in := &dynamodb.QueryInput{
		TableName:                 s.table,
		KeyConditionExpression:    aws.String(cond),
		ExpressionAttributeNames:  e.nameMap(),
		ExpressionAttributeValues: e.values(),
		ScanIndexForward:          aws.Bool(false), // newest first, so limit keeps the newest
		Limit:                     aws.Int32(int32(min(limit, 100))),
		ConsistentRead:            aws.Bool(true),
	}
	var newestFirst []fleet.StatusSample
	for len(newestFirst) < limit {
		out, err := s.db.Query(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("status history of %s: %w", id, storeError(err))
		}
		for _, it := range out.Items {
			r := itemReader{item: it}
			if r.expired(now) {
				continue
			}
			smp := fleet.StatusSample{At: r.time(attrAt), Data: r.json(attrData), ExpiresAt: r.expiresAt()}
			if r.err != nil {
				return nil, fmt.Errorf("status history of %s: decode %s: %w", id, r.str(attrSK), r.err)
			}
			newestFirst = append(newestFirst, smp)
			if len(newestFirst) == limit {
				break
			}
		}
		if len(out.LastEvaluatedKey) == 0 {
			break
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
	packed, err := s.chunkSamples(ctx, id, since, now, limit)
	if err != nil {
		return nil, err
	}
	samples := append(newestFirst, packed...)
	slices.SortFunc(samples, func(a, b fleet.StatusSample) int { return a.At.Compare(b.At) })
	samples = slices.CompactFunc(samples, func(a, b fleet.StatusSample) bool { return a.At.Equal(b.At) })
	if len(samples) > limit {
		samples = samples[len(samples)-limit:]
	}
	return samples, nil
}

// Bounds of the scan of chunks for their samples: chunks come by LastSeq,
// newest first, about in the order of their samples' times; the scan stops
// once a chunk was stored historySlack before since, or after
// maxHistoryChunks chunks.
const (
	historySlack     = 10 * time.Minute
	maxHistoryChunks = 6000
)

// Pages of the chunk scan: the first reads firstHistoryPage chunks, each
// next one four times as many, up to maxHistoryPage.
const (
	firstHistoryPage = 32
	maxHistoryPage   = 500
)

// chunkSamples returns the unexpired samples kept in the terminal's log
// chunks (PutLogBatch) taken after since, newest first, at most about
// limit: a Query of the chunks, newest first, projecting the sample.
func (s *Store) chunkSamples(ctx context.Context, id string, since, now time.Time, limit int) ([]fleet.StatusSample, error) {
	e := newExpr()
	cond := fmt.Sprintf("%s = %s AND %s BETWEEN %s AND %s",
		e.name(attrPK), e.value(attrS(terminalPK(id))), e.name(attrSK), e.value(attrS(logSK(0))), e.value(attrS(logSK(math.MaxUint64))))
	in := &dynamodb.QueryInput{
		TableName:                 s.table,
		KeyConditionExpression:    aws.String(cond),
		ProjectionExpression:      aws.String(e.names(attrStoredAt, attrSample)),
		ExpressionAttributeNames:  e.nameMap(),
		ExpressionAttributeValues: e.values(),
		ScanIndexForward:          aws.Bool(false),
		Limit:                     aws.Int32(int32(min(limit+8, firstHistoryPage))),
		ConsistentRead:            aws.Bool(true),
	}
	var out []fleet.StatusSample
	scanned := 0
	for {
		res, err := s.db.Query(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("status history of %s: read chunks: %w", id, storeError(err))
		}
		for _, it := range res.Items {
			scanned++
			r := itemReader{item: it}
			storedAt := r.time(attrStoredAt)
			smp, err := decodeChunkSample(&r)
			if r.err != nil {
				return nil, fmt.Errorf("status history of %s: decode chunk: %w", id, r.err)
			}
			if err != nil {
				return nil, fmt.Errorf("status history of %s: %w", id, err)
			}
			if smp != nil && smp.At.After(since) && (smp.ExpiresAt.IsZero() || now.Before(smp.ExpiresAt)) {
				out = append(out, *smp)
			}
			if (!since.IsZero() && storedAt.Before(since.Add(-historySlack))) || len(out) >= limit+8 || scanned >= maxHistoryChunks {
				return out, nil
			}
		}
		if len(res.LastEvaluatedKey) == 0 {
			return out, nil
		}
		in.ExclusiveStartKey = res.LastEvaluatedKey
		// Pages grow: DynamoDB bills a Query for every item it reads, so
		// a short window (an alert's ten minutes: about twenty chunks)
		// must not pay for a page of hundreds.
		in.Limit = aws.Int32(min(4**in.Limit, int32(min(limit+8, maxHistoryPage))))
	}
}
