package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgesync/edgesync/agent/atomicfile"
	"github.com/edgesync/edgesync/agent/batch"
	"github.com/edgesync/edgesync/agent/spool"
	"github.com/edgesync/edgesync/agent/sysinfo"
	"github.com/edgesync/edgesync/protocol"
)

// Version is the agent version reported in hello and status. Release
// builds set it with -ldflags "-X github.com/edgesync/edgesync/agent.Version=1.2.3".
var Version = "dev"

// Capabilities are announced in hello: the agent understands a welcome
// and syncs incrementally (it delivers its spool itself and names the
// config it runs), besides the first protocol version's.
var Capabilities = append([]string{"gzip", "get_logs.since_seq", "set_config.version",
	protocol.CapabilityWelcome, protocol.CapabilitySyncIncremental}, protocol.Commands...)

// FirstVersionCapabilities are what an agent of the first protocol
// version announced; WithCapabilities(FirstVersionCapabilities) makes an
// agent speak that version (tests of compatibility).
var FirstVersionCapabilities = append([]string{"gzip", "get_logs.since_seq", "set_config.version"}, protocol.Commands...)

// Defaults of the options.
const (
	// DefaultRingLines is how many recent lines get_logs can return.
	DefaultRingLines = 1000
	// DefaultQueueBytes bounds lines waiting in memory for the spool.
	DefaultQueueBytes = 4 << 20
	// DefaultMaxInflight bounds logs messages awaiting their ack.
	DefaultMaxInflight = 8
)

// Option configures an Agent.
type Option func(*options)

type options struct {
	configFile  string
	getenv      func(string) string
	logger      *slog.Logger
	version     string
	backoffBase time.Duration
	backoffMax  time.Duration
	// helloTimeout and helloBackoff pace the hellos of a connection the
	// server has not answered (HelloTimeout, HelloBackoff).
	helloTimeout time.Duration
	helloBackoff Backoff
	jitter       func() float64
	sleep        func(context.Context, time.Duration) error
	httpClient   *http.Client
	ringLines    int
	queueBytes   int
	maxInflight  int
	spoolFS      spool.FS
	policy       Policy
	stallAfter   time.Duration
	// capabilities are announced in hello.
	capabilities []string
}

// WithConfigFile makes set_config persist the configuration to path
// (atomically). Without it, set_config applies in memory only.
func WithConfigFile(path string) Option { return func(o *options) { o.configFile = path } }

// WithGetenv sets the environment lookup used to re-apply overrides when
// set_config replaces the configuration (as LoadConfig did at start).
func WithGetenv(getenv func(string) string) Option { return func(o *options) { o.getenv = getenv } }

// WithLogger sets the logger for the agent's own diagnostics (default
// slog.Default()). They are not sent to the cloud.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithAgentVersion overrides the version reported to the cloud.
func WithAgentVersion(v string) Option { return func(o *options) { o.version = v } }

// WithHelloRetry sets how long the agent waits for any answer to its hello
// before saying it again, and the backoff between further hellos (default
// HelloTimeout and HelloBackoff).
func WithHelloRetry(timeout time.Duration, backoff Backoff) Option {
	return func(o *options) { o.helloTimeout, o.helloBackoff = timeout, backoff }
}

// WithBackoff sets the reconnect backoff (default DefaultBackoff): after
// the n-th failure in a row the agent waits a random duration in
// [0, min(max, base·2^(n-1))) ("full jitter").
func WithBackoff(base, max time.Duration) Option {
	return func(o *options) { o.backoffBase, o.backoffMax = base, max }
}

// WithJitter replaces the random source of the backoff; fn returns a value
// in [0, 1] that scales the backoff ceiling.
func WithJitter(fn func() float64) Option { return func(o *options) { o.jitter = fn } }

// WithSleep replaces how the agent waits between connection attempts
// (tests record the delays). fn returns early with ctx's error.
func WithSleep(fn func(ctx context.Context, d time.Duration) error) Option {
	return func(o *options) { o.sleep = fn }
}

