package protocol_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"testing"
	"unicode/utf8"

	"github.com/edgesync/edgesync/protocol"
)

// knownCodes are the codes Decode may answer with.
var knownCodes = map[string]bool{
	protocol.CodeBadJSON:     true,
	protocol.CodeTooLarge:    true,
	protocol.CodeUnknownType: true,
	protocol.CodeInvalid:     true,
}

// FuzzDecode feeds arbitrary bytes to Decode. The committed seed corpus is
// testdata/fuzz/FuzzDecode; run the fuzzer with
//
//	go test ./protocol -run='^$' -fuzz=FuzzDecode -fuzztime=60s
//
// Properties: Decode never panics; a rejection is a *protocol.Error with a
// known code and a non-empty UTF-8 message, which encodes as an error
// message; an accepted message is within the limits, of a terminal type,
// valid again when re-encoded, and decodes to the same thing.
func FuzzDecode(f *testing.F) {
	seeds := []string{
		`{"type":"hello","terminal_id":"press-07","agent_version":"1.2.3","capabilities":["gzip"],"last_ack_seq":41}`,
		`{"type":"heartbeat"}`,
		`{"type":"status","status":{"cpu_percent":12.5,"memory_percent":40}}`,
		`{"type":"command_response","request_id":"r-1","command":"get_config","success":true,"result":{"a":1}}`,
		`{"type":"command_response","request_id":"r-2","command":"ping","success":false,"error":"busy"}`,
		`{"type":"logs","entries":[{"seq":1,"ts":"2026-01-02T03:04:05Z","level":"info","msg":"a"},{"seq":2,"ts":"2026-01-02T03:04:05.5+01:00","level":"WARNING","msg":"b","source":"s","attrs":{"k":"v"}}],"dropped":3}`,
		`{"type":"logs","encoding":"gzip","data":"H4sIAAAAAAAA/4quVkouTVWyMjTQUSqxMjA00jUw1jUwMlQyMDLRMzBQ0lHKTs0rSc1LUbJKSc1JTbFSSsrPL1GqBQQAAP//"}`,
		`{"type":"logs","entries":[]}`,
		`{"type":"reboot"}`,
		`{"type":5}`,
		`[1,2,3]`,
		"{\"type\":\"heartbeat\",\"x\":\"\xff\"}",
		`{"type":"hello","last_ack_seq":18446744073709551616}`,
		`{"type":"status","status":{"a":[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]}}`,
	}
	if gz, err := protocol.CompressEntries([]protocol.LogEntry{{Seq: 7, Level: "error", Message: "x"}}); err == nil {
		raw, _ := json.Marshal(protocol.Logs{Type: protocol.TypeLogs, Encoding: protocol.EncodingGzip, Data: gz})
		seeds = append(seeds, string(raw))
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		msg, err := protocol.Decode(body)
		if err != nil {
			checkRejection(t, err)
			return
		}
		if len(body) > protocol.MaxMessageBytes || !utf8.Valid(body) {
			t.Fatalf("accepted a message of %d bytes (valid UTF-8: %v)", len(body), utf8.Valid(body))
		}
		again := roundTrip(t, msg)
		if !sameMessage(msg, again) {
			t.Fatalf("decode(encode(m)) differs:\n first: %#v\nsecond: %#v", msg, again)
		}
	})
}

func checkRejection(t *testing.T, err error) {
	t.Helper()
	var pe *protocol.Error
	if !errors.As(err, &pe) {
		t.Fatalf("rejection is %T (%v), want *protocol.Error", err, err)
	}
	if !knownCodes[pe.Code] {
		t.Fatalf("rejection code %q is not a Decode code (%v)", pe.Code, err)
	}
	if pe.Message == "" || !utf8.ValidString(pe.Message) {
		t.Fatalf("rejection message %q is empty or not UTF-8", pe.Message)
	}
	em := protocol.NewError(err, "")
	if em.Code != pe.Code || em.Message != pe.Message {
		t.Fatalf("NewError(%v) = %+v, want the same code and message", err, em)
	}
	if _, err := protocol.Encode(em); err != nil {
		t.Fatalf("encode error message: %v", err)
	}
}

