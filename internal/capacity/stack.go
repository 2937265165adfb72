package capacity

import (
	"fmt"
	"strconv"
	"time"

	"github.com/edgesync/edgesync/agent"
	"github.com/edgesync/edgesync/devstack/template"
)

// Stack is what the model takes from template.yaml and the agent's
// defaults.
type Stack struct {
	// RouteRate and RouteBurst are the WebSocket stage's default route
	// throttling (WebSocketThrottlingRateLimit, WebSocketThrottlingBurstLimit).
	RouteRate, RouteBurst float64
	// HTTPRate and HTTPBurst are the HTTP API's default route throttling
	// (HttpThrottlingRateLimit, HttpThrottlingBurstLimit).
	HTTPRate, HTTPBurst float64
	// FunctionTimeout and MemoryMB are the functions' (FunctionTimeout,
	// FunctionMemorySize).
	FunctionTimeout time.Duration
	MemoryMB        int
	// DisconnectReserved is DisconnectFunction's reserved concurrency
	// (DisconnectReservedConcurrency; 0: none).
	DisconnectReserved int
	// WarmWriteUnits is the table's warm write throughput
	// (TableWarmWriteUnits; 0: not set, the on-demand table's own).
	WarmWriteUnits float64
	// Indexes are the table's global secondary indexes.
	Indexes []Index

	// The agent's defaults (agent.DefaultConfig()).
	StatusInterval    time.Duration
	HeartbeatInterval time.Duration
	MaxConnectionAge  time.Duration
	BatchMaxBytes     int
}

// Index is a global secondary index of the table.
type Index struct {
	Name, HashKey, Projection string
}

// MeanConnectionAge is how long an agent's connection lasts on average:
// it reconnects at max_connection_age less up to a tenth of it.
func (s Stack) MeanConnectionAge() time.Duration {
	return s.MaxConnectionAge - s.MaxConnectionAge/20
}

// StackFrom reads the parameters' defaults and the table's indexes from
// the template t, and the agent's defaults.
func StackFrom(t *template.Template) (Stack, error) {
	num := func(name string) (float64, error) {
		p, ok := t.Parameters[name]
		if !ok || !p.HasDefault {
			return 0, fmt.Errorf("template: parameter %s with a default is required", name)
		}
		v, err := strconv.ParseFloat(p.Default, 64)
		if err != nil {
			return 0, fmt.Errorf("template: parameter %s: default %q is not a number", name, p.Default)
		}
		return v, nil
	}
	var s Stack
	var err error
	if s.RouteRate, err = num("WebSocketThrottlingRateLimit"); err != nil {
		return Stack{}, err
	}
	if s.RouteBurst, err = num("WebSocketThrottlingBurstLimit"); err != nil {
		return Stack{}, err
	}
	if s.HTTPRate, err = num("HttpThrottlingRateLimit"); err != nil {
		return Stack{}, err
	}
	if s.HTTPBurst, err = num("HttpThrottlingBurstLimit"); err != nil {
		return Stack{}, err
	}
	timeout, err := num("FunctionTimeout")
	if err != nil {
		return Stack{}, err
	}
	s.FunctionTimeout = time.Duration(timeout * float64(time.Second))
	mem, err := num("FunctionMemorySize")
	if err != nil {
		return Stack{}, err
	}
	s.MemoryMB = int(mem)
	reserved, err := num("DisconnectReservedConcurrency")
	if err != nil {
		return Stack{}, err
	}
	s.DisconnectReserved = int(reserved)
	if s.WarmWriteUnits, err = num("TableWarmWriteUnits"); err != nil {
		return Stack{}, err
	}
	table, ok := t.Resources["Table"]
	if !ok {
		return Stack{}, fmt.Errorf("template: resource Table is required")
	}
	gsis, _ := table.Properties["GlobalSecondaryIndexes"].([]any)
	for _, g := range gsis {
		m, _ := g.(map[string]any)
		ix := Index{}
		ix.Name, _ = m["IndexName"].(string)
		if proj, ok := m["Projection"].(map[string]any); ok {
			ix.Projection, _ = proj["ProjectionType"].(string)
		}
		keys, _ := m["KeySchema"].([]any)
		for _, k := range keys {
			km, _ := k.(map[string]any)
			if km["KeyType"] == "HASH" {
				ix.HashKey, _ = km["AttributeName"].(string)
			}
		}
		s.Indexes = append(s.Indexes, ix)
	}
	cfg := agent.DefaultConfig()
	s.StatusInterval = cfg.StatusInterval.Duration()
	s.HeartbeatInterval = cfg.HeartbeatInterval.Duration()
	s.MaxConnectionAge = cfg.MaxConnectionAge.Duration()
	s.BatchMaxBytes = cfg.BatchMaxBytes
	return s, nil
}
