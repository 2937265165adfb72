package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/edgesync/edgesync/agent"
	"github.com/edgesync/edgesync/devstack"
	"github.com/edgesync/edgesync/fleet"
)

type options struct {
	out        string
	warmup     time.Duration
	refWindow  time.Duration
	loadWindow time.Duration
	rate       int
	spoolMax   int64
	verbose    bool
}

func main() {
	var o options
	flag.StringVar(&o.out, "o", "", "rewrite the agent section of this file (BENCHMARKS.md) with the results")
	flag.DurationVar(&o.warmup, "warmup", 15*time.Second, "time after the agent connected before measuring")
	flag.DurationVar(&o.refWindow, "ref-window", 3*time.Minute, "measuring window at the reference workload (a multiple of 30 s)")
	flag.DurationVar(&o.loadWindow, "load-window", time.Minute, "measuring window at the sustained rate")
	flag.IntVar(&o.rate, "rate", 2000, "sustained rate, lines per second")
	flag.Int64Var(&o.spoolMax, "spool-max", 4<<20, "spool_max_bytes of the spool-bound phase (ten times it is written)")
	flag.BoolVar(&o.verbose, "v", false, "progress and the stack's log on stderr")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintf(os.Stderr, "edgesync-agent-bench: %v\n", err)
		os.Exit(1)
	}
}

// results is what one run measured.
type results struct {
	began, ended time.Time
	machine      string
	sizes        []binarySize
	ref, load    phase
	bound        boundPhase
	lost, dups   int
	lines        int
}

type binarySize struct {
	target string
	bytes  int64
}

// phase is a measuring window of the agent process.
type phase struct {
	window     time.Duration
	lines      int // written in the window
	cpuPercent float64
	rssMedian  int64 // bytes, second half of the window
	rssMax     int64
	spoolPeak  int64 // bytes on disk (allocated)
	spoolMax   int64
}

type boundPhase struct {
	spoolMax            int64
	written             int64 // bytes of lines written
	lines               int
	peakSize, peakAlloc int64
	held, dropped       uint64
}

