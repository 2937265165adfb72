package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgesync/edgesync"
	"github.com/edgesync/edgesync/agent"
	"github.com/edgesync/edgesync/devstack"
	"github.com/edgesync/edgesync/devstack/gateway"
	"github.com/edgesync/edgesync/devstack/template"
	"github.com/edgesync/edgesync/fleet"
)

// runningAgent is an agent of the benchmark, with its Run loop.
type runningAgent struct {
	id   string
	a    *agent.Agent
	stop func()
}

// startBenchAgent registers id and runs an agent for it with the default
// configuration (what a terminal runs out of the box), or the profile's.
func startBenchAgent(ctx context.Context, st *devstack.Stack, id, dir string, log *slog.Logger, profile ...string) (*runningAgent, error) {
	token, err := st.Admin().CreateTerminal(ctx, fleet.System("bench"), id, "", []string{"bench"})
	if err != nil {
		return nil, fmt.Errorf("register %s: %w", id, err)
	}
	cfg := agent.DefaultConfig()
	if len(profile) > 0 {
		if cfg, err = agentConfig(groupSpec{profile: profile[0], scale: 1}); err != nil {
			return nil, err
		}
	}
	cfg.TerminalID, cfg.ServerURL, cfg.Token = id, st.WSURL, token
	cfg.SpoolDir = filepath.Join(dir, "spool", id)
	cfg.ReconnectAttempts = 0
	a, err := agent.New(cfg, agent.WithLogger(log), agent.WithAgentVersion("bench"))
	if err != nil {
		return nil, fmt.Errorf("agent %s: %w", id, err)
	}
	actx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = a.Run(actx) }()
	return &runningAgent{id: id, a: a, stop: func() {
		sctx, scancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer scancel()
		_ = a.Shutdown(sctx)
		cancel()
		<-done
		a.Close()
	}}, nil
}

// latencyRun is the watched-mode latency measurement, by profile (the
// main group's name).
type latencyRun struct {
	terminals int
	duration  time.Duration
	pollEvery time.Duration
	polled    map[string][]time.Duration // produced → seen by the tail poller
	stored    map[string][]time.Duration // produced → stored
	polls     int64
}

// runLatency tails terminals' logs the way a dashboard does, polling GET
// /logs every pollEvery, while their agents write lines: isolated lines
// (a Poisson process, mean gap 100 ms) and a burst of 20–50 lines about
// every 3 s. The first read makes each terminal live; lines written from
// a second after it are measured: produced (the line's ts, set by
// agent.Log) → first seen by a poll, and produced → stored.
func runLatency(ctx context.Context, st *devstack.Stack, dir string, log *slog.Logger, terminals int, d, pollEvery time.Duration) (*latencyRun, error) {
	run := &latencyRun{terminals: terminals, duration: d, pollEvery: pollEvery, polled: map[string][]time.Duration{}, stored: map[string][]time.Duration{}}
	var agents []*runningAgent
	group := map[string]string{}
	defer func() {
		for _, ra := range agents {
			ra.stop()
		}
	}()
	for _, p := range []struct{ group, profile string }{{groupOurs, agent.ProfileDefault}, {groupEconomy, agent.ProfileEconomy}} {
		for i := 1; i <= terminals; i++ {
			id := fmt.Sprintf("lat-%s-%d", p.group, i)
			ra, err := startBenchAgent(ctx, st, id, dir, log, p.profile)
			if err != nil {
				return nil, err
			}
			agents = append(agents, ra)
			group[id] = p.group
		}
	}
	time.Sleep(time.Second) // connected, pulls answered
	client := &http.Client{Timeout: 10 * time.Second}
	start := time.Now()
	from, until := start.Add(time.Second), start.Add(d)
	var mu sync.Mutex
	var polls atomic.Int64
	var wg sync.WaitGroup
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for i, ra := range agents {
		wg.Add(2)
		go func() {
			defer wg.Done()
			tailLogs(pctx, client, st, ra.id, pollEvery, from, until.Add(time.Second), func(seen []time.Duration) {
				mu.Lock()
				run.polled[group[ra.id]] = append(run.polled[group[ra.id]], seen...)
				mu.Unlock()
			}, &polls)
		}()
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(i), 7))
			n := uint64(0)
			nextBurst := time.Now().Add(time.Duration(r.Int64N(int64(3 * time.Second))))
			for time.Now().Before(until) {
				time.Sleep(time.Duration(r.ExpFloat64() * float64(100*time.Millisecond)))
				lines := 1
				if time.Now().After(nextBurst) {
					lines = burstMin + r.IntN(burstMax-burstMin+1)
					nextBurst = time.Now().Add(2*time.Second + time.Duration(r.Int64N(int64(2*time.Second))))
				}
				for range lines {
					n++
					l := lineFor(ra.id, n)
					ra.a.Log(l.level, l.msg, l.source)
				}
			}
		}()
	}
	wg.Wait()
	run.polls = polls.Load()
	for _, ra := range agents {
		err := st.Admin().Store().ScanLogChunks(ctx, ra.id, 0, false, time.Now(), func(c fleet.LogChunk) bool {
			for _, e := range c.Entries {
				if !e.Time.Before(from) && e.Time.Before(until) {
					run.stored[group[ra.id]] = append(run.stored[group[ra.id]], c.StoredAt.Sub(e.Time))
				}
			}
			return true
		})
		if err != nil {
			return nil, fmt.Errorf("read back the chunks of %s: %w", ra.id, err)
		}
	}
	return run, nil
}

