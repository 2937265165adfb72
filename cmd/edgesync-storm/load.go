package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"expvar"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/pprof"
	"net/url"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/coder/websocket"

	"github.com/edgesync/edgesync/devstack"
	"github.com/edgesync/edgesync/fleet"
	"github.com/edgesync/edgesync/protocol"
)

// The load test (-load) measures how far the local stack carries terminals
// at the reference workload on this machine. It starts the stack in a
// child process (this program with -serve), so that the stack's CPU,
// memory and profile are its own, and drives lightweight protocol clients
// from this process: each connects, says hello, answers the three pulls,
// and then, like the Go agent with its default configuration while nobody
// reads its logs, sends every status interval (30 s, at a random phase)
// one gzip-compressed logs message with the lines of that interval (30
// lines of 60–100 bytes: 86,400 a day) and its status riding along, and
// waits for the ack (resending after 10 s without one). It raises the
// number of terminals step by step until the stack saturates: acks fall
// behind the messages sent, an ack takes longer than -max-ack, connections
// fail, or the stack's process uses all the CPUs.

type loadOptions struct {
	steps    []int
	window   time.Duration
	ramp     float64
	maxAck   time.Duration
	interval time.Duration
	lines    int
	profile  time.Duration
	endpoint string
	// concurrency is the account's concurrency the stack's functions share
	// (devstack.Config.FunctionConcurrency).
	concurrency int
	out         io.Writer
}

func runLoad(ctx context.Context, args []string, out io.Writer) error {
	var o loadOptions
	var steps string
	fs := flag.NewFlagSet("edgesync-storm -load", flag.ContinueOnError)
	fs.StringVar(&steps, "steps", "4000,8000,10000,12000,14000,16000,18000", "numbers of terminals to measure, ascending (each is a file in both processes: the open-file limit bounds them)")
	fs.DurationVar(&o.window, "window", time.Minute, "measurement window of each step (a multiple of the status interval)")
	fs.Float64Var(&o.ramp, "ramp", 60, "new connections per second while adding terminals (faster ramps are storms the embedded store falls behind)")
	fs.DurationVar(&o.maxAck, "max-ack", 10*time.Second, "an ack p99 above this counts as saturated (the agent resends after its 10 s ack_timeout)")
	fs.DurationVar(&o.interval, "interval", 30*time.Second, "each terminal's logs-with-status interval (the agent's status_interval)")
	fs.IntVar(&o.lines, "lines", 30, "log lines per message (30 per 30 s is the reference 86,400 a day)")
	fs.DurationVar(&o.profile, "profile", 30*time.Second, "CPU profile of the stack during each step's window (the last healthy and the last step are printed)")
	fs.StringVar(&o.endpoint, "dynamodb-endpoint", "", "run the stack on this DynamoDB (dynalite) instead of its embedded store")
	fs.IntVar(&o.concurrency, "function-concurrency", 0, "the account's concurrency the stack's functions share, beyond which an invocation is throttled as Lambda does, DisconnectFunction's reservation apart (0: the local stack's default, 1,000; negative: unbounded, as before issue 16)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	for _, s := range strings.Split(steps, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 || (len(o.steps) > 0 && n <= o.steps[len(o.steps)-1]) {
			return fmt.Errorf("-steps: want ascending positive numbers, got %q", steps)
		}
		o.steps = append(o.steps, n)
	}
	if o.window < o.interval {
		return fmt.Errorf("-window %v is shorter than the interval %v", o.window, o.interval)
	}
	if o.endpoint != "" {
		if err := loopbackOnly(o.endpoint); err != nil {
			return fmt.Errorf("-dynamodb-endpoint: %w", err)
		}
	}
	o.out = out
	return loadTest(ctx, o)
}

// child is the stack's process.
type child struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	ready serveReady
}

// serveReady is what the -serve process prints once it serves.
type serveReady struct {
	WSURL      string `json:"wsURL"`
	ControlURL string `json:"controlURL"`
	PID        int    `json:"pid"`
}

