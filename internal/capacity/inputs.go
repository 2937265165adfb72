package capacity

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Quota IDs the model needs in the quotas file.
const (
	QuotaNewConnections   = "apigw.websocket.new-connections"
	QuotaAccountThrottle  = "apigw.account.throttle"
	QuotaAccountBurst     = "apigw.account.burst"
	QuotaFrameBytes       = "apigw.websocket.frame-bytes"
	QuotaMessageBytes     = "apigw.websocket.message-bytes"
	QuotaIdleTimeout      = "apigw.websocket.idle-seconds"
	QuotaConnectionMax    = "apigw.websocket.connection-seconds"
	QuotaIntegrationLimit = "apigw.integration-timeout-seconds"
	QuotaLambdaConcurrent = "lambda.concurrent-executions"
	QuotaLambdaScaling    = "lambda.scaling-per-10s"
	QuotaPartitionWCU     = "dynamodb.partition-wcu"
	QuotaPartitionRCU     = "dynamodb.partition-rcu"
	QuotaTableWCU         = "dynamodb.table-wcu"
	QuotaTableRCU         = "dynamodb.table-rcu"
	QuotaNewTableWCU      = "dynamodb.on-demand-new-table-wcu"
	QuotaNewTableRCU      = "dynamodb.on-demand-new-table-rcu"
)

var requiredQuotas = []string{
	QuotaNewConnections, QuotaAccountThrottle, QuotaAccountBurst, QuotaFrameBytes, QuotaMessageBytes,
	QuotaIdleTimeout, QuotaConnectionMax, QuotaIntegrationLimit, QuotaLambdaConcurrent, QuotaLambdaScaling,
	QuotaPartitionWCU, QuotaPartitionRCU, QuotaTableWCU, QuotaTableRCU, QuotaNewTableWCU, QuotaNewTableRCU,
}

// Quotas is the quotas file: AWS's published default quotas, each with
// the page it comes from, and the date they were checked.
type Quotas struct {
	// Checked is the date (YYYY-MM-DD) the figures were compared with the
	// sources.
	Checked string `json:"checked"`
	// Region the defaults apply to (some Regions have lower API Gateway
	// throttles; the sources say which).
	Region string  `json:"region"`
	Quotas []Quota `json:"quotas"`
}

// Quota is one published quota.
type Quota struct {
	ID    string  `json:"id"`
	Name  string  `json:"name"`
	Value float64 `json:"value"`
	Unit  string  `json:"unit"`
	// Adjustable says whether a quota increase can be requested.
	Adjustable bool `json:"adjustable"`
	// Source is the AWS documentation page stating it.
	Source string `json:"source"`
	// Remedy is what to raise or change when the quota is hit.
	Remedy string `json:"remedy,omitempty"`
	Note   string `json:"note,omitempty"`
}

// ParseQuotas decodes and checks a quotas file: a date, and every quota
// the model uses with a positive value and a source.
func ParseQuotas(data []byte) (Quotas, error) {
	var q Quotas
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&q); err != nil {
		return Quotas{}, fmt.Errorf("quotas: %w", err)
	}
	var errs []error
	if q.Checked == "" {
		errs = append(errs, errors.New("quotas: checked (the date the figures were checked) is required"))
	}
	seen := map[string]bool{}
	for _, x := range q.Quotas {
		switch {
		case seen[x.ID]:
			errs = append(errs, fmt.Errorf("quotas: %s is listed twice", x.ID))
		case x.Value <= 0:
			errs = append(errs, fmt.Errorf("quotas: %s: value must be positive", x.ID))
		case !strings.HasPrefix(x.Source, "https://"):
			errs = append(errs, fmt.Errorf("quotas: %s: source must be the https:// page stating it", x.ID))
		}
		seen[x.ID] = true
	}
	for _, id := range requiredQuotas {
		if !seen[id] {
			errs = append(errs, fmt.Errorf("quotas: %s is missing", id))
		}
	}
	return q, errors.Join(errs...)
}

