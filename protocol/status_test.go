package protocol_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/edgesync/edgesync/protocol"
)

// TestLogsCarryingStatus: a logs message may carry a status report; Decode
// keeps an object, drops an absent or null one, and rejects anything else
// with the field named (the lines are then resent without it).
func TestLogsCarryingStatus(t *testing.T) {
	t.Parallel()
	const entries = `"entries":[{"seq":7,"ts":"2026-01-02T03:04:05Z","level":"info","msg":"x"}]`
	tests := []struct {
		name       string
		body       string
		wantStatus string // "" for none
		wantCode   string // "" for accepted
	}{
		{"no status", `{"type":"logs",` + entries + `}`, "", ""},
		{"status object", `{"type":"logs",` + entries + `,"status":{"cpu_percent":12.5}}`, `{"cpu_percent":12.5}`, ""},
		{"empty object", `{"type":"logs",` + entries + `,"status":{}}`, `{}`, ""},
		{"null status", `{"type":"logs",` + entries + `,"status":null}`, "", ""},
		{"status array", `{"type":"logs",` + entries + `,"status":[1]}`, "", protocol.CodeInvalid},
		{"status string", `{"type":"logs",` + entries + `,"status":"ok"}`, "", protocol.CodeInvalid},
		{"status number", `{"type":"logs",` + entries + `,"status":3}`, "", protocol.CodeInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			msg, err := protocol.Decode([]byte(tt.body))
			if tt.wantCode != "" {
				var perr *protocol.Error
				if !errors.As(err, &perr) || perr.Code != tt.wantCode {
					t.Fatalf("Decode: got %v, want code %s", err, tt.wantCode)
				}
				return
			}
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			logs := msg.(*protocol.Logs)
			if got := string(logs.Status); got != tt.wantStatus {
				t.Errorf("Status: got %q, want %q", got, tt.wantStatus)
			}
			if len(logs.Entries) != 1 || logs.Entries[0].Seq != 7 {
				t.Errorf("Entries: got %+v, want seq 7", logs.Entries)
			}
		})
	}
}

// TestServerMessagesEncoding pins the wire form of the messages added for
// cost: an ack that confirms a carried status, and live.
func TestServerMessagesEncoding(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		msg  any
		want string
	}{
		{"ack", protocol.Ack{Type: protocol.TypeAck, Of: protocol.TypeLogs, FirstSeq: 3, LastSeq: 9}, `{"type":"ack","of":"logs","first_seq":3,"last_seq":9}`},
		{"ack with status", protocol.Ack{Type: protocol.TypeAck, Of: protocol.TypeLogs, FirstSeq: 3, LastSeq: 9, Status: true}, `{"type":"ack","of":"logs","first_seq":3,"last_seq":9,"status":true}`},
		{"live", protocol.Live{Type: protocol.TypeLive, Seconds: 60}, `{"type":"live","seconds":60}`},
		{"logs with status", protocol.Logs{Type: protocol.TypeLogs, Entries: []protocol.LogEntry{}, Status: json.RawMessage(`{"a":1}`)}, `{"type":"logs","status":{"a":1}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := protocol.Encode(tt.msg)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}
