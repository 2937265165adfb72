package securitytest

import (
	"bytes"
	"compress/gzip"
	"runtime"
	"strings"
	"testing"

	"github.com/edgesync/edgesync/protocol"
)

// TestDecompressionBombRefused (hole 7): a terminal sends logs messages of
// a few kilobytes whose gzip data inflates to 4 MB of empty entries. Each
// is refused naming the first bad entry, having made the stack (gateway,
// function, decoder) allocate a bounded amount, and the connection goes
// on. Before the decoder streamed, each took about 670 MB. Not parallel:
// TotalAlloc counts every goroutine of the test binary.
func TestDecompressionBombRefused(t *testing.T) {
	s := start(t, nil)
	const id = "press-10"
	rt := dialTerminal(t, s, id, terminal(t, s, id))
	var raw bytes.Buffer
	raw.WriteByte('[')
	raw.WriteString(strings.Repeat("{},", protocol.MaxInflatedBytes/3-1))
	raw.WriteString("{}]")
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(raw.Bytes())
	zw.Close()
	bomb := map[string]any{"type": "logs", "encoding": "gzip", "data": gz.Bytes(), "request_id": "bomb"}
	const bombs, limit = 5, 16 << 20
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range bombs {
		rt.send(bomb)
		e := rt.next("error", "")
		if e == nil || e["code"] != protocol.CodeInvalid || !strings.HasPrefix(e["message"].(string), "entries[0].seq") || e["request_id"] != "bomb" {
			t.Fatalf("answer to a %d-byte message inflating to %d bytes: %v, want invalid naming entries[0].seq", gz.Len(), raw.Len(), e)
		}
	}
	runtime.ReadMemStats(&after)
	per := (after.TotalAlloc - before.TotalAlloc) / bombs
	t.Logf("%d-byte gzip data inflating to %d bytes: %.1f MB allocated per message through the stack", gz.Len(), raw.Len(), float64(per)/(1<<20))
	if per > limit {
		t.Errorf("the stack allocated %d bytes per bomb, want at most %d", per, limit)
	}
	rt.send(map[string]any{"type": "logs", "entries": []any{logLine(1, nil)}})
	if rt.next("ack", "") == nil {
		t.Error("the connection did not go on after the refused bombs")
	}
}
