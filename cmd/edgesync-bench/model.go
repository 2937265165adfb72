package main

import (
	"slices"
	"time"

	"github.com/edgesync/edgesync/fleet"
)

// usageVec is what some traffic consumed, in the units AWS bills.
type usageVec struct {
	Messages     float64 // WebSocket messages, in and out
	MessagesOut  float64 // of which sent to terminals
	MsgUnits     float64 // the same in 32 KB units (billed)
	Invocations  float64 // Lambda requests
	GBSeconds    float64 // Lambda billed duration × memory
	BilledMs     float64
	WCU, RCU     float64 // DynamoDB write and read units
	HTTPRequests float64 // HTTP API requests
	ConnMinutes  float64 // WebSocket connection minutes
}

func (v usageVec) add(o usageVec) usageVec {
	return usageVec{
		Messages: v.Messages + o.Messages, MessagesOut: v.MessagesOut + o.MessagesOut, MsgUnits: v.MsgUnits + o.MsgUnits, Invocations: v.Invocations + o.Invocations,
		GBSeconds: v.GBSeconds + o.GBSeconds, BilledMs: v.BilledMs + o.BilledMs, WCU: v.WCU + o.WCU, RCU: v.RCU + o.RCU,
		HTTPRequests: v.HTTPRequests + o.HTTPRequests, ConnMinutes: v.ConnMinutes + o.ConnMinutes,
	}
}

func (v usageVec) scale(f float64) usageVec {
	return usageVec{
		Messages: v.Messages * f, MessagesOut: v.MessagesOut * f, MsgUnits: v.MsgUnits * f, Invocations: v.Invocations * f, GBSeconds: v.GBSeconds * f,
		BilledMs: v.BilledMs * f, WCU: v.WCU * f, RCU: v.RCU * f, HTTPRequests: v.HTTPRequests * f, ConnMinutes: v.ConnMinutes * f,
	}
}

// kindUsage is usage by kind of traffic.
type kindUsage map[string]usageVec

func (k kindUsage) add(o kindUsage) kindUsage {
	out := kindUsage{}
	for kind, v := range k {
		out[kind] = v
	}
	for kind, v := range o {
		out[kind] = out[kind].add(v)
	}
	return out
}

func (k kindUsage) scale(f float64) kindUsage {
	out := kindUsage{}
	for kind, v := range k {
		out[kind] = v.scale(f)
	}
	return out
}

func (k kindUsage) total() usageVec {
	var t usageVec
	for _, v := range k {
		t = t.add(v)
	}
	return t
}

// collect sums the invocations and pushes kept by the filters, by kind.
// Lambda's billed duration is modelled (see modelledMs).
func collect(invs []invocation, pushes []push, memoryMB int, keepInv func(invocation) bool, keepPush func(push) bool) kindUsage {
	out := kindUsage{}
	for _, inv := range invs {
		if !keepInv(inv) {
			continue
		}
		ms := modelledMs(inv)
		v := usageVec{Invocations: 1, BilledMs: ms, GBSeconds: ms / 1000 * float64(memoryMB) / 1024, WCU: inv.WCU, RCU: inv.RCU}
		switch {
		case inv.Function == "QueryFunction":
			v.HTTPRequests = 1
		case inv.UnitsIn > 0:
			v.Messages, v.MsgUnits = 1, float64(inv.UnitsIn)
		}
		out[inv.Kind] = out[inv.Kind].add(v)
	}
	for _, p := range pushes {
		if keepPush(p) {
			out[p.Kind] = out[p.Kind].add(usageVec{Messages: 1, MessagesOut: 1, MsgUnits: float64(p.Units)})
		}
	}
	return out
}

// dynamoLatency is the modelled time of one DynamoDB request from Lambda:
// AWS gives the average of atomic operations (GetItem, PutItem) in single
// digits of milliseconds; 5 ms is the middle of that range. Dynalite here
// is a single-threaded Node.js process sharing two CPUs with the whole
// run, many times slower.
const dynamoLatency = 5 * time.Millisecond

// modelledMs is an invocation's billed duration with DynamoDB at
// dynamoLatency per request: the measured wall time less the time spent
// waiting on dynalite, plus dynamoLatency for each request, rounded up to
// the millisecond.
func modelledMs(inv invocation) float64 {
	d := max(inv.Duration-inv.DBTime, 0) + time.Duration(inv.Writes+inv.Reads)*dynamoLatency
	return billedMs(d)
}

// serviceCost is a cost in dollars by service.
type serviceCost struct {
	WSMessages, WSConnMinutes, HTTPRequests, LambdaRequests, LambdaDuration, DynamoWrites, DynamoReads float64
}

