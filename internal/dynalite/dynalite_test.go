package dynalite_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/edgesync/edgesync/internal/dynalite"
	"github.com/edgesync/edgesync/internal/poll"
	"github.com/edgesync/edgesync/internal/testenv"
)

// endpoint is the package's shared server, started in TestMain: the pattern
// the package documents.
var endpoint string

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	srv, err := dynalite.Start(context.Background())
	if err != nil {
		return dynalite.MainStartFailed(err)
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
	poll.Until(t, "table ACTIVE", func() bool {
		desc, err := client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
		if err != nil {
			t.Fatalf("DescribeTable: %v", err)
		}
		return desc.Table.TableStatus == types.TableStatusActive
	})
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
		name             string
		binary           string
		noNode           bool // PATH holds no node
		wantErr          string
		wantNotInstalled bool
	}{
		{name: "missing file", binary: "/nonexistent/dynalite", wantErr: "make tools", wantNotInstalled: true},
		{name: "no node to run it", binary: "/bin/false", noNode: true, wantErr: "no node on PATH", wantNotInstalled: true},
		{name: "exits at once", binary: "/bin/false", wantErr: "dynalite exited before answering"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(dynalite.EnvBinary, tt.binary)
			if tt.noNode {
				t.Setenv("PATH", t.TempDir())
			}
			srv, err := dynalite.Start(t.Context())
			if err == nil {
				srv.Close()
				t.Fatalf("Start with %s succeeded, want error containing %q", tt.binary, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Start error = %q, want it to contain %q", err, tt.wantErr)
			}
			if got := errors.Is(err, dynalite.ErrNotInstalled); got != tt.wantNotInstalled {
				t.Errorf("errors.Is(%q, ErrNotInstalled) = %v, want %v", err, got, tt.wantNotInstalled)
			}
		})
	}
}

// TestForTestSkipsWithoutDynalite: with no dynalite and no
// EDGESYNC_REQUIRE_TOOLS, ForTest skips the test instead of failing it.
func TestForTestSkipsWithoutDynalite(t *testing.T) {
	t.Setenv(dynalite.EnvBinary, "/nonexistent/dynalite")
	t.Setenv(testenv.RequireVar, "")
	var sub *testing.T
	t.Run("needs dynalite", func(t *testing.T) {
		sub = t
		dynalite.ForTest(t)
		t.Error("ForTest returned without a dynalite")
	})
	if !sub.Skipped() || sub.Failed() {
		t.Errorf("subtest skipped %v, failed %v; want skipped, not failed", sub.Skipped(), sub.Failed())
	}
}

// TestMainWithoutDynalite runs this package's test binary again with no
// dynalite: its TestMain (the pattern doc.go documents) skips the package,
// or fails it under EDGESYNC_REQUIRE_TOOLS=1.
func TestMainWithoutDynalite(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		require  string
		wantCode int
		wantOut  string
	}{
		{name: "skips", require: "", wantCode: 0, wantOut: "SKIP: dynalite not available, the tests of this package are skipped (install: make tools"},
		{name: "fails when required", require: "1", wantCode: 1, wantOut: "dynalite is needed and EDGESYNC_REQUIRE_TOOLS=1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), dynalite.EnvBinary+"=/nonexistent/dynalite", testenv.RequireVar+"="+tt.require)
			out, err := cmd.CombinedOutput()
			code := 0
			var exit *exec.ExitError
			if errors.As(err, &exit) {
				code = exit.ExitCode()
			} else if err != nil {
				t.Fatalf("run %s: %v", os.Args[0], err)
			}
			if code != tt.wantCode || !strings.Contains(string(out), tt.wantOut) {
				t.Errorf("exit code %d, output:\n%s\nwant exit code %d and output containing %q", code, out, tt.wantCode, tt.wantOut)
			}
		})
	}
}
