package stormsim

import (
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/retry"

	"github.com/edgesync/edgesync/agent"
)

// Agent is the part of the agent's behaviour the storm depends on.
type Agent struct {
	// BackoffBase and BackoffMax are the reconnect backoff: after the n-th
	// failed attempt in a row the agent waits a uniform random duration in
	// [0, min(BackoffMax, BackoffBase·2^(n-1))) ("full jitter").
	BackoffBase time.Duration
	BackoffMax  time.Duration
	// ReconnectAttempts is how many failed attempts in a row make the
	// agent give up (0: never).
	ReconnectAttempts int
	// StatusInterval is how often a connected agent sends its status (with
	// the log lines it holds, one logs message at the reference workload).
	StatusInterval time.Duration
	// AckTimeout is how long an unacknowledged logs message waits before
	// the agent sends it again.
	AckTimeout time.Duration
	// HelloTimeout, when positive, makes the agent send hello again when
	// no pull arrived within HelloTimeout plus a backoff after it: the k-th
	// hello sent again on a connection waits the backoff formula with
	// HelloTimeout as its base and BackoffMax as its cap (agent.HelloTimeout
	// and agent.HelloBackoff; 0: no such timer, as the agent before issue 16).
	HelloTimeout time.Duration
	// RehelloOnDrop, when set, makes the agent send hello again, after the
	// same backoff, when its hello or a pull's answer is refused: API
	// Gateway answers with an error frame (a frame without a "type": the
	// message was throttled, or its function throttled or failed), or the
	// service with an error naming the answer (the agent does; before issue
	// 16 it ignored both).
	RehelloOnDrop bool
	// StatusJitter, when positive, makes the first status report of a
	// connection go after a uniform random fraction in [1-StatusJitter, 1)
	// of StatusInterval instead of exactly StatusInterval, so terminals
	// that connected in the same instant do not report in step ever after
	// (the agent: 0.5, a random half to whole interval).
	StatusJitter float64
	// MaxInflight bounds the logs messages awaiting their ack
	// (agent.DefaultMaxInflight); beyond it lost batches are resent
	// together.
	MaxInflight int
}

// AgentDefaults returns the agent package's defaults: agent.DefaultConfig()
// (reconnect_attempts, status_interval, ack_timeout), agent.DefaultBackoff,
// agent.HelloTimeout with agent.HelloBackoff, the hello said again after a
// refusal or a lost answer, the first status report after a random half to
// whole interval, and agent.DefaultMaxInflight.
func AgentDefaults() Agent {
	cfg := agent.DefaultConfig()
	return Agent{
		BackoffBase:       agent.DefaultBackoff.Base,
		BackoffMax:        agent.DefaultBackoff.Max,
		ReconnectAttempts: cfg.ReconnectAttempts,
		StatusInterval:    cfg.StatusInterval.Duration(),
		AckTimeout:        cfg.AckTimeout.Duration(),
		HelloTimeout:      agent.HelloTimeout,
		RehelloOnDrop:     true,
		StatusJitter:      0.5,
		MaxInflight:       agent.DefaultMaxInflight,
	}
}

// EarlierAgent returns the agent as it was before issue 16, for
// comparison: giving up after 10 failed attempts in a row, a reconnect
// backoff from 1 s, no hello timer, refusals and lost answers ignored, the
// first status report a whole interval after the hello.
func EarlierAgent() Agent {
	a := AgentDefaults()
	a.ReconnectAttempts = 10
	a.BackoffBase = time.Second
	a.HelloTimeout = 0
	a.RehelloOnDrop = false
	a.StatusJitter = 0
	return a
}

// Delay returns the wait after n failed attempts in a row for a jitter j
// in [0, 1): the agent's own computation, agent.Backoff.Delay.
func (a Agent) Delay(n int, j float64) time.Duration {
	return agent.Backoff{Base: a.BackoffBase, Max: a.BackoffMax}.Delay(n, j)
}

// Gateway is API Gateway's side: the account's quotas and the stage's
// route throttling. A rate of 0 means unlimited.
type Gateway struct {
	// ConnectRate and ConnectBurst bound new WebSocket connections per
	// second per account and Region (quota: 500/s; AWS documents no burst,
	// the model allows one second's worth). A refused $connect fails the
	// handshake with 429 and counts as a failed attempt.
	ConnectRate, ConnectBurst float64
	// AccountRate and AccountBurst are the account throttle per Region,
	// shared by HTTP, REST and WebSocket APIs and the WebSocket callback
	// (management) API: 10,000 requests/s, bucket of 5,000. The model
	// counts accepted $connect requests, inbound messages and every
	// PostToConnection attempt against it.
	AccountRate, AccountBurst float64
	// RouteRate and RouteBurst are the stage's default route throttling
	// (template.yaml WebSocketThrottlingRateLimit and
	// WebSocketThrottlingBurstLimit), applied to $connect and to $default
	// separately. A throttled message never reaches the function: the
	// client gets a frame without a "type", which the agent ignores, so a
	// throttled hello or command_response is lost.
	RouteRate, RouteBurst float64
}

