// Package testenv decides what a test does when a tool it needs is not
// installed (dynalite, moto, aws-lambda-rie, chromium, node): with Go alone,
// `go test ./...` skips such a test with a message naming the make target
// that installs the tool; with EDGESYNC_REQUIRE_TOOLS=1, which `make test`
// and .ci/run set, the test fails instead, so CI proves everything.
package testenv

import (
	"os"
	"testing"
)

// RequireVar names the environment variable that turns a missing tool
// from a skip into a failure.
const RequireVar = "EDGESYNC_REQUIRE_TOOLS"

// Required reports whether tests must fail, not skip, when a tool is missing.
func Required() bool { return os.Getenv(RequireVar) == "1" }

// Missing ends the test because tool is not available: why says what the
// lookup found (an error's text), install how to get it (e.g. "make tools").
// It fails the test when Required, and skips it otherwise.
func Missing(t testing.TB, tool, why, install string) {
	t.Helper()
	if Required() {
		t.Fatalf("%s is needed and %s=1: %s (install: %s)", tool, RequireVar, why, install)
	}
	t.Skipf("%s not available, skipping (install: %s; set %s=1 to fail instead): %s", tool, install, RequireVar, why)
}

// MissingMain is Missing for a TestMain that could not start a tool every
// test of the package needs: it prints why and returns the exit code, 1
// when Required and 0 (the package's tests are skipped) otherwise.
func MissingMain(tool, why, install string) int {
	if Required() {
		os.Stderr.WriteString(tool + " is needed and " + RequireVar + "=1: " + why + " (install: " + install + ")\n")
		return 1
	}
	os.Stdout.WriteString("SKIP: " + tool + " not available, the tests of this package are skipped (install: " + install + "; set " + RequireVar + "=1 to fail instead): " + why + "\n")
	return 0
}
