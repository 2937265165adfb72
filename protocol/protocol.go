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
)

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
}

// LogEntry is one log line. Seq is assigned by the terminal, starts at 1 and
// increases by one per line for the life of the terminal.
type LogEntry struct {
	Seq     uint64    `json:"seq"`
	Time    time.Time `json:"ts"`
	Level   string    `json:"level"`
	Message string    `json:"msg"`
	Source  string    `json:"source,omitempty"`
	// Attrs holds at most MaxAttrs attributes.
	Attrs map[string]string `json:"attrs,omitempty"`
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
// (inclusive) of the sending terminal; the terminal may drop them from its spool.
type Ack struct {
	Type     string `json:"type"`
	Of       string `json:"of"`
	FirstSeq uint64 `json:"first_seq,omitempty"`
	LastSeq  uint64 `json:"last_seq,omitempty"`
	// Status is true when the acknowledged logs message carried a status
	// report (Logs.Status) and the server stored it too.
	Status bool `json:"status,omitempty"`
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
