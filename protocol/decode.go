package protocol

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"unicode/utf8"
)

// Error codes carried by ErrorMessage.Code and Error.Code.
const (
	CodeBadJSON     = "bad_json"     // not a UTF-8 JSON object
	CodeTooLarge    = "too_large"    // over MaxMessageBytes, or a batch that inflates too far
	CodeUnknownType = "unknown_type" // missing or unknown "type"
	CodeInvalid     = "invalid"      // a field is missing or wrong; Message names it
	CodeForbidden   = "forbidden"    // the message acts for another terminal
	CodeInternal    = "internal"     // the server failed; the terminal should retry later
)

// MaxInflatedBytes bounds a gzip logs batch once decompressed.
const MaxInflatedBytes = 4 << 20

// MaxMessageLength bounds one log line's message, in bytes.
const MaxMessageLength = 16 * 1024

// Error is a protocol violation: a code from the Code constants and a
// message naming what is wrong. It is safe to send back to the terminal.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

func errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Decode parses one message sent by a terminal and validates it. It returns
// a *Hello, *CommandResponse, *Logs (with Entries filled, Data cleared and
// Status nil unless it carries a status report),
// *Status or *Heartbeat, or an *Error describing why the message was rejected.
func Decode(body []byte) (any, error) {
	if len(body) > MaxMessageBytes {
		return nil, errorf(CodeTooLarge, "message is %d bytes, the limit is %d", len(body), MaxMessageBytes)
	}
	if !utf8.Valid(body) {
		return nil, errorf(CodeBadJSON, "message is not valid UTF-8")
	}
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, errorf(CodeBadJSON, "message must be a JSON object")
	}
	var env struct {
		Type json.RawMessage `json:"type"`
	}
	if err := json.Unmarshal(trimmed, &env); err != nil {
		return nil, jsonError(err)
	}
	var typ string
	if len(env.Type) == 0 {
		return nil, errorf(CodeUnknownType, `message has no "type"`)
	}
	if err := json.Unmarshal(env.Type, &typ); err != nil {
		return nil, errorf(CodeUnknownType, `"type" must be a string`)
	}
	switch typ {
	case TypeHello:
		var m Hello
		if err := strictUnmarshal(trimmed, &m); err != nil {
			return nil, err
		}
		if err := m.validate(); err != nil {
			return nil, err
		}
		if t := bytes.TrimSpace(m.Status); len(t) == 0 || bytes.Equal(t, []byte("null")) {
			m.Status = nil
		} else if !IsObject(t) {
			return nil, errorf(CodeInvalid, `field "status": must be a JSON object (a status report)`)
		}
		return &m, nil
	case TypeCommandResponse:
		var m CommandResponse
		if err := strictUnmarshal(trimmed, &m); err != nil {
			return nil, err
		}
		if err := m.validate(); err != nil {
			return nil, err
		}
		return &m, nil
	case TypeLogs:
		var m Logs
		if err := strictUnmarshal(trimmed, &m); err != nil {
			return nil, err
		}
		if t := bytes.TrimSpace(m.Status); len(t) == 0 || bytes.Equal(t, []byte("null")) {
			m.Status = nil
		} else if !IsObject(t) {
			return nil, errorf(CodeInvalid, `field "status": must be a JSON object (a status report)`)
		}
		if m.Ack != "" && m.Ack != AckDeferred {
			return nil, errorf(CodeInvalid, `field "ack": %q is not an acknowledgement mode (want %q, or leave it out)`, truncate(m.Ack, 32), AckDeferred)
		}
		entries, err := InflateEntries(m.Encoding, m.Entries, m.Data)
		if err != nil {
			return nil, err
		}
		if err := ValidateEntries(entries); err != nil {
			return nil, err
		}
		m.Entries, m.Data, m.Encoding = entries, nil, ""
		return &m, nil
	case TypeStatus:
		var m Status
		if err := strictUnmarshal(trimmed, &m); err != nil {
			return nil, err
		}
		if !IsObject(m.Status) {
			return nil, errorf(CodeInvalid, `"status" must be a JSON object`)
		}
		return &m, nil
	case TypeHeartbeat:
		var m Heartbeat
		if err := strictUnmarshal(trimmed, &m); err != nil {
			return nil, err
		}
		m.Type = TypeHeartbeat
		return &m, nil
	default:
		return nil, errorf(CodeUnknownType, "unknown message type %q", truncate(typ, 64))
	}
}

