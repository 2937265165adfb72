package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/edgesync/edgesync/agent/agenttest"
)

// The test binary doubles as the agent binary: with this variable set it
// runs main's run instead of the tests, so the process tests need no build.
const childEnv = "EDGESYNC_AGENT_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		os.Exit(run(os.Args[1:], os.Getenv, os.Stderr, os.Stdout))
	}
	os.Exit(m.Run())
}

const waitLimit = 30 * time.Second

func writeConfig(t *testing.T, doc map[string]any) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "agent.json")
	b, _ := json.Marshal(doc)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestRunFlags(t *testing.T) {
	t.Parallel()
	valid := writeConfig(t, map[string]any{"terminal_id": "T-1", "server_url": "wss://h/prod", "token": "s3cret", "spool_dir": t.TempDir()})
	invalid := writeConfig(t, map[string]any{"terminal_id": "T-1", "server_url": "https://h", "token": "x", "heartbeat_interval": 900})
	missingToken := writeConfig(t, map[string]any{"terminal_id": "T-1", "server_url": "wss://h/prod", "token_file": "/nonexistent/token", "spool_dir": t.TempDir()})
	tests := []struct {
		name     string
		args     []string
		env      map[string]string
		code     int
		stdout   []string
		stderr   []string
		noStdout []string
	}{
		{"version", []string{"-version"}, nil, 0, []string{"dev"}, nil, nil},
		{"check prints the config redacted", []string{"-config", valid, "-check"}, nil, 0,
			[]string{`"terminal_id":"T-1"`, `"token":"[redacted]"`, "config_version"}, nil, []string{"s3cret"}},
		{"environment overrides", []string{"-config", valid, "-check"}, map[string]string{"EDGESYNC_TERMINAL_ID": "T-2"}, 0,
			[]string{`"terminal_id":"T-2"`}, nil, nil},
		{"invalid config names the fields", []string{"-config", invalid}, nil, 2, nil,
			[]string{"server_url: scheme must be wss", "heartbeat_interval:"}, nil},
		{"missing config file", []string{"-config", filepath.Join(t.TempDir(), "none.json")}, nil, 2, nil, []string{"none.json"}, nil},
		{"check reads the token file", []string{"-config", missingToken, "-check"}, nil, 2, nil, []string{"token_file:", "/nonexistent/token"}, nil},
		{"unknown flag", []string{"-bogus"}, nil, 2, nil, []string{"bogus"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var stdout, stderr bytes.Buffer
			code := run(tt.args, func(k string) string { return tt.env[k] }, &stderr, &stdout)
			if code != tt.code {
				t.Errorf("exit code %d, want %d (stderr %s)", code, tt.code, stderr.String())
			}
			for _, w := range tt.stdout {
				if !strings.Contains(stdout.String(), w) {
					t.Errorf("stdout %q lacks %q", stdout.String(), w)
				}
			}
			for _, w := range tt.noStdout {
				if strings.Contains(stdout.String(), w) {
					t.Errorf("stdout %q contains %q", stdout.String(), w)
				}
			}
			for _, w := range tt.stderr {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("stderr %q lacks %q", stderr.String(), w)
				}
			}
		})
	}
}

// child is an agent process reading lines from its stdin.
type child struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stderr *bytes.Buffer
	done   chan error
}

func startChild(t *testing.T, config string, extra ...string) *child {
	t.Helper()
	return startChildEnv(t, config, nil, extra...)
}

// startChildEnv starts an agent process with config, more environment
// variables and flags.
func startChildEnv(t *testing.T, config string, environ []string, extra ...string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"-config", config, "-shutdown-timeout", "10s"}, extra...)...)
	cmd.Env = append(append(os.Environ(), childEnv+"=1"), environ...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, stdin: stdin, stderr: &bytes.Buffer{}, done: make(chan error, 1)}
	cmd.Stderr = c.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { c.done <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-c.done
		}
	})
	return c
}

func (c *child) lines(t *testing.T, from, to int) {
	t.Helper()
	for i := from; i <= to; i++ {
		if _, err := fmt.Fprintf(c.stdin, "line %05d\n", i); err != nil {
			t.Fatalf("write to the agent: %v", err)
		}
	}
}

func (c *child) wait(t *testing.T) error {
	t.Helper()
	select {
	case err := <-c.done:
		return err
	case <-time.After(waitLimit):
		t.Fatalf("the agent did not exit; stderr:\n%s", c.stderr)
	}
	return nil
}

func waitFor(t *testing.T, srv *agenttest.Server, what string, cond func(agenttest.View) bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := srv.WaitFor(ctx, cond); err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

func TestProcessKilledRestartedAndTerminated(t *testing.T) {
	t.Parallel()
	srv := agenttest.NewServer("T-1", "tok")
	defer srv.Close()
	config := writeConfig(t, map[string]any{
		"terminal_id": "T-1", "server_url": srv.URL, "token": "tok", "spool_dir": t.TempDir(),
		"log_inputs": []string{"-"}, "batch_window_ms": 20, "idle_batch_window_ms": 0, "ack_timeout": 10,
	})
	const n1, n2 = 200, 100

	// First process: its lines reach the server but are never acknowledged,
	// then it is killed without a chance to do anything.
	srv.WithholdAcks(-1)
	c1 := startChild(t, config)
	c1.lines(t, 1, n1)
	waitFor(t, srv, "the first lines", func(v agenttest.View) bool { return v.Stored() == n1 })
	if err := c1.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	c1.wait(t)

	// Second process, same spool: everything is delivered and acknowledged.
	srv.WithholdAcks(0)
	c2 := startChild(t, config)
	c2.lines(t, n1+1, n1+n2)
	waitFor(t, srv, "all lines acknowledged", func(v agenttest.View) bool { return v.Stored() == n1+n2 && v.AllAcked() })

	// SIGTERM: a clean exit with a normal closure.
	if err := c2.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := c2.wait(t); err != nil {
		t.Errorf("exit after SIGTERM: %v; stderr:\n%s", err, c2.stderr)
	}
	waitFor(t, srv, "both connections closed", func(v agenttest.View) bool { return len(v.CloseStatuses()) == 2 })
	srv.Inspect(func(v agenttest.View) {
		lines := v.Lines()
		for i := 1; i <= n1+n2; i++ {
			if e := lines[uint64(i)]; e.Message != fmt.Sprintf("line %05d", i) || e.Source != "stdin" {
				t.Errorf("seq %d = %+v", i, e)
			}
		}
		st := v.CloseStatuses()
		if st[0] == websocket.StatusNormalClosure || st[1] != websocket.StatusNormalClosure {
			t.Errorf("close statuses %v, want an abrupt end then a normal closure", st)
		}
		if c := v.Conflicts(); len(c) > 0 {
			t.Errorf("conflicts: %v", c)
		}
	})
}
