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

// CreateTable creates table with the layout the Store needs (see the
// package documentation), waits until it and its index are ACTIVE, and
// enables TTL on expiresAt. It is idempotent: an existing table is fine.
// dynalite has no TTL API; that one error is tolerated. It is meant for
// tests and the local stack; template.yaml declares the table on AWS.
func CreateTable(ctx context.Context, client *dynamodb.Client, table string) error {
	_, err := client.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:   aws.String(table),
		BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String(attrPK), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String(attrSK), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String(attrTPK), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String(attrTSK), AttributeType: types.ScalarAttributeTypeS},
		},
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String(attrPK), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String(attrSK), KeyType: types.KeyTypeRange},
		},
		GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{{
			IndexName: aws.String(terminalsIndex),
			KeySchema: []types.KeySchemaElement{
				{AttributeName: aws.String(attrTPK), KeyType: types.KeyTypeHash},
				{AttributeName: aws.String(attrTSK), KeyType: types.KeyTypeRange},
			},
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeKeysOnly},
		}},
	})
	var inUse *types.ResourceInUseException
	if err != nil && !errors.As(err, &inUse) {
		return fmt.Errorf("create table %s: %w", table, storeError(err))
	}
	if err := waitActive(ctx, client, table); err != nil {
		return err
	}
	return enableTTL(ctx, client, table)
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