// WithHTTPClient sets the client used for the WebSocket handshake instead
// of one built from the config's ca_file, proxy_url and client
// certificate (which it then ignores).
func WithHTTPClient(c *http.Client) Option { return func(o *options) { o.httpClient = c } }

// WithRingLines sets how many recent lines get_logs can return.
func WithRingLines(n int) Option { return func(o *options) { o.ringLines = n } }

// WithQueueBytes bounds lines waiting in memory for the spool; beyond it
// Log and Handler drop the oldest waiting lines (counted as dropped) and
// followed files wait.
func WithQueueBytes(n int) Option { return func(o *options) { o.queueBytes = n } }

// WithPolicy sets the device policy that bounds what set_config may change
// (default DefaultPolicy(): only DefaultRemoteKeys). See LoadPolicy.
func WithPolicy(p Policy) Option { return func(o *options) { o.policy = p } }

// WithSpoolFS sets the filesystem the spool writes to (default spool.OS);
// tests use it to make the disk full.
func WithSpoolFS(fs spool.FS) Option { return func(o *options) { o.spoolFS = fs } }

// WithCapabilities replaces the capabilities announced in hello (default
// Capabilities). Without protocol.CapabilityWelcome the agent gets no
// welcome and speaks the first protocol version.
func WithCapabilities(caps []string) Option {
	return func(o *options) { o.capabilities = slices.Clone(caps) }
}

// WithMaxInflight bounds the logs messages awaiting their ack.
func WithMaxInflight(n int) Option { return func(o *options) { o.maxInflight = n } }

// Agent is a terminal's connection to the edgesync cloud: it spools log
// lines, delivers them in batches until acknowledged, answers commands and
// reports status. Create it with New, feed it with Log, Handler or
// log_inputs, drive it with Run, stop it with Shutdown (graceful) or by
// cancelling Run's context, and release it with Close.
type Agent struct {
	opts  options
	log   *slog.Logger
	spool *spool.Spool
	sys   *sysinfo.Collector
	ring  *ring
	queue *queue

	mu      sync.Mutex
	cfg     Config
	version string

	cfgChanged    chan struct{} // a new config for the session
	inputsChanged chan struct{} // a new config for the inputs
	newLines      chan struct{} // lines reached the spool
	appended      atomic.Int64  // estimated bytes ever appended
	urgentSeq     atomic.Uint64 // highest seq committed at urgent_level or above
	welcomed      atomic.Bool   // the server welcomed the last connection
	epoch         time.Time     // when New ran, with its monotonic clock reading
	prog          progress
	liveUntil     atomic.Int64 // live until this long after epoch, monotonic (see protocol.Live)

	running   atomic.Bool
	runDone   chan struct{}
	stopOnce  sync.Once
	stopping  chan struct{} // closed by Shutdown
	drainCtx  context.Context
	connected atomic.Bool
	dials     atomic.Uint64
	sessions  atomic.Uint64

	dropMu      sync.Mutex
	droppedSeen uint64        // dropped_lines as the last report saw it
	droppedAt   time.Duration // when a report first saw that count, after epoch (monotonic)

	closeOnce  sync.Once
	writerDone chan struct{}
}

