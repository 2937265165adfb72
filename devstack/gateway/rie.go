package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// RIEPackage and RIEVersion identify the aws-lambda-runtime-interface-emulator
// build RIEInvoker is tested with. The module publishes no tagged releases, so
// the version is a pseudo-version. It is a tool, not a dependency of this
// module: install it with RIEInstallCommand.
const (
	RIEPackage        = "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie"
	RIEVersion        = "v0.0.0-20261030222936-bef5c4ba774d"
	RIEInstallCommand = "go install " + RIEPackage + "@" + RIEVersion
)

// Defaults for RIEConfig and RIEFunction.
const (
	DefaultRIEMaxProcesses    = 10
	DefaultRIEStartTimeout    = 10 * time.Second
	DefaultRIEFunctionTimeout = 30 * time.Second
)

// ErrRIENotFound is returned (wrapped) by LookRIE when no aws-lambda-rie
// executable is found.
var ErrRIENotFound = errors.New("aws-lambda-rie not found")

// LookRIE finds the aws-lambda-rie executable: $AWS_LAMBDA_RIE if set, else
// tools/bin/aws-lambda-rie of the module the working directory is in (where
// `make tools` puts it), else aws-lambda-rie on $PATH, else in $GOBIN or
// $GOPATH/bin (where go install puts it). The error wraps ErrRIENotFound and
// says how to install it.
func LookRIE() (string, error) {
	if p := os.Getenv("AWS_LAMBDA_RIE"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("find aws-lambda-rie: %w: AWS_LAMBDA_RIE=%s: %w", ErrRIENotFound, p, err)
		}
		return p, nil
	}
	if root, ok := moduleRoot(); ok {
		p := filepath.Join(root, "tools", "bin", "aws-lambda-rie")
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p, nil
		}
	}
	if p, err := exec.LookPath("aws-lambda-rie"); err == nil {
		return p, nil
	}
	var dirs []string
	if gobin := os.Getenv("GOBIN"); gobin != "" {
		dirs = append(dirs, gobin)
	}
	if gopath := os.Getenv("GOPATH"); gopath != "" {
		for _, p := range filepath.SplitList(gopath) {
			dirs = append(dirs, filepath.Join(p, "bin"))
		}
	} else if home, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, filepath.Join(home, "go", "bin"))
	}
	for _, d := range dirs {
		p := filepath.Join(d, "aws-lambda-rie")
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p, nil
		}
	}
	return "", fmt.Errorf("find aws-lambda-rie: %w in $AWS_LAMBDA_RIE, tools/bin, $PATH, $GOBIN or $GOPATH/bin; install it with `make tools` or: %s", ErrRIENotFound, RIEInstallCommand)
}

// moduleRoot walks up from the working directory to the directory holding
// go.mod.
func moduleRoot() (string, bool) {
	dir, err := os.Getwd()
	if err != nil {
		return "", false
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, true
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", false
		}
		dir = parent
	}
}

// RIEFunction describes one function run by RIEInvoker.
type RIEFunction struct {
	// Bootstrap is the path of the function's bootstrap executable (the
	// provided.al2023 custom runtime entry point). The process runs in its
	// directory, as Lambda runs it in /var/task.
	Bootstrap string
	// Env is the function's environment. The emulator process gets the
	// caller's environment plus Env (Env wins) and passes all of it to the
	// bootstrap, plus AWS_LAMBDA_FUNCTION_NAME and AWS_LAMBDA_FUNCTION_TIMEOUT.
	Env map[string]string
	// Timeout is the function timeout, rounded up to whole seconds
	// (zero: DefaultRIEFunctionTimeout; Lambda's own default is 3 s, so set it
	// from the template).
	Timeout time.Duration
}

// RIEConfig configures an RIEInvoker.
type RIEConfig struct {
	// Path is the aws-lambda-rie executable (empty: LookRIE).
	Path string
	// Functions maps function names to their bootstrap and environment.
	Functions map[string]RIEFunction
	// MaxProcesses bounds the emulator processes per function, hence the
	// concurrent invocations of one function (zero: DefaultRIEMaxProcesses).
	// Further invocations wait for a process to become free.
	MaxProcesses int
	// StartTimeout bounds the start of one emulator process (zero:
	// DefaultRIEStartTimeout).
	StartTimeout time.Duration
	// Logger receives the functions' output (Info) and the emulator's own
	// log lines (Debug) (nil: slog.Default()).
	Logger *slog.Logger
}