// strictUnmarshal decodes into v, turning decoder errors into *Error.
// Unknown fields are accepted so that terminals can be newer than the server.
func strictUnmarshal(data []byte, v any) error {
	if err := json.Unmarshal(data, v); err != nil {
		return jsonError(err)
	}
	return nil
}

func jsonError(err error) *Error {
	var pe *Error
	if errors.As(err, &pe) {
		return pe
	}
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		field := typeErr.Field
		if field == "" {
			field = "message"
		}
		return errorf(CodeInvalid, "field %q: cannot use JSON %s as %s", field, typeErr.Value, typeErr.Type)
	}
	var syntaxErr *json.SyntaxError
	if errors.As(err, &syntaxErr) {
		return errorf(CodeBadJSON, "malformed JSON at byte %d: %v", syntaxErr.Offset, syntaxErr)
	}
	return errorf(CodeBadJSON, "malformed JSON: %v", err)
}

func (m *Hello) validate() error {
	if m.TerminalID != "" && !ValidID(m.TerminalID) {
		return errorf(CodeInvalid, `field "terminal_id": %s`, idRule)
	}
	if len(m.AgentVersion) > 64 {
		return errorf(CodeInvalid, `field "agent_version": longer than 64 bytes`)
	}
	if len(m.Capabilities) > 64 {
		return errorf(CodeInvalid, `field "capabilities": more than 64 entries`)
	}
	return nil
}

func (m *CommandResponse) validate() error {
	if !ValidID(m.RequestID) {
		return errorf(CodeInvalid, `field "request_id": %s`, idRule)
	}
	if m.Command == "" || len(m.Command) > 64 {
		return errorf(CodeInvalid, `field "command": required, at most 64 bytes`)
	}
	if m.Success && m.Error != "" {
		return errorf(CodeInvalid, `field "error": must be empty when "success" is true`)
	}
	if len(m.Result) > 0 && !bytes.Equal(m.Result, []byte("null")) && !json.Valid(m.Result) {
		return errorf(CodeInvalid, `field "result": not valid JSON`)
	}
	return nil
}

// ValidateEntries checks a batch: at least one entry, consecutive sequence
// numbers (each one more than the last) starting at 1 or more, at most
// MaxBatchSpan entries, and on every line a known level (normalized in
// place), a time, a message of at most MaxMessageLength bytes and at most
// MaxAttrs attributes.
func ValidateEntries(entries []LogEntry) error {
	if len(entries) == 0 {
		return errorf(CodeInvalid, `field "entries": at least one entry is required`)
	}
	for i := range entries {
		var prev *LogEntry
		if i > 0 {
			prev = &entries[i-1]
		}
		if err := checkEntry(i, &entries[i], prev); err != nil {
			return err
		}
	}
	if span := entries[len(entries)-1].Seq - entries[0].Seq + 1; span > MaxBatchSpan {
		return errorf(CodeInvalid, "entries: seq span %d exceeds %d; split the batch", span, MaxBatchSpan)
	}
	return nil
}

