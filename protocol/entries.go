package protocol

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"time"
	"unicode/utf8"
)

// The entries of a logs message or a get_logs result are decoded as a
// stream: gzip data is inflated through a bounded reader and the JSON array
// is read one entry at a time, each entry checked as soon as it is read.
// Decoding stops at the first limit crossed, so the memory one message can
// cost is bounded by the limits below (MaxBatchSpan entries, MaxEntryBytes
// each, MaxInflatedBytes in all, MaxAttrs attributes per line), not by what
// its data inflates to.

// MaxEntryBytes bounds the encoded size of one log entry, in bytes,
// including the whitespace and comma before it.
const MaxEntryBytes = MaxMessageBytes

// MaxAttrs bounds the number of attributes of one log line.
const MaxAttrs = 64

// maxStoredInflatedBytes bounds stored chunks (DecompressEntries) once
// inflated: CompressEntries re-encodes entries that arrived within
// MaxInflatedBytes, and json.Marshal's escapes (<, >, &, U+2028) make a
// character up to six times longer.
const maxStoredInflatedBytes = 6 * MaxInflatedBytes

// Errors the bounded reader fails with; they are sticky.
var (
	errInflatedTooLarge = errors.New("inflated data over the limit")
	errEntryTooLarge    = errors.New("entry over the size limit")
	errNotUTF8          = errors.New("not valid UTF-8")
)

// sourceError is a failure of the reader under the JSON (corrupt gzip).
type sourceError struct{ err error }

func (e *sourceError) Error() string { return e.err.Error() }

// boundedReader passes on what r reads, failing once more than limit bytes
// have come through (errInflatedTooLarge), when the decoder asks for a
// byte at or past window (errEntryTooLarge), or on invalid UTF-8. The
// decoder asks for more only when the value it is reading is incomplete,
// so moving window forward before each entry bounds the bytes it buffers
// for one entry.
type boundedReader struct {
	r      io.Reader
	n      int64 // bytes passed on
	limit  int64
	window int64
	// partial holds the start of a UTF-8 sequence cut by a read.
	partial  [utf8.UTFMax]byte
	npartial int
	err      error
}

func (b *boundedReader) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if b.n >= b.window {
		b.err = errEntryTooLarge
		return 0, b.err
	}
	// Read at most one byte past limit, to tell "exactly at" from "over".
	p = p[:min(int64(len(p)), b.window-b.n, b.limit+1-b.n)]
	n, err := b.r.Read(p)
	b.n += int64(n)
	switch {
	case b.n > b.limit:
		b.err = errInflatedTooLarge
	case !b.validUTF8(p[:n]):
		b.err = errNotUTF8
	case err == io.EOF && b.npartial > 0:
		b.err = errNotUTF8
	case err != nil && err != io.EOF:
		b.err = &sourceError{err}
	}
	if b.err != nil {
		return 0, b.err
	}
	return n, err
}

// validUTF8 reports whether p, following what was read before, is valid
// UTF-8 so far; a sequence cut at the end of p is kept for the next read.
func (b *boundedReader) validUTF8(p []byte) bool {
	for b.npartial > 0 && len(p) > 0 {
		b.partial[b.npartial] = p[0]
		b.npartial++
		p = p[1:]
		if utf8.FullRune(b.partial[:b.npartial]) {
			if !utf8.Valid(b.partial[:b.npartial]) {
				return false
			}
			b.npartial = 0
		}
	}
	for i := len(p) - 1; i >= 0 && i >= len(p)-utf8.UTFMax; i-- {
		if utf8.RuneStart(p[i]) {
			if !utf8.FullRune(p[i:]) {
				b.npartial = copy(b.partial[:], p[i:])
				p = p[:i]
			}
			break
		}
	}
	return utf8.Valid(p)
}

// entryLimits says which limits and rules an entry stream is held to.
type entryLimits struct {
	inflated int64 // bytes in all
	entry    int64 // bytes per entry; 0 for no limit
	validate bool  // apply checkEntry to each entry
}

var (
	wireLimits   = entryLimits{inflated: MaxInflatedBytes, entry: MaxEntryBytes, validate: true}
	storedLimits = entryLimits{inflated: maxStoredInflatedBytes}
)

