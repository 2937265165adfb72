package dynamo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"github.com/edgesync/edgesync/fleet"
)

// itemAPI is the part of the DynamoDB API the Store uses. *dynamodb.Client
// implements it; tests wrap it to inject partial batch answers. Each method
// is the DynamoDB operation of the same name.
type itemAPI interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error)
	BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error)
}

// Store is a fleet.Store on one DynamoDB table laid out as the package
// documentation describes. It is safe for concurrent use.
type Store struct {
	db    itemAPI
	table *string
	// batchBackoff is the first delay before retrying unprocessed batch
	// items; it doubles per attempt up to maxBatchBackoff, with full jitter.
	batchBackoff time.Duration
}

var (
	_ fleet.LogBatchStore = (*Store)(nil)
	_ fleet.LogRangeStore = (*Store)(nil)
)

// New returns a Store on table using client.
func New(client *dynamodb.Client, table string) *Store {
	return newStore(client, table)
}

func newStore(db itemAPI, table string) *Store {
	return &Store{db: retryReads{db}, table: aws.String(table), batchBackoff: 50 * time.Millisecond}
}

// Key layout; see the package documentation.
const (
	attrPK  = "pk"
	attrSK  = "sk"
	attrTPK = "tpk"
	attrTSK = "tsk"

	// terminalsIndex is the GSI listing terminal records.
	terminalsIndex = "terminals"
	// terminalsPartition is the tpk of every terminal record.
	terminalsPartition = "terminal"

	skMeta         = "META"
	skConfig       = "META#config"
	skStatusPrefix = "S#"
	skLogPrefix    = "L#"
	skCmdPrefix    = "CMD#"
)

// maxKeyPart bounds ids used in keys; DynamoDB allows 1024 bytes in a sort
// key, and terminal ids are the GSI's sort key.
const maxKeyPart = 1000

func terminalPK(id string) string   { return "T#" + id }
func connectionPK(id string) string { return "C#" + id }
func statusSK(at time.Time) string  { return fmt.Sprintf("%s%015d", skStatusPrefix, at.UnixMilli()) }
func logSK(lastSeq uint64) string   { return fmt.Sprintf("%s%020d", skLogPrefix, lastSeq) }
func commandSK(reqID string) string { return skCmdPrefix + reqID }

func key(pk, sk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrPK: attrS(pk), attrSK: attrS(sk)}
}

// checkID rejects ids that cannot be used in a key.
func checkID(what, id string) error {
	if id == "" {
		return fmt.Errorf("%w: empty %s", fleet.ErrInvalid, what)
	}
	if len(id) > maxKeyPart {
		return fmt.Errorf("%w: %s is %d bytes, the limit is %d", fleet.ErrInvalid, what, len(id), maxKeyPart)
	}
	return nil
}

// storeError marks capacity errors that outlasted the SDK's retries as
// fleet.ErrThrottled; other errors pass unchanged.
func storeError(err error) error {
	if isThrottle(err) {
		return fmt.Errorf("%w: %w", fleet.ErrThrottled, err)
	}
	return err
}

func isThrottle(err error) bool {
	var (
		pte *types.ProvisionedThroughputExceededException
		te  *types.ThrottlingException
		rle *types.RequestLimitExceeded
	)
	if errors.As(err, &pte) || errors.As(err, &te) || errors.As(err, &rle) {
		return true
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded":
			return true
		}
	}
	return false
}

// conditionFailed reports whether err is a failed condition, and returns
// the item DynamoDB sent back with it (nil when absent or not supported).
func conditionFailed(err error) (bool, map[string]types.AttributeValue) {
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return true, ccf.Item
	}
	return false, nil
}

// getItem reads one item strongly consistently; nil when absent.
func (s *Store) getItem(ctx context.Context, k map[string]types.AttributeValue, projection ...string) (map[string]types.AttributeValue, error) {
	in := &dynamodb.GetItemInput{TableName: s.table, Key: k, ConsistentRead: aws.Bool(true)}
	if len(projection) > 0 {
		e := newExpr()
		in.ProjectionExpression = aws.String(e.names(projection...))
		in.ExpressionAttributeNames = e.nameMap()
	}
	out, err := s.db.GetItem(ctx, in)
	if err != nil {
		return nil, storeError(err)
	}
	return out.Item, nil
}

// itemAfterFailedCondition returns the item whose condition just failed:
// the copy DynamoDB returned with the failure (ReturnValuesOnConditionCheckFailure
// ALL_OLD) or, where that is not supported (dynalite), a fresh read. nil
// means the item does not exist.
func (s *Store) itemAfterFailedCondition(ctx context.Context, returned, k map[string]types.AttributeValue) (map[string]types.AttributeValue, error) {
	if returned != nil {
		return returned, nil
	}
	return s.getItem(ctx, k)
}

// Retryer is the retry policy clients of the store should use: the SDK's
// standard retries with backoff and jitter, 5 attempts, and no client-side
// retry quota. The quota (a token bucket shared by every call of a client)
// protects a service from a retry storm of one process; here it turned a
// burst of throttling into immediate failures when many invocations share
// one client (the local stack, a reconnect storm), while DynamoDB's own
// adaptive capacity is what a throttle waits for.
func Retryer() aws.Retryer {
	return retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxAttempts = 5
		o.RateLimiter = ratelimit.None
	})
}
