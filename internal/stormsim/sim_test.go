package stormsim_test

import (
	"testing"
	"time"

	"github.com/edgesync/edgesync/agent"
	"github.com/edgesync/edgesync/devstack/template"
	"github.com/edgesync/edgesync/infra/dynamo"
	"github.com/edgesync/edgesync/internal/capacity"
	"github.com/edgesync/edgesync/internal/stormsim"
)

// fleet is the 100,000-terminal storm with the fleet's steady writes
// as the simulation models them (stormsim.SteadyWCU), scaled down 50 times:
// 2,000 terminals against 10 new connections a second, a 200 requests/s
// account throttle, 20 concurrent executions. Same pressure, a fiftieth of
// the work. With now, template.yaml as it is (read from the file) with
// TableWarmWriteUnits at what README.md asks of large fleets; else
// template.yaml before issue 16 (route throttling 1,000/s, burst 500, no
// reserved concurrency). The agent is the agent's defaults.
func fleet(t *testing.T, now bool) stormsim.Params {
	t.Helper()
	steady := stormsim.SteadyWCU(100000, stormsim.AgentDefaults())
	if !now {
		return stormsim.Defaults(100000, 1000, 500, steady).EarlierTemplate().Scaled(50)
	}
	st := templateStack(t)
	return stormsim.Defaults(100000, st.RouteRate, st.RouteBurst, steady).
		WithTemplate(st.DisconnectReserved, stormsim.LargeFleetWarmWriteUnits).Scaled(50)
}

