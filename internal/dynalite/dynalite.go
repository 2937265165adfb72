package dynalite

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/edgesync/edgesync/internal/testenv"
)

// EnvBinary names the environment variable that overrides where the
// dynalite binary is.
const EnvBinary = "EDGESYNC_DYNALITE"

// Install says how to install dynalite (and the Node.js it runs on): the
// make target of the repository.
const Install = "make tools"

// ErrNotInstalled is returned (wrapped) by Start when no dynalite binary
// or no node to run it is found; any other error means dynalite is
// installed but did not start.
var ErrNotInstalled = errors.New("dynalite is not installed")

// startTimeout bounds how long Start waits for dynalite to answer when ctx
// has no deadline of its own.
const startTimeout = 30 * time.Second

// Server is a running dynalite process listening on 127.0.0.1.
type Server struct {
	endpoint string
	cmd      *exec.Cmd
	exited   chan struct{} // closed when the process has been reaped
	output   *tailBuffer
	close    sync.Once
}

// Start finds the dynalite binary, starts it on a free port with an
// in-memory store and instant table state changes, and returns once it
// answers HTTP. The caller must Close the server. ctx bounds the start only.
func Start(ctx context.Context) (*Server, error) {
	bin, err := findBinary()
	if err != nil {
		return nil, err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, startTimeout)
		defer cancel()
	}
	// The free port is found by binding and releasing it, so another
	// process may grab it before dynalite does; try a few ports.
	var lastErr error
	for range 3 {
		srv, err := startOn(ctx, bin)
		if err == nil {
			return srv, nil
		}
		lastErr = err
		if ctx.Err() != nil {
			break
		}
	}
	return nil, lastErr
}

func startOn(ctx context.Context, bin string) (*Server, error) {
	port, err := freePort()
	if err != nil {
		return nil, fmt.Errorf("start dynalite: find a free port: %w", err)
	}
	out := &tailBuffer{max: 8 << 10}
	cmd := exec.Command(bin,
		"--host", "127.0.0.1",
		"--port", strconv.Itoa(port),
		"--createTableMs", "0",
		"--deleteTableMs", "0",
		"--updateTableMs", "0",
	)
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.SysProcAttr = processAttributes()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start dynalite %s: %w", bin, err)
	}
	s := &Server{
		endpoint: "http://127.0.0.1:" + strconv.Itoa(port),
		cmd:      cmd,
		exited:   make(chan struct{}),
		output:   out,
	}
	go func() {
		_ = cmd.Wait()
		close(s.exited)
	}()
	if err := s.waitReady(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// waitReady polls the health endpoint until it answers 200, the process
// exits or ctx ends.
func (s *Server) waitReady(ctx context.Context) error {
	client := &http.Client{Timeout: time.Second}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.endpoint+"/", nil)
		if err != nil {
			return fmt.Errorf("wait for dynalite: %w", err)
		}
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-s.exited:
			return fmt.Errorf("dynalite exited before answering (%s); output:\n%s", s.cmd.ProcessState, s.output)
		case <-ctx.Done():
			return fmt.Errorf("wait for dynalite at %s: %w; output:\n%s", s.endpoint, ctx.Err(), s.output)
		case <-tick.C:
		}
	}
}

// Endpoint returns the server's base URL, e.g. "http://127.0.0.1:43121".
func (s *Server) Endpoint() string { return s.endpoint }

// Close kills the dynalite process group and waits for the process to
// exit. It is safe to call more than once.
func (s *Server) Close() {
	s.close.Do(func() {
		killGroup(s.cmd.Process)
		<-s.exited
	})
}

// ForTest starts a dynalite server for one test (or benchmark) and closes
// it when the test ends. When dynalite is not installed it ends the test
// through testenv.Missing: a skip that names the make target, or a failure
// under EDGESYNC_REQUIRE_TOOLS=1. Any other start error fails the test.
func ForTest(tb testing.TB) *Server {
	tb.Helper()
	srv, err := Start(tb.Context())
	if errors.Is(err, ErrNotInstalled) {
		testenv.Missing(tb, "dynalite", err.Error(), Install)
	}
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(srv.Close)
	return srv
}

// MainStartFailed is for a TestMain whose Start returned err: it reports
// err and returns the exit code for the test binary. When dynalite is not
// installed that is testenv.MissingMain's: 0, the package's tests skipped
// with a message naming the make target, or 1 under
// EDGESYNC_REQUIRE_TOOLS=1. Any other start error is 1.
func MainStartFailed(err error) int {
	if errors.Is(err, ErrNotInstalled) {
		return testenv.MissingMain("dynalite", err.Error(), Install)
	}
	fmt.Fprintln(os.Stderr, err)
	return 1
}

// Client returns NewClient(endpoint) for a test, failing it when endpoint
// is empty (TestMain did not start the server).
func Client(tb testing.TB, endpoint string) *dynamodb.Client {
	tb.Helper()
	if endpoint == "" {
		tb.Fatal("dynalite.Client: empty endpoint (did TestMain start the server?)")
	}
	return NewClient(endpoint)
}

// NewClient returns a DynamoDB client for endpoint with static fake
// credentials and region us-east-1 (dynalite accepts any signature). It
// reads no environment or shared AWS config, so tests never reach AWS.
func NewClient(endpoint string) *dynamodb.Client {
	return dynamodb.New(dynamodb.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDEDGESYNCTEST", "edgesync-test-secret", ""),
	})
}

// findBinary returns $EDGESYNC_DYNALITE, the module's tools install, or the
// dynalite on PATH, in that order, provided node is on PATH to run it.
func findBinary() (string, error) {
	bin, err := lookBinary()
	if err != nil {
		return "", err
	}
	// dynalite is a Node.js script (#!/usr/bin/env node): without node it
	// would exit at once with a message only the shell understands.
	if _, err := exec.LookPath("node"); err != nil {
		return "", fmt.Errorf("%w: found %s but no node on PATH to run it (install Node.js, or run `%s`)", ErrNotInstalled, bin, Install)
	}
	return bin, nil
}

func lookBinary() (string, error) {
	if p := os.Getenv(EnvBinary); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%w: %s=%s: %w; unset it or run `%s`", ErrNotInstalled, EnvBinary, p, err, Install)
		}
		return p, nil
	}
	if root, ok := moduleRoot(); ok {
		p := filepath.Join(root, "tools", "node_modules", ".bin", "dynalite")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	if p, err := exec.LookPath("dynalite"); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("%w: not in $%s, tools/node_modules/.bin or PATH; run `%s`", ErrNotInstalled, EnvBinary, Install)
}

// moduleRoot walks up from the working directory (a test's package
// directory), then from this source file, to the directory holding go.mod.
func moduleRoot() (string, bool) {
	var starts []string
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		starts = append(starts, filepath.Dir(file))
	}
	for _, dir := range starts {
		for {
			if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
				return dir, true
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				break
			}
			dir = parent
		}
	}
	return "", false
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// tailBuffer keeps the last max bytes written to it; safe for concurrent use.
type tailBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	max int
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Write(p)
	if over := b.buf.Len() - b.max; over > 0 {
		b.buf.Next(over)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
