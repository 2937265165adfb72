package capacity

import (
	"fmt"
	"slices"
	"strings"
)

// Load is what a fleet does per second at the reference workload.
type Load struct {
	Terminals int
	// MessagesIn reach the $default route; Callbacks are the messages the
	// functions post to terminals (PostToConnection), one per outbound
	// message; Connects are new connections ($connect).
	MessagesIn, Callbacks, Connects float64
	// HTTPRequests of the dashboards.
	HTTPRequests float64
	// Invocations of all functions; Concurrency is invocations × duration.
	Invocations, Concurrency float64
	// WCU and RCU of the table (base table and indexes).
	WCU, RCU float64
	// TerminalWCU is the write units per second on one terminal's
	// partition while it is live (its busiest).
	TerminalWCU float64
	// IndexWrites are writes per second to each index's single partition,
	// by index name.
	IndexWrites map[string]float64
}

// Requests is what counts against API Gateway's account throttle:
// messages in, callbacks, new connections and HTTP API requests.
func (l Load) Requests() float64 { return l.MessagesIn + l.Callbacks + l.Connects + l.HTTPRequests }

// Compute returns the load of n terminals of profile p on stack s.
func Compute(n int, p Profile, s Stack) Load {
	f := float64(n)
	// Live time per terminal: the reads of a day, each live for a while.
	live := p.ReadsPerDay * p.LiveMinutesPerRead / (24 * 60)
	perHour := func(idle, liveRate float64) float64 { return idle + live*(liveRate-idle) }
	connects := f / s.MeanConnectionAge().Seconds()
	reads := f * p.ReadsPerDay / 86400
	l := Load{Terminals: n, Connects: connects, IndexWrites: map[string]float64{}}
	l.MessagesIn = f*perHour(p.Idle.MessagesIn, p.Live.MessagesIn)/3600 + connects*p.PerConnection.MessagesIn + reads*p.PerRead.MessagesIn
	l.Callbacks = f*perHour(p.Idle.MessagesOut, p.Live.MessagesOut)/3600 + connects*p.PerConnection.MessagesOut + reads*p.PerRead.MessagesOut
	l.HTTPRequests = reads * p.PerRead.HTTPRequests
	l.Invocations = f*perHour(p.Idle.Invocations, p.Live.Invocations)/3600 + connects*p.PerConnection.Invocations + reads*p.PerRead.Invocations
	l.Concurrency = l.Invocations * p.InvocationMS / 1000
	l.WCU = f*perHour(p.Idle.WCU, p.Live.WCU)/3600 + connects*p.PerConnection.WCU + reads*p.PerRead.WCU
	l.RCU = f*perHour(p.Idle.RCU, p.Live.RCU)/3600 + connects*p.PerConnection.RCU + reads*p.PerRead.RCU + l.MessagesIn*p.ConnectionReadRCU
	l.TerminalWCU = max(p.Idle.WCU, p.Live.WCU) / 3600
	for _, ix := range s.Indexes {
		// Terminal records enter the terminals index when created and
		// never change its keys; audit records are written by operators'
		// sensitive operations and denied requests, none of which the
		// reference workload makes (reads are not audited, connections
		// are not audited: fleet/connect.go). See SCALE.md.
		l.IndexWrites[ix.Name] = 0
	}
	return l
}

// StormLoad is the load while a whole fleet reconnects: new connections
// at the account's rate (or the whole fleet in a second, if smaller), each
// with its hello, pulls and answers, on top of the steady load of the
// whole fleet (the terminals already back).
func StormLoad(n int, p Profile, s Stack, q Quotas) Load {
	l := Compute(n, p, s)
	rate := min(float64(n), q.Get(QuotaNewConnections).Value)
	l.Connects += rate
	l.MessagesIn += rate * p.PerConnection.MessagesIn
	l.Callbacks += rate * p.PerConnection.MessagesOut
	l.Invocations += rate * p.PerConnection.Invocations
	l.Concurrency = l.Invocations * p.InvocationMS / 1000
	l.WCU += rate * p.PerConnection.WCU
	l.RCU += rate * (p.PerConnection.RCU + p.PerConnection.MessagesIn*p.ConnectionReadRCU)
	return l
}

// Row is one resource: the load on it, its limit and the fraction used.
type Row struct {
	Resource string
	Load     float64
	Unit     string
	// Limit is the quota (or the template's setting) the load is held
	// against.
	Limit Quota
	// Fraction is Load / Limit.Value.
	Fraction float64
}

// Template limit IDs: settings of template.yaml, not AWS quotas.
const (
	LimitRouteRate     = "template.route-rate"
	LimitHTTPRouteRate = "template.http-route-rate"
)

