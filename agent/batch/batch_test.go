package batch_test

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/edgesync/edgesync/agent/batch"
	"github.com/edgesync/edgesync/protocol"
)

var now = time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)

func entries(n int, msg func(i int) string) []protocol.LogEntry {
	out := make([]protocol.LogEntry, n)
	for i := range out {
		out[i] = protocol.LogEntry{Seq: uint64(i + 1), Time: now, Level: "info", Message: msg(i + 1)}
	}
	return out
}

func random(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawStdEncoding.EncodeToString(b)[:n]
}

func TestNormalize(t *testing.T) {
	t.Parallel()
	manyAttrs := protocol.Attrs{}
	for i := range 40 {
		manyAttrs[fmt.Sprintf("k%02d", i)] = "v"
	}
	tests := []struct {
		name  string
		in    protocol.LogEntry
		check func(t *testing.T, e protocol.LogEntry)
	}{
		{"level alias", protocol.LogEntry{Level: "WARNING", Message: "m"}, func(t *testing.T, e protocol.LogEntry) {
			if e.Level != protocol.LevelWarn || !e.Time.Equal(now) {
				t.Errorf("got %+v", e)
			}
		}},
		{"unknown level kept as an attribute", protocol.LogEntry{Level: "loud", Message: "m"}, func(t *testing.T, e protocol.LogEntry) {
			if e.Level != protocol.LevelInfo || e.Attrs["level"] != "loud" {
				t.Errorf("got %+v", e)
			}
		}},
		{"long message truncated with a marker", protocol.LogEntry{Message: strings.Repeat("é", 20000)}, func(t *testing.T, e protocol.LogEntry) {
			if len(e.Message) > protocol.MaxMessageLength || !strings.HasSuffix(e.Message, "[truncated, 40000 bytes]") || !utf8.ValidString(e.Message) {
				t.Errorf("message of %d bytes ending %q", len(e.Message), e.Message[len(e.Message)-40:])
			}
		}},
		{"invalid UTF-8 repaired", protocol.LogEntry{Message: "a\xffb"}, func(t *testing.T, e protocol.LogEntry) {
			if e.Message != "a\uFFFDb" {
				t.Errorf("got %q", e.Message)
			}
		}},
		{"attributes bounded", protocol.LogEntry{Message: "m", Attrs: manyAttrs}, func(t *testing.T, e protocol.LogEntry) {
			if len(e.Attrs) != batch.MaxAttrs+1 || protocol.AttrString(e.Attrs["attrs_truncated"]) != "8" {
				t.Errorf("%d attrs: %v", len(e.Attrs), e.Attrs)
			}
		}},
		{"escape-heavy message fits one frame", protocol.LogEntry{Message: strings.Repeat("\x01", protocol.MaxMessageLength)}, func(t *testing.T, e protocol.LogEntry) {
			b, _ := json.Marshal(e)
			if len(b) > batch.EntryLimit || !strings.Contains(e.Message, "truncated") {
				t.Errorf("encoded size %d, limit %d", len(b), batch.EntryLimit)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := batch.Normalize(tt.in, now)
			if err := protocol.ValidateEntries([]protocol.LogEntry{{Seq: 1, Time: e.Time, Level: e.Level, Message: e.Message}}); err != nil {
				t.Errorf("normalized entry is invalid: %v", err)
			}
			tt.check(t, e)
		})
	}
}

func TestPack(t *testing.T) {
	t.Parallel()
	yes, no := true, false
	tests := []struct {
		name      string
		entries   []protocol.LogEntry
		limit     int
		wantGzip  *bool // nil: either
		wantLines func(n int) bool
	}{
		{"one short line goes plain", entries(1, func(i int) string { return "x" }), protocol.MaxFrameBytes, &no, func(n int) bool { return n == 1 }},
		{"repetitive lines go gzip and carry more", entries(5000, func(i int) string { return "detector calibrated, all channels nominal" }),
			protocol.MaxFrameBytes, &yes, func(n int) bool { return n > 400 }},
		{"random lines split", entries(1000, func(i int) string { return random(300) }), protocol.MaxFrameBytes, nil,
			func(n int) bool { return n > 50 && n < 1000 }},
		{"span is bounded", entries(5000, func(i int) string { return "x" }), protocol.MaxFrameBytes, &yes,
			func(n int) bool { return n <= protocol.MaxBatchSpan }},
		{"small limit", entries(100, func(i int) string { return random(100) }), 1024, nil, func(n int) bool { return n >= 1 && n < 10 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m, err := batch.Pack(tt.entries, 7, tt.limit)
			if err != nil {
				t.Fatal(err)
			}
			if len(m.Body) > tt.limit {
				t.Errorf("body %d bytes, limit %d", len(m.Body), tt.limit)
			}
			if (tt.wantGzip != nil && m.Gzip != *tt.wantGzip) || !tt.wantLines(m.Lines) {
				t.Errorf("gzip=%v lines=%d", m.Gzip, m.Lines)
			}
			decoded, err := protocol.Decode(m.Body)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			logs := decoded.(*protocol.Logs)
			if len(logs.Entries) != m.Lines || logs.Dropped != 7 || logs.Entries[0].Seq != m.FirstSeq || logs.Entries[m.Lines-1].Seq != m.LastSeq {
				t.Errorf("decoded %d entries, message says %+v", len(logs.Entries), m)
			}
			for i, e := range logs.Entries {
				if e.Message != tt.entries[i].Message {
					t.Fatalf("entry %d = %q, want %q", i, e.Message, tt.entries[i].Message)
				}
			}
		})
	}
}

func TestPackAllCoversEverything(t *testing.T) {
	t.Parallel()
	in := entries(3000, func(i int) string { return random(50 + i%200) })
	msgs, err := batch.PackAll(in, 0, protocol.MaxFrameBytes)
	if err != nil {
		t.Fatal(err)
	}
	next := uint64(1)
	for _, m := range msgs {
		if m.FirstSeq != next || len(m.Body) > protocol.MaxFrameBytes {
			t.Errorf("message %+v (%d bytes), want it to start at %d", m.FirstSeq, len(m.Body), next)
		}
		next = m.LastSeq + 1
	}
	if next != 3001 {
		t.Errorf("covered up to %d, want 3000", next-1)
	}
}

func TestPackShrinksALineThatCannotFit(t *testing.T) {
	t.Parallel()
	in := []protocol.LogEntry{{Seq: 9, Time: now, Level: "info", Message: random(5000)}}
	m, err := batch.Pack(in, 0, 1024)
	if err != nil {
		t.Fatal(err)
	}
	got, err := protocol.Decode(m.Body)
	if err != nil || len(m.Body) > 1024 {
		t.Fatalf("Decode: %v (%d bytes)", err, len(m.Body))
	}
	if msg := got.(*protocol.Logs).Entries[0].Message; !strings.Contains(msg, "truncated, 5000 bytes") {
		t.Errorf("message %q has no marker", msg)
	}
}

func TestNewest(t *testing.T) {
	t.Parallel()
	wrap := func(r protocol.GetLogsResult) ([]byte, error) { return json.Marshal(r) }
	tests := []struct {
		name  string
		in    []protocol.LogEntry
		limit int
		check func(t *testing.T, n int)
	}{
		{"all fit", entries(10, func(int) string { return "x" }), protocol.MaxFrameBytes, func(t *testing.T, n int) {
			if n != 10 {
				t.Errorf("n = %d", n)
			}
		}},
		{"oldest left out", entries(500, func(int) string { return random(200) }), protocol.MaxFrameBytes, func(t *testing.T, n int) {
			if n == 0 || n >= 500 {
				t.Errorf("n = %d", n)
			}
		}},
		{"empty", nil, protocol.MaxFrameBytes, func(t *testing.T, n int) {
			if n != 0 {
				t.Errorf("n = %d", n)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			body, n, err := batch.Newest(tt.in, 0, tt.limit, wrap)
			if err != nil {
				t.Fatal(err)
			}
			if len(body) > tt.limit {
				t.Errorf("%d bytes, limit %d", len(body), tt.limit)
			}
			var r protocol.GetLogsResult
			json.Unmarshal(body, &r)
			got, err := protocol.InflateEntries(r.Encoding, r.Entries, r.Data)
			if err != nil || len(got) != n {
				t.Fatalf("inflated %d entries (%v), want %d", len(got), err, n)
			}
			if n > 0 && got[n-1].Seq != tt.in[len(tt.in)-1].Seq {
				t.Errorf("last seq %d, want the newest %d", got[n-1].Seq, tt.in[len(tt.in)-1].Seq)
			}
			tt.check(t, n)
		})
	}
}

func TestPackStopsAtAGap(t *testing.T) {
	t.Parallel()
	in := entries(10, func(int) string { return "x" })
	in = append(in[:4], in[6:]...) // seqs 1-4, 7-10
	msgs, err := batch.PackAll(in, 0, protocol.MaxFrameBytes)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 2 || msgs[0].LastSeq != 4 || msgs[1].FirstSeq != 7 {
		t.Fatalf("messages %+v, want 1-4 and 7-10", msgs)
	}
	for _, m := range msgs {
		if _, err := protocol.Decode(m.Body); err != nil {
			t.Errorf("Decode: %v", err)
		}
		var v struct {
			RequestID string `json:"request_id"`
		}
		json.Unmarshal(m.Body, &v)
		first, last, ok := batch.ParseRequestID(v.RequestID)
		if !ok || first != m.FirstSeq || last != m.LastSeq || !protocol.ValidID(v.RequestID) {
			t.Errorf("request_id %q does not name %d..%d", v.RequestID, m.FirstSeq, m.LastSeq)
		}
	}
}

func TestParseRequestID(t *testing.T) {
	t.Parallel()
	tests := []struct {
		id          string
		first, last uint64
		ok          bool
	}{
		{batch.RequestID(5, 9), 5, 9, true},
		{"logs:1-1", 1, 1, true},
		{"logs:9-5", 0, 0, false},
		{"logs:0-5", 0, 0, false},
		{"logs:5", 0, 0, false},
		{"req-12", 0, 0, false},
		{"logs:a-b", 0, 0, false},
	}
	for _, tt := range tests {
		first, last, ok := batch.ParseRequestID(tt.id)
		if first != tt.first || last != tt.last || ok != tt.ok {
			t.Errorf("ParseRequestID(%q) = %d, %d, %v; want %d, %d, %v", tt.id, first, last, ok, tt.first, tt.last, tt.ok)
		}
	}
}

// TestPackStatus: a status report rides in the message within the size
// limit, decodes back as it was, and is left out rather than a line when
// nothing would fit beside it.
func TestPackStatus(t *testing.T) {
	t.Parallel()
	status := json.RawMessage(`{"cpu_percent":12.5,"hostname":"press-07","pad":"` + strings.Repeat("s", 600) + `"}`)
	tests := []struct {
		name       string
		entries    []protocol.LogEntry
		limit      int
		wantStatus bool
		wantLines  int
	}{
		{"few lines", entries(3, func(i int) string { return fmt.Sprintf("line %d", i) }), protocol.MaxFrameBytes, true, 3},
		{"more than fits", entries(400, func(int) string { return random(200) }), 4096, true, 0},
		{"one line filling the message", entries(1, func(int) string { return random(3900) }), 4096, false, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m, err := batch.PackStatus(tt.entries, 0, status, tt.limit)
			if err != nil {
				t.Fatal(err)
			}
			if len(m.Body) > tt.limit {
				t.Errorf("body %d bytes, limit %d", len(m.Body), tt.limit)
			}
			if m.Status != tt.wantStatus {
				t.Errorf("Status: got %v, want %v", m.Status, tt.wantStatus)
			}
			if tt.wantLines > 0 && m.Lines != tt.wantLines {
				t.Errorf("lines: got %d, want %d", m.Lines, tt.wantLines)
			}
			msg, err := protocol.Decode(m.Body)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			logs := msg.(*protocol.Logs)
			if got := string(logs.Status); (got != "") != tt.wantStatus || (tt.wantStatus && got != string(status)) {
				t.Errorf("decoded status: got %q, want it carried: %v", got, tt.wantStatus)
			}
			if len(logs.Entries) != m.Lines || logs.Entries[0].Seq != m.FirstSeq || logs.Entries[len(logs.Entries)-1].Seq != m.LastSeq {
				t.Errorf("decoded %d entries, message says %d (%d..%d)", len(logs.Entries), m.Lines, m.FirstSeq, m.LastSeq)
			}
			plain, err := batch.Pack(tt.entries, 0, tt.limit)
			if err != nil {
				t.Fatal(err)
			}
			if plain.Status || plain.Lines < m.Lines {
				t.Errorf("Pack without status: Status %v, %d lines; want false and at least %d lines", plain.Status, plain.Lines, m.Lines)
			}
		})
	}
}
