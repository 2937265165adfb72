package agent_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgesync/edgesync/agent"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestLoadConfig(t *testing.T) {
	t.Parallel()
	const valid = `{"terminal_id":"T-1","server_url":"wss://api.example.com/prod","token":"s3cret"}`
	tests := []struct {
		name    string
		file    string
		env     map[string]string
		check   func(t *testing.T, c agent.Config)
		wantErr []string // substrings of the error; nil means success
	}{
		{
			name: "defaults fill what the file leaves out",
			file: valid,
			check: func(t *testing.T, c agent.Config) {
				want := agent.DefaultConfig()
				want.TerminalID, want.ServerURL, want.Token = "T-1", "wss://api.example.com/prod", "s3cret"
				if c.Version() != want.Version() {
					t.Errorf("config = %+v, want %+v", c, want)
				}
				if c.WebSocketTimeout != 30 || c.ReconnectAttempts != 0 || c.StatusInterval != 30 || c.BatchWindowMS != 250 || c.IdleBatchWindowMS != 30000 || c.BatchMaxBytes != 32768 {
					t.Errorf("defaults = %+v", c)
				}
			},
		},
		{
			name: "the source document's format with a numeric terminal id",
			file: `{"terminal_id": 1, "server_url": "wss://smarthit.top", "websocket_timeout": 30, "reconnect_attempts": 10, "token": "x"}`,
			check: func(t *testing.T, c agent.Config) {
				if c.TerminalID != "1" {
					t.Errorf("terminal_id = %q, want \"1\"", c.TerminalID)
				}
			},
		},
		{
			name: "environment overrides the file",
			file: valid,
			env: map[string]string{
				"EDGESYNC_TERMINAL_ID": "T-9", "EDGESYNC_TOKEN": "from-env", "EDGESYNC_STATUS_INTERVAL": "2m",
				"EDGESYNC_RECONNECT_ATTEMPTS": "0", "EDGESYNC_LOG_INPUTS": "/var/log/a.log, -", "EDGESYNC_ALLOW_INSECURE": "true",
			},
			check: func(t *testing.T, c agent.Config) {
				if c.TerminalID != "T-9" || c.Token != "from-env" || c.StatusInterval != 120 || c.ReconnectAttempts != 0 ||
					strings.Join(c.LogInputs, "|") != "/var/log/a.log|-" || !c.AllowInsecure {
					t.Errorf("config = %+v", c)
				}
			},
		},
		{
			name: "environment only",
			env:  map[string]string{"EDGESYNC_TERMINAL_ID": "T-2", "EDGESYNC_SERVER_URL": "ws://127.0.0.1:9000", "EDGESYNC_TOKEN": "t"},
			check: func(t *testing.T, c agent.Config) {
				if c.TerminalID != "T-2" {
					t.Errorf("terminal_id = %q", c.TerminalID)
				}
			},
		},
		{
			name: "durations as strings",
			file: `{"terminal_id":"T-1","server_url":"wss://h/p","token":"x","max_connection_age":"100m","ack_timeout":2.5}`,
			check: func(t *testing.T, c agent.Config) {
				if c.MaxConnectionAge != 6000 || c.AckTimeout != 2.5 {
					t.Errorf("max_connection_age %v ack_timeout %v", c.MaxConnectionAge, c.AckTimeout)
				}
			},
		},
		{name: "missing required keys", file: `{}`, wantErr: []string{"terminal_id: required", "server_url: required", "token: required"}},
		{name: "syntax error has a position", file: "{\n  \"terminal_id\": \"T-1\",\n  oops\n}", wantErr: []string{"line 3 column"}},
		{name: "not an object", file: `[1,2]`, wantErr: []string{"JSON object"}},
		{name: "unknown key", file: strings.Replace(valid, `{`, `{"status_intervall":5,`, 1), wantErr: []string{"status_intervall: unknown key"}},
		{name: "wrong type", file: strings.Replace(valid, `{`, `{"reconnect_attempts":"ten",`, 1), wantErr: []string{"reconnect_attempts: want an integer"}},
		{name: "bad terminal id", file: strings.Replace(valid, `"T-1"`, `"T 1/x"`, 1), wantErr: []string{"terminal_id:"}},
		{name: "bad scheme", file: strings.Replace(valid, "wss://", "https://", 1), wantErr: []string{"server_url: scheme must be wss"}},
		{name: "clear text to a remote host", file: strings.Replace(valid, "wss://", "ws://", 1), wantErr: []string{"server_url: ws://"}},
		{name: "heartbeat beyond the idle timeout", file: strings.Replace(valid, `{`, `{"heartbeat_interval":600,`, 1), wantErr: []string{"heartbeat_interval: must be more than 0 and less than 600"}},
		{name: "connection age beyond 2 hours", file: strings.Replace(valid, `{`, `{"max_connection_age":"2h",`, 1), wantErr: []string{"max_connection_age:"}},
		{name: "batch too big for a frame", file: strings.Replace(valid, `{`, `{"batch_max_bytes":65536,`, 1), wantErr: []string{"batch_max_bytes: must be 1024 to 32768"}},
		{name: "idle window too long", file: strings.Replace(valid, `{`, `{"idle_batch_window_ms":600001,`, 1), wantErr: []string{"idle_batch_window_ms: must be 0 to 600000"}},
		{name: "negative idle window", file: strings.Replace(valid, `{`, `{"idle_batch_window_ms":-1,`, 1), wantErr: []string{"idle_batch_window_ms: must be 0 to 600000"}},
		{name: "tiny spool", file: strings.Replace(valid, `{`, `{"spool_max_bytes":10,`, 1), wantErr: []string{"spool_max_bytes: must be at least"}},
		{name: "relative input", file: strings.Replace(valid, `{`, `{"log_inputs":["app.log"],`, 1), wantErr: []string{"log_inputs: entry 0"}},
		{name: "bad env value", file: valid, env: map[string]string{"EDGESYNC_STATUS_INTERVAL": "often"}, wantErr: []string{"EDGESYNC_STATUS_INTERVAL:"}},
		{name: "several problems at once", file: `{"terminal_id":"T-1","server_url":"wss://h","token":"x","status_interval":0,"log_level":"loud"}`,
			wantErr: []string{"status_interval:", "log_level:"}},
		{name: "an unknown key and a wrong type hide nothing", file: `{"terminal_id":"T 1","server_url":"https://h","token":"x","status_intervall":5,"ack_timeout":"soon","heartbeat_interval":900}`,
			env:     map[string]string{"EDGESYNC_BATCH_WINDOW_MS": "fast"},
			wantErr: []string{"status_intervall: unknown key", "ack_timeout: want a number", "terminal_id:", "server_url: scheme", "heartbeat_interval:", "EDGESYNC_BATCH_WINDOW_MS:"}},
		{name: "proxy with credentials", file: strings.Replace(valid, `{`, `{"proxy_url":"http://u:p@proxy:3128",`, 1), wantErr: []string{"proxy_url: must not carry credentials"}},
		{name: "proxy not http", file: strings.Replace(valid, `{`, `{"proxy_url":"socks5://proxy:1080",`, 1), wantErr: []string{"proxy_url: want http://"}},
		{name: "client certificate without key", file: strings.Replace(valid, `{`, `{"client_cert_file":"/etc/edgesync/client.pem",`, 1), wantErr: []string{"client_cert_file: client_cert_file and client_key_file go together"}},
		{name: "relative CA file", file: strings.Replace(valid, `{`, `{"ca_file":"ca.pem",`, 1), wantErr: []string{"ca_file: must be an absolute path"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := ""
			if tt.file != "" {
				path = filepath.Join(t.TempDir(), "agent.json")
				if err := os.WriteFile(path, []byte(tt.file), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			c, err := agent.LoadConfig(path, env(tt.env))
			if tt.wantErr != nil {
				if err == nil {
					t.Fatalf("LoadConfig = %+v, want an error containing %q", c, tt.wantErr)
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not contain %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("LoadConfig: %v", err)
			}
			tt.check(t, c)
		})
	}
}

func TestLoadConfigMissingFile(t *testing.T) {
	t.Parallel()
	_, err := agent.LoadConfig(filepath.Join(t.TempDir(), "nope.json"), nil)
	if err == nil || !strings.Contains(err.Error(), "nope.json") {
		t.Errorf("LoadConfig of a missing file = %v, want an error naming it", err)
	}
}

func TestDocumentRedactsSecrets(t *testing.T) {
	t.Parallel()
	c := agent.DefaultConfig()
	c.TerminalID, c.ServerURL, c.Token, c.TokenFile = "T-1", "wss://h/p", "hunter2", "/run/credentials/token"
	var doc map[string]any
	if err := json.Unmarshal(c.Document(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc["token"] != agent.Redacted || doc["token_file"] != "/run/credentials/token" || doc["terminal_id"] != "T-1" {
		t.Errorf("document = %v", doc)
	}
	tests := []struct {
		key  string
		want bool
	}{
		{"token", true}, {"api_key", true}, {"db_password", true}, {"client_secret", true}, {"aws_credentials", true},
		{"token_file", false}, {"terminal_id", false}, {"server_url", false},
	}
	for _, tt := range tests {
		if got := agent.IsSecretKey(tt.key); got != tt.want {
			t.Errorf("IsSecretKey(%q) = %v, want %v", tt.key, got, tt.want)
		}
	}
}

func TestVersionChangesWithContent(t *testing.T) {
	t.Parallel()
	a := agent.DefaultConfig()
	b := a
	b.StatusInterval = 31
	if a.Version() == b.Version() || a.Version() != agent.DefaultConfig().Version() {
		t.Errorf("versions %s %s: want equal for equal configs and different otherwise", a.Version(), b.Version())
	}
}