// Rows holds l against the quotas q and the stack's own limits s.
// warmWCU is the table's write throughput without throttling (an on-demand
// table serves twice its previous peak; a new one the quota's 4,000); the
// template's warm throughput (s.WarmWriteUnits), when set, raises it.
func Rows(l Load, s Stack, q Quotas, warmWCU float64) []Row {
	route := Quota{ID: LimitRouteRate, Name: "stage's default route throttling (template.yaml WebSocketThrottlingRateLimit)", Value: s.RouteRate, Unit: "requests/s",
		Source: "template.yaml", Remedy: "raise WebSocketThrottlingRateLimit and WebSocketThrottlingBurstLimit (at most the account throttle, which caps them anyway)"}
	httpRoute := Quota{ID: LimitHTTPRouteRate, Name: "HTTP API's default route throttling (template.yaml HttpThrottlingRateLimit)", Value: s.HTTPRate, Unit: "requests/s",
		Source: "template.yaml", Remedy: "raise HttpThrottlingRateLimit and HttpThrottlingBurstLimit with the number of operators (it bounds what a flooding caller can make the query function do)"}
	warm := q.Get(QuotaNewTableWCU)
	warm.Value = max(warm.Value, warmWCU, s.WarmWriteUnits)
	warm.Name = "the on-demand table's warm write throughput (4,000 new, then twice the previous peak; template.yaml TableWarmWriteUnits when set)"
	var rows []Row
	add := func(res string, load float64, unit string, limit Quota) {
		rows = append(rows, Row{Resource: res, Load: load, Unit: unit, Limit: limit, Fraction: load / limit.Value})
	}
	add("WebSocket messages in ($default route)", l.MessagesIn, "/s", route)
	add("API Gateway requests: messages in, callbacks out, $connect, HTTP API", l.Requests(), "/s", q.Get(QuotaAccountThrottle))
	add("management-API callbacks (PostToConnection), part of the above", l.Callbacks, "/s", q.Get(QuotaAccountThrottle))
	add("new connections ($connect)", l.Connects, "/s", q.Get(QuotaNewConnections))
	add("Lambda concurrency (invocations/s × duration)", l.Concurrency, "", q.Get(QuotaLambdaConcurrent))
	add("DynamoDB write units, table", l.WCU, "/s", q.Get(QuotaTableWCU))
	add("DynamoDB write units, table, against its warm throughput", l.WCU, "/s", warm)
	add("DynamoDB read units, table", l.RCU, "/s", q.Get(QuotaTableRCU))
	add("DynamoDB write units, one terminal's partition (live)", l.TerminalWCU, "/s", q.Get(QuotaPartitionWCU))
	names := make([]string, 0, len(l.IndexWrites))
	for name := range l.IndexWrites {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		key := ""
		for _, ix := range s.Indexes {
			if ix.Name == name {
				key = ix.HashKey
			}
		}
		add(fmt.Sprintf("DynamoDB writes, %q index (one partition: %s has one value)", name, key), l.IndexWrites[name], "/s", q.Get(QuotaPartitionWCU))
	}
	add("HTTP API requests (dashboard reads)", l.HTTPRequests, "/s", httpRoute)
	return rows
}

// First returns the row with the highest fraction: the first quota the
// load hits as the fleet grows (hit already when its fraction is 1 or more).
func First(rows []Row) Row {
	best := rows[0]
	for _, r := range rows[1:] {
		if r.Fraction > best.Fraction {
			best = r
		}
	}
	return best
}

// AWSQuotas returns the rows held against AWS's quotas, leaving out the
// template's own settings.
func AWSQuotas(rows []Row) []Row {
	var out []Row
	for _, r := range rows {
		if !strings.HasPrefix(r.Limit.ID, "template.") {
			out = append(out, r)
		}
	}
	return out
}

// Fits are the stack's settings that must stay within fixed quotas.
type Fit struct {
	What       string
	Setting    string
	Limit      Quota
	Within     bool
	Comparison string
}

// Fits checks the stack's settings against the fixed quotas: the agent's
// batches within a frame, its heartbeat within the idle timeout, its
// connection age within the connection limit, the functions' timeout
// within the integration timeout.
func Fits(s Stack, q Quotas) []Fit {
	frame, idle, maxAge, integ := q.Get(QuotaFrameBytes), q.Get(QuotaIdleTimeout), q.Get(QuotaConnectionMax), q.Get(QuotaIntegrationLimit)
	return []Fit{
		{"a logs message (agent batch_max_bytes)", fmt.Sprintf("%d bytes", s.BatchMaxBytes), frame, float64(s.BatchMaxBytes) <= frame.Value, "≤"},
		{"the agent's longest silence (heartbeat_interval)", s.HeartbeatInterval.String(), idle, s.HeartbeatInterval.Seconds() < idle.Value, "<"},
		{"a connection's age (agent max_connection_age)", s.MaxConnectionAge.String(), maxAge, s.MaxConnectionAge.Seconds() < maxAge.Value, "<"},
		{"a function's run (template FunctionTimeout)", s.FunctionTimeout.String(), integ, s.FunctionTimeout.Seconds() <= integ.Value, "≤"},
	}
}

// FleetPage is the load of one open fleet page that reads terminals
// records every refreshSeconds with requests HTTP requests: per request one
// invocation and a Query of the terminals index (KEYS_ONLY items of about
// indexItemBytes, eventually consistent: half a read unit per 4 KB), and
// for each terminal read a strongly consistent BatchGetItem of its record,
// config and desired config (itemsPerTerminal items, one read unit each).
func FleetPage(terminals, requests int, refreshSeconds, itemsPerTerminal, indexItemBytes float64) Load {
	l := Load{Terminals: terminals, IndexWrites: map[string]float64{}}
	l.HTTPRequests = float64(requests) / refreshSeconds
	l.Invocations = l.HTTPRequests
	indexRCU := float64(terminals) * indexItemBytes / 4096 / 2
	l.RCU = (float64(terminals)*itemsPerTerminal + indexRCU) / refreshSeconds
	return l
}