// New opens the spool in cfg.SpoolDir and returns an agent ready to take
// log lines; Run connects it. Close releases it.
func New(cfg Config, opts ...Option) (*Agent, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("agent config: %w", err)
	}
	o := options{
		logger:       slog.Default(),
		version:      Version,
		backoffBase:  DefaultBackoffBase,
		helloTimeout: HelloTimeout,
		helloBackoff: HelloBackoff,
		backoffMax:   DefaultBackoffMax,
		jitter:       rand.Float64,
		sleep:        sleepCtx,
		ringLines:    DefaultRingLines,
		queueBytes:   DefaultQueueBytes,
		maxInflight:  DefaultMaxInflight,
		policy:       DefaultPolicy(),
		capabilities: Capabilities,
	}
	for _, opt := range opts {
		opt(&o)
	}
	if o.backoffBase <= 0 || o.backoffMax < o.backoffBase {
		return nil, fmt.Errorf("agent backoff: base %v must be positive and at most max %v", o.backoffBase, o.backoffMax)
	}
	if o.helloTimeout <= 0 || o.helloBackoff.Base <= 0 || o.helloBackoff.Max < o.helloBackoff.Base {
		return nil, fmt.Errorf("agent hello retry: timeout %v and backoff base %v must be positive, the base at most max %v", o.helloTimeout, o.helloBackoff.Base, o.helloBackoff.Max)
	}
	// The agent's own files are never log inputs, whoever asks.
	if err := CheckLogInputs(cfg, o.configFile, o.policy); err != nil {
		return nil, fmt.Errorf("agent config: %w", err)
	}
	var spoolOpts []spool.Option
	if o.spoolFS != nil {
		spoolOpts = append(spoolOpts, spool.WithFS(o.spoolFS))
	}
	sp, err := spool.Open(cfg.SpoolDir, cfg.SpoolMaxBytes, spoolOpts...)
	if err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	log := o.logger.With("terminal_id", cfg.TerminalID)
	if r := sp.Recovered(); r != "" {
		log.Error(r)
	}
	a := &Agent{
		opts:          o,
		log:           log,
		spool:         sp,
		sys:           &sysinfo.Collector{DiskPath: cfg.SpoolDir},
		ring:          newRing(max(o.ringLines, 1)),
		cfg:           cfg,
		version:       cfg.Version(),
		epoch:         time.Now(),
		cfgChanged:    make(chan struct{}, 1),
		inputsChanged: make(chan struct{}, 1),
		newLines:      make(chan struct{}, 1),
		runDone:       make(chan struct{}),
		stopping:      make(chan struct{}),
		writerDone:    make(chan struct{}),
	}
	a.queue = newQueue(o.queueBytes)
	// get_logs after a restart: the newest lines still spooled.
	if st := sp.Stats(); st.Lines > 0 {
		first := max(st.FirstSeq, st.NextSeq-min(st.NextSeq, uint64(len(a.ring.buf))))
		if recent, err := sp.Read(first, st.NextSeq-1, int(^uint(0)>>1)); err == nil {
			a.ring.add(recent)
		}
	}
	go a.writer()
	return a, nil
}

// Config returns the configuration in effect.
func (a *Agent) Config() Config {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.cfg
}

// ConfigVersion returns the version of the configuration in effect.
func (a *Agent) ConfigVersion() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.version
}

// Log records one line at level (debug, info, warn, error or an alias such
// as warning or fatal) from source. It never blocks on the network or the
// disk; see WithQueueBytes for what happens under overload.
func (a *Agent) Log(level, msg, source string) {
	a.enqueue(protocol.LogEntry{Level: level, Message: msg, Source: source})
}

// LogEntry records e as given (Seq is assigned by the agent).
func (a *Agent) LogEntry(e protocol.LogEntry) { a.enqueue(e) }

func (a *Agent) enqueue(e protocol.LogEntry) {
	e = batch.Normalize(e, time.Now())
	if a.queue.push(pending{entry: &e, size: entrySize(e)}) {
		a.wakeWriter()
	}
}

// isLive reports whether a live hint is in force. The live period is
// measured on the monotonic clock (time since the agent started): a wall
// clock set back or forward (NTP, an RTC reset) neither prolongs nor cuts
// it.
func (a *Agent) isLive() bool { return a.sinceStart() < time.Duration(a.liveUntil.Load()) }

// sinceStart is the monotonic time since New.
func (a *Agent) sinceStart() time.Duration { return time.Since(a.epoch) }

