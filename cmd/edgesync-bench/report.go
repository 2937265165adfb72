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
	"github.com/edgesync/edgesync/protocol"
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

// results is everything one run measured.
type results struct {
	began      time.Time
	took       time.Duration
	opts       options
	prices     Prices
	memoryMB   int
	machine    string
	cost       *costRun
	models     map[string]*monthModel
	latency    *latencyRun
	throughput *throughputRun
	cpu        *cpuResult
	sizes      []function
	cold       []gateway.ColdStart
	chartFile  string // the chart, relative to the report
}

// modelAll models every group's month. The chart's points take the
// dashboard read cost of the main group of their profile, and every agent
// group the live rate of the watched group of its profile.
func modelAll(run *costRun, memoryMB int) map[string]*monthModel {
	out := map[string]*monthModel{}
	for _, name := range run.order {
		mm := modelGroup(run, name, memoryMB)
		out[name] = &mm
	}
	for _, name := range run.order {
		mm := out[name]
		var perRead kindUsage
		if main := out[mainOfProfile(mm.Group.profile)]; main != nil && main != mm {
			perRead = main.PerRead
		}
		mm.finish(out[mm.Group.live], fleet.LiveFor, perRead)
	}
	return out
}

func mainOfProfile(profile string) string {
	if profile == agent.ProfileEconomy {
		return groupEconomy
	}
	return groupOurs
}

// monthCost is a group's cost per terminal-month.
func (r *results) monthCost(name string) float64 {
	mm := r.models[name]
	if mm == nil {
		return 0
	}
	return price(mm.Month.total(), r.prices).total()
}

// Targets of issues 8 and 14.
const (
	targetDefault   = 20.0
	targetEconomy   = 100.0
	targetMaxBinary = 10_000_000 // bytes: 10 MB
	targetWatched   = 400 * time.Millisecond
	targetUrgent    = 2 * time.Second
	targetMaxWait   = 1800 * time.Second
	targetRunTime   = 5 * time.Minute
)

