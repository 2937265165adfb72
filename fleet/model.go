package fleet

import (
	"encoding/json"
	"errors"
	"time"

	"github.com/edgesync/edgesync/protocol"
)

// Errors returned by Store implementations and Service methods. Callers
// test for them with errors.Is; wrapped errors carry detail.
var (
	// ErrNotFound: the terminal, connection or command does not exist (or has expired).
	ErrNotFound = errors.New("not found")
	// ErrExists: creating something that already exists.
	ErrExists = errors.New("already exists")
	// ErrConflict: a conditional change lost, e.g. completing a command that
	// is no longer pending, or changing credentials another change changed
	// first (Terminal.CredentialsVersion).
	ErrConflict = errors.New("conflict")
	// ErrUnauthenticated: no credential was presented.
	ErrUnauthenticated = errors.New("unauthenticated")
	// ErrForbidden: the credential is wrong, revoked or expired, or the caller
	// may not act on that terminal.
	ErrForbidden = errors.New("forbidden")
	// ErrInvalid: a request parameter is malformed; the wrapping error says which.
	ErrInvalid = errors.New("invalid")
	// ErrGone: the connection no longer exists at API Gateway (HTTP 410).
	ErrGone = errors.New("connection gone")
	// ErrOffline: the terminal has no live connection to push a command to.
	ErrOffline = errors.New("terminal offline")
	// ErrThrottled: the store refused for capacity; retry later.
	ErrThrottled = errors.New("throttled")
)

// Terminal is the durable record of one detecting terminal.
type Terminal struct {
	ID          string       `json:"id"`
	Name        string       `json:"name,omitempty"`
	Groups      []string     `json:"groups,omitempty"`
	Credentials []Credential `json:"-"`
	// CredentialsVersion counts the changes of Credentials: a store writes
	// credentials only over the version they were read at
	// (Store.SetCredentials), so concurrent changes never undo each other.
	CredentialsVersion uint64    `json:"-"`
	CreatedAt          time.Time `json:"createdAt"`

	// Presence. Online and ConnectionID change together in MarkOnline and MarkOffline.
	Online           bool      `json:"online"`
	ConnectionID     string    `json:"-"`
	ConnectedAt      time.Time `json:"connectedAt,omitzero"`
	LastSeen         time.Time `json:"lastSeen,omitzero"`
	DisconnectedAt   time.Time `json:"disconnectedAt,omitzero"`
	DisconnectReason string    `json:"disconnectReason,omitempty"`
	AgentVersion     string    `json:"agentVersion,omitempty"`

	// LastSeq is the highest log sequence number stored for the terminal.
	LastSeq uint64 `json:"lastSeq"`
	// Dropped is the terminal's reported count of log lines its spool dropped.
	Dropped uint64 `json:"dropped"`

	// Config and Status are the last known values ("database" copies),
	// never expired; their freshness derives from SyncedAt.
	Config Snapshot `json:"-"`
	Status Snapshot `json:"-"`
	// Desired is the config an operator last asked the terminal to run;
	// zero if none was ever set.
	Desired DesiredConfig `json:"-"`
}

// DesiredConfig is a config an operator asked a terminal to run, sent with
// the set_config command RequestID.
type DesiredConfig struct {
	Data      json.RawMessage `json:"data,omitempty"`
	Version   string          `json:"version,omitempty"`
	SetAt     time.Time       `json:"setAt,omitzero"`
	SetBy     string          `json:"setBy,omitempty"`
	RequestID string          `json:"requestId,omitempty"`
}

// AuditRecord is one entry of the audit trail: a config change, a command,
// a credential operation or a denied request. Audit records never expire.
type AuditRecord struct {
	// ID is unique and orders records by time: see NewAuditID.
	ID     string    `json:"id"`
	At     time.Time `json:"at"`
	Actor  string    `json:"actor"`
	Role   string    `json:"role,omitempty"`
	Action string    `json:"action"`
	// TerminalID is the terminal acted on; empty for fleet-wide actions.
	TerminalID string `json:"terminalId,omitempty"`
	// Outcome is "requested" (written before the action), "failed" (after
	// an action that failed) or "denied" (a refused request).
	Outcome string `json:"outcome"`
	// Detail is action-specific JSON (a config diff, a command's name and
	// parameters, the denied method and path), secrets masked.
	Detail json.RawMessage `json:"detail,omitempty"`
}

