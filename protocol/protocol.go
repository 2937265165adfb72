package protocol

import (
	"encoding/json"
	"time"
)

// Size limits imposed by API Gateway WebSocket APIs.
const (
	// MaxMessageBytes is the largest message API Gateway accepts (128 KB).
	MaxMessageBytes = 128 * 1024
	// MaxFrameBytes is the largest WebSocket frame API Gateway accepts (32 KB).
	// API Gateway also bills messages in 32 KB units, so batches aim to fit one frame.
	MaxFrameBytes = 32 * 1024
	// MaxBatchSpan bounds LastSeq-FirstSeq+1 of one logs batch. Readers rely
	// on it to merge overlapping batches without loading a terminal's whole history.
	MaxBatchSpan = 4096
	// MaxIDLength is the longest terminal id or request id accepted.
	MaxIDLength = 128
)

// Message types.
const (
	TypeHello           = "hello"
	TypeCommandResponse = "command_response"
	TypeLogs            = "logs"
	TypeStatus          = "status"
	TypeHeartbeat       = "heartbeat"
	TypeCommand         = "command"
	TypeAck             = "ack"
	TypeError           = "error"
	TypeLive            = "live"
	TypeWelcome         = "welcome"
)

// Capabilities a terminal may announce in Hello.Capabilities besides the
// commands it answers and the encodings it sends. A server acts on those
// it knows and ignores the rest.
const (
	// CapabilityWelcome: the terminal understands a Welcome message. Only
	// a terminal announcing it is sent one.
	CapabilityWelcome = "welcome"
	// CapabilitySyncIncremental: the terminal delivers every line of its
	// spool on its own (so no get_logs pull is needed after hello), and
	// the Hello.ConfigVersion it names is the configuration it runs (so
	// get_config is pulled only when it differs from the stored one).
	CapabilitySyncIncremental = "sync.incremental"
)

// Features a server lists in Welcome.Accepts: what a terminal may use on
// the connection.
const (
	// FeatureAckRequest: logs messages may carry Ack ("deferred") and
	// AckFrom, and heartbeats AckFrom; acknowledgements are then sent only
	// when asked for, and confirm what the store holds (see Logs.AckFrom).
	FeatureAckRequest = "ack.request"
	// FeatureTypedAttrs: attribute values may be numbers, booleans and
	// null as well as strings.
	FeatureTypedAttrs = "attrs.typed"
	// FeatureHelloStatus: a status report in Hello.Status is stored (and
	// no get_status is pulled).
	FeatureHelloStatus = "hello.status"
	// FeatureStatusInLogs: a status report riding in a logs message
	// (Logs.Status) is stored, as Ack.Status says per message.
	FeatureStatusInLogs = "logs.status"
	// FeatureSyncIncremental: the server skips the pulls a hello with
	// CapabilitySyncIncremental makes unnecessary.
	FeatureSyncIncremental = "sync.incremental"
)

// AckDeferred is the value of Logs.Ack asking the server not to
// acknowledge the message: a later AckFrom (or the next connection's
// Welcome) confirms its lines.
const AckDeferred = "deferred"

// Command names.
const (
	CommandGetStatus = "get_status"
	CommandGetConfig = "get_config"
	CommandGetLogs   = "get_logs"
	CommandSetConfig = "set_config"
	CommandPing      = "ping"
)

// Commands lists every command a terminal must answer.
var Commands = []string{CommandGetStatus, CommandGetConfig, CommandGetLogs, CommandSetConfig, CommandPing}

// Log levels, lowest first.
const (
	LevelDebug = "debug"
	LevelInfo  = "info"
	LevelWarn  = "warn"
	LevelError = "error"
)

// Encodings of a logs batch.
const (
	// EncodingGzip marks Data as base64 of gzip-compressed JSON array of LogEntry.
	EncodingGzip = "gzip"
)