func (r *results) write(w io.Writer) {
	fmt.Fprintf(w, "## Results of %s\n\n", r.began.UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(w, "`go run ./cmd/edgesync-bench%s` on %s. The run took %v.\n\n", r.flags(), r.machine, r.took.Round(time.Second))
	r.writeTargets(w)
	r.writeCost(w)
	r.writeChart(w)
	r.writeLatency(w)
	r.writeStatus(w)
	r.writeThroughput(w)
	r.writeCPU(w)
	r.writeColdStart(w)
}

func (r *results) flags() string {
	var f []string
	d := defaults
	if r.opts.terminals != d.terminals {
		f = append(f, fmt.Sprintf("-terminals %d", r.opts.terminals))
	}
	if r.opts.watched != d.watched {
		f = append(f, fmt.Sprintf("-watched %d", r.opts.watched))
	}
	if r.opts.chartTerminals != d.chartTerminals {
		f = append(f, fmt.Sprintf("-chart-terminals %d", r.opts.chartTerminals))
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

// maxWait is the longest wait of a group's lines, in the group's virtual
// time (real waits times its scale: the agent's windows were divided by it).
func (r *results) maxWait(name string) time.Duration {
	g := r.cost.groups[name]
	p := percentilesOf(r.cost.waits[name])
	return time.Duration(float64(p.Max) * g.scale)
}

func (r *results) writeTargets(w io.Writer) {
	fmt.Fprintf(w, "### Targets\n\n")
	t := table{head: []string{"target", "measured", ""}}
	seed := r.monthCost(groupSeed)
	for _, c := range []struct {
		group  string
		target float64
	}{{groupOurs, targetDefault}, {groupEconomy, targetEconomy}} {
		cost := r.monthCost(c.group)
		t.row(fmt.Sprintf("%s ≥ %.0f× cheaper per terminal-month than the seed-literal baseline", r.cost.groups[c.group].title, c.target),
			fmt.Sprintf("%s vs %s: %s", dollars(cost), dollars(seed), ratio(seed, cost)), met(cost > 0 && seed >= c.target*cost))
	}
	if floor, events := r.urgentFloor(); floor > 0 {
		t.row("(bound) the lowest cost a terminal storing each error line within 2 s can have at this workload",
			fmt.Sprintf("%s: %.0f error events a day, each at least a message, an invocation, a binding read and a written item, plus the connection minutes, reconnects and reads measured for economy; at most %s", dollars(floor), events, ratio(seed, floor)), "–")
	}
	if l := r.latency; l != nil {
		for _, name := range []string{groupOurs, groupEconomy} {
			p := percentilesOf(l.polled[name])
			t.row(fmt.Sprintf("%s, watched: lines seen p99 ≤ %s", r.cost.groups[name].title, ms(targetWatched)),
				fmt.Sprintf("p99 %s (line handed → seen by a GET /logs poll every %s; %d lines)", ms(p.P99), ms(l.pollEvery), p.N), met(p.N > 0 && p.P99 <= targetWatched))
		}
	}
	for _, name := range []string{groupOurs, groupEconomy} {
		p := percentilesOf(r.cost.urgent[name])
		t.row(fmt.Sprintf("%s, nobody watching: error lines stored p99 ≤ %s", r.cost.groups[name].title, ms(targetUrgent)),
			fmt.Sprintf("p99 %s, max %s (%d lines)", ms(p.P99), ms(p.Max), p.N), met(p.N > 0 && p.P99 <= targetUrgent))
	}
	for _, name := range []string{groupOurs, groupEconomy} {
		mw := r.maxWait(name)
		t.row(fmt.Sprintf("%s: no line waits longer than %s", r.cost.groups[name].title, ms(targetMaxWait)),
			fmt.Sprintf("longest wait %s (%d lines)", ms(mw), len(r.cost.waits[name])), met(len(r.cost.waits[name]) > 0 && mw <= targetMaxWait))
	}
	for _, name := range []string{groupOurs, groupEconomy} {
		sr := r.cost.status[name]
		if sr == nil {
			continue
		}
		promise := promiseOf(r.cost.groups[name])
		ok := sr.reads > 0 && sr.fresh == sr.reads && sr.maxAge <= promise
		t.row(fmt.Sprintf("%s: status shown never older than the profile's promise, which the API states (freshUntil)", r.cost.groups[name].title),
			fmt.Sprintf("promise %s; oldest shown %s; %d of %d reads fresh", ms(promise), ms(sr.maxAge), sr.fresh, sr.reads), met(ok))
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

// promiseOf is the status promise of a group's profile, uncompressed:
// what the API states (fleet.Service.StatusTTL) for its status interval.
func promiseOf(g groupSpec) time.Duration {
	cfg, err := agentConfig(groupSpec{profile: g.profile, window: g.window, scale: 1})
	if err != nil {
		return 0
	}
	i := cfg.StatusInterval.Duration()
	return max(fleet.DefaultConfig().StatusTTL, 2*i, i+fleet.StatusRecordEvery)
}

// urgentFloor is a lower bound of any terminal's cost per month that
// stores each line at the urgent level (error) within the 2 s promise at
// the reference workload: every moment with an error line (a burst or an
// isolated line; those of a burst go together) is at least one message,
// one invocation (its modelled duration as economy's mean), one read of
// the connection's binding and one write unit, nothing else of its lines
// or status counted; plus what does not depend on the lines, as measured
// for economy: connection minutes, reconnects and dashboard reads. It
// returns the bound and the error moments a day.
func (r *results) urgentFloor() (float64, float64) {
	eco := r.models[groupEconomy]
	if eco == nil {
		return 0, 0
	}
	const terminals = 20
	events := 0
	urgent := protocol.LevelRank(agent.DefaultConfig().UrgentLevel)
	for seed := uint64(1); seed <= terminals; seed++ {
		n := uint64(0)
		for _, ev := range schedule(seed, 24*time.Hour) {
			hit := false
			for range ev.lines {
				n++
				if protocol.LevelRank(lineFor(fmt.Sprintf("%s-%d", groupEconomy, seed), n).level) >= urgent {
					hit = true
				}
			}
			if hit {
				events++
			}
		}
	}
	perDay := float64(events) / terminals
	st := eco.Steady.total()
	ms := st.BilledMs / max(st.Invocations, 1)
	one := usageVec{Messages: 1, MsgUnits: 1, Invocations: 1, BilledMs: ms, GBSeconds: ms / 1000 * float64(r.memoryMB) / 1024, WCU: 1, RCU: 1}
	month := kindUsage{
		"urgent":        one.scale(perDay * refDaysPerMonth),
		kindConnection:  eco.Month[kindConnection],
		kindConnect:     eco.Month[kindConnect],
		kindReads:       eco.Month[kindReads],
		"connect pulls": eco.PerConnection[kindCommands].scale(float64(refDaysPerMonth*24*60) / agentReconnectEvery),
	}
	return price(month.total(), r.prices).total(), perDay
}

// costGroups are the columns of the cost tables.
var costGroups = []string{groupSeed, groupBaseline, groupOurs, groupEconomy}

func (r *results) writeCost(w io.Writer) {
	p := r.prices
	fmt.Fprintf(w, "### Cost per terminal-month at the reference workload\n\n")
	fmt.Fprintf(w, "Prices: %s, %s (`cmd/edgesync-bench/prices.json`). Lambda at %d MB (template default), its duration with DynamoDB at %s a request. Ratios are against the seed-literal baseline.\n\n", p.Region, p.Date, r.memoryMB, ms(dynamoLatency))
	head := []string{"service"}
	for _, g := range costGroups {
		head = append(head, r.cost.groups[g].title)
	}
	head = append(head, "default ratio", "economy ratio")
	t := table{head: head}
	costs := map[string]serviceCost{}
	for _, g := range costGroups {
		costs[g] = price(r.models[g].Month.total(), p)
	}
	rows := []struct {
		name string
		f    func(serviceCost) float64
	}{
		{"API Gateway WebSocket messages", func(c serviceCost) float64 { return c.WSMessages }},
		{"API Gateway connection minutes", func(c serviceCost) float64 { return c.WSConnMinutes }},
		{"API Gateway HTTP API requests", func(c serviceCost) float64 { return c.HTTPRequests }},
		{"Lambda requests", func(c serviceCost) float64 { return c.LambdaRequests }},
		{"Lambda duration", func(c serviceCost) float64 { return c.LambdaDuration }},
		{"DynamoDB write units", func(c serviceCost) float64 { return c.DynamoWrites }},
		{"DynamoDB read units", func(c serviceCost) float64 { return c.DynamoReads }},
		{"**total per terminal-month**", func(c serviceCost) float64 { return c.total() }},
	}
	for _, row := range rows {
		cells := []string{row.name}
		for _, g := range costGroups {
			cells = append(cells, dollars(row.f(costs[g])))
		}
		seed := row.f(costs[groupSeed])
		cells = append(cells, ratio(seed, row.f(costs[groupOurs])), ratio(seed, row.f(costs[groupEconomy])))
		if strings.HasPrefix(row.name, "**") {
			for i := 1; i < len(cells); i++ {
				cells[i] = "**" + cells[i] + "**"
			}
		}
		t.row(cells...)
	}
	lines := float64(refLinesPerDay * refDaysPerMonth)
	cells := []string{"total per million log lines"}
	for _, g := range costGroups {
		cells = append(cells, dollars(costs[g].total()/lines*1e6))
	}
	cells = append(cells, ratio(costs[groupSeed].total(), costs[groupOurs].total()), ratio(costs[groupSeed].total(), costs[groupEconomy].total()))
	t.row(cells...)
	t.write(w)

	fmt.Fprintf(w, "### Where the money goes, per terminal-month\n\n")
	fmt.Fprintf(w, "By kind of traffic: API Gateway messages in both directions (32 KB units billed); a kind's Lambda, DynamoDB and HTTP costs are those of the invocations its messages caused. `logs` includes the status reports riding in logs messages; `connect` is `$connect`, `hello` (and the welcome) and `$disconnect`; `commands` the pulls after hello, command responses and live hints.\n\n")
	head = []string{"kind"}
	for _, g := range costGroups {
		head = append(head, r.cost.groups[g].title+" msgs", "$")
	}
	t = table{head: head}
	var months []kindUsage
	for _, g := range costGroups {
		months = append(months, r.models[g].Month)
	}
	for _, kind := range sortedKinds(months...) {
		cells := []string{kind}
		for _, g := range costGroups {
			v := r.models[g].Month[kind]
			m := count(v.Messages)
			switch kind {
			case kindReads:
				m = count(v.HTTPRequests) + " HTTP"
			case kindConnection:
				m = count(v.ConnMinutes) + " min"
			}
			cells = append(cells, m, dollars(price(v, p).total()))
		}
		t.row(cells...)
	}
	t.write(w)

	fmt.Fprintf(w, "Counted units per terminal-month:\n\n")
	head = []string{"unit"}
	for _, g := range costGroups {
		head = append(head, r.cost.groups[g].title)
	}
	t = table{head: head}
	for _, u := range []struct {
		name string
		f    func(usageVec) float64
	}{
		{"WebSocket messages (in + out)", func(v usageVec) float64 { return v.Messages }},
		{"WebSocket 32 KB units", func(v usageVec) float64 { return v.MsgUnits }},
		{"Lambda invocations", func(v usageVec) float64 { return v.Invocations }},
		{"Lambda billed GB-seconds", func(v usageVec) float64 { return v.GBSeconds }},
		{"DynamoDB write units", func(v usageVec) float64 { return v.WCU }},
		{"DynamoDB read units", func(v usageVec) float64 { return v.RCU }},
		{"HTTP API requests", func(v usageVec) float64 { return v.HTTPRequests }},
		{"connection minutes", func(v usageVec) float64 { return v.ConnMinutes }},
	} {
		cells := []string{u.name}
		for _, g := range costGroups {
			cells = append(cells, count(u.f(r.models[g].Month.total())))
		}
		t.row(cells...)
	}
	t.write(w)

	fmt.Fprintf(w, "### Measured per unit of work (the model's inputs)\n\n")
	head = []string{"measured"}
	for _, g := range costGroups {
		head = append(head, r.cost.groups[g].title)
	}
	t = table{head: head}
	for _, m := range []struct {
		name string
		f    func(*monthModel) string
	}{
		{"time compression of the run (agent timers ÷, workload ×)", func(m *monthModel) string { return fmt.Sprintf("%g", m.Group.scale) }},
		{"terminal-hours measured (virtual)", func(m *monthModel) string { return fmt.Sprintf("%.1f", r.cost.terminalHours(m.Group)) }},
		{"log lines per terminal-day in the window (× the scale applied to logs and acks)", func(m *monthModel) string {
			return fmt.Sprintf("%s (×%.3f)", count(m.LinesPerDay), m.LineScale)
		}},
		{"messages per terminal-hour, nobody reading", func(m *monthModel) string { return count(m.Steady.total().Messages) }},
		{"invocations per terminal-hour", func(m *monthModel) string { return count(m.Steady.total().Invocations) }},
		{"write units per terminal-hour (of which record writes modelled for the compressed group)", func(m *monthModel) string {
			if m.RecordExtra > 0 {
				return fmt.Sprintf("%s (%.1f)", count(m.Steady.total().WCU), m.RecordExtra)
			}
			return count(m.Steady.total().WCU)
		}},
		{"read units per terminal-hour", func(m *monthModel) string { return count(m.Steady.total().RCU) }},
		{"mean billed ms per invocation (modelled) / measured wall ms", func(m *monthModel) string {
			t := m.Steady.total()
			return fmt.Sprintf("%.1f / %.1f", t.BilledMs/max(t.Invocations, 1), r.meanWall(m.Group.name))
		}},
		{"per connection: messages / invocations / write units", func(m *monthModel) string {
			t := m.PerConnection.total()
			return fmt.Sprintf("%.1f / %.1f / %.1f", t.Messages, t.Invocations, t.WCU)
		}},
		{"per dashboard read: HTTP requests / write units / read units / messages", func(m *monthModel) string {
			t := m.PerRead.total()
			return fmt.Sprintf("%.0f / %.1f / %.1f / %.1f", t.HTTPRequests, t.WCU, t.RCU, t.Messages)
		}},
		{"live rate (a dashboard tailing): messages / write units per terminal-hour", func(m *monthModel) string {
			if len(m.Live) == 0 {
				return "–"
			}
			t := m.Live.total()
			return fmt.Sprintf("%s / %s", count(t.Messages), count(t.WCU))
		}},
	} {
		cells := []string{m.name}
		for _, g := range costGroups {
			cells = append(cells, m.f(r.models[g]))
		}
		t.row(cells...)
	}
	t.write(w)
	fmt.Fprintf(w, "The month counts %d dashboard reads a day, each making an agent's terminal live for %s (at the live rate above), and a reconnect every %.1f min (agents) or %.0f min (API Gateway's limit, per-line clients), each costing the measured per-connection traffic.\n\n",
		refReadsPerDay, fleet.LiveFor, agentReconnectEvery, gatewayMaxAge)

	fmt.Fprintf(w, "DynamoDB write units per terminal-hour, nobody reading, by item written:\n\n")
	head = []string{"item"}
	for _, g := range costGroups {
		head = append(head, r.cost.groups[g].title)
	}
	t = table{head: head}
	byItem := map[string]map[string]float64{}
	items := map[string]bool{}
	for _, g := range costGroups {
		byItem[g] = wcuByItem(r.cost, g)
		for k := range byItem[g] {
			items[k] = true
		}
	}
	var names []string
	for k := range items {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		cells := []string{k}
		for _, g := range costGroups {
			cells = append(cells, fmt.Sprintf("%.1f", byItem[g][k]))
		}
		t.row(cells...)
	}
	t.write(w)
}

// meanWall is the mean measured wall time of a group's steady invocations, ms.
func (r *results) meanWall(group string) float64 {
	run := r.cost
	var sum float64
	n := 0
	for _, inv := range run.invocations {
		if groupOf(inv.Terminal) != group || inv.At.Before(run.windowStart) || !inv.At.Before(run.windowEnd) || !steadyKind(inv.Kind) {
			continue
		}
		sum += float64(inv.Duration) / float64(time.Millisecond)
		n++
	}
	return sum / float64(max(n, 1))
}

// wcuByItem sums the steady state's write units of a group by item kind,
// per (virtual) terminal-hour.
func wcuByItem(run *costRun, group string) map[string]float64 {
	out := map[string]float64{}
	hours := run.terminalHours(run.groups[group])
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

// mb is n bytes in MB (10^6 bytes).
func mb(n int64) float64 { return float64(n) / 1e6 }

func (r *results) writeLatency(w io.Writer) {
	fmt.Fprintf(w, "### End-to-end latency\n\n")
	fmt.Fprintf(w, "From the moment a line is handed to the agent (or the per-line client) to the moment it is readable: stored by the message function (the chunk's `storedAt`) or seen by a poll of `GET /terminals/{id}/logs/?since=…`. Waits of the time-compressed groups are real for error lines (sent at once, in real time) and multiplied by the scale for the longest wait (windows were divided by it).\n\n")
	t := table{head: []string{"mode", "lines", "p50", "p95", "p99", "max"}}
	add := func(name string, ds []time.Duration, scale float64) {
		p := percentilesOf(ds)
		if p.N == 0 {
			t.row(name, "0", "–", "–", "–", "–")
			return
		}
		sc := func(d time.Duration) time.Duration { return time.Duration(float64(d) * scale) }
		t.row(name, fmt.Sprint(p.N), ms(sc(p.P50)), ms(sc(p.P95)), ms(sc(p.P99)), ms(sc(p.Max)))
	}
	if l := r.latency; l != nil {
		for _, name := range []string{groupOurs, groupEconomy} {
			add(fmt.Sprintf("%s, watched: seen by a poll every %s", r.cost.groups[name].title, ms(l.pollEvery)), l.polled[name], 1)
			add(fmt.Sprintf("%s, watched: stored", r.cost.groups[name].title), l.stored[name], 1)
		}
	}
	for _, name := range []string{groupWatched, groupEcoWatch} {
		if g, ok := r.cost.groups[name]; ok {
			add(g.title+" by a dashboard polling every 1 s (cost run): seen", r.cost.tailSeen[name], 1)
		}
	}
	for _, name := range []string{groupOurs, groupEconomy} {
		g := r.cost.groups[name]
		add(g.title+", nobody watching: error lines stored", r.cost.urgent[name], 1)
		add(fmt.Sprintf("%s, nobody watching: all lines stored (virtual time, ×%g)", g.title, g.scale), r.cost.waits[name], g.scale)
	}
	for _, name := range []string{groupSeed, groupBaseline} {
		add(r.cost.groups[name].title+": stored", r.cost.waits[name], 1)
	}
	t.write(w)
	if l := r.latency; l != nil {
		fmt.Fprintf(w, "Watched: %d terminals of each profile for %s, each tailed by a dashboard poll every %s (%d polls); isolated lines with a mean gap of 100 ms and a burst of 20–50 lines every 2–4 s; lines from one second after the first read on.\n\n",
			l.terminals, l.duration, ms(l.pollEvery), l.polls)
	}
}

func (r *results) writeStatus(w io.Writer) {
	fmt.Fprintf(w, "### Status freshness\n\n")
	fmt.Fprintf(w, "A reader polled the status of three terminals of each profile every 2 s through the window (`GET /terminals/{id}/status/`, not counted as workload). The promise is what the API states, `freshUntil − syncedAt`: twice the reported `status_interval`, or the interval plus a minute (how often the terminal record's copy, which listings show, follows), at least `STATUS_TTL`. Ages are in the group's virtual time; the time-compressed group reported a compressed interval, so the API stated the promise of that interval.\n\n")
	t := table{head: []string{"profile", "reads", "fresh", "the profile's promise", "stated by the API (virtual)", "oldest status shown", "refreshes pending"}}
	for _, name := range []string{groupOurs, groupEconomy} {
		sr := r.cost.status[name]
		if sr == nil {
			continue
		}
		t.row(r.cost.groups[name].title, fmt.Sprint(sr.reads), fmt.Sprint(sr.fresh), ms(promiseOf(r.cost.groups[name])), ms(sr.promise), ms(sr.maxAge), fmt.Sprint(sr.refreshPending))
	}
	t.write(w)
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
