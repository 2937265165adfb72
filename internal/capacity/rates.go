package capacity

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// rates is the shape of cmd/edgesync-bench's rates.json (see BENCHMARKS.md,
// section rates.json): what one terminal costs at the reference workload,
// measured, by profile.
type rates struct {
	Generated time.Time `json:"generated"`
	Command   string    `json:"command"`
	Workload  struct {
		LinesPerDay          float64 `json:"lines_per_day"`
		DashboardReadsPerDay float64 `json:"dashboard_reads_per_day"`
		LiveSecondsPerRead   float64 `json:"live_seconds_per_read"`
	} `json:"workload"`
	Profiles map[string]*struct {
		PerTerminalHour     rateVec `json:"per_terminal_hour"`
		PerTerminalHourLive rateVec `json:"per_terminal_hour_live"`
		PerConnection       rateVec `json:"per_connection"`
		PerDashboardRead    rateVec `json:"per_dashboard_read"`
	} `json:"profiles"`
}

type rateVec struct {
	MessagesIn      float64 `json:"messages_in"`
	MessagesOut     float64 `json:"messages_out"`
	Invocations     float64 `json:"invocations"`
	LambdaGBSeconds float64 `json:"lambda_gb_seconds"`
	WCU             float64 `json:"write_units"`
	RCU             float64 `json:"read_units"`
	HTTPRequests    float64 `json:"http_requests"`
}

// UsageFromRates makes the usage of the capacity model from the cost
// benchmark's rates.json (its file name or origin in source): every figure
// measured in the same run as BENCHMARKS.md's cost table. The connection
// binding's read on every message is in the measured read units
// (ConnectionReadRCU 0), and an invocation's duration is the benchmark's
// Lambda time per invocation, measured with DynamoDB calls at AWS's
// latency, at functionMB of memory (template.yaml's, which the benchmark
// bills). A profile measured without a live period (the seed-literal
// baseline has none) is taken as live at its idle rate.
func UsageFromRates(data []byte, source string, functionMB float64) (Usage, error) {
	if functionMB <= 0 {
		return Usage{}, fmt.Errorf("rates %s: function memory %v MB: want a positive size", source, functionMB)
	}
	var r rates
	if err := json.Unmarshal(data, &r); err != nil {
		return Usage{}, fmt.Errorf("rates %s: %w", source, err)
	}
	d := r.Profiles["default"]
	if d == nil || d.PerTerminalHour.Invocations <= 0 {
		return Usage{}, fmt.Errorf("rates %s: profile default with its per_terminal_hour is required", source)
	}
	u := Usage{
		Source:   fmt.Sprintf("%s, generated %s by `%s`", source, r.Generated.UTC().Format("2006-01-02 15:04 UTC"), r.Command),
		Profiles: map[string]*Profile{},
		Derivation: []string{
			"idle and live per terminal-hour, per connection and per dashboard read: the benchmark's measured rates as they are (messages in and out, invocations, write and read units, HTTP requests).",
			fmt.Sprintf("awsInvocationMs: the benchmark's Lambda duration per invocation at %g MB (its DynamoDB calls at AWS's published latency), per terminal-hour while idle; a connection's invocations take longer (about twice), which the storm rows do not separate.", functionMB),
			"connectionLookupRcuPerMessage 0: the binding read of every message is in the measured read units.",
			fmt.Sprintf("readsPerDay %g and liveMinutesPerRead %g: the reference workload's.", r.Workload.DashboardReadsPerDay, r.Workload.LiveSecondsPerRead/60),
		},
	}
	var errs []error
	for name, p := range r.Profiles {
		if p == nil {
			continue
		}
		if p.PerTerminalHour.Invocations <= 0 || p.PerConnection.Invocations <= 0 {
			errs = append(errs, fmt.Errorf("rates %s: profile %s: invocations per terminal-hour and per connection must be positive", source, name))
			continue
		}
		live := p.PerTerminalHourLive
		if live.Invocations == 0 {
			live = p.PerTerminalHour
		}
		u.Profiles[name] = &Profile{
			Idle:               perHour(p.PerTerminalHour),
			Live:               perHour(live),
			PerConnection:      perEvent(p.PerConnection),
			PerRead:            perEvent(p.PerDashboardRead),
			ReadsPerDay:        r.Workload.DashboardReadsPerDay,
			LiveMinutesPerRead: r.Workload.LiveSecondsPerRead / 60,
			InvocationMS:       p.PerTerminalHour.LambdaGBSeconds / (functionMB / 1024) / p.PerTerminalHour.Invocations * 1000,
		}
	}
	if len(errs) > 0 {
		return Usage{}, errors.Join(errs...)
	}
	return u, nil
}

func perHour(v rateVec) PerHour {
	return PerHour{MessagesIn: v.MessagesIn, MessagesOut: v.MessagesOut, Invocations: v.Invocations, WCU: v.WCU, RCU: v.RCU}
}

func perEvent(v rateVec) PerEvent {
	return PerEvent{MessagesIn: v.MessagesIn, MessagesOut: v.MessagesOut, Invocations: v.Invocations, HTTPRequests: v.HTTPRequests, WCU: v.WCU, RCU: v.RCU}
}

// IsRates reports whether data looks like a rates.json (its profiles'
// figures in snake case) rather than a usage file.
func IsRates(data []byte) bool {
	return strings.Contains(string(data), `"per_terminal_hour"`)
}