func startChild(ctx context.Context, o loadOptions) (*child, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	args := []string{"-serve", "-function-concurrency", strconv.Itoa(o.concurrency)}
	if o.endpoint != "" {
		args = append(args, "-dynamodb-endpoint", o.endpoint)
	}
	cmd := exec.CommandContext(ctx, exe, args...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the stack process: %w", err)
	}
	c := &child{cmd: cmd, stdin: stdin}
	line, err := bufio.NewReader(stdout).ReadBytes('\n')
	if err != nil {
		c.stop()
		return nil, fmt.Errorf("the stack process did not start: %w", err)
	}
	if err := json.Unmarshal(line, &c.ready); err != nil {
		c.stop()
		return nil, fmt.Errorf("the stack process said %q: %w", line, err)
	}
	return c, nil
}

// stop ends the stack process: closing its standard input asks it to
// close the stack; it is killed if it has not exited after 30 s.
func (c *child) stop() {
	c.stdin.Close()
	done := make(chan struct{})
	go func() { c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		c.cmd.Process.Kill()
		<-done
	}
}

// control calls the stack process's control port: registering thousands
// of terminals takes minutes; the rest answers at once unless the stack
// has collapsed, when the measurement goes on without it.
var (
	registerClient = &http.Client{Timeout: 15 * time.Minute}
	controlClient  = &http.Client{Timeout: time.Minute}
)

// register asks the stack process for tokens of terminals load-1 … load-n.
func (c *child) register(ctx context.Context, n int) ([]string, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, c.ready.ControlURL+"/register?n="+strconv.Itoa(n), nil)
	resp, err := registerClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var tokens []string
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return nil, fmt.Errorf("register: %s: %s", resp.Status, b)
	}
	return tokens, json.NewDecoder(resp.Body).Decode(&tokens)
}

// memstats reads the stack process's Go memory (expvar).
func (c *child) memstats(ctx context.Context) (runtime.MemStats, error) {
	var v struct {
		MemStats runtime.MemStats `json:"memstats"`
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.ready.ControlURL+"/debug/vars", nil)
	resp, err := controlClient.Do(req)
	if err != nil {
		return v.MemStats, err
	}
	defer resp.Body.Close()
	return v.MemStats, json.NewDecoder(resp.Body).Decode(&v)
}

// gc runs a collection in the stack process, so that memory figures are
// of live data.
func (c *child) gc(ctx context.Context) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, c.ready.ControlURL+"/gc", nil)
	if resp, err := controlClient.Do(req); err == nil {
		resp.Body.Close()
	}
}

// procCPU is the CPU time a process used so far (/proc/<pid>/stat).
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command's closing parenthesis; utime and stime are
	// fields 14 and 15 of the line, 12 and 13 after it.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	const ticks = 100 // USER_HZ on Linux
	return time.Duration(ut+st) * time.Second / ticks, nil
}

// procRSS is a process's resident memory (/proc/<pid>/status VmRSS).
func procRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("no VmRSS")
}

// loadClient is one simulated terminal of the load test.
type loadClient struct {
	id, token string
	seq       uint64
}

// loadStats are the clients' counters.
type loadStats struct {
	sent, acked, resent, failures atomic.Int64
	// refused counts API Gateway's error frames (a message whose
	// invocation failed or was throttled: "Internal server error").
	refused   atomic.Int64
	mu        sync.Mutex
	acks      []time.Duration
	measuring atomic.Bool
	failKinds map[string]int
}

func (s *loadStats) fail(err error) {
	s.failures.Add(1)
	s.mu.Lock()
	s.failKinds[kind(err)]++
	s.mu.Unlock()
}

func (s *loadStats) ack(d time.Duration) {
	if !s.measuring.Load() {
		return
	}
	s.acked.Add(1)
	s.mu.Lock()
	s.acks = append(s.acks, d)
	s.mu.Unlock()
}