// liveUntilTime is when the live period ends, on the wall clock as it
// reads now (zero if there never was one).
func (a *Agent) liveUntilTime() time.Time {
	n := time.Duration(a.liveUntil.Load())
	if n == 0 {
		return time.Time{}
	}
	return time.Now().Add(n - a.sinceStart()).Round(0)
}

// goLive extends the live period to at least d from now.
func (a *Agent) goLive(d time.Duration) {
	until := int64(a.sinceStart() + d)
	for {
		old := a.liveUntil.Load()
		if until <= old || a.liveUntil.CompareAndSwap(old, until) {
			return
		}
	}
}

// Sync waits until every line logged before the call is in the spool.
func (a *Agent) Sync(ctx context.Context) error {
	a.wakeWriter()
	return a.queue.wait(ctx)
}

// Stats is a snapshot of the agent's counters.
type Stats struct {
	Connected bool
	// Live is true while lines go within batch_window_ms because the
	// server said an operator is reading the logs (protocol.Live), until
	// LiveUntil (zero if never).
	Live           bool
	LiveUntil      time.Time
	Dials          uint64
	Sessions       uint64
	SpoolLines     uint64
	SpoolBytes     int64
	NextSeq        uint64
	LastAckSeq     uint64
	Dropped        uint64
	DroppedInvalid uint64
	ConfigVersion  string
	// SpoolDegraded is true while the spool's disk refuses writes (full,
	// read-only): new lines are kept in memory (SpoolMemoryLines) until it
	// takes writes again. SpoolDiskError says why.
	SpoolDegraded      bool
	SpoolDegradedSince time.Time
	SpoolMemoryLines   uint64
	SpoolDiskError     string
}

// Stats returns the agent's counters.
func (a *Agent) Stats() Stats {
	st := a.spool.Stats()
	return Stats{
		Connected:      a.connected.Load(),
		Live:           a.isLive(),
		LiveUntil:      a.liveUntilTime(),
		Dials:          a.dials.Load(),
		Sessions:       a.sessions.Load(),
		SpoolLines:     st.Lines,
		SpoolBytes:     st.Bytes,
		NextSeq:        st.NextSeq,
		LastAckSeq:     st.LastAckSeq,
		Dropped:        st.Dropped,
		DroppedInvalid: st.DroppedInvalid,
		ConfigVersion:  a.ConfigVersion(),

		SpoolDegraded:      st.Degraded,
		SpoolDegradedSince: st.DegradedSince,
		SpoolMemoryLines:   st.MemoryLines,
		SpoolDiskError:     st.DiskError,
	}
}

// StatusReport is the status object pushed periodically and returned by
// get_status: host metrics plus the agent's own counters.
type StatusReport struct {
	sysinfo.Sample
	TerminalID     string    `json:"terminal_id"`
	AgentVersion   string    `json:"agent_version"`
	ConfigVersion  string    `json:"config_version"`
	Time           time.Time `json:"time"`
	Connected      bool      `json:"connected"`
	SpoolLines     uint64    `json:"spool_lines"`
	SpoolBytes     int64     `json:"spool_bytes"`
	NextSeq        uint64    `json:"next_seq"`
	LastAckSeq     uint64    `json:"last_ack_seq"`
	DroppedLines   uint64    `json:"dropped_lines"`
	DroppedInvalid uint64    `json:"dropped_invalid"`
	// DroppedAt, set once DroppedLines is above zero, is when a report
	// first saw it at its count: the last drop happened at or before it,
	// after the report before (since the agent started, when it started
	// with lines already dropped). The cloud's dropped-lines alert reads
	// no status history while it is older than the rule's window.
	DroppedAt  *time.Time `json:"dropped_at,omitempty"`
	Reconnects uint64     `json:"reconnects"`
	// StatusInterval is status_interval, in seconds: the server promises
	// the status fresh for twice that.
	StatusInterval float64 `json:"status_interval"`
	// SpoolDegraded: the spool's disk refuses writes; SpoolMemoryLines are
	// held in memory meanwhile, DiskError says why.
	SpoolDegraded    bool   `json:"spool_degraded"`
	SpoolMemoryLines uint64 `json:"spool_memory_lines"`
	DiskError        string `json:"disk_error,omitempty"`
}

