package agent_test

import (
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/edgesync/edgesync/agent"
	"github.com/edgesync/edgesync/agent/agenttest"
	"github.com/edgesync/edgesync/protocol"
)

// getConfig returns the agent's document as get_config answers it.
func getConfig(t *testing.T, srv *agenttest.Server) map[string]any {
	t.Helper()
	r := command(t, srv, protocol.CommandGetConfig, nil)
	var doc map[string]any
	if err := json.Unmarshal(r.Result, &doc); !r.Success || err != nil {
		t.Fatalf("get_config = %+v (%v)", r, err)
	}
	return doc
}

func setConfig(t *testing.T, srv *agenttest.Server, doc map[string]any) protocol.CommandResponse {
	t.Helper()
	return command(t, srv, protocol.CommandSetConfig, map[string]any{"config": doc})
}

// Issue 12, hole 1: an operator points server_url at a host they control,
// leaving the token "[redacted]", and the agent reconnects there with its
// real token.
func TestCredentialNeverGoesToANewOrigin(t *testing.T) {
	t.Parallel()
	// Even a device that lets the cloud change connection settings.
	policy := agent.Policy{RemoteKeys: append(slices.Clone(agent.DefaultRemoteKeys), "server_url", "token", "token_file")}
	tests := []struct {
		name  string
		setup func(t *testing.T, cfg *agent.Config) []agent.Option
	}{
		{"token in the config", func(*testing.T, *agent.Config) []agent.Option { return nil }},
		{"token_file", func(t *testing.T, cfg *agent.Config) []agent.Option {
			cfg.Token, cfg.TokenFile = "", writeFile(t, "token", []byte(testToken+"\n"))
			return nil
		}},
		{"token from the environment", func(t *testing.T, cfg *agent.Config) []agent.Option {
			// The environment wins over any document: a new token in
			// set_config would not be the one used.
			return []agent.Option{agent.WithGetenv(env(map[string]string{"EDGESYNC_TOKEN": testToken}))}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			home := newServer(t)
			evil := agenttest.NewServer(testTerminal, "whatever")
			t.Cleanup(evil.Close)
			cfg := testConfig(t, home)
			opts := append(tt.setup(t, &cfg), agent.WithPolicy(policy))
			a := newAgent(t, cfg, opts...)
			start(t, a)
			waitFor(t, home, "hello", func(v agenttest.View) bool { return len(v.Hellos()) == 1 })

			attacks := map[string]func(doc map[string]any){
				"new host, token redacted": func(doc map[string]any) { doc["server_url"] = evil.URL },
				"same host, another port": func(doc map[string]any) {
					doc["server_url"] = strings.Replace(home.URL, home.Addr(), evil.Addr(), 1)
				},
				"same host and port, another scheme": func(doc map[string]any) {
					doc["server_url"] = strings.Replace(home.URL, "ws://", "wss://", 1)
				},
				"new host, the current token sent back in clear": func(doc map[string]any) {
					doc["server_url"] = evil.URL
					doc["token"] = testToken
				},
			}
			for name, attack := range attacks {
				doc := getConfig(t, home)
				attack(doc)
				r := setConfig(t, home, doc)
				if r.Success || !strings.Contains(r.Error, "server_url") {
					t.Errorf("%s: set_config = %+v, want it refused naming server_url", name, r)
				}
			}
			// Still connected to home, on the first connection, after all
			// of that.
			if r := command(t, home, protocol.CommandPing, nil); !r.Success {
				t.Fatalf("ping after the attacks = %+v", r)
			}
			home.Inspect(func(v agenttest.View) {
				if v.Connections() != 1 {
					t.Errorf("home saw %d connections, want the first one only", v.Connections())
				}
			})
			evil.Inspect(func(v agenttest.View) {
				if auths := v.Authorizations(); len(auths) != 0 {
					t.Errorf("the attacker's server received handshakes with Authorization %q", auths)
				}
			})
		})
	}
}