// Hello is the first message a terminal sends on every connection. The
// server answers it by pulling status, config and logs.
type Hello struct {
	Type string `json:"type"`
	// TerminalID, when set, must equal the terminal the connection
	// authenticated as; it exists so a terminal can detect misconfiguration.
	TerminalID   string   `json:"terminal_id,omitempty"`
	AgentVersion string   `json:"agent_version,omitempty"`
	Capabilities []string `json:"capabilities,omitempty"`
	// LastAckSeq is the highest log sequence number the terminal has had acknowledged.
	LastAckSeq uint64 `json:"last_ack_seq,omitempty"`
	// ConfigVersion is the version of the configuration the terminal runs.
	ConfigVersion string `json:"config_version,omitempty"`
	// RequestID, when set, is echoed in an error about the hello: a
	// terminal whose hello failed (code internal) gets no pull, and should
	// reconnect to say hello again. The Go agent sends "hello".
	RequestID string `json:"request_id,omitempty"`
	// AckFrom, when set, is where the welcome's ack starts (the lowest line
	// the terminal holds unacknowledged); without it the ack starts after
	// LastAckSeq.
	AckFrom uint64 `json:"ack_from,omitempty"`
	// Status, when set, is a status report (a JSON object, as in Status)
	// made at connection time. A server accepting FeatureHelloStatus
	// stores it and pulls no get_status; an older server ignores it.
	Status json.RawMessage `json:"status,omitempty"`
}

// Welcome answers a hello that announced CapabilityWelcome, before any
// pull: it lists the features the server accepts on this connection and,
// when lines after Hello.LastAckSeq are stored, acknowledges them (Ack,
// as an ack message would), so a reconnecting terminal resends only what
// the server does not hold. A server that sends no welcome accepts none
// of the features: the terminal then speaks the first protocol version.
type Welcome struct {
	Type    string   `json:"type"`
	Accepts []string `json:"accepts"`
	// Ack confirms the contiguous range of lines stored from
	// Hello.AckFrom (or Hello.LastAckSeq+1); nil when the first of them is
	// not stored.
	Ack *Ack `json:"ack,omitempty"`
}

// LogEntry is one log line. Seq is assigned by the terminal, starts at 1 and
// increases by one per line for the life of the terminal.
type LogEntry struct {
	Seq     uint64    `json:"seq"`
	Time    time.Time `json:"ts"`
	Level   string    `json:"level"`
	Message string    `json:"msg"`
	Source  string    `json:"source,omitempty"`
	// Attrs holds at most MaxAttrs attributes, each a JSON scalar.
	Attrs Attrs `json:"attrs,omitempty"`
}

// Logs is a batch of log lines pushed by a terminal. Exactly one of Entries
// or Data is set; Data (with Encoding "gzip") carries the same entries
// compressed. Entries have consecutive sequence numbers (a terminal splits a
// batch where a gap would fall) and a batch holds at most MaxBatchSpan.
// Decoding one (Decode, Logs.UnmarshalJSON, InflateEntries) reads the
// entries as a stream and stops at the first that breaks a rule or limit.
type Logs struct {
	Type string `json:"type"`
	// RequestID, when set, is echoed in an error about this batch, so the
	// terminal knows which batch was rejected (the Go agent sends
	// "logs:<first>-<last>").
	RequestID string     `json:"request_id,omitempty"`
	Entries   []LogEntry `json:"entries,omitempty"`
	Encoding  string     `json:"encoding,omitempty"`
	Data      []byte     `json:"data,omitempty"`
	// Dropped is the terminal's running total of lines it dropped because
	// its spool was full.
	Dropped uint64 `json:"dropped,omitempty"`
	// Status, when set, is a status report (a JSON object, as in Status)
	// riding along with the batch, so that a report falling due need not
	// be a message, an invocation and a write of its own. The server
	// stores it as it stores a Status message and says so in the ack
	// (Ack.Status). A server that does not know the field ignores it and
	// acks without Status; the terminal then sends its reports on their own.
	Status json.RawMessage `json:"status,omitempty"`
	// Ack and AckFrom choose the acknowledgement, on a server accepting
	// FeatureAckRequest (others ignore both and acknowledge each message).
	// Neither set: an ack of this message's lines, as always. Ack
	// AckDeferred: no ack. AckFrom N (1 or more; it wins over Ack): after
	// storing the batch the server answers one ack naming the longest
	// range of lines N..M that its store holds without a gap (M is N-1
	// when line N is not stored), read from the store, so it confirms
	// lines of earlier messages too, never a line that is not stored.
	Ack     string `json:"ack,omitempty"`
	AckFrom uint64 `json:"ack_from,omitempty"`
}

// Status is a periodic status report. Status is a JSON object; the
// well-known keys are listed in PROTOCOL.md (cpu_percent, memory_percent, ...).
type Status struct {
	Type   string          `json:"type"`
	Status json.RawMessage `json:"status"`
}

