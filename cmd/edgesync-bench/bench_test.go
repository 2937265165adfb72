package main

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// TestScheduleIsTheReferenceWorkload: a day of a terminal's schedule holds
// the reference 86,400 lines (80,640 in bursts of 20–50 in four periods of
// five, 5,760 isolated), and the same seed gives the same day.
func TestScheduleIsTheReferenceWorkload(t *testing.T) {
	t.Parallel()
	for _, seed := range []uint64{1, 2, 42} {
		day := schedule(seed, 24*time.Hour)
		var lines, bursts, singles int
		for i, ev := range day {
			lines += ev.lines
			switch {
			case ev.lines == 1:
				singles++
			case ev.lines >= burstMin && ev.lines <= burstMax:
				bursts++
			default:
				t.Fatalf("seed %d: event of %d lines", seed, ev.lines)
			}
			if i > 0 && ev.at < day[i-1].at {
				t.Fatalf("seed %d: events out of order at %d", seed, i)
			}
		}
		if singles != 5760 || bursts != 2304 {
			t.Errorf("seed %d: %d isolated lines and %d bursts, want 5760 and 2304", seed, singles, bursts)
		}
		if d := float64(lines-refLinesPerDay) / refLinesPerDay; d > 0.005 || d < -0.005 {
			t.Errorf("seed %d: %d lines a day, want within 0.5%% of %d", seed, lines, refLinesPerDay)
		}
		again := schedule(seed, 24*time.Hour)
		if len(again) != len(day) || again[100] != day[100] {
			t.Errorf("seed %d: schedule is not reproducible", seed)
		}
	}
}

func TestClassification(t *testing.T) {
	t.Parallel()
	s := func(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
	items := []struct {
		pk, sk, want string
	}{
		{"T#a", "META", "terminal record"},
		{"T#a", "META#config", "config"},
		{"T#a", "L#00000000000000000042", "log chunk"},
		{"T#a", "S#000001764237600000", "status sample"},
		{"T#a", "CMD#abc", "command"},
		{"C#xyz", "META", "connection"},
		{"T#a", "AUDIT#1-2", "audit"},
		{"T#a", "ZZZ", "other"},
	}
	for _, it := range items {
		if got := itemKind(map[string]types.AttributeValue{"pk": s(it.pk), "sk": s(it.sk)}); got != it.want {
			t.Errorf("itemKind(%s, %s) = %q, want %q", it.pk, it.sk, got, it.want)
		}
	}
	messages := []struct {
		body    string
		in, out string
	}{
		{`{"type":"logs","entries":[]}`, kindLogs, kindOther},
		{`{"type":"status","status":{}}`, kindStatus, kindOther},
		{`{"type":"heartbeat"}`, kindHeartbeat, kindOther},
		{`{"type":"hello"}`, kindConnect, kindOther},
		{`{"type":"command_response"}`, kindCommands, kindOther},
		{`{"type":"ack","of":"logs"}`, kindOther, kindAcks},
		{`{"type":"command"}`, kindOther, kindCommands},
		{`{"type":"live","seconds":60}`, kindOther, kindCommands},
		{`{"type":"error"}`, kindOther, kindErrors},
		{`{"type":"welcome","accepts":[]}`, kindOther, kindConnect},
		{`not json`, kindOther, kindOther},
	}
	for _, m := range messages {
		if got := inboundKind([]byte(m.body)); got != m.in {
			t.Errorf("inboundKind(%s) = %q, want %q", m.body, got, m.in)
		}
		if got := outboundKind([]byte(m.body)); got != m.out {
			t.Errorf("outboundKind(%s) = %q, want %q", m.body, got, m.out)
		}
	}
	for _, u := range []struct {
		n    int
		want int64
	}{{0, 1}, {1, 1}, {32768, 1}, {32769, 2}, {131072, 4}} {
		if got := units(u.n); got != u.want {
			t.Errorf("units(%d) = %d, want %d", u.n, got, u.want)
		}
	}
	for _, b := range []struct {
		d    time.Duration
		want float64
	}{{0, 0}, {time.Microsecond, 1}, {time.Millisecond, 1}, {1001 * time.Microsecond, 2}} {
		if got := billedMs(b.d); got != b.want {
			t.Errorf("billedMs(%v) = %v, want %v", b.d, got, b.want)
		}
	}
}

// TestCostModel: a month is the steady state × 720 h, the connections,
// the reads and the connection minutes, priced per service.
func TestCostModel(t *testing.T) {
	t.Parallel()
	p, err := loadPrices()
	if err != nil {
		t.Fatal(err)
	}
	mm := monthModel{
		Group:         groupSpec{name: groupSeed, kind: clientSeed, scale: 1, volume: 1},
		Steady:        kindUsage{kindLogs: {Messages: 1000, MsgUnits: 1000, Invocations: 1000, WCU: 2000}},
		PerConnection: kindUsage{kindConnect: {Invocations: 2}},
		PerRead:       kindUsage{kindReads: {HTTPRequests: 3, RCU: 10}},
	}
	mm.finish(nil, time.Minute, nil)
	got := mm.Month.total()
	want := usageVec{Messages: 720_000, MsgUnits: 720_000, Invocations: 720_000 + 2*360, WCU: 1_440_000, HTTPRequests: 900, RCU: 3000, ConnMinutes: 43_200}
	if got != want {
		t.Fatalf("month = %+v, want %+v", got, want)
	}
	c := price(got, p)
	if c.WSMessages != 0.72 || c.DynamoWrites != 0.9 || c.WSConnMinutes != 0.0108 {
		t.Errorf("priced = %+v", c)
	}
}

// TestCostModelLive: an agent group's live minutes are costed at the
// watched group's rate in place of the idle rate, and its reconnects at
// the agent's connection age.
func TestCostModelLive(t *testing.T) {
	t.Parallel()
	mm := monthModel{
		Group:         groupSpec{name: groupOurs, kind: clientAgent, scale: 1, volume: 1},
		Steady:        kindUsage{kindLogs: {Messages: 100}},
		PerConnection: kindUsage{kindConnect: {Messages: 2}},
	}
	live := monthModel{Steady: kindUsage{kindLogs: {Messages: 400}, kindCommands: {Messages: 60}}}
	mm.finish(&live, time.Minute, kindUsage{kindReads: {HTTPRequests: 3}})
	liveHours := float64(refReadsPerDay*refDaysPerMonth) / 60
	want := 100*(monthHours-liveHours) + 400*liveHours + 2*float64(refDaysPerMonth*24*60)/agentReconnectEvery
	if got := mm.Month.total().Messages; math.Abs(got-want) > 1e-6 {
		t.Errorf("messages a month = %v, want %v", got, want)
	}
	if got := mm.Month.total().HTTPRequests; got != 900 {
		t.Errorf("HTTP requests a month = %v, want the 900 of the reads given", got)
	}
}

// TestModelledDuration: Lambda's duration is the wall time less dynalite's
// waits plus the modelled latency per DynamoDB request, rounded up.
func TestModelledDuration(t *testing.T) {
	t.Parallel()
	inv := invocation{Duration: 40 * time.Millisecond, DBTime: 36 * time.Millisecond, Writes: 2, Reads: 1}
	if got, want := modelledMs(inv), 4.0+3*float64(dynamoLatency/time.Millisecond); got != want {
		t.Errorf("modelledMs = %v, want %v", got, want)
	}
}

// TestWriteIntoNewFile: -o FILE writes a new file when there is none.
func TestWriteIntoNewFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "NEW.md")
	if err := writeInto(path, []byte("results\n")); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	if !strings.Contains(string(got), beginMarker+"\nresults\n"+endMarker) {
		t.Errorf("new file = %q, want the report between the markers", got)
	}
}

