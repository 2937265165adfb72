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

// clientKind is what a group's terminals run.
type clientKind int

const (
	clientAgent   clientKind = iota // the Go agent
	clientSeed                      // the seed-literal baseline
	clientPerLine                   // one line per message in the project's protocol, acked
)

// groupSpec is one group of terminals of the cost run. Terminal ids are
// "<name>-<n>".
type groupSpec struct {
	name  string
	title string
	kind  clientKind
	// profile is the agent's profile; window, when set, replaces the
	// profile's idle window and status interval (a point of the chart).
	profile string
	window  time.Duration
	// scale compresses time: the agent's timers (status, heartbeat, idle
	// window, ack interval) are divided by it and the workload runs that
	// much faster, so a batch holds the lines it holds at scale 1 and a
	// window of the run counts scale times as many terminal-hours.
	scale float64
	// volume is the line rate as a multiple of the reference (86,400 a day).
	volume    float64
	terminals int
	// watched: a dashboard tails the terminals' logs (live mode).
	watched bool
	// statusReaders: how many of its terminals a reader polls for status.
	statusReaders int
	// live names the watched group whose steady rate stands for the live
	// minutes dashboard reads start ("" for none).
	live string
	// noUrgent: lines at urgent_level wait for the window like the others
	// (urgent_level none): what the profile would cost without the
	// promise that error lines are stored within 2 s.
	noUrgent bool
}

// Groups of the cost run.
const (
	groupOurs     = "ours"     // default profile, nobody reading
	groupEconomy  = "eco"      // economy profile, nobody reading
	groupSeed     = "seed"     // seed-literal baseline
	groupBaseline = "base"     // per-line in the project's protocol
	groupWatched  = "watch"    // default profile, tailed
	groupEcoWatch = "ecowatch" // economy profile, tailed
)

func groupOf(terminal string) string {
	i := strings.LastIndexByte(terminal, '-')
	if i < 0 {
		return terminal
	}
	return terminal[:i]
}

// mainGroups are the groups of the headline comparison; chartGroups the
// points of the chart besides them.
func mainGroups(terminals, watched int) []groupSpec {
	return []groupSpec{
		{name: groupOurs, title: "edgesync default", kind: clientAgent, profile: agent.ProfileDefault, scale: 1, volume: 1, terminals: terminals, statusReaders: 3, live: groupWatched},
		{name: groupEconomy, title: "edgesync economy", kind: clientAgent, profile: agent.ProfileEconomy, scale: 10, volume: 1, terminals: max(terminals*3/5, 4), statusReaders: 3, live: groupEcoWatch},
		{name: groupSeed, title: "seed-literal", kind: clientSeed, scale: 1, volume: 1, terminals: terminals},
		{name: groupBaseline, title: "per-line, acked", kind: clientPerLine, scale: 1, volume: 1, terminals: max(terminals*2/5, 4)},
		{name: groupWatched, title: "edgesync default, watched", kind: clientAgent, profile: agent.ProfileDefault, scale: 1, volume: 1, terminals: watched, watched: true},
		{name: groupEcoWatch, title: "edgesync economy, watched", kind: clientAgent, profile: agent.ProfileEconomy, scale: 1, volume: 1, terminals: watched, watched: true},
	}
}