// Status samples the host and the agent now.
func (a *Agent) Status(ctx context.Context) StatusReport {
	st := a.Stats()
	now := time.Now()
	return StatusReport{
		Sample:         rounded(a.sys.Collect(ctx)),
		TerminalID:     a.Config().TerminalID,
		AgentVersion:   a.opts.version,
		ConfigVersion:  st.ConfigVersion,
		Time:           now.UTC(),
		DroppedAt:      a.droppedSince(st.Dropped, now.UTC(), now.Sub(a.epoch)),
		Connected:      st.Connected,
		SpoolLines:     st.SpoolLines,
		SpoolBytes:     st.SpoolBytes,
		NextSeq:        st.NextSeq,
		LastAckSeq:     st.LastAckSeq,
		DroppedLines:   st.Dropped,
		DroppedInvalid: st.DroppedInvalid,
		Reconnects:     max(st.Sessions, 1) - 1,
		StatusInterval: float64(a.Config().StatusInterval),

		SpoolDegraded:    st.SpoolDegraded,
		SpoolMemoryLines: st.SpoolMemoryLines,
		DiskError:        st.SpoolDiskError,
	}
}

// droppedSince is the report's dropped_at for dropped lines counted at
// wall (the report's time), mono after the agent's epoch on the monotonic
// clock: nil for none, else when a report first saw that count, as wall
// less the monotonic time elapsed since. A wall clock stepped in between
// (NTP setting the clock of a device that booted at its image's date)
// moves dropped_at with the report's time, so the cloud never reads a
// fresh drop as years old.
func (a *Agent) droppedSince(dropped uint64, wall time.Time, mono time.Duration) *time.Time {
	if dropped == 0 {
		return nil
	}
	a.dropMu.Lock()
	defer a.dropMu.Unlock()
	if dropped != a.droppedSeen {
		a.droppedSeen, a.droppedAt = dropped, mono
	}
	at := wall.Add(-max(mono-a.droppedAt, 0))
	return &at
}

// rounded is s with its percentages and loads to two decimals: the report
// is stored with every batch it rides in, and digits past the second are
// noise that costs bytes.
func rounded(s sysinfo.Sample) sysinfo.Sample {
	r := func(v float64) float64 { return math.Round(v*100) / 100 }
	s.CPUPercent, s.MemoryPercent, s.DiskPercent = r(s.CPUPercent), r(s.MemoryPercent), r(s.DiskPercent)
	s.Load1, s.Load5, s.Load15 = r(s.Load1), r(s.Load5), r(s.Load15)
	return s
}

// Shutdown stops Run gracefully: lines already logged are spooled, sent
// and waited for until ctx ends, then the connection is closed with a
// normal closure and Run returns nil. Whatever is not acknowledged stays in
// the spool for the next start. Shutdown returns when Run has returned, or
// with ctx's error.
func (a *Agent) Shutdown(ctx context.Context) error {
	a.stopOnce.Do(func() {
		a.drainCtx = ctx
		close(a.stopping)
	})
	if !a.running.Load() {
		return nil
	}
	select {
	case <-a.runDone:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("agent shutdown: %w", ctx.Err())
	}
}

// Close writes lines still waiting in memory to the spool and closes it.
// Call it after Run has returned; lines logged afterwards are ignored.
func (a *Agent) Close() error {
	var err error
	a.closeOnce.Do(func() {
		a.queue.close()
		a.wakeWriter()
		<-a.writerDone
		err = a.spool.Close()
	})
	return err
}

