package main

import (
	"fmt"
	"io"
	"math"
	"runtime"
	"strings"
	"time"

	"github.com/edgesync/edgesync/fleet"
	"github.com/edgesync/edgesync/internal/capacity"
	"github.com/edgesync/edgesync/internal/stormsim"
)

// report writes the generated section of SCALE.md.
func report(w io.Writer, in inputs, o options) error {
	fmt.Fprintf(w, "## Results of %s\n\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(w, "`go run ./cmd/edgesync-scale -o SCALE.md` on %s/%s, %s. Quotas checked %s (`cmd/edgesync-scale/quotas.json`); usage: %s.\n\n",
		runtime.GOOS, runtime.GOARCH, runtime.Version(), in.quotas.Checked, in.usage.Source)
	writeInputs(w, in)
	for _, name := range in.usage.ProfileNames() {
		p := in.usage.Profiles[name]
		if p == nil {
			fmt.Fprintf(w, "### Capacity, profile %s\n\nNot measured: the usage has no figures for profile %s.\n\n", name, name)
			continue
		}
		writeCapacity(w, in, name, *p, o.sizes)
	}
	writeFits(w, in)
	writeFleetPage(w, in, o.sizes)
	if o.skip["storm"] {
		return nil
	}
	return writeStorms(w, in, o)
}

func writeInputs(w io.Writer, in inputs) {
	s := in.stack
	fmt.Fprintf(w, "### Inputs\n\n")
	reserved, warm := "none", "not set (the on-demand table's own)"
	if s.DisconnectReserved > 0 {
		reserved = num(float64(s.DisconnectReserved))
	}
	if s.WarmWriteUnits > 0 {
		warm = num(s.WarmWriteUnits) + " WCU/s"
	}
	fmt.Fprintf(w, "- template.yaml: WebSocket stage default route throttling %s requests/s, burst %s; HTTP API %s requests/s, burst %s; functions %d MB, timeout %v; DisconnectFunction reserved concurrency %s; table warm write throughput %s; indexes",
		num(s.RouteRate), num(s.RouteBurst), num(s.HTTPRate), num(s.HTTPBurst), s.MemoryMB, s.FunctionTimeout, reserved, warm)
	for _, ix := range s.Indexes {
		fmt.Fprintf(w, " `%s` (hash `%s`, %s)", ix.Name, ix.HashKey, ix.Projection)
	}
	fmt.Fprintf(w, ".\n- agent defaults: status every %v, heartbeat after %v of silence, reconnect at %v (mean connection %v), batches up to %d bytes.\n",
		s.StatusInterval, s.HeartbeatInterval, s.MaxConnectionAge, s.MeanConnectionAge().Round(time.Second), s.BatchMaxBytes)
	p := in.usage.Profiles["default"]
	fmt.Fprintf(w, "- default profile per terminal-hour, idle: %s messages in, %s out, %s invocations, %s WCU; live: %s in, %s out, %s WCU; per connection %s in, %s out, %s WCU, %s RCU; %s dashboard reads a day (%s HTTP requests, %s RCU each); %s ms per invocation in AWS (the benchmark's Lambda time, its DynamoDB calls at AWS's latency); the profiles are those rates.json measured (seed_literal is the source document's design, the cost baseline).\n\n",
		num(p.Idle.MessagesIn), num(p.Idle.MessagesOut), num(p.Idle.Invocations), num(p.Idle.WCU), num(p.Live.MessagesIn), num(p.Live.MessagesOut), num(p.Live.WCU),
		num(p.PerConnection.MessagesIn), num(p.PerConnection.MessagesOut), num(p.PerConnection.WCU), num(p.PerConnection.RCU),
		num(p.ReadsPerDay), num(p.PerRead.HTTPRequests), num(p.PerRead.RCU), num(p.InvocationMS))
}

func writeCapacity(w io.Writer, in inputs, profile string, p capacity.Profile, sizes []int) {
	fmt.Fprintf(w, "### Capacity at the reference workload, profile %s\n\n", profile)
	fmt.Fprintf(w, "Each cell: load per second (fraction of the limit). Steady state averaged over the day: idle and live periods, reconnects every %v, dashboard reads.\n\n", in.stack.MeanConnectionAge().Round(time.Second))
	writeRows(w, in, sizes, func(n int) []capacity.Row {
		l := capacity.Compute(n, p, in.stack)
		return capacity.Rows(l, in.stack, in.quotas, 2*l.WCU)
	})
	fmt.Fprintf(w, "#### During a reconnect storm, profile %s\n\n", profile)
	fmt.Fprintf(w, "The whole fleet reconnecting: new connections at the account's rate (or the whole fleet within a second), each with its hello, pulls and answers, on top of the steady load of the whole fleet. The table's warm throughput is twice the steady write rate or a new table's, whichever is higher. The simulation below shows how the agents actually arrive.\n\n")
	writeRows(w, in, sizes, func(n int) []capacity.Row {
		steady := capacity.Compute(n, p, in.stack)
		return capacity.Rows(capacity.StormLoad(n, p, in.stack, in.quotas), in.stack, in.quotas, 2*steady.WCU)
	})
}