// ColdStart records the first invocation of one emulator process, which is
// when RIE starts the bootstrap and runs its init phase.
type ColdStart struct {
	// Function is the function name.
	Function string
	// At is when the first invocation started.
	At time.Time
	// InitDuration is the init phase as RIE reports it in its
	// "INIT REPORT(durationMs: …)" log line (bootstrap start until the runtime
	// asks for its first event, Lambda's "Init Duration"), or failing that the
	// "Init Duration" of its REPORT line; zero if RIE reported neither.
	InitDuration time.Duration
	// FirstInvoke is the wall time of the first invocation seen from the
	// invoker: process start, init, handler and HTTP round trip.
	FirstInvoke time.Duration
}

// RIEInvoker is an Invoker that runs each function's real bootstrap binary
// under aws-lambda-runtime-interface-emulator (RIE), proving the Lambda
// binaries themselves work. RIE runs one invocation at a time, so RIEInvoker
// keeps a pool of RIE processes per function, started on demand up to
// MaxProcesses, each on its own pair of loopback ports. A process whose
// invocation timed out, crashed or was cancelled is killed and replaced on
// the next demand. Close kills every process.
//
// RIE answers a function error with status 200 and a body
// {"errorMessage": …, "errorType": …}; RIEInvoker turns a response object
// with exactly those keys (and optionally "stackTrace") into a *FunctionError.
type RIEInvoker struct {
	path         string
	startTimeout time.Duration
	log          *slog.Logger
	pools        map[string]*riePool
	client       *http.Client
	transport    *http.Transport

	mu         sync.Mutex
	closed     bool
	done       chan struct{}
	coldStarts []*ColdStart
}

type riePool struct {
	name  string
	fn    RIEFunction
	slots chan struct{} // one token per running invocation

	mu   sync.Mutex
	idle []*rieProcess
	all  map[*rieProcess]struct{}
}

// NewRIEInvoker checks cfg and returns an invoker; no process starts before
// the first invocation.
func NewRIEInvoker(cfg RIEConfig) (*RIEInvoker, error) {
	path := cfg.Path
	if path == "" {
		p, err := LookRIE()
		if err != nil {
			return nil, err
		}
		path = p
	}
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("new RIE invoker: aws-lambda-rie: %w (install it with: %s)", err, RIEInstallCommand)
	}
	if len(cfg.Functions) == 0 {
		return nil, errors.New("new RIE invoker: no functions")
	}
	maxProcs := cfg.MaxProcesses
	if maxProcs <= 0 {
		maxProcs = DefaultRIEMaxProcesses
	}
	inv := &RIEInvoker{
		path:         path,
		startTimeout: cfg.StartTimeout,
		log:          cfg.Logger,
		pools:        make(map[string]*riePool, len(cfg.Functions)),
		done:         make(chan struct{}),
	}
	if inv.startTimeout <= 0 {
		inv.startTimeout = DefaultRIEStartTimeout
	}
	if inv.log == nil {
		inv.log = slog.Default()
	}
	inv.transport = &http.Transport{MaxIdleConnsPerHost: 1, IdleConnTimeout: time.Minute}
	inv.client = &http.Client{Transport: inv.transport}
	for name, fn := range cfg.Functions {
		if fn.Bootstrap == "" {
			return nil, fmt.Errorf("new RIE invoker: function %s: no bootstrap", name)
		}
		abs, err := filepath.Abs(fn.Bootstrap)
		if err != nil {
			return nil, fmt.Errorf("new RIE invoker: function %s: bootstrap %s: %w", name, fn.Bootstrap, err)
		}
		fi, err := os.Stat(abs)
		if err != nil {
			return nil, fmt.Errorf("new RIE invoker: function %s: %w", name, err)
		}
		if fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
			return nil, fmt.Errorf("new RIE invoker: function %s: bootstrap %s is not an executable file", name, abs)
		}
		fn.Bootstrap = abs
		if fn.Timeout <= 0 {
			fn.Timeout = DefaultRIEFunctionTimeout
		}
		inv.pools[name] = &riePool{
			name:  name,
			fn:    fn,
			slots: make(chan struct{}, maxProcs),
			all:   make(map[*rieProcess]struct{}),
		}
	}
	return inv, nil
}

