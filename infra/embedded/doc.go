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
// Writes: bbolt commits one write transaction at a time, each with its
// own fdatasync. The writes of the message path (connections, presence,
// status, config, log chunks, commands) share a transaction with the
// writes running at the same time (bolt.DB.Batch, gathering for up to
// 2 ms; a write alone commits at once), which under load turns one
// commit per write into one per batch; each still returns only once
// committed. A logs message with its status is one transaction
// (PutLogBatch, fleet.LogBatchStore). The rest (terminals,
// credentials, audit records, rollouts) commits alone.
//
// Layout: top-level buckets "terminals" (key terminal id) and "connections"
// (key connection id) hold JSON records; "status", "logs" and "commands"
// hold one nested bucket per terminal id, keyed by sample time (big-endian
// seconds and nanoseconds), log chunk LastSeq (big-endian) and request id,
// so ordered scans are cursor walks and one terminal's keys never mix with
// another's. A terminal's desired config (SetDesiredConfig) is part of its
// record. Audit records never expire: "audit" holds them all, keyed by ID
// (fleet.NewAuditID ids sort by time, so the newest-first walk is a
// backward cursor walk and Since/Until become key bounds), and
// "auditByTerminal" holds one nested bucket per terminal id with the IDs
// of that terminal's records, so a terminal's trail is read without
// touching other terminals' records. "terminalsByGroup" holds one nested
// bucket per group with the ids of its terminals, written in the
// transaction that creates the terminal, so GroupTerminals walks one
// group's ids in order and reads only their records.
// "connectionsByTerminal" holds one nested bucket per terminal id with the
// ids of its connections, written in the transaction that writes the
// binding, so TerminalConnections reads one terminal's bindings only;
// Sweep drops entries whose binding it deleted. A terminal record keeps
// a credentials version (SetCredentials writes only over the version it
// is given). DeleteTerminal removes the record, its group and connection
// index entries and its bindings in one transaction. Group config
// rollouts (fleet.RolloutStore) live in "rollouts" (records by id),
// "rolloutWaves" and "rolloutTargets" (a nested bucket per rollout, keyed
// by big-endian wave index and by terminal id), "rolloutsByGroup" (a
// nested bucket per group with its rollouts' ids) and "activeRollouts"
// (the ids of the active ones); records and targets carry a revision
// compared in the writing transaction; they never expire. Alert rules
// live in "alertRules" keyed by "<group> <rule id>" and alerts in
// "alerts" keyed by fleet.AlertKey.String(), so a group's are a prefix
// walk; each alert change is one transaction (its condition a check
// inside it), and Sweep deletes cleared alerts past their expiry. A
// "meta" bucket records the format version ("2" since log chunks are
// keyed by LastSeq; the audit buckets, the desired config, the group
// index, the connection index, the credentials version, the rollout
// buckets and the alert buckets were added
// compatibly: Open creates missing buckets, and indexes the stored
// terminals when it creates the group index); Open refuses a file of
// another version.
package embedded
