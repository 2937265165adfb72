package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgesync/edgesync/agent"
	"github.com/edgesync/edgesync/devstack"
	"github.com/edgesync/edgesync/fleet"
	"github.com/edgesync/edgesync/protocol"
)

// Terminal groups of the cost run, by id prefix.
const (
	groupOurs     = "ours"  // Go agents with the project's protocol, nobody reading
	groupWatched  = "watch" // Go agents whose logs a dashboard tails (live)
	groupBaseline = "base"  // literal per-line clients
)

func groupOf(terminal string) string {
	g, _, _ := strings.Cut(terminal, "-")
	return g
}

// costRun is what the cost phase measured.
type costRun struct {
	terminals, watched int
	windowStart        time.Time
	windowEnd          time.Time
	linesInWindow      map[string]int64 // by group
	readsDone          int              // dashboard reads per group (ours, base)
	readStart          time.Time
	connections        map[string]int // $connect invocations by group
	invocations        []invocation
	pushes             []push
	agentStats         map[string]agentTotals
	baselineAcked      uint64
	baselineRejected   int64
	tailPolls          atomic.Int64
	stored             map[string][]time.Duration // produced → stored, by group (lines in the window)
	tailSeen           []time.Duration            // produced → seen by the 1 s dashboard tail (watched group)
	gateway            gatewayDelta
}

// agentTotals sums the agents' counters of a group.
type agentTotals struct {
	NextSeq, LastAck, Spooled, Dropped, DroppedInvalid uint64
}

type gatewayDelta struct {
	MessagesIn, MessagesOut, UnitsIn, UnitsOut, ConnectionMinutes int64
}

// producer writes a terminal's scheduled lines.
type producer struct {
	id     string
	write  func(line) // one line
	lines  atomic.Int64
	window *[2]time.Time
	inWin  atomic.Int64
}

func (p *producer) run(ctx context.Context, evs []event, start time.Time) {
	n := uint64(0)
	for _, ev := range evs {
		t := time.NewTimer(time.Until(start.Add(ev.at)))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		now := time.Now()
		for range ev.lines {
			n++
			p.write(lineFor(p.id, n))
		}
		p.lines.Add(int64(ev.lines))
		if w := p.window; !w[0].IsZero() && !now.Before(w[0]) && now.Before(w[1]) {
			p.inWin.Add(int64(ev.lines))
		}
	}
}

type costOptions struct {
	terminals int
	watched   int
	window    time.Duration
	warmup    time.Duration
	tailEvery time.Duration
	dataDir   string
	log       *slog.Logger
}