// throughputRun is the sustained-throughput measurement.
type throughputRun struct {
	agents, perLine       int
	duration              time.Duration
	agentLines, baseLines uint64 // acknowledged in the measured period
}

// runThroughput drives the stack as hard as a few terminals can: agents
// logging as fast as their spool takes lines (the batching protocol), then
// per-line clients sending as fast as their acks come (at most 64 lines
// unacknowledged each). It counts lines acknowledged (stored) per second
// after a two-second ramp.
func runThroughput(ctx context.Context, st *devstack.Stack, dir string, log *slog.Logger, agents, perLines int, d time.Duration) (*throughputRun, error) {
	run := &throughputRun{agents: agents, perLine: perLines, duration: d}
	const ramp = 2 * time.Second
	// Agents.
	var ras []*runningAgent
	for i := 1; i <= agents; i++ {
		ra, err := startBenchAgent(ctx, st, fmt.Sprintf("tp-%d", i), dir, log)
		if err != nil {
			return nil, err
		}
		ras = append(ras, ra)
	}
	time.Sleep(time.Second)
	pctx, cancel := context.WithTimeout(ctx, ramp+d)
	var wg sync.WaitGroup
	for _, ra := range ras {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := uint64(0)
			for pctx.Err() == nil {
				if ra.a.Stats().SpoolLines > 50_000 {
					time.Sleep(5 * time.Millisecond)
					continue
				}
				for range 500 {
					n++
					l := lineFor(ra.id, n)
					ra.a.Log(l.level, l.msg, l.source)
				}
			}
		}()
	}
	acked := func() uint64 {
		var s uint64
		for _, ra := range ras {
			s += ra.a.Stats().LastAckSeq
		}
		return s
	}
	time.Sleep(ramp)
	a0 := acked()
	time.Sleep(d)
	run.agentLines = acked() - a0
	cancel()
	wg.Wait()
	for _, ra := range ras {
		ra.stop()
	}

	// Per-line clients.
	var cls []*perLine
	cctx, ccancel := context.WithCancel(ctx)
	defer ccancel()
	for i := 1; i <= perLines; i++ {
		id := fmt.Sprintf("tpb-%d", i)
		token, err := st.Admin().CreateTerminal(ctx, fleet.System("bench"), id, "", []string{"bench"})
		if err != nil {
			return nil, fmt.Errorf("register %s: %w", id, err)
		}
		c, err := dialPerLine(cctx, st.WSURL, id, token, false)
		if err != nil {
			return nil, err
		}
		go c.run(cctx, refStatusEvery, 30*time.Second)
		cls = append(cls, c)
	}
	time.Sleep(time.Second)
	pctx, cancel = context.WithTimeout(ctx, ramp+d)
	defer cancel()
	for _, c := range cls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := uint64(0)
			for pctx.Err() == nil {
				if n-c.acked.Load() >= 64 {
					time.Sleep(time.Millisecond)
					continue
				}
				n++
				if c.logLine(pctx, lineFor(c.id, n)) != nil {
					return
				}
			}
		}()
	}
	baseAcked := func() uint64 {
		var s uint64
		for _, c := range cls {
			s += c.acked.Load()
		}
		return s
	}
	time.Sleep(ramp)
	b0 := baseAcked()
	time.Sleep(d)
	run.baseLines = baseAcked() - b0
	cancel()
	wg.Wait()
	for _, c := range cls {
		c.close()
	}
	return run, nil
}

// cpuResult is the output of the handler benchmark.
type cpuResult struct {
	command string
	lines   []string
}