// decodeEntries reads a JSON array of log entries (or null) from r. field
// names where the array came from in errors about its encoding ("data" or
// "entries"); errors about an entry name the entry. Errors are *Error.
func decodeEntries(r io.Reader, field string, lim entryLimits) ([]LogEntry, error) {
	br := &boundedReader{r: r, limit: lim.inflated}
	dec := json.NewDecoder(br)
	setWindow := func() {
		if lim.entry > 0 {
			br.window = dec.InputOffset() + lim.entry
		} else {
			br.window = lim.inflated + 1
		}
	}
	setWindow()
	tok, err := dec.Token()
	if err != nil {
		return nil, streamError(err, field, "before the first entry")
	}
	if tok == nil {
		return nil, trailing(dec, field, setWindow)
	}
	if tok != json.Delim('[') {
		return nil, errorf(CodeInvalid, "field %q: want a JSON array of entries", field)
	}
	var entries []LogEntry
	w := new(wireEntry) // one allocation: Decode makes its argument escape
	for {
		setWindow()
		if !dec.More() {
			break
		}
		i := len(entries)
		if i == MaxBatchSpan {
			return nil, errorf(CodeInvalid, "entries: more than %d entries; split the batch", MaxBatchSpan)
		}
		*w = wireEntry{}
		if err := dec.Decode(w); err != nil {
			return nil, entryError(err, field, i)
		}
		e := LogEntry{Seq: w.Seq, Time: w.Time.t, Level: w.Level, Message: w.Message, Source: w.Source, Attrs: w.Attrs}
		if lim.validate {
			var prev *LogEntry
			if i > 0 {
				prev = &entries[i-1]
			}
			if err := checkEntry(i, &e, prev); err != nil {
				return nil, err
			}
		}
		entries = append(entries, e)
	}
	if _, err := dec.Token(); err != nil { // the closing ']'
		return nil, entryError(err, field, len(entries))
	}
	return entries, trailing(dec, field, setWindow)
}

// trailing checks that nothing but whitespace follows the array.
func trailing(dec *json.Decoder, field string, setWindow func()) error {
	setWindow()
	tok, err := dec.Token()
	switch {
	case err == io.EOF:
		return nil
	case err != nil:
		return streamError(err, field, "after the last entry")
	default:
		return errorf(CodeBadJSON, "field %q: malformed JSON after the last entry: found %v, want the end", field, tok)
	}
}

// entryError describes a failure while reading entry i.
func entryError(err error, field string, i int) *Error {
	var typeErr *json.UnmarshalTypeError
	var attrErr *attrError
	switch {
	case errors.Is(err, errBadTime):
		return errorf(CodeInvalid, "entries[%d].ts: want an RFC 3339 time", i)
	case errors.As(err, &attrErr):
		return errorf(CodeInvalid, "entries[%d].attrs.%s: want a string, number, boolean or null", i, attrErr.key)
	case errors.As(err, &typeErr) && typeErr.Type == reflect.TypeFor[Attrs]():
		return errorf(CodeInvalid, "entries[%d].attrs: want an object of strings, numbers, booleans or nulls, not %s", i, typeErr.Value)
	case errors.As(err, &typeErr) && typeErr.Field == "":
		return errorf(CodeInvalid, "entries[%d]: want a JSON object, not %s", i, typeErr.Value)
	case errors.As(err, &typeErr):
		return errorf(CodeInvalid, "entries[%d].%s: cannot use JSON %s as %s", i, typeErr.Field, typeErr.Value, typeErr.Type)
	}
	return streamError(err, field, fmt.Sprintf("entries[%d]", i))
}

// streamError describes a failure of the stream itself; where says what
// was being read when it failed.
func streamError(err error, field, where string) *Error {
	var syntaxErr *json.SyntaxError
	var srcErr *sourceError
	switch {
	case errors.Is(err, errInflatedTooLarge):
		return errorf(CodeTooLarge, "field %q: inflates past %d bytes", field, MaxInflatedBytes)
	case errors.Is(err, errEntryTooLarge) && strings.HasPrefix(where, "entries["):
		return errorf(CodeInvalid, "%s: more than %d bytes", where, MaxEntryBytes)
	case errors.Is(err, errEntryTooLarge):
		return errorf(CodeInvalid, "field %q: more than %d bytes %s", field, MaxEntryBytes, where)
	case errors.Is(err, errNotUTF8):
		return errorf(CodeBadJSON, "field %q: inflated entries are not valid UTF-8", field)
	case errors.As(err, &srcErr):
		return errorf(CodeInvalid, "field %q: corrupt gzip: %v", field, srcErr.err)
	case errors.As(err, &syntaxErr):
		// The decoder's offsets do not count what Token read: say where
		// in the batch instead.
		return errorf(CodeBadJSON, "field %q: malformed JSON %s: %v", field, in(where), syntaxErr)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return errorf(CodeBadJSON, "field %q: malformed JSON %s: unexpected end of JSON input", field, in(where))
	}
	return errorf(CodeBadJSON, "field %q: malformed JSON %s: %v", field, in(where), err)
}

// in turns where ("entries[3]", "after the last entry") into a phrase.
func in(where string) string {
	if strings.HasPrefix(where, "entries[") {
		return "in " + where
	}
	return where
}

// wireEntry is a LogEntry as read from the wire, with the time's errors
// told apart.
type wireEntry struct {
	Seq     uint64   `json:"seq"`
	Time    wireTime `json:"ts"`
	Level   string   `json:"level"`
	Message string   `json:"msg"`
	Source  string   `json:"source"`
	Attrs   Attrs    `json:"attrs"`
}

var errBadTime = errors.New("want an RFC 3339 time")

// wireTime decodes as time.Time does, failing with errBadTime.
type wireTime struct{ t time.Time }