// Heartbeat keeps the connection alive and the terminal's last-seen time current.
type Heartbeat struct {
	Type string `json:"type"`
	// AckFrom, on a server accepting FeatureAckRequest, asks for an ack of
	// the stored lines from AckFrom on, as Logs.AckFrom does: how a
	// terminal with nothing new to send gets its lines confirmed.
	AckFrom uint64 `json:"ack_from,omitempty"`
	// RequestID, when set, is echoed in the ack (Ack.RequestID) and in an
	// error about the heartbeat.
	RequestID string `json:"request_id,omitempty"`
}

// CommandResponse answers a Command.
type CommandResponse struct {
	Type      string          `json:"type"`
	RequestID string          `json:"request_id"`
	Command   string          `json:"command"`
	Success   bool            `json:"success"`
	Result    json.RawMessage `json:"result,omitempty"`
	Error     string          `json:"error,omitempty"`
}

// Command is sent by the server; the terminal answers with a CommandResponse
// carrying the same RequestID.
type Command struct {
	Type      string          `json:"type"`
	RequestID string          `json:"request_id"`
	Command   string          `json:"command"`
	Params    json.RawMessage `json:"params,omitempty"`
}

// GetLogsParams are the parameters of get_logs.
type GetLogsParams struct {
	// Count is the maximum number of lines to return (default 100).
	Count int `json:"count,omitempty"`
	// SinceSeq asks for lines with Seq greater than it.
	SinceSeq uint64 `json:"since_seq,omitempty"`
}

// GetLogsResult is the result of get_logs: the same shape as a Logs message
// without its type.
type GetLogsResult struct {
	Entries  []LogEntry `json:"entries,omitempty"`
	Encoding string     `json:"encoding,omitempty"`
	Data     []byte     `json:"data,omitempty"`
	Dropped  uint64     `json:"dropped,omitempty"`
}

// Redacted stands for a secret value: terminals put it in place of secrets
// in get_config results, the cloud in reads by users who may not see
// secrets, and in a set_config config it means "keep the current value".
const Redacted = "[redacted]"

// SetConfigParams are the parameters of set_config.
type SetConfigParams struct {
	// Config is the whole new configuration. A secret the sender does not
	// know may be given as Redacted to keep its current value.
	Config json.RawMessage `json:"config"`
	// Version, when set, is the version the terminal must currently run for
	// the change to apply (compare-and-set); empty applies unconditionally.
	Version string `json:"version,omitempty"`
}

// SetConfigResult is the result of set_config.
type SetConfigResult struct {
	Version string `json:"version"`
}

// Ack acknowledges that the server has stored log lines FirstSeq..LastSeq
// (inclusive) of the sending terminal; the terminal may drop them from its
// spool. An answer to AckFrom with nothing stored from FirstSeq has
// LastSeq FirstSeq-1.
type Ack struct {
	Type     string `json:"type"`
	Of       string `json:"of"`
	FirstSeq uint64 `json:"first_seq,omitempty"`
	LastSeq  uint64 `json:"last_seq,omitempty"`
	// Status is true when the acknowledged logs message carried a status
	// report (Logs.Status) and the server stored it too.
	Status bool `json:"status,omitempty"`
	// RequestID echoes the request_id of the message that asked for this
	// ack with AckFrom.
	RequestID string `json:"request_id,omitempty"`
}

// MaxLiveSeconds bounds Live.Seconds.
const MaxLiveSeconds = 3600

// Live tells a terminal that an operator is reading its logs: for the next
// Seconds it should send each new line as soon as it is written (within
// its short batch window, batch_window_ms of the Go agent) instead of
// gathering lines for its longer idle window, and send the lines it holds
// now at once. A later Live extends the period. Live needs no answer, and
// a terminal may ignore it: its lines then arrive at its usual pace.
type Live struct {
	Type string `json:"type"`
	// Seconds is how long to stay live from receipt, 1 to MaxLiveSeconds.
	Seconds int `json:"seconds"`
}

// ErrorMessage tells a terminal why its message was rejected.
type ErrorMessage struct {
	Type      string `json:"type"`
	Code      string `json:"code"`
	Message   string `json:"message"`
	RequestID string `json:"request_id,omitempty"`
}