func price(v usageVec, p Prices) serviceCost {
	return serviceCost{
		WSMessages:     v.MsgUnits * p.WebSocketPerMillionMsgs / 1e6,
		WSConnMinutes:  v.ConnMinutes * p.WebSocketPerMillionMinute / 1e6,
		HTTPRequests:   v.HTTPRequests * p.HTTPPerMillionRequests / 1e6,
		LambdaRequests: v.Invocations * p.LambdaPerMillionRequests / 1e6,
		LambdaDuration: v.GBSeconds * p.LambdaPerGBSecond,
		DynamoWrites:   v.WCU * p.DynamoPerMillionWrites / 1e6,
		DynamoReads:    v.RCU * p.DynamoPerMillionReads / 1e6,
	}
}

func (c serviceCost) total() float64 {
	return c.WSMessages + c.WSConnMinutes + c.HTTPRequests + c.LambdaRequests + c.LambdaDuration + c.DynamoWrites + c.DynamoReads
}

// Reference month, per terminal.
const (
	monthHours = refDaysPerMonth * 24
	// agentReconnectEvery is the Go agent's mean connection age: it
	// reconnects at max_connection_age (110 min) spread over its last tenth.
	agentReconnectEvery = 104.5 // minutes
	// gatewayMaxAge is API Gateway's 2-hour limit: the per-line clients
	// reconnect when the gateway closes them.
	gatewayMaxAge = 120.0 // minutes
)

// monthModel is a group's modelled terminal-month, by kind.
type monthModel struct {
	Group groupSpec
	// Per terminal-hour in the steady state (virtual hours of the group's
	// scale), per connection, per read.
	Steady, PerConnection, PerRead kindUsage
	// Live is the steady rate of the group standing for live minutes;
	// LiveHours how many hours of a month dashboard reads make live.
	Live      kindUsage
	LiveHours float64
	Month     kindUsage
	// RecordExtra is the record writes per terminal-hour modelRecord added.
	RecordExtra float64
	// LinesPerDay is the measured line rate in the window, per terminal
	// (virtual days); LineScale = the group's target / LinesPerDay scaled
	// the steady logs and acks.
	LinesPerDay, LineScale float64
}

const kindConnection = "connection minutes"

// steadyKind: the kinds of traffic a connected terminal makes on its own.
func steadyKind(kind string) bool {
	return kind != kindConnect && kind != kindReads && kind != kindTail
}

// terminalHours is what the run's window counts for group g: its terminals
// times the window, in virtual hours.
func (run *costRun) terminalHours(g groupSpec) float64 {
	return run.windowEnd.Sub(run.windowStart).Hours() * g.scale * float64(g.terminals)
}

// modelGroup builds a group's rates from the cost run: the steady state of
// the window per virtual terminal-hour, the connection overhead per
// connection, and the dashboard reads per read.
func modelGroup(run *costRun, name string, memoryMB int) monthModel {
	g := run.groups[name]
	inGroup := func(t string) bool { return groupOf(t) == name }
	inWindow := func(t time.Time) bool { return !t.Before(run.windowStart) && t.Before(run.windowEnd) }
	hours := run.terminalHours(g)
	mm := monthModel{Group: g}
	mm.Steady = collect(run.invocations, run.pushes, memoryMB,
		func(i invocation) bool { return inGroup(i.Terminal) && inWindow(i.At) && steadyKind(i.Kind) },
		func(p push) bool { return inGroup(p.Terminal) && inWindow(p.At) && steadyKind(p.Kind) }).scale(1 / hours)
	mm.LinesPerDay = float64(run.linesInWindow[name]) / hours * 24
	// A short window's lines are within a few percent of the group's rate;
	// scale what lines drive to it. Exact for the per-line clients (a
	// message per line); for the agents, whose messages follow their
	// timers and urgent lines, it overstates by as much as the rate was low.
	if mm.LinesPerDay > 0 {
		mm.LineScale = refLinesPerDay * g.volume / mm.LinesPerDay
		for _, kind := range []string{kindLogs, kindAcks} {
			if v, ok := mm.Steady[kind]; ok {
				mm.Steady[kind] = v.scale(mm.LineScale)
			}
		}
	}
	if g.kind == clientAgent {
		mm.modelAcks(g)
		mm.modelRecord(run, g, hours)
	}
	if conns := run.connections[name]; conns > 0 {
		setup := func(kind string, at time.Time) bool {
			return kind == kindConnect || (kind == kindCommands && at.Before(run.windowStart))
		}
		mm.PerConnection = collect(run.invocations, run.pushes, memoryMB,
			func(i invocation) bool { return inGroup(i.Terminal) && setup(i.Kind, i.At) },
			func(p push) bool { return inGroup(p.Terminal) && setup(p.Kind, p.At) }).scale(1 / float64(conns))
	}
	if run.readsDone > 0 {
		read := func(kind string, at time.Time) bool {
			return !at.Before(run.readStart) && (kind == kindReads || kind == kindCommands)
		}
		mm.PerRead = collect(run.invocations, run.pushes, memoryMB,
			func(i invocation) bool { return inGroup(i.Terminal) && read(i.Kind, i.At) },
			func(p push) bool { return inGroup(p.Terminal) && read(p.Kind, p.At) }).scale(1 / float64(run.readsDone))
	}
	return mm
}

