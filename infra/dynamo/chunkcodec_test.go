package dynamo

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/edgesync/edgesync/fleet"
	"github.com/edgesync/edgesync/protocol"
)

// TestChunkCodecRoundTrip: the column layout gives back every field of
// every line: times to the nanosecond with their zone offsets (also years
// nanoseconds cannot count), levels and sources, messages with any bytes,
// typed attributes, and sequence numbers with or without gaps.
func TestChunkCodecRoundTrip(t *testing.T) {
	t.Parallel()
	plus2 := time.FixedZone("", 2*3600)
	base := time.Date(2026, 11, 27, 10, 0, 0, 123456789, time.UTC)
	lines := []protocol.LogEntry{
		{Seq: 41, Time: base, Level: "info", Message: "frame 1 cam 2", Source: "detector"},
		{Seq: 42, Time: base.Add(3 * time.Microsecond).In(plus2), Level: "error", Message: "détection ✓ \"quoted\" \\ tab\t\n\x00 nul", Source: "camera-2",
			Attrs: protocol.Attrs{"zone": "a", "n": json.Number("12345678901234567890"), "f": json.Number("-1.5e-3"), "ok": true, "none": nil}},
		{Seq: 43, Time: base.Add(-time.Hour), Level: "warn", Message: ""},
		{Seq: 44, Time: base.Add(time.Second), Level: "debug", Message: strings.Repeat("x", 5000), Source: "detector"},
	}
	farOff := []protocol.LogEntry{
		{Seq: 1, Time: time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC), Level: "info", Message: "year 1"},
		{Seq: 2, Time: time.Date(9999, 12, 31, 23, 59, 59, 999999999, plus2), Level: "info", Message: "year 9999"},
	}
	gaps := []protocol.LogEntry{{Seq: 5, Time: base, Level: "info", Message: "a"}, {Seq: 9, Time: base, Level: "info", Message: "b"}}
	rng := rand.New(rand.NewPCG(1, 2))
	classes := []string{"person", "forklift", "pallet", "helmet", "vest", "box"}
	var detector []protocol.LogEntry
	for i := range 60 {
		msg := fmt.Sprintf("frame %d cam %d: %d objects (%s %.2f, %s %.2f) in %d ms", 1_000_000+i, rng.IntN(4)+1, rng.IntN(5)+1,
			classes[rng.IntN(6)], 0.5+float64(rng.IntN(50))/100, classes[rng.IntN(6)], 0.5+float64(rng.IntN(50))/100, 20+rng.IntN(40))
		switch i % 20 {
		case 3:
			msg = "  two  spaces, -7 -0 007 +5 9223372036854775807 9223372036854775808 " + strings.Repeat("word ", 30)
		case 4:
			msg = ""
		}
		detector = append(detector, protocol.LogEntry{Seq: uint64(100 + i), Time: base.Add(time.Duration(i) * time.Second), Level: "info", Message: msg, Source: "detector"})
	}
	for _, tt := range []struct {
		name    string
		entries []protocol.LogEntry
	}{{"mixed lines", lines}, {"detector lines in token columns", detector}, {"years 1 and 9999", farOff}, {"gaps", gaps}, {"one line", lines[:1]}} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			data, err := encodeEntries(tt.entries)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%d lines in %d bytes", len(tt.entries), len(data))
			got, err := decodeEntries(data, tt.entries[0].Seq)
			if err != nil {
				t.Fatalf("decodeEntries: %v", err)
			}
			if len(got) != len(tt.entries) {
				t.Fatalf("got %d entries, want %d", len(got), len(tt.entries))
			}
			for i, w := range tt.entries {
				g := got[i]
				_, gotOff := g.Time.Zone()
				_, wantOff := w.Time.Zone()
				if g.Seq != w.Seq || !g.Time.Equal(w.Time) || gotOff != wantOff || g.Level != w.Level || g.Message != w.Message || g.Source != w.Source ||
					(len(w.Attrs) > 0 || len(g.Attrs) > 0) && !reflect.DeepEqual(g.Attrs, w.Attrs) {
					t.Errorf("entry %d = %+v, want %+v", i, g, w)
				}
			}
		})
	}
}

// TestChunkCodecReadsGzip: chunks stored before the column layout (gzip of
// the JSON array) are read as they were written.
func TestChunkCodecReadsGzip(t *testing.T) {
	t.Parallel()
	in := []protocol.LogEntry{{Seq: 7, Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Level: "info", Message: "old", Attrs: protocol.Attrs{"k": "v"}}}
	data, err := protocol.CompressEntries(in)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeEntries(data, 7)
	if err != nil || len(got) != 1 || got[0].Message != "old" || got[0].Attrs["k"] != "v" {
		t.Fatalf("decodeEntries(gzip) = %+v, %v", got, err)
	}
	for _, bad := range [][]byte{nil, []byte("plain"), append([]byte{0x28, 0xb5, 0x2f, 0xfd}, "garbage"...)} {
		if _, err := decodeEntries(bad, 1); err == nil {
			t.Errorf("decodeEntries(% x) succeeded, want an error", bad)
		}
	}
}