func run(ctx context.Context, o options) error {
	if runtime.GOOS != "linux" {
		return errors.New("needs Linux (/proc)")
	}
	r := &results{began: time.Now(), machine: machine()}
	progress := func(format string, args ...any) {
		if o.verbose {
			fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
		}
	}
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "edgesync-agent-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	progress("building the agent")
	bin := filepath.Join(tmp, "edgesync-agent")
	if _, err := build(ctx, root, bin, nil); err != nil {
		return err
	}
	for _, t := range []struct{ name, arch, arm string }{{"linux/arm64", "arm64", ""}, {"linux/arm (GOARM=7)", "arm", "7"}} {
		env := []string{"GOOS=linux", "GOARCH=" + t.arch}
		if t.arm != "" {
			env = append(env, "GOARM="+t.arm)
		}
		n, err := build(ctx, root, filepath.Join(tmp, "agent-"+t.arch), env)
		if err != nil {
			return err
		}
		r.sizes = append(r.sizes, binarySize{t.name, n})
	}

	progress("starting the local stack")
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if o.verbose {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	stack, err := devstack.Start(ctx, devstack.Config{HTTPAddr: "127.0.0.1:0", WSAddr: "127.0.0.1:0", DataDir: filepath.Join(tmp, "stack"), Logger: logger})
	if err != nil {
		return fmt.Errorf("start the local stack: %w", err)
	}
	defer stack.Close(context.Background())
	who := fleet.System("system:agent-bench")
	const id = "bench-1"
	token, err := stack.Admin().CreateTerminal(ctx, who, id, "agent footprint benchmark", []string{"bench"})
	if err != nil {
		return fmt.Errorf("register the terminal: %w", err)
	}

	// Reference workload and sustained rate: one agent process with the
	// default configuration, following a log file.
	dir := filepath.Join(tmp, "device")
	logFile := filepath.Join(dir, "detector.log")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := os.WriteFile(logFile, nil, 0o644); err != nil {
		return err
	}
	cfg := agent.DefaultConfig()
	cfg.TerminalID, cfg.ServerURL, cfg.Token = id, stack.WSURL, token
	cfg.SpoolDir = filepath.Join(dir, "spool")
	cfg.LogInputs = []string{logFile}
	// The default asks for an acknowledgement every 15 min or 32 batches
	// (protocol v2); the bench waits for every line acknowledged after its
	// windows, so it asks every 15 s.
	cfg.AckInterval = benchAckInterval
	a, err := startAgent(ctx, bin, dir, cfg)
	if err != nil {
		return err
	}
	defer a.stop()
	if err := a.waitFor(ctx, time.Minute, "connected and following", func(st agent.LocalStatus) bool {
		return st.Connected && strings.Contains(a.log(), "following log input")
	}); err != nil {
		return err
	}
	gen, err := newGenerator(logFile)
	if err != nil {
		return err
	}
	defer gen.close()

	progress("warm-up %v", o.warmup)
	if err := gen.reference(ctx, o.warmup); err != nil {
		return err
	}
	progress("reference workload for %v", o.refWindow)
	r.ref, err = measure(ctx, a, cfg, o.refWindow, func(ctx context.Context) error { return gen.reference(ctx, o.refWindow) }, gen)
	if err != nil {
		return err
	}
	progress("%d lines/s for %v", o.rate, o.loadWindow)
	r.load, err = measure(ctx, a, cfg, o.loadWindow, func(ctx context.Context) error { return gen.sustained(ctx, o.loadWindow, o.rate) }, gen)
	if err != nil {
		return err
	}
	progress("waiting for every line to be acknowledged")
	if err := a.waitFor(ctx, 3*time.Minute, "every line acknowledged", func(st agent.LocalStatus) bool {
		return st.SpoolLines == 0 && st.LinesAcked >= uint64(gen.n)
	}); err != nil {
		return err
	}
	st, err := a.status()
	if err != nil {
		return err
	}
	if st.DroppedLines != 0 || st.DroppedInvalid != 0 {
		return fmt.Errorf("the agent dropped %d lines (%d invalid)", st.DroppedLines, st.DroppedInvalid)
	}
	a.stop()
	progress("reading %d lines back from the stack", gen.n)
	counts, err := readBack(ctx, stack.Admin(), who, id)
	if err != nil {
		return err
	}
	r.lines = gen.n
	for n := 1; n <= gen.n; n++ {
		switch c := counts[n]; {
		case c == 0:
			r.lost++
		case c > 1:
			r.dups++
		}
	}

	progress("spool bound: %d bytes written with the cloud out of reach", 10*o.spoolMax)
	if r.bound, err = spoolBound(ctx, bin, filepath.Join(tmp, "bound"), o.spoolMax); err != nil {
		return err
	}
	r.ended = time.Now()

	var report bytes.Buffer
	writeReport(&report, r, o)
	os.Stdout.Write(report.Bytes())
	if o.out != "" {
		return rewriteSection(o.out, report.Bytes())
	}
	return nil
}

// measure runs work for window while sampling the agent process: CPU time
// over the window, resident memory every second, the spool's bytes on disk.
func measure(ctx context.Context, a *agentProcess, cfg agent.Config, window time.Duration, work func(context.Context) error, gen *generator) (phase, error) {
	p := phase{window: window, spoolMax: cfg.SpoolMaxBytes}
	before := gen.n
	cpu0, err := a.cpu()
	if err != nil {
		return p, err
	}
	start := time.Now()
	done := make(chan error, 1)
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { done <- work(wctx) }()
	var rss []int64
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			if err != nil {
				return p, err
			}
			cpu1, err := a.cpu()
			if err != nil {
				return p, err
			}
			elapsed := time.Since(start)
			p.cpuPercent = 100 * (cpu1 - cpu0).Seconds() / elapsed.Seconds()
			p.lines = gen.n - before
			second := rss[len(rss)/2:]
			p.rssMedian = median(second)
			p.rssMax = slices.Max(rss)
			return p, nil
		case <-tick.C:
			n, err := a.rss()
			if err != nil {
				return p, err
			}
			rss = append(rss, n)
			_, alloc := dirBytes(cfg.SpoolDir)
			p.spoolPeak = max(p.spoolPeak, alloc)
		case <-ctx.Done():
			return p, ctx.Err()
		}
	}
}