// Lambda is the functions' side.
type Lambda struct {
	// Concurrency is the account's concurrent executions (default quota
	// 1,000). An invocation beyond it is throttled: a $connect fails its
	// handshake, a message is lost as if throttled by the route.
	Concurrency int
	// ScalingRate and ScalingBurst bound how fast each function gains
	// execution environments: 1,000 every 10 seconds per function.
	ScalingRate, ScalingBurst float64
	// Reserved is each function's reserved concurrency (0: none), by
	// FunctionNames: it caps the function and is taken from the pool the
	// others share.
	Reserved [functions]int
	// Overhead is each invocation's own time besides its calls.
	Overhead time.Duration
}

// Latency is what a call takes in the Region (assumptions, see SCALE.md).
type Latency struct {
	// DynamoDBCall is one DynamoDB request (single-digit milliseconds).
	DynamoDBCall time.Duration
	// PostToConnection is one management-API call.
	PostToConnection time.Duration
	// Network is the terminal's round trip to API Gateway (each way varies
	// uniformly from half to one and a half times half of it).
	Network time.Duration
}

// SDK is the retry behaviour of the AWS SDK clients in the functions.
type SDK struct {
	// PushAttempts, PushThrottleBase and PushMaxBackoff are the management
	// API client's retries: aws-sdk-go-v2's standard retryer (3 attempts; a
	// throttle (LimitExceededException, HTTP 429) waits a uniform random
	// time in [0, min(1 s·2^i, 20 s)) before retry i+1).
	PushAttempts                     int
	PushThrottleBase, PushMaxBackoff time.Duration
	// DynamoDBAttempts is the DynamoDB client's attempts (dynamo.Retryer:
	// 5, the same backoff for throttles, no retry quota).
	DynamoDBAttempts int
}

// DynamoDB is the table's side.
type DynamoDB struct {
	// TableWCU is the write throughput the on-demand table serves without
	// throttling at the moment of the storm: at least 4,000 for a new
	// table, else up to twice its previous peak (0: unlimited).
	TableWCU float64
}

// Params configure one storm.
type Params struct {
	// Terminals is the fleet; every one is connected and loses its
	// connection at time 0.
	Terminals int
	// Seed makes a run reproducible.
	Seed uint64
	// DisconnectSpread is the window over which API Gateway invokes
	// $disconnect for the lost connections (they take concurrency and
	// write units; a throttled one is lost, which the next connect
	// overrides).
	DisconnectSpread time.Duration
	// Horizon ends the simulation if not every terminal has resynced or
	// given up by then.
	Horizon time.Duration

	Agent    Agent
	Gateway  Gateway
	Lambda   Lambda
	Latency  Latency
	SDK      SDK
	DynamoDB DynamoDB
}

// AWS quotas the defaults use (cmd/edgesync-scale/quotas.json cites them).
const (
	QuotaNewConnectionsPerSecond = 500
	QuotaAccountRequestsPerSec   = 10000
	QuotaAccountBurst            = 5000
	QuotaLambdaConcurrency       = 1000
	QuotaLambdaScalingPer10s     = 1000
	QuotaOnDemandNewTableWCU     = 4000
)

// Defaults returns the parameters of a storm of n terminals: the agent's
// defaults, AWS's default quotas, route throttling of routeRate/routeBurst
// (pass template.yaml's), the SDK's retry behaviour and the latency
// assumptions. TableWCU is the larger of a new table's 4,000 and twice the
// fleet's steady write rate (steadyWCU, write units per second).
func Defaults(n int, routeRate, routeBurst, steadyWCU float64) Params {
	return Params{
		Terminals:        n,
		Seed:             1,
		DisconnectSpread: time.Second,
		Horizon:          10 * time.Minute,
		Agent:            AgentDefaults(),
		Gateway: Gateway{
			ConnectRate: QuotaNewConnectionsPerSecond, ConnectBurst: QuotaNewConnectionsPerSecond,
			AccountRate: QuotaAccountRequestsPerSec, AccountBurst: QuotaAccountBurst,
			RouteRate: routeRate, RouteBurst: routeBurst,
		},
		Lambda: Lambda{
			Concurrency: QuotaLambdaConcurrency,
			ScalingRate: QuotaLambdaScalingPer10s / 10.0, ScalingBurst: QuotaLambdaScalingPer10s,
			Overhead: 2 * time.Millisecond,
		},
		Latency: Latency{DynamoDBCall: 6 * time.Millisecond, PostToConnection: 10 * time.Millisecond, Network: 60 * time.Millisecond},
		SDK: SDK{
			PushAttempts: retry.DefaultMaxAttempts, PushThrottleBase: time.Second, PushMaxBackoff: retry.DefaultMaxBackoff,
			DynamoDBAttempts: 5,
		},
		DynamoDB: DynamoDB{TableWCU: max(QuotaOnDemandNewTableWCU, 2*steadyWCU)},
	}
}