// stepResult is one step's measurement.
type stepResult struct {
	terminals                int
	offered, sentRate, acked float64
	ackP50, ackP99           time.Duration
	cpu, clientCPU           float64 // cores
	rss, heap                int64
	rssPer, heapPer          float64 // bytes per connection over the idle stack
	resent, failures         int64
	refused                  int64 // error frames: throttled or failed invocations
	saturated                string
	profile                  []byte // CPU profile of the stack during the window
}

func loadTest(ctx context.Context, o loadOptions) error {
	raiseFileLimit()
	c, err := startChild(ctx, o)
	if err != nil {
		return err
	}
	defer c.stop()
	// Register every terminal first: registering while the stack is loaded
	// would add its writes to the measurement.
	regStart := time.Now()
	tokens, err := c.register(ctx, o.steps[len(o.steps)-1])
	if err != nil {
		return err
	}
	fmt.Fprintf(o.out, "registered %d terminals in %v\n", len(tokens), time.Since(regStart).Round(time.Second))
	c.gc(ctx)
	time.Sleep(time.Second)
	baseRSS, _ := procRSS(c.ready.PID)
	baseMem, _ := c.memstats(ctx)
	conc := "the stack's default"
	switch {
	case o.concurrency > 0:
		conc = strconv.Itoa(o.concurrency)
	case o.concurrency < 0:
		conc = "unbounded"
	}
	fmt.Fprintf(o.out, "stack process %d: %s; idle: RSS %.1f MiB, Go heap %.1f MiB; function concurrency %s; terminals added at %.0f/s, each sending %d lines every %v, measured over %v\n",
		c.ready.PID, c.ready.WSURL, mib(baseRSS), mib(int64(baseMem.HeapInuse+baseMem.StackInuse)), conc, o.ramp, o.lines, o.interval, o.window)

	stats := &loadStats{failKinds: map[string]int{}}
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var clients []*loadClient
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	var results []stepResult
	for i, n := range o.steps {
		// Add terminals at the ramp rate.
		start, added := time.Now(), 0
		for j := len(clients); j < n; j++ {
			cl := &loadClient{id: fmt.Sprintf("load-%d", j+1), token: tokens[j]}
			clients = append(clients, cl)
			wg.Add(1)
			go func() {
				defer wg.Done()
				cl.run(lctx, c.ready.WSURL, o, stats)
			}()
			added++
			if d := time.Until(start.Add(time.Duration(float64(added) / o.ramp * float64(time.Second)))); d > 0 {
				time.Sleep(d)
			}
		}
		// Let every terminal send at least once before measuring.
		time.Sleep(o.interval / 3)
		last := i == len(o.steps)-1
		prof := make(chan []byte, 1)
		go func() { prof <- fetchProfile(ctx, c, min(o.profile, o.window-time.Second)) }()
		r := measure(ctx, c, o, stats, n, baseRSS, baseMem)
		r.profile = <-prof
		results = append(results, r)
		printStep(o.out, r)
		if r.saturated != "" || last {
			break
		}
	}
	// Where the time goes: the last step that kept up, and the one that did not.
	for i := max(0, len(results)-2); i < len(results); i++ {
		r := results[i]
		state := "kept up"
		if r.saturated != "" {
			state = "saturated"
		}
		if err := printProfile(ctx, o, r.profile, fmt.Sprintf("%d terminals, %s", r.terminals, state)); err != nil {
			fmt.Fprintf(o.out, "profile of %d terminals: %v\n", r.terminals, err)
		}
	}
	writeLoadReport(o.out, o, results, stats)
	return nil
}