// Invoke runs function in an idle emulator process, starting one if none is
// idle and fewer than MaxProcesses run, else waiting for one to be free.
func (inv *RIEInvoker) Invoke(ctx context.Context, function string, payload []byte) ([]byte, error) {
	pool, ok := inv.pools[function]
	if !ok {
		return nil, fmt.Errorf("invoke %s: %w", function, ErrUnknownFunction)
	}
	select {
	case pool.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("invoke %s: waiting for a free process: %w", function, ctx.Err())
	case <-inv.done:
		return nil, fmt.Errorf("invoke %s: invoker closed", function)
	}
	defer func() { <-pool.slots }()

	p := pool.take()
	if p == nil {
		var err error
		p, err = inv.start(ctx, pool)
		if err != nil {
			return nil, fmt.Errorf("invoke %s: %w", function, err)
		}
	}
	out, keep, err := inv.invokeProcess(ctx, p, payload)
	if keep {
		pool.put(p)
	} else {
		pool.remove(p)
		p.kill()
	}
	if err != nil {
		return nil, fmt.Errorf("invoke %s: %w", function, err)
	}
	return out, nil
}

// Processes returns the number of running emulator processes per function.
func (inv *RIEInvoker) Processes() map[string]int {
	n := make(map[string]int, len(inv.pools))
	for name, pool := range inv.pools {
		pool.mu.Lock()
		n[name] = len(pool.all)
		pool.mu.Unlock()
	}
	return n
}

// ColdStarts returns the cold starts so far, oldest first.
func (inv *RIEInvoker) ColdStarts() []ColdStart {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	out := make([]ColdStart, 0, len(inv.coldStarts))
	for _, c := range inv.coldStarts {
		out = append(out, *c)
	}
	return out
}

// Close kills every emulator process (and its bootstrap) and waits for them
// to exit. Invocations in flight fail; later ones fail at once.
func (inv *RIEInvoker) Close() error {
	inv.mu.Lock()
	if inv.closed {
		inv.mu.Unlock()
		return nil
	}
	inv.closed = true
	close(inv.done)
	inv.mu.Unlock()
	for _, pool := range inv.pools {
		pool.mu.Lock()
		procs := make([]*rieProcess, 0, len(pool.all))
		for p := range pool.all {
			procs = append(procs, p)
		}
		pool.all = map[*rieProcess]struct{}{}
		pool.idle = nil
		pool.mu.Unlock()
		for _, p := range procs {
			p.kill()
		}
	}
	inv.transport.CloseIdleConnections()
	return nil
}

func (pool *riePool) take() *rieProcess {
	pool.mu.Lock()
	defer pool.mu.Unlock()
	for len(pool.idle) > 0 {
		p := pool.idle[len(pool.idle)-1]
		pool.idle = pool.idle[:len(pool.idle)-1]
		if p.alive() {
			return p
		}
		delete(pool.all, p)
	}
	return nil
}

func (pool *riePool) put(p *rieProcess) {
	pool.mu.Lock()
	defer pool.mu.Unlock()
	if _, ok := pool.all[p]; !ok { // the invoker was closed meanwhile
		go p.kill()
		return
	}
	pool.idle = append(pool.idle, p)
}

func (pool *riePool) remove(p *rieProcess) {
	pool.mu.Lock()
	defer pool.mu.Unlock()
	delete(pool.all, p)
}

// rieProcess is one aws-lambda-rie process and the bootstrap it runs.
type rieProcess struct {
	function string
	cmd      *exec.Cmd
	url      string
	exited   chan struct{}
	waitErr  error
	stderr   *tailBuffer

	invoked    bool // only touched by the invocation holding the process
	noReport   bool // likewise
	initSeen   chan struct{}
	reportSeen chan struct{}
	mu         sync.Mutex
	initDur    time.Duration
	haveInit   bool
}

func (p *rieProcess) alive() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

func (p *rieProcess) kill() {
	if p.alive() {
		killProcessTree(p.cmd, p.exited)
	}
	<-p.exited
}

func (inv *RIEInvoker) start(ctx context.Context, pool *riePool) (*rieProcess, error) {
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		p, err := inv.startOnce(ctx, pool)
		if err == nil {
			return p, nil
		}
		lastErr = err
		if ctx.Err() != nil {
			break
		}
		select {
		case <-inv.done:
			return nil, errors.New("invoker closed")
		default:
		}
	}
	return nil, lastErr
}

