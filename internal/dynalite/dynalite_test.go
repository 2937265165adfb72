package dynalite_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/edgesync/edgesync/internal/dynalite"
)

// endpoint is the package's shared server, started in TestMain: the pattern
// the package documents.
var endpoint string

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	srv, err := dynalite.Start(context.Background())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer srv.Close()
	endpoint = srv.Endpoint()
	return m.Run()
}

func TestClientTalksToSharedServer(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	client := dynalite.Client(t, endpoint)
	table := "client_test_" + strconv.FormatInt(time.Now().UnixNano(), 36) // unique under -count
	_, err := client.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String(table),
		BillingMode:          types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}},
	})
	if err != nil {
		t.Fatalf("CreateTable: %v", err)
	}
	// --createTableMs 0: the table turns ACTIVE on the next tick.
	for {
		desc, err := client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
		if err != nil {
			t.Fatalf("DescribeTable: %v", err)
		}
		if desc.Table.TableStatus == types.TableStatusActive {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	item := map[string]types.AttributeValue{
		"pk": &types.AttributeValueMemberS{Value: "a"},
		"n":  &types.AttributeValueMemberN{Value: "42"},
	}
	if _, err := client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: item}); err != nil {
		t.Fatalf("PutItem: %v", err)
	}
	got, err := client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(table),
		Key:       map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "a"}},
	})
	if err != nil {
		t.Fatalf("GetItem: %v", err)
	}
	n, ok := got.Item["n"].(*types.AttributeValueMemberN)
	if !ok || n.Value != "42" {
		t.Errorf("item n = %#v, want N 42", got.Item["n"])
	}
}

func TestForTestStartsAndCloseKills(t *testing.T) {
	t.Parallel()
	var srv *dynalite.Server
	t.Run("own server", func(t *testing.T) {
		srv = dynalite.ForTest(t)
		if srv.Endpoint() == endpoint {
			t.Fatalf("ForTest endpoint = shared endpoint %s, want a server of its own", endpoint)
		}
		if _, err := dynalite.Client(t, srv.Endpoint()).ListTables(t.Context(), &dynamodb.ListTablesInput{}); err != nil {
			t.Fatalf("ListTables on own server: %v", err)
		}
	})
	// The subtest's cleanup closed the server: it no longer answers.
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	client := dynalite.Client(t, srv.Endpoint())
	_, err := client.ListTables(ctx, &dynamodb.ListTablesInput{}, func(o *dynamodb.Options) { o.RetryMaxAttempts = 1 })
	if err == nil {
		t.Errorf("ListTables after Close succeeded, want a connection error")
	} else if !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("ListTables after Close: %v, want connection refused", err)
	}
	srv.Close() // idempotent
}

func TestStartReportsBadBinary(t *testing.T) {
	tests := []struct {
		name    string
		binary  string
		wantErr string
	}{
		{name: "missing file", binary: "/nonexistent/dynalite", wantErr: "npm ci --prefix tools"},
		{name: "exits at once", binary: "/bin/false", wantErr: "dynalite exited before answering"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(dynalite.EnvBinary, tt.binary)
			srv, err := dynalite.Start(t.Context())
			if err == nil {
				srv.Close()
				t.Fatalf("Start with %s succeeded, want error containing %q", tt.binary, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Start error = %q, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}