func measure(ctx context.Context, c *child, o loadOptions, stats *loadStats, n int, baseRSS int64, baseMem runtime.MemStats) stepResult {
	r := stepResult{terminals: n, offered: float64(n) / o.interval.Seconds()}
	stats.mu.Lock()
	stats.acks = stats.acks[:0]
	stats.mu.Unlock()
	stats.acked.Store(0)
	sent0, resent0, fail0, refused0 := stats.sent.Load(), stats.resent.Load(), stats.failures.Load(), stats.refused.Load()
	cpu0, _ := procCPU(c.ready.PID)
	self0, _ := procCPU(os.Getpid())
	stats.measuring.Store(true)
	t0 := time.Now()
	select {
	case <-ctx.Done():
	case <-time.After(o.window):
	}
	stats.measuring.Store(false)
	el := time.Since(t0)
	cpu1, _ := procCPU(c.ready.PID)
	self1, _ := procCPU(os.Getpid())
	r.cpu = (cpu1 - cpu0).Seconds() / el.Seconds()
	r.clientCPU = (self1 - self0).Seconds() / el.Seconds()
	r.sentRate = float64(stats.sent.Load()-sent0) / el.Seconds()
	r.acked = float64(stats.acked.Load()) / el.Seconds()
	r.resent = stats.resent.Load() - resent0
	r.failures = stats.failures.Load() - fail0
	r.refused = stats.refused.Load() - refused0
	stats.mu.Lock()
	acks := slices.Clone(stats.acks)
	stats.mu.Unlock()
	slices.Sort(acks)
	if len(acks) > 0 {
		r.ackP50 = acks[len(acks)/2]
		r.ackP99 = acks[min(len(acks)-1, len(acks)*99/100)]
	}
	c.gc(ctx)
	r.rss, _ = procRSS(c.ready.PID)
	mem, _ := c.memstats(ctx)
	r.heap = int64(mem.HeapInuse + mem.StackInuse)
	r.rssPer = float64(r.rss-baseRSS) / float64(n)
	r.heapPer = float64(r.heap-int64(baseMem.HeapInuse+baseMem.StackInuse)) / float64(n)
	switch {
	case r.acked < 0.95*r.offered:
		r.saturated = fmt.Sprintf("acks %.0f/s behind the %.0f/s offered", r.acked, r.offered)
	case r.ackP99 > o.maxAck:
		r.saturated = fmt.Sprintf("ack p99 %v above %v", r.ackP99.Round(time.Millisecond), o.maxAck)
	case r.failures > int64(n)/100:
		r.saturated = fmt.Sprintf("%d client failures", r.failures)
	case r.cpu >= 0.9*float64(runtime.NumCPU()):
		r.saturated = fmt.Sprintf("stack process at %.2f of %d CPUs", r.cpu, runtime.NumCPU())
	}
	return r
}

func printStep(w io.Writer, r stepResult) {
	fmt.Fprintf(w, "%6d terminals: offered %.0f msg/s, acked %.0f/s, ack p50 %v p99 %v, stack CPU %.2f, clients CPU %.2f, RSS %.0f MiB (%.1f KiB/conn), heap+stacks %.0f MiB (%.1f KiB/conn), resent %d, refused (error frames) %d, failures %d %s\n",
		r.terminals, r.offered, r.acked, r.ackP50.Round(time.Millisecond), r.ackP99.Round(time.Millisecond), r.cpu, r.clientCPU,
		mib(r.rss), r.rssPer/1024, mib(r.heap), r.heapPer/1024, r.resent, r.refused, r.failures, r.saturated)
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// fetchProfile takes a CPU profile of the stack process over d (nil if
// it cannot).
func fetchProfile(ctx context.Context, c *child, d time.Duration) []byte {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", c.ready.ControlURL, max(1, int(d.Seconds()))), nil)
	resp, err := (&http.Client{Timeout: d + time.Minute}).Do(req)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return nil
	}
	return b
}

