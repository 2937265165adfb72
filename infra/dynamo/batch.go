package dynamo

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/edgesync/edgesync/fleet"
)

// maxBatchGet is DynamoDB's limit of keys per BatchGetItem.
const maxBatchGet = 100

// Unprocessed batch keys are retried this many times, waiting up to
// maxBatchBackoff between tries, before the batch fails as throttled.
const (
	maxBatchAttempts = 8
	maxBatchBackoff  = 2 * time.Second
)

// batchGet reads keys in batches of 100, strongly consistently (as every
// read of the base table; BatchGetItem reads eventually consistently unless
// asked), retrying unprocessed keys. Items come back in no particular
// order; absent items are simply missing.
func (s *Store) batchGet(ctx context.Context, keys []map[string]types.AttributeValue) ([]map[string]types.AttributeValue, error) {
	var items []map[string]types.AttributeValue
	request := func(keys []map[string]types.AttributeValue) map[string]types.KeysAndAttributes {
		return map[string]types.KeysAndAttributes{*s.table: {Keys: keys, ConsistentRead: aws.Bool(true)}}
	}
	for len(keys) > 0 {
		n := min(len(keys), maxBatchGet)
		pending := request(keys[:n])
		keys = keys[n:]
		for attempt := 0; ; attempt++ {
			out, err := s.db.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: pending})
			if err != nil {
				return nil, storeError(err)
			}
			items = append(items, out.Responses[*s.table]...)
			left := len(out.UnprocessedKeys[*s.table].Keys)
			if left == 0 {
				break
			}
			if attempt+1 >= maxBatchAttempts {
				return nil, fmt.Errorf("%w: %d batch reads still unprocessed after %d attempts", fleet.ErrThrottled, left, maxBatchAttempts)
			}
			slog.DebugContext(ctx, "dynamo: retrying unprocessed batch reads", "table", *s.table, "keys", left, "attempt", attempt+1)
			if err := s.backoff(ctx, attempt); err != nil {
				return nil, err
			}
			pending = request(out.UnprocessedKeys[*s.table].Keys)
		}
	}
	return items, nil
}

// backoff sleeps a random duration up to batchBackoff·2^attempt (capped at
// maxBatchBackoff), or until ctx ends.
func (s *Store) backoff(ctx context.Context, attempt int) error {
	ceiling := min(s.batchBackoff<<min(attempt, 16), maxBatchBackoff)
	d := time.Duration(rand.Int64N(int64(ceiling) + 1))
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-t.C:
		return nil
	}
}
