package dynamo

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
)

// emulator is a DynamoDB wire server the package tests against.
type emulator struct {
	name   string
	client func(t *testing.T) *dynamodb.Client
}

func emulators() []emulator {
	return []emulator{
		{"dynalite", func(*testing.T) *dynamodb.Client { return client }},
		{"moto", motoFor},
	}
}

// awsBehaviour is one behaviour of DynamoDB the Store relies on, as the
// AWS documentation states it (doc), checked on each emulator: check
// returns nil when the server behaves as documented, else what it did.
// deviates names the emulators known to deviate, and how; on those the
// check must fail (so the list stays true), elsewhere it must pass.
type awsBehaviour struct {
	name     string
	doc      string
	check    func(ctx context.Context, db *dynamodb.Client, ids func(string) string) error
	deviates map[string]string
}

// TestEmulatorsAgainstAWSDocumentation checks dynalite and moto against
// what the AWS documentation says DynamoDB does, for each behaviour the
// Store relies on. Where an emulator deviates, the AWS documentation
// decides: the Store is written for it, and the deviation is stated here
// and in the package documentation.
func TestEmulatorsAgainstAWSDocumentation(t *testing.T) {
	t.Parallel()
	behaviours := []awsBehaviour{
		{
			name: "a failed condition returns the old item when asked",
			doc:  "API_PutItem/API_UpdateItem: ReturnValuesOnConditionCheckFailure ALL_OLD returns the item attributes if the condition fails (ConditionalCheckFailedException.Item)",
			check: func(ctx context.Context, db *dynamodb.Client, ids func(string) string) error {
				k := key(ids("rv"), skMeta)
				if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(sharedTable), Item: item(key(ids("rv"), skMeta)).with("v", attrN(1))}); err != nil {
					return err
				}
				_, err := db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
					TableName: aws.String(sharedTable), Key: k,
					UpdateExpression:                    aws.String("SET v = :two"),
					ConditionExpression:                 aws.String("v = :two"),
					ExpressionAttributeValues:           map[string]types.AttributeValue{":two": attrN(2)},
					ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
				})
				var ccf *types.ConditionalCheckFailedException
				if !errors.As(err, &ccf) {
					return fmt.Errorf("UpdateItem: %v, want ConditionalCheckFailedException", err)
				}
				if ccf.Item == nil {
					return errors.New("the failure carries no item")
				}
				return nil
			},
			deviates: map[string]string{"dynalite": "ignores ReturnValuesOnConditionCheckFailure: the failure never carries the item (the Store then reads it)"},
		},
		{
			name: "an item of exactly 400 KB is accepted",
			doc:  "ServiceQuotas/Constraints: the maximum item size is 400 KB (1 KB = 1024 bytes), attribute names and values included (CapacityUnitCalculations: a string counts its UTF-8 bytes)",
			check: func(ctx context.Context, db *dynamodb.Client, ids func(string) string) error {
				_, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(sharedTable), Item: sizedItem(ids("at-limit"), maxItemBytes, "x")})
				return err
			},
			deviates: map[string]string{"moto": "refuses items over 405,000 bytes (ValidationException), 4,600 bytes below DynamoDB's limit"},
		},
		{
			name: "an item of 400 KB and one byte is refused",
			doc:  "Constraints: an item over 400 KB is refused with ValidationException (\"Item size has exceeded the maximum allowed size\")",
			check: func(ctx context.Context, db *dynamodb.Client, ids func(string) string) error {
				_, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(sharedTable), Item: sizedItem(ids("over-limit"), maxItemBytes+1, "x")})
				return wantValidation(err)
			},
		},
		{
			name: "strings count their UTF-8 bytes",
			doc:  "CapacityUnitCalculations: the size of a string is the number of its UTF-8-encoded bytes; an item of 400 KB and one byte of 2-byte characters is refused",
			check: func(ctx context.Context, db *dynamodb.Client, ids func(string) string) error {
				_, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(sharedTable), Item: sizedItem(ids("utf8"), maxItemBytes+1, "é")})
				return wantValidation(err)
			},
			deviates: map[string]string{"dynalite": "counts strings (and names) in UTF-16 code units, so it accepts items of non-ASCII text up to 2 (3-byte characters: 3) times DynamoDB's limit"},
		},
		{
			name: "binary values count their raw bytes",
			doc:  "CapacityUnitCalculations: a binary value is sent base64-encoded, but its raw byte length is what counts; 300 KB of raw bytes (400 KB of base64) fit",
			check: func(ctx context.Context, db *dynamodb.Client, ids func(string) string) error {
				it := item(key(ids("binary"), "META")).with("b", attrB(make([]byte, 300*1024)))
				_, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(sharedTable), Item: it})
				return err
			},
		},
		{
			name: "a global secondary index cannot be read consistently",
			doc:  "API_Query: strongly consistent reads are not supported on global secondary indexes; ConsistentRead true on one is a ValidationException",
			check: func(ctx context.Context, db *dynamodb.Client, ids func(string) string) error {
				_, err := db.Query(ctx, &dynamodb.QueryInput{
					TableName: aws.String(sharedTable), IndexName: aws.String(terminalsIndex),
					KeyConditionExpression:    aws.String("tpk = :p"),
					ExpressionAttributeValues: map[string]types.AttributeValue{":p": attrS(terminalsPartition)},
					ConsistentRead:            aws.Bool(true), Limit: aws.Int32(1),
				})
				return wantValidation(err)
			},
		},
		{
			name: "BatchGetItem takes at most 100 keys",
			doc:  "API_BatchGetItem: more than 100 items is a ValidationException (\"Too many items requested for the BatchGetItem call\")",
			check: func(ctx context.Context, db *dynamodb.Client, ids func(string) string) error {
				keys := make([]map[string]types.AttributeValue, 101)
				for i := range keys {
					keys[i] = key(ids(fmt.Sprint("k", i)), "META")
				}
				_, err := db.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: map[string]types.KeysAndAttributes{sharedTable: {Keys: keys}}})
				return wantValidation(err)
			},
		},
		{
			name: "a Query page stops at 1 MB",
			doc:  "API_Query: a page holds at most 1 MB of data; LastEvaluatedKey then continues it (the Store pages every Query)",
			check: func(ctx context.Context, db *dynamodb.Client, ids func(string) string) error {
				pk := ids("mb")
				for i := range 12 {
					it := item(key(pk, fmt.Sprintf("S#%02d", i))).with("b", attrB(make([]byte, 100*1024)))
					if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(sharedTable), Item: it}); err != nil {
						return err
					}
				}
				out, err := db.Query(ctx, &dynamodb.QueryInput{
					TableName:                 aws.String(sharedTable),
					KeyConditionExpression:    aws.String("pk = :p"),
					ExpressionAttributeValues: map[string]types.AttributeValue{":p": attrS(pk)},
					ConsistentRead:            aws.Bool(true),
				})
				if err != nil {
					return err
				}
				if len(out.Items) >= 12 || out.LastEvaluatedKey == nil {
					return fmt.Errorf("one page returned %d items of 100 KB (LastEvaluatedKey %v)", len(out.Items), out.LastEvaluatedKey != nil)
				}
				return nil
			},
		},
		{
			name: "TTL can be enabled",
			doc:  "API_UpdateTimeToLive: enables TTL on an attribute; CreateTable turned it on for expiresAt, so DescribeTimeToLive says ENABLED",
			check: func(ctx context.Context, db *dynamodb.Client, ids func(string) string) error {
				out, err := db.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(sharedTable)})
				if err != nil {
					return err
				}
				d := out.TimeToLiveDescription
				if d == nil || d.TimeToLiveStatus != types.TimeToLiveStatusEnabled || aws.ToString(d.AttributeName) != attrExpiresAt {
					return fmt.Errorf("TTL description %+v, want ENABLED on %s", d, attrExpiresAt)
				}
				return nil
			},
			deviates: map[string]string{"dynalite": "answers DescribeTimeToLive (DISABLED) but has no UpdateTimeToLive (UnknownOperationException), and never deletes expired items; CreateTable tolerates it, and every read filters expired items itself"},
		},
		{
			name: "UpdateTable adds a global secondary index",
			doc:  "API_UpdateTable: GlobalSecondaryIndexUpdates Create adds an index to an existing table (CreateTable adds one an older table lacks)",
			check: func(ctx context.Context, db *dynamodb.Client, ids func(string) string) error {
				table := strings.ReplaceAll(ids("gsi"), ":", "-")
				_, err := db.CreateTable(ctx, &dynamodb.CreateTableInput{
					TableName: aws.String(table), BillingMode: types.BillingModePayPerRequest,
					AttributeDefinitions: attributeDefinitions()[:2],
					KeySchema: []types.KeySchemaElement{
						{AttributeName: aws.String(attrPK), KeyType: types.KeyTypeHash},
						{AttributeName: aws.String(attrSK), KeyType: types.KeyTypeRange},
					},
				})
				if err != nil {
					return err
				}
				if err := waitActive(ctx, db, table); err != nil {
					return err
				}
				gsi := globalIndexes()[0]
				_, err = db.UpdateTable(ctx, &dynamodb.UpdateTableInput{
					TableName: aws.String(table), AttributeDefinitions: attributeDefinitions(),
					GlobalSecondaryIndexUpdates: []types.GlobalSecondaryIndexUpdate{{Create: &types.CreateGlobalSecondaryIndexAction{
						IndexName: gsi.IndexName, KeySchema: gsi.KeySchema, Projection: gsi.Projection,
					}}},
				})
				if err != nil {
					return err
				}
				if has, err := hasIndex(ctx, db, table, *gsi.IndexName); err != nil || !has {
					return errors.Join(err, errors.New("UpdateTable succeeded but the table has no such index"))
				}
				return nil
			},
			deviates: map[string]string{"dynalite": "refuses to add an index to an on-demand table (it asks for the index's ProvisionedThroughput, which an on-demand table does not take): a table must be created with its indexes"},
		},
		{
			name: "transactions",
			doc:  "API_TransactWriteItems: up to 100 writes applied all or none (the Store uses none, as dynalite has none)",
			check: func(ctx context.Context, db *dynamodb.Client, ids func(string) string) error {
				_, err := db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
					{Put: &types.Put{TableName: aws.String(sharedTable), Item: item(key(ids("tx"), "META"))}},
				}})
				return err
			},
			deviates: map[string]string{"dynalite": "has no transactions (UnknownOperationException)"},
		},
	}
	for _, em := range emulators() {
		t.Run(em.name, func(t *testing.T) {
			t.Parallel()
			db := em.client(t)
			for _, b := range behaviours {
				t.Run(b.name, func(t *testing.T) {
					err := b.check(t.Context(), db, testIDs(t))
					how, deviates := b.deviates[em.name]
					switch {
					case deviates && err == nil:
						t.Errorf("%s now behaves as AWS documents (%s); remove the deviation %q here and in doc.go", em.name, b.doc, how)
					case deviates:
						t.Logf("%s deviates from AWS (%s): %s; it did: %v", em.name, b.doc, how, err)
					case err != nil:
						t.Errorf("%s deviates from AWS (%s): %v", em.name, b.doc, err)
					}
				})
			}
		})
	}
}

// wantValidation returns nil for a ValidationException, else what err was.
func wantValidation(err error) error {
	var api smithy.APIError
	if errors.As(err, &api) && api.ErrorCode() == "ValidationException" {
		return nil
	}
	if err == nil {
		return errors.New("accepted")
	}
	return fmt.Errorf("%w, want ValidationException", err)
}

// sizedItem returns an item under key (pk, "META") whose size, as AWS
// counts it, is exactly size bytes: the key and a string attribute "s" of
// the character fill (1 or 2 bytes in UTF-8) repeated, topped up with
// ASCII.
func sizedItem(pk string, size int, fill string) map[string]types.AttributeValue {
	it := item(key(pk, skMeta))
	room := size - itemSize(it) - len("s")
	s := strings.Repeat(fill, room/len(fill)) + strings.Repeat("x", room%len(fill))
	return it.with("s", attrS(s))
}

// with sets attribute name to v and returns the item.
func (it item) with(name string, v types.AttributeValue) item {
	it[name] = v
	return it
}