// runCost runs the three groups side by side on one stack: opts.terminals
// Go agents nobody watches, as many per-line clients with the same line
// schedules, and opts.watched Go agents tailed by a dashboard; it then
// makes dashboard reads and closes every connection.
func runCost(ctx context.Context, st *devstack.Stack, m *meter, o costOptions) (*costRun, error) {
	run := &costRun{terminals: o.terminals, watched: o.watched, linesInWindow: map[string]int64{}, connections: map[string]int{},
		agentStats: map[string]agentTotals{}, stored: map[string][]time.Duration{}}
	admin := st.Admin()
	register := func(id string) (string, error) {
		token, err := admin.CreateTerminal(ctx, fleet.System("bench"), id, "", []string{"bench"})
		if err != nil {
			return "", fmt.Errorf("register %s: %w", id, err)
		}
		return token, nil
	}
	type started struct {
		id    string
		a     *agent.Agent
		pl    *perLine
		stop  func()
		seed  uint64
		prod  *producer
		group string
	}
	var terms []*started
	var window [2]time.Time
	// Terminals live until the end; producers and pollers until the window ends.
	termCtx, cancelTerms := context.WithCancel(ctx)
	defer cancelTerms()
	runCtx, cancelRun := context.WithCancel(ctx)
	defer cancelRun()
	var wg sync.WaitGroup

	startAgent := func(id string, seed uint64) error {
		token, err := register(id)
		if err != nil {
			return err
		}
		cfg := agent.DefaultConfig()
		cfg.TerminalID, cfg.ServerURL, cfg.Token = id, st.WSURL, token
		cfg.SpoolDir = filepath.Join(o.dataDir, "spool", id)
		cfg.ReconnectAttempts = 0
		a, err := agent.New(cfg, agent.WithLogger(o.log), agent.WithAgentVersion("bench"))
		if err != nil {
			return fmt.Errorf("agent %s: %w", id, err)
		}
		actx, acancel := context.WithCancel(termCtx)
		done := make(chan struct{})
		go func() { defer close(done); _ = a.Run(actx) }()
		s := &started{id: id, a: a, seed: seed, group: groupOf(id)}
		s.stop = func() {
			sctx, scancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer scancel()
			_ = a.Shutdown(sctx)
			acancel()
			<-done
		}
		s.prod = &producer{id: id, window: &window, write: func(l line) { a.Log(l.level, l.msg, l.source) }}
		terms = append(terms, s)
		return nil
	}
	startPerLine := func(id string, seed uint64) error {
		token, err := register(id)
		if err != nil {
			return err
		}
		c, err := dialPerLine(termCtx, st.WSURL, id, token)
		if err != nil {
			return err
		}
		go c.run(termCtx, refStatusEvery, 30*time.Second)
		s := &started{id: id, pl: c, seed: seed, group: groupBaseline, stop: c.close}
		s.prod = &producer{id: id, window: &window, write: func(l line) { _ = c.logLine(termCtx, l) }}
		terms = append(terms, s)
		return nil
	}
	for i := 1; i <= o.terminals; i++ {
		if err := startAgent(fmt.Sprintf("%s-%d", groupOurs, i), uint64(i)); err != nil {
			return nil, err
		}
		if err := startPerLine(fmt.Sprintf("%s-%d", groupBaseline, i), uint64(i)); err != nil {
			return nil, err
		}
	}
	for i := 1; i <= o.watched; i++ {
		if err := startAgent(fmt.Sprintf("%s-%d", groupWatched, i), uint64(1000+i)); err != nil {
			return nil, err
		}
	}
	defer func() {
		for _, t := range terms {
			if t.a != nil {
				t.a.Close()
			}
		}
	}()

	gw0 := st.Stats()
	start := time.Now()
	total := o.warmup + o.window
	window[0], window[1] = start.Add(o.warmup), start.Add(total)
	run.windowStart, run.windowEnd = window[0], window[1]
	for _, t := range terms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Each terminal starts its day at a random point of a burst period.
			// (the same for the baseline and edgesync terminal of a seed).
			offset := time.Duration(rand.New(rand.NewPCG(t.seed, 1)).Int64N(int64(burstPeriod)))
			evs := schedule(t.seed, total+offset)
			var shifted []event
			for _, ev := range evs {
				if ev.at >= offset {
					shifted = append(shifted, event{at: ev.at - offset, lines: ev.lines})
				}
			}
			t.prod.run(runCtx, shifted, start)
		}()
	}
	// The dashboard tails the watched terminals' logs.
	var tailMu sync.Mutex
	client := &http.Client{Timeout: 10 * time.Second}
	for _, t := range terms {
		if t.group != groupWatched {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			tailLogs(runCtx, client, st, t.id, o.tailEvery, window[0], window[1], func(seen []time.Duration) {
				tailMu.Lock()
				run.tailSeen = append(run.tailSeen, seen...)
				tailMu.Unlock()
			}, &run.tailPolls)
		}()
	}
	o.log.Info("cost run: terminals running", "ours", o.terminals, "baseline", o.terminals, "watched", o.watched, "window", o.window)
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(time.Until(window[1])):
	}
	cancelRun()
	wg.Wait()

	// Dashboard reads, after the window so that the live period they start
	// does not count as idle time: the terminal page (terminal, status,
	// newest 100 lines) of ten terminals of each group.
	run.readStart = time.Now()
	reads := min(10, o.terminals)
	for i := 1; i <= reads; i++ {
		for _, g := range []string{groupOurs, groupBaseline} {
			id := fmt.Sprintf("%s-%d", g, i)
			for _, path := range []string{"", "/status/", "/logs/?count=100"} {
				if _, err := getJSON(ctx, client, st, "/terminals/"+id+path, "read"); err != nil {
					return nil, fmt.Errorf("dashboard read of %s: %w", id, err)
				}
			}
		}
	}
	run.readsDone = reads
	time.Sleep(300 * time.Millisecond) // the live hints reach the terminals

	for _, t := range terms {
		if t.a != nil {
			st := t.a.Stats()
			tot := run.agentStats[t.group]
			tot.NextSeq += st.NextSeq - 1
			tot.LastAck += st.LastAckSeq
			tot.Spooled += st.SpoolLines
			tot.Dropped += st.Dropped
			tot.DroppedInvalid += st.DroppedInvalid
			run.agentStats[t.group] = tot
		}
		run.linesInWindow[t.group] += t.prod.inWin.Load()
	}
	var stopWG sync.WaitGroup
	for _, t := range terms {
		stopWG.Add(1)
		go func() { defer stopWG.Done(); t.stop() }()
	}
	stopWG.Wait()
	for _, t := range terms {
		if t.pl != nil {
			run.baselineAcked += t.pl.acked.Load()
			run.baselineRejected += t.pl.rejected.Load()
		}
	}
	// Every connection gets its $disconnect.
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) && !m.disconnectedAll() {
		time.Sleep(50 * time.Millisecond)
	}
	gw1 := st.Stats()
	run.gateway = gatewayDelta{
		MessagesIn: gw1.MessagesIn - gw0.MessagesIn, MessagesOut: gw1.MessagesOut - gw0.MessagesOut,
		UnitsIn: gw1.UnitsIn - gw0.UnitsIn, UnitsOut: gw1.UnitsOut - gw0.UnitsOut,
		ConnectionMinutes: gw1.ConnectionMinutes - gw0.ConnectionMinutes,
	}
	run.invocations, run.pushes = m.snapshot()
	for _, inv := range run.invocations {
		if inv.Function == "ConnectFunction" {
			run.connections[groupOf(inv.Terminal)]++
		}
	}
	// Produced → stored, for the lines written in the window.
	for _, t := range terms {
		if t.group == groupWatched {
			continue
		}
		err := admin.Store().ScanLogChunks(ctx, t.id, 0, false, time.Now(), func(c fleet.LogChunk) bool {
			for _, e := range c.Entries {
				if !e.Time.Before(window[0]) && e.Time.Before(window[1]) {
					run.stored[t.group] = append(run.stored[t.group], c.StoredAt.Sub(e.Time))
				}
			}
			return true
		})
		if err != nil {
			return nil, fmt.Errorf("read back the chunks of %s: %w", t.id, err)
		}
	}
	return run, nil
}

