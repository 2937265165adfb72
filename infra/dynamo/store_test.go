package dynamo

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/edgesync/edgesync/fleet"
	"github.com/edgesync/edgesync/fleet/storetest"
	"github.com/edgesync/edgesync/internal/dynalite"
)

// One dynalite serves the whole package (see internal/dynalite), with one
// shared table created in TestMain; tests that need a table of their own
// create it on the same server.
var (
	endpoint string
	client   *dynamodb.Client
)

const sharedTable = "edgesync"

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	srv, err := dynalite.Start(context.Background())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer srv.Close()
	endpoint = srv.Endpoint()
	client = dynalite.NewClient(endpoint)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := CreateTable(ctx, client, sharedTable); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// TestStore runs the fleet.Store contract suite against one shared table,
// so the suite's subtests also show that terminals never see one another.
func TestStore(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) fleet.Store { return New(client, sharedTable) })
}

// TestStoreWithReturnedItems runs the suite again as DynamoDB behaves and
// dynalite does not: a failed condition returns the old item
// (ReturnValuesOnConditionCheckFailure ALL_OLD), so the Store's path that
// uses it instead of a fresh read is covered too.
func TestStoreWithReturnedItems(t *testing.T) {
	t.Parallel()
	db := &returnOldOnConditionFailure{itemAPI: client}
	// Cleanup runs once the suite's parallel subtests have finished.
	t.Cleanup(func() {
		if db.returned.Load() == 0 {
			t.Error("no failed condition returned an item; the test covers nothing")
		}
	})
	storetest.Run(t, func(t *testing.T) fleet.Store { return newStore(db, sharedTable) })
}

// returnOldOnConditionFailure adds the old item to a ConditionalCheckFailed
// answer of UpdateItem when the request asks for it, as DynamoDB does.
type returnOldOnConditionFailure struct {
	itemAPI
	returned atomic.Int32
}

func (r *returnOldOnConditionFailure) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	out, err := r.itemAPI.UpdateItem(ctx, in, opts...)
	var ccf *types.ConditionalCheckFailedException
	if !errors.As(err, &ccf) || in.ReturnValuesOnConditionCheckFailure != types.ReturnValuesOnConditionCheckFailureAllOld {
		return out, err
	}
	old, getErr := r.itemAPI.GetItem(ctx, &dynamodb.GetItemInput{TableName: in.TableName, Key: in.Key, ConsistentRead: aws.Bool(true)})
	if getErr != nil {
		return nil, getErr
	}
	if old.Item != nil {
		ccf.Item = old.Item
		r.returned.Add(1)
	}
	return out, err
}
