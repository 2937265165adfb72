// Package chaostest holds the chaos test of the whole system: real agents
// stream log lines through the local stack (API Gateway emulator, the
// functions' handler code, the embedded store or DynamoDB on dynalite)
// while the test drops connections, restarts the gateway, makes the store
// throttle and fail, and kills agents mid-batch; afterwards every line
// produced must be readable over the HTTP API exactly once and in sequence
// order, or be counted as dropped by a full spool.
//
// The package has no code of its own: everything is in its tests, and
// RELIABILITY.md at the repository root says what they inject and what the
// last run counted. Run it with
//
//	go test ./chaostest -v -run Chaos
//
// and set CHAOS_SEED to replay a run's fault schedule.
package chaostest
