package dynalite

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/edgesync/edgesync/internal/localserver"
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
type Server = localserver.Server

// Start finds the dynalite binary, starts it on a free port with an
// in-memory store and instant table state changes, and returns once it
// answers HTTP. The caller must Close the server. ctx bounds the start only.
func Start(ctx context.Context) (*Server, error) {
	bin, err := findBinary()
	if err != nil {
		return nil, err
	}
	return localserver.Start(ctx, localserver.Program{
		Name: "dynalite", Binary: bin, ReadyPath: "/", StartTimeout: startTimeout,
		Args: func(port int) []string {
			return []string{"--host", "127.0.0.1", "--port", strconv.Itoa(port),
				"--createTableMs", "0", "--deleteTableMs", "0", "--updateTableMs", "0"}
		},
	})
}

// StartOnDisk is Start with the store in a LevelDB directory, dir,
// instead of memory: for data sets larger than Node's heap (the search
// benchmark's week of a fleet's logs).
func StartOnDisk(ctx context.Context, dir string) (*Server, error) {
	bin, err := findBinary()
	if err != nil {
		return nil, err
	}
	return localserver.Start(ctx, localserver.Program{
		Name: "dynalite", Binary: bin, ReadyPath: "/", StartTimeout: startTimeout,
		Args: func(port int) []string {
			return []string{"--host", "127.0.0.1", "--port", strconv.Itoa(port), "--path", dir,
				"--createTableMs", "0", "--deleteTableMs", "0", "--updateTableMs", "0"}
		},
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
	if root, ok := localserver.ModuleRoot(); ok {
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