// runCPU runs BenchmarkHandleMessage with go test.
func runCPU(ctx context.Context, root string) (*cpuResult, error) {
	args := []string{"test", "-run", "^$", "-bench", "BenchmarkHandleMessage", "-benchmem", "-benchtime", "3000x", "./fleet"}
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	res := &cpuResult{command: "go " + strings.Join(args, " ")}
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		if l := sc.Text(); strings.HasPrefix(l, "Benchmark") || strings.HasPrefix(l, "cpu:") {
			res.lines = append(res.lines, l)
		}
	}
	return res, nil
}

// function is one Lambda function of the template.
type function struct {
	name, codeURI string
	size          int64 // stripped linux/arm64 binary
	imports       int   // packages linked in
}

// buildSizes builds each function as the deployment does (linux/arm64,
// lambda.norpc, stripped) and measures it.
func buildSizes(ctx context.Context, root, dir string) ([]function, error) {
	tpl, err := template.Parse(edgesync.Template)
	if err != nil {
		return nil, err
	}
	fns, err := tpl.Functions()
	if err != nil {
		return nil, err
	}
	var out []function
	for _, fn := range fns {
		f := function{name: fn.LogicalID, codeURI: strings.TrimSuffix(fn.CodeURI, "/")}
		bin := filepath.Join(dir, "arm64", fn.LogicalID, "bootstrap")
		cmd := exec.CommandContext(ctx, "go", "build", "-tags", "lambda.norpc", "-ldflags=-s", "-o", bin, "./"+f.codeURI)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0")
		if b, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("build %s: %v\n%s", fn.LogicalID, err, b)
		}
		fi, err := os.Stat(bin)
		if err != nil {
			return nil, err
		}
		f.size = fi.Size()
		list := exec.CommandContext(ctx, "go", "list", "-deps", "-tags", "lambda.norpc", "./"+f.codeURI)
		list.Dir = root
		list.Env = cmd.Env
		if b, err := list.Output(); err == nil {
			f.imports = bytes.Count(b, []byte("\n"))
		}
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, nil
}

// coldStarts starts a second stack with every function's bootstrap under
// the runtime interface emulator (host architecture) on the same dynalite,
// invokes each function once (an agent connects, says hello, answers the
// pulls and disconnects; a dashboard read) and returns what RIE reported.
func coldStarts(ctx context.Context, endpoint, dir string, log *slog.Logger) ([]gateway.ColdStart, error) {
	st, err := devstack.Start(ctx, devstack.Config{
		HTTPAddr: "127.0.0.1:0", WSAddr: "127.0.0.1:0", DataDir: filepath.Join(dir, "rie"),
		DynamoDBEndpoint: endpoint, Table: "edgesync-bench-rie", Lambda: devstack.LambdaRIE, Logger: log,
		ScheduleEvery: time.Second, // the scheduled function runs (and starts) within the phase
	})
	if err != nil {
		return nil, fmt.Errorf("start the local stack under RIE: %w", err)
	}
	defer st.Close(context.Background())
	ra, err := startBenchAgent(ctx, st, "cold-1", dir, log)
	if err != nil {
		return nil, err
	}
	client := &http.Client{Timeout: 30 * time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for {
		body, err := getJSON(ctx, client, st, "/terminals/cold-1/status/", "read")
		if err == nil && bytes.Contains(body, []byte(`"fresh":true`)) {
			break
		}
		if time.Now().After(deadline) {
			ra.stop()
			return nil, fmt.Errorf("under RIE the terminal's status never became fresh: %v %s", err, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	ra.stop()
	deadline = time.Now().Add(30 * time.Second)
	scheduled := func() bool {
		for _, c := range st.ColdStarts() {
			if c.Function == "SchedulerFunction" {
				return true
			}
		}
		return false
	}
	for (st.Stats().Invocations["DisconnectFunction"] == 0 || !scheduled()) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	return st.ColdStarts(), nil
}

// moduleRoot is the directory of the edgesync go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && bytes.Contains(b, []byte("module github.com/edgesync/edgesync\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("run it inside the edgesync source tree (it builds the functions and runs go test)")
		}
		dir = parent
	}
}

// machine describes where the benchmark ran.
func machine() string {
	cpu := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	mem := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "MemTotal:") {
				var kb int64
				fmt.Sscanf(strings.TrimSpace(strings.TrimPrefix(l, "MemTotal:")), "%d", &kb)
				mem = fmt.Sprintf(", %.1f GiB memory", float64(kb)/1024/1024)
			}
		}
	}
	return fmt.Sprintf("%s/%s, %d CPUs (nproc), %s%s, %s", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), cpu, mem, runtime.Version())
}
