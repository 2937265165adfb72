package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/edgesync/edgesync/fleet"
	"github.com/edgesync/edgesync/infra/dynamo"
	"github.com/edgesync/edgesync/protocol"
)

type bench struct {
	ctx      context.Context
	svc      *fleet.Service
	st       *dynamo.Store
	meter    *capacity
	runs     int
	ds       dataSet
	progress func(string)
	raw      *dynamodb.Client // unmetered

	results   []measured
	prices    prices
	alertRows []alertRow
}

// sample is one measured request.
type sample struct {
	d      time.Duration
	u      usage
	lines  int
	chunks int
}

// measured is one search scenario and its samples.
type measured struct {
	name, note string
	samples    []sample
	// requests and lines count a search followed to its end (or cap).
	requests, lines int
	followed        bool
	complete        bool
}

var (
	admin  = fleet.Principal{Subject: "bench-admin", Role: fleet.RoleAdmin}
	viewer = fleet.Principal{Subject: "bench-viewer", Role: fleet.RoleViewer, Groups: []string{"line-1"}}
)

// measure runs one SearchLogs and meters it.
func (b *bench) measure(p fleet.Principal, q fleet.LogSearch) (sample, fleet.SearchPage, error) {
	before := b.meter.snapshot()
	start := time.Now()
	page, err := b.svc.SearchLogs(b.ctx, p, q)
	d := time.Since(start)
	if err != nil {
		return sample{}, page, fmt.Errorf("search %+v: %w", q, err)
	}
	return sample{d: d, u: b.meter.snapshot().minus(before), lines: len(page.Lines), chunks: page.Chunks}, page, nil
}

func (b *bench) searches() error {
	now := b.ds.Now
	repeated := []struct {
		name, note string
		p          fleet.Principal
		q          fleet.LogSearch
	}{
		{"the fleet, newest 100 lines", fmt.Sprintf("admin, %d terminals, no filter", b.ds.Terminals), admin, fleet.LogSearch{Limit: 100}},
		{"one group, newest 100 lines", "viewer of line-1 (a quarter of the terminals)", viewer, fleet.LogSearch{Limit: 100}},
		{"level error, newest 100 lines", "admin; 1 % of the lines are errors", admin, fleet.LogSearch{Limit: 100, Level: "error"}},
		{"one hour 3 days back, newest 100", "admin; since and until (each terminal seeks its lines before until: an interpolation search by time)", admin,
			fleet.LogSearch{Limit: 100, Since: now.Add(-73 * time.Hour), Until: now.Add(-72 * time.Hour)}},
		{"text, newest 100 in the last hour", `admin; q="low confidence" (4 % of the lines), since 1h`, admin, fleet.LogSearch{Limit: 100, Query: "low confidence", Since: now.Add(-time.Hour)}},
	}
	for _, sc := range repeated {
		b.progress("measuring: " + sc.name)
		m := measured{name: sc.name, note: sc.note}
		for range b.runs {
			s, _, err := b.measure(sc.p, sc.q)
			if err != nil {
				return err
			}
			m.samples = append(m.samples, s)
		}
		b.results = append(b.results, m)
	}
	// Paging: pages 2 to 10 of the fleet's newest lines.
	b.progress("measuring: paging")
	_, first, err := b.measure(admin, fleet.LogSearch{Limit: 100})
	if err != nil {
		return err
	}
	m := measured{name: "the fleet, pages 2 to 10", note: "admin, following nextCursor"}
	cursor := first.NextCursor
	for range 9 {
		s, page, err := b.measure(admin, fleet.LogSearch{Limit: 100, Cursor: cursor})
		if err != nil {
			return err
		}
		m.samples = append(m.samples, s)
		cursor = page.NextCursor
	}
	b.results = append(b.results, m)
	// A rare text followed to its end: bounded per request, many requests.
	for _, sc := range []struct {
		name, note string
		q          fleet.LogSearch
		cap        int
	}{
		{"rare text in the last 24 h, to the end", fmt.Sprintf("admin; q=%q (about one line a terminal-day), since 24h, every page followed", rareText),
			fleet.LogSearch{Limit: 100, Query: rareText, Since: now.Add(-24 * time.Hour)}, 200},
		{"rare text, whole retention, first 10 requests", fmt.Sprintf("admin; q=%q without a time bound", rareText), fleet.LogSearch{Limit: 100, Query: rareText}, 10},
	} {
		b.progress("measuring: " + sc.name)
		m := measured{name: sc.name, note: sc.note, followed: true}
		q := sc.q
		for range sc.cap {
			s, page, err := b.measure(admin, q)
			if err != nil {
				return err
			}
			m.samples = append(m.samples, s)
			m.requests++
			m.lines += len(page.Lines)
			if page.NextCursor == "" {
				m.complete = true
				break
			}
			q.Cursor = page.NextCursor
		}
		b.results = append(b.results, m)
	}
	return nil
}

