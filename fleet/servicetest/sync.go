package servicetest

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/edgesync/edgesync/fleet"
	"github.com/edgesync/edgesync/protocol"
)

// syncTests are the rules of the second protocol version: the welcome,
// incremental hello, acknowledgements on request, and freshness that
// follows what the terminal reports.
var syncTests = []struct {
	name string
	run  func(t *testing.T, e *env)
}{
	{"Sync/WelcomeAndIncrementalHello", testWelcomeAndIncrementalHello},
	{"Sync/AcksOnRequestConfirmWhatIsStored", testAcksOnRequest},
	{"Sync/ConfigFreshWhileReportsNameIt", testConfigFreshWhileReportsNameIt},
	{"Sync/StatusPromiseFollowsReportInterval", testStatusPromiseFollowsReportInterval},
	{"Sync/NewestLinesReadWhenRecordLags", testNewestLinesReadWhenRecordLags},
	{"Sync/TypedAttributes", testTypedAttributes},
}

// welcomeCaps are the capabilities the Go agent announces today.
var welcomeCaps = []string{"gzip", protocol.CapabilityWelcome, protocol.CapabilitySyncIncremental}

func testWelcomeAndIncrementalHello(t *testing.T, e *env) {
	ctx := context.Background()
	token := e.terminal(t, "t1")
	e.connect(t, "t1", token, "c1")
	e.send(t, "c1", map[string]any{"type": "logs", "entries": entries(1, 5, "info")})
	e.push.take(t, "c1")

	// A terminal that understands a welcome, holding lines 3.. unacknowledged,
	// reporting its status in the hello and running a config the cloud has
	// not stored: the welcome comes first and acknowledges 3..5; only
	// get_config is pulled.
	e.send(t, "c1", map[string]any{"type": "hello", "capabilities": welcomeCaps, "last_ack_seq": 1, "ack_from": 3,
		"config_version": "abc", "status": map[string]any{"cpu_percent": 12.5}})
	msgs := e.push.take(t, "c1")
	if len(msgs) == 0 || msgs[0]["type"] != protocol.TypeWelcome {
		t.Fatalf("hello with the welcome capability: got %v, want a welcome first", msgs)
	}
	accepts, _ := msgs[0]["accepts"].([]any)
	for _, f := range fleet.Features {
		if !slices.Contains(accepts, any(f)) {
			t.Errorf("welcome accepts %v, want %q among them", accepts, f)
		}
	}
	ack, _ := msgs[0]["ack"].(map[string]any)
	if ack["first_seq"] != float64(3) || ack["last_seq"] != float64(5) {
		t.Errorf("welcome ack = %v, want lines 3..5", ack)
	}
	cmds := commandsIn(msgs)
	if len(cmds) != 1 || cmds["get_config"] == nil {
		t.Fatalf("pulls after an incremental hello with a status and an unknown config: got %v, want get_config alone", cmds)
	}
	if st, _ := e.svc.TerminalStatus(ctx, admin, "t1"); string(st.Data) != `{"cpu_percent":12.5}` || !st.Fresh {
		t.Errorf("status after a hello carrying one: %s fresh=%v", st.Data, st.Fresh)
	}
	respond(t, e, "c1", cmds["get_config"], true, map[string]any{"threshold": 0.8})
	cfg, _ := e.svc.TerminalConfig(ctx, admin, "t1")
	e.push.take(t, "c1")

	// Reconnected, running the stored config: no pull at all, and no ack
	// when nothing after the acknowledged lines is stored.
	e.connect(t, "t1", token, "c2")
	e.send(t, "c2", map[string]any{"type": "hello", "capabilities": welcomeCaps, "last_ack_seq": 5,
		"config_version": cfg.Version, "status": map[string]any{"cpu_percent": 13, "config_version": cfg.Version}})
	msgs = e.push.take(t, "c2")
	if len(msgs) != 1 || msgs[0]["type"] != protocol.TypeWelcome || msgs[0]["ack"] != nil {
		t.Fatalf("incremental hello running the stored config: got %v, want a welcome without ack, and no pull", msgs)
	}
	if cfg, _ := e.svc.TerminalConfig(ctx, admin, "t1"); !cfg.Fresh {
		t.Errorf("config after a hello naming its version: stale, want fresh")
	}
}