func (w *wireTime) UnmarshalJSON(b []byte) error {
	if err := w.t.UnmarshalJSON(b); err != nil {
		return errBadTime
	}
	return nil
}

// entryList is a JSON array of entries decoded as a stream with the wire
// limits and rules.
type entryList []LogEntry

func (l *entryList) UnmarshalJSON(b []byte) error {
	entries, err := decodeEntries(bytes.NewReader(b), "entries", wireLimits)
	if err != nil {
		return err
	}
	*l = entries
	return nil
}

// checkEncoding checks the fields that say how a batch's entries are sent.
func checkEncoding(encoding string, hasEntries, hasData bool) error {
	switch encoding {
	case "":
		if hasData {
			return errorf(CodeInvalid, `field "data": set without "encoding"`)
		}
	case EncodingGzip:
		if hasEntries {
			return errorf(CodeInvalid, `fields "entries" and "data": only one may be set`)
		}
	default:
		return errorf(CodeInvalid, `field "encoding": unknown encoding %q (want "" or "gzip")`, truncate(encoding, 32))
	}
	return nil
}

// decodeData decodes the base64 "data" of a batch once its encoding is
// known to be right.
func decodeData(encoding string, hasEntries bool, raw json.RawMessage) ([]byte, error) {
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, checkEncoding(encoding, hasEntries, false)
	}
	if err := checkEncoding(encoding, hasEntries, true); err != nil {
		return nil, err
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, errorf(CodeInvalid, `field "data": want a base64 string`)
	}
	data, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, errorf(CodeInvalid, `field "data": not base64: %v`, err)
	}
	return data, nil
}

// unembed turns err into an *Error, naming a field of the embedded
// struct "plain" as the field it is.
func unembed(err error) *Error {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		typeErr.Field = strings.TrimPrefix(typeErr.Field, "plain.")
	}
	return jsonError(err)
}

// UnmarshalJSON decodes a logs message, reading its entries as a stream
// held to the protocol's limits and rules (see ValidateEntries) and
// decoding "data" from base64 (it stays compressed: see InflateEntries).
// Errors are *Error naming the field.
func (m *Logs) UnmarshalJSON(b []byte) error {
	if bytes.Equal(bytes.TrimSpace(b), []byte("null")) {
		return nil
	}
	type plain Logs
	var w struct {
		plain
		Entries entryList       `json:"entries"`
		Data    json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return unembed(err)
	}
	data, err := decodeData(w.Encoding, len(w.Entries) > 0, w.Data)
	if err != nil {
		return err
	}
	*m = Logs(w.plain)
	m.Entries, m.Data = w.Entries, data
	return nil
}

// UnmarshalJSON decodes a get_logs result as Logs.UnmarshalJSON decodes a
// logs message.
func (r *GetLogsResult) UnmarshalJSON(b []byte) error {
	if bytes.Equal(bytes.TrimSpace(b), []byte("null")) {
		return nil
	}
	type plain GetLogsResult
	var w struct {
		plain
		Entries entryList       `json:"entries"`
		Data    json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return unembed(err)
	}
	data, err := decodeData(w.Encoding, len(w.Entries) > 0, w.Data)
	if err != nil {
		return err
	}
	*r = GetLogsResult(w.plain)
	r.Entries, r.Data = w.Entries, data
	return nil
}

// InflateEntries returns the entries of a logs batch or get_logs result,
// decompressing data when encoding is EncodingGzip. Compressed entries are
// inflated and decoded as a stream, each checked as it is read (the rules
// of ValidateEntries but for the batch being empty), and decoding stops at
// the first one that breaks a rule or a limit: MaxInflatedBytes in all
// (CodeTooLarge), MaxBatchSpan entries, MaxEntryBytes per entry, MaxAttrs
// attributes per line (CodeInvalid). Errors are *Error.
func InflateEntries(encoding string, entries []LogEntry, data []byte) ([]LogEntry, error) {
	if err := checkEncoding(encoding, len(entries) > 0, len(data) > 0); err != nil {
		return nil, err
	}
	if encoding == "" {
		return entries, nil
	}
	return inflate(data, wireLimits)
}

// DecompressEntries reverses CompressEntries for entries that were checked
// before they were stored: it decodes them as a stream, refusing more than
// MaxBatchSpan entries or data inflating past six times MaxInflatedBytes
// (re-encoding may escape characters), but applies no other rule.
// Errors are *Error.
func DecompressEntries(data []byte) ([]LogEntry, error) {
	return inflate(data, storedLimits)
}

func inflate(data []byte, lim entryLimits) ([]LogEntry, error) {
	var zr *gzip.Reader
	var err error
	if pooled, ok := gzipReaders.Get().(*gzip.Reader); ok {
		zr, err = pooled, pooled.Reset(bytes.NewReader(data))
	} else {
		zr, err = gzip.NewReader(bytes.NewReader(data))
	}
	if err != nil {
		return nil, errorf(CodeInvalid, `field "data": not gzip: %v`, err)
	}
	defer gzipReaders.Put(zr)
	return decodeEntries(zr, "data", lim)
}