// spoolBound runs an agent whose cloud is out of reach, writes ten times
// its spool bound of lines and samples the spool's bytes on disk until the
// agent has read them all.
func spoolBound(ctx context.Context, bin, dir string, spoolMax int64) (boundPhase, error) {
	b := boundPhase{spoolMax: spoolMax}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return b, err
	}
	logFile := filepath.Join(dir, "detector.log")
	if err := os.WriteFile(logFile, nil, 0o644); err != nil {
		return b, err
	}
	cfg := agent.DefaultConfig()
	cfg.TerminalID, cfg.Token = "bench-bound", "unused"
	cfg.ServerURL = "ws://127.0.0.1:1/unreachable"
	cfg.SpoolDir = filepath.Join(dir, "spool")
	cfg.SpoolMaxBytes = spoolMax
	cfg.LogInputs = []string{logFile}
	a, err := startAgent(ctx, bin, dir, cfg)
	if err != nil {
		return b, err
	}
	defer a.stop()
	if err := a.waitFor(ctx, time.Minute, "following", func(agent.LocalStatus) bool {
		return strings.Contains(a.log(), "following log input")
	}); err != nil {
		return b, err
	}
	gen, err := newGenerator(logFile)
	if err != nil {
		return b, err
	}
	defer gen.close()
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			size, alloc := dirBytes(cfg.SpoolDir)
			b.peakSize, b.peakAlloc = max(b.peakSize, size), max(b.peakAlloc, alloc)
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	for b.written < 10*spoolMax {
		n, err := gen.burst(1000)
		if err != nil {
			close(stop)
			return b, err
		}
		b.written += int64(n)
	}
	b.lines = gen.n
	err = a.waitFor(ctx, 3*time.Minute, "every line spooled", func(st agent.LocalStatus) bool {
		return st.NextSeq > uint64(b.lines)
	})
	close(stop)
	<-sampled
	if err != nil {
		return b, err
	}
	st, err := a.status()
	if err != nil {
		return b, err
	}
	b.held, b.dropped = st.SpoolLines, st.DroppedLines
	return b, nil
}

// readBack reads the terminal's stored lines and counts each line number.
func readBack(ctx context.Context, svc *fleet.Service, who fleet.Principal, id string) (map[int]int, error) {
	counts := map[int]int{}
	q := fleet.LogQuery{Count: 1000, HasAfter: true}
	for {
		page, err := svc.TerminalLogs(ctx, who, id, q)
		if err != nil {
			return nil, fmt.Errorf("read the lines back: %w", err)
		}
		for _, e := range page.Entries {
			if i := strings.LastIndexByte(e.Message, '#'); i >= 0 {
				if n, err := strconv.Atoi(e.Message[i+1:]); err == nil {
					counts[n]++
				}
			}
		}
		if page.NextCursor == "" || len(page.Entries) == 0 {
			return counts, nil
		}
		if err := fleet.ParseLogCursor(page.NextCursor, &q); err != nil {
			return nil, err
		}
	}
}