// checkEntry checks entry i of a batch, following prev (nil for the
// first), and normalizes its level.
func checkEntry(i int, e, prev *LogEntry) error {
	if e.Seq == 0 {
		return errorf(CodeInvalid, "entries[%d].seq: must be 1 or more", i)
	}
	if prev != nil && e.Seq != prev.Seq+1 {
		return errorf(CodeInvalid, "entries[%d].seq: %d does not follow %d (must increase by exactly one; split batches at gaps)", i, e.Seq, prev.Seq)
	}
	level, ok := NormalizeLevel(e.Level)
	if !ok {
		return errorf(CodeInvalid, "entries[%d].level: unknown level %q (want debug, info, warn or error)", i, truncate(e.Level, 32))
	}
	e.Level = level
	if len(e.Message) > MaxMessageLength {
		return errorf(CodeInvalid, "entries[%d].msg: %d bytes, the limit is %d", i, len(e.Message), MaxMessageLength)
	}
	if e.Time.IsZero() {
		return errorf(CodeInvalid, "entries[%d].ts: required (RFC 3339)", i)
	}
	if len(e.Attrs) > MaxAttrs {
		return errorf(CodeInvalid, "entries[%d].attrs: %d attributes, the limit is %d", i, len(e.Attrs), MaxAttrs)
	}
	return nil
}

// NormalizeLevel maps a level name, including common aliases (warning,
// err, fatal, critical, trace), onto one of the four protocol levels.
func NormalizeLevel(s string) (string, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "debug", "trace":
		return LevelDebug, true
	case "info", "information", "notice", "":
		return LevelInfo, true
	case "warn", "warning":
		return LevelWarn, true
	case "error", "err", "fatal", "critical", "crit", "panic":
		return LevelError, true
	}
	return "", false
}

// LevelRank orders levels: debug 0, info 1, warn 2, error 3; -1 if unknown.
func LevelRank(level string) int {
	switch level {
	case LevelDebug:
		return 0
	case LevelInfo:
		return 1
	case LevelWarn:
		return 2
	case LevelError:
		return 3
	}
	return -1
}

// gzipWriters and gzipReaders are reused: a new gzip writer allocates about
// a megabyte of compressor state, which dominated the CPU of storing a
// small batch.
var (
	gzipWriters = sync.Pool{New: func() any {
		zw, _ := gzip.NewWriterLevel(io.Discard, gzip.BestSpeed)
		return zw
	}}
	gzipReaders sync.Pool // *gzip.Reader
)

// CompressEntries gzips the JSON array of entries.
func CompressEntries(entries []LogEntry) ([]byte, error) {
	raw, err := json.Marshal(entries)
	if err != nil {
		return nil, fmt.Errorf("encode entries: %w", err)
	}
	var buf bytes.Buffer
	zw := gzipWriters.Get().(*gzip.Writer)
	defer gzipWriters.Put(zw)
	zw.Reset(&buf)
	if _, err := zw.Write(raw); err != nil {
		return nil, fmt.Errorf("compress entries: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("compress entries: %w", err)
	}
	return buf.Bytes(), nil
}

const idRule = "must be 1 to 128 characters of A-Z a-z 0-9 . _ : -"

// ValidID reports whether s is usable as a terminal id or request id:
// 1 to MaxIDLength characters of A-Z, a-z, 0-9, '.', '_', ':' and '-',
// not starting with '.'. Such ids are safe in URLs, keys and logs.
func ValidID(s string) bool {
	if len(s) == 0 || len(s) > MaxIDLength || s[0] == '.' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == ':', c == '-':
		default:
			return false
		}
	}
	return true
}

// IsObject reports whether raw is a JSON object.
func IsObject(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 || t[0] != '{' {
		return false
	}
	return json.Valid(t)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// Encode marshals a server or terminal message. It sets nothing; callers
// fill Type. It exists so every writer uses the same encoding.
func Encode(v any) ([]byte, error) { return json.Marshal(v) }

// NewError builds the error message sent to a terminal for err; errors that
// are not *Error are reported as CodeInternal without detail.
func NewError(err error, requestID string) ErrorMessage {
	var pe *Error
	if errors.As(err, &pe) {
		return ErrorMessage{Type: TypeError, Code: pe.Code, Message: pe.Message, RequestID: requestID}
	}
	return ErrorMessage{Type: TypeError, Code: CodeInternal, Message: "internal error; retry later", RequestID: requestID}
}
