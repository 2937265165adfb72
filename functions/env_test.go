package functions_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/edgesync/edgesync/fleet"
	"github.com/edgesync/edgesync/functions"
	"github.com/edgesync/edgesync/functions/registry"
	"github.com/edgesync/edgesync/infra/dynamo"
	"github.com/edgesync/edgesync/internal/dynalite"
)

func getenv(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func TestRead(t *testing.T) {
	t.Parallel()
	const url = "https://abc123.execute-api.eu-west-1.amazonaws.com/prod"
	tests := []struct {
		name    string
		vars    map[string]string
		pushing functions.Pushing
		want    functions.Env
		wantErr []string // substrings of the error; nil means success
	}{
		{
			name:    "pushing function with everything",
			vars:    map[string]string{"TABLE_NAME": "tbl", "CONNECTIONS_URL": url, "CONFIG_TTL": "600", "COMMAND_TIMEOUT": "15s"},
			pushing: functions.Pushes,
			want: functions.Env{TableName: "tbl", ConnectionsURL: url, Fleet: func() fleet.Config {
				c := fleet.DefaultConfig()
				c.ConfigTTL = 10 * time.Minute
				c.CommandTimeout = 15 * time.Second
				return c
			}()},
		},
		{
			name:    "non-pushing function without CONNECTIONS_URL",
			vars:    map[string]string{"TABLE_NAME": "tbl"},
			pushing: functions.NeverPushes,
			want:    functions.Env{TableName: "tbl", Fleet: fleet.DefaultConfig()},
		},
		{
			name:    "local emulator over http",
			vars:    map[string]string{"TABLE_NAME": "tbl", "CONNECTIONS_URL": "http://127.0.0.1:3001/local"},
			pushing: functions.Pushes,
			want:    functions.Env{TableName: "tbl", ConnectionsURL: "http://127.0.0.1:3001/local", Fleet: fleet.DefaultConfig()},
		},
		{
			name:    "nothing set",
			vars:    map[string]string{},
			pushing: functions.Pushes,
			wantErr: []string{"TABLE_NAME is not set", "CONNECTIONS_URL is not set"},
		},
		{
			name:    "blank table name",
			vars:    map[string]string{"TABLE_NAME": "  ", "CONNECTIONS_URL": url},
			pushing: functions.Pushes,
			wantErr: []string{"TABLE_NAME is not set"},
		},
		{
			name:    "malformed CONNECTIONS_URL is an error even when optional",
			vars:    map[string]string{"TABLE_NAME": "tbl", "CONNECTIONS_URL": "abc123.execute-api.eu-west-1.amazonaws.com/prod"},
			pushing: functions.NeverPushes,
			wantErr: []string{"CONNECTIONS_URL", "not an http(s) URL"},
		},
		{
			name:    "wss scheme",
			vars:    map[string]string{"TABLE_NAME": "tbl", "CONNECTIONS_URL": "wss://abc123.execute-api.eu-west-1.amazonaws.com/prod"},
			pushing: functions.Pushes,
			wantErr: []string{"not an http(s) URL"},
		},
		{
			name:    "query string",
			vars:    map[string]string{"TABLE_NAME": "tbl", "CONNECTIONS_URL": url + "?x=1"},
			pushing: functions.Pushes,
			wantErr: []string{"query or fragment"},
		},
		{
			name:    "bad duration and missing table reported together",
			vars:    map[string]string{"CONNECTIONS_URL": url, "STATUS_TTL": "soon"},
			pushing: functions.Pushes,
			wantErr: []string{"TABLE_NAME is not set", "STATUS_TTL"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := functions.Read(getenv(tt.vars), tt.pushing)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("Read: %v", err)
				}
				if got != tt.want {
					t.Errorf("Read() = %+v, want %+v", got, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("Read() = %+v, want an error", got)
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Read error %q does not contain %q", err, w)
				}
			}
		})
	}
}

// managementAPI stands in for API Gateway's @connections endpoint.
type managementAPI struct {
	*httptest.Server
	mu     sync.Mutex
	status int
	posts  []string // "METHOD path body"
}

func newManagementAPI(t *testing.T) *managementAPI {
	m := &managementAPI{status: http.StatusOK}
	m.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		m.mu.Lock()
		m.posts = append(m.posts, r.Method+" "+r.URL.Path+" "+string(body))
		status := m.status
		m.mu.Unlock()
		if status == http.StatusGone {
			w.Header().Set("x-amzn-ErrorType", "GoneException")
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(m.Close)
	return m
}

func (m *managementAPI) answer(status int) {
	m.mu.Lock()
	m.status = status
	m.mu.Unlock()
}

func (m *managementAPI) received() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.posts...)
}

// newService builds a service the way a function does, against dynalite
// and a fake management API.
func newService(t *testing.T, connectionsURL string) *fleet.Service {
	t.Helper()
	ctx := t.Context()
	db := dynalite.ForTest(t)
	const table = "edgesync-functions"
	if err := dynamo.CreateTable(ctx, dynalite.NewClient(db.Endpoint()), table); err != nil {
		t.Fatalf("CreateTable: %v", err)
	}
	env := functions.Env{TableName: table, ConnectionsURL: connectionsURL, Fleet: fleet.DefaultConfig()}
	clients, err := functions.AWSClients(env, getenv(nil), func(c *aws.Config) {
		c.Region = "us-east-1"
		c.Credentials = credentials.NewStaticCredentialsProvider("AKIDEDGESYNCTEST", "secret", "")
		c.BaseEndpoint = aws.String(db.Endpoint()) // DynamoDB; the pusher has its own endpoint
	})
	if err != nil {
		t.Fatalf("AWSClients: %v", err)
	}
	return fleet.NewService(clients.Store, clients.Pusher, env.Fleet)
}

