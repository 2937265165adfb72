package fleet

import (
	"context"
	"time"
)

// Store persists terminals, connections, synced data and commands.
//
// Implementations must be safe for concurrent use. Every read filters on
// expiry itself (an item whose ExpiresAt is at or before now is treated as
// absent) because the backing store may delete expired items lazily or never.
// No method needs transactions: each is a single-item conditional write or
// a batch of independent idempotent writes.
type Store interface {
	// CreateTerminal stores a new terminal record. ErrExists if the id is taken.
	CreateTerminal(ctx context.Context, t Terminal) error
	// Terminal returns the terminal record. ErrNotFound if absent.
	Terminal(ctx context.Context, id string) (Terminal, error)
	// Terminals lists terminals in id order, at most limit, starting after
	// the opaque cursor ("" for the first page). It returns the cursor of the
	// next page, "" with the page that holds the last terminal (a page is
	// never empty unless the listing is). A malformed cursor is ErrInvalid.
	Terminals(ctx context.Context, cursor string, limit int) ([]Terminal, string, error)
	// GroupTerminals lists the terminals whose Groups hold group, in id
	// order, those with an id after `after` ("" from the first), at most
	// limit. It returns fewer than limit only when the group holds no more
	// terminals after `after`. It reads in proportion to limit, never the
	// whole fleet (stores keep an index by group, written together with the
	// terminal record). A limit below 1 is ErrInvalid.
	GroupTerminals(ctx context.Context, group, after string, limit int) ([]Terminal, error)
	// SetCredentials replaces the terminal's credentials if its stored
	// CredentialsVersion is still version, and stores version+1: the
	// caller read the terminal, changed its credentials and writes them
	// over what it read (optimistic concurrency). ErrConflict if another
	// change came first (read again and retry); ErrNotFound if absent.
	// A terminal that never had its credentials changed is at version 0.
	SetCredentials(ctx context.Context, id string, creds []Credential, version uint64) error
	// DeleteTerminal removes the terminal record, its config and desired
	// config, its group memberships and its connection bindings (with
	// their index entries), so no read finds it, no connection acts for
	// it and the id can be created again. Its log chunks, status samples
	// and commands are left to expire by their retention TTLs; its audit
	// records stay. ErrNotFound if absent.
	DeleteTerminal(ctx context.Context, id string) error

	// PutConnection records a connection binding, and an entry for it in
	// the index of its terminal's connections (TerminalConnections),
	// written first so a binding never exists without it. Idempotent.
	PutConnection(ctx context.Context, c Connection) error
	// Connection returns the binding of connID. ErrNotFound if absent or
	// expired at now.
	Connection(ctx context.Context, connID string, now time.Time) (Connection, error)
	// TerminalConnections returns the bindings of the terminal's
	// connections unexpired at now, in no particular order: what a
	// revocation or a deletion must end. It reads in proportion to the
	// terminal's connections, never the whole table.
	TerminalConnections(ctx context.Context, terminalID string, now time.Time) ([]Connection, error)
	// DeleteConnection removes the binding and its index entry.
	// Idempotent: absent is not an error.
	DeleteConnection(ctx context.Context, connID string) error

	// MarkOnline makes connID the terminal's current connection, online, with
	// ConnectedAt and LastSeen at, only if the stored ConnectedAt is absent or
	// not after at (equal applies). Otherwise a newer connection is current:
	// it returns nil and changes nothing, so a $connect that lands late never
	// displaces a later one. ErrNotFound if the terminal is absent.
	MarkOnline(ctx context.Context, id, connID string, at time.Time) error
	// MarkOffline marks the terminal offline with at and reason only if connID
	// is still its current connection; it reports whether it did. A reconnect
	// that raced ahead of a $disconnect therefore keeps the terminal online.
	// It clears ConnectionID, so repeating it reports false.
	MarkOffline(ctx context.Context, id, connID string, at time.Time, reason string) (bool, error)
	// Touch moves LastSeen forward to at (never backward) and, when non-empty,
	// sets AgentVersion (even when at is older). ErrNotFound if the terminal
	// is absent; no method ever creates a terminal record.
	Touch(ctx context.Context, id string, at time.Time, agentVersion string) error

	// PutConfig stores the terminal's reported config unless a newer one
	// (by SyncedAt) is already stored. ErrNotFound if the terminal is absent.
	PutConfig(ctx context.Context, id string, s Snapshot) error
	// PutStatus stores s as the terminal's last known status (unless a newer
	// one is stored), moves LastSeen forward to s.SyncedAt, and appends a
	// history sample expiring at expiresAt (also when s is older than the
	// stored status). ErrNotFound if the terminal is absent.
	PutStatus(ctx context.Context, id string, s Snapshot, expiresAt time.Time) error
	// StatusHistory returns unexpired samples taken after since, oldest first,
	// at most limit (the newest ones when there are more).
	StatusHistory(ctx context.Context, id string, since, now time.Time, limit int) ([]StatusSample, error)

	// PutLogChunk stores a chunk, keyed by (TerminalID, LastSeq). Storing the
	// same chunk again is a no-op in effect. A chunk with the same LastSeq as
	// a stored one replaces it only if its FirstSeq is lower or equal (it then
	// holds every line the stored one holds); otherwise it is ignored. It raises the
	// terminal's LastSeq to the chunk's LastSeq and its Dropped to dropped,
	// never lowering either.
	PutLogChunk(ctx context.Context, c LogChunk, dropped uint64) error
	// ScanLogChunks calls fn with the terminal's unexpired chunks ordered by
	// LastSeq, ascending from LastSeq >= from, or descending from
	// LastSeq <= from when desc is set (from 0 with desc means from the
	// newest). It stops when fn returns false or the chunks run out.
	ScanLogChunks(ctx context.Context, terminalID string, from uint64, desc bool, now time.Time, fn func(LogChunk) bool) error

	// PutCommands stores new pending commands. Idempotent per (TerminalID,
	// RequestID): a stored command, completed or not, is never overwritten.
	PutCommands(ctx context.Context, cmds ...Command) error
	// Command returns a stored command as stored (callers apply Effective).
	// ErrNotFound if absent or expired.
	Command(ctx context.Context, terminalID, requestID string, now time.Time) (Command, error)
	// CompleteCommand records the outcome if the command is pending and its
	// deadline is after c.At. ErrNotFound if absent; ErrConflict otherwise.
	CompleteCommand(ctx context.Context, terminalID, requestID string, c Completion) error
	// SetDesiredConfig records the config an operator asked the terminal to
	// run (unconditionally: the last request wins). ErrNotFound if the
	// terminal is absent.
	SetDesiredConfig(ctx context.Context, id string, d DesiredConfig) error

	// PutAudit stores an audit record, without expiry. Idempotent per ID.
	PutAudit(ctx context.Context, r AuditRecord) error
	// Audit returns records matching q, newest first (by ID), at most
	// q.Limit, and the cursor of the next page ("" after the last page).
	// ErrInvalid for a limit below 1 or a malformed cursor. Records of one
	// terminal are found without reading other terminals' records.
	Audit(ctx context.Context, q AuditQuery) ([]AuditRecord, string, error)

	// AlertStore holds alert rules and alerts (alerts.go).
	AlertStore
	// TerminalRecords lists terminal records without their documents
	// (search.go).
	TerminalRecords

	// ClaimRefresh records that a refresh of what ("config", "status", "logs")
	// was pushed at, if none was recorded strictly after notBefore; it reports
	// whether the caller won the claim. It bounds refresh pushes to one per
	// window. Exactly one of concurrent callers wins.
	ClaimRefresh(ctx context.Context, id, what string, at, notBefore time.Time) (bool, error)
}

