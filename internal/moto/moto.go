package moto

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/edgesync/edgesync/internal/localserver"
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

// Server is a running moto process listening on 127.0.0.1.
type Server = localserver.Server

// Start finds the moto_server binary, starts it on a free port and returns
// once it answers HTTP. The caller must Close the server. ctx bounds the
// start only. An error wrapping ErrNotInstalled means moto is not installed.
func Start(ctx context.Context) (*Server, error) {
	bin, err := Lookup()
	if err != nil {
		return nil, err
	}
	return localserver.Start(ctx, localserver.Program{
		Name: "moto", Binary: bin, ReadyPath: "/moto-api/", StartTimeout: startTimeout,
		Args: func(port int) []string { return []string{"--host", "127.0.0.1", "--port", strconv.Itoa(port)} },
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
//
// The client sends one request at a time to a moto server: moto handles
// requests on threads and does not make a conditional write atomic with
// its condition check, so two concurrent conditional writes to one item
// can both succeed, which DynamoDB never lets happen. Serialized, every
// request is atomic, as each single-item write is on AWS; requests still
// interleave, so the store's concurrency contracts keep their meaning.
func NewClient(endpoint string) *dynamodb.Client {
	return dynamodb.New(dynamodb.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDEDGESYNCTEST", "edgesync-test-secret", ""),
		HTTPClient:   &http.Client{Transport: oneAtATime(endpoint)},
	})
}

// serialized are the transports of the moto servers of this process, one
// per endpoint, shared by every client of that endpoint.
var serialized sync.Map // endpoint → *serialTransport

func oneAtATime(endpoint string) http.RoundTripper {
	t, _ := serialized.LoadOrStore(endpoint, &serialTransport{next: http.DefaultTransport})
	return t.(*serialTransport)
}

// serialTransport sends one request at a time and reads its answer whole
// before the next.
type serialTransport struct {
	mu   sync.Mutex
	next http.RoundTripper
}

func (s *serialTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	resp, err := s.next.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, nil
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
	if root, ok := localserver.ModuleRoot(); ok {
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