// AuditQuery selects audit records, newest first.
type AuditQuery struct {
	// TerminalID keeps one terminal's records ("" for all).
	TerminalID string
	// Actor and Action keep records with exactly that actor or action.
	Actor  string
	Action string
	// Since and Until bound At (inclusive since, exclusive until); zero is open.
	Since, Until time.Time
	// Cursor continues a previous page ("" for the first).
	Cursor string
	// Limit is the page size, at least 1.
	Limit int
}

// Credential is one accepted terminal token, kept only as a SHA-256 hash.
type Credential struct {
	ID        string    `json:"id"`
	Hash      []byte    `json:"-"`
	CreatedAt time.Time `json:"createdAt"`
	// NotAfter, when set, is when the credential stops being accepted
	// (rotation overlap, revocation).
	NotAfter time.Time `json:"notAfter,omitzero"`
}

// Snapshot is a synced JSON document (config or status) and when it was synced.
type Snapshot struct {
	Data     json.RawMessage `json:"data,omitempty"`
	SyncedAt time.Time       `json:"syncedAt,omitzero"`
	// Version identifies a config version; empty for status.
	Version string `json:"version,omitempty"`
}

// Connection binds an API Gateway connection id to the terminal that
// authenticated on it. It is immutable once written; a message is accepted
// on the connection only while its binding exists and has not expired.
type Connection struct {
	ID          string    `json:"id"`
	TerminalID  string    `json:"terminalId"`
	ConnectedAt time.Time `json:"connectedAt"`
	SourceIP    string    `json:"sourceIp,omitempty"`
	// CredentialID is the credential the terminal authenticated with:
	// revoking it ends the connection.
	CredentialID string `json:"credentialId,omitempty"`
	// ExpiresAt is the binding's end and the record's TTL: ConnectionTTL
	// after connecting (API Gateway closes every connection after two
	// hours, so a record past it is dead even if $disconnect was lost), or
	// the end of the credential it authenticated with when that is sooner.
	ExpiresAt time.Time `json:"expiresAt"`
}

// LogChunk is one stored batch of consecutive log lines of a terminal.
// Chunks may overlap when a terminal resends lines; readers deduplicate.
type LogChunk struct {
	TerminalID string              `json:"terminalId"`
	FirstSeq   uint64              `json:"firstSeq"`
	LastSeq    uint64              `json:"lastSeq"`
	Entries    []protocol.LogEntry `json:"entries"`
	StoredAt   time.Time           `json:"storedAt"`
	// ExpiresAt is the retention TTL of the chunk.
	ExpiresAt time.Time `json:"expiresAt"`
	// Status is the status report that rode in with the lines (see
	// LogBatch), as a history sample; nil if none did or the store keeps
	// samples apart.
	Status *StatusSample `json:"status,omitempty"`
}

// StatusSample is one entry of a terminal's status history.
type StatusSample struct {
	At        time.Time       `json:"at"`
	Data      json.RawMessage `json:"data"`
	ExpiresAt time.Time       `json:"-"`
}

// CommandState is the outcome of a command.
type CommandState string

// Command states. A pending command past its deadline reads as TimedOut.
const (
	CommandPending   CommandState = "pending"
	CommandSucceeded CommandState = "succeeded"
	CommandFailed    CommandState = "failed"
	CommandTimedOut  CommandState = "timed_out"
)

// Command is a command sent to a terminal and its outcome.
type Command struct {
	TerminalID  string          `json:"terminalId"`
	RequestID   string          `json:"requestId"`
	Name        string          `json:"command"`
	Params      json.RawMessage `json:"params,omitempty"`
	State       CommandState    `json:"state"`
	CreatedAt   time.Time       `json:"createdAt"`
	Deadline    time.Time       `json:"deadline"`
	CompletedAt time.Time       `json:"completedAt,omitzero"`
	Result      json.RawMessage `json:"result,omitempty"`
	Error       string          `json:"error,omitempty"`
	// Actor says who asked: "system:hello", "system:refresh" or a user.
	Actor string `json:"actor,omitempty"`
	// ExpiresAt is the record's retention TTL.
	ExpiresAt time.Time `json:"-"`
}

// Effective returns the command as a reader should see it at now: a pending
// command past its deadline is TimedOut.
func (c Command) Effective(now time.Time) Command {
	if c.State == CommandPending && !now.Before(c.Deadline) {
		c.State = CommandTimedOut
	}
	return c
}

// Completion is a terminal's answer to a command.
type Completion struct {
	State  CommandState // CommandSucceeded or CommandFailed
	Result json.RawMessage
	Error  string
	At     time.Time
}