// getJSON makes an authorized GET of the HTTP API marked as the benchmark's
// (X-Bench: kind) and returns the body.
func getJSON(ctx context.Context, client *http.Client, st *devstack.Stack, path, kind string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, st.HTTPURL+path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+st.Users["admin"])
	req.Header.Set(benchHeader, kind)
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %d %s", path, resp.StatusCode, body)
	}
	return body, nil
}

// tailLogs polls a terminal's logs forward from the newest line every
// `every` until `until`, as a dashboard tailing them does, and reports for
// each new line produced from `from` on how long after it was produced the
// poll saw it.
func tailLogs(ctx context.Context, client *http.Client, st *devstack.Stack, id string, every time.Duration, from, until time.Time, report func([]time.Duration), polls *atomic.Int64) {
	var since uint64
	first := true
	tick := time.NewTicker(every)
	defer tick.Stop()
	for time.Now().Before(until) {
		path := "/terminals/" + id + "/logs/?count=1000&since=" + strconv.FormatUint(since, 10)
		if first {
			path = "/terminals/" + id + "/logs/?count=1"
		}
		body, err := getJSON(ctx, client, st, path, kindTail)
		polls.Add(1)
		seenAt := time.Now()
		if err == nil {
			var page struct {
				Entries []protocol.LogEntry `json:"entries"`
				LastSeq uint64              `json:"lastSeq"`
			}
			if json.Unmarshal(body, &page) == nil {
				var seen []time.Duration
				for _, e := range page.Entries {
					if !first && !e.Time.Before(from) {
						seen = append(seen, seenAt.Sub(e.Time))
					}
					since = max(since, e.Seq)
				}
				if first {
					since = max(since, page.LastSeq)
				}
				first = false
				if len(seen) > 0 {
					report(seen)
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