// TestChunkItemSample: a status sample rides in the chunk item, compressed
// against the agent report's keys, and reads back with the chunk.
func TestChunkItemSample(t *testing.T) {
	t.Parallel()
	report := json.RawMessage(`{"hostname":"press-07","cpu_percent":12.531328320802004,"memory_percent":41.07421875,"disk_percent":63.20734214782715,"disk_path":"/var/lib/edgesync-agent","load1":0.41,"load5":0.38,"load15":0.35,"uptime_seconds":86400,"terminal_id":"press-07","agent_version":"1.0.0","config_version":"9f2c61e0aa41","time":"2026-11-27T10:00:00.123456789Z","connected":true,"spool_lines":35,"spool_bytes":16384,"next_seq":1043,"last_ack_seq":1042,"dropped_lines":0,"dropped_invalid":0,"reconnects":0,"spool_degraded":false,"spool_memory_lines":0,"status_interval":30}`)
	at := time.Date(2026, 11, 27, 10, 0, 1, 0, time.UTC)
	c := fleet.LogChunk{TerminalID: "press-07", FirstSeq: 1, LastSeq: 1, StoredAt: at, ExpiresAt: at.Add(time.Hour),
		Entries: []protocol.LogEntry{{Seq: 1, Time: at, Level: "info", Message: "m"}}}
	smp := &fleet.StatusSample{At: at, Data: report, ExpiresAt: at.Add(24 * time.Hour)}
	it, _, err := chunkItem(c, smp)
	if err != nil {
		t.Fatal(err)
	}
	z, ok := it[attrSample].(*types.AttributeValueMemberB)
	if !ok || len(z.Value)*3 > len(report) {
		t.Errorf("sample attribute = %T, want a binary at most a third of the %d-byte report", it[attrSample], len(report))
	}
	r := itemReader{item: it}
	got, err := decodeChunk("press-07", r)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status == nil || !got.Status.At.Equal(at) || !got.Status.ExpiresAt.Equal(smp.ExpiresAt) || string(got.Status.Data) != string(report) {
		t.Errorf("chunk status = %+v, want %+v", got.Status, smp)
	}
	it, _, err = chunkItem(c, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := decodeChunk("press-07", itemReader{item: it}); err != nil || got.Status != nil {
		t.Errorf("chunk without a sample: status %+v, %v; want none", got.Status, err)
	}
}

// TestTimesInWholeUnits: times that are whole seconds, milliseconds or
// microseconds (as parsed from most log files) come back exactly, before
// 1970 too, with their zones, and take fewer bytes than the same lines a
// nanosecond off; one line in nanoseconds keeps the whole chunk in them.
func TestTimesInWholeUnits(t *testing.T) {
	t.Parallel()
	plus2 := time.FixedZone("", 2*3600)
	base := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	lines := func(step time.Duration, start time.Time) []protocol.LogEntry {
		var es []protocol.LogEntry
		at := start
		for i := range 100 {
			at = at.Add(step * time.Duration(1+i%7*1000))
			tm := at
			if i%3 == 0 {
				tm = at.In(plus2)
			}
			es = append(es, protocol.LogEntry{Seq: uint64(1 + i), Time: tm, Level: "info", Message: "tick"})
		}
		return es
	}
	for _, tt := range []struct {
		name  string
		step  time.Duration
		start time.Time
	}{
		{"seconds", time.Second, base},
		{"milliseconds", time.Millisecond, base},
		{"microseconds", time.Microsecond, base},
		{"milliseconds before 1970", time.Millisecond, time.Date(1969, 7, 20, 20, 17, 40, 0, time.UTC)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			es := lines(tt.step, tt.start)
			data, err := encodeEntries(es)
			if err != nil {
				t.Fatal(err)
			}
			got, err := decodeEntries(data, 1)
			if err != nil {
				t.Fatal(err)
			}
			for i := range es {
				_, gotOff := got[i].Time.Zone()
				_, wantOff := es[i].Time.Zone()
				if !got[i].Time.Equal(es[i].Time) || gotOff != wantOff {
					t.Fatalf("line %d: time %v, want %v", i, got[i].Time, es[i].Time)
				}
			}
			off := slices.Clone(es)
			off[len(off)/2].Time = off[len(off)/2].Time.Add(time.Nanosecond)
			nanos, err := encodeEntries(off)
			if err != nil {
				t.Fatal(err)
			}
			if got, err := decodeEntries(nanos, 1); err != nil || !got[len(off)/2].Time.Equal(off[len(off)/2].Time) {
				t.Fatalf("one line a nanosecond off: %v, %v", got, err)
			}
			if len(data) >= len(nanos) {
				t.Errorf("%d lines in whole %s: %d bytes, a nanosecond off %d; want fewer", len(es), tt.name, len(data), len(nanos))
			}
			t.Logf("%d bytes in whole %s, %d with one line a nanosecond off", len(data), tt.name, len(nanos))
		})
	}
}