// templateStack reads the module's template.yaml.
func templateStack(t *testing.T) capacity.Stack {
	t.Helper()
	tpl, err := template.Load("../../template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	st, err := capacity.StackFrom(tpl)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// TestDefaultsResyncEveryTerminalWithoutAHerd: the agent's defaults and
// template.yaml's, with the warm throughput README.md asks of large fleets.
func TestDefaultsResyncEveryTerminalWithoutAHerd(t *testing.T) {
	t.Parallel()
	p := fleet(t, true)
	r, err := stormsim.Run(p)
	if err != nil {
		t.Fatal(err)
	}
	n := p.Terminals
	if r.Resynced != n || r.GaveUp != 0 || r.ConnectedNotResynced != 0 {
		t.Fatalf("resynced %d, gave up %d, connected but not resynced %d of %d; want all resynced", r.Resynced, r.GaveUp, r.ConnectedNotResynced, n)
	}
	all, ok := r.ResyncedWithin(1)
	// The connection quota alone takes n/rate; the last terminal may wait
	// up to two backoff caps more.
	if bound := time.Duration(float64(n)/p.Gateway.ConnectRate*float64(time.Second)) + 2*p.Agent.BackoffMax; !ok || all > bound {
		t.Errorf("all resynced after %v (ok %v), want within %v", all, ok, bound)
	}
	g := p.Gateway
	if limit := int(g.AccountRate + g.AccountBurst); r.PeakCallbacks > limit || r.PeakRequests > limit {
		t.Errorf("peak management-API attempts %d/s, peak requests %d/s; want at most the account throttle %d/s", r.PeakCallbacks, r.PeakRequests, limit)
	}
	if r.CallbacksThrottled != 0 || r.Throttled.Total() != 0 {
		t.Errorf("throttled: %d callbacks, messages %+v; want none", r.CallbacksThrottled, r.Throttled)
	}
	// No thundering herd: the first attempts spread over the backoff's
	// first ceiling, never the whole fleet in one second.
	if herd := int(2 * float64(n) / p.Agent.BackoffBase.Seconds()); r.PeakAttempts > herd {
		t.Errorf("peak connection attempts %d/s, want at most %d/s (twice the fleet over the first backoff ceiling)", r.PeakAttempts, herd)
	}
}

func TestGivingUpAfterTenAttemptsStrandsTerminals(t *testing.T) {
	t.Parallel()
	p := fleet(t, true)
	p.Agent = stormsim.EarlierAgent() // reconnect_attempts 10
	r, err := stormsim.Run(p)
	if err != nil {
		t.Fatal(err)
	}
	if r.GaveUp == 0 {
		t.Errorf("gave up %d, resynced %d of %d; want some to give up", r.GaveUp, r.Resynced, p.Terminals)
	}
}

func TestTemplateRouteThrottlingLosesHellosAndAnswers(t *testing.T) {
	t.Parallel()
	p := fleet(t, false) // the stage's route throttling as template.yaml had it
	p.Horizon = 3 * time.Minute
	r, err := stormsim.Run(p)
	if err != nil {
		t.Fatal(err)
	}
	if r.Throttled.Hellos == 0 || r.Throttled.Answers == 0 || r.Throttled.Logs == 0 {
		t.Errorf("throttled by the route %+v; want hellos, answers and logs lost (the steady logs alone exceed 1,000/s at 100,000 terminals)", r.Throttled)
	}
	if r.Resynced == p.Terminals {
		t.Errorf("all %d resynced within %v; want the route throttling to hold some back", p.Terminals, p.Horizon)
	}
}

// TestTemplateDefaults: template.yaml's route throttling is the account's
// own and DisconnectFunction has reserved concurrency (issue 16); the
// storm and the capacity model read them from the file.
func TestTemplateDefaults(t *testing.T) {
	t.Parallel()
	st := templateStack(t)
	if st.RouteRate != stormsim.QuotaAccountRequestsPerSec || st.RouteBurst != stormsim.QuotaAccountBurst {
		t.Errorf("route throttling %v/s burst %v, want the account's %d/s burst %d", st.RouteRate, st.RouteBurst, stormsim.QuotaAccountRequestsPerSec, stormsim.QuotaAccountBurst)
	}
	if st.DisconnectReserved < 1 {
		t.Errorf("DisconnectFunction reserved concurrency %d, want some", st.DisconnectReserved)
	}
}

func TestSameSeedSameStorm(t *testing.T) {
	t.Parallel()
	p := fleet(t, true)
	p.Terminals = 300
	a, err := stormsim.Run(p)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := stormsim.Run(p)
	da, _ := a.ResyncedWithin(1)
	db, _ := b.ResyncedWithin(1)
	if a.Attempts != b.Attempts || a.Refused != b.Refused || da != db || a.Callbacks != b.Callbacks {
		t.Errorf("two runs with seed %d differ: attempts %d/%d, refused %d/%d, all resynced %v/%v", p.Seed, a.Attempts, b.Attempts, a.Refused, b.Refused, da, db)
	}
	p.Seed++
	c, _ := stormsim.Run(p)
	dc, _ := c.ResyncedWithin(1)
	if c.Attempts == a.Attempts && c.Refused == a.Refused && dc == da {
		t.Errorf("seeds %d and %d gave the same storm", p.Seed-1, p.Seed)
	}
}

func TestDefaultsFollowTheSDKAndTheStore(t *testing.T) {
	t.Parallel()
	p := stormsim.Defaults(1, 1000, 500, 0)
	if got, want := p.SDK.DynamoDBAttempts, dynamo.Retryer().MaxAttempts(); got != want {
		t.Errorf("DynamoDB attempts %d, want dynamo.Retryer's %d", got, want)
	}
	if p.DynamoDB.TableWCU != stormsim.QuotaOnDemandNewTableWCU {
		t.Errorf("table write units %v for an idle fleet, want a new on-demand table's %d", p.DynamoDB.TableWCU, stormsim.QuotaOnDemandNewTableWCU)
	}
}

func TestDelayIsTheAgents(t *testing.T) {
	t.Parallel()
	a := stormsim.AgentDefaults()
	for n := 1; n <= 40; n++ {
		for _, j := range []float64{0, 0.25, 0.999} {
			if got, want := a.Delay(n, j), agent.DefaultBackoff.Delay(n, j); got != want {
				t.Errorf("Delay(%d, %v) = %v, want the agent's %v", n, j, got, want)
			}
		}
	}
	// The hellos said again: HelloTimeout plus agent.HelloBackoff.
	if a.HelloTimeout != agent.HelloTimeout || agent.HelloBackoff.Base != agent.HelloTimeout || a.BackoffMax != agent.HelloBackoff.Max {
		t.Errorf("hello timeout %v and backoff cap %v; want the agent's %v and %+v (the model's resend backoff is based on the timeout)", a.HelloTimeout, a.BackoffMax, agent.HelloTimeout, agent.HelloBackoff)
	}
	if a.ReconnectAttempts != agent.DefaultConfig().ReconnectAttempts {
		t.Errorf("reconnect attempts %d, want the agent's default %d", a.ReconnectAttempts, agent.DefaultConfig().ReconnectAttempts)
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	ok := stormsim.Defaults(10, 1000, 500, 0)
	tests := []struct {
		name string
		edit func(*stormsim.Params)
	}{
		{"no terminals", func(p *stormsim.Params) { p.Terminals = 0 }},
		{"backoff max below base", func(p *stormsim.Params) { p.Agent.BackoffMax = p.Agent.BackoffBase / 2 }},
		{"no concurrency", func(p *stormsim.Params) { p.Lambda.Concurrency = 0 }},
		{"no horizon", func(p *stormsim.Params) { p.Horizon = 0 }},
		{"all concurrency reserved", func(p *stormsim.Params) { p.Lambda.Reserved[1] = p.Lambda.Concurrency }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := ok
			tt.edit(&p)
			if _, err := stormsim.Run(p); err == nil {
				t.Errorf("Run accepted %s", tt.name)
			}
		})
	}
}