func TestNewOriginWithANewCredential(t *testing.T) {
	t.Parallel()
	home := newServer(t)
	next := agenttest.NewServer(testTerminal, "next-token")
	t.Cleanup(next.Close)
	cfg := testConfig(t, home)
	policy := agent.Policy{RemoteKeys: append(slices.Clone(agent.DefaultRemoteKeys), "server_url", "token")}
	a := newAgent(t, cfg, agent.WithPolicy(policy))
	start(t, a)
	waitFor(t, home, "hello", func(v agenttest.View) bool { return len(v.Hellos()) == 1 })

	doc := getConfig(t, home)
	doc["server_url"], doc["token"] = next.URL, "next-token"
	if r := setConfig(t, home, doc); !r.Success {
		t.Fatalf("moving with a new credential: %+v", r)
	}
	waitFor(t, next, "the agent on the new server", func(v agenttest.View) bool { return len(v.Hellos()) == 1 })
	next.Inspect(func(v agenttest.View) {
		for _, h := range v.Authorizations() {
			if h != "Bearer next-token" {
				t.Errorf("the new server received Authorization %q, want only the new credential", h)
			}
		}
	})
	// And back home needs home's credential again.
	doc = getConfig(t, next)
	doc["server_url"] = home.URL
	if r := setConfig(t, next, doc); r.Success {
		t.Errorf("moving back with the redacted (new) token succeeded")
	}
}

// Issue 12, hole 2: without a policy file the cloud may change only keys
// that do not widen what the device exposes or where it connects.
func TestDefaultPolicy(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	cfg := testConfig(t, srv)
	a := newAgent(t, cfg)
	start(t, a)
	waitFor(t, srv, "hello", func(v agenttest.View) bool { return len(v.Hellos()) == 1 })
	logs := t.TempDir()
	refused := map[string]any{
		"log_inputs":       []string{filepath.Join(logs, "app.log")},
		"server_url":       srv.URL + "/other",
		"token":            "another",
		"token_file":       "/etc/edgesync/token",
		"allow_insecure":   true,
		"ca_file":          "/etc/ssl/evil.pem",
		"proxy_url":        "http://proxy.example:3128",
		"client_cert_file": "/etc/edgesync/c.pem",
		"client_key_file":  "/etc/edgesync/c.key",
		"terminal_id":      "T-2",
		"spool_max_bytes":  1 << 20,
	}
	version := a.ConfigVersion()
	for key, value := range refused {
		doc := getConfig(t, srv)
		doc[key] = value
		if r := setConfig(t, srv, doc); r.Success || !strings.Contains(r.Error, key) {
			t.Errorf("set_config changing %s = %+v, want it refused naming the key", key, r)
		}
	}
	if a.ConfigVersion() != version {
		t.Errorf("config version changed to %s after refused set_config", a.ConfigVersion())
	}
	doc := getConfig(t, srv)
	allowed := map[string]any{"log_level": "debug", "status_interval": 120, "heartbeat_interval": 20, "ack_timeout": 5,
		"websocket_timeout": 10, "max_connection_age": 3600, "batch_window_ms": 100, "idle_batch_window_ms": 10000, "batch_max_bytes": 16384}
	for key, value := range allowed {
		doc[key] = value
	}
	if r := setConfig(t, srv, doc); !r.Success {
		t.Errorf("set_config changing %v = %+v, want it applied", allowed, r)
	}
}

func TestPolicyFileBoundsLogInputs(t *testing.T) {
	t.Parallel()
	allowed, outside := t.TempDir(), t.TempDir()
	if err := os.Symlink(filepath.Join(outside, "secret.log"), filepath.Join(allowed, "link.log")); err != nil {
		t.Fatal(err)
	}
	policyFile := writeFile(t, "policy.json", []byte(`{"remote_keys":["log_inputs","log_level"],"log_input_dirs":["`+allowed+`"]}`))
	policy, err := agent.LoadPolicy(policyFile, true)
	if err != nil {
		t.Fatal(err)
	}
	srv := newServer(t)
	cfg := testConfig(t, srv)
	opened := &recordHandler{}
	a := newAgent(t, cfg, agent.WithPolicy(policy), agent.WithLogger(slog.New(opened)))
	start(t, a)
	waitFor(t, srv, "hello", func(v agenttest.View) bool { return len(v.Hellos()) == 1 })
	appendLines(t, filepath.Join(allowed, "app.log"), -1, 0) // before the agent follows it
	tests := []struct {
		input string
		ok    bool
	}{
		{filepath.Join(outside, "app.log"), false},
		{filepath.Join(allowed, "..", filepath.Base(outside), "app.log"), false},
		{filepath.Join(allowed, "link.log"), false},
		{"-", false},
		{filepath.Join(allowed, "app.log"), true},
	}
	for _, tt := range tests {
		doc := getConfig(t, srv)
		doc["log_inputs"] = []string{tt.input}
		r := setConfig(t, srv, doc)
		if r.Success != tt.ok {
			t.Errorf("log_inputs [%s]: set_config = %+v, want success %v", tt.input, r, tt.ok)
		}
		if !tt.ok && !strings.Contains(r.Error, "log_inputs") {
			t.Errorf("log_inputs [%s]: error %q does not name log_inputs", tt.input, r.Error)
		}
	}
	opened.waitFor(t, "following log input")
	appendLines(t, filepath.Join(allowed, "app.log"), 1, 3)
	waitDelivered(t, srv, a, 3)
}