// LogBatch is what a logs message asks the store to keep: its lines, the
// terminal's dropped count, and the status report riding along.
type LogBatch struct {
	Chunk   LogChunk
	Dropped uint64
	// Status, when set, is the report the message carried. It is kept as
	// a history sample expiring at StatusExpiresAt (StatusHistory returns
	// it); a store may keep it in the chunk item (LogChunk.Status), and
	// with Record may leave it out of the history when keeping it would
	// cost a write of its own (the record holds it).
	Status          *Snapshot
	StatusExpiresAt time.Time
	// Record asks that the terminal record follow the batch: LastSeq and
	// Dropped raised, and Status (when set) stored as the last known status
	// (unless a newer one is) with LastSeen moved to its time. Without it
	// a store may leave the record as it is, so LastSeq, Dropped, the
	// status and LastSeen on the record may lag the newest chunks:
	// readers that need them current look at the newest chunks too.
	Record bool
}

// LogBatchStore is a Store that stores a logs message in fewer writes than
// PutLogChunk and PutStatus apart (the DynamoDB store writes the chunk,
// with the status sample in it, and the terminal record only when the
// batch asks). The service uses it when its store has it; a wrapper
// embedding a Store hides it, and the service then calls PutLogChunk and
// PutStatus.
type LogBatchStore interface {
	Store
	// PutLogBatch stores b.Chunk as PutLogChunk does (the same
	// replacement rules), keeps b.Status as a sample, and brings the
	// terminal record up to date when b.Record is set (see LogBatch).
	// ErrNotFound if the terminal is absent (when the store reads the
	// record), ErrInvalid for a bad chunk or status time.
	PutLogBatch(ctx context.Context, b LogBatch) error
}

