// Package dynalite starts a real dynalite process (a DynamoDB wire-protocol
// server on an in-memory LevelDB) for tests, and builds AWS SDK clients that
// talk to it.
//
// The binary is looked up in this order: the path in $EDGESYNC_DYNALITE,
// <module root>/tools/node_modules/.bin/dynalite, then "dynalite" on PATH;
// node must be on PATH to run it. `make tools` installs it (npm ci --prefix
// tools). Tables turn ACTIVE (or go away) on the server's next tick
// (--createTableMs 0 and friends), though a client must still wait for
// ACTIVE as on AWS; nothing is written to disk.
//
// # Tests without dynalite
//
// dynalite is a tool, not a Go dependency, so a clone with Go alone does not
// have it. Tests then follow internal/testenv: when Start finds no dynalite
// (errors.Is(err, ErrNotInstalled)), ForTest skips the test with a message
// naming the make target, and MainStartFailed has a TestMain skip the whole
// package; with EDGESYNC_REQUIRE_TOOLS=1 (make test, .ci/run) both fail
// instead. A dynalite that is installed but does not start always fails.
//
// # One server per package
//
// Starting node takes a noticeable fraction of a second, so a package that
// tests against dynalite shares one server per test binary, started in
// TestMain; every test then uses its own table (or its own keys) on it:
//
//	var endpoint string
//
//	func TestMain(m *testing.M) { os.Exit(run(m)) }
//
//	func run(m *testing.M) int {
//		srv, err := dynalite.Start(context.Background())
//		if err != nil {
//			return dynalite.MainStartFailed(err) // skips the package if dynalite is not installed
//		}
//		defer srv.Close() // os.Exit skips defers, hence run
//		endpoint = srv.Endpoint()
//		// Shared setup, e.g. a table: dynalite.NewClient(endpoint).
//		return m.Run()
//	}
//
//	func TestSomething(t *testing.T) {
//		client := dynalite.Client(t, endpoint)
//		...
//	}
//
// A package whose tests mostly need no DynamoDB should not skip them all:
// its DynamoDB tests call ForTest instead, each starting a server of its
// own that is closed when the test ends.
package dynalite
