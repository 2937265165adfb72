package moto

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
// moto_server binary is.
const EnvBinary = "EDGESYNC_MOTO"

// Install says how to install moto_server, for messages.
const Install = "make tools"

// startTimeout bounds how long Start waits for moto to answer when ctx has
// no deadline of its own.
const startTimeout = 60 * time.Second

// ErrNotInstalled is returned (wrapped) by Start and Lookup when no
// moto_server binary is found; any other error from Start means moto is
// installed but did not start.
var ErrNotInstalled = errors.New("moto_server is not installed")

// Server is a running moto_server process listening on 127.0.0.1.
type Server struct {
	endpoint string
	cmd      *exec.Cmd
	exited   chan struct{} // closed when the process has been reaped
	output   *tailBuffer
	close    sync.Once
}

// Start finds the moto_server binary, starts it on a free port and returns
// once it answers HTTP. The caller must Close the server. ctx bounds the
// start only. An error wrapping ErrNotInstalled means moto is not installed.
func Start(ctx context.Context) (*Server, error) {
	bin, err := Lookup()
	if err != nil {
		return nil, err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, startTimeout)
		defer cancel()
	}
	// The free port is found by binding and releasing it, so another
	// process may grab it before moto does; try a few ports.
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
		return nil, fmt.Errorf("start moto: find a free port: %w", err)
	}
	out := &tailBuffer{max: 8 << 10}
	cmd := exec.Command(bin, "--host", "127.0.0.1", "--port", strconv.Itoa(port))
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.SysProcAttr = processAttributes()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start moto %s: %w", bin, err)
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

// waitReady polls moto's own API until it answers 200, the process exits
// or ctx ends.
func (s *Server) waitReady(ctx context.Context) error {
	client := &http.Client{Timeout: time.Second}
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.endpoint+"/moto-api/", nil)
		if err != nil {
			return fmt.Errorf("wait for moto: %w", err)
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
			return fmt.Errorf("moto exited before answering (%s); output:\n%s", s.cmd.ProcessState, s.output)
		case <-ctx.Done():
			return fmt.Errorf("wait for moto at %s: %w; output:\n%s", s.endpoint, ctx.Err(), s.output)
		case <-tick.C:
		}
	}
}

// Endpoint returns the server's base URL, e.g. "http://127.0.0.1:43121".
func (s *Server) Endpoint() string { return s.endpoint }

// Close kills the moto process group and waits for the process to exit. It
// is safe to call more than once.
func (s *Server) Close() {
	s.close.Do(func() {
		killGroup(s.cmd.Process)
		<-s.exited
	})
}

// ForTest starts a moto server for one test (or benchmark) and closes it
// when the test ends. A missing moto_server skips the test, or fails it
// under EDGESYNC_REQUIRE_TOOLS=1 (internal/testenv); any other start
// failure fails it.
func ForTest(tb testing.TB) *Server {
	tb.Helper()
	srv, err := Start(tb.Context())
	if errors.Is(err, ErrNotInstalled) {
		testenv.Missing(tb, "moto_server", err.Error(), Install)
	}
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(srv.Close)
	return srv
}

// MainStartFailed is what a TestMain returns when Start failed with err: a
// missing moto_server skips the package's tests, or fails them under
// EDGESYNC_REQUIRE_TOOLS=1 (internal/testenv); any other error is printed
// and fails them.
func MainStartFailed(err error) int {
	if errors.Is(err, ErrNotInstalled) {
		return testenv.MissingMain("moto_server", err.Error(), Install)
	}
	fmt.Fprintln(os.Stderr, err)
	return 1
}

// Client returns NewClient(endpoint) for a test, failing it when endpoint
// is empty (TestMain did not start the server).
func Client(tb testing.TB, endpoint string) *dynamodb.Client {
	tb.Helper()
	if endpoint == "" {
		tb.Fatal("moto.Client: empty endpoint (did TestMain start the server?)")
	}
	return NewClient(endpoint)
}

// NewClient returns a DynamoDB client for endpoint with static fake
// credentials and region us-east-1 (moto accepts any signature). It reads
// no environment or shared AWS config, so tests never reach AWS.
func NewClient(endpoint string) *dynamodb.Client {
	return dynamodb.New(dynamodb.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDEDGESYNCTEST", "edgesync-test-secret", ""),
	})
}

// Lookup returns the moto_server to run: $EDGESYNC_MOTO, the module's
// .venv install, or the moto_server on PATH, in that order. The error
// wraps ErrNotInstalled when there is none.
func Lookup() (string, error) {
	if p := os.Getenv(EnvBinary); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%w: %s=%s: %w; unset it or run `%s`", ErrNotInstalled, EnvBinary, p, err, Install)
		}
		return p, nil
	}
	if root, ok := moduleRoot(); ok {
		p := filepath.Join(root, ".venv", "bin", "moto_server")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	if p, err := exec.LookPath("moto_server"); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("%w: not in $%s, .venv/bin or PATH; run `%s` (it installs moto[server] into .venv)", ErrNotInstalled, EnvBinary, Install)
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
