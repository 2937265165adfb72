package protocol_test

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/edgesync/edgesync/protocol"
)

// gzipBase64 returns the base64 of raw gzipped at the best compression.
func gzipBase64(t testing.TB, raw []byte) string {
	t.Helper()
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := zw.Write(raw); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(buf.Bytes())
}

// gzipLogs returns a logs message carrying raw as its gzip data.
func gzipLogs(t testing.TB, raw []byte) []byte {
	t.Helper()
	return []byte(`{"type":"logs","encoding":"gzip","data":"` + gzipBase64(t, raw) + `"}`)
}

// emptyEntries returns a JSON array of "{}" entries of at most n bytes.
func emptyEntries(n int) []byte {
	count := (n - 1) / 3
	return []byte("[" + strings.TrimSuffix(strings.Repeat("{},", count), ",") + "]")
}

// fullEntries returns a JSON array of count consecutive valid entries,
// each carrying attrs attributes and a message of msgLen bytes.
func fullEntries(count, attrs, msgLen int) []byte {
	var b bytes.Buffer
	b.WriteByte('[')
	msg := strings.Repeat("m", msgLen)
	for i := range count {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"seq":%d,"ts":"2026-01-02T03:04:05Z","level":"info","msg":%q`, i+1, msg)
		if attrs > 0 {
			b.WriteString(`,"attrs":{`)
			for a := range attrs {
				if a > 0 {
					b.WriteByte(',')
				}
				fmt.Fprintf(&b, `"%d":""`, a)
			}
			b.WriteByte('}')
		}
		b.WriteByte('}')
	}
	b.WriteByte(']')
	return b.Bytes()
}

// allocatedBy returns the bytes f allocates on the heap, on average over
// runs calls (runtime.MemStats.TotalAlloc; callers must not run in
// parallel with other tests).
func allocatedBy(runs int, f func()) uint64 {
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range runs {
		f()
	}
	runtime.ReadMemStats(&after)
	return (after.TotalAlloc - before.TotalAlloc) / uint64(runs)
}

// TestDecodeMemoryBound is the decompression-amplification attack (issue
// 12, hole 7): a logs message of a few kilobytes whose gzip data inflates
// to 4 MB. Decode must refuse it having allocated a bounded amount,
// whatever the inflated entries look like. Five messages are decoded and
// the average allocation per message is checked: a 128 MB function must
// survive them one after another. Not parallel: TotalAlloc counts every
// goroutine's allocations.
func TestDecodeMemoryBound(t *testing.T) {
	const limit = 16 << 20
	tests := []struct {
		name     string
		raw      []byte
		wantCode string
		wantMsg  string
	}{
		{"4 MB of {} entries", emptyEntries(protocol.MaxInflatedBytes), protocol.CodeInvalid, "entries[0].seq: must be 1 or more"},
		{"4096 valid entries then {} to 4 MB", append(append(fullEntries(protocol.MaxBatchSpan, 0, 0)[:len(fullEntries(protocol.MaxBatchSpan, 0, 0))-1], ','), emptyEntries(protocol.MaxInflatedBytes - 300_000)[1:]...), protocol.CodeInvalid, "entries: more than 4096 entries; split the batch"},
		{"one 4 MB message", []byte(`[{"seq":1,"ts":"2026-01-02T03:04:05Z","level":"info","msg":"` + strings.Repeat("m", protocol.MaxInflatedBytes-100) + `"}]`), protocol.CodeInvalid, "entries[0]: more than 131072 bytes"},
		{"4 MB of whitespace", []byte("[" + strings.Repeat(" ", protocol.MaxInflatedBytes-2) + "]"), protocol.CodeInvalid, "entries[0]: more than 131072 bytes"},
		{"5 MB of entries", fullEntries(4000, 0, 1200), protocol.CodeTooLarge, `field "data": inflates past 4194304 bytes`},
		{"one entry with 20k attributes", fullEntries(1, 20_000, 0), protocol.CodeInvalid, "entries[0]: more than 131072 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := gzipLogs(t, tt.raw)
			if len(body) > protocol.MaxMessageBytes {
				t.Fatalf("attack message is %d bytes, want it within the %d-byte limit", len(body), protocol.MaxMessageBytes)
			}
			var err error
			got := allocatedBy(5, func() { _, err = protocol.Decode(body) })
			t.Logf("%d-byte message inflating to %d bytes: %.2f MB allocated per Decode", len(body), len(tt.raw), float64(got)/(1<<20))
			var pe *protocol.Error
			if !errors.As(err, &pe) || pe.Code != tt.wantCode || pe.Message != tt.wantMsg {
				t.Errorf("Decode: got %v, want %s: %s", err, tt.wantCode, tt.wantMsg)
			}
			if got > limit {
				t.Errorf("Decode allocated %d bytes per message, want at most %d", got, limit)
			}
		})
	}
}

// TestDecodeMemoryLargestAccepted bounds the allocation of the largest
// batches Decode accepts: 4096 entries with the most attributes, and
// entries whose messages fill the inflation limit.
func TestDecodeMemoryLargestAccepted(t *testing.T) {
	const limit = 32 << 20
	tests := []struct {
		name string
		raw  []byte
	}{
		{"4096 entries of 64 attributes", fullEntries(protocol.MaxBatchSpan, protocol.MaxAttrs, 0)},
		{"4096 entries of 900-byte messages", fullEntries(protocol.MaxBatchSpan, 0, 900)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := gzipLogs(t, tt.raw)
			var msg any
			var err error
			got := allocatedBy(5, func() { msg, err = protocol.Decode(body) })
			t.Logf("%d-byte message inflating to %d bytes: %.2f MB allocated per Decode", len(body), len(tt.raw), float64(got)/(1<<20))
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if n := len(msg.(*protocol.Logs).Entries); n != protocol.MaxBatchSpan {
				t.Errorf("got %d entries, want %d", n, protocol.MaxBatchSpan)
			}
			if got > limit {
				t.Errorf("Decode allocated %d bytes per message, want at most %d", got, limit)
			}
		})
	}
}

// TestGetLogsResultMemoryBound: a get_logs result reaches the service as a
// command response and its entries through json.Unmarshal and
// InflateEntries, as fleet decodes it; the same attack must stay bounded.
func TestGetLogsResultMemoryBound(t *testing.T) {
	const limit = 16 << 20
	result := []byte(`{"encoding":"gzip","data":"` + gzipBase64(t, emptyEntries(protocol.MaxInflatedBytes)) + `"}`)
	var err error
	got := allocatedBy(5, func() {
		var r protocol.GetLogsResult
		if err = json.Unmarshal(result, &r); err != nil {
			return
		}
		_, err = protocol.InflateEntries(r.Encoding, r.Entries, r.Data)
	})
	t.Logf("%d-byte result: %.2f MB allocated per decode", len(result), float64(got)/(1<<20))
	var pe *protocol.Error
	if !errors.As(err, &pe) || pe.Code != protocol.CodeInvalid {
		t.Errorf("decode: got %v, want code invalid", err)
	}
	if got > limit {
		t.Errorf("decode allocated %d bytes per result, want at most %d", got, limit)
	}
}
