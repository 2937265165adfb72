package dynamo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
)

// tablePollInterval is how often CreateTable checks whether the table is ACTIVE.
const tablePollInterval = 100 * time.Millisecond

// attributeDefinitions declares the key attributes of the table and its indexes.
func attributeDefinitions() []types.AttributeDefinition {
	var defs []types.AttributeDefinition
	for _, a := range []string{attrPK, attrSK, attrTPK, attrTSK, attrAPK, attrASK} {
		defs = append(defs, types.AttributeDefinition{AttributeName: aws.String(a), AttributeType: types.ScalarAttributeTypeS})
	}
	return defs
}

// globalIndexes are the table's GSIs: "terminals" (KEYS_ONLY, only terminal
// records carry tpk/tsk) and "audit" (ALL, only audit records carry
// apk/ask).
func globalIndexes() []types.GlobalSecondaryIndex {
	index := func(name, hash, rng string, projection types.ProjectionType) types.GlobalSecondaryIndex {
		return types.GlobalSecondaryIndex{
			IndexName: aws.String(name),
			KeySchema: []types.KeySchemaElement{
				{AttributeName: aws.String(hash), KeyType: types.KeyTypeHash},
				{AttributeName: aws.String(rng), KeyType: types.KeyTypeRange},
			},
			Projection: &types.Projection{ProjectionType: projection},
		}
	}
	return []types.GlobalSecondaryIndex{
		index(terminalsIndex, attrTPK, attrTSK, types.ProjectionTypeKeysOnly),
		index(auditIndex, attrAPK, attrASK, types.ProjectionTypeAll),
	}
}

// CreateTable creates table with the layout the Store needs (see the
// package documentation), waits until it and its indexes are ACTIVE, and
// enables TTL on expiresAt. It is idempotent: an existing table is fine,
// and one created by an earlier version without an index the Store now
// needs gets it (UpdateTable; DynamoDB backfills it before it is ACTIVE).
// dynalite has no TTL API; that one error is tolerated. It is meant for
// tests and the local stack; template.yaml declares the table on AWS.
func CreateTable(ctx context.Context, client *dynamodb.Client, table string) error {
	_, err := client.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String(table),
		BillingMode:          types.BillingModePayPerRequest,
		AttributeDefinitions: attributeDefinitions(),
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String(attrPK), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String(attrSK), KeyType: types.KeyTypeRange},
		},
		GlobalSecondaryIndexes: globalIndexes(),
	})
	var inUse *types.ResourceInUseException
	if err != nil && !errors.As(err, &inUse) {
		return fmt.Errorf("create table %s: %w", table, storeError(err))
	}
	if err := waitActive(ctx, client, table); err != nil {
		return err
	}
	if err := addMissingIndexes(ctx, client, table); err != nil {
		return err
	}
	return enableTTL(ctx, client, table)
}

// addMissingIndexes creates, one at a time as DynamoDB requires, the
// indexes an existing table lacks, and waits for each to become ACTIVE.
func addMissingIndexes(ctx context.Context, client *dynamodb.Client, table string) error {
	for _, gsi := range globalIndexes() {
		has, err := hasIndex(ctx, client, table, *gsi.IndexName)
		if err != nil {
			return err
		}
		if has {
			continue
		}
		_, err = client.UpdateTable(ctx, &dynamodb.UpdateTableInput{
			TableName:            aws.String(table),
			AttributeDefinitions: attributeDefinitions(),
			GlobalSecondaryIndexUpdates: []types.GlobalSecondaryIndexUpdate{{Create: &types.CreateGlobalSecondaryIndexAction{
				IndexName: gsi.IndexName, KeySchema: gsi.KeySchema, Projection: gsi.Projection,
			}}},
		})
		if err != nil {
			return fmt.Errorf("add index %s to table %s: %w", *gsi.IndexName, table, storeError(err))
		}
		if err := waitActive(ctx, client, table); err != nil {
			return err
		}
		if has, err := hasIndex(ctx, client, table, *gsi.IndexName); err != nil || !has {
			return errors.Join(err, fmt.Errorf("add index %s to table %s: the server accepted UpdateTable but did not add it (dynalite cannot add indexes: delete the table to have it created anew)", *gsi.IndexName, table))
		}
	}
	return nil
}

// hasIndex reports whether table has the global secondary index name.
func hasIndex(ctx context.Context, client *dynamodb.Client, table, name string) (bool, error) {
	out, err := client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
	if err != nil {
		return false, fmt.Errorf("describe table %s: %w", table, storeError(err))
	}
	for _, gsi := range out.Table.GlobalSecondaryIndexes {
		if aws.ToString(gsi.IndexName) == name {
			return true, nil
		}
	}
	return false, nil
}

// waitActive polls DescribeTable until the table and its indexes are ACTIVE.
func waitActive(ctx context.Context, client *dynamodb.Client, table string) error {
	for {
		out, err := client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
		if err != nil {
			return fmt.Errorf("wait for table %s: %w", table, storeError(err))
		}
		if active(out.Table) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for table %s to become ACTIVE (now %s): %w", table, out.Table.TableStatus, context.Cause(ctx))
		case <-time.After(tablePollInterval):
		}
	}
}

func active(t *types.TableDescription) bool {
	if t == nil || t.TableStatus != types.TableStatusActive {
		return false
	}
	for _, gsi := range t.GlobalSecondaryIndexes {
		if gsi.IndexStatus != types.IndexStatusActive {
			return false
		}
	}
	return true
}

// enableTTL turns on TTL deletion on expiresAt unless it is on already.
func enableTTL(ctx context.Context, client *dynamodb.Client, table string) error {
	desc, err := client.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(table)})
	if err == nil && desc.TimeToLiveDescription != nil {
		switch desc.TimeToLiveDescription.TimeToLiveStatus {
		case types.TimeToLiveStatusEnabled, types.TimeToLiveStatusEnabling:
			return nil
		}
	}
	_, err = client.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
		TableName: aws.String(table),
		TimeToLiveSpecification: &types.TimeToLiveSpecification{
			AttributeName: aws.String(attrExpiresAt),
			Enabled:       aws.Bool(true),
		},
	})
	var api smithy.APIError
	if errors.As(err, &api) && api.ErrorCode() == "UnknownOperationException" {
		return nil // dynalite: no TTL support, and it never deletes anything anyway
	}
	if err != nil {
		return fmt.Errorf("enable TTL on %s.%s: %w", table, attrExpiresAt, storeError(err))
	}
	return nil
}