func testAcksOnRequest(t *testing.T, e *env) {
	token := e.terminal(t, "t1")
	e.connect(t, "t1", token, "c1")
	e.send(t, "c1", map[string]any{"type": "hello", "capabilities": welcomeCaps, "status": map[string]any{"cpu_percent": 1}})
	e.push.take(t, "c1")
	for _, b := range [][2]uint64{{1, 3}, {4, 6}, {8, 9}} {
		e.send(t, "c1", map[string]any{"type": "logs", "ack": protocol.AckDeferred, "entries": entries(b[0], b[1], "info")})
	}
	if msgs := e.push.take(t, "c1"); len(msgs) != 0 {
		t.Fatalf("deferred batches: got %v pushed, want nothing", msgs)
	}
	ackOf := func(msgs []map[string]any) map[string]any {
		t.Helper()
		if len(msgs) != 1 || msgs[0]["type"] != protocol.TypeAck {
			t.Fatalf("got %v, want one ack", msgs)
		}
		return msgs[0]
	}
	// Asked from 1: lines 1..6 are stored, 7 is not, so the ack stops at 6
	// whatever lies beyond the gap.
	e.send(t, "c1", map[string]any{"type": "logs", "ack_from": 1, "request_id": "logs:10-12", "entries": entries(10, 12, "info")})
	if a := ackOf(e.push.take(t, "c1")); a["first_seq"] != float64(1) || a["last_seq"] != float64(6) || a["request_id"] != "logs:10-12" {
		t.Errorf("ack from 1 with line 7 missing: %v, want 1..6 echoing the request id", a)
	}
	e.send(t, "c1", map[string]any{"type": "logs", "ack": protocol.AckDeferred, "entries": entries(7, 7, "info")})
	e.send(t, "c1", map[string]any{"type": "heartbeat", "ack_from": 4, "request_id": "hb"})
	if a := ackOf(e.push.take(t, "c1")); a["first_seq"] != float64(4) || a["last_seq"] != float64(12) || a["request_id"] != "hb" {
		t.Errorf("heartbeat asking from 4: %v, want 4..12", a)
	}
	e.send(t, "c1", map[string]any{"type": "heartbeat", "ack_from": 20})
	if a := ackOf(e.push.take(t, "c1")); a["first_seq"] != float64(20) || a["last_seq"] != float64(19) {
		t.Errorf("heartbeat asking from 20, nothing stored: %v, want first 20 last 19", a)
	}
	// A terminal of the first protocol version is acked batch by batch, as always.
	e.send(t, "c1", map[string]any{"type": "logs", "entries": entries(13, 14, "info")})
	if a := ackOf(e.push.take(t, "c1")); a["first_seq"] != float64(13) || a["last_seq"] != float64(14) {
		t.Errorf("batch without ack fields: %v, want an ack of 13..14", a)
	}
}

func testConfigFreshWhileReportsNameIt(t *testing.T, e *env) {
	ctx := context.Background()
	token := e.terminal(t, "t1")
	e.connect(t, "t1", token, "c1")
	e.send(t, "c1", map[string]any{"type": "hello"})
	cmds := commandsIn(e.push.take(t, "c1"))
	respond(t, e, "c1", cmds["get_config"], true, map[string]any{"threshold": 0.8})
	cfg, _ := e.svc.TerminalConfig(ctx, admin, "t1")
	respond(t, e, "c1", cmds["get_status"], true, map[string]any{"cpu_percent": 1, "config_version": cfg.Version})
	respond(t, e, "c1", cmds["get_logs"], true, map[string]any{"entries": []any{}})
	e.push.take(t, "c1")

	// Five minutes on, the terminal still reports running that version:
	// its config is current without a pull.
	e.clock.Advance(301 * time.Second)
	e.send(t, "c1", map[string]any{"type": "status", "status": map[string]any{"cpu_percent": 2, "config_version": cfg.Version}})
	got, err := e.svc.TerminalConfig(ctx, admin, "t1")
	if err != nil {
		t.Fatal(err)
	}
	if !got.Fresh || got.Stale || got.Refreshing || !got.ConfirmedAt.Equal(e.clock.Now()) || !got.FreshUntil.Equal(e.clock.Now().Add(300*time.Second)) {
		t.Errorf("config 301 s after sync, reported running: fresh=%v stale=%v refreshing=%v confirmed %v until %v; want fresh until now+300 s",
			got.Fresh, got.Stale, got.Refreshing, got.ConfirmedAt, got.FreshUntil)
	}
	if v, _ := e.svc.Terminal(ctx, admin, "t1"); !v.Config.Fresh {
		t.Errorf("listing: config stale, want fresh")
	}
	if cmds := commandsIn(e.push.take(t, "c1")); len(cmds) != 0 {
		t.Errorf("pulls for a confirmed config: %v, want none", cmds)
	}
	// A report naming another version does not confirm it: stale, refreshed.
	e.send(t, "c1", map[string]any{"type": "status", "status": map[string]any{"cpu_percent": 2, "config_version": "other"}})
	e.clock.Advance(301 * time.Second)
	e.send(t, "c1", map[string]any{"type": "heartbeat"})
	if got, _ := e.svc.TerminalConfig(ctx, admin, "t1"); got.Fresh || !got.Refreshing {
		t.Errorf("config after a report naming another version: fresh=%v refreshing=%v, want stale and refreshing", got.Fresh, got.Refreshing)
	}
}

