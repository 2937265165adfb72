package main

import (
	"encoding/json"
	"time"
)

// rateFile is rates.json: per-terminal rates by profile, for capacity
// models (SCALE.md's). BENCHMARKS.md documents its fields.
type rateFile struct {
	About     string                 `json:"about"`
	Generated time.Time              `json:"generated"`
	Command   string                 `json:"command"`
	Workload  rateWorkload           `json:"workload"`
	Profiles  map[string]profileRate `json:"profiles"`
}

type rateWorkload struct {
	LinesPerDay          int     `json:"lines_per_day"`
	DashboardReadsPerDay int     `json:"dashboard_reads_per_day"`
	LiveSecondsPerRead   float64 `json:"live_seconds_per_read"`
}

// profileRate is one profile's (or baseline's) rates per terminal.
type profileRate struct {
	StatusIntervalS    float64 `json:"status_interval_s,omitempty"`
	IdleBatchWindowS   float64 `json:"idle_batch_window_s,omitempty"`
	StatusPromiseS     float64 `json:"status_promise_s,omitempty"`
	MeasuredScale      float64 `json:"measured_time_compression"`
	PerTerminalHour    rateVec `json:"per_terminal_hour"`
	PerTerminalHourLiv rateVec `json:"per_terminal_hour_live,omitzero"`
	PerConnection      rateVec `json:"per_connection"`
	ConnectsPerDay     float64 `json:"connects_per_day"`
	PerDashboardRead   rateVec `json:"per_dashboard_read"`
	MonthUSD           float64 `json:"cost_per_terminal_month_usd"`
}

// rateVec is usage in the units AWS counts.
type rateVec struct {
	MessagesIn      float64 `json:"messages_in"`
	MessagesOut     float64 `json:"messages_out"`
	MessageUnitsIn  float64 `json:"message_units_in"`
	Invocations     float64 `json:"invocations"`
	LambdaGBSeconds float64 `json:"lambda_gb_seconds"`
	WCU             float64 `json:"write_units"`
	RCU             float64 `json:"read_units"`
	HTTPRequests    float64 `json:"http_requests"`
	Pulls           float64 `json:"pulls,omitempty"`
}

func toRate(k kindUsage, pulls bool) rateVec {
	t := k.total()
	v := rateVec{
		MessagesIn: t.Messages - t.MessagesOut, MessagesOut: t.MessagesOut, MessageUnitsIn: t.MsgUnits - t.MessagesOut,
		Invocations: t.Invocations, LambdaGBSeconds: t.GBSeconds, WCU: t.WCU, RCU: t.RCU, HTTPRequests: t.HTTPRequests,
	}
	if pulls {
		v.Pulls = k[kindCommands].MessagesOut
	}
	return v
}

// ratesJSON is the content of rates.json.
func (r *results) ratesJSON() ([]byte, error) {
	f := rateFile{
		About: "Per-terminal rates at the reference workload, measured by cmd/edgesync-bench (see BENCHMARKS.md, " +
			"section rates.json): per_terminal_hour nobody reading, per_terminal_hour_live while a dashboard tails the logs, " +
			"per_connection ($connect, hello and its answers, pulls, $disconnect), per_dashboard_read (a terminal page).",
		Generated: r.began.UTC().Truncate(time.Second),
		Command:   "go run ./cmd/edgesync-bench" + r.flags(),
		Workload:  rateWorkload{LinesPerDay: refLinesPerDay, DashboardReadsPerDay: refReadsPerDay, LiveSecondsPerRead: 60},
		Profiles:  map[string]profileRate{},
	}
	for _, p := range []struct{ key, group string }{{"default", groupOurs}, {"economy", groupEconomy}, {"seed_literal", groupSeed}} {
		mm := r.models[p.group]
		if mm == nil {
			continue
		}
		pr := profileRate{
			MeasuredScale:    mm.Group.scale,
			PerTerminalHour:  toRate(mm.Steady, false),
			PerConnection:    toRate(mm.PerConnection, true),
			ConnectsPerDay:   24 * 60 / gatewayMaxAge,
			PerDashboardRead: toRate(mm.PerRead, false),
			MonthUSD:         price(mm.Month.total(), r.prices).total(),
		}
		if mm.Group.kind == clientAgent {
			pr.ConnectsPerDay = 24 * 60 / agentReconnectEvery
			cfg, err := agentConfig(groupSpec{profile: mm.Group.profile, scale: 1})
			if err != nil {
				return nil, err
			}
			pr.StatusIntervalS = float64(cfg.StatusInterval)
			pr.IdleBatchWindowS = float64(cfg.IdleBatchWindowMS) / 1000
			pr.StatusPromiseS = promiseOf(mm.Group).Seconds()
			pr.PerTerminalHourLiv = toRate(mm.Live, false)
		} else {
			pr.StatusIntervalS = refStatusEvery.Seconds()
		}
		f.Profiles[p.key] = pr
	}
	raw, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(raw, '\n'), nil
}
