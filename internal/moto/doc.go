// Package moto starts a real moto server (moto_server from PyPI's
// moto[server]: AWS service emulators in one Python web server) for tests
// and builds AWS SDK clients that talk to its DynamoDB. It is the second,
// independent DynamoDB the store is tested against besides dynalite: moto
// implements ReturnValuesOnConditionCheckFailure and transactions, which
// dynalite ignores or lacks.
//
// The binary is looked up in this order: the path in $EDGESYNC_MOTO,
// <module root>/.venv/bin/moto_server (what `make tools` installs, pinned),
// then "moto_server" on PATH. The server keeps everything in memory and
// creates tables ACTIVE at once; a client must still wait for ACTIVE as on
// AWS.
//
// Starting Python takes a noticeable fraction of a second, so a package
// that tests against moto shares one server per test binary, started in
// TestMain (see internal/dynalite for the pattern; a TestMain whose Start
// failed returns MainStartFailed), or starts one for a single test with
// ForTest. Both go through internal/testenv: with Go alone a missing
// moto_server skips the tests naming `make tools`; with
// EDGESYNC_REQUIRE_TOOLS=1 it fails them.
package moto