// TestTimeCompressedConfig: a group's agent timers are divided by its scale.
func TestTimeCompressedConfig(t *testing.T) {
	t.Parallel()
	cfg, err := agentConfig(groupSpec{profile: "economy", scale: 10})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.StatusInterval != 30 || cfg.HeartbeatInterval != 30 || cfg.IdleBatchWindowMS != 30000 || cfg.AckInterval != 120 || cfg.BatchWindowMS != 250 {
		t.Errorf("economy ÷ 10: status %v heartbeat %v idle %d ack %v live %d", cfg.StatusInterval, cfg.HeartbeatInterval, cfg.IdleBatchWindowMS, cfg.AckInterval, cfg.BatchWindowMS)
	}
	cfg, err = agentConfig(groupSpec{profile: "economy", window: 10 * time.Minute, scale: 20})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.StatusInterval != 30 || cfg.HeartbeatInterval != 27 || cfg.IdleBatchWindowMS != 30000 {
		t.Errorf("window 10 min ÷ 20: status %v heartbeat %v idle %d", cfg.StatusInterval, cfg.HeartbeatInterval, cfg.IdleBatchWindowMS)
	}
}

func TestWriteInto(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "B.md")
	doc := "# Title\n\nmethod\n\n" + beginMarker + "\nold results\n" + endMarker + "\ntrailer\n"
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := writeInto(path, []byte("new results\n")); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	want := "# Title\n\nmethod\n\n" + beginMarker + "\nnew results\n" + endMarker + "\ntrailer\n"
	if string(got) != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if err := os.WriteFile(path, []byte("no markers"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := writeInto(path, []byte("x")); err == nil || !strings.Contains(err.Error(), "bench:begin") {
		t.Errorf("writeInto without markers: %v, want an error naming them", err)
	}
}