// LogRangeStore is a Store that can list its chunks' sequence ranges
// without reading their lines (the DynamoDB store projects them); the
// service uses it to find what is stored when a terminal asks for an
// acknowledgement, and ScanLogChunks otherwise.
type LogRangeStore interface {
	Store
	// ScanLogRanges calls fn with the FirstSeq and LastSeq of the
	// terminal's unexpired chunks in ascending LastSeq order from
	// LastSeq >= from, until fn returns false or the chunks run out.
	ScanLogRanges(ctx context.Context, terminalID string, from uint64, now time.Time, fn func(first, last uint64) bool) error
}

// Pusher sends a message to a connected terminal.
type Pusher interface {
	// Push delivers msg to the connection. It returns ErrGone when the
	// connection no longer exists. Safe for concurrent use.
	Push(ctx context.Context, connID string, msg []byte) error
}

// ConnectionCloser closes connections: API Gateway's DELETE
// @connections/{id} (infra/apigw.Pusher implements it). When the service's
// Pusher also implements it, the connections of a revoked credential or a
// deleted terminal are closed at once, and so is a connection that sends
// a message after its binding is gone; otherwise they are refused at their
// next message (their bindings are deleted first either way).
type ConnectionCloser interface {
	// Close closes the connection connID. A connection that no longer
	// exists is not an error. Safe for concurrent use.
	Close(ctx context.Context, connID string) error
}

