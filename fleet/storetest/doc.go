// Package storetest is the contract test suite every fleet.Store
// implementation must pass. An implementation's own tests call Run:
//
//	func TestStore(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) fleet.Store { return newStoreForTest(t) })
//	}
//
// Run covers every method of fleet.Store and every sentence of its
// documented contract: sentinel errors, paging, expiry filtered on read,
// conditional updates (presence, newer-wins snapshots, monotonic LastSeen,
// LastSeq and Dropped), log chunk scans in both directions, command
// completion rules, refresh claims, and concurrent updates that must not
// lose one another.
//
// Requirements on the store under test:
//   - newStore may return a fresh store per call or the same shared store:
//     every subtest uses its own terminal, connection and request ids
//     (derived from the subtest name and a per-run nonce), so subtests never
//     see one another's records except in the terminal listing, which the
//     suite checks in a way that tolerates other terminals.
//   - Times are kept to at least millisecond precision. The suite uses
//     times with a millisecond part and checks expiry one millisecond either
//     side of ExpiresAt.
//   - The suite never sleeps: every method that depends on the clock takes
//     now (or at) as a parameter, and the suite passes fixed times in 2099 so
//     that a real DynamoDB table's TTL deletion never removes an item while
//     a test reads it.
package storetest
