package moto_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/edgesync/edgesync/internal/moto"
)

// endpoint is the package's shared server, started in TestMain.
var endpoint string

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	srv, err := moto.Start(context.Background())
	if err != nil {
		return moto.MainStartFailed(err)
	}
	defer srv.Close()
	endpoint = srv.Endpoint()
	return m.Run()
}

// TestClientTalksToSharedServer creates a table, writes and reads an item,
// and checks that moto answers a failed condition with the old item
// (ReturnValuesOnConditionCheckFailure), the behaviour it is here for.
func TestClientTalksToSharedServer(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	client := moto.Client(t, endpoint)
	table := "client_test"
	_, err := client.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String(table),
		BillingMode:          types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}},
	})
	if err != nil {
		t.Fatalf("CreateTable: %v", err)
	}
	item := map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: "a"},
		"n":  &types.AttributeValueMemberN{Value: "42"},
	}
	if _, err := client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: item}); err != nil {
		t.Fatalf("PutItem: %v", err)
	}
	_, err = client.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                           aws.String(table),
		Item:                                map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "a"}},
		ConditionExpression:                 aws.String("attribute_not_exists(pk)"),
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	var ccf *types.ConditionalCheckFailedException
	if !errors.As(err, &ccf) {
		t.Fatalf("conditional PutItem on an existing item: %v, want ConditionalCheckFailedException", err)
	}
	if n, ok := ccf.Item["n"].(*types.AttributeValueMemberN); !ok || n.Value != "42" {
		t.Errorf("old item returned with the failed condition: %#v, want n = N 42", ccf.Item)
	}
}

func TestForTestStartsAndCloseKills(t *testing.T) {
	t.Parallel()
	var srv *moto.Server
	t.Run("own server", func(t *testing.T) {
		srv = moto.ForTest(t)
		if srv.Endpoint() == endpoint {
			t.Fatalf("ForTest endpoint = shared endpoint %s, want a server of its own", endpoint)
		}
		if _, err := moto.Client(t, srv.Endpoint()).ListTables(t.Context(), &dynamodb.ListTablesInput{}); err != nil {
			t.Fatalf("ListTables on own server: %v", err)
		}
	})
	// The subtest's cleanup closed the server: it no longer answers.
	client := moto.Client(t, srv.Endpoint())
	_, err := client.ListTables(t.Context(), &dynamodb.ListTablesInput{}, func(o *dynamodb.Options) { o.RetryMaxAttempts = 1 })
	if err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("ListTables after Close: %v, want connection refused", err)
	}
	srv.Close() // idempotent
}

func TestStartReportsBadBinary(t *testing.T) {
	tests := []struct {
		name         string
		binary       string
		wantErr      string
		wantNotFound bool
	}{
		{name: "missing file", binary: "/nonexistent/moto_server", wantErr: "make tools", wantNotFound: true},
		{name: "exits at once", binary: "/bin/false", wantErr: "moto exited before answering"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(moto.EnvBinary, tt.binary)
			srv, err := moto.Start(t.Context())
			if err == nil {
				srv.Close()
				t.Fatalf("Start with %s succeeded, want error containing %q", tt.binary, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Start error = %q, want it to contain %q", err, tt.wantErr)
			}
			if got := errors.Is(err, moto.ErrNotInstalled); got != tt.wantNotFound {
				t.Errorf("errors.Is(%v, ErrNotInstalled) = %v, want %v (only a missing binary skips a test)", err, got, tt.wantNotFound)
			}
		})
	}
}
