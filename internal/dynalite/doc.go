// Package dynalite starts a real dynalite process (a DynamoDB wire-protocol
// server on an in-memory LevelDB) for tests, and builds AWS SDK clients that
// talk to it.
//
// The binary is looked up in this order: the path in $EDGESYNC_DYNALITE,
// <module root>/tools/node_modules/.bin/dynalite, then "dynalite" on PATH.
// Install it with `npm ci --prefix tools`. Tables turn ACTIVE (or go away)
// on the server's next tick (--createTableMs 0 and friends), though a
// client must still wait for ACTIVE as on AWS; nothing is written to disk.
//
// Starting node takes a noticeable fraction of a second, so a package that tests against
// dynalite shares one server per test binary, started in TestMain; every
// test then uses its own table (or its own keys) on it:
//
//	var endpoint string
//
//	func TestMain(m *testing.M) { os.Exit(run(m)) }
//
//	func run(m *testing.M) int {
//		srv, err := dynalite.Start(context.Background())
//		if err != nil {
//			fmt.Fprintln(os.Stderr, err) // says how to install dynalite
//			return 1
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
// A single test that needs a server of its own uses ForTest, which closes
// the server when the test ends.
package dynalite
