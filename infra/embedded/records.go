package embedded

import (
	"encoding/binary"
	"encoding/json"
	"time"

	"github.com/edgesync/edgesync/fleet"
	"github.com/edgesync/edgesync/protocol"
)

// The on-disk records are separate from the fleet types so that the file
// format does not follow their JSON tags (several fields are json:"-" there)
// and raw JSON documents are kept byte for byte (as base64), valid or not.

type terminalRecord struct {
	ID               string             `json:"id"`
	Name             string             `json:"name,omitempty"`
	Groups           []string           `json:"groups,omitempty"`
	Credentials      []credentialRecord `json:"credentials,omitempty"`
	CredsVersion     uint64             `json:"credsVersion,omitempty"`
	CreatedAt        time.Time          `json:"createdAt"`
	Online           bool               `json:"online,omitempty"`
	ConnectionID     string             `json:"connectionId,omitempty"`
	ConnectedAt      time.Time          `json:"connectedAt,omitzero"`
	LastSeen         time.Time          `json:"lastSeen,omitzero"`
	DisconnectedAt   time.Time          `json:"disconnectedAt,omitzero"`
	DisconnectReason string             `json:"disconnectReason,omitempty"`
	AgentVersion     string             `json:"agentVersion,omitempty"`
	LastSeq          uint64             `json:"lastSeq,omitempty"`
	Dropped          uint64             `json:"dropped,omitempty"`
	Config           snapshotRecord     `json:"config,omitzero"`
	Status           snapshotRecord     `json:"status,omitzero"`
	Desired          desiredRecord      `json:"desired,omitzero"`
	// Refresh maps a refresh kind ("config", "status", "logs") to when a
	// refresh of it was last claimed (ClaimRefresh).
	Refresh map[string]time.Time `json:"refresh,omitempty"`
}

type credentialRecord struct {
	ID        string    `json:"id"`
	Hash      []byte    `json:"hash,omitempty"`
	CreatedAt time.Time `json:"createdAt"`
	NotAfter  time.Time `json:"notAfter,omitzero"`
}

type snapshotRecord struct {
	Data     []byte    `json:"data,omitempty"`
	SyncedAt time.Time `json:"syncedAt,omitzero"`
	Version  string    `json:"version,omitempty"`
}

type desiredRecord struct {
	Data      []byte    `json:"data,omitempty"`
	Version   string    `json:"version,omitempty"`
	SetAt     time.Time `json:"setAt,omitzero"`
	SetBy     string    `json:"setBy,omitempty"`
	RequestID string    `json:"requestId,omitempty"`
}

type connectionRecord struct {
	ID           string    `json:"id"`
	TerminalID   string    `json:"terminalId"`
	ConnectedAt  time.Time `json:"connectedAt"`
	SourceIP     string    `json:"sourceIp,omitempty"`
	CredentialID string    `json:"credentialId,omitempty"`
	ExpiresAt    time.Time `json:"expiresAt"`
}

type sampleRecord struct {
	At        time.Time `json:"at"`
	Data      []byte    `json:"data,omitempty"`
	ExpiresAt time.Time `json:"expiresAt"`
}

type chunkRecord struct {
	TerminalID string              `json:"terminalId"`
	FirstSeq   uint64              `json:"firstSeq"`
	LastSeq    uint64              `json:"lastSeq"`
	Entries    []protocol.LogEntry `json:"entries"`
	StoredAt   time.Time           `json:"storedAt"`
	ExpiresAt  time.Time           `json:"expiresAt"`
}

// chunkBounds is the part of a stored chunkRecord that PutLogChunk compares;
// decoding into it skips the entries.
type chunkBounds struct {
	FirstSeq uint64 `json:"firstSeq"`
}

type commandRecord struct {
	TerminalID  string             `json:"terminalId"`
	RequestID   string             `json:"requestId"`
	Name        string             `json:"name"`
	Params      []byte             `json:"params,omitempty"`
	State       fleet.CommandState `json:"state"`
	CreatedAt   time.Time          `json:"createdAt"`
	Deadline    time.Time          `json:"deadline"`
	CompletedAt time.Time          `json:"completedAt,omitzero"`
	Result      []byte             `json:"result,omitempty"`
	Error       string             `json:"error,omitempty"`
	Actor       string             `json:"actor,omitempty"`
	ExpiresAt   time.Time          `json:"expiresAt"`
}

// utc normalises a time for storage; the zero time stays zero.
func utc(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC()
}

// expired reports whether an item expiring at exp is absent at now.
func expired(exp, now time.Time) bool { return !exp.After(now) }

// later returns the later of a and b.
func later(a, b time.Time) time.Time {
	if b.After(a) {
		return utc(b)
	}
	return a
}

func raw(b []byte) json.RawMessage {
	if len(b) == 0 {
		return nil
	}
	return json.RawMessage(b)
}

func clone(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return append([]byte(nil), b...)
}

func newTerminalRecord(t fleet.Terminal) terminalRecord {
	return terminalRecord{
		ID:               t.ID,
		Name:             t.Name,
		Groups:           t.Groups,
		Credentials:      credentialRecords(t.Credentials),
		CredsVersion:     t.CredentialsVersion,
		CreatedAt:        utc(t.CreatedAt),
		Online:           t.Online,
		ConnectionID:     t.ConnectionID,
		ConnectedAt:      utc(t.ConnectedAt),
		LastSeen:         utc(t.LastSeen),
		DisconnectedAt:   utc(t.DisconnectedAt),
		DisconnectReason: t.DisconnectReason,
		AgentVersion:     t.AgentVersion,
		LastSeq:          t.LastSeq,
		Dropped:          t.Dropped,
		Config:           newSnapshotRecord(t.Config),
		Status:           newSnapshotRecord(t.Status),
		Desired:          newDesiredRecord(t.Desired),
	}
}

