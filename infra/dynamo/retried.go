package dynamo

import (
	"bytes"
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/edgesync/edgesync/fleet"
)

// ownCreate reports whether the terminal record that failed CreateTerminal's
// "not exists" condition is t itself: the AWS SDK retries a PutItem whose
// answer was lost (HTTP 500, a timeout), and the retry then finds the item
// its first attempt wrote. Credential ids and hashes are random per
// terminal created, so a record holding exactly t's credentials and
// creation time was written by this call. old is the item the failed
// condition returned, if any.
func (s *Store) ownCreate(ctx context.Context, t fleet.Terminal, old map[string]types.AttributeValue) (bool, error) {
	it, err := s.itemAfterFailedCondition(ctx, old, key(terminalPK(t.ID), skMeta))
	if err != nil || it == nil {
		return false, err
	}
	stored, err := decodeTerminal(it, nil)
	if err != nil {
		return false, fmt.Errorf("read the existing record: %w", err)
	}
	if len(t.Credentials) == 0 || len(stored.Credentials) != len(t.Credentials) ||
		stored.CreatedAt.UnixMilli() != t.CreatedAt.UnixMilli() || stored.Name != t.Name {
		return false, nil
	}
	for i, c := range t.Credentials {
		sc := stored.Credentials[i]
		if sc.ID != c.ID || !bytes.Equal(sc.Hash, c.Hash) {
			return false, nil
		}
	}
	return true, nil
}
