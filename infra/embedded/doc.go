// Package embedded is a persistent fleet.Store in one local file, built on
// go.etcd.io/bbolt (pure Go, no server). The local stack uses it by default,
// so running edgesync needs no cloud account and no Docker.
//
// It keeps the same semantics as the DynamoDB store (infra/dynamo),
// including TTL: every read filters on ExpiresAt itself, and expired items
// stay in the file until Sweep deletes them, as DynamoDB's TTL deletion
// would. Each method runs in one bbolt transaction, so conditional updates
// are atomic and the store is safe for concurrent use. bbolt locks the file:
// only one process may have it open at a time.
//
// Layout: top-level buckets "terminals" (key terminal id) and "connections"
// (key connection id) hold JSON records; "status", "logs" and "commands"
// hold one nested bucket per terminal id, keyed by sample time (big-endian
// seconds and nanoseconds), log chunk LastSeq (big-endian) and request id,
// so ordered scans are cursor walks and one terminal's keys never mix with
// another's. A "meta" bucket records the format version ("2" since log
// chunks are keyed by LastSeq); Open refuses a file of another version.
package embedded