// SteadyWCU is the write rate of n connected terminals with agent a as
// the simulation models them (a logs message with its status every
// StatusInterval): the rate the table served before the storm, whose
// double is an on-demand table's warm throughput. Defaults takes it so
// that the fleet the simulation sends is the fleet the table had served.
func SteadyWCU(n int, a Agent) float64 {
	return float64(n) * workOf[msgLogs].wcu / a.StatusInterval.Seconds()
}

// Scaled returns p for a fleet f times smaller with every rate quota
// divided by f (connections, requests, route throttling, concurrency,
// scaling, table throughput), so that a small storm in a unit test meets
// the same pressure as the full one.
func (p Params) Scaled(f float64) Params {
	p.Terminals = int(float64(p.Terminals) / f)
	g := &p.Gateway
	g.ConnectRate, g.ConnectBurst = g.ConnectRate/f, g.ConnectBurst/f
	g.AccountRate, g.AccountBurst = g.AccountRate/f, g.AccountBurst/f
	g.RouteRate, g.RouteBurst = g.RouteRate/f, g.RouteBurst/f
	p.Lambda.Concurrency = max(1, int(float64(p.Lambda.Concurrency)/f))
	for i, r := range p.Lambda.Reserved {
		if r > 0 {
			p.Lambda.Reserved[i] = max(1, int(float64(r)/f))
		}
	}
	p.Lambda.ScalingRate, p.Lambda.ScalingBurst = p.Lambda.ScalingRate/f, p.Lambda.ScalingBurst/f
	p.DynamoDB.TableWCU /= f
	return p
}

// WithTemplate returns p with template.yaml's other settings a storm
// depends on: DisconnectFunction's reserved concurrency
// (DisconnectReservedConcurrency; 0: none) and the table's warm write
// throughput (TableWarmWriteUnits; 0: not set, the on-demand table's own).
func (p Params) WithTemplate(disconnectReserved int, warmWriteUnits float64) Params {
	p.Lambda.Reserved[fnDisconnect] = disconnectReserved
	p.DynamoDB.TableWCU = max(p.DynamoDB.TableWCU, warmWriteUnits)
	return p
}

// EarlierTemplate returns p with template.yaml as it was before issue 16,
// for comparison: the WebSocket stage's default route throttling at
// 1,000 requests/s, burst 500, no reserved concurrency for
// DisconnectFunction (and no TableWarmWriteUnits: apply it to Defaults,
// which leave the on-demand table its own warm throughput).
func (p Params) EarlierTemplate() Params {
	p.Gateway.RouteRate, p.Gateway.RouteBurst = EarlierRouteRate, EarlierRouteBurst
	p.Lambda.Reserved[fnDisconnect] = 0
	return p
}

// EarlierRouteRate and EarlierRouteBurst are the WebSocket stage's route
// throttling before issue 16 (template.yaml's defaults then).
const (
	EarlierRouteRate  = 1000
	EarlierRouteBurst = 500
)

// LargeFleetWarmWriteUnits is the table's warm write throughput README.md
// and SCALE.md ask for from about 10,000 terminals (TableWarmWriteUnits):
// the storm's own write rate, the account's 500 new connections a second
// at 14 write units each (BENCHMARKS.md), plus the steady writes of the
// terminals already back.
const LargeFleetWarmWriteUnits = 10000

// Validate reports parameters the simulation cannot run.
func (p Params) Validate() error {
	switch {
	case p.Terminals < 1:
		return fmt.Errorf("terminals: want at least 1, got %d", p.Terminals)
	case p.Agent.BackoffBase <= 0 || p.Agent.BackoffMax < p.Agent.BackoffBase:
		return fmt.Errorf("agent backoff: base %v must be positive and at most max %v", p.Agent.BackoffBase, p.Agent.BackoffMax)
	case p.Agent.StatusInterval <= 0 || p.Agent.AckTimeout <= 0:
		return fmt.Errorf("agent: status interval %v and ack timeout %v must be positive", p.Agent.StatusInterval, p.Agent.AckTimeout)
	case p.Lambda.Concurrency < 1:
		return fmt.Errorf("lambda concurrency: want at least 1, got %d", p.Lambda.Concurrency)
	case reserved(p.Lambda.Reserved) >= p.Lambda.Concurrency:
		return fmt.Errorf("lambda reserved concurrency %d leaves nothing of %d for the other functions", reserved(p.Lambda.Reserved), p.Lambda.Concurrency)
	case p.SDK.PushAttempts < 1 || p.SDK.DynamoDBAttempts < 1:
		return fmt.Errorf("sdk attempts: want at least 1")
	case p.Horizon <= 0:
		return fmt.Errorf("horizon: want a positive duration, got %v", p.Horizon)
	}
	return nil
}

func reserved(r [functions]int) int {
	n := 0
	for _, v := range r {
		n += v
	}
	return n
}