// Get returns the quota id; ParseQuotas checked it is there.
func (q Quotas) Get(id string) Quota {
	i := slices.IndexFunc(q.Quotas, func(x Quota) bool { return x.ID == id })
	if i < 0 {
		return Quota{ID: id, Name: id}
	}
	return q.Quotas[i]
}

// Usage is the usage file: per-terminal traffic by agent profile.
type Usage struct {
	// Source names the measurement the figures come from.
	Source string `json:"source"`
	// Derivation says how each figure was derived from it.
	Derivation []string `json:"derivation"`
	// Profiles by name ("default", "economy"); a profile not measured yet
	// is null.
	Profiles map[string]*Profile `json:"profiles"`
}

// Profile is one agent profile's traffic per terminal at the reference
// workload (BENCHMARKS.md: online 24/7, 86,400 lines a day in bursts,
// status every 30 s, 10 dashboard reads a day).
type Profile struct {
	// Idle is the steady state per terminal-hour while nobody reads the
	// terminal's logs; Live while a dashboard tails them.
	Idle PerHour `json:"idlePerTerminalHour"`
	Live PerHour `json:"livePerTerminalHour"`
	// PerConnection is what one connection costs: $connect, hello, the
	// three pulls and their answers, $disconnect.
	PerConnection PerEvent `json:"perConnection"`
	// PerRead is one dashboard read of a terminal page.
	PerRead PerEvent `json:"perDashboardRead"`
	// ReadsPerDay per terminal, each making it live for LiveMinutesPerRead.
	ReadsPerDay        float64 `json:"readsPerDay"`
	LiveMinutesPerRead float64 `json:"liveMinutesPerRead"`
	// InvocationMS is the mean duration of an invocation in AWS (an
	// assumption stated in the file; the benchmark's are dynalite's).
	InvocationMS float64 `json:"awsInvocationMs"`
	// ConnectionReadRCU is the read units per inbound message for looking
	// up its connection when the function instance has not cached it (in
	// AWS, most messages of a connection land on other instances).
	ConnectionReadRCU float64 `json:"connectionLookupRcuPerMessage"`
}

// PerHour is traffic per terminal-hour.
type PerHour struct {
	MessagesIn  float64 `json:"messagesIn"`
	MessagesOut float64 `json:"messagesOut"`
	Invocations float64 `json:"invocations"`
	WCU         float64 `json:"wcu"`
	RCU         float64 `json:"rcu"`
}

// PerEvent is the traffic of one event.
type PerEvent struct {
	MessagesIn   float64 `json:"messagesIn"`
	MessagesOut  float64 `json:"messagesOut"`
	Invocations  float64 `json:"invocations"`
	HTTPRequests float64 `json:"httpRequests"`
	WCU          float64 `json:"wcu"`
	RCU          float64 `json:"rcu"`
}

// ParseUsage decodes and checks a usage file: a "default" profile with
// its steady traffic set; other profiles may be null (not measured yet).
func ParseUsage(data []byte) (Usage, error) {
	var u Usage
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&u); err != nil {
		return Usage{}, fmt.Errorf("usage: %w", err)
	}
	var errs []error
	if u.Source == "" || len(u.Derivation) == 0 {
		errs = append(errs, errors.New("usage: source and derivation are required"))
	}
	d := u.Profiles["default"]
	if d == nil {
		errs = append(errs, errors.New("usage: profile default is required"))
	}
	for name, p := range u.Profiles {
		if p == nil {
			continue
		}
		if p.Idle.MessagesIn <= 0 || p.Idle.Invocations <= 0 || p.Idle.WCU <= 0 || p.PerConnection.Invocations <= 0 || p.InvocationMS <= 0 {
			errs = append(errs, fmt.Errorf("usage: profile %s: idle messages, invocations and write units, per-connection invocations and awsInvocationMs must be positive", name))
		}
	}
	return u, errors.Join(errs...)
}

// ProfileNames returns the profiles in report order: default first.
func (u Usage) ProfileNames() []string {
	var names []string
	for n := range u.Profiles {
		if n != "default" {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return append([]string{"default"}, names...)
}
