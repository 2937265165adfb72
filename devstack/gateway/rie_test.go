package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/edgesync/edgesync/internal/poll"
)

type echoResponse struct {
	Echo     string `json:"echo"`
	Env      string `json:"env"`
	Function string `json:"function"`
	PID      int    `json:"pid"`
}

func newTestRIEInvoker(t *testing.T, maxProcs int) *RIEInvoker {
	t.Helper()
	inv, err := NewRIEInvoker(RIEConfig{
		Path: riePath(t),
		Functions: map[string]RIEFunction{
			"EchoFunction": {
				Bootstrap: echoFnBootstrap(t),
				Env:       map[string]string{"ECHO_GREETING": "hello from env"},
			},
		},
		MaxProcesses: maxProcs,
		Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatalf("NewRIEInvoker: %v", err)
	}
	t.Cleanup(func() { inv.Close() })
	return inv
}

func invokeEcho(t *testing.T, inv Invoker, event string) echoResponse {
	t.Helper()
	out, err := inv.Invoke(context.Background(), "EchoFunction", []byte(event))
	if err != nil {
		t.Fatalf("Invoke(%s): %v", event, err)
	}
	var resp echoResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		t.Fatalf("decode response %s: %v", out, err)
	}
	return resp
}

func TestRIEInvoker(t *testing.T) {
	t.Parallel()
	inv := newTestRIEInvoker(t, 2)

	t.Run("success", func(t *testing.T) {
		got := invokeEcho(t, inv, `{"echo":"hi","envVar":"ECHO_GREETING"}`)
		want := echoResponse{Echo: "hi", Env: "hello from env", Function: "EchoFunction", PID: got.PID}
		if got != want {
			t.Errorf("got %+v, want %+v", got, want)
		}
		cs := inv.ColdStarts()
		if len(cs) != 1 {
			t.Fatalf("got %d cold starts, want 1", len(cs))
		}
		if cs[0].Function != "EchoFunction" || cs[0].InitDuration <= 0 || cs[0].FirstInvoke <= 0 {
			t.Errorf("got cold start %+v, want EchoFunction with an init duration and a first-invoke time", cs[0])
		}
		// The process is reused: no second cold start.
		again := invokeEcho(t, inv, `{"echo":"again"}`)
		if again.PID != got.PID {
			t.Errorf("got bootstrap pid %d on the second invocation, want the same process %d", again.PID, got.PID)
		}
		if n := len(inv.ColdStarts()); n != 1 {
			t.Errorf("got %d cold starts after a warm invocation, want 1", n)
		}
	})

	t.Run("function error", func(t *testing.T) {
		_, err := inv.Invoke(context.Background(), "EchoFunction", []byte(`{"fail":"boom"}`))
		var fe *FunctionError
		if !errors.As(err, &fe) {
			t.Fatalf("got error %v, want a *FunctionError", err)
		}
		if fe.Message != "boom" || fe.Type != "errorString" || fe.Function != "EchoFunction" {
			t.Errorf("got %+v, want EchoFunction errorString boom", fe)
		}
		invokeEcho(t, inv, `{"echo":"still works"}`)
	})

	t.Run("bad event", func(t *testing.T) {
		_, err := inv.Invoke(context.Background(), "EchoFunction", []byte(`not json`))
		var fe *FunctionError
		if !errors.As(err, &fe) {
			t.Fatalf("got error %v, want a *FunctionError", err)
		}
	})

	t.Run("bootstrap exits", func(t *testing.T) {
		_, err := inv.Invoke(context.Background(), "EchoFunction", []byte(`{"exit":true}`))
		var fe *FunctionError
		if !errors.As(err, &fe) {
			t.Fatalf("got error %v, want a *FunctionError", err)
		}
		// The broken process was replaced.
		invokeEcho(t, inv, `{"echo":"after exit"}`)
	})

	t.Run("unknown function", func(t *testing.T) {
		_, err := inv.Invoke(context.Background(), "NoSuchFunction", []byte(`{}`))
		if !errors.Is(err, ErrUnknownFunction) {
			t.Errorf("got error %v, want ErrUnknownFunction", err)
		}
	})
}