func (inv *RIEInvoker) startOnce(ctx context.Context, pool *riePool) (*rieProcess, error) {
	ports, err := freePorts(2)
	if err != nil {
		return nil, fmt.Errorf("start aws-lambda-rie: %w", err)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0]))
	apiAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[1]))
	cmd := exec.Command(inv.path,
		"--log-level", "info",
		"--runtime-interface-emulator-address", addr,
		"--runtime-api-address", apiAddr,
		pool.fn.Bootstrap)
	cmd.Dir = filepath.Dir(pool.fn.Bootstrap)
	cmd.Env = functionEnv(pool.name, pool.fn)
	cmd.WaitDelay = 2 * time.Second
	setProcessGroup(cmd)
	p := &rieProcess{
		function:   pool.name,
		cmd:        cmd,
		url:        "http://" + addr + "/2015-03-31/functions/function/invocations",
		exited:     make(chan struct{}),
		stderr:     &tailBuffer{max: 4096},
		initSeen:   make(chan struct{}),
		reportSeen: make(chan struct{}, 1),
	}
	cmd.Stdout = &lineWriter{line: func(l string) { inv.stdoutLine(p, l) }}
	cmd.Stderr = &lineWriter{line: func(l string) {
		p.stderr.add(l)
		inv.stderrLine(p, l)
	}}

	// Register before starting so Close always sees the process.
	pool.mu.Lock()
	inv.mu.Lock()
	closed := inv.closed
	inv.mu.Unlock()
	if closed {
		pool.mu.Unlock()
		return nil, errors.New("invoker closed")
	}
	if err := cmd.Start(); err != nil {
		pool.mu.Unlock()
		return nil, fmt.Errorf("start aws-lambda-rie: %w", err)
	}
	pool.all[p] = struct{}{}
	pool.mu.Unlock()
	go func() {
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()

	fail := func(err error) (*rieProcess, error) {
		pool.remove(p)
		p.kill()
		return nil, err
	}
	deadline := time.NewTimer(inv.startTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			conn.Close()
			inv.log.Debug("aws-lambda-rie started", "function", pool.name, "address", addr, "pid", cmd.Process.Pid)
			return p, nil
		}
		select {
		case <-p.exited:
			<-p.exited
			return fail(fmt.Errorf("aws-lambda-rie for %s exited at start (%v): %s", pool.name, p.waitErr, p.stderr.String()))
		case <-deadline.C:
			return fail(fmt.Errorf("aws-lambda-rie for %s did not listen on %s within %s: %s", pool.name, addr, inv.startTimeout, p.stderr.String()))
		case <-ctx.Done():
			return fail(fmt.Errorf("start aws-lambda-rie for %s: %w", pool.name, ctx.Err()))
		case <-inv.done:
			return fail(errors.New("invoker closed"))
		case <-tick.C:
		}
	}
}

// invokeProcess runs one invocation on p. keep reports whether p can serve
// further invocations.
func (inv *RIEInvoker) invokeProcess(ctx context.Context, p *rieProcess, payload []byte) (out []byte, keep bool, err error) {
	start := time.Now()
	first := !p.invoked
	p.invoked = true
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url, bytes.NewReader(payload))
	if err != nil {
		return nil, false, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := inv.client.Do(req)
	if err != nil {
		return nil, false, fmt.Errorf("post to aws-lambda-rie: %w", err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, false, fmt.Errorf("read aws-lambda-rie response: %w", err)
	}
	elapsed := time.Since(start)
	// RIE prints its REPORT line before it answers; wait (briefly) until the
	// log reader has seen it, so logs stay in order and the init duration of
	// a cold start is known.
	if !p.noReport && !waitFor(p.reportSeen, 2*time.Second) {
		p.noReport = true // this RIE does not print REPORT lines: stop waiting
	}
	if first {
		waitFor(p.initSeen, 100*time.Millisecond)
		p.mu.Lock()
		cs := &ColdStart{Function: p.function, At: start, InitDuration: p.initDur, FirstInvoke: elapsed}
		p.mu.Unlock()
		inv.mu.Lock()
		inv.coldStarts = append(inv.coldStarts, cs)
		inv.mu.Unlock()
	}

	if resp.StatusCode != http.StatusOK {
		fe := parseFunctionError(p.function, body)
		if fe == nil {
			fe = &FunctionError{Function: p.function, Type: "Emulator." + strconv.Itoa(resp.StatusCode), Message: strings.TrimSpace(string(body))}
		}
		return nil, false, fe
	}
	if bytes.HasPrefix(body, []byte("Task timed out after")) {
		return nil, false, &FunctionError{Function: p.function, Type: "Sandbox.Timedout", Message: string(body)}
	}
	if fe := parseFunctionError(p.function, body); fe != nil {
		// A Runtime.* error (the bootstrap exited, …) leaves the process in
		// an unknown state: replace it.
		return nil, !strings.HasPrefix(fe.Type, "Runtime.") && p.alive(), fe
	}
	return body, p.alive(), nil
}

// waitFor waits up to d for ch and reports whether it got it.
func waitFor(ch <-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ch:
		return true
	case <-t.C:
		return false
	}
}