// build builds the agent for env (GOOS/GOARCH) and returns its size.
func build(ctx context.Context, root, out string, env []string) (int64, error) {
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", "-s -w", "-o", out, "./cmd/edgesync-agent")
	cmd.Dir = root
	cmd.Env = append(append(os.Environ(), "CGO_ENABLED=0"), env...)
	if msg, err := cmd.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("build the agent (%v): %v\n%s", env, err, msg)
	}
	fi, err := os.Stat(out)
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("run it inside the edgesync module (no go.mod found)")
		}
		dir = parent
	}
}

// agentProcess is the agent binary running with a config file.
type agentProcess struct {
	cmd    *exec.Cmd
	socket string
	logs   string
	done   chan struct{}
}

// benchAckInterval is the measured agent's ack_interval.
const benchAckInterval = 15

func startAgent(ctx context.Context, bin, dir string, cfg agent.Config) (*agentProcess, error) {
	doc, _ := json.MarshalIndent(cfg, "", "  ")
	config := filepath.Join(dir, "agent.json")
	if err := os.WriteFile(config, doc, 0o600); err != nil {
		return nil, err
	}
	logs := filepath.Join(dir, "agent.log")
	out, err := os.Create(logs)
	if err != nil {
		return nil, err
	}
	a := &agentProcess{socket: filepath.Join(dir, "status.sock"), logs: logs, done: make(chan struct{})}
	a.cmd = exec.Command(bin, "-config", config, "-policy", writePolicy(dir), "-status-socket", a.socket, "-summary-interval", "0")
	a.cmd.Stdout, a.cmd.Stderr = out, out
	if err := a.cmd.Start(); err != nil {
		out.Close()
		return nil, fmt.Errorf("start the agent: %w", err)
	}
	go func() {
		a.cmd.Wait()
		out.Close()
		close(a.done)
	}()
	return a, nil
}

// writePolicy writes an empty-handed device policy (the default's keys),
// so that no file of the machine's /etc is read.
func writePolicy(dir string) string {
	path := filepath.Join(dir, "policy.json")
	doc, _ := json.Marshal(map[string]any{"remote_keys": agent.DefaultRemoteKeys})
	os.WriteFile(path, doc, 0o644)
	return path
}

func (a *agentProcess) log() string {
	b, _ := os.ReadFile(a.logs)
	return string(b)
}

func (a *agentProcess) stop() {
	select {
	case <-a.done:
		return
	default:
	}
	a.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-a.done:
	case <-time.After(20 * time.Second):
		a.cmd.Process.Kill()
		<-a.done
	}
}

