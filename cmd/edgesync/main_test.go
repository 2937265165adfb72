package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/edgesync/edgesync/fleet"
	"github.com/edgesync/edgesync/infra/dynamo"
	"github.com/edgesync/edgesync/internal/dynalite"
)

func TestTerminalsCLI(t *testing.T) {
	store := filepath.Join(t.TempDir(), "db", "edgesync.db")
	cli := func(args ...string) (string, error) {
		var out, errOut bytes.Buffer
		err := run(context.Background(), append([]string{"-store", store}, args...), &out, &errOut)
		return out.String() + errOut.String(), err
	}
	out, err := cli("terminals", "create", "press-07", "-name", "Press 7", "-group", "hall-a")
	if err != nil {
		t.Fatalf("create: %v\n%s", err, out)
	}
	if !regexp.MustCompile(`token .*: est_[A-Za-z0-9_-]{43}\n`).MatchString(out) {
		t.Errorf("create output: got %q, want the token", out)
	}
	if _, err := cli("terminals", "create", "press-07"); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("create twice: got %v, want already exists", err)
	}
	if out, err := cli("terminals", "rotate", "press-07", "-overlap", "1h"); err != nil || !strings.Contains(out, "new token") {
		t.Errorf("rotate: %v %q", err, out)
	}
	out, err = cli("terminals", "list")
	if err != nil || !strings.Contains(out, "press-07") || !strings.Contains(out, "Press 7") || strings.Count(out, "until") != 1 {
		t.Errorf("list after rotate: %v\n%s\nwant one credential ending, one active", err, out)
	}
	if _, err := cli("terminals", "revoke", "press-07"); err != nil {
		t.Errorf("revoke: %v", err)
	}
	if out, _ := cli("terminals", "list"); strings.Contains(out, "active") {
		t.Errorf("list after revoke: %s\nwant no active credential", out)
	}
	if out, err := cli("terminals", "delete", "press-07"); err != nil || !strings.Contains(out, "deleted terminal press-07") {
		t.Errorf("delete: %v %q", err, out)
	}
	if out, _ := cli("terminals", "list"); strings.Contains(out, "press-07") {
		t.Errorf("list after delete: %s\nwant press-07 gone", out)
	}
	if out, err := cli("terminals", "index-groups"); err != nil || !strings.Contains(out, "nothing to do") {
		t.Errorf("index-groups on the embedded store: %v %q, want nothing to do", err, out)
	}
	for _, args := range [][]string{{}, {"terminals"}, {"terminals", "create"}, {"terminals", "explode", "x"}, {"terminals", "index-groups", "x"}} {
		if _, err := cli(args...); !errors.Is(err, errUsage) {
			t.Errorf("%v: got %v, want a usage error", args, err)
		}
	}
	if _, err := cli("terminals", "create", "../etc"); err == nil || !strings.Contains(err.Error(), "invalid") {
		t.Errorf("bad id: got %v, want invalid", err)
	}
}

// fakeSTS answers sts:GetCallerIdentity with arn, as AWS's query protocol does.
func fakeSTS(t *testing.T, arn string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if !strings.Contains(string(body), "Action=GetCallerIdentity") || r.Header.Get("Authorization") == "" {
			http.Error(w, "want a signed GetCallerIdentity", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "text/xml")
		fmt.Fprintf(w, `<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult><Arn>%s</Arn><UserId>AIDAEXAMPLE</UserId><Account>123456789012</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>0a1b2c3d-0000-0000-0000-000000000000</RequestId></ResponseMetadata></GetCallerIdentityResponse>`, arn)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestAuditActorIsTheAWSIdentity: on DynamoDB the CLI's operations are
// audited under the caller's AWS identity, not the local login (which
// anyone can choose); only when STS cannot be reached is it the OS user,
// named as such, and the CLI says so.
func TestAuditActorIsTheAWSIdentity(t *testing.T) {
	dyn := dynalite.ForTest(t)
	ctx := context.Background()
	client := dynalite.NewClient(dyn.Endpoint())
	if err := dynamo.CreateTable(ctx, client, "cli-audit"); err != nil {
		t.Fatal(err)
	}
	store := dynamo.New(client, "cli-audit")
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	tests := []struct {
		name, sts, id string
		wantActor     string
		wantWarning   bool
	}{
		{"STS answers", fakeSTS(t, "arn:aws:iam::123456789012:user/alice"), "press-01", "cli:arn:aws:iam::123456789012:user/alice", false},
		{"STS unreachable", closed.URL, "press-02", "cli:os-user:" + login(), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("AWS_ENDPOINT_URL_STS", tt.sts)
			var out, errOut bytes.Buffer
			args := []string{"-table", "cli-audit", "-dynamodb-endpoint", dyn.Endpoint(), "terminals", "create", tt.id}
			if err := run(ctx, args, &out, &errOut); err != nil {
				t.Fatalf("create: %v\n%s%s", err, out.String(), errOut.String())
			}
			recs, _, err := store.Audit(ctx, fleet.AuditQuery{TerminalID: tt.id, Limit: 10})
			if err != nil || len(recs) != 1 {
				t.Fatalf("audit of %s: %v %v, want one record", tt.id, recs, err)
			}
			if recs[0].Actor != tt.wantActor {
				t.Errorf("audit actor %q, want %q", recs[0].Actor, tt.wantActor)
			}
			if warned := strings.Contains(errOut.String(), "cannot get the caller's AWS identity"); warned != tt.wantWarning {
				t.Errorf("stderr %q: warning %v, want %v", errOut.String(), warned, tt.wantWarning)
			}
		})
	}
}
