// Package dynamo implements fleet.Store on a single DynamoDB table.
//
// # Table
//
// The table has a string partition key "pk" and a string sort key "sk", TTL
// on the number attribute "expiresAt" (epoch seconds), and two sparse
// global secondary indexes: "terminals" (hash "tpk", range "tsk",
// KEYS_ONLY) that only terminal records populate, so listing terminals
// never reads logs, and "audit" (hash "apk", range "ask", ALL) that only
// audit records populate, so the fleet-wide audit trail is read without a
// scan. CreateTable builds exactly that, and adds an index missing from a
// table an earlier version created (template.yaml declares the same for AWS).
//
// # Items
//
//	pk          sk                            item
//	T#<id>      META                          terminal record (hot, kept small)
//	T#<id>      META#config                   last known config of the terminal
//	T#<id>      META#desired                  config an operator asked it to run
//	T#<id>      S#<at: epoch ms, 15 digits>   one status history sample
//	T#<id>      L#<LastSeq: 20 digits>        one log chunk
//	T#<id>      CMD#<requestId>               one command and its outcome
//	T#<id>      CONN#<connId>                 entry of a connection binding of the terminal
//	T#<id>      AUDIT#<auditId>               audit record naming the terminal
//	AUDIT       AUDIT#<auditId>               fleet-wide audit record (no terminal)
//	G#<group>   <terminal id>                 membership of a terminal in a group
//	C#<connId>  META                          connection binding
//	R#<id>      META                          group config rollout (id: fleet.NewAuditID's form)
//	R#<id>      W#<index: 4 digits>           one wave of the rollout: its terminals, its counters
//	R#<id>      T#<terminal id>               one terminal reached by the rollout (its target)
//	R#group#<g> <rollout id>                  entry of a rollout in its group's listing
//	R#active    <rollout id>                  entry of a rollout the scheduler visits (revision: the record's that wrote it)
//	ALERTRULE   <group> <rule id>             alert rule of a group
//	ALERT       <group> <rule id> <terminal>  alert of a rule for a terminal
//
// Numbers in sort keys are zero-padded so that string order is numeric order.
//
// Terminal record (META): tpk "terminal", tsk <id> (the GSI keys), name,
// groups (L of S, order kept), creds (L of M: id, hash B, createdAt,
// notAfter), credsVersion (N, absent is 0: SetCredentials writes creds
// only over the version it was given and raises it, so two concurrent
// credential changes never undo each other), createdAt, online (BOOL), connId, connectedAt, lastSeen,
// disconnectedAt, disconnectReason, agentVersion, lastSeq, dropped, the last
// known status (status: B, zstd primed with the agent report's keys, S in
// records written before; statusAt) and refresh claims ("refresh:<what>" = time
// of the last claimed push). Every update to the record names only the
// attributes it changes, so concurrent updates never lose one another.
// DynamoDB bills an UpdateItem by the size of the whole item, and the record
// is updated on every log chunk, status report and heartbeat, so the config
// (which can be large and changes rarely) lives in its own item, META#config
// (data S, syncedAt, version). The status stays on the record: it is small
// and a status report then costs one conditional update plus its history
// sample. A logs batch (PutLogBatch, fleet.LogBatchStore) costs the chunk
// item, with the status report riding along kept inside it as its history
// sample, and, only when the batch asks (fleet.LogBatch.Record: about one
// report a minute), one update of the record for LastSeq, Dropped, the
// status and LastSeen together. The desired config (SetDesiredConfig: data S, version, setAt,
// setBy, requestId) is likewise an item of its own, META#desired, written
// unconditionally (the last request wins) after checking that the record
// exists. Terminal reads the record, its config and its desired config with
// one Query on begins_with(sk, "META"); Terminals batch-reads all three.
// TerminalRecords and GroupTerminalRecords (fleet.TerminalRecords: what a
// fleet-wide search and the alert evaluation read of every terminal) list
// the same pages reading the records alone, one read unit per terminal
// instead of three.
//
// Status sample: at, data (S), expiresAt, expiresAtMs.
// Log chunk: firstSeq, lastSeq, entries (B: the lines in a column layout
// compressed with zstd, see chunkcodec.go; chunks written before hold gzip
// of the JSON array, protocol.CompressEntries, and still read; DynamoDB
// bills writes per 1 KB), storedAt, expiresAt, expiresAtMs, and sample (B,
// optional: the status report that rode with the lines, its time and
// expiry, zstd primed with the agent report's keys).
// Command: requestId, command, params (S), state, createdAt, deadline,
// completedAt, result (S), error, actor, expiresAt, expiresAtMs.
// Connection binding (C#<connId>) and its entry in the terminal's
// partition (CONN#<connId>), the same attributes in both: connectionId,
// terminalId, connectedAt, sourceIp, credentialId (the credential it
// authenticated with), expiresAt, expiresAtMs. PutConnection writes the
// entry first, so a binding never exists without it; TerminalConnections
// (what a revocation or a deletion ends) is one Query of the terminal's
// CONN# entries; DeleteConnection deletes the binding asking DynamoDB for
// the old item (ReturnValues ALL_OLD, which dynalite and moto honour on
// DeleteItem) and then the entry it names. DeleteTerminal deletes the
// bindings and entries of its connections, its config and desired items
// and its group memberships, and last the record (conditional on its
// existence); chunks, samples and commands expire by TTL.
//
// # Rollouts
//
// Every rollout item has a partition key starting with "R#" (the prefix
// the functions' policies allow), and rollout ids start with a digit, so
// R#<id>, R#group#<g> and R#active never meet. The record (META): group,
// config or patch (S, JSON), waveSize, waveIntervalMs, abortAbove (N),
// override (BOOL), total, waves, state, wave, waveSent, phase, phaseAt,
// nextWaveAt, waveDeadline, rollbackWaves, rolledBackWaves, reason,
// createdAt, createdBy, creatorRole, updatedAt, revision (N), writeToken.
// A wave is two items: its terminal list (WT#<index>: terminals, L of S,
// fixed when the rollout is created) and its counters (W#<index>: size,
// the counters succeeded, failed, timedOut, offline, skipped, caughtUp,
// catchUpFailed, rolledBack, rollbackFailed (N), startedAt
// (if_not_exists), finishedAt, outcome), each written with a PutItem
// conditional on absence, the list first. Every answer of a wave's
// terminals is an AddRolloutWaveCounts, one UpdateItem ADD with
// ReturnValues ALL_NEW on the counters item (concurrent additions never
// lose one another and each sees its own result); DynamoDB bills an
// update by the larger of the item's sizes before and after it, so
// keeping the list (about 20 KB for 1,000 terminals) out of that item
// makes each addition one write unit instead of one per KB of the list.
// RolloutWaves queries the W# items only; RolloutWave reads both. (A
// wave stored before the split holds its list in W#; it is read as
// before.) A target (T#): wave, state, reason, requestId, previous (S, the
// config before), previousVersion, targetVersion, sentAt, completedAt,
// deadline, catchUp, catchUpRequestId, rollback, rollbackReason,
// rollbackRequestId, revision, writeToken. Records and targets are
// replaced whole with a PutItem conditional on the revision read
// (optimistic concurrency: fleet.ErrConflict when another write came
// first); each write carries a random writeToken, so when the SDK retries
// a write whose answer was lost and finds its own item, the Store tells it
// from a concurrent writer's (which could hold the same content). The
// group entry and the active entry are written before the record; the
// active entry is deleted after an update that leaves the rollout
// inactive. Listing a group's rollouts is a Query of its entries
// (newest first) and a BatchGetItem of the records; the scheduler reads
// only R#active. Rollout items never expire.
//
// # Groups
//
// A membership item (pk G#<group>, sk the terminal id, no other
// attributes) exists for each group of each terminal, so the terminals of
// one group are a strongly consistent Query of one partition in id order:
// GroupTerminals queries after its cursor (sk > id) with a Limit of the
// page and batch-reads the records it names (the items Terminals reads), so
// a page reads a membership item and a record per terminal listed and never
// the rest of the fleet (a group-scoped user's listing). CreateTerminal
// writes the memberships (idempotent PutItems) before the conditional
// PutItem of the record, so a terminal never exists without them; a
// membership left by a CreateTerminal that failed, or that found the id
// taken, names a terminal not in that group, and GroupTerminals skips it
// after reading the record. Groups never change after creation. A table
// written before memberships existed gets them from IndexGroups (edgesync
// terminals index-groups), which writes the memberships of every terminal
// and is safe to repeat.
//
// # Audit trail
//
// Each audit record is one item that never expires (no expiresAt): in its
// terminal's partition when it names one, so a terminal's trail is one
// strongly consistent Query of that partition that never reads another
// terminal's items, else in the AUDIT partition. Every audit item carries
// apk "audit" and ask (the record id), so the "audit" index lists the whole
// trail. Attributes: at (epoch ms), actor, role, action, terminalId,
// outcome, detail (S, the JSON). Record ids are fleet.NewAuditID's
// ("<13-digit Unix ms>-<random>"), and PutAudit accepts only an id made for
// the record's At, so id order is time order: Audit reads newest first
// (ScanIndexForward false), turns Since and Until into a BETWEEN on the id,
// and continues after a cursor (the last id of the previous page) by
// bounding the range with it. Actor and Action are filter expressions;
// Audit queries on until the page is full, reading at least 100 items per
// call when a filter may drop most. PutAudit is a PutItem conditional on
// absence, so a retry keeps the record as first stored. The index's single
// partition takes about 1000 writes a second, far above any audit rate;
// fleet-wide reads are eventually consistent (a record may appear a moment
// after PutAudit returned).
//
// # Alerts
//
// Alert rules (fleet.AlertRule) are items of one partition, ALERTRULE,
// sort key "<group> <rule id>" (a group holds no space, so a group's rules
// are one BETWEEN range of the partition and the whole partition is in
// group order): ruleId, group, kind, name, minutes (N), field, op,
// threshold (S, the float exactly), createdAt, createdBy. A group holds at
// most 20 rules; the scheduler reads the whole partition every minute, the
// message function at most every 30 s per container when a batch holds
// error lines. Alerts (fleet.Alert) are items of the partition ALERT, sort
// key fleet.AlertKey.String(), "<group> <rule id> <terminal id>": group,
// ruleId, terminalId, kind, ruleName, state (open, acknowledged,
// cleared), openedAt, acknowledgedAt, acknowledgedBy, clearedAt, message,
// value (S), notified (the state last delivered to the SNS topic), and,
// once cleared, expiresAt and expiresAtMs (cleared + 7 days). There is
// one item per rule and terminal: OpenAlert is a PutItem conditional on
// no item or a cleared one (so exactly one of concurrent openers wins and
// an open or acknowledged alert is never replaced), AcknowledgeAlert an
// UpdateItem conditional on state open, ClearAlert and MarkAlertNotified
// UpdateItems conditional on openedAt (the occurrence) and the state.
// Listing a group's alerts is a strongly consistent Query of its range;
// both partitions take writes only when a rule or an alert changes, far
// below a partition's 1000 writes a second. template.yaml allows PutItem
// of ALERT to the message and scheduler functions, UpdateItem of ALERT to
// the scheduler and query functions, and PutItem and DeleteItem of
// ALERTRULE to the query function only.
//
// All times are epoch milliseconds (N); a zero time.Time is stored as an
// absent attribute. Expiring items carry expiresAt in epoch seconds, rounded
// up, for DynamoDB's TTL, and expiresAtMs with the exact expiry that reads
// compare against. DynamoDB deletes expired items lazily and dynalite never
// does, so every read drops items whose expiry is at or before now itself.
//
// # Writes and reads
//
// No transactions (dynalite has none; moto and DynamoDB do): every method is single-item
// conditional writes, or independent idempotent ones. Snapshot, LastSeen,
// LastSeq and Dropped updates are conditional on being newer (or higher);
// losing such a condition is not an error. Where a failed condition must be
// told apart from an absent item (ErrNotFound versus ErrConflict, or "older"
// versus "no such terminal"), the request asks for the old item with
// ReturnValuesOnConditionCheckFailure ALL_OLD; dynalite ignores that, so
// the Store then reads the item (moto, like DynamoDB, returns it). Log chunks are keyed by LastSeq, so a
// backward read finds every chunk ending at or below a bound; a chunk
// already stored with the same LastSeq is only replaced by one starting as
// early or earlier (which holds all its lines), or when the stored one
// has expired, so a shorter resend never hides lines. Commands are stored
// with one PutItem each, conditional on absence, so storing a command again
// never resets its outcome (BatchWriteItem has no conditions).
//
// Terminals pages the index and reads the records with BatchGetItem, which
// retries unprocessed keys with capped exponential backoff and full jitter.
// Throttling that outlasts the SDK's own retries (or the batch retries) is
// reported wrapping fleet.ErrThrottled.
//
// Reads of the base table are strongly consistent (GetItem, Query and
// BatchGetItem all ask for ConsistentRead, which BatchGetItem, like the
// others, does not do by default), so every method reads its own and
// others' completed writes; only the indexes, which cannot be read
// consistently, may briefly lag a write.
//
// An item may take 400 KB (409,600 bytes: attribute names and values,
// counted as itemSize does after the AWS developer guide). The only item
// that can grow that far is a log chunk: PutLogChunk refuses one that would
// be larger before writing anything, with fleet.ErrInvalid naming the
// sizes, which the service answers the agent with too_large, on which it
// resends the batch in halves. Splitting the chunk in the store
// would break the chunk contract (see PutLogChunk).
//
// # Emulators and AWS
//
// The Store is tested against two DynamoDB emulators, dynalite and moto
// (internal/dynalite, internal/moto; the contract suite runs on both), and
// written for DynamoDB as AWS documents it. TestEmulatorsAgainstAWSDocumentation
// checks each behaviour the Store relies on against both, and fails when
// an emulator starts or stops deviating, so this list stays true:
//
//   - ReturnValuesOnConditionCheckFailure ALL_OLD: DynamoDB and moto return
//     the old item with a failed condition; dynalite ignores the parameter,
//     so there the Store reads the item again
//     (TestFailedConditionReturnsOldItem shows which path each takes).
//   - Item size: DynamoDB refuses items over 409,600 bytes, counting strings
//     and names in UTF-8 bytes, binary in raw bytes. dynalite enforces
//     exactly that limit but counts strings in UTF-16 code units, so it
//     accepts non-ASCII items DynamoDB refuses; moto counts bytes but
//     refuses everything over 405,000 (and counts a number as its decimal
//     digits), so an item between 405,001 and 409,600 bytes fails only on
//     moto.
//   - TTL: dynalite answers DescribeTimeToLive (DISABLED) but has no
//     UpdateTimeToLive, and neither emulator deletes expired items (DynamoDB
//     does, lazily); reads filter expired items themselves.
//   - UpdateTable adding an index: dynalite refuses it on an on-demand
//     table; moto and DynamoDB add it.
//   - Transactions (TransactWriteItems): dynalite has none; the Store uses
//     none.
//   - Concurrent updates of one item: DynamoDB applies them one at a time
//     (an ADD with ReturnValues ALL_NEW returns each addition's own
//     result); dynalite serializes every request; moto does not: under
//     concurrency it may return a total twice and, rarely, let two
//     conditional writes over the same item both succeed. The tests' moto
//     client (internal/moto.NewClient) therefore sends one request at a
//     time, which gives each request the atomicity DynamoDB gives each
//     single-item write; the rollout contracts still ask only what both
//     emulators show: no addition is lost and the last sees the whole.
//   - Both emulators agree with DynamoDB on: 400 KB plus one byte of ASCII
//     refused, 300 KB of binary accepted, ConsistentRead on a global
//     secondary index refused, BatchGetItem of more than 100 keys refused,
//     and Query pages stopping at 1 MB.
//   - Not checked, as no emulator can show it: DynamoDB's indexes are
//     eventually consistent (both emulators update them with the write;
//     Terminals skips an id whose record it cannot read), and DynamoDB
//     throttles and answers BatchGetItem in part under load (tests inject
//     both).
package dynamo
