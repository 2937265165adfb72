// Package storetest is the contract test suite every fleet.Store
// implementation must pass. An implementation's own tests call Run:
//
//	func TestStore(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) fleet.Store { return newStoreForTest(t) })
//	}
//
// Run covers every method of fleet.Store and every sentence of its
// documented contract: sentinel errors, paging (of the fleet and of one
// group), expiry filtered on read, conditional updates (presence,
// newer-wins snapshots, monotonic LastSeen, LastSeq and Dropped), log
// chunks keyed and scanned by LastSeq in both
// directions, overlapping log chunks (of chunks ending at the same LastSeq
// the one with the lowest FirstSeq remains, also when stored concurrently),
// command completion rules, refresh claims, desired configs, the audit
// trail (filters, time bounds, paging, idempotence), and concurrent updates
// that must not lose one another.
//
// Requirements on the store under test:
//   - newStore may return a fresh store per call or the same shared store:
//     every subtest uses its own terminal, connection and request ids
//     (derived from the subtest name and a per-run nonce), so subtests never
//     see one another's records except in the terminal listing and
//     fleet-wide audit queries, which the suite checks in a way that
//     tolerates other terminals and other tests' audit records (audit tests
//     use actors of their own to make fleet-wide queries exclusive).
//   - Times are kept to at least millisecond precision. The suite uses
//     times with a millisecond part and checks expiry one millisecond either
//     side of ExpiresAt.
//   - The suite never sleeps: every method that depends on the clock takes
//     now (or at) as a parameter, and the suite passes fixed times in 2099 so
//     that a real DynamoDB table's TTL deletion never removes an item while
//     a test reads it.
//
// Where the port's wording leaves room, the suite checks these readings:
//   - Terminals: a page is never empty unless the whole listing is, so the
//     page holding the last terminal returns cursor "" (not a cursor to an
//     empty page). Pages may be shorter than limit.
//   - GroupTerminals returns fewer than limit only with the last terminal
//     of the group (an empty answer ends the listing); after may name any
//     id, of the group or not; the records are current and whole; and a
//     CreateTerminal refused with ErrExists adds the existing terminal to
//     none of the groups it named.
//   - MarkOffline clears ConnectionID along with Online, so a repeated
//     MarkOffline for the same connection returns false.
//   - MarkOffline, StatusHistory and ClaimRefresh of an absent terminal may
//     return ErrNotFound or no error; no method creates a terminal record.
//   - Touch with an older time keeps LastSeen but still sets AgentVersion.
//   - PutStatus with an older snapshot keeps the stored status but still
//     appends its history sample.
//   - PutCommands never overwrites a stored command: storing one again after
//     it completed leaves it completed.
//   - ClaimRefresh: a claim recorded exactly at notBefore no longer blocks
//     ("recorded after notBefore" is strict).
//   - PutLogChunk with the same FirstSeq and LastSeq as a stored chunk
//     replaces it ("lower or equal"): the chunk stored last is the one kept,
//     StoredAt and ExpiresAt included.
//   - PutLogChunk of a chunk that is ignored (same LastSeq, higher FirstSeq)
//     still raises the terminal's Dropped: "ignored" is about the chunk, and
//     the terminal update sentence has no condition.
//   - SetDesiredConfig is unconditional: a request with an older SetAt
//     still replaces the stored one, and a zero DesiredConfig reads back as
//     zero. CreateTerminal stores Desired like Config, and Terminals lists
//     it with the rest of the record.
//   - PutAudit accepts only ids of fleet.NewAuditID's form made for the
//     record's At (13-digit Unix milliseconds equal to At's, a dash, letters
//     and digits), so that ID order is time order; anything else, a zero At
//     or a Detail that is not valid JSON is ErrInvalid and stores nothing.
//     It needs no terminal record (a denied request may name an unknown
//     terminal) and never creates one. Audit times are kept to the
//     millisecond.
//   - PutAudit of a stored ID is a no-op: the record stays as first stored
//     (an audit trail is never rewritten), even if the new content differs.
//   - Audit pages are full: every page but the last holds exactly Limit
//     records (for limits up to 1000), also with Actor and Action filters;
//     the cursor is "" with the last page, and a page is empty only when
//     nothing matches at all. Since after Until is no error, just no records.
//     A cursor is malformed (ErrInvalid) when it contains characters such as
//     spaces, '!', '%', '/' or invalid UTF-8.
//   - Large items: a log chunk of about 115 KB of entries (one API Gateway
//     message, uncompressed), scans over more than 1 MB of chunks, listings
//     of 150 terminals with limit 500, PutCommands of 30 commands and an
//     audit trail of 260 records paged with limits from 1 to 1000, so
//     implementations must page DynamoDB queries and split batch calls.
package storetest