// SetConfig validates doc (a config document as get_config returns it;
// secret values equal to Redacted keep their current value), persists it
// atomically to the config file if there is one, applies it and returns
// the new version. If expectVersion is not empty it must equal the version
// in effect. spool_dir cannot change while running.
func (a *Agent) SetConfig(doc json.RawMessage, expectVersion string) (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if expectVersion != "" && expectVersion != a.version {
		return "", fmt.Errorf("config is at version %s, not %s", a.version, expectVersion)
	}
	if !protocol.IsObject(doc) {
		return "", errors.New("config: must be a JSON object")
	}
	fields, err := parseDocument(doc)
	if err != nil {
		return "", fmt.Errorf("config: %w", err)
	}
	current := a.currentDocument()
	for k, raw := range fields {
		var s string
		if json.Unmarshal(raw, &s) == nil && s == Redacted && IsSecretKey(k) {
			if old, ok := current[k]; ok {
				fields[k] = old
			} else {
				delete(fields, k)
			}
		}
	}
	followProfile(fields, a.cfg)
	persisted, err := json.MarshalIndent(fields, "", "  ")
	if err != nil {
		return "", fmt.Errorf("config: %w", err)
	}
	cfg, err := ParseConfig(persisted, a.opts.getenv)
	if err != nil {
		return "", fmt.Errorf("config: %w", err)
	}
	if cfg.SpoolDir != a.cfg.SpoolDir {
		return "", fmt.Errorf("config: spool_dir: cannot change while running (edit the file and restart)")
	}
	// The device bounds what the cloud may change: the keys of its policy
	// only, never toward the agent's own files, and never the current
	// credential to a new origin.
	oldFile, newFile := DefaultConfig(), DefaultConfig()
	decodeFields(current, &oldFile)
	decodeFields(fields, &newFile)
	if err := a.opts.policy.checkRemote(oldFile, newFile, a.cfg, cfg); err != nil {
		return "", fmt.Errorf("config refused: %w", err)
	}
	if err := checkOwnInputs(a.ownFiles(cfg, a.cfg), cfg); err != nil {
		return "", fmt.Errorf("config refused: %w", err)
	}
	if err := checkOrigin(a.cfg, cfg); err != nil {
		return "", fmt.Errorf("config refused: %w", err)
	}
	if a.opts.configFile != "" {
		if err := atomicfile.Write(a.opts.configFile, append(persisted, '\n'), 0o600); err != nil {
			return "", fmt.Errorf("persist config: %w", err)
		}
	}
	if cfg.SpoolMaxBytes != a.cfg.SpoolMaxBytes {
		if err := a.spool.SetMaxBytes(cfg.SpoolMaxBytes); err != nil {
			a.log.Error("apply spool_max_bytes", "err", err)
		}
	}
	a.cfg, a.version = cfg, cfg.Version()
	notify(a.cfgChanged)
	notify(a.inputsChanged)
	a.log.Info("configuration replaced", "config_version", a.version)
	return a.version, nil
}

// currentDocument returns the keys of the persisted document (the config
// file) or, without a file, of the configuration in effect. a.mu is held.
func (a *Agent) currentDocument() map[string]json.RawMessage {
	if a.opts.configFile != "" {
		if b, err := os.ReadFile(a.opts.configFile); err == nil {
			if m, err := parseDocument(b); err == nil {
				return m
			}
		}
	}
	b, _ := json.Marshal(a.cfg)
	m, _ := parseDocument(b)
	return m
}

func notify(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

func (a *Agent) wakeWriter() { notify(a.queue.wake) }

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func parseLevel(s string) (slog.Level, bool) {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug, true
	case "info", "":
		return slog.LevelInfo, true
	case "warn", "warning":
		return slog.LevelWarn, true
	case "error":
		return slog.LevelError, true
	}
	return 0, false
}

// ParseLevel converts a log_level value to a slog.Level.
func ParseLevel(s string) (slog.Level, error) {
	l, ok := parseLevel(s)
	if !ok {
		return 0, fmt.Errorf("unknown log level %q (want debug, info, warn or error)", s)
	}
	return l, nil
}