func (a *agentProcess) status() (agent.LocalStatus, error) {
	var st agent.LocalStatus
	conn, err := net.DialTimeout("unix", a.socket, 5*time.Second)
	if err != nil {
		return st, err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	err = json.NewDecoder(conn).Decode(&st)
	return st, err
}

// waitFor polls the agent's status until cond holds.
func (a *agentProcess) waitFor(ctx context.Context, limit time.Duration, what string, cond func(agent.LocalStatus) bool) error {
	deadline := time.Now().Add(limit)
	for {
		select {
		case <-a.done:
			return fmt.Errorf("the agent exited while waiting for %s:\n%s", what, tail(a.log(), 2000))
		default:
		}
		if st, err := a.status(); err == nil && cond(st) {
			return nil
		}
		if time.Now().After(deadline) {
			st, err := a.status()
			return fmt.Errorf("waited %v for %s (status %+v, %v); agent log:\n%s", limit, what, st, err, tail(a.log(), 2000))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// cpu returns the process's CPU time (user + system) from /proc.
func (a *agentProcess) cpu() (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", a.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command name (which may hold spaces) in parentheses.
	i := bytes.LastIndexByte(data, ')')
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 13 {
		return 0, errors.New("short /proc stat")
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	// USER_HZ is 100 on Linux's mainstream architectures.
	return time.Duration(utime+stime) * 10 * time.Millisecond, nil
}

// rss returns the process's resident set size from /proc.
func (a *agentProcess) rss() (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", a.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("no VmRSS")
}

// dirBytes returns the sizes of the files in dir and the bytes the file
// system allocated to them.
func dirBytes(dir string) (size, allocated int64) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		fi, err := os.Stat(filepath.Join(dir, e.Name()))
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		size += fi.Size()
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			allocated += st.Blocks * 512
		}
	}
	return size, allocated
}

func median(v []int64) int64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

func machine() string {
	model := ""
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(l, "model name"); ok {
				model = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	return fmt.Sprintf("%s/%s, %d CPUs, %s, %s", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), model, runtime.Version())
}

// generator writes numbered detector lines to a log file: "#n" ends each
// message so that the lines read back can be counted.
type generator struct {
	f   *os.File
	n   int
	rnd *rand.Rand
}

func newGenerator(path string) (*generator, error) {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return nil, err
	}
	return &generator{f: f, rnd: rand.New(rand.NewPCG(1, 2))}, nil
}

func (g *generator) close() { g.f.Close() }

var words = []string{"frame", "part", "belt", "lens", "score", "queue", "camera", "plc", "conveyor", "exposure"}

// line is one detector line of 60–100 bytes with a timestamp and level.
func (g *generator) line(buf []byte) []byte {
	g.n++
	buf = time.Now().UTC().AppendFormat(buf, "2006-01-02T15:04:05.000Z")
	buf = append(buf, " INFO detector: part "...)
	buf = strconv.AppendInt(buf, int64(1000+g.n%9000), 10)
	buf = append(buf, " inspected, no defect"...)
	for k := g.rnd.IntN(4); k > 0; k-- {
		buf = append(buf, ' ')
		buf = append(buf, words[g.rnd.IntN(len(words))]...)
	}
	buf = append(buf, " #"...)
	buf = strconv.AppendInt(buf, int64(g.n), 10)
	return append(buf, '\n')
}

// burst writes n lines at once and returns their bytes.
func (g *generator) burst(n int) (int, error) {
	var buf []byte
	for range n {
		buf = g.line(buf)
	}
	return g.f.Write(buf)
}

// reference writes the reference workload for d: in each 30-second period
// but one in five, a burst of 20–50 lines at a random moment; in each
// 15-second period one isolated line (86,400 lines a day on average).
func (g *generator) reference(ctx context.Context, d time.Duration) error {
	type event struct {
		at    time.Duration
		lines int
	}
	var events []event
	for p := time.Duration(0); p < d; p += 30 * time.Second {
		if g.rnd.IntN(5) != 0 {
			events = append(events, event{p + time.Duration(g.rnd.Int64N(int64(30*time.Second))), 20 + g.rnd.IntN(31)})
		}
	}
	for p := time.Duration(0); p < d; p += 15 * time.Second {
		events = append(events, event{p + time.Duration(g.rnd.Int64N(int64(15*time.Second))), 1})
	}
	sort.Slice(events, func(i, j int) bool { return events[i].at < events[j].at })
	start := time.Now()
	for _, e := range events {
		if e.at >= d {
			continue
		}
		if err := sleepUntil(ctx, start.Add(e.at)); err != nil {
			return err
		}
		if _, err := g.burst(e.lines); err != nil {
			return err
		}
	}
	return sleepUntil(ctx, start.Add(d))
}

// sustained writes rate lines a second for d, every 10 ms.
func (g *generator) sustained(ctx context.Context, d time.Duration, rate int) error {
	start := time.Now()
	written := 0
	for tick := time.Duration(0); tick < d; tick += 10 * time.Millisecond {
		if err := sleepUntil(ctx, start.Add(tick)); err != nil {
			return err
		}
		due := int(float64(rate) * (tick + 10*time.Millisecond).Seconds())
		if _, err := g.burst(due - written); err != nil {
			return err
		}
		written = due
	}
	return sleepUntil(ctx, start.Add(d))
}

func sleepUntil(ctx context.Context, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err()
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}
