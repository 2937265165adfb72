package stormsim

import (
	"math"
	"slices"
	"time"
)

// Result is what a storm did.
type Result struct {
	Params Params
	// Duration is the virtual time simulated: until every terminal
	// resynced or gave up, or the horizon.
	Duration time.Duration
	// Resynced terminals had all three pulls answered and stored; GaveUp
	// ones stopped after reconnect_attempts failures in a row;
	// ConnectedNotResynced ones are connected at the end without all
	// three answers stored (their hello or an answer was lost).
	Resynced, GaveUp, ConnectedNotResynced int
	// Attempts are the agents' connection attempts; Refused those API
	// Gateway refused (429 over the connection rate or the throttles, 500
	// when the $connect function was throttled or failed), of which
	// ConnectLambdaThrottled by Lambda.
	Attempts, Refused, ConnectLambdaThrottled int
	// Throttled and LambdaThrottled are the agents' messages that never
	// reached the function: refused by a throttle (route or account), or
	// by Lambda.
	Throttled, LambdaThrottled LostMessages
	// HelloResends are hellos sent again by the agent's hello timer;
	// HelloErrors are error answers to a hello that made the agent
	// reconnect.
	HelloResends, HelloErrors int
	// Rehellos are hellos sent again after an error frame (RehelloOnDrop).
	Rehellos int
	// Callbacks are PostToConnection attempts (retries included), of
	// which CallbacksThrottled were refused; CallbacksFailed pushes failed
	// after all the SDK's attempts.
	Callbacks, CallbacksThrottled, CallbacksFailed int
	// DynamoDBThrottled invocations found the table's write throughput
	// exhausted (each retried as the SDK does); DynamoDBFailed ran out of
	// attempts.
	DynamoDBThrottled, DynamoDBFailed int
	// Invocations by function (FunctionNames), and the peak concurrency.
	Invocations             [functions]int
	PeakConcurrency         int
	PeakFunctionConcurrency [functions]int
	// Peaks per second: connection attempts, callback attempts and
	// successful callbacks, requests counted against the account throttle,
	// messages that reached the function, write units.
	PeakAttempts, PeakCallbacks, PeakCallbacksOK, PeakRequests, PeakInbound int
	PeakWCU                                                                 float64
	// Series has one entry per second of virtual time.
	Series []Second

	resyncTimes []float64
}

// LostMessages counts lost messages by kind.
type LostMessages struct {
	Hellos, Answers, Logs int
}

// Total is the sum of the kinds.
func (l LostMessages) Total() int { return l.Hellos + l.Answers + l.Logs }

// Second is one second of the storm.
type Second struct {
	At int // seconds since the outage
	// Attempts and Refused connection attempts; Connected connections
	// opened; Resynced terminals that completed their resync.
	Attempts, Refused, Connected, Resynced int
	// Inbound messages that reached the function, and those throttled.
	Inbound, InboundThrottled int
	// Callbacks attempted and succeeded (PostToConnection).
	Callbacks, CallbacksOK int
	// Requests counted against the account throttle.
	Requests int
	// Concurrency is the peak concurrent executions within the second.
	Concurrency int
	// WCU consumed.
	WCU float64
}

// ResyncedWithin returns the time until fraction q (0 < q <= 1) of the
// fleet had resynced, and false if that many never did.
func (r Result) ResyncedWithin(q float64) (time.Duration, bool) {
	need := int(math.Ceil(q * float64(r.Params.Terminals)))
	if need < 1 {
		need = 1
	}
	if len(r.resyncTimes) < need {
		return 0, false
	}
	ts := slices.Clone(r.resyncTimes)
	slices.Sort(ts)
	return time.Duration(ts[need-1] * float64(time.Second)), true
}