func (r terminalRecord) terminal() fleet.Terminal {
	t := fleet.Terminal{
		ID:                 r.ID,
		Name:               r.Name,
		Groups:             r.Groups,
		CredentialsVersion: r.CredsVersion,
		CreatedAt:          r.CreatedAt,
		Online:             r.Online,
		ConnectionID:       r.ConnectionID,
		ConnectedAt:        r.ConnectedAt,
		LastSeen:           r.LastSeen,
		DisconnectedAt:     r.DisconnectedAt,
		DisconnectReason:   r.DisconnectReason,
		AgentVersion:       r.AgentVersion,
		LastSeq:            r.LastSeq,
		Dropped:            r.Dropped,
		Config:             r.Config.snapshot(),
		Status:             r.Status.snapshot(),
		Desired:            r.Desired.desired(),
	}
	for _, c := range r.Credentials {
		t.Credentials = append(t.Credentials, fleet.Credential{ID: c.ID, Hash: c.Hash, CreatedAt: c.CreatedAt, NotAfter: c.NotAfter})
	}
	return t
}

func credentialRecords(creds []fleet.Credential) []credentialRecord {
	var out []credentialRecord
	for _, c := range creds {
		out = append(out, credentialRecord{ID: c.ID, Hash: clone(c.Hash), CreatedAt: utc(c.CreatedAt), NotAfter: utc(c.NotAfter)})
	}
	return out
}

func newSnapshotRecord(s fleet.Snapshot) snapshotRecord {
	return snapshotRecord{Data: clone(s.Data), SyncedAt: utc(s.SyncedAt), Version: s.Version}
}

func (r snapshotRecord) snapshot() fleet.Snapshot {
	return fleet.Snapshot{Data: raw(r.Data), SyncedAt: r.SyncedAt, Version: r.Version}
}

func newDesiredRecord(d fleet.DesiredConfig) desiredRecord {
	return desiredRecord{Data: clone(d.Data), Version: d.Version, SetAt: utc(d.SetAt), SetBy: d.SetBy, RequestID: d.RequestID}
}

func (r desiredRecord) desired() fleet.DesiredConfig {
	return fleet.DesiredConfig{Data: raw(r.Data), Version: r.Version, SetAt: r.SetAt, SetBy: r.SetBy, RequestID: r.RequestID}
}

func newConnectionRecord(c fleet.Connection) connectionRecord {
	return connectionRecord{ID: c.ID, TerminalID: c.TerminalID, ConnectedAt: utc(c.ConnectedAt), SourceIP: c.SourceIP, CredentialID: c.CredentialID, ExpiresAt: utc(c.ExpiresAt)}
}

func (r connectionRecord) connection() fleet.Connection {
	return fleet.Connection{ID: r.ID, TerminalID: r.TerminalID, ConnectedAt: r.ConnectedAt, SourceIP: r.SourceIP, CredentialID: r.CredentialID, ExpiresAt: r.ExpiresAt}
}

func (r sampleRecord) sample() fleet.StatusSample {
	return fleet.StatusSample{At: r.At, Data: raw(r.Data), ExpiresAt: r.ExpiresAt}
}

func newChunkRecord(c fleet.LogChunk) chunkRecord {
	return chunkRecord{TerminalID: c.TerminalID, FirstSeq: c.FirstSeq, LastSeq: c.LastSeq, Entries: c.Entries, StoredAt: utc(c.StoredAt), ExpiresAt: utc(c.ExpiresAt)}
}

func (r chunkRecord) chunk() fleet.LogChunk {
	return fleet.LogChunk{TerminalID: r.TerminalID, FirstSeq: r.FirstSeq, LastSeq: r.LastSeq, Entries: r.Entries, StoredAt: r.StoredAt, ExpiresAt: r.ExpiresAt}
}

func newCommandRecord(c fleet.Command) commandRecord {
	state := c.State
	if state == "" {
		state = fleet.CommandPending
	}
	return commandRecord{
		TerminalID: c.TerminalID, RequestID: c.RequestID, Name: c.Name, Params: clone(c.Params), State: state,
		CreatedAt: utc(c.CreatedAt), Deadline: utc(c.Deadline), CompletedAt: utc(c.CompletedAt),
		Result: clone(c.Result), Error: c.Error, Actor: c.Actor, ExpiresAt: utc(c.ExpiresAt),
	}
}

func (r commandRecord) command() fleet.Command {
	return fleet.Command{
		TerminalID: r.TerminalID, RequestID: r.RequestID, Name: r.Name, Params: raw(r.Params), State: r.State,
		CreatedAt: r.CreatedAt, Deadline: r.Deadline, CompletedAt: r.CompletedAt,
		Result: raw(r.Result), Error: r.Error, Actor: r.Actor, ExpiresAt: r.ExpiresAt,
	}
}

// timeKey encodes t so that byte order is time order: seconds since the
// epoch with the sign bit flipped, then nanoseconds, both big-endian.
func timeKey(t time.Time) []byte {
	k := make([]byte, 12)
	binary.BigEndian.PutUint64(k, uint64(t.Unix())^(1<<63))
	binary.BigEndian.PutUint32(k[8:], uint32(t.Nanosecond()))
	return k
}

// seqKey encodes a log sequence number so that byte order is numeric order.
func seqKey(seq uint64) []byte {
	k := make([]byte, 8)
	binary.BigEndian.PutUint64(k, seq)
	return k
}
