package capacity_test

import (
	"math"
	"os"
	"strings"
	"testing"

	"github.com/edgesync/edgesync/devstack/template"
	"github.com/edgesync/edgesync/internal/capacity"
)

func inputs(t *testing.T) (capacity.Quotas, capacity.Usage, capacity.Stack) {
	t.Helper()
	qdata, err := os.ReadFile("../../cmd/edgesync-scale/quotas.json")
	if err != nil {
		t.Fatal(err)
	}
	q, err := capacity.ParseQuotas(qdata)
	if err != nil {
		t.Fatalf("quotas.json: %v", err)
	}
	udata, err := os.ReadFile("../../cmd/edgesync-bench/rates.json")
	if err != nil {
		t.Fatal(err)
	}
	tpl, err := template.Load("../../template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s, err := capacity.StackFrom(tpl)
	if err != nil {
		t.Fatalf("template.yaml: %v", err)
	}
	u, err := capacity.UsageFromRates(udata, "rates.json", float64(s.MemoryMB))
	if err != nil {
		t.Fatalf("rates.json: %v", err)
	}
	return q, u, s
}

func TestStackFromTemplate(t *testing.T) {
	t.Parallel()
	_, _, s := inputs(t)
	if s.RouteRate <= 0 || s.RouteBurst <= 0 || s.HTTPRate <= 0 || s.HTTPBurst <= 0 || s.MemoryMB < 128 || s.FunctionTimeout <= 0 {
		t.Errorf("stack %+v: want the route throttling, memory and timeout of template.yaml", s)
	}
	hash := map[string]string{}
	for _, ix := range s.Indexes {
		hash[ix.Name] = ix.HashKey
	}
	if hash["terminals"] != "tpk" || hash["audit"] != "apk" {
		t.Errorf("indexes %v, want terminals on tpk and audit on apk (infra/dynamo/doc.go)", hash)
	}
	if s.DisconnectReserved != 100 || s.WarmWriteUnits != 0 {
		t.Errorf("DisconnectFunction reserved %d, warm write units %v; want template.yaml's defaults 100 and 0 (not set)", s.DisconnectReserved, s.WarmWriteUnits)
	}
}

// TestRouteThrottlingIsTheAccounts: the stage's route throttling defaults
// to the account's throttle, which caps it anyway (SCALE.md: below it a
// storm's hellos and answers are throttled and lost).
func TestRouteThrottlingIsTheAccounts(t *testing.T) {
	t.Parallel()
	q, _, s := inputs(t)
	if rate, burst := q.Get(capacity.QuotaAccountThrottle).Value, q.Get(capacity.QuotaAccountBurst).Value; s.RouteRate != rate || s.RouteBurst != burst {
		t.Errorf("route throttling %v/s burst %v; want the account's %v/s burst %v", s.RouteRate, s.RouteBurst, rate, burst)
	}
}

// The model, run for one terminal over a 30-day month, gives back the
// month BENCHMARKS.md reports (results of 2026-11-30 09:44 UTC: 107 k
// messages, 104 k invocations, 153 k write units, 120 k read units per
// terminal-month, edgesync default): rates.json and the model agree with
// the measurement they came from. A rerun of the benchmark that changes
// them changes these figures.
func TestModelReproducesTheBenchmarkMonth(t *testing.T) {
	t.Parallel()
	_, u, s := inputs(t)
	p := *u.Profiles["default"]
	l := capacity.Compute(1, p, s)
	month := 30 * 86400.0
	tests := []struct {
		name      string
		got, want float64
	}{
		{"messages", (l.MessagesIn + l.Callbacks) * month, 107e3},
		{"invocations", l.Invocations * month, 104e3},
		{"write units", l.WCU * month, 153e3},
		{"read units", l.RCU * month, 120e3},
		{"HTTP requests", l.HTTPRequests * month, 900},
	}
	for _, tt := range tests {
		if math.Abs(tt.got-tt.want)/tt.want > 0.02 {
			t.Errorf("%s per terminal-month = %.0f, want %.0f ± 2 %%", tt.name, tt.got, tt.want)
		}
	}
}

func TestRowsNameTheFirstQuota(t *testing.T) {
	t.Parallel()
	q, u, s := inputs(t)
	p := *u.Profiles["default"]
	small := capacity.Compute(1000, p, s)
	large := capacity.Compute(100000, p, s)
	if got := capacity.First(capacity.Rows(small, s, q, 2*small.WCU)); got.Fraction >= 1 {
		t.Errorf("1,000 terminals hit %s at %.0f %%; want no limit hit", got.Limit.Name, got.Fraction*100)
	}
	// At 100,000 steady terminals nothing is hit with the template's
	// defaults (the first rows are the table's warm throughput, at half by
	// the two-peaks rule, and the account throttle).
	rows := capacity.Rows(large, s, q, 2*large.WCU)
	if got := capacity.First(rows); got.Fraction >= 1 {
		t.Errorf("100,000 terminals: first %s at %.0f %%; want no limit hit", got.Limit.ID, got.Fraction*100)
	}
	for _, r := range rows {
		if strings.HasPrefix(r.Resource, "API Gateway requests") && (r.Fraction < 0.2 || r.Fraction >= 1) {
			t.Errorf("100,000 terminals: %s at %.0f %% of the account throttle; want a sizeable share, not hit", r.Resource, r.Fraction*100)
			break
		}
	}
	// The former route throttling (1,000/s) was the first limit, hit.
	s.RouteRate, s.RouteBurst = 1000, 500
	if got := capacity.First(capacity.Rows(large, s, q, 2*large.WCU)); got.Limit.ID != capacity.LimitRouteRate || got.Fraction < 1 {
		t.Errorf("100,000 terminals, route throttling 1,000/s: first %s at %.0f %%; want the route throttling, hit", got.Limit.ID, got.Fraction*100)
	}
	for _, r := range rows {
		if r.Limit.Value <= 0 || r.Load < 0 {
			t.Errorf("row %q: load %v, limit %v", r.Resource, r.Load, r.Limit.Value)
		}
	}
}

func TestStormAddsTheConnectionRate(t *testing.T) {
	t.Parallel()
	q, u, s := inputs(t)
	p := *u.Profiles["default"]
	steady := capacity.Compute(100000, p, s)
	storm := capacity.StormLoad(100000, p, s, q)
	rate := q.Get(capacity.QuotaNewConnections).Value
	if got, want := storm.WCU-steady.WCU, rate*p.PerConnection.WCU; math.Abs(got-want) > 1e-6 {
		t.Errorf("storm adds %v write units/s, want %v (the connection quota × a connection's writes)", got, want)
	}
	if got, want := storm.Connects-steady.Connects, rate; got != want {
		t.Errorf("storm adds %v connections/s, want %v", got, want)
	}
}

func TestSettingsFitTheFixedQuotas(t *testing.T) {
	t.Parallel()
	q, _, s := inputs(t)
	for _, f := range capacity.Fits(s, q) {
		if !f.Within {
			t.Errorf("%s: %s is not within %s %v", f.What, f.Setting, f.Limit.Name, f.Limit.Value)
		}
	}
}

func TestFleetPageReadsTheWholeFleet(t *testing.T) {
	t.Parallel()
	l := capacity.FleetPage(100000, 200, 5, 3, 100)
	if l.HTTPRequests != 40 {
		t.Errorf("HTTP requests %v/s, want 200 pages every 5 s = 40/s", l.HTTPRequests)
	}
	if l.RCU < 60000 {
		t.Errorf("read units %v/s, want at least 3 × 100,000 every 5 s = 60,000/s", l.RCU)
	}
}

func TestParseQuotasRefuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, doc, want string
	}{
		{"no date", `{"quotas":[]}`, "checked"},
		{"missing quota", `{"checked":"2026-11-30","quotas":[]}`, capacity.QuotaNewConnections},
		{"no source", `{"checked":"2026-11-30","quotas":[{"id":"x","value":1,"source":"somewhere"}]}`, "source"},
		{"duplicate", `{"checked":"2026-11-30","quotas":[{"id":"x","value":1,"source":"https://a"},{"id":"x","value":1,"source":"https://a"}]}`, "twice"},
		{"unknown field", `{"checked":"2026-11-30","quota":[]}`, "unknown field"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := capacity.ParseQuotas([]byte(tt.doc))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ParseQuotas(%s) = %v, want an error naming %q", tt.doc, err, tt.want)
			}
		})
	}
}

func TestParseUsageTakesAnUnmeasuredProfile(t *testing.T) {
	t.Parallel()
	doc := `{"source":"x","derivation":["y"],"profiles":{
		"economy":null,
		"default":{"idlePerTerminalHour":{"messagesIn":1,"invocations":1,"wcu":1},"perConnection":{"invocations":1},"awsInvocationMs":1}}}`
	u, err := capacity.ParseUsage([]byte(doc))
	if err != nil {
		t.Fatalf("ParseUsage: %v", err)
	}
	if got := u.ProfileNames(); len(got) != 2 || got[0] != "default" || got[1] != "economy" {
		t.Errorf("profiles %v, want default then economy", got)
	}
	if _, err := capacity.ParseUsage([]byte(`{"source":"x","derivation":["y"],"profiles":{"economy":null}}`)); err == nil {
		t.Error("ParseUsage accepted a file without the default profile")
	}
}