// connectTerminal registers terminal id and connects it on connID.
func connectTerminal(t *testing.T, svc *fleet.Service, id, connID string) {
	t.Helper()
	token, err := svc.CreateTerminal(t.Context(), fleet.System("test"), id, "test terminal", nil)
	if err != nil {
		t.Fatalf("CreateTerminal: %v", err)
	}
	if err := svc.Connect(t.Context(), fleet.ConnectRequest{ConnectionID: connID, TerminalID: id, Token: token}); err != nil {
		t.Fatalf("Connect: %v", err)
	}
}

func TestNewServicePushesThroughConnectionsURL(t *testing.T) {
	t.Parallel()
	mgmt := newManagementAPI(t)
	svc := newService(t, mgmt.URL+"/prod")
	ctx := t.Context()
	connectTerminal(t, svc, "t-1", "conn=1")

	cmd, err := svc.SendCommand(ctx, fleet.System("test"), "t-1", "ping", nil, 0)
	if err != nil {
		t.Fatalf("SendCommand: %v", err)
	}
	got := mgmt.received()
	if len(got) != 1 || !strings.HasPrefix(got[0], "POST /prod/@connections/conn=1 ") ||
		!strings.Contains(got[0], cmd.RequestID) || !strings.Contains(got[0], `"ping"`) {
		t.Fatalf("management API received %q, want one POST /prod/@connections/conn=1 carrying ping %s", got, cmd.RequestID)
	}
	stored, err := svc.Command(ctx, fleet.System("test"), "t-1", cmd.RequestID)
	if err != nil || stored.State != fleet.CommandPending {
		t.Errorf("Command(%s) = %+v, %v, want it stored as pending", cmd.RequestID, stored, err)
	}

	// A gone connection (410) takes the terminal offline.
	mgmt.answer(http.StatusGone)
	if _, err := svc.SendCommand(ctx, fleet.System("test"), "t-1", "ping", nil, 0); !errors.Is(err, fleet.ErrOffline) {
		t.Errorf("SendCommand to a gone connection: error = %v, want %v", err, fleet.ErrOffline)
	}
	view, err := svc.Terminal(ctx, fleet.System("test"), "t-1")
	if err != nil || view.Online {
		t.Errorf("Terminal after 410 = online %v, %v; want offline", view.Online, err)
	}
}

func TestNewServiceWithoutConnectionsURLRefusesPushes(t *testing.T) {
	t.Parallel()
	svc := newService(t, "")
	connectTerminal(t, svc, "t-2", "conn-2")
	_, err := svc.SendCommand(t.Context(), fleet.System("test"), "t-2", "ping", nil, 0)
	if err == nil || !strings.Contains(err.Error(), "CONNECTIONS_URL") {
		t.Errorf("SendCommand without CONNECTIONS_URL: error = %v, want one naming CONNECTIONS_URL", err)
	}
}

func TestFromEnvironmentFailsOnMissingEnvironment(t *testing.T) {
	t.Parallel()
	for _, fn := range registry.All() {
		name := fn.Name
		_, err := functions.FromEnvironment(fn, getenv(nil))
		if err == nil || !strings.Contains(err.Error(), "TABLE_NAME is not set") {
			t.Errorf("FromEnvironment(%s) with no environment: error = %v, want TABLE_NAME is not set", name, err)
		}
	}
}

func TestAWSConfig(t *testing.T) {
	t.Parallel()
	creds := map[string]string{"AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "secret", "AWS_SESSION_TOKEN": "session"}
	with := func(extra map[string]string) map[string]string {
		m := map[string]string{}
		for k, v := range creds {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	tests := []struct {
		name         string
		env          map[string]string
		wantRegion   string
		wantEndpoint string
		wantErr      string
	}{
		{name: "lambda", env: with(map[string]string{"AWS_REGION": "eu-west-1"}), wantRegion: "eu-west-1"},
		{name: "default region", env: with(map[string]string{"AWS_DEFAULT_REGION": "us-east-2"}), wantRegion: "us-east-2"},
		{name: "local endpoint", env: with(map[string]string{"AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL": "http://127.0.0.1:8000"}), wantRegion: "us-east-1", wantEndpoint: "http://127.0.0.1:8000"},
		{name: "no region", env: with(nil), wantErr: "AWS_REGION not set"},
		{name: "no credentials", env: map[string]string{"AWS_REGION": "eu-west-1"}, wantRegion: "eu-west-1", wantErr: "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY not set"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := functions.AWSConfig(getenv(tt.env))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
				}
			} else if err != nil {
				t.Fatalf("AWSConfig: %v", err)
			}
			if cfg.Region != tt.wantRegion {
				t.Errorf("region = %q, want %q", cfg.Region, tt.wantRegion)
			}
			if got := aws.ToString(cfg.BaseEndpoint); got != tt.wantEndpoint {
				t.Errorf("endpoint = %q, want %q", got, tt.wantEndpoint)
			}
			if tt.wantErr != "" {
				return
			}
			c, err := cfg.Credentials.Retrieve(t.Context())
			if err != nil || c.AccessKeyID != "AKID" || c.SecretAccessKey != "secret" || c.SessionToken != "session" {
				t.Errorf("credentials = %+v, %v; want the environment's", c, err)
			}
		})
	}
}
