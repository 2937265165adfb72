package devstack

import (
	"encoding/json"
	"net/http"
	"slices"
	"sync"

	"github.com/edgesync/edgesync/fleet"
)

// metrics aggregates what the functions report (the figures their EMF lines
// carry in AWS) for the local stack's /metrics endpoint. It keeps the last
// maxSamples observations of each timed metric for percentiles.
type metrics struct {
	mu      sync.Mutex
	sums    map[string]float64
	samples map[string][]float64
	next    map[string]int
}

const maxSamples = 10000

func newMetrics() *metrics {
	return &metrics{sums: map[string]float64{}, samples: map[string][]float64{}, next: map[string]int{}}
}

// Record implements fleet.Metrics.
func (m *metrics) Record(name string, value float64, unit string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sums[name] += value
	if unit != fleet.UnitMilliseconds {
		return
	}
	s := m.samples[name]
	if len(s) < maxSamples {
		m.samples[name] = append(s, value)
		return
	}
	s[m.next[name]] = value
	m.next[name] = (m.next[name] + 1) % maxSamples
}

// Distribution summarises a timed metric's recent observations.
type Distribution struct {
	Count int     `json:"count"`
	P50   float64 `json:"p50"`
	P95   float64 `json:"p95"`
	P99   float64 `json:"p99"`
	Max   float64 `json:"max"`
}

// MetricsSnapshot is what /metrics serves.
type MetricsSnapshot struct {
	// Totals are sums since start: counts, and totals of timed metrics.
	Totals map[string]float64 `json:"totals"`
	// Latencies are the recent distributions of timed metrics (ms).
	Latencies map[string]Distribution `json:"latencies"`
	// CacheHitRate is fresh reads / all reads with data (0 when none).
	CacheHitRate float64 `json:"cacheHitRate"`
	// Gateway is the WebSocket API's traffic and connection state.
	Gateway any `json:"gateway"`
}

func (m *metrics) snapshot() MetricsSnapshot {
	m.mu.Lock()
	defer m.mu.Unlock()
	snap := MetricsSnapshot{Totals: map[string]float64{}, Latencies: map[string]Distribution{}}
	for k, v := range m.sums {
		snap.Totals[k] = v
	}
	for k, s := range m.samples {
		sorted := slices.Clone(s)
		slices.Sort(sorted)
		at := func(q float64) float64 { return sorted[min(len(sorted)-1, int(q*float64(len(sorted))))] }
		snap.Latencies[k] = Distribution{Count: len(sorted), P50: at(0.50), P95: at(0.95), P99: at(0.99), Max: sorted[len(sorted)-1]}
	}
	if total := m.sums[fleet.MetricFreshReads] + m.sums[fleet.MetricStaleReads]; total > 0 {
		snap.CacheHitRate = m.sums[fleet.MetricFreshReads] / total
	}
	return snap
}

// Metrics returns the stack's current figures.
func (s *Stack) Metrics() MetricsSnapshot {
	snap := s.metrics.snapshot()
	snap.Gateway = s.ws.Stats()
	return snap
}

func (s *Stack) serveMetrics(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(s.Metrics())
}