// prices are the read and write prices of cmd/edgesync-bench/prices.json.
type prices struct {
	Region string  `json:"region"`
	Date   string  `json:"date"`
	Read   float64 `json:"dynamoDBOnDemandPerMillionReadUnits"`
	Write  float64 `json:"dynamoDBOnDemandPerMillionWriteUnits"`
}

// alertRow is one measured piece of alert work.
type alertRow struct {
	name, note string
	u          usage
	d          time.Duration
}

func (b *bench) meterCall(name, note string, fn func() error) error {
	before := b.meter.snapshot()
	start := time.Now()
	if err := fn(); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	b.alertRows = append(b.alertRows, alertRow{name: name, note: note, u: b.meter.snapshot().minus(before), d: time.Since(start)})
	return nil
}

// resetAlerts deletes every alert rule and alert item (the ALERTRULE and
// ALERT partitions), so a reused store starts the alert measurements as a
// fresh one does.
func (b *bench) resetAlerts() error {
	for _, pk := range []string{"ALERTRULE", "ALERT"} {
		out, err := b.raw.Query(b.ctx, &dynamodb.QueryInput{
			TableName:                 aws.String(table),
			KeyConditionExpression:    aws.String("pk = :pk"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: pk}},
			ProjectionExpression:      aws.String("pk, sk"),
		})
		if err != nil {
			return fmt.Errorf("reset alerts: %w", err)
		}
		for _, it := range out.Items {
			if _, err := b.raw.DeleteItem(b.ctx, &dynamodb.DeleteItemInput{TableName: aws.String(table), Key: it}); err != nil {
				return fmt.Errorf("reset alerts: %w", err)
			}
		}
	}
	return nil
}

