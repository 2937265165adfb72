package gateway

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/edgesync/edgesync/internal/testenv"
)

var (
	buildDir   string
	echoFnOnce sync.Once
	echoFnPath string
	echoFnErr  error
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "gateway-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "create temp dir:", err)
		os.Exit(1)
	}
	buildDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// echoFnBootstrap builds testdata/echofn once per test run and returns the
// path of its bootstrap binary.
func echoFnBootstrap(t *testing.T) string {
	t.Helper()
	echoFnOnce.Do(func() {
		out := filepath.Join(buildDir, "echofn", "bootstrap")
		cmd := exec.Command("go", "build", "-o", out, "./testdata/echofn")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if b, err := cmd.CombinedOutput(); err != nil {
			echoFnErr = fmt.Errorf("go build ./testdata/echofn: %v\n%s", err, b)
			return
		}
		echoFnPath = out
	})
	if echoFnErr != nil {
		t.Fatalf("build the test function: %v", echoFnErr)
	}
	return echoFnPath
}

// riePath finds aws-lambda-rie for the RIEInvoker tests, which run the real
// emulator; without it the test skips (or fails under
// EDGESYNC_REQUIRE_TOOLS=1) through testenv.Missing.
func riePath(t *testing.T) string {
	t.Helper()
	p, err := LookRIE()
	if err != nil {
		if !errors.Is(err, ErrRIENotFound) {
			t.Fatal(err)
		}
		testenv.Missing(t, "aws-lambda-rie", err.Error(), "make tools")
	}
	return p
}
