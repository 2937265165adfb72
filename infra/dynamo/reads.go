package dynamo

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/smithy-go"
)

// readAttempts bounds how often a read whose answer arrived cut short is sent.
const readAttempts = 3

// retryReads is the itemAPI a Store uses: it sends GetItem, Query and
// BatchGetItem again when the answer's body was cut short (the connection
// dropped mid-response: "deserialization failed, unexpected EOF"). The AWS
// SDK does not retry that, as it cannot tell whether a write applied; a
// read is safe to send again. Writes pass through unchanged.
type retryReads struct{ itemAPI }

func (r retryReads) GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	return retryRead(ctx, func() (*dynamodb.GetItemOutput, error) { return r.itemAPI.GetItem(ctx, in, opts...) })
}

func (r retryReads) Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	return retryRead(ctx, func() (*dynamodb.QueryOutput, error) { return r.itemAPI.Query(ctx, in, opts...) })
}

func (r retryReads) BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	return retryRead(ctx, func() (*dynamodb.BatchGetItemOutput, error) { return r.itemAPI.BatchGetItem(ctx, in, opts...) })
}

func retryRead[T any](ctx context.Context, read func() (T, error)) (T, error) {
	for attempt := 1; ; attempt++ {
		out, err := read()
		if err == nil || attempt == readAttempts || !cutShort(err) {
			return out, err
		}
		// Full jitter up to 20 ms, 40 ms, ...
		t := time.NewTimer(time.Duration(rand.Int64N(int64(20*time.Millisecond) << (attempt - 1))))
		select {
		case <-ctx.Done():
			t.Stop()
			return out, err
		case <-t.C:
		}
	}
}

// cutShort reports whether err is an answer whose body ended early or
// whose connection broke while it was read, rather than a refusal.
func cutShort(err error) bool {
	var de *smithy.DeserializationError
	if !errors.As(err, &de) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	if errors.Is(de, io.ErrUnexpectedEOF) || errors.Is(de, io.EOF) {
		return true
	}
	msg := de.Error()
	return strings.Contains(msg, "unexpected EOF") || strings.Contains(msg, "connection reset") ||
		strings.Contains(msg, "use of closed network connection")
}