// parseFunctionError returns the error a Lambda runtime reported, or nil if
// body is not an error document.
func parseFunctionError(function string, body []byte) *FunctionError {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil
	}
	msg, okMsg := doc["errorMessage"]
	typ, okType := doc["errorType"]
	if !okMsg || !okType {
		return nil
	}
	for k := range doc {
		switch k {
		case "errorMessage", "errorType", "stackTrace":
		default:
			return nil
		}
	}
	fe := &FunctionError{Function: function}
	if json.Unmarshal(msg, &fe.Message) != nil || json.Unmarshal(typ, &fe.Type) != nil {
		return nil
	}
	return fe
}

var (
	initReportLine = regexp.MustCompile(`INIT REPORT\(durationMs: ([0-9.]+)\)`)
	reportInitDur  = regexp.MustCompile(`Init Duration: ([0-9.]+) ms`)
)

func (inv *RIEInvoker) stdoutLine(p *rieProcess, line string) {
	switch {
	case strings.HasPrefix(line, "START RequestId:"), strings.HasPrefix(line, "END RequestId:"):
		inv.log.Debug("aws-lambda-rie", "function", p.function, "line", line)
	case strings.HasPrefix(line, "REPORT RequestId:"):
		inv.log.Debug("aws-lambda-rie", "function", p.function, "line", line)
		if m := reportInitDur.FindStringSubmatch(line); m != nil {
			p.setInit(m[1], false)
		}
		select {
		case p.reportSeen <- struct{}{}:
		default:
		}
	default:
		inv.log.Info("function output", "function", p.function, "line", line)
	}
}

func (inv *RIEInvoker) stderrLine(p *rieProcess, line string) {
	if m := initReportLine.FindStringSubmatch(line); m != nil {
		p.setInit(m[1], true)
	}
	inv.log.Debug("aws-lambda-rie", "function", p.function, "line", line)
}

// setInit records an init duration in milliseconds; the INIT REPORT value
// (authoritative) replaces the REPORT one.
func (p *rieProcess) setInit(ms string, authoritative bool) {
	v, err := strconv.ParseFloat(ms, 64)
	if err != nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.haveInit && !authoritative {
		return
	}
	p.initDur = time.Duration(v * float64(time.Millisecond))
	if authoritative && !p.haveInit {
		p.haveInit = true
		close(p.initSeen)
	}
}

func functionEnv(name string, fn RIEFunction) []string {
	env := map[string]string{}
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	// This variable switches RIE into its managed-instances mode.
	delete(env, "AWS_LAMBDA_MAX_CONCURRENCY")
	env["AWS_LAMBDA_FUNCTION_NAME"] = name
	env["AWS_LAMBDA_FUNCTION_TIMEOUT"] = strconv.Itoa(int((fn.Timeout + time.Second - 1) / time.Second))
	for k, v := range fn.Env {
		env[k] = v
	}
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	return out
}

// freePorts returns n distinct loopback TCP ports that were free a moment
// ago. Another process may take one before it is used; start retries.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// lineWriter calls line for each complete line written to it (a final line
// without a newline is dropped). Very long lines are cut at 64 KiB.
type lineWriter struct {
	line func(string)
	buf  []byte
}

func (w *lineWriter) Write(b []byte) (int, error) {
	n := len(b)
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			w.buf = append(w.buf, b...)
			if len(w.buf) > 64<<10 {
				w.line(string(w.buf))
				w.buf = w.buf[:0]
			}
			break
		}
		w.buf = append(w.buf, b[:i]...)
		w.line(strings.TrimRight(string(w.buf), "\r"))
		w.buf = w.buf[:0]
		b = b[i+1:]
	}
	return n, nil
}

// tailBuffer keeps the last max bytes of the lines added to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) add(line string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, line...)
	t.b = append(t.b, '\n')
	if len(t.b) > t.max {
		t.b = append([]byte(nil), t.b[len(t.b)-t.max:]...)
	}
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(string(t.b))
}