// roundTrip encodes an accepted message and decodes it again; the result
// must be accepted too.
func roundTrip(t *testing.T, msg any) any {
	t.Helper()
	switch m := msg.(type) {
	case *protocol.Logs:
		if len(m.Entries) == 0 || m.Data != nil || m.Encoding != "" {
			t.Fatalf("accepted logs: %d entries, %d data bytes, encoding %q; want entries only", len(m.Entries), len(m.Data), m.Encoding)
		}
		if err := protocol.ValidateEntries(m.Entries); err != nil {
			t.Fatalf("accepted logs fail ValidateEntries: %v", err)
		}
	case *protocol.Hello, *protocol.CommandResponse, *protocol.Status, *protocol.Heartbeat:
	default:
		t.Fatalf("Decode returned %T", msg)
	}
	raw, err := protocol.Encode(msg)
	if err != nil {
		t.Fatalf("encode accepted %T: %v", msg, err)
	}
	if len(raw) > protocol.MaxMessageBytes {
		// Re-encoding may grow a message (escapes); only check what fits.
		return msg
	}
	again, err := protocol.Decode(raw)
	if err != nil {
		t.Fatalf("re-encoded %T rejected: %v\n%s", msg, err, raw)
	}
	return again
}

// sameMessage compares two decoded messages through their encoding, which
// ignores time.Location pointers.
func sameMessage(a, b any) bool {
	ra, err1 := protocol.Encode(a)
	rb, err2 := protocol.Encode(b)
	return err1 == nil && err2 == nil && string(ra) == string(rb)
}

// FuzzInflateEntries feeds arbitrary inflated data to InflateEntries (the
// bytes are gzipped first) and compares the streaming decoder with the
// whole-batch rule it replaces: json.Unmarshal of the inflated bytes into
// []protocol.LogEntry, then ValidateEntries. Run it with
//
//	go test ./protocol -run='^$' -fuzz=FuzzInflateEntries -fuzztime=60s
//
// Properties: no panic; a rejection is a *protocol.Error with a known
// code; what is accepted the reference accepts too, with the same
// entries; and what the reference accepts within the limits is accepted.
func FuzzInflateEntries(f *testing.F) {
	seeds := []string{
		`[{"seq":1,"ts":"2026-01-02T03:04:05Z","level":"info","msg":"a"},{"seq":2,"ts":"2026-01-02T03:04:05.5+01:00","level":"WARNING","msg":"b","source":"s","attrs":{"k":"v"}}]`,
		`[{"seq":1,"ts":"2026-01-02T03:04:05Z","level":"info","msg":"a","attrs":{"k":"v"},"attrs":{"j":"w"}}]`,
		`[{"SEQ":3,"Ts":"2026-01-02T03:04:05Z","msg":"\u00e9\ud83d\ude00"}]`,
		`[{},{},{}]`,
		`[null]`,
		`null`,
		`[]`,
		` [ {"seq":1,"ts":"2026-01-02T03:04:05Z"} ] `,
		`[{"seq":1,"ts":"yesterday"}]`,
		`[{"seq":1,"ts":"2026-01-02T03:04:05Z","attrs":{"n":5}}]`,
		`[{"seq":1,"ts":"2026-01-02T03:04:05Z"}] x`,
		`[{"seq":1,"ts":"2026-01-02T03:04:05Z"}`,
		`{"seq":1}`,
		"[{\"seq\":1,\"ts\":\"2026-01-02T03:04:05Z\",\"msg\":\"\xc3\x28\"}]",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Write(raw)
		zw.Close()
		got, err := protocol.InflateEntries(protocol.EncodingGzip, nil, buf.Bytes())

		var want []protocol.LogEntry
		refErr := json.Unmarshal(raw, &want)
		if refErr == nil && !utf8.Valid(raw) {
			refErr = errors.New("not UTF-8")
		}
		if refErr == nil && len(want) > 0 {
			refErr = protocol.ValidateEntries(want)
		}
		if err != nil {
			checkRejection(t, err)
			if refErr == nil && len(raw) <= protocol.MaxEntryBytes {
				t.Fatalf("rejected %q (%v); the reference accepts it", raw, err)
			}
			return
		}
		if refErr != nil {
			t.Fatalf("accepted %q; the reference rejects it: %v", raw, refErr)
		}
		if len(got) > protocol.MaxBatchSpan {
			t.Fatalf("accepted %d entries", len(got))
		}
		if (len(got) > 0 || len(want) > 0) && !sameMessage(got, want) {
			t.Fatalf("entries differ from the reference:\n got %#v\nwant %#v", got, want)
		}
	})
}