// RolloutStore persists group config rollouts (rollouts.go): the rollout
// records, their waves (each wave's terminals fixed when the rollout is
// created, and its counters) and one target per terminal reached (its
// outcome and the config it had before). A Store that is also a
// RolloutStore gives the service rollouts; a wrapper embedding a Store
// hides it, and rollouts are then refused.
//
// Like Store, implementations are safe for concurrent use and need no
// transactions: records and targets change by optimistic concurrency
// (a write over the Revision read, ErrConflict when another came first),
// wave counters by atomic additions.
type RolloutStore interface {
	// CreateRollout stores a new rollout at Revision 1, with its entry in
	// its group's listing and, when r.State is active (RolloutState.Active),
	// in the list of active rollouts; the entries are written first, so a
	// record never exists without them. ErrExists if the id is taken.
	CreateRollout(ctx context.Context, r Rollout) error
	// Rollout returns the rollout. ErrNotFound if absent.
	Rollout(ctx context.Context, id string) (Rollout, error)
	// UpdateRollout replaces the rollout if its stored Revision is still
	// r.Revision, and stores r.Revision+1. It keeps the list of active
	// rollouts in step: an entry is written before the record when r is
	// active, deleted after it when not. ErrConflict if another update came
	// first (read again and decide again); ErrNotFound if absent.
	UpdateRollout(ctx context.Context, r Rollout) error
	// GroupRollouts lists the group's rollouts newest first (by id, which
	// NewAuditID makes time-ordered), those with an id before cursor (""
	// for the first page), at most limit (at least 1), and returns the
	// cursor of the next page ("" with the last). It reads in proportion
	// to limit. ErrInvalid for a malformed cursor or a limit below 1.
	GroupRollouts(ctx context.Context, group, cursor string, limit int) ([]Rollout, string, error)
	// ActiveRollouts returns the ids of the rollouts listed as active, in id
	// order, at most limit after the id after ("" from the first). It
	// reads in proportion to the active rollouts, never the whole table.
	ActiveRollouts(ctx context.Context, after string, limit int) ([]string, error)

	// PutRolloutWaves stores waves that are not stored yet, each with its
	// terminals (Size is their number, whatever the caller set); a stored
	// wave (same RolloutID and Index) is left as it is. Idempotent.
	PutRolloutWaves(ctx context.Context, waves ...RolloutWave) error
	// RolloutWave returns one wave with its terminals. ErrNotFound if
	// absent.
	RolloutWave(ctx context.Context, rolloutID string, index int) (RolloutWave, error)
	// RolloutWaves returns the rollout's waves in index order, without
	// their terminals (Terminals nil, Size set): it reads in proportion
	// to the waves, not to their terminals.
	RolloutWaves(ctx context.Context, rolloutID string) ([]RolloutWave, error)
	// AddRolloutWaveCounts adds delta to the wave's counters atomically
	// (concurrent additions never lose one another) and returns the wave
	// as it is after the addition, without its terminals (Terminals nil,
	// Size set). Every answer of a wave's terminals is one addition, so
	// its cost does not grow with the wave: the counters are stored apart
	// from the terminal list (in DynamoDB an update is billed by the size
	// of the item it changes). ErrNotFound if the wave is absent (no wave
	// is ever created by an addition). Not idempotent: a retry after a
	// lost reply adds twice, and a sender that dies before adding loses
	// its delta. The counters are progress as shown and a hint that a
	// wave may be complete; deciding a wave recounts it from its targets
	// (evaluateWave, MarkRolloutWave), so neither error changes an
	// outcome, only when it is reached (the deadline at worst). CaughtUp
	// and RolledBack are never recounted and may read high after a retry.
	AddRolloutWaveCounts(ctx context.Context, rolloutID string, index int, delta WaveCounts) (RolloutWave, error)
	// MarkRolloutWave records a wave's progress: StartedAt when started is
	// not zero and none is stored; when finished is not zero, FinishedAt,
	// Outcome and the outcome counters of counts (Succeeded, Failed,
	// TimedOut, Offline, Skipped; the catch-up and rollback counters are
	// left alone). ErrNotFound if the wave is absent.
	MarkRolloutWave(ctx context.Context, rolloutID string, index int, started, finished time.Time, outcome string, counts WaveCounts) error

	// PutRolloutTarget stores a new target at Revision 1 and reports
	// whether it did: false, and no change, if the rollout already has a
	// target for that terminal.
	PutRolloutTarget(ctx context.Context, t RolloutTarget) (bool, error)
	// RolloutTarget returns the rollout's target for a terminal.
	// ErrNotFound if absent.
	RolloutTarget(ctx context.Context, rolloutID, terminalID string) (RolloutTarget, error)
	// RolloutTargets returns the rollout's targets for the terminals named,
	// in the order named, each once; terminals without a target are left
	// out. It reads in proportion to the terminals named.
	RolloutTargets(ctx context.Context, rolloutID string, terminalIDs []string) ([]RolloutTarget, error)
	// UpdateRolloutTarget replaces the target if its stored Revision is
	// still t.Revision, and stores t.Revision+1. ErrConflict if another
	// update came first; ErrNotFound if absent.
	UpdateRolloutTarget(ctx context.Context, t RolloutTarget) error
}
