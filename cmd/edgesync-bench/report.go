package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/edgesync/edgesync/agent"
	"github.com/edgesync/edgesync/devstack/gateway"
	"github.com/edgesync/edgesync/fleet"
)

// percentiles of a latency sample.
type percentiles struct {
	N             int
	P50, P95, P99 time.Duration
	Max           time.Duration
}

func percentilesOf(ds []time.Duration) percentiles {
	if len(ds) == 0 {
		return percentiles{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	at := func(q float64) time.Duration {
		i := int(math.Ceil(q*float64(len(s)))) - 1
		return s[min(max(i, 0), len(s)-1)]
	}
	return percentiles{N: len(s), P50: at(0.50), P95: at(0.95), P99: at(0.99), Max: s[len(s)-1]}
}

func ms(d time.Duration) string {
	switch {
	case d >= 10*time.Second:
		return fmt.Sprintf("%.1f s", d.Seconds())
	case d >= time.Second:
		return fmt.Sprintf("%.2f s", d.Seconds())
	}
	return fmt.Sprintf("%d ms", d.Round(time.Millisecond).Milliseconds())
}

func dollars(v float64) string {
	switch {
	case v == 0:
		return "$0"
	case v >= 1:
		return fmt.Sprintf("$%.2f", v)
	case v >= 0.01:
		return fmt.Sprintf("$%.4f", v)
	}
	return fmt.Sprintf("$%.6f", v)
}

func ratio(base, ours float64) string {
	if ours <= 0 {
		if base <= 0 {
			return "–"
		}
		return "∞"
	}
	return fmt.Sprintf("%.1f×", base/ours)
}

func count(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2f M", v/1e6)
	case v >= 1e4:
		return fmt.Sprintf("%.0f k", v/1e3)
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.1f", v)
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

// writeCost writes the cost tables: per terminal-month by service and by
// message type, baseline beside the project's protocol.
func writeCost(w io.Writer, base, ours, watched *monthModel, p Prices, run *costRun, memoryMB int) {
	bc, oc := price(base.Month.total(), p), price(ours.Month.total(), p)
	fmt.Fprintf(w, "### Cost per terminal-month at the reference workload\n\n")
	fmt.Fprintf(w, "Prices: %s, %s (`cmd/edgesync-bench/prices.json`). Lambda at %d MB (template default).\n\n", p.Region, p.Date, memoryMB)
	t := table{head: []string{"service", "per-line baseline", "edgesync", "ratio"}}
	svc := []struct {
		name string
		b, o float64
	}{
		{"API Gateway WebSocket messages", bc.WSMessages, oc.WSMessages},
		{"API Gateway connection minutes", bc.WSConnMinutes, oc.WSConnMinutes},
		{"API Gateway HTTP API requests", bc.HTTPRequests, oc.HTTPRequests},
		{"Lambda requests", bc.LambdaRequests, oc.LambdaRequests},
		{"Lambda duration", bc.LambdaDuration, oc.LambdaDuration},
		{"DynamoDB write units", bc.DynamoWrites, oc.DynamoWrites},
		{"DynamoDB read units", bc.DynamoReads, oc.DynamoReads},
	}
	for _, s := range svc {
		t.row(s.name, dollars(s.b), dollars(s.o), ratio(s.b, s.o))
	}
	t.row("**total per terminal-month**", "**"+dollars(bc.total())+"**", "**"+dollars(oc.total())+"**", "**"+ratio(bc.total(), oc.total())+"**")
	lines := float64(refLinesPerDay * refDaysPerMonth)
	t.row("total per million log lines", dollars(bc.total()/lines*1e6), dollars(oc.total()/lines*1e6), ratio(bc.total(), oc.total()))
	t.write(w)

	fmt.Fprintf(w, "### By message type, per terminal-month\n\n")
	fmt.Fprintf(w, "Messages are API Gateway messages in both directions (32 KB units billed); a kind's Lambda, DynamoDB and HTTP costs are those of the invocations its messages caused.\n\n")
	t = table{head: []string{"kind", "baseline msgs", "baseline $", "edgesync msgs", "edgesync $", "ratio"}}
	for _, kind := range sortedKinds(base.Month, ours.Month) {
		b, o := base.Month[kind], ours.Month[kind]
		bc, oc := price(b, p).total(), price(o, p).total()
		bm, om := count(b.Messages), count(o.Messages)
		if kind == kindReads {
			bm, om = count(b.HTTPRequests)+" HTTP", count(o.HTTPRequests)+" HTTP"
		}
		if kind == kindConnection {
			bm, om = count(b.ConnMinutes)+" min", count(o.ConnMinutes)+" min"
		}
		t.row(kind, bm, dollars(bc), om, dollars(oc), ratio(bc, oc))
	}
	t.write(w)

	fmt.Fprintf(w, "### Counted units per terminal-month\n\n")
	t = table{head: []string{"unit", "baseline", "edgesync", "ratio"}}
	bt, ot := base.Month.total(), ours.Month.total()
	for _, u := range []struct {
		name string
		b, o float64
	}{
		{"WebSocket messages (in + out)", bt.Messages, ot.Messages},
		{"WebSocket 32 KB units", bt.MsgUnits, ot.MsgUnits},
		{"Lambda invocations", bt.Invocations, ot.Invocations},
		{"Lambda billed GB-seconds", bt.GBSeconds, ot.GBSeconds},
		{"DynamoDB write units", bt.WCU, ot.WCU},
		{"DynamoDB read units", bt.RCU, ot.RCU},
		{"HTTP API requests", bt.HTTPRequests, ot.HTTPRequests},
		{"connection minutes", bt.ConnMinutes, ot.ConnMinutes},
	} {
		t.row(u.name, count(u.b), count(u.o), ratio(u.b, u.o))
	}
	t.write(w)

	fmt.Fprintf(w, "### Measured per unit of work (the model's inputs)\n\n")
	t = table{head: []string{"measured", "baseline", "edgesync"}}
	for _, m := range []struct {
		name string
		f    func(*monthModel) string
	}{
		{"log lines per terminal-day measured in the window (× the scale applied to logs and acks)", func(m *monthModel) string {
			return fmt.Sprintf("%s (×%.3f)", count(m.LinesPerDay), m.LineScale)
		}},
		{"messages per terminal-hour, steady", func(m *monthModel) string { return count(m.Steady.total().Messages) }},
		{"invocations per terminal-hour, steady", func(m *monthModel) string { return count(m.Steady.total().Invocations) }},
		{"write units per terminal-hour, steady", func(m *monthModel) string { return count(m.Steady.total().WCU) }},
		{"mean billed ms per invocation, steady", func(m *monthModel) string {
			t := m.Steady.total()
			return fmt.Sprintf("%.1f", t.BilledMs/max(t.Invocations, 1))
		}},
		{"of which waiting on DynamoDB (dynalite) / on the management API", func(m *monthModel) string {
			db, push := waits(run, m.Group)
			return fmt.Sprintf("%.1f / %.1f", db, push)
		}},
		{"per connection: messages / invocations / write units", func(m *monthModel) string {
			t := m.PerConnection.total()
			return fmt.Sprintf("%.1f / %.1f / %.1f", t.Messages, t.Invocations, t.WCU)
		}},
		{"per dashboard read: HTTP requests / write units / read units / messages", func(m *monthModel) string {
			t := m.PerRead.total()
			return fmt.Sprintf("%.0f / %.1f / %.1f / %.1f", t.HTTPRequests, t.WCU, t.RCU, t.Messages)
		}},
	} {
		t.row(m.name, m.f(base), m.f(ours))
	}
	t.write(w)
	fmt.Fprintf(w, "Steady state per terminal-hour: nobody reading (edgesync idle) and a dashboard tailing the logs (edgesync live; its own polls not counted):\n\n")
	t = table{head: []string{"per terminal-hour", "baseline", "edgesync idle", "edgesync live"}}
	steady := func(m *monthModel) usageVec {
		v := usageVec{}
		for k, u := range m.Steady {
			if k != kindCommands {
				v = v.add(u)
			}
		}
		return v
	}
	sb, so, sw := steady(base), steady(ours), steady(watched)
	t.row("messages (in + out)", count(sb.Messages), count(so.Messages), count(sw.Messages))
	t.row("invocations", count(sb.Invocations), count(so.Invocations), count(sw.Invocations))
	t.row("DynamoDB write units", count(sb.WCU), count(so.WCU), count(sw.WCU))
	t.row("cost", dollars(price(sb, p).total()), dollars(price(so, p).total()), dollars(price(sw, p).total()))
	t.write(w)
	fmt.Fprintf(w, "The month counts %d dashboard reads a day, each making the terminal live for %s (at the live rate above), and a reconnect every %.1f min (edgesync agent) or %.0f min (API Gateway's limit, baseline), each costing the measured per-connection traffic.\n\n",
		refReadsPerDay, fleet.LiveFor, agentReconnectEvery, gatewayMaxAge)
	fmt.Fprintf(w, "DynamoDB write units per terminal-hour in the steady state, by item written:\n\n")
	bw, ow := wcuByItem(run, groupBaseline), wcuByItem(run, groupOurs)
	t = table{head: []string{"item", "baseline", "edgesync"}}
	var items []string
	for k := range bw {
		items = append(items, k)
	}
	for k := range ow {
		if _, ok := bw[k]; !ok {
			items = append(items, k)
		}
	}
	slices.Sort(items)
	for _, k := range items {
		t.row(k, fmt.Sprintf("%.1f", bw[k]), fmt.Sprintf("%.1f", ow[k]))
	}
	t.write(w)
}

// waits returns the mean milliseconds a group's steady invocations spent
// waiting on DynamoDB and on the management API.
func waits(run *costRun, group string) (db, push float64) {
	n := 0
	for _, inv := range run.invocations {
		if groupOf(inv.Terminal) != group || inv.At.Before(run.windowStart) || !inv.At.Before(run.windowEnd) || !steadyKind(inv.Kind) {
			continue
		}
		db += float64(inv.DBTime) / float64(time.Millisecond)
		push += float64(inv.PushTime) / float64(time.Millisecond)
		n++
	}
	if n == 0 {
		return 0, 0
	}
	return db / float64(n), push / float64(n)
}

// wcuByItem sums the steady state's write units of a group by item kind,
// per terminal-hour.
func wcuByItem(run *costRun, group string) map[string]float64 {
	out := map[string]float64{}
	hours := run.windowEnd.Sub(run.windowStart).Hours() * float64(run.terminals)
	for _, inv := range run.invocations {
		if groupOf(inv.Terminal) != group || inv.At.Before(run.windowStart) || !inv.At.Before(run.windowEnd) || !steadyKind(inv.Kind) {
			continue
		}
		for k, v := range inv.WCUByItem {
			out[k] += v / hours
		}
	}
	return out
}

// results is everything one run measured.
type results struct {
	began      time.Time
	took       time.Duration
	opts       options
	prices     Prices
	memoryMB   int
	machine    string
	cost       *costRun
	base, ours monthModel
	watched    monthModel
	latency    *latencyRun
	throughput *throughputRun
	cpu        *cpuResult
	sizes      []function
	cold       []gateway.ColdStart
}

// Targets of issue 8.
const (
	targetRatio     = 20.0
	targetMaxBinary = 10_000_000 // bytes: 10 MB
	targetExtra     = 150 * time.Millisecond
	targetRunTime   = 5 * time.Minute
)

func (r *results) write(w io.Writer) {
	fmt.Fprintf(w, "## Results of %s\n\n", r.began.UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(w, "`go run ./cmd/edgesync-bench%s` on %s. The run took %v.\n\n", r.flags(), r.machine, r.took.Round(time.Second))
	r.writeTargets(w)
	writeCost(w, &r.base, &r.ours, &r.watched, r.prices, r.cost, r.memoryMB)
	r.writeLatency(w)
	r.writeThroughput(w)
	r.writeCPU(w)
	r.writeColdStart(w)
}

func (r *results) flags() string {
	var f []string
	d := options{terminals: 60, watched: 4, window: 90 * time.Second, warmup: 10 * time.Second}
	if r.opts.terminals != d.terminals {
		f = append(f, fmt.Sprintf("-terminals %d", r.opts.terminals))
	}
	if r.opts.watched != d.watched {
		f = append(f, fmt.Sprintf("-watched %d", r.opts.watched))
	}
	if r.opts.window != d.window {
		f = append(f, "-window "+r.opts.window.String())
	}
	if r.opts.warmup != d.warmup {
		f = append(f, "-warmup "+r.opts.warmup.String())
	}
	if r.opts.out != "" {
		f = append(f, "-o "+r.opts.out)
	}
	if len(f) == 0 {
		return ""
	}
	return " " + strings.Join(f, " ")
}

func met(ok bool) string {
	if ok {
		return "met"
	}
	return "**not met**"
}

func (r *results) writeTargets(w io.Writer) {
	fmt.Fprintf(w, "### Targets\n\n")
	t := table{head: []string{"target", "measured", ""}}
	bc, oc := price(r.base.Month.total(), r.prices).total(), price(r.ours.Month.total(), r.prices).total()
	t.row("≥ 20× cheaper per terminal-month than the per-line baseline (status included)",
		fmt.Sprintf("%s vs %s: %s", dollars(oc), dollars(bc), ratio(bc, oc)), met(bc >= targetRatio*oc))
	if r.latency != nil {
		window := time.Duration(agent.DefaultConfig().BatchWindowMS) * time.Millisecond
		p := percentilesOf(r.latency.polled)
		t.row(fmt.Sprintf("p99 end-to-end latency ≤ batch window + 150 ms = %s (watched)", ms(window+targetExtra)),
			fmt.Sprintf("p99 %s (line produced → seen by a GET /logs poll every %s)", ms(p.P99), ms(r.latency.pollEvery)), met(p.N > 0 && p.P99 <= window+targetExtra))
	}
	if len(r.sizes) > 0 {
		var largest function
		for _, f := range r.sizes {
			if f.size > largest.size {
				largest = f
			}
		}
		t.row("each function binary ≤ 10 MB stripped (linux/arm64)", fmt.Sprintf("largest %s: %.2f MB", largest.name, mb(largest.size)), met(largest.size <= targetMaxBinary))
	}
	if len(r.cold) > 0 {
		t.row("init duration reported for each function", fmt.Sprintf("%d functions, see Cold start", len(firstColdStarts(r.cold))), met(len(firstColdStarts(r.cold)) == len(r.sizes) || len(r.sizes) == 0))
	}
	t.row("the benchmark runs in under five minutes", r.took.Round(time.Second).String(), met(r.took < targetRunTime))
	t.write(w)
}

// mb is n bytes in MB (10^6 bytes).
func mb(n int64) float64 { return float64(n) / 1e6 }

func (r *results) writeLatency(w io.Writer) {
	fmt.Fprintf(w, "### End-to-end latency\n\n")
	fmt.Fprintf(w, "From the moment the agent (or the per-line client) is handed a line (its `ts`) to the moment it is readable: stored by the message function (the chunk's `storedAt`) or seen by a poll of `GET /terminals/{id}/logs/?since=…`.\n\n")
	t := table{head: []string{"mode", "lines", "p50", "p95", "p99", "max"}}
	add := func(name string, ds []time.Duration) {
		p := percentilesOf(ds)
		if p.N == 0 {
			t.row(name, "0", "–", "–", "–", "–")
			return
		}
		t.row(name, fmt.Sprint(p.N), ms(p.P50), ms(p.P95), ms(p.P99), ms(p.Max))
	}
	if l := r.latency; l != nil {
		add(fmt.Sprintf("edgesync, watched: seen by a poll every %s", ms(l.pollEvery)), l.polled)
		add("edgesync, watched: stored", l.stored)
	}
	add("edgesync, watched by a dashboard polling every 1 s (cost run): seen", r.cost.tailSeen)
	add("edgesync, unwatched (cost run): stored", r.cost.stored[groupOurs])
	add("per-line baseline (cost run): stored", r.cost.stored[groupBaseline])
	t.write(w)
	if l := r.latency; l != nil {
		fmt.Fprintf(w, "Watched: %d terminals with the default agent configuration (batch_window_ms 250, idle_batch_window_ms 30000) for %s, each tailed by a dashboard poll every %s (%d polls); isolated lines with a mean gap of 100 ms and a burst of 20–50 lines every 2–4 s; lines from one second after the first read on. Unwatched lines wait for the status report they travel with (every 30 s): nobody can see that delay, since a read makes the terminal live and send what it holds at once.\n\n",
			l.terminals, l.duration, ms(l.pollEvery), l.polls)
	}
}

func (r *results) writeThroughput(w io.Writer) {
	tp := r.throughput
	if tp == nil {
		return
	}
	fmt.Fprintf(w, "### Sustained throughput on this machine\n\n")
	t := table{head: []string{"client", "terminals", "lines stored and acknowledged per second"}}
	t.row("edgesync agents (batches of up to 32 KB, gzip)", fmt.Sprint(tp.agents), fmt.Sprintf("%.0f", float64(tp.agentLines)/tp.duration.Seconds()))
	t.row("per-line clients (one line per message, ≤ 64 unacknowledged)", fmt.Sprint(tp.perLine), fmt.Sprintf("%.0f", float64(tp.baseLines)/tp.duration.Seconds()))
	t.write(w)
	fmt.Fprintf(w, "Everything on one machine: dynalite (single-threaded Node.js), the API Gateway emulator, the functions in process and the clients. Measured over %s after a 2 s ramp.\n\n", tp.duration)
}

func (r *results) writeCPU(w io.Writer) {
	if r.cpu == nil {
		return
	}
	fmt.Fprintf(w, "### CPU per message in the message handler\n\n")
	fmt.Fprintf(w, "`%s` (fleet.Service.HandleMessage over the DynamoDB store and the management-API pusher, their HTTP answered at once: decoding, validation, compression, the SDK's serialization and signing; cpu-ns/op is process CPU per message):\n\n```\n%s\n```\n\n", r.cpu.command, strings.Join(r.cpu.lines, "\n"))
}

// firstColdStarts keeps the first cold start of each function.
func firstColdStarts(cs []gateway.ColdStart) map[string]gateway.ColdStart {
	out := map[string]gateway.ColdStart{}
	for _, c := range cs {
		if _, ok := out[c.Function]; !ok {
			out[c.Function] = c
		}
	}
	return out
}

func (r *results) writeColdStart(w io.Writer) {
	if len(r.sizes) == 0 {
		return
	}
	fmt.Fprintf(w, "### Cold start\n\n")
	fmt.Fprintf(w, "Size: `GOOS=linux GOARCH=arm64 CGO_ENABLED=0 go build -tags lambda.norpc -ldflags=-s`. Init duration: each function's bootstrap (host architecture) under aws-lambda-rie, first invocation (`devstack --lambda rie`, `Stack.ColdStarts`); first invoke is the invoker's wall time of that invocation (process start, init, handler, HTTP round trip).\n\n")
	first := firstColdStarts(r.cold)
	t := table{head: []string{"function", "size (MB)", "≤ 10 MB", "packages linked", "init duration", "first invoke", "cold starts"}}
	counts := map[string]int{}
	for _, c := range r.cold {
		counts[c.Function]++
	}
	for _, f := range r.sizes {
		c, ok := first[f.name]
		init, inv := "–", "–"
		if ok {
			init, inv = ms(c.InitDuration), ms(c.FirstInvoke)
		}
		t.row(f.name, fmt.Sprintf("%.2f", mb(f.size)), met(f.size <= targetMaxBinary), fmt.Sprint(f.imports), init, inv, fmt.Sprint(counts[f.name]))
	}
	t.write(w)
}
