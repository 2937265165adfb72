package main_test

import (
	"bufio"
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// binary is cmd/edgesync-local built once for the tests, run as a user runs it.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "edgesync-local-test-")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "edgesync-local")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		os.Stderr.Write(out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// run runs the binary with args and returns its combined output and exit code.
func run(t *testing.T, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, binary, args...).CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0
	case errors.As(err, &exit):
		return string(out), exit.ExitCode()
	}
	t.Fatalf("run %v: %v\n%s", args, err, out)
	return "", 0
}

// TestStartupErrorsAreOneLine: each start-up problem is one line naming
// the problem and the fix, exit status 1, never a panic.
func TestStartupErrorsAreOneLine(t *testing.T) {
	t.Parallel()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { busy.Close() }) // not defer: the parallel subtests run after this function returns

	// A running stack holds its data directory.
	held := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	first := exec.CommandContext(ctx, binary, "--data", held, "--http-addr", "127.0.0.1:0", "--ws-addr", "127.0.0.1:0")
	stdout, _ := first.StdoutPipe()
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); _ = first.Wait() })
	up := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "local stack is up") {
				up <- true
				for sc.Scan() {
				}
				return
			}
		}
		up <- false
	}()
	if !<-up {
		t.Fatal("the first stack did not come up")
	}

	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"port in use", []string{"--http-addr", busy.Addr().String()}, []string{busy.Addr().String() + " is in use", "pass --http-addr"}},
		{"ws port in use", []string{"--ws-addr", busy.Addr().String()}, []string{busy.Addr().String() + " is in use", "pass --ws-addr"}},
		{"data dir held", []string{"--data", held}, []string{"is in use by another local stack", "pass --data"}},
		{"param not a number", []string{"--param", "CommandTimeout=abc"}, []string{"CommandTimeout is a Number parameter"}},
		{"unknown param", []string{"--param", "CommandTimeot=5"}, []string{"template.yaml has no parameter CommandTimeot", "CommandTimeout"}},
		{"param not allowed", []string{"--param", "LogLevel=LOUD"}, []string{"allowed values are DEBUG, INFO, WARN, ERROR"}},
		{"param out of range", []string{"--param", "CommandTimeout=0"}, []string{"COMMAND_TIMEOUT"}},
		{"bad ready file", []string{"--ready-file", filepath.Join(t.TempDir(), "no", "such", "dir", "ready.json")}, []string{"--ready-file"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			args := append([]string{"--data", t.TempDir(), "--http-addr", "127.0.0.1:0", "--ws-addr", "127.0.0.1:0"}, tt.args...)
			out, code := run(t, args...)
			if code != 1 {
				t.Errorf("exit status %d, want 1\n%s", code, out)
			}
			if strings.Contains(out, "panic") || strings.Contains(out, "goroutine") {
				t.Fatalf("panicked:\n%s", out)
			}
			if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 1 {
				t.Errorf("%d lines of output, want one:\n%s", len(lines), out)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("output does not say %q:\n%s", w, out)
				}
			}
		})
	}
}

// TestHelp: -h prints the usage, names the token subcommand, exits 0.
func TestHelp(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"-h"}, {"--help"}, {"token", "-h"}} {
		out, code := run(t, args...)
		if code != 0 {
			t.Errorf("%v: exit status %d, want 0\n%s", args, code, out)
		}
		if args[0] != "token" && !strings.Contains(out, "edgesync-local token") {
			t.Errorf("%v does not mention the token subcommand:\n%s", args, out)
		}
		if !strings.Contains(out, "-data") {
			t.Errorf("%v does not list the flags:\n%s", args, out)
		}
	}
}