func chartGroups(n int) []groupSpec {
	window := func(name string, w time.Duration, scale float64) groupSpec {
		return groupSpec{name: name, title: "window " + w.String(), kind: clientAgent, profile: agent.ProfileEconomy, window: w, scale: scale, volume: 1, terminals: n, live: groupEcoWatch}
	}
	volume := func(name, profile string, v, scale float64, terms int) groupSpec {
		live := groupWatched
		if profile == agent.ProfileEconomy {
			live = groupEcoWatch
		}
		return groupSpec{name: name, title: fmt.Sprintf("%s at %.0f lines/day", profile, refLinesPerDay*v), kind: clientAgent, profile: profile, scale: scale, volume: v, terminals: terms, live: live}
	}
	return []groupSpec{
		window("w1m", time.Minute, 2),
		window("w2m", 2*time.Minute, 4),
		window("w10m", 10*time.Minute, 20),
		volume("d8", agent.ProfileDefault, 0.1, 1, n),
		volume("d864", agent.ProfileDefault, 10, 1, max(n*2/3, 2)),
		volume("e8", agent.ProfileEconomy, 0.1, 10, n),
		volume("e864", agent.ProfileEconomy, 10, 10, max(n/2, 2)),
		{name: groupEcoNoUrgent, title: "economy, error lines with the window", kind: clientAgent, profile: agent.ProfileEconomy, scale: 10, volume: 1, terminals: n, live: groupEcoWatch, noUrgent: true},
	}
}

// groupEcoNoUrgent is the economy profile without urgent lines: the
// chart table's answer to what the 2 s promise for error lines costs.
const groupEcoNoUrgent = "enourgent"

// agentConfig is the configuration of a group's agents: its profile (or
// window), with the timers divided by the group's scale.
func agentConfig(g groupSpec) (agent.Config, error) {
	doc, _ := json.Marshal(map[string]any{"terminal_id": "x", "server_url": "ws://127.0.0.1:1/p", "token": "x", "profile": g.profile})
	cfg, err := agent.ParseConfig(doc, nil)
	if err != nil {
		return agent.Config{}, err
	}
	if g.window > 0 {
		cfg.StatusInterval = agent.Seconds(g.window.Seconds())
		cfg.HeartbeatInterval = agent.Seconds(min(g.window, 540*time.Second).Seconds())
		cfg.IdleBatchWindowMS = int(g.window / time.Millisecond)
	}
	if g.noUrgent {
		cfg.UrgentLevel = ""
	}
	k := g.scale
	cfg.StatusInterval /= agent.Seconds(k)
	cfg.HeartbeatInterval /= agent.Seconds(k)
	cfg.AckInterval /= agent.Seconds(k)
	cfg.IdleBatchWindowMS = int(float64(cfg.IdleBatchWindowMS) / k)
	cfg.ReconnectAttempts = 0
	return cfg, nil
}

// costRun is what the cost phase measured.
type costRun struct {
	groups      map[string]groupSpec
	order       []string
	windowStart time.Time
	windowEnd   time.Time
	// linesInWindow counts lines handed to clients in the window, by group.
	linesInWindow map[string]int64
	readsDone     int // dashboard reads per group read
	readGroups    []string
	readStart     time.Time
	connections   map[string]int // $connect invocations by group
	invocations   []invocation
	pushes        []push
	agentStats    map[string]agentTotals
	acked         map[string]uint64 // per-line clients' acknowledged lines
	rejected      map[string]int64
	tailPolls     atomic.Int64
	// waits are, by group, how long lines handed in the window waited
	// until stored (the chunk's storedAt), in real time; urgent the
	// same for lines at the agent's urgent level (error).
	waits, urgent map[string][]time.Duration
	tailSeen      map[string][]time.Duration // produced → seen by the 1 s dashboard tail, by watched group
	status        map[string]*statusReads
	gateway       gatewayDelta
}

// agentTotals sums the agents' counters of a group.
type agentTotals struct {
	NextSeq, LastAck, Spooled, Dropped, DroppedInvalid uint64
}

type gatewayDelta struct {
	MessagesIn, MessagesOut, UnitsIn, UnitsOut, ConnectionMinutes int64
}

// statusReads is what a status reader saw: how many reads, how many
// fresh, the oldest status shown fresh and the promise (freshUntil −
// syncedAt) the API stated, in the group's virtual time.
type statusReads struct {
	mu             sync.Mutex
	reads, fresh   int
	maxAge         time.Duration
	promise        time.Duration
	refreshPending int
}