func writeRows(w io.Writer, in inputs, sizes []int, rowsOf func(int) []capacity.Row) {
	head := []string{"resource", "limit"}
	for _, n := range sizes {
		head = append(head, num(float64(n))+" terminals")
	}
	t := table{head: head}
	var bySize [][]capacity.Row
	for _, n := range sizes {
		bySize = append(bySize, rowsOf(n))
	}
	for i, r := range bySize[0] {
		limit := limitCell(r.Limit)
		var values []string
		for _, rows := range bySize {
			values = append(values, num(rows[i].Limit.Value))
		}
		if strings.Join(values, "") != strings.Repeat(values[0], len(values)) {
			limit = strings.Join(values, " / ") + " " + r.Limit.Unit + ": " + r.Limit.Name
		}
		cells := []string{r.Resource, limit}
		for _, rows := range bySize {
			cells = append(cells, fmt.Sprintf("%s (%s)", num(rows[i].Load), pct(rows[i].Fraction)))
		}
		t.row(cells...)
	}
	t.write(w)
	for i, n := range sizes {
		fmt.Fprintf(w, "- %s terminals: ", num(float64(n)))
		first := capacity.First(bySize[i])
		describe(w, first)
		if first.Limit.ID == capacity.LimitRouteRate {
			fmt.Fprintf(w, " The first AWS quota: ")
			describe(w, capacity.First(capacity.AWSQuotas(bySize[i])))
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w)
}

func describe(w io.Writer, r capacity.Row) {
	verb := "nearest"
	if r.Fraction >= 1 {
		verb = "**hit**"
	}
	fmt.Fprintf(w, "%s %s (%s, %s).", r.Limit.Name, verb, pct(r.Fraction), r.Resource)
	if r.Fraction >= 0.5 && r.Limit.Remedy != "" {
		fmt.Fprintf(w, " Remedy: %s.", r.Limit.Remedy)
	}
}

func limitCell(q capacity.Quota) string {
	v := num(q.Value) + " " + q.Unit
	if strings.HasPrefix(q.Source, "https://") {
		return fmt.Sprintf("[%s](%s)", v, q.Source)
	}
	return v + " (" + q.Source + ")"
}

func writeFits(w io.Writer, in inputs) {
	fmt.Fprintf(w, "### Settings within fixed quotas\n\n")
	t := table{head: []string{"what", "setting", "quota", "within"}}
	for _, f := range capacity.Fits(in.stack, in.quotas) {
		ok := "yes"
		if !f.Within {
			ok = "**no**"
		}
		t.row(f.What, f.Setting+" "+f.Comparison, limitCell(f.Limit)+" "+f.Limit.Name, ok)
	}
	t.write(w)
}

func writeFleetPage(w io.Writer, in inputs, sizes []int) {
	fmt.Fprintf(w, "### One open fleet page\n\n")
	fmt.Fprintf(w, "Each refresh (every 5 s) queries the `terminals` index and batch-reads 3 items (record, config, desired config) per terminal it examines, strongly consistent (1 read unit each). Before issue 15's listing filters the dashboard listed every terminal (pages of 500); now it reads one page (default 50, at most 200). A filtered page's search (on opening it, a change of filters, Next, Previous, Refresh) examines at most %d × its size per request, with at most %d requests (`dashboard/web/js/fleet.js` MAX_READS); since issue 16 each refresh after the search makes its first request only (before, every refresh searched again).\n\n", fleet.FilterReadFactor, 20)
	head := []string{"per open page, every 5 s", "limit"}
	for _, n := range sizes {
		head = append(head, num(float64(n))+" terminals")
	}
	t := table{head: head}
	tableRCU := in.quotas.Get(capacity.QuotaTableRCU)
	httpLimit := capacity.Quota{Name: "HTTP API route throttling", Value: in.stack.HTTPRate, Unit: "requests/s", Source: "template.yaml"}
	cases := []struct {
		name  string
		pages func(n int) (terminals, requests int)
	}{
		{"every terminal, pages of 500 (before the filters)", func(n int) (int, int) { return n, (n + 499) / 500 }},
		{"one page of 50 (default)", func(n int) (int, int) { return min(n, 51), 1 }},
		{"a sparse filter, page of 200, every refresh a search (before): 20 requests × 5 × 200", func(n int) (int, int) { return min(n, 20*fleet.FilterReadFactor*200), 20 }},
		{"a sparse filter, page of 200, every refresh its first request (now): 1 × 5 × 200", func(n int) (int, int) { return min(n, fleet.FilterReadFactor*200), 1 }},
	}
	for _, c := range cases {
		for _, m := range []struct {
			what  string
			limit capacity.Quota
			v     func(capacity.Load) float64
		}{
			{"read units/s", tableRCU, func(l capacity.Load) float64 { return l.RCU }},
			{"HTTP requests/s", httpLimit, func(l capacity.Load) float64 { return l.HTTPRequests }},
		} {
			cells := []string{c.name + ": " + m.what, limitCell(m.limit)}
			for _, n := range sizes {
				terms, reqs := c.pages(n)
				v := m.v(capacity.FleetPage(terms, reqs, 5, 3, 100))
				cells = append(cells, fmt.Sprintf("%s (%s)", num(v), pct(v/m.limit.Value)))
			}
			t.row(cells...)
		}
	}
	t.write(w)
}

// scenario is one storm to simulate.
type scenario struct {
	name   string
	params stormsim.Params
}

func scenarios(in inputs, n int, seed uint64) []scenario {
	// The table served the fleet the simulation sends (the first protocol's
	// writes, heavier than the measured usage above).
	steady := stormsim.SteadyWCU(n, stormsim.AgentDefaults())
	now := stormsim.Defaults(n, in.stack.RouteRate, in.stack.RouteBurst, steady).WithTemplate(in.stack.DisconnectReserved, in.stack.WarmWriteUnits)
	now.Seed = seed
	warm := now.WithTemplate(in.stack.DisconnectReserved, max(in.stack.WarmWriteUnits, stormsim.LargeFleetWarmWriteUnits))
	earlier := stormsim.Defaults(n, stormsim.EarlierRouteRate, stormsim.EarlierRouteBurst, steady).EarlierTemplate()
	earlier.Seed = seed
	earlier.Agent = stormsim.EarlierAgent()
	scs := []scenario{
		{"before issue 16: its agent and template.yaml", earlier},
		{"agent's defaults, template.yaml as is", now},
		{fmt.Sprintf("agent's defaults, template.yaml with TableWarmWriteUnits=%d", stormsim.LargeFleetWarmWriteUnits), warm},
	}
	if n <= agentOnlyUpTo {
		agentOnly := now
		agentOnly.Agent = stormsim.EarlierAgent()
		scs = append(scs, scenario{"agent before issue 16, template.yaml as is", agentOnly})
	}
	return scs
}

// agentOnlyUpTo is the largest fleet the earlier agent alone is simulated
// with: beyond about 29,000 terminals the steady messages alone exceed the
// template's route throttling, every hello and answer is throttled for
// good, and the agents' hellos sent again only add to it (a minute of wall
// time at 100,000 to show nothing the capacity model does not).
const agentOnlyUpTo = 20000

func writeStorms(w io.Writer, in inputs, o options) error {
	fmt.Fprintf(w, "### Reconnect storm of %s terminals (simulation)\n\n", num(float64(o.terminals)))
	cur, old := stormsim.AgentDefaults(), stormsim.EarlierAgent()
	fmt.Fprintf(w, "Agent's defaults: backoff base %v, max %v, reconnect_attempts %d, hello again after %v (+ backoff) without an answer, and after an error frame or an error naming an answer, first status report of a connection after %.0f–100 %% of the interval. Before issue 16: base %v, no hello timer, error frames ignored, the first status report a whole interval after the hello; template.yaml's route throttling %d/s burst %d, no reserved concurrency.\n\n",
		cur.BackoffBase, cur.BackoffMax, cur.ReconnectAttempts, cur.HelloTimeout, (1-cur.StatusJitter)*100, old.BackoffBase,
		stormsim.EarlierRouteRate, stormsim.EarlierRouteBurst)
	var results []stormsim.Result
	var walls []time.Duration
	for _, sc := range scenarios(in, o.terminals, o.seed) {
		start := time.Now()
		r, err := stormsim.Run(sc.params)
		if err != nil {
			return fmt.Errorf("storm %q: %w", sc.name, err)
		}
		results = append(results, r)
		walls = append(walls, time.Since(start))
	}
	writeStormTable(w, scenarios(in, o.terminals, o.seed), results, walls)
	writeTimeline(w, results[2])
	if !o.skip["sweep"] {
		if err := writeSweep(w, in, o); err != nil {
			return err
		}
	}
	for _, n := range o.sizes {
		if n == o.terminals {
			continue
		}
		fmt.Fprintf(w, "### Reconnect storm of %s terminals (simulation)\n\n", num(float64(n)))
		scs := scenarios(in, n, o.seed)
		results, walls = nil, nil
		for _, sc := range scs {
			start := time.Now()
			r, err := stormsim.Run(sc.params)
			if err != nil {
				return fmt.Errorf("storm %q of %d: %w", sc.name, n, err)
			}
			results = append(results, r)
			walls = append(walls, time.Since(start))
		}
		writeStormTable(w, scs, results, walls)
	}
	return nil
}

func resyncCell(r stormsim.Result, q float64) string {
	d, ok := r.ResyncedWithin(q)
	if !ok {
		return "never¹"
	}
	return dur(d)
}

func writeStormTable(w io.Writer, scs []scenario, rs []stormsim.Result, walls []time.Duration) {
	head := []string{""}
	for _, sc := range scs {
		head = append(head, sc.name)
	}
	t := table{head: head}
	row := func(name string, f func(r stormsim.Result) string) {
		cells := []string{name}
		for _, r := range rs {
			cells = append(cells, f(r))
		}
		t.row(cells...)
	}
	row("50 % resynced", func(r stormsim.Result) string { return resyncCell(r, 0.5) })
	row("99 % resynced", func(r stormsim.Result) string { return resyncCell(r, 0.99) })
	row("100 % resynced", func(r stormsim.Result) string { return resyncCell(r, 1) })
	row("resynced", func(r stormsim.Result) string { return num(float64(r.Resynced)) })
	row("gave up (reconnect_attempts)", func(r stormsim.Result) string { return num(float64(r.GaveUp)) })
	row("connected, not resynced at the end¹", func(r stormsim.Result) string { return num(float64(r.ConnectedNotResynced)) })
	row("connection attempts / refused (429, 500)", func(r stormsim.Result) string {
		return num(float64(r.Attempts)) + " / " + num(float64(r.Refused))
	})
	row("peak connection attempts/s", func(r stormsim.Result) string { return num(float64(r.PeakAttempts)) })
	row("peak management-API calls/s (attempts; succeeded)", func(r stormsim.Result) string {
		return num(float64(r.PeakCallbacks)) + "; " + num(float64(r.PeakCallbacksOK))
	})
	row("peak requests/s on the account throttle", func(r stormsim.Result) string { return num(float64(r.PeakRequests)) })
	row("callbacks throttled / failed after the SDK's retries", func(r stormsim.Result) string {
		return num(float64(r.CallbacksThrottled)) + " / " + num(float64(r.CallbacksFailed))
	})
	row("messages lost to throttling: hellos / answers / logs", func(r stormsim.Result) string {
		l := r.Throttled
		return fmt.Sprintf("%s / %s / %s", num(float64(l.Hellos)), num(float64(l.Answers)), num(float64(l.Logs)))
	})
	row("messages lost to Lambda throttling: hellos / answers", func(r stormsim.Result) string {
		l := r.LambdaThrottled
		return fmt.Sprintf("%s / %s", num(float64(l.Hellos)), num(float64(l.Answers)))
	})
	row("$connect refused by Lambda throttling", func(r stormsim.Result) string { return num(float64(r.ConnectLambdaThrottled)) })
	row("hellos sent again (timer; error frame); hello errors", func(r stormsim.Result) string {
		return fmt.Sprintf("%s; %s; %s", num(float64(r.HelloResends)), num(float64(r.Rehellos)), num(float64(r.HelloErrors)))
	})
	row("peak Lambda concurrency (connect, disconnect, message)", func(r stormsim.Result) string {
		p := r.PeakFunctionConcurrency
		return fmt.Sprintf("%s (%s, %s, %s)", num(float64(r.PeakConcurrency)), num(float64(p[0])), num(float64(p[1])), num(float64(p[2])))
	})
	row("invocations throttled by DynamoDB (retried)", func(r stormsim.Result) string { return num(float64(r.DynamoDBThrottled)) })
	row("peak write units/s", func(r stormsim.Result) string { return num(r.PeakWCU) })
	row("virtual time simulated; wall time", func(r stormsim.Result) string { return dur(r.Duration) })
	for i := range rs {
		t.rows[len(t.rows)-1][i+1] += "; " + walls[i].Round(time.Millisecond).String()
	}
	t.write(w)
	fmt.Fprintf(w, "¹ Within the %v simulated. A connected terminal whose hello or answer was lost and that never says hello again resyncs only when its connection is recycled (max_connection_age, 99–110 min) or a stale read pushes it a refresh.\n\n", rs[0].Params.Horizon)
}

func writeTimeline(w io.Writer, r stormsim.Result) {
	fmt.Fprintf(w, "Timeline of the storm with the agent's defaults and template.yaml with the large-fleet warm throughput, every 20 s (per-second figures of that second; resynced is cumulative):\n\n")
	t := table{head: []string{"t (s)", "attempts", "refused", "connected", "resynced (total)", "messages in", "callbacks", "account requests", "concurrency", "WCU"}}
	total := 0
	for _, s := range r.Series {
		total += s.Resynced
		if s.At%20 != 0 && s.At != len(r.Series)-1 {
			continue
		}
		t.row(fmt.Sprint(s.At), num(float64(s.Attempts)), num(float64(s.Refused)), num(float64(s.Connected)), num(float64(total)),
			num(float64(s.Inbound)), num(float64(s.CallbacksOK)), num(float64(s.Requests)), num(float64(s.Concurrency)), num(s.WCU))
	}
	t.write(w)
}

func writeSweep(w io.Writer, in inputs, o options) error {
	fmt.Fprintf(w, "#### Tuning the backoff (%s terminals, template.yaml with the large-fleet warm throughput, the agent's defaults but for the backoff)\n\n", num(float64(o.terminals)))
	t := table{head: []string{"base", "max", "reconnect_attempts", "50 %", "99 %", "100 %", "gave up", "attempts", "refused", "peak attempts/s", "peak concurrency"}}
	base := scenarios(in, o.terminals, o.seed)[2].params // the agent's defaults, the large-fleet template
	type tuning struct {
		base, max time.Duration
		attempts  int
	}
	tunings := []tuning{{time.Second, time.Minute, 10}} // the agent's defaults before it retried forever
	for _, b := range []time.Duration{time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second} {
		for _, m := range []time.Duration{time.Minute, 2 * time.Minute} {
			tunings = append(tunings, tuning{b, m, 0})
		}
	}
	for _, tu := range tunings {
		p := base
		p.Agent.BackoffBase, p.Agent.BackoffMax, p.Agent.ReconnectAttempts = tu.base, tu.max, tu.attempts
		r, err := stormsim.Run(p)
		if err != nil {
			return err
		}
		t.row(tu.base.String(), tu.max.String(), fmt.Sprint(tu.attempts), resyncCell(r, .5), resyncCell(r, .99), resyncCell(r, 1), num(float64(r.GaveUp)),
			num(float64(r.Attempts)), num(float64(r.Refused)), num(float64(r.PeakAttempts)), num(float64(r.PeakConcurrency)))
	}
	t.write(w)
	return nil
}

// table writes a Markdown table.
type table struct {
	head []string
	rows [][]string
}

func (t *table) row(cells ...string) { t.rows = append(t.rows, cells) }

func (t *table) write(w io.Writer) {
	fmt.Fprintf(w, "| %s |\n", strings.Join(t.head, " | "))
	seps := make([]string, len(t.head))
	for i := range seps {
		seps[i] = "---"
		if i > 0 {
			seps[i] = "---:"
		}
	}
	fmt.Fprintf(w, "|%s|\n", strings.Join(seps, "|"))
	for _, r := range t.rows {
		fmt.Fprintf(w, "| %s |\n", strings.Join(r, " | "))
	}
	fmt.Fprintln(w)
}

// num formats a count: thousands separated, fractions for small values.
func num(v float64) string {
	switch {
	case v == 0:
		return "0"
	case math.Abs(v) < 0.01:
		return fmt.Sprintf("%.4f", v)
	case math.Abs(v) < 10:
		return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.2f", v), "0"), ".")
	case math.Abs(v) < 100:
		return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.1f", v), "0"), ".")
	}
	s := fmt.Sprintf("%.0f", v)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 && c != '-' {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func pct(f float64) string {
	switch {
	case f == 0:
		return "0 %"
	case f < 0.001:
		return "<0.1 %"
	case f < 0.1:
		return fmt.Sprintf("%.1f %%", f*100)
	}
	return fmt.Sprintf("%.0f %%", f*100)
}

func dur(d time.Duration) string {
	switch {
	case d >= time.Minute:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	case d >= 10*time.Second:
		return fmt.Sprintf("%.0f s", d.Seconds())
	}
	return fmt.Sprintf("%.1f s", d.Seconds())
}