// alerts measures the scheduler's tick without and with rules, and the
// write path's error-rate evaluation.
func (b *bench) alerts() error {
	b.progress("measuring: alerts")
	ctx, now, n := b.ctx, b.ds.Now, b.ds.Terminals
	// A reused store holds the rules and alerts of an earlier run.
	if err := b.resetAlerts(); err != nil {
		return err
	}
	tick := func() error { return b.svc.Tick(ctx, now) }
	if err := b.meterCall("scheduler tick, no rules", "reads the rule and alert partitions", tick); err != nil {
		return err
	}
	// Every terminal online with a status history; three with a full
	// disk, five that dropped lines in the last minutes.
	for i := range n {
		id := terminalID(i)
		if err := b.st.MarkOnline(ctx, id, "conn-"+id, now.Add(-time.Hour)); err != nil {
			return err
		}
		for k := 20; k >= 0; k-- {
			disk := 40.0
			if i < 3 {
				disk = 95
			}
			doc, _ := json.Marshal(map[string]any{"cpu_percent": 20, "memory_percent": 40, "disk_percent": disk, "dropped_lines": 0})
			if err := b.st.PutStatus(ctx, id, fleet.Snapshot{Data: doc, SyncedAt: now.Add(-time.Duration(k) * 30 * time.Second)}, now.Add(24*time.Hour)); err != nil {
				return err
			}
		}
		if i >= 10 && i < 15 {
			if err := b.st.PutLogChunk(ctx, fleet.LogChunk{TerminalID: id, FirstSeq: 1, LastSeq: 1, Entries: []protocol.LogEntry{{Seq: 1, Time: now, Level: "info", Message: "x"}},
				StoredAt: now.Add(-7 * 24 * time.Hour), ExpiresAt: now.Add(-time.Hour)}, 7); err != nil {
				return err
			}
		}
	}
	for g := range groupsOfFleet {
		group := fmt.Sprintf("line-%d", g+1)
		for _, r := range []fleet.AlertRule{
			{Kind: fleet.AlertOffline, Minutes: 10}, {Kind: fleet.AlertStatus, Field: "disk_percent", Op: ">", Threshold: 90},
			{Kind: fleet.AlertDropped, Minutes: 10}, {Kind: fleet.AlertErrorRate, Minutes: 5, Threshold: 20},
		} {
			if _, err := b.svc.CreateAlertRule(ctx, admin, group, r); err != nil {
				return err
			}
		}
	}
	rules := fmt.Sprintf("4 rules in each of the 4 groups (offline, status, dropped, error rate), %d terminals online", n)
	if err := b.meterCall("scheduler tick, alerts opening", rules+"; 3 status and 5 dropped alerts open and are delivered", tick); err != nil {
		return err
	}
	if err := b.meterCall("scheduler tick, steady (the per-minute cost)", rules+"; nothing changes", tick); err != nil {
		return err
	}
	// The write path: batches of 30 lines on a connection of cam-000.
	id := terminalID(0)
	if err := b.st.PutConnection(ctx, fleet.Connection{ID: "bench-conn", TerminalID: id, ConnectedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		return err
	}
	t, err := b.st.Terminal(ctx, id)
	if err != nil {
		return err
	}
	seq := t.LastSeq
	batch := func(errs int) func() error {
		return func() error {
			var es []protocol.LogEntry
			for k := range 30 {
				seq++
				lv := "info"
				if k < errs {
					lv = "error"
				}
				es = append(es, protocol.LogEntry{Seq: seq, Time: now, Level: lv, Message: "frame processed: 3 objects detected in zone north, latency 12 ms"})
			}
			raw, _ := json.Marshal(map[string]any{"type": "logs", "entries": es})
			return b.svc.HandleMessage(ctx, "bench-conn", raw)
		}
	}
	if err := batch(0)(); err != nil { // the connection's first message also moves LastSeen
		return err
	}
	for _, w := range []struct {
		name, note string
		errs       int
	}{
		{"logs batch without error lines", "30 lines; the write path's usual case", 0},
		{"logs batch with error lines, first", "30 lines, 2 errors: reads the rules, the terminal's groups, the window's chunks", 2},
		{"logs batch with error lines, next", "30 lines, 2 errors: the process holds the rules, the groups and the window (its batches are contiguous)", 2},
	} {
		if err := b.meterCall(w.name, w.note, batch(w.errs)); err != nil {
			return err
		}
	}
	return nil
}

func (b *bench) report(w io.Writer, took time.Duration) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	ds := b.ds
	p("## Fleet-wide log search and alerts\n\n")
	p("```sh\ngo run ./cmd/edgesync-searchbench -o BENCHMARKS.md\n```\n\n")
	p("Issue 17's figures: latency and read units of `GET /logs` (`fleet.Service.SearchLogs`) over %d terminals × %d days of the\n", ds.Terminals, ds.Days)
	p("reference workload's logs, and what evaluating alerts costs. Flags: `-terminals` (100), `-days` (7), `-runs` (5), `-data DIR`\n")
	p("(keep the loaded store and reuse it: loading is most of the run), `-o FILE`.\n\n")
	p("### Method\n\n")
	p("- **Store.** dynalite (DynamoDB's wire protocol) with an on-disk LevelDB store, the table `dynamo.CreateTable` makes, the\n")
	p("  DynamoDB store (`infra/dynamo`) through an SDK client that sets `ReturnConsumedCapacity=TOTAL` on every call and sums\n")
	p("  the answers: read units are DynamoDB's (strongly consistent: 1 per 4 KB of a Query's items, rounded up per request).\n")
	p("- **Data.** %d terminals in 4 groups; for each, %d days of the reference workload (BENCHMARKS.md's method: per 30-second\n", ds.Terminals, ds.Days)
	p("  period an isolated line in each 15-second half, and in four periods out of five a burst of 20–50 lines; 86,400 lines a\n")
	p("  day of 60–100 bytes: 1 %% error, 4 %% warn, 15 %% debug, the rest info; about one line a terminal-day holds %q),\n", rareText)
	p("  stored as the idle agent sends them: one gzip chunk per 30 s (`ImportLogChunks`, the items `PutLogChunk` writes).\n")
	p("  In all %d chunks, %d lines; loaded in %s.\n", ds.Chunks, ds.Lines, ds.LoadTime)
	p("- **Searches** run through `fleet.Service.SearchLogs` in this process, %d runs each (the table shows the median and the\n", b.runs)
	p("  slowest); latency is the call's wall time against dynalite on this machine (a single-threaded Node.js process; DynamoDB\n")
	p("  answers a Query in a few ms, fanned out 16 at a time). \"Chunks\" are the stored chunks the request read (budget 1500, and a seek's probes).\n")
	p("- **Alerts.** The scheduler's tick (`Service.Tick`) before any rule, when alerts open, and steady; and the message\n")
	p("  function's handling of a logs batch (`HandleMessage`) with and without error lines, under an error-rate rule.\n\n")
	p("### Results of %s\n\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	p("On %s. The run took %s.\n\n", machine(), took.Truncate(time.Second))
	p("| search | what | lines | chunks read | read units (median) | latency median | slowest |\n|---|---|---:|---:|---:|---:|---:|\n")
	for _, m := range b.results {
		if m.followed {
			continue
		}
		med := median(m.samples)
		p("| %s | %s | %d | %d | %.1f | %s | %s |\n", m.name, m.note, med.lines, med.chunks, med.u.rcu, ms(med.d), ms(slowest(m.samples)))
	}
	p("\nFollowing a rare text's cursor (each request within the budget; a page may be empty and still have a cursor):\n\n")
	p("| search | what | requests | lines found | read units per request (median / max) | latency per request (median / max) |\n|---|---|---:|---:|---:|---:|\n")
	for _, m := range b.results {
		if !m.followed {
			continue
		}
		end := ""
		if !m.complete {
			end = " (stopped)"
		}
		rcus := make([]float64, len(m.samples))
		for i, s := range m.samples {
			rcus[i] = s.u.rcu
		}
		slices.Sort(rcus)
		p("| %s | %s | %d%s | %d | %.1f / %.1f | %s / %s |\n", m.name, m.note, m.requests, end, m.lines, rcus[len(rcus)/2], rcus[len(rcus)-1], ms(median(m.samples).d), ms(slowest(m.samples)))
	}
	p("\n| alert work | what | read units | write units | calls (reads / writes) | time |\n|---|---|---:|---:|---:|---:|\n")
	for _, r := range b.alertRows {
		p("| %s | %s | %.1f | %.1f | %d / %d | %s |\n", r.name, r.note, r.u.rcu, r.u.wcu, r.u.reads, r.u.writes, ms(r.d))
	}
	p("\n")
	if b.prices.Read > 0 {
		for _, r := range b.alertRows {
			if strings.HasPrefix(r.name, "scheduler tick, steady") {
				perMonth := r.u.rcu * 30 * 24 * 60 / float64(ds.Terminals) * b.prices.Read / 1e6
				p("At %s's prices (%s, `cmd/edgesync-bench/prices.json`: $%.3f per million read units), the steady tick every minute costs\n", b.prices.Region, b.prices.Date, b.prices.Read)
				p("$%.4f per terminal-month; a search of the fleet's newest 100 lines $%.6f.\n\n", perMonth, median(b.results[0].samples).u.rcu*b.prices.Read/1e6)
			}
		}
	}
	p("dynalite reports no read units for a Query that finds nothing (\"no rules\"); DynamoDB bills such a request half a\n")
	p("read unit or one.\n\n")
	p("Reading the results: a search costs its terminal records (one read unit each, batch-read) and each terminal's newest\n")
	p("chunks (the store's first Query page is 2 chunks, about one read unit); a page of 100 lines reads about one Query per\n")
	p("terminal; deeper pages, filters and time bounds read more chunks but never more than 1500 per request. No index is\n")
	p("written: search adds nothing to the write path (issue 14's cost work). The steady tick is the alerts' standing cost\n")
	p("per minute; a logs batch pays nothing for alerts unless it holds error lines and its group has an error-rate rule.\n")
}

func median(ss []sample) sample {
	c := slices.Clone(ss)
	slices.SortFunc(c, func(a, b sample) int { return int(a.d - b.d) })
	return c[len(c)/2]
}

func slowest(ss []sample) time.Duration {
	var m time.Duration
	for _, s := range ss {
		m = max(m, s.d)
	}
	return m
}

func ms(d time.Duration) string {
	if d >= 10*time.Second {
		return d.Truncate(100 * time.Millisecond).String()
	}
	return fmt.Sprintf("%d ms", d.Milliseconds())
}