// producer writes a terminal's scheduled lines and remembers, for each
// line, when it was handed over.
type producer struct {
	id     string
	scale  float64
	write  func(n uint64, l line, virtual time.Time) // the n-th line
	window *[2]time.Time
	inWin  atomic.Int64
	mu     sync.Mutex
	handed map[uint64]time.Time
}

func (p *producer) run(ctx context.Context, evs []event, start time.Time) {
	n := uint64(0)
	for _, ev := range evs {
		t := time.NewTimer(time.Until(start.Add(time.Duration(float64(ev.at) / p.scale))))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		now := time.Now()
		virtual := start.Add(time.Duration(float64(now.Sub(start)) * p.scale))
		inWin := p.window[0].Before(now) && now.Before(p.window[1])
		for range ev.lines {
			n++
			// The lines of a burst a few microseconds apart, as the
			// agent stamps lines logged one after the other.
			virtual = virtual.Add(time.Duration(1000 + (n*7919)%4000))
			p.write(n, lineFor(p.id, n), virtual)
			if inWin {
				p.mu.Lock()
				p.handed[n] = now
				p.mu.Unlock()
			}
		}
		if inWin {
			p.inWin.Add(int64(ev.lines))
		}
	}
}

type costOptions struct {
	groups    []groupSpec
	window    time.Duration
	warmup    time.Duration
	tailEvery time.Duration
	dataDir   string
	log       *slog.Logger
	progress  *slog.Logger
}