func TestOwnFilesAreNeverFollowed(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv := newServer(t)
	cfg := testConfig(t, srv)
	cfg.SpoolDir = filepath.Join(dir, "spool")
	cfg.Token, cfg.TokenFile = "", writeFile(t, "token", []byte(testToken))
	configFile := filepath.Join(dir, "agent.json")
	doc, _ := json.Marshal(cfg)
	os.WriteFile(configFile, doc, 0o600)
	// A policy that lets the cloud name any file of the directory.
	policyFile := filepath.Join(dir, "policy.json")
	os.WriteFile(policyFile, []byte(`{"remote_keys":["log_inputs"],"log_input_dirs":["`+dir+`","`+filepath.Dir(cfg.TokenFile)+`"]}`), 0o644)
	policy, err := agent.LoadPolicy(policyFile, true)
	if err != nil {
		t.Fatal(err)
	}
	opts := []agent.Option{agent.WithConfigFile(configFile), agent.WithPolicy(policy)}

	// In the local config: a configuration error.
	local := cfg
	local.LogInputs = []string{configFile}
	if _, err := agent.New(local, opts...); err == nil || !strings.Contains(err.Error(), "own config file") {
		t.Errorf("New with the config file as an input = %v, want a refusal", err)
	}

	records := &recordHandler{}
	a := newAgent(t, cfg, append(opts, agent.WithLogger(slog.New(records)))...)
	start(t, a)
	waitFor(t, srv, "hello", func(v agenttest.View) bool { return len(v.Hellos()) == 1 })
	for _, own := range []string{configFile, policyFile, cfg.TokenFile, filepath.Join(cfg.SpoolDir, "seg-0000000000000001.log"),
		filepath.Join(dir, "spool", "..", "agent.json")} {
		d := getConfig(t, srv)
		d["log_inputs"] = []string{own}
		if r := setConfig(t, srv, d); r.Success || !strings.Contains(r.Error, "never ships it") {
			t.Errorf("log_inputs [%s]: set_config = %+v, want it refused", own, r)
		}
	}

	// A name accepted while it did not exist, then made a link to the
	// config file: the follower refuses it when it opens it.
	later := filepath.Join(dir, "later.log")
	d := getConfig(t, srv)
	d["log_inputs"] = []string{later}
	if r := setConfig(t, srv, d); !r.Success {
		t.Fatalf("set_config with a new log file = %+v", r)
	}
	if err := os.Symlink(configFile, later); err != nil {
		t.Fatal(err)
	}
	records.waitFor(t, "follow input; retrying")
	a.Log("info", "marker", "test")
	waitFor(t, srv, "the marker", func(v agenttest.View) bool { return v.Stored() >= 1 })
	srv.Inspect(func(v agenttest.View) {
		for _, e := range v.Lines() {
			if strings.Contains(e.Message, testToken) || e.Message != "marker" {
				t.Errorf("the server received %q", e.Message)
			}
		}
	})
}

func TestLoadPolicy(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if p, err := agent.LoadPolicy(filepath.Join(dir, "none.json"), false); err != nil || !slices.Equal(p.RemoteKeys, agent.DefaultRemoteKeys) {
		t.Errorf("missing optional policy = %+v, %v; want the default", p, err)
	}
	if _, err := agent.LoadPolicy(filepath.Join(dir, "none.json"), true); err == nil {
		t.Errorf("a missing policy file that was named explicitly was accepted")
	}
	tests := []struct {
		doc  string
		want []string
	}{
		{`{"remote_key":["log_level"]}`, []string{"remote_key"}},
		{`{"remote_keys":["log_levl","token"],"log_input_dirs":["var/log"]}`, []string{`"log_levl" is not a config key`, "log_input_dirs: entry 0", "remote_keys does not allow log_inputs"}},
		{`[]`, []string{"JSON object"}},
	}
	for _, tt := range tests {
		path := writeFile(t, "policy.json", []byte(tt.doc))
		_, err := agent.LoadPolicy(path, true)
		for _, w := range tt.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("LoadPolicy(%s) = %v, want it to mention %q", tt.doc, err, w)
			}
		}
	}
}
