package dynamo

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/edgesync/edgesync/fleet"
)

// maxBatchWrite is DynamoDB's limit of items per BatchWriteItem.
const maxBatchWrite = 25

// ImportLogChunks writes chunks as PutLogChunk stores them, without its
// conditions and without raising the terminals' LastSeq and Dropped, in
// BatchWriteItem calls of 25: for loading a benchmark's data set (the
// search benchmark's week of a fleet's logs) in a fraction of the calls.
// A chunk replaces any stored with the same LastSeq. The caller raises
// each terminal's LastSeq afterwards (PutLogChunk of its last chunk). No
// function calls it (template.yaml grants none BatchWriteItem).
func (s *Store) ImportLogChunks(ctx context.Context, chunks []fleet.LogChunk) error {
	for len(chunks) > 0 {
		n := min(len(chunks), maxBatchWrite)
		var reqs []types.WriteRequest
		for _, c := range chunks[:n] {
			if err := checkChunk(c); err != nil {
				return err
			}
			it, _, err := chunkItem(c, nil)
			if err != nil {
				return fmt.Errorf("import log chunk %s/%d: %w", c.TerminalID, c.LastSeq, err)
			}
			reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: it}})
		}
		chunks = chunks[n:]
		pending := map[string][]types.WriteRequest{*s.table: reqs}
		for attempt := 0; len(pending[*s.table]) > 0; attempt++ {
			if attempt >= maxBatchAttempts {
				return fmt.Errorf("import log chunks: %w: %d writes unprocessed after %d attempts", fleet.ErrThrottled, len(pending[*s.table]), attempt)
			}
			if attempt > 0 {
				if err := s.backoff(ctx, attempt-1); err != nil {
					return err
				}
			}
			out, err := s.db.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: pending})
			if err != nil {
				return fmt.Errorf("import log chunks: %w", storeError(err))
			}
			pending = out.UnprocessedItems
		}
	}
	return nil
}
