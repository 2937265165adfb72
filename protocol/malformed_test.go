package protocol_test

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/edgesync/edgesync/protocol"
)

// entry is one well-formed log entry with the given seq, as JSON.
func entry(seq string) string {
	return `{"seq":` + seq + `,"ts":"2026-01-02T03:04:05Z","level":"info","msg":"x"}`
}

// padded returns a heartbeat message of exactly n bytes.
func padded(n int) string {
	const head, tail = `{"type":"heartbeat","pad":"`, `"}`
	return head + strings.Repeat("x", n-len(head)-len(tail)) + tail
}

// nested returns a status message whose "a" holds depth nested arrays.
func nested(depth int) string {
	return `{"type":"status","status":{"a":` + strings.Repeat("[", depth) + strings.Repeat("]", depth) + `}}`
}

// TestMalformedMessages pins the exact answer to each kind of bad input a
// terminal (or anyone holding a connection) may send: the error code and
// message the server pushes back (protocol.NewError of Decode's error).
// Nothing here is stored: Decode rejects before the service acts.
func TestMalformedMessages(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		body     string
		wantCode string
		wantMsg  string
	}{
		// Not JSON, or not a JSON object.
		{"empty", ``, protocol.CodeBadJSON, "message must be a JSON object"},
		{"blank", " \n\t", protocol.CodeBadJSON, "message must be a JSON object"},
		{"plain text", `hello`, protocol.CodeBadJSON, "message must be a JSON object"},
		{"array", `[1,2]`, protocol.CodeBadJSON, "message must be a JSON object"},
		{"null", `null`, protocol.CodeBadJSON, "message must be a JSON object"},
		{"string", `"hello"`, protocol.CodeBadJSON, "message must be a JSON object"},
		{"truncated object", `{"type":"hello"`, protocol.CodeBadJSON, "malformed JSON at byte 15: unexpected end of JSON input"},
		{"trailing garbage", `{"type":"heartbeat"} x`, protocol.CodeBadJSON, "malformed JSON at byte 22: invalid character 'x' after top-level value"},
		{"two objects", `{"type":"heartbeat"}{"type":"heartbeat"}`, protocol.CodeBadJSON, "malformed JSON at byte 21: invalid character '{' after top-level value"},
		{"invalid UTF-8", "{\"type\":\"heartbeat\",\"x\":\"\xff\xfe\"}", protocol.CodeBadJSON, "message is not valid UTF-8"},
		{"invalid UTF-8 in a log line", `{"type":"logs","entries":[{"seq":1,"ts":"2026-01-02T03:04:05Z","level":"info","msg":"` + "\xc3\x28" + `"}]}`, protocol.CodeBadJSON, "message is not valid UTF-8"},

		// Type.
		{"no type", `{}`, protocol.CodeUnknownType, `message has no "type"`},
		{"type is a number", `{"type":5}`, protocol.CodeUnknownType, `"type" must be a string`},
		{"type is an object", `{"type":{"a":1}}`, protocol.CodeUnknownType, `"type" must be a string`},
		{"type is null", `{"type":null}`, protocol.CodeUnknownType, `unknown message type ""`},
		{"unknown type", `{"type":"reboot"}`, protocol.CodeUnknownType, `unknown message type "reboot"`},
		{"server-only type", `{"type":"command","request_id":"r1","command":"get_status"}`, protocol.CodeUnknownType, `unknown message type "command"`},
		{"very long unknown type", `{"type":"` + strings.Repeat("z", 100) + `"}`, protocol.CodeUnknownType, `unknown message type "` + strings.Repeat("z", 64) + `…"`},

		// Wrong types of fields.
		{"terminal_id is a number", `{"type":"hello","terminal_id":5}`, protocol.CodeInvalid, `field "terminal_id": cannot use JSON number as string`},
		{"success is a string", `{"type":"command_response","request_id":"r1","command":"get_status","success":"yes"}`, protocol.CodeInvalid, `field "success": cannot use JSON string as bool`},
		{"entries is an object", `{"type":"logs","entries":{"seq":1}}`, protocol.CodeInvalid, `field "entries": want a JSON array of entries`},
		{"status is an array", `{"type":"status","status":[1]}`, protocol.CodeInvalid, `"status" must be a JSON object`},
		{"status missing", `{"type":"status"}`, protocol.CodeInvalid, `"status" must be a JSON object`},
		{"capabilities is a string", `{"type":"hello","capabilities":"gzip"}`, protocol.CodeInvalid, `field "capabilities": cannot use JSON string as []string`},

		// Huge, negative and fractional numbers.
		{"last_ack_seq 2^64", `{"type":"hello","last_ack_seq":18446744073709551616}`, protocol.CodeInvalid, `field "last_ack_seq": cannot use JSON number 18446744073709551616 as uint64`},
		{"last_ack_seq 1e400", `{"type":"hello","last_ack_seq":1e400}`, protocol.CodeInvalid, `field "last_ack_seq": cannot use JSON number 1e400 as uint64`},
		{"last_ack_seq negative", `{"type":"hello","last_ack_seq":-1}`, protocol.CodeInvalid, `field "last_ack_seq": cannot use JSON number -1 as uint64`},
		{"last_ack_seq fraction", `{"type":"hello","last_ack_seq":1.5}`, protocol.CodeInvalid, `field "last_ack_seq": cannot use JSON number 1.5 as uint64`},
		{"seq 2^64", `{"type":"logs","entries":[` + entry("18446744073709551616") + `]}`, protocol.CodeInvalid, `entries[0].seq: cannot use JSON number 18446744073709551616 as uint64`},
		{"seq negative", `{"type":"logs","entries":[` + entry("-1") + `]}`, protocol.CodeInvalid, `entries[0].seq: cannot use JSON number -1 as uint64`},
		{"seq zero", `{"type":"logs","entries":[` + entry("0") + `]}`, protocol.CodeInvalid, `entries[0].seq: must be 1 or more`},
		{"dropped negative", `{"type":"logs","dropped":-5,"entries":[` + entry("1") + `]}`, protocol.CodeInvalid, `field "dropped": cannot use JSON number -5 as uint64`},

		// Deep nesting: 100k nested arrays are over the size limit; 60k fit
		// it and hit the decoder's depth limit (10,000).
		{"100k nested arrays", nested(100_000), protocol.CodeTooLarge, "message is 200033 bytes, the limit is 131072"},
		{"60k nested arrays", nested(60_000), protocol.CodeBadJSON, "malformed JSON at byte 10030: invalid character '[' exceeded max depth"},

		// Size.
		{"129 KB message", padded(129 * 1024), protocol.CodeTooLarge, "message is 132096 bytes, the limit is 131072"},
		{"log line over 16 KB", `{"type":"logs","entries":[{"seq":1,"ts":"2026-01-02T03:04:05Z","level":"info","msg":"` + strings.Repeat("m", 16*1024+1) + `"}]}`, protocol.CodeInvalid, "entries[0].msg: 16385 bytes, the limit is 16384"},
		{"65 capabilities", `{"type":"hello","capabilities":[` + strings.TrimSuffix(strings.Repeat(`"c",`, 65), ",") + `]}`, protocol.CodeInvalid, `field "capabilities": more than 64 entries`},
		{"batch span over 4096", `{"type":"logs","encoding":"gzip","data":"` + gzipSpan(t, 4097) + `"}`, protocol.CodeInvalid, "entries: more than 4096 entries; split the batch"},

		// Ids with path or control characters.
		{"terminal_id with a path", `{"type":"hello","terminal_id":"../etc/passwd"}`, protocol.CodeInvalid, `field "terminal_id": must be 1 to 128 characters of A-Z a-z 0-9 . _ : -`},
		{"terminal_id with a slash", `{"type":"hello","terminal_id":"a/b"}`, protocol.CodeInvalid, `field "terminal_id": must be 1 to 128 characters of A-Z a-z 0-9 . _ : -`},
		{"terminal_id with NUL", `{"type":"hello","terminal_id":"a\u0000b"}`, protocol.CodeInvalid, `field "terminal_id": must be 1 to 128 characters of A-Z a-z 0-9 . _ : -`},
		{"terminal_id with a newline", `{"type":"hello","terminal_id":"a\nb"}`, protocol.CodeInvalid, `field "terminal_id": must be 1 to 128 characters of A-Z a-z 0-9 . _ : -`},
		{"terminal_id of 129 bytes", `{"type":"hello","terminal_id":"` + strings.Repeat("a", 129) + `"}`, protocol.CodeInvalid, `field "terminal_id": must be 1 to 128 characters of A-Z a-z 0-9 . _ : -`},
		{"request_id with a path", `{"type":"command_response","request_id":"../r1","command":"get_status","success":true}`, protocol.CodeInvalid, `field "request_id": must be 1 to 128 characters of A-Z a-z 0-9 . _ : -`},
		{"request_id with an escape", `{"type":"command_response","request_id":"r\u001b[31m","command":"get_status","success":true}`, protocol.CodeInvalid, `field "request_id": must be 1 to 128 characters of A-Z a-z 0-9 . _ : -`},
		{"request_id empty", `{"type":"command_response","request_id":"","command":"get_status","success":true}`, protocol.CodeInvalid, `field "request_id": must be 1 to 128 characters of A-Z a-z 0-9 . _ : -`},

		// Logs content.
		{"empty batch", `{"type":"logs","entries":[]}`, protocol.CodeInvalid, `field "entries": at least one entry is required`},
		{"gap in a batch", `{"type":"logs","entries":[` + entry("1") + `,` + entry("3") + `]}`, protocol.CodeInvalid, "entries[1].seq: 3 does not follow 1 (must increase by exactly one; split batches at gaps)"},
		{"unknown level", `{"type":"logs","entries":[{"seq":1,"ts":"2026-01-02T03:04:05Z","level":"loud","msg":"x"}]}`, protocol.CodeInvalid, `entries[0].level: unknown level "loud" (want debug, info, warn or error)`},
		{"no timestamp", `{"type":"logs","entries":[{"seq":1,"level":"info","msg":"x"}]}`, protocol.CodeInvalid, "entries[0].ts: required (RFC 3339)"},
		{"unknown encoding", `{"type":"logs","encoding":"br","data":"AAAA"}`, protocol.CodeInvalid, `field "encoding": unknown encoding "br" (want "" or "gzip")`},
		{"data without encoding", `{"type":"logs","data":"AAAA"}`, protocol.CodeInvalid, `field "data": set without "encoding"`},
		{"data not gzip", `{"type":"logs","encoding":"gzip","data":"AAAA"}`, protocol.CodeInvalid, `field "data": not gzip: unexpected EOF`},
		{"gzip bomb of whitespace", `{"type":"logs","encoding":"gzip","data":"` + gzipBomb(t) + `"}`, protocol.CodeInvalid, `field "data": more than 131072 bytes before the first entry`},
		{"gzip bomb of entries", string(gzipLogs(t, fullEntries(4000, 0, 1200))), protocol.CodeTooLarge, `field "data": inflates past 4194304 bytes`},
		{"gzip bomb of {} entries", string(gzipLogs(t, emptyEntries(protocol.MaxInflatedBytes))), protocol.CodeInvalid, "entries[0].seq: must be 1 or more"},

		// Fields of an entry, plain and compressed: invalid, naming the
		// entry and the field.
		{"ts not RFC 3339", `{"type":"logs","entries":[{"seq":1,"ts":"yesterday","level":"info","msg":"x"}]}`, protocol.CodeInvalid, "entries[0].ts: want an RFC 3339 time"},
		{"ts without a zone", `{"type":"logs","entries":[{"seq":1,"ts":"2026-01-02T03:04:05","level":"info","msg":"x"}]}`, protocol.CodeInvalid, "entries[0].ts: want an RFC 3339 time"},
		{"ts a number", `{"type":"logs","entries":[{"seq":1,"ts":1767323045,"level":"info","msg":"x"}]}`, protocol.CodeInvalid, "entries[0].ts: want an RFC 3339 time"},
		{"ts not RFC 3339 in gzip data", string(gzipLogs(t, []byte(`[`+entry("1")+`,`+entry("2")+`,`+entry("3")+`,{"seq":4,"ts":"2026-01-02 03:04:05","level":"info","msg":"x"}]`))), protocol.CodeInvalid, "entries[3].ts: want an RFC 3339 time"},
		{"msg a number", `{"type":"logs","entries":[{"seq":1,"ts":"2026-01-02T03:04:05Z","level":"info","msg":5}]}`, protocol.CodeInvalid, "entries[0].msg: cannot use JSON number as string"},
		{"attrs a list", `{"type":"logs","entries":[{"seq":1,"ts":"2026-01-02T03:04:05Z","level":"info","msg":"x","attrs":["a"]}]}`, protocol.CodeInvalid, "entries[0].attrs: want an object of strings, numbers, booleans or nulls, not array"},
		{"attr an object", `{"type":"logs","entries":[{"seq":1,"ts":"2026-01-02T03:04:05Z","level":"info","msg":"x","attrs":{"n":5,"o":{"a":1}}}]}`, protocol.CodeInvalid, "entries[0].attrs.o: want a string, number, boolean or null"},
		{"attr a list", `{"type":"logs","entries":[{"seq":1,"ts":"2026-01-02T03:04:05Z","level":"info","msg":"x","attrs":{"l":[1]}}]}`, protocol.CodeInvalid, "entries[0].attrs.l: want a string, number, boolean or null"},
		{"ack mode unknown", `{"type":"logs","ack":"later","entries":[{"seq":1,"ts":"2026-01-02T03:04:05Z","level":"info","msg":"x"}]}`, protocol.CodeInvalid, `field "ack": "later" is not an acknowledgement mode (want "deferred", or leave it out)`},
		{"hello status not an object", `{"type":"hello","status":[1]}`, protocol.CodeInvalid, `field "status": must be a JSON object (a status report)`},
		{"65 attrs", string(gzipLogs(t, fullEntries(2, 65, 0))), protocol.CodeInvalid, "entries[0].attrs: 65 attributes, the limit is 64"},
		{"entry not an object", `{"type":"logs","entries":[` + entry("1") + `,2]}`, protocol.CodeInvalid, "entries[1]: want a JSON object, not number"},
		{"log line over 16 KB in gzip data", string(gzipLogs(t, []byte(`[`+entry("1")+`,{"seq":2,"ts":"2026-01-02T03:04:05Z","level":"info","msg":"`+strings.Repeat("m", 16*1024+1)+`"}]`))), protocol.CodeInvalid, "entries[1].msg: 16385 bytes, the limit is 16384"},
		{"entry over 128 KB in gzip data", string(gzipLogs(t, []byte(`[`+entry("1")+`,{"seq":2,"ts":"2026-01-02T03:04:05Z","level":"info","msg":"x","source":"`+strings.Repeat("s", 128*1024)+`"}]`))), protocol.CodeInvalid, "entries[1]: more than 131072 bytes"},

		// The data field and what it inflates to.
		{"data not base64", `{"type":"logs","encoding":"gzip","data":"not base64!"}`, protocol.CodeInvalid, `field "data": not base64: illegal base64 data at input byte 3`},
		{"data a number", `{"type":"logs","encoding":"gzip","data":5}`, protocol.CodeInvalid, `field "data": want a base64 string`},
		{"unknown encoding and data not base64", `{"type":"logs","encoding":"zstd","data":"not base64!"}`, protocol.CodeInvalid, `field "encoding": unknown encoding "zstd" (want "" or "gzip")`},
		{"entries and data", `{"type":"logs","entries":[` + entry("1") + `],"encoding":"gzip","data":"` + gzipSpan(t, 1) + `"}`, protocol.CodeInvalid, `fields "entries" and "data": only one may be set`},
		{"gzip of an object", string(gzipLogs(t, []byte(`{"seq":1}`))), protocol.CodeInvalid, `field "data": want a JSON array of entries`},
		{"gzip of nothing", string(gzipLogs(t, nil)), protocol.CodeBadJSON, `field "data": malformed JSON before the first entry: unexpected end of JSON input`},
		{"gzip of null", string(gzipLogs(t, []byte(`null`))), protocol.CodeInvalid, `field "entries": at least one entry is required`},
		{"gzip of truncated JSON", string(gzipLogs(t, []byte(`[`+entry("1")+`,{"seq":2`))), protocol.CodeBadJSON, `field "data": malformed JSON in entries[1]: unexpected end of JSON input`},
		{"gzip of malformed JSON", string(gzipLogs(t, []byte(`[`+entry("1")+`,{"seq":2,}]`))), protocol.CodeBadJSON, `field "data": malformed JSON in entries[1]: invalid character '}' looking for beginning of object key string`},
		{"gzip with data after the array", string(gzipLogs(t, []byte(`[`+entry("1")+`] []`))), protocol.CodeBadJSON, `field "data": malformed JSON after the last entry: found [, want the end`},
		{"gzip with garbage after the array", string(gzipLogs(t, []byte(`[`+entry("1")+`] x`))), protocol.CodeBadJSON, `field "data": malformed JSON after the last entry: invalid character 'x' looking for beginning of value`},
		{"gzip with whitespace after the array", string(gzipLogs(t, []byte(`[`+entry("1")+`]`+strings.Repeat(" ", 200_000)))), protocol.CodeInvalid, `field "data": more than 131072 bytes after the last entry`},
		{"gzip of invalid UTF-8", string(gzipLogs(t, []byte(`[{"seq":1,"ts":"2026-01-02T03:04:05Z","level":"info","msg":"`+"\xc3\x28"+`"}]`))), protocol.CodeBadJSON, `field "data": inflated entries are not valid UTF-8`},
		{"gzip with a bad checksum", `{"type":"logs","encoding":"gzip","data":"` + badChecksum(t) + `"}`, protocol.CodeInvalid, `field "data": corrupt gzip: gzip: invalid checksum`},
		{"gzip cut short", `{"type":"logs","encoding":"gzip","data":"` + cutShort(t) + `"}`, protocol.CodeInvalid, `field "data": corrupt gzip: unexpected EOF`},

		// Command responses.
		{"command missing", `{"type":"command_response","request_id":"r1","success":true}`, protocol.CodeInvalid, `field "command": required, at most 64 bytes`},
		{"success with an error", `{"type":"command_response","request_id":"r1","command":"ping","success":true,"error":"x"}`, protocol.CodeInvalid, `field "error": must be empty when "success" is true`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := protocol.Decode([]byte(tt.body))
			var pe *protocol.Error
			if !errors.As(err, &pe) {
				t.Fatalf("Decode: got %v (%T), want *protocol.Error %s", err, err, tt.wantCode)
			}
			if pe.Code != tt.wantCode || pe.Message != tt.wantMsg {
				t.Errorf("Decode:\n got %s: %s\nwant %s: %s", pe.Code, pe.Message, tt.wantCode, tt.wantMsg)
			}
			sent := protocol.NewError(err, "")
			if sent.Type != protocol.TypeError || sent.Code != tt.wantCode || sent.Message != tt.wantMsg {
				t.Errorf("error message sent back: got %+v, want type error, %s: %s", sent, tt.wantCode, tt.wantMsg)
			}
		})
	}
}