// printProfile prints a profile's top functions by own and cumulative
// time (go tool pprof).
func printProfile(ctx context.Context, o loadOptions, profile []byte, what string) error {
	if profile == nil {
		return errors.New("no profile")
	}
	f, err := os.CreateTemp("", "edgesync-stack-*.pprof")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(profile); err != nil {
		return err
	}
	f.Close()
	for _, cum := range []bool{false, true} {
		args := []string{"tool", "pprof", "-top", "-nodecount=25"}
		if cum {
			args = append(args, "-cum")
		}
		out, err := exec.CommandContext(ctx, "go", append(args, f.Name())...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("go tool pprof: %v: %s", err, out)
		}
		fmt.Fprintf(o.out, "\nCPU profile of the stack process, %s (go tool pprof %s):\n```\n%s```\n", what, strings.Join(args[2:], " "), trimPprof(out))
	}
	return nil
}

// trimPprof drops pprof's header lines about the file.
func trimPprof(out []byte) string {
	var b strings.Builder
	for _, line := range strings.SplitAfter(string(out), "\n") {
		if strings.HasPrefix(line, "File:") || strings.HasPrefix(line, "Build ID:") || strings.HasPrefix(line, "Type:") || strings.HasPrefix(line, "Time:") {
			continue
		}
		b.WriteString(line)
	}
	return b.String()
}

func writeLoadReport(w io.Writer, o loadOptions, rs []stepResult, stats *loadStats) {
	fmt.Fprintf(w, "\n| terminals | offered msg/s | acked/s | ack p50 | ack p99 | stack CPU (cores) | clients CPU | stack RSS | RSS per connection | Go heap + stacks per connection | resent | error frames | failures | saturated |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
	for _, r := range rs {
		fmt.Fprintf(w, "| %d | %.0f | %.0f | %v | %v | %.2f | %.2f | %.0f MiB | %.1f KiB | %.1f KiB | %d | %d | %d | %s |\n",
			r.terminals, r.offered, r.acked, r.ackP50.Round(time.Millisecond), r.ackP99.Round(time.Millisecond), r.cpu, r.clientCPU,
			mib(r.rss), r.rssPer/1024, r.heapPer/1024, r.resent, r.refused, r.failures, r.saturated)
	}
	stats.mu.Lock()
	defer stats.mu.Unlock()
	if len(stats.failKinds) > 0 {
		fmt.Fprintf(w, "\nClient failures by kind:\n")
		for k, v := range stats.failKinds {
			fmt.Fprintf(w, "  %6d  %s\n", v, k)
		}
	}
}

// run is one simulated terminal: connect, hello, answer the pulls, then a
// logs message with status every interval until ctx ends. A lost
// connection is counted and redialled after a second.
func (cl *loadClient) run(ctx context.Context, wsURL string, o loadOptions, stats *loadStats) {
	rng := rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	for ctx.Err() == nil {
		err := cl.session(ctx, wsURL, o, stats, rng)
		if ctx.Err() != nil {
			return
		}
		stats.fail(err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second + time.Duration(rng.Float64()*float64(time.Second))):
		}
	}
}