// TestRIEInvokerConcurrency proves that invocations of one function run in
// parallel processes: each waits at a barrier until all three have arrived,
// which cannot happen if RIE (one invocation at a time) were shared.
func TestRIEInvokerConcurrency(t *testing.T) {
	t.Parallel()
	const n = 3
	inv := newTestRIEInvoker(t, n)
	dir := t.TempDir()
	event := fmt.Sprintf(`{"echo":"b","barrier":{"dir":%q,"n":%d}}`, dir, n)

	var wg sync.WaitGroup
	pids := make([]int, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			out, err := inv.Invoke(context.Background(), "EchoFunction", []byte(event))
			if err != nil {
				errs[i] = err
				return
			}
			var r echoResponse
			errs[i] = json.Unmarshal(out, &r)
			pids[i] = r.PID
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("invocation %d: %v", i, err)
		}
	}
	seen := map[int]bool{}
	for _, p := range pids {
		seen[p] = true
	}
	if len(seen) != n {
		t.Errorf("got bootstrap pids %v, want %d distinct processes", pids, n)
	}
	if got := inv.Processes()["EchoFunction"]; got != n {
		t.Errorf("got %d processes, want %d", got, n)
	}
	if got := len(inv.ColdStarts()); got != n {
		t.Errorf("got %d cold starts, want %d", got, n)
	}

	// Close kills the emulators and the bootstraps they started.
	if err := inv.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for _, pid := range pids {
		poll.Until(t, fmt.Sprintf("bootstrap pid %d gone after Close", pid), func() bool { return processGone(pid) })
	}
	if _, err := inv.Invoke(context.Background(), "EchoFunction", []byte(`{}`)); err == nil {
		t.Error("got no error from Invoke after Close")
	}
}

func TestRIEInvokerCancel(t *testing.T) {
	t.Parallel()
	inv := newTestRIEInvoker(t, 1)
	first := invokeEcho(t, inv, `{"echo":"warm"}`)

	ctx, cancel := context.WithCancel(context.Background())
	dir := t.TempDir()
	done := make(chan error, 1)
	go func() {
		// Waits at a barrier nobody else reaches, until cancelled.
		_, err := inv.Invoke(ctx, "EchoFunction", []byte(fmt.Sprintf(`{"barrier":{"dir":%q,"n":2}}`, dir)))
		done <- err
	}()
	poll.Until(t, "the invocation at its barrier (a file in "+dir+")", func() bool {
		es, _ := os.ReadDir(dir)
		return len(es) > 0
	})
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("got error %v, want context.Canceled", err)
	}
	poll.Until(t, fmt.Sprintf("bootstrap pid %d of the cancelled invocation gone", first.PID), func() bool { return processGone(first.PID) })
	next := invokeEcho(t, inv, `{"echo":"fresh"}`)
	if next.PID == first.PID {
		t.Errorf("got the cancelled process %d again, want a new one", next.PID)
	}
}

// TestNewRIEInvokerErrors checks the configuration before any process
// starts, so any executable stands in for the emulator: the test binary.
func TestNewRIEInvokerErrors(t *testing.T) {
	t.Parallel()
	rie, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		cfg  RIEConfig
		want string
	}{
		{"no functions", RIEConfig{Path: rie}, "no functions"},
		{"no bootstrap", RIEConfig{Path: rie, Functions: map[string]RIEFunction{"F": {}}}, "no bootstrap"},
		{"missing bootstrap", RIEConfig{Path: rie, Functions: map[string]RIEFunction{"F": {Bootstrap: "/nonexistent/bootstrap"}}}, "no such file"},
		{"bootstrap is a directory", RIEConfig{Path: rie, Functions: map[string]RIEFunction{"F": {Bootstrap: t.TempDir()}}}, "not an executable"},
		{"missing emulator", RIEConfig{Path: "/nonexistent/aws-lambda-rie", Functions: map[string]RIEFunction{"F": {Bootstrap: rie}}}, "go install"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := NewRIEInvoker(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// processGone reports whether pid has exited (or is a zombie nobody reaps).
func processGone(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	// The state follows the parenthesised command name.
	i := strings.LastIndexByte(string(b), ')')
	return i >= 0 && len(b) > i+2 && b[i+2] == 'Z'
}

// TestRIEVersionMatchesMakefile: `make tools` installs the emulator version
// RIEInstallCommand names.
func TestRIEVersionMatchesMakefile(t *testing.T) {
	t.Parallel()
	mk, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"RIE_PACKAGE := " + RIEPackage + "\n", "RIE_VERSION := " + RIEVersion + "\n"} {
		if !strings.Contains(string(mk), want) {
			t.Errorf("Makefile has no line %q", strings.TrimSpace(want))
		}
	}
}

func TestLookRIEHonoursAWSLambdaRIE(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, env, want string
		wantNotFound    bool
	}{
		{name: "set to a file", env: self, want: self},
		{name: "set to nothing there", env: "/nonexistent/aws-lambda-rie", wantNotFound: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("AWS_LAMBDA_RIE", tt.env)
			got, err := LookRIE()
			if got != tt.want || errors.Is(err, ErrRIENotFound) != tt.wantNotFound {
				t.Errorf("LookRIE() = %q, %v; want %q, not found %v", got, err, tt.want, tt.wantNotFound)
			}
		})
	}
}