// TestLimitsAccepted pins the other side of the limits: the largest
// message, seq and span that are accepted.
func TestLimitsAccepted(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body string
	}{
		{"128 KB message", padded(protocol.MaxMessageBytes)},
		{"seq 2^64-1", `{"type":"logs","entries":[` + entry("18446744073709551615") + `]}`},
		{"span 4096", `{"type":"logs","encoding":"gzip","data":"` + gzipSpan(t, 4096) + `"}`},
		{"9,990 nested arrays", nested(9990)},
		{"terminal_id of 128 bytes", `{"type":"hello","terminal_id":"` + strings.Repeat("a", 128) + `"}`},
		{"unknown fields", `{"type":"heartbeat","future":{"x":[1,2]}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := protocol.Decode([]byte(tt.body)); err != nil {
				t.Errorf("Decode: got %v, want accepted", err)
			}
		})
	}
}

// gzipSpan returns the base64 of a gzip batch of n consecutive entries.
func gzipSpan(t *testing.T, n int) string {
	t.Helper()
	entries := make([]protocol.LogEntry, n)
	for i := range entries {
		entries[i] = protocol.LogEntry{Seq: uint64(i + 1), Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Level: "info", Message: "x"}
	}
	data, err := protocol.CompressEntries(entries)
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(data)
}

// badChecksum returns the base64 of a gzip batch whose CRC is wrong.
func badChecksum(t *testing.T) string {
	t.Helper()
	data, err := base64.StdEncoding.DecodeString(gzipSpan(t, 3))
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)-8] ^= 0xff // the CRC-32 precedes the 4-byte length
	return base64.StdEncoding.EncodeToString(data)
}

// cutShort returns the base64 of a gzip batch missing its last bytes.
func cutShort(t *testing.T) string {
	t.Helper()
	data, err := base64.StdEncoding.DecodeString(gzipSpan(t, 3))
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(data[:len(data)-12])
}

// gzipBomb returns the base64 of gzip data inflating to 5 MB.
func gzipBomb(t *testing.T) string {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(bytes.Repeat([]byte(" "), 5<<20)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(buf.Bytes())
}