func testStatusPromiseFollowsReportInterval(t *testing.T, e *env) {
	ctx := context.Background()
	token := e.terminal(t, "t1")
	e.connect(t, "t1", token, "c1")
	e.send(t, "c1", map[string]any{"type": "hello", "capabilities": welcomeCaps, "status": map[string]any{"cpu_percent": 1, "status_interval": 300}})
	e.push.take(t, "c1")
	reported := e.clock.Now()
	st, _ := e.svc.TerminalStatus(ctx, admin, "t1")
	if want := reported.Add(600 * time.Second); !st.FreshUntil.Equal(want) {
		t.Errorf("status reported every 300 s: fresh until %v, want %v (twice the interval)", st.FreshUntil, want)
	}
	e.clock.Advance(9 * time.Minute)
	v, _ := e.svc.Terminal(ctx, admin, "t1")
	if !v.Online || !v.Status.Fresh {
		t.Errorf("9 min after a report promising one every 5 min: online=%v status fresh=%v, want both", v.Online, v.Status.Fresh)
	}
	if cmds := commandsIn(e.push.take(t, "c1")); len(cmds) != 0 {
		t.Errorf("pulls within the promise: %v, want none", cmds)
	}
	e.clock.Advance(2 * time.Minute)
	if v, _ := e.svc.Terminal(ctx, admin, "t1"); v.Online || v.Status.Fresh {
		t.Errorf("11 min after the last report: online=%v fresh=%v, want offline and stale", v.Online, v.Status.Fresh)
	}
}

func testNewestLinesReadWhenRecordLags(t *testing.T, e *env) {
	ctx := context.Background()
	token := e.terminal(t, "t1")
	e.connect(t, "t1", token, "c1")
	e.send(t, "c1", map[string]any{"type": "hello", "capabilities": welcomeCaps, "status": map[string]any{"cpu_percent": 1}})
	e.send(t, "c1", map[string]any{"type": "logs", "ack": protocol.AckDeferred, "entries": entries(1, 3, "info"), "status": map[string]any{"cpu_percent": 2}})
	e.clock.Advance(time.Second)
	e.send(t, "c1", map[string]any{"type": "logs", "ack": protocol.AckDeferred, "entries": entries(4, 6, "info")})
	page, err := e.svc.TerminalLogs(ctx, admin, "t1", fleet.LogQuery{})
	if err != nil {
		t.Fatal(err)
	}
	var got []uint64
	for _, l := range page.Entries {
		got = append(got, l.Seq)
	}
	if !slices.Equal(got, seqs(1, 6)) || page.LastSeq != 6 {
		t.Errorf("newest lines: got %v (lastSeq %d), want 1..6 (lastSeq 6)", got, page.LastSeq)
	}
	if v, _ := e.svc.Terminal(ctx, admin, "t1"); v.LastSeq != 6 {
		t.Errorf("terminal lastSeq = %d, want 6", v.LastSeq)
	}
	if st, _ := e.svc.TerminalStatus(ctx, admin, "t1"); string(st.Data) != `{"cpu_percent":2}` {
		t.Errorf("status = %s, want the report that rode with lines 1..3", st.Data)
	}
}

func testTypedAttributes(t *testing.T, e *env) {
	ctx := context.Background()
	token := e.terminal(t, "t1")
	e.connect(t, "t1", token, "c1")
	e.send(t, "c1", map[string]any{"type": "logs", "entries": []map[string]any{
		{"seq": 1, "ts": "2026-11-27T09:00:00Z", "level": "info", "msg": "typed", "attrs": map[string]any{"n": 12.5, "big": json.Number("12345678901234567890"), "ok": true, "none": nil, "s": "v"}},
		{"seq": 2, "ts": "2026-11-27T09:00:01Z", "level": "info", "msg": "strings", "attrs": map[string]any{"n": "12.5"}},
	}})
	page, err := e.svc.TerminalLogs(ctx, admin, "t1", fleet.LogQuery{})
	if err != nil || len(page.Entries) != 2 {
		t.Fatalf("read: %v, %d lines", err, len(page.Entries))
	}
	a := page.Entries[0].Attrs
	if protocol.AttrString(a["n"]) != "12.5" || protocol.AttrString(a["big"]) != "12345678901234567890" || a["ok"] != true || a["none"] != nil || a["s"] != "v" {
		t.Errorf("typed attributes read back as %#v", a)
	}
	if _, isString := a["n"].(string); isString {
		t.Errorf("number attribute read back as a string")
	}
	if page.Entries[1].Attrs["n"] != "12.5" {
		t.Errorf("string attribute read back as %#v", page.Entries[1].Attrs["n"])
	}
}
