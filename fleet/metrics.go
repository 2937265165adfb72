package fleet

import "time"

// Metric names: the figures the source document asks to monitor —
// connection state, cache hit rate (fresh vs stale reads), sync latency and
// API response time — plus what an operator needs next to them.
const (
	// MetricConnects and MetricDisconnects count terminal connections
	// accepted and ended; MetricConnectRefused counts refused handshakes.
	MetricConnects       = "TerminalConnects"
	MetricDisconnects    = "TerminalDisconnects"
	MetricConnectRefused = "ConnectRefused"
	// MetricFreshReads and MetricStaleReads count reads of config, status
	// and logs by freshness: the cache hit rate is fresh / (fresh + stale).
	MetricFreshReads = "FreshReads"
	MetricStaleReads = "StaleReads"
	// MetricSyncLatency is the time from a command's creation to the
	// terminal's answer (milliseconds).
	MetricSyncLatency = "SyncLatency"
	// MetricLogDelay is the time from a log line's timestamp on the
	// terminal to its storage (milliseconds).
	MetricLogDelay = "LogDelay"
	// MetricLogLines counts stored log lines.
	MetricLogLines = "LogLines"
	// MetricAPILatency is the HTTP API's response time (milliseconds).
	MetricAPILatency = "APILatency"
	// MetricProtocolErrors counts terminal messages rejected with an error.
	MetricProtocolErrors = "ProtocolErrors"
	// MetricGone counts pushes that found the connection gone (410).
	MetricGone = "GoneConnections"
)

// Units of metrics.
const (
	UnitCount        = "Count"
	UnitMilliseconds = "Milliseconds"
)

// Metrics receives measurements. Implementations must be safe for
// concurrent use and must not block on I/O for long (they run inside
// request handling).
type Metrics interface {
	// Record adds one observation of the named metric.
	Record(name string, value float64, unit string)
}

// noMetrics discards measurements.
type noMetrics struct{}

func (noMetrics) Record(string, float64, string) {}

// WithMetrics makes the service report measurements to m.
func WithMetrics(m Metrics) Option { return func(s *Service) { s.metrics = m } }

func (s *Service) count(name string) { s.metrics.Record(name, 1, UnitCount) }

func (s *Service) millis(name string, d time.Duration) {
	if d < 0 {
		d = 0
	}
	s.metrics.Record(name, float64(d)/float64(time.Millisecond), UnitMilliseconds)
}

func (s *Service) freshness(f Freshness) {
	switch {
	case f.Fresh:
		s.count(MetricFreshReads)
	case f.Stale:
		s.count(MetricStaleReads)
	}
}