func (cl *loadClient) session(ctx context.Context, wsURL string, o loadOptions, stats *loadStats, rng *rand.Rand) error {
	conn, _, err := websocket.Dial(ctx, wsURL+"?terminal_id="+url.QueryEscape(cl.id), &websocket.DialOptions{
		HTTPHeader: http.Header{"Authorization": {"Bearer " + cl.token}},
	})
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.CloseNow()
	conn.SetReadLimit(protocol.MaxMessageBytes)
	hello := fmt.Sprintf(`{"type":"hello","terminal_id":%q,"agent_version":"load","request_id":"hello","last_ack_seq":%d}`, cl.id, cl.seq)
	if err := conn.Write(ctx, websocket.MessageText, []byte(hello)); err != nil {
		return fmt.Errorf("send hello: %w", err)
	}
	type pending struct {
		at   time.Time
		msg  []byte
		sent int
	}
	var mu sync.Mutex
	inflight := map[uint64]*pending{}
	readErr := make(chan error, 1)
	go func() {
		for {
			_, data, err := conn.Read(ctx)
			if err != nil {
				readErr <- err
				return
			}
			var m struct {
				Type      string `json:"type"`
				RequestID string `json:"request_id"`
				Command   string `json:"command"`
				LastSeq   uint64 `json:"last_seq"`
				Code      string `json:"code"`
				Message   string `json:"message"`
			}
			if json.Unmarshal(data, &m) != nil {
				continue
			}
			switch m.Type {
			case protocol.TypeCommand:
				answer, ok := answers[m.Command]
				if !ok {
					answer = `{}`
				}
				msg := fmt.Sprintf(`{"type":"command_response","request_id":%q,"command":%q,"success":true,"result":%s}`, m.RequestID, m.Command, answer)
				if err := conn.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
					readErr <- fmt.Errorf("answer %s: %w", m.Command, err)
					return
				}
			case protocol.TypeAck:
				mu.Lock()
				if p, ok := inflight[m.LastSeq]; ok {
					if p.sent == 1 {
						stats.ack(time.Since(p.at))
					}
					delete(inflight, m.LastSeq)
				}
				mu.Unlock()
			case protocol.TypeError:
				readErr <- fmt.Errorf("server error %s: %s", m.Code, m.Message)
				return
			case "":
				// API Gateway's own frame: the message's invocation failed
				// or was throttled. Like the agent, the client resends
				// what stays unacknowledged.
				if m.Message != "" {
					stats.refused.Add(1)
				}
			}
		}
	}()
	// The first message at a random phase of the interval, as a fleet's
	// status timers are.
	next := time.Now().Add(time.Duration(rng.Float64() * float64(o.interval)))
	resend := time.NewTicker(time.Second)
	defer resend.Stop()
	timer := time.NewTimer(time.Until(next))
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-readErr:
			return fmt.Errorf("read: %w", err)
		case <-timer.C:
			msg, last, err := cl.logsMessage(o.lines, rng)
			if err != nil {
				return err
			}
			mu.Lock()
			inflight[last] = &pending{at: time.Now(), msg: msg, sent: 1}
			mu.Unlock()
			if err := conn.Write(ctx, websocket.MessageText, msg); err != nil {
				return fmt.Errorf("send logs: %w", err)
			}
			stats.sent.Add(1)
			next = next.Add(o.interval)
			timer.Reset(time.Until(next))
		case <-resend.C:
			// Like the agent: a batch unacknowledged for 10 s is sent again.
			mu.Lock()
			var again [][]byte
			for _, p := range inflight {
				if time.Since(p.at) >= 10*time.Second {
					p.at, p.sent = time.Now(), p.sent+1
					again = append(again, p.msg)
				}
			}
			mu.Unlock()
			for _, m := range again {
				stats.resent.Add(1)
				if err := conn.Write(ctx, websocket.MessageText, m); err != nil {
					return fmt.Errorf("resend logs: %w", err)
				}
			}
		}
	}
}

// logsMessage builds the next logs message: n lines of detector output of
// 60–100 bytes, gzip-compressed as the agent sends them, with the status
// riding along.
func (cl *loadClient) logsMessage(n int, rng *rand.Rand) ([]byte, uint64, error) {
	entries := make([]protocol.LogEntry, n)
	now := time.Now().UTC()
	for i := range entries {
		cl.seq++
		msg := fmt.Sprintf("detector cam-%d frame %d: object=person score=0.%03d bbox=%d,%d,%d,%d", rng.IntN(8), cl.seq, rng.IntN(1000), rng.IntN(1920), rng.IntN(1080), rng.IntN(400), rng.IntN(400))
		if pad := 60 + rng.IntN(41) - len(msg); pad > 0 {
			msg += strings.Repeat(" ", pad)
		}
		entries[i] = protocol.LogEntry{Seq: cl.seq, Time: now, Level: "info", Message: msg}
	}
	data, err := protocol.CompressEntries(entries)
	if err != nil {
		return nil, 0, err
	}
	first, last := entries[0].Seq, entries[n-1].Seq
	msg, err := protocol.Encode(protocol.Logs{
		Type: protocol.TypeLogs, RequestID: fmt.Sprintf("logs:%d-%d", first, last), Encoding: "gzip", Data: data,
		Status: json.RawMessage(fmt.Sprintf(`{"cpu_percent":%d,"memory_percent":%d,"uptime_s":%d}`, rng.IntN(100), rng.IntN(100), cl.seq)),
	})
	return msg, last, err
}