// ackReadUnits is what one ack asked for reads: the ranges of the
// unconfirmed chunks (up to 32 of a KB or a few), strongly consistent.
const ackReadUnits = 4

// modelAcks makes the steady state's acks at least what the agent's rule
// asks for: one every ack_interval or every 32 batches, whichever comes
// first (agent.Config.AckInterval, ackEveryBatches). A window of the run
// is shorter than the ack interval, so it may hold none; each costs a
// message to the terminal and the reads of the chunks it confirms.
func (mm *monthModel) modelAcks(g groupSpec) {
	cfg, err := agentConfig(groupSpec{profile: g.profile, window: g.window, scale: 1})
	if err != nil {
		return
	}
	batches := mm.Steady[kindLogs].Invocations
	perHour := max(3600/float64(cfg.AckInterval), batches/32)
	if have := mm.Steady[kindAcks].MessagesOut; have < perHour {
		mm.Steady[kindAcks] = mm.Steady[kindAcks].add(usageVec{Messages: perHour - have, MessagesOut: perHour - have, MsgUnits: perHour - have, RCU: (perHour - have) * ackReadUnits})
	}
}

// modelRecord corrects a time-compressed group's terminal record writes.
// The server's rule runs on real time: a report goes to the record about
// once a minute from a terminal reporting more often, every time from one
// reporting every minute or less often. A group compressed by k reports k
// times as often, so the rule skips reports its real profile records:
// when the uncompressed interval is a minute or more, every report is
// counted as a record write (one write unit: the record is under 1 KB).
func (mm *monthModel) modelRecord(run *costRun, g groupSpec, hours float64) {
	if g.scale <= 1 {
		return
	}
	cfg, err := agentConfig(groupSpec{profile: g.profile, window: g.window, scale: 1})
	if err != nil || cfg.StatusInterval.Duration() < fleet.StatusRecordEvery {
		return
	}
	var reports, recordWCU float64
	for _, inv := range run.invocations {
		if groupOf(inv.Terminal) != g.name || inv.At.Before(run.windowStart) || !inv.At.Before(run.windowEnd) || !steadyKind(inv.Kind) {
			continue
		}
		if inv.Report {
			reports++
		}
		recordWCU += inv.WCUByItem["terminal record"]
	}
	if extra := (reports - recordWCU) / hours; extra > 0 {
		v := mm.Steady[kindLogs]
		v.WCU += extra
		mm.Steady[kindLogs] = v
		mm.RecordExtra = extra
	}
}

// finish adds up the month of a group: the steady state for the hours
// nobody reads, the live group's rate for the minutes dashboard reads make
// live (none for the per-line clients, which have no live mode), a
// reconnect every agentReconnectEvery (agents) or gatewayMaxAge (per-line
// clients) costing the measured per-connection traffic, refReadsPerDay
// dashboard reads, and the connection minutes of a terminal online 24/7.
// perRead, when set, stands for groups whose reads were not measured (the
// chart's points: the read of a terminal page costs what it costs for the
// main group of the same profile).
func (mm *monthModel) finish(live *monthModel, liveFor time.Duration, perRead kindUsage) {
	reconnectEvery := agentReconnectEvery
	if mm.Group.kind != clientAgent {
		reconnectEvery = gatewayMaxAge
	}
	if len(mm.PerRead) == 0 {
		mm.PerRead = perRead
	}
	connections := float64(refDaysPerMonth*24*60) / reconnectEvery
	idleHours := float64(monthHours)
	mm.Live = kindUsage{}
	if live != nil {
		mm.LiveHours = refReadsPerDay * refDaysPerMonth * liveFor.Hours()
		idleHours -= mm.LiveHours
		for kind, v := range live.Steady {
			if kind != kindCommands {
				mm.Live[kind] = v
			}
		}
	}
	month := mm.Steady.scale(idleHours).
		add(mm.Live.scale(mm.LiveHours)).
		add(mm.PerConnection.scale(connections)).
		add(mm.PerRead.scale(refReadsPerDay * refDaysPerMonth))
	month[kindConnection] = usageVec{ConnMinutes: refDaysPerMonth * 24 * 60}
	mm.Month = month
}

// kindsOrder is the order of the by-type tables.
var kindsOrder = []string{kindLogs, kindAcks, kindStatus, kindHeartbeat, kindCommands, kindConnect, kindReads, kindConnection, kindErrors, kindOther}

func sortedKinds(ks ...kindUsage) []string {
	seen := map[string]bool{}
	for _, k := range ks {
		for kind := range k {
			seen[kind] = true
		}
	}
	var out []string
	for _, kind := range kindsOrder {
		if seen[kind] {
			out = append(out, kind)
			delete(seen, kind)
		}
	}
	var rest []string
	for kind := range seen {
		rest = append(rest, kind)
	}
	slices.Sort(rest)
	return append(out, rest...)
}
