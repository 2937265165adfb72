package main

import (
	"math/rand/v2"
	"testing"

	"github.com/edgesync/edgesync/protocol"
)

// The load test's terminals send what the protocol accepts: a gzip batch
// of consecutive lines of 60–100 bytes with a status riding along.
func TestLogsMessageIsAValidBatch(t *testing.T) {
	t.Parallel()
	cl := &loadClient{id: "load-1", seq: 41}
	msg, last, err := cl.logsMessage(30, rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		t.Fatal(err)
	}
	got, err := protocol.Decode(msg)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	logs, ok := got.(*protocol.Logs)
	if !ok {
		t.Fatalf("decoded %T, want *protocol.Logs", got)
	}
	entries, err := protocol.InflateEntries(logs.Encoding, logs.Entries, logs.Data)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 30 || entries[0].Seq != 42 || last != 71 || entries[29].Seq != last {
		t.Errorf("entries %d from %d, last %d; want 30 from 42 to 71", len(entries), entries[0].Seq, last)
	}
	for _, e := range entries {
		if n := len(e.Message); n < 60 || n > 100 {
			t.Errorf("line %d is %d bytes, want 60 to 100", e.Seq, n)
		}
	}
	if !protocol.IsObject(logs.Status) {
		t.Errorf("status %s, want an object riding along", logs.Status)
	}
}