// raiseFileLimit lifts the open-file limit to its hard limit: every
// connection is a file in each process.
func raiseFileLimit() {
	var l syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l) == nil && l.Cur < l.Max {
		l.Cur = l.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
	}
}

// serve is the stack's process of the load test (-serve): the local stack
// in process, its embedded store (or DynamoDB at -dynamodb-endpoint), and
// on a loopback control port net/http/pprof, expvar (/debug/vars), POST
// /gc and POST /register?n= (tokens of load-1 … load-n). It prints its
// addresses as one JSON line and serves until its standard input closes.
func serve(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("edgesync-storm -serve", flag.ContinueOnError)
	endpoint := fs.String("dynamodb-endpoint", "", "DynamoDB endpoint (default: the embedded store)")
	concurrency := fs.Int("function-concurrency", 0, "the account's concurrency the functions share (devstack.Config.FunctionConcurrency)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	raiseFileLimit()
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})))
	dir, err := os.MkdirTemp("", "edgesync-load-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	s, err := devstack.Start(ctx, devstack.Config{
		HTTPAddr: "127.0.0.1:0", WSAddr: "127.0.0.1:0", DataDir: dir, DynamoDBEndpoint: *endpoint,
		FunctionConcurrency: *concurrency,
		Logger:              slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		return fmt.Errorf("start the local stack: %w", err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		s.Close(cctx)
	}()
	var mu sync.Mutex
	var tokens []string
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.Handle("/debug/vars", expvar.Handler())
	mux.HandleFunc("POST /gc", func(w http.ResponseWriter, _ *http.Request) { runtime.GC() })
	mux.HandleFunc("POST /register", func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.Atoi(r.URL.Query().Get("n"))
		if err != nil || n < 1 {
			http.Error(w, "n: want a positive number", http.StatusBadRequest)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		from := len(tokens)
		if n > from {
			tokens = append(tokens, make([]string, n-from)...)
			if err := registerRange(r.Context(), s.Admin(), tokens, from, n); err != nil {
				tokens = tokens[:from]
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
		}
		json.NewEncoder(w).Encode(tokens[:n])
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()
	ready, _ := json.Marshal(serveReady{WSURL: s.WSURL, ControlURL: "http://" + ln.Addr().String(), PID: os.Getpid()})
	fmt.Fprintf(out, "%s\n", ready)
	// Serve until the parent closes standard input (or dies).
	_, _ = io.Copy(io.Discard, os.Stdin)
	return nil
}

// registerRange creates terminals load-(from+1) … load-to, eight at a time.
func registerRange(ctx context.Context, admin *fleet.Service, tokens []string, from, to int) error {
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	next := atomic.Int64{}
	next.Store(int64(from))
	for range 8 {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= to {
					return
				}
				id := fmt.Sprintf("load-%d", i+1)
				token, err := admin.CreateTerminal(ctx, fleet.System("load"), id, "", []string{"load"})
				if errors.Is(err, fleet.ErrExists) {
					token, err = admin.RotateToken(ctx, fleet.System("load"), id, 0)
				}
				if err != nil {
					errs <- fmt.Errorf("register %s: %w", id, err)
					return
				}
				tokens[i] = token
			}
		})
	}
	wg.Wait()
	close(errs)
	return <-errs
}