// runCost runs every group side by side on one stack for the warm-up and
// the window; then dashboard reads of the main groups, and every
// connection closed.
func runCost(ctx context.Context, st *devstack.Stack, m *meter, o costOptions) (*costRun, error) {
	run := &costRun{groups: map[string]groupSpec{}, linesInWindow: map[string]int64{}, connections: map[string]int{},
		agentStats: map[string]agentTotals{}, acked: map[string]uint64{}, rejected: map[string]int64{},
		waits: map[string][]time.Duration{}, urgent: map[string][]time.Duration{}, tailSeen: map[string][]time.Duration{}, status: map[string]*statusReads{}}
	for _, g := range o.groups {
		run.groups[g.name] = g
		run.order = append(run.order, g.name)
	}
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
		g     groupSpec
		a     *agent.Agent
		pl    *perLine
		stop  func()
		seed  uint64
		prod  *producer
		order int
	}
	var terms []*started
	var window [2]time.Time
	termCtx, cancelTerms := context.WithCancel(ctx)
	defer cancelTerms()
	runCtx, cancelRun := context.WithCancel(ctx)
	defer cancelRun()
	var wg sync.WaitGroup

	newProducer := func(id string, g groupSpec, write func(uint64, line, time.Time)) *producer {
		return &producer{id: id, scale: g.scale, window: &window, write: write, handed: map[uint64]time.Time{}}
	}
	start := func(g groupSpec, i int) error {
		id := fmt.Sprintf("%s-%d", g.name, i)
		// Terminal n of every group of the same volume gets the same lines.
		seed := uint64(i)
		token, err := register(id)
		if err != nil {
			return err
		}
		s := &started{id: id, g: g, seed: seed, order: i}
		switch g.kind {
		case clientAgent:
			cfg, err := agentConfig(g)
			if err != nil {
				return err
			}
			cfg.TerminalID, cfg.ServerURL, cfg.Token = id, st.WSURL, token
			cfg.SpoolDir = filepath.Join(o.dataDir, "spool", id)
			a, err := agent.New(cfg, agent.WithLogger(o.log), agent.WithAgentVersion("bench"))
			if err != nil {
				return fmt.Errorf("agent %s: %w", id, err)
			}
			actx, acancel := context.WithCancel(termCtx)
			done := make(chan struct{})
			go func() { defer close(done); _ = a.Run(actx) }()
			s.a = a
			s.stop = func() {
				sctx, scancel := context.WithTimeout(context.Background(), 15*time.Second)
				defer scancel()
				_ = a.Shutdown(sctx)
				acancel()
				<-done
			}
			s.prod = newProducer(id, g, func(_ uint64, l line, virtual time.Time) {
				a.LogEntry(protocol.LogEntry{Time: virtual, Level: l.level, Message: l.msg, Source: l.source})
			})
		default:
			c, err := dialPerLine(termCtx, st.WSURL, id, token, g.kind == clientSeed)
			if err != nil {
				return err
			}
			go c.run(termCtx, refStatusEvery, 30*time.Second)
			s.pl, s.stop = c, c.close
			s.prod = newProducer(id, g, func(_ uint64, l line, _ time.Time) { _ = c.logLine(termCtx, l) })
		}
		terms = append(terms, s)
		return nil
	}
	for _, g := range o.groups {
		for i := 1; i <= g.terminals; i++ {
			if err := start(g, i); err != nil {
				return nil, err
			}
		}
	}
	defer func() {
		for _, t := range terms {
			if t.a != nil {
				t.a.Close()
			}
		}
	}()
	o.progress.Info("cost run: terminals running", "terminals", len(terms), "groups", len(o.groups))

	gw0 := st.Stats()
	begin := time.Now()
	total := o.warmup + o.window
	window[0], window[1] = begin.Add(o.warmup), begin.Add(total)
	run.windowStart, run.windowEnd = window[0], window[1]
	for _, t := range terms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Each terminal starts its day at a random point of a burst
			// period (the same for the terminals of a seed).
			virtualTotal := time.Duration(float64(total) * t.g.scale)
			offset := time.Duration(rand.New(rand.NewPCG(t.seed, 1)).Int64N(int64(burstPeriod)))
			evs := scheduleAt(t.seed, virtualTotal+offset, t.g.volume)
			var shifted []event
			for _, ev := range evs {
				if ev.at >= offset {
					shifted = append(shifted, event{at: ev.at - offset, lines: ev.lines})
				}
			}
			t.prod.run(runCtx, shifted, begin)
		}()
	}
	client := &http.Client{Timeout: 10 * time.Second}
	var tailMu sync.Mutex
	for _, t := range terms {
		if t.g.watched {
			wg.Add(1)
			go func() {
				defer wg.Done()
				tailLogs(runCtx, client, st, t.id, o.tailEvery, window[0], window[1], func(seen []time.Duration) {
					tailMu.Lock()
					run.tailSeen[t.g.name] = append(run.tailSeen[t.g.name], seen...)
					tailMu.Unlock()
				}, &run.tailPolls)
			}()
		}
		if t.order <= t.g.statusReaders {
			sr := run.status[t.g.name]
			if sr == nil {
				sr = &statusReads{}
				run.status[t.g.name] = sr
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				readStatus(runCtx, client, st, t.id, t.g.scale, window[0], window[1], sr)
			}()
		}
	}
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(time.Until(window[1])):
	}
	cancelRun()
	wg.Wait()

	// Dashboard reads, after the window so that the live period they start
	// does not count as idle time: the terminal page (terminal, status,
	// newest 100 lines) of ten terminals of each group compared.
	run.readStart = time.Now()
	run.readsDone = 10
	for _, name := range []string{groupOurs, groupEconomy, groupSeed, groupBaseline} {
		g, ok := run.groups[name]
		if !ok {
			continue
		}
		run.readGroups = append(run.readGroups, name)
		run.readsDone = min(run.readsDone, g.terminals)
	}
	for i := 1; i <= run.readsDone; i++ {
		for _, name := range run.readGroups {
			id := fmt.Sprintf("%s-%d", name, i)
			for _, path := range []string{"", "/status/", "/logs/?count=100"} {
				if _, err := getJSON(ctx, client, st, "/terminals/"+id+path, "read"); err != nil {
					return nil, fmt.Errorf("dashboard read of %s: %w", id, err)
				}
			}
		}
	}
	time.Sleep(300 * time.Millisecond) // the live hints reach the terminals

	for _, t := range terms {
		if t.a != nil {
			st := t.a.Stats()
			tot := run.agentStats[t.g.name]
			tot.NextSeq += st.NextSeq - 1
			tot.LastAck += st.LastAckSeq
			tot.Spooled += st.SpoolLines
			tot.Dropped += st.Dropped
			tot.DroppedInvalid += st.DroppedInvalid
			run.agentStats[t.g.name] = tot
		}
		run.linesInWindow[t.g.name] += t.prod.inWin.Load()
	}
	var stopWG sync.WaitGroup
	for _, t := range terms {
		stopWG.Add(1)
		go func() { defer stopWG.Done(); t.stop() }()
	}
	stopWG.Wait()
	for _, t := range terms {
		if t.pl != nil {
			run.acked[t.g.name] += t.pl.acked.Load()
			run.rejected[t.g.name] += t.pl.rejected.Load()
		}
	}
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
	// Handed → stored, for the lines handed in the window (real time).
	urgentRank := protocol.LevelRank(agent.DefaultConfig().UrgentLevel)
	for _, t := range terms {
		if t.g.watched {
			continue
		}
		// Agents number lines from 1 as handed; the per-line clients
		// from their own count, and remember when each went.
		handed := func(seq uint64) (time.Time, bool) {
			if t.pl != nil {
				return t.pl.handedAt(seq)
			}
			t.prod.mu.Lock()
			defer t.prod.mu.Unlock()
			h, ok := t.prod.handed[seq]
			return h, ok
		}
		seen := map[uint64]bool{}
		err := admin.Store().ScanLogChunks(ctx, t.id, 0, false, time.Now(), func(c fleet.LogChunk) bool {
			for _, e := range c.Entries {
				h, ok := handed(e.Seq)
				if !ok || seen[e.Seq] || (t.pl != nil && !(window[0].Before(h) && h.Before(window[1]))) {
					continue
				}
				seen[e.Seq] = true
				d := c.StoredAt.Sub(h)
				run.waits[t.g.name] = append(run.waits[t.g.name], d)
				if protocol.LevelRank(e.Level) >= urgentRank {
					run.urgent[t.g.name] = append(run.urgent[t.g.name], d)
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

// readStatus polls a terminal's status as a dashboard's terminal page
// does and records what it was shown: its age and the promise the API
// states (freshUntil − syncedAt), in the group's virtual time. Its reads
// are the benchmark's (X-Bench: tail), not the workload's.
func readStatus(ctx context.Context, client *http.Client, st *devstack.Stack, id string, scale float64, from, until time.Time, sr *statusReads) {
	every := 2 * time.Second
	tick := time.NewTicker(every)
	defer tick.Stop()
	for time.Now().Before(until) {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if time.Now().Before(from) {
			continue
		}
		body, err := getJSON(ctx, client, st, "/terminals/"+id+"/status/", kindTail)
		at := time.Now()
		if err != nil {
			continue
		}
		var v struct {
			Online     bool      `json:"online"`
			Fresh      bool      `json:"fresh"`
			SyncedAt   time.Time `json:"syncedAt"`
			FreshUntil time.Time `json:"freshUntil"`
			Refreshing bool      `json:"refreshing"`
		}
		if json.Unmarshal(body, &v) != nil || !v.Online {
			continue
		}
		sr.mu.Lock()
		sr.reads++
		if v.Fresh {
			sr.fresh++
			sr.maxAge = max(sr.maxAge, time.Duration(float64(at.Sub(v.SyncedAt))*scale))
		}
		if v.Refreshing {
			sr.refreshPending++
		}
		sr.promise = max(sr.promise, time.Duration(float64(v.FreshUntil.Sub(v.SyncedAt))*scale))
		sr.mu.Unlock()
	}
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
