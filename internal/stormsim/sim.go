package stormsim

import (
	"container/heap"
	"math"
	"math/rand/v2"
	"time"
)

// msgKind is what a message is, in either direction.
type msgKind uint8

const (
	msgHello msgKind = iota
	msgAnswer0
	msgAnswer1
	msgAnswer2
	msgLogs
	msgLogsResend
	msgPull0
	msgPull1
	msgPull2
	msgAck
	msgHelloError
	msgAnswerError
)

// The three pulls a hello causes (get_status, get_config, get_logs) and
// their answers are msgPull0+i and msgAnswer0+i.
const pulls = 3

// function is a Lambda function of the stack.
type function uint8

const (
	fnConnect function = iota
	fnDisconnect
	fnMessage
	functions
)

// FunctionNames are the template's logical ids, by the model's functions.
var FunctionNames = [functions]string{"ConnectFunction", "DisconnectFunction", "MessageFunction"}

// work is what one invocation does: sequential DynamoDB calls (parallel
// ones count once), the write units they consume, and what it pushes.
type work struct {
	calls  int
	wcu    float64
	pushes []msgKind
}

// workOf is what the functions do per event, from the code (fleet, infra/dynamo):
//   - $connect: read the terminal (Query), PutConnection, MarkOnline: 3 calls, 2 WCU.
//   - $disconnect: read the connection, MarkOffline, DeleteConnection: 3 calls, 2 WCU.
//   - hello: the connection (a new connection misses the instance's cache),
//     Touch, read the terminal, the three pull commands (parallel PutItems):
//     4 calls, 4 WCU; then the three pulls, one PostToConnection each, in turn.
//   - a pull's answer: the connection, the command, its data (status: record
//     and history sample; config: its item; logs: the chunk when lines came),
//     CompleteCommand: 4 calls; 3, 2 and 1 WCU (an empty log pull stores no chunk).
//   - a logs message with the status riding along: the connection, the
//     chunk, the record update, the sample: 4 calls, 4 WCU (BENCHMARKS.md
//     measured 448 WCU per 125 such invocations an hour, 3.6); then the ack.
//
// Together a connection costs 14 WCU, as BENCHMARKS.md measured. This is
// the first protocol version's traffic: today's agents (protocol v2: acks
// on request, the welcome, the status in the chunk) send an ack request
// now and then instead of taking an ack per message and write about 1.7
// units per logs message (rates.json), so the simulated storm is the
// heavier one.
var workOf = map[msgKind]work{
	msgHello:   {calls: 4, wcu: 4, pushes: []msgKind{msgPull0, msgPull1, msgPull2}},
	msgAnswer0: {calls: 4, wcu: 3},
	msgAnswer1: {calls: 4, wcu: 2},
	msgAnswer2: {calls: 4, wcu: 1},
	msgLogs:    {calls: 4, wcu: 4, pushes: []msgKind{msgAck}},
}

func init() { workOf[msgLogsResend] = workOf[msgLogs] }

var (
	connectWork    = work{calls: 3, wcu: 2}
	disconnectWork = work{calls: 3, wcu: 2}
)

type eventKind uint8

const (
	evDial       eventKind = iota // the agent opens a connection
	evConnected                   // $connect answered: the connection is open
	evInbound                     // a message from the agent reaches API Gateway
	evStep                        // an invocation goes on (DynamoDB done, or a push attempt)
	evDeliver                     // a pushed message reaches the agent
	evStatus                      // the agent's status timer
	evHelloCheck                  // the agent's hello timer (HelloTimeout)
	evDisconnect                  // API Gateway runs $disconnect of a lost connection
	evRehello                     // the agent says hello again after an error frame
)

type event struct {
	at      float64 // seconds since the outage
	seq     uint64  // insertion order breaks ties: deterministic
	kind    eventKind
	msg     msgKind
	term    int32
	session int32
	inv     *invocation
}

type queue []*event

func (q queue) Len() int { return len(q) }
func (q queue) Less(i, j int) bool {
	if q[i].at != q[j].at {
		return q[i].at < q[j].at
	}
	return q[i].seq < q[j].seq
}
func (q queue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *queue) Push(x any)   { *q = append(*q, x.(*event)) }
func (q *queue) Pop() any {
	old := *q
	e := old[len(old)-1]
	*q = old[:len(old)-1]
	return e
}

// bucket is a token bucket; rate 0 is unlimited.
type bucket struct {
	rate, burst, tokens, last float64
}

func newBucket(rate, burst float64) *bucket {
	burst = max(burst, 1)
	return &bucket{rate: rate, burst: burst, tokens: burst}
}

func (b *bucket) take(at, n float64) bool {
	if b.rate <= 0 {
		return true
	}
	b.tokens = min(b.burst, b.tokens+(at-b.last)*b.rate)
	b.last = at
	if b.tokens >= n {
		b.tokens -= n
		return true
	}
	return false
}

// terminal is one agent's state.
type terminal struct {
	session   int32 // current connection (0: none yet)
	connected bool
	failures  int
	received  uint8 // pulls received on this connection
	processed uint8 // answers stored since the outage
	resynced  bool
	unacked   int  // logs messages lost or unacknowledged, awaiting a resend
	rehello   bool // a hello is due after an error frame
	resends   int  // hellos sent again on this connection
}

// invocation is one Lambda invocation in progress.
type invocation struct {
	fn      function
	term    int32
	session int32
	msg     msgKind
	work    work
	pushes  []msgKind
	next    int // next push
	attempt int // attempts of the current push
	dynamo  int // DynamoDB attempts so far
	failed  bool
}

type sim struct {
	p     Params
	rng   *rand.Rand
	q     queue
	seq   uint64
	terms []terminal
	now   float64

	connect, account, routeConnect, routeDefault, table *bucket
	scaling                                             [functions]*bucket
	envs, running                                       [functions]int
	concurrency, unreserved, reservedTotal              int

	res    Result
	series []Second
	done   int // terminals resynced or given up
}

// Run simulates the storm described by p.
func Run(p Params) (Result, error) {
	if err := p.Validate(); err != nil {
		return Result{}, err
	}
	s := &sim{
		p:            p,
		rng:          rand.New(rand.NewPCG(p.Seed, p.Seed^0x9e3779b97f4a7c15)),
		terms:        make([]terminal, p.Terminals),
		connect:      newBucket(p.Gateway.ConnectRate, p.Gateway.ConnectBurst),
		account:      newBucket(p.Gateway.AccountRate, p.Gateway.AccountBurst),
		routeConnect: newBucket(p.Gateway.RouteRate, p.Gateway.RouteBurst),
		routeDefault: newBucket(p.Gateway.RouteRate, p.Gateway.RouteBurst),
		table:        newBucket(p.DynamoDB.TableWCU, p.DynamoDB.TableWCU),
	}
	for f := range s.scaling {
		s.scaling[f] = newBucket(p.Lambda.ScalingRate, p.Lambda.ScalingBurst)
		s.reservedTotal += p.Lambda.Reserved[f]
	}
	s.res.Params = p
	for i := range s.terms {
		id := int32(i)
		// The connection is lost: $disconnect runs for it, and the agent,
		// whose connection was healthy, starts a new series of attempts.
		s.at(s.rng.Float64()*p.DisconnectSpread.Seconds(), &event{kind: evDisconnect, term: id})
		s.fail(0, id)
	}
	horizon := p.Horizon.Seconds()
	for s.q.Len() > 0 && s.done < p.Terminals {
		e := heap.Pop(&s.q).(*event)
		if e.at > horizon {
			break
		}
		s.now = e.at
		s.handle(e)
	}
	s.finish(min(s.now, horizon))
	return s.res, nil
}

func (s *sim) at(t float64, e *event) {
	e.at = t
	s.seq++
	e.seq = s.seq
	heap.Push(&s.q, e)
}

func (s *sim) second(t float64) *Second {
	i := int(t)
	for len(s.series) <= i {
		s.series = append(s.series, Second{At: len(s.series)})
	}
	return &s.series[i]
}

// net is one way between a terminal and API Gateway: half the round
// trip, uniformly from half to one and a half times it.
func (s *sim) net() float64 { return s.p.Latency.Network.Seconds() / 2 * (0.5 + s.rng.Float64()) }

func (s *sim) handle(e *event) {
	t := &s.terms[e.term]
	switch e.kind {
	case evDial:
		s.dial(e.term)
	case evConnected:
		s.connected(e.term)
	case evInbound:
		if e.session != t.session || !t.connected {
			return
		}
		s.inbound(e.term, e.msg)
	case evStep:
		s.step(e.inv)
	case evDeliver:
		if e.session != t.session || !t.connected {
			return
		}
		s.deliver(e.term, e.msg)
	case evStatus:
		if e.session != t.session || !t.connected {
			return
		}
		s.send(e.term, msgLogs, 0)
		s.at(s.now+s.p.Agent.StatusInterval.Seconds(), &event{kind: evStatus, term: e.term, session: t.session})
	case evHelloCheck:
		if e.session != t.session || !t.connected || t.received != 0 {
			return
		}
		s.res.HelloResends++
		t.resends++
		s.sendHello(e.term)
	case evDisconnect:
		s.invoke(&invocation{fn: fnDisconnect, term: e.term, work: disconnectWork})
	case evRehello:
		if e.session != t.session || !t.connected {
			return
		}
		t.rehello = false
		s.res.Rehellos++
		s.sendHello(e.term)
	}
}

// fail is a failed connection attempt (or the lost connection at time 0):
// the agent counts it and waits its backoff, or gives up.
func (s *sim) fail(after float64, id int32) {
	t := &s.terms[id]
	t.connected = false
	t.failures++
	if s.p.Agent.ReconnectAttempts > 0 && t.failures >= s.p.Agent.ReconnectAttempts {
		s.res.GaveUp++
		s.done++
		return
	}
	wait := s.p.Agent.Delay(t.failures, s.rng.Float64()).Seconds()
	// evDial happens when the handshake reaches API Gateway.
	s.at(s.now+after+wait+s.net(), &event{kind: evDial, term: id})
}

func (s *sim) dial(id int32) {
	s.res.Attempts++
	sec := s.second(s.now)
	sec.Attempts++
	// A refusal reaches the agent half a round trip later.
	if !s.connect.take(s.now, 1) || !s.routeConnect.take(s.now, 1) || !s.account.take(s.now, 1) {
		s.res.Refused++
		sec.Refused++
		s.fail(s.net(), id)
		return
	}
	sec.Requests++
	if !s.invoke(&invocation{fn: fnConnect, term: id, work: connectWork}) {
		s.res.ConnectLambdaThrottled++
		sec.Refused++
		s.fail(s.net(), id)
	}
}

// connected: $connect succeeded; the agent says hello.
func (s *sim) connected(id int32) {
	t := &s.terms[id]
	t.session++
	t.connected = true
	t.received = 0
	t.unacked = 0
	t.rehello = false
	t.resends = 0
	s.second(s.now).Connected++
	s.sendHello(id)
	first := s.p.Agent.StatusInterval.Seconds() * (1 - s.p.Agent.StatusJitter*s.rng.Float64())
	s.at(s.now+first, &event{kind: evStatus, term: id, session: t.session})
}

func (s *sim) sendHello(id int32) {
	t := &s.terms[id]
	s.send(id, msgHello, 0)
	if ht := s.p.Agent.HelloTimeout.Seconds(); ht > 0 {
		s.at(s.now+ht+s.resendDelay(t.resends+1), &event{kind: evHelloCheck, term: id, session: t.session})
	}
}

// resendDelay is the agent's wait before the k-th hello it sends again on
// a connection: its backoff formula with HelloTimeout as the base.
func (s *sim) resendDelay(k int) float64 {
	a := s.p.Agent
	a.BackoffBase = a.HelloTimeout
	a.BackoffMax = max(a.BackoffMax, a.HelloTimeout)
	return a.Delay(k, s.rng.Float64()).Seconds()
}

// send sends a message from the agent after delay.
func (s *sim) send(id int32, m msgKind, delay float64) {
	t := &s.terms[id]
	s.at(s.now+delay+s.net(), &event{kind: evInbound, msg: m, term: id, session: t.session})
}

// inbound: a message reaches API Gateway.
func (s *sim) inbound(id int32, m msgKind) {
	sec := s.second(s.now)
	if !s.routeDefault.take(s.now, 1) || !s.account.take(s.now, 1) {
		sec.InboundThrottled++
		s.lost(id, m, &s.res.Throttled)
		return
	}
	sec.Inbound++
	sec.Requests++
	w := workOf[m]
	inv := &invocation{fn: fnMessage, term: id, session: s.terms[id].session, msg: m, work: w}
	if !s.invoke(inv) {
		sec.InboundThrottled++
		s.lost(id, m, &s.res.LambdaThrottled)
	}
}

// lost accounts for a message that never reached the function: the agent
// sees a frame without a type (ignored) and, for logs, resends after its
// ack timeout.
func (s *sim) lost(id int32, m msgKind, counter *LostMessages) {
	switch m {
	case msgHello:
		counter.Hellos++
		s.errorFrame(id)
	case msgLogs, msgLogsResend:
		counter.Logs++
		s.unacked(id, m)
	default:
		counter.Answers++
		s.errorFrame(id)
	}
}

// unacked: logs message m went unacknowledged. The agent resends a batch
// after its ack timeout; with MaxInflight batches waiting, later lines
// join them instead.
func (s *sim) unacked(id int32, m msgKind) {
	t := &s.terms[id]
	if m == msgLogs {
		if t.unacked >= max(s.p.Agent.MaxInflight, 1) {
			return
		}
		t.unacked++
	}
	s.send(id, msgLogsResend, s.p.Agent.AckTimeout.Seconds())
}

// errorFrame: API Gateway answered a hello or an answer with an error
// frame instead of running the function; an agent with RehelloOnDrop
// says hello again after a random wait.
func (s *sim) errorFrame(id int32) {
	t := &s.terms[id]
	if !s.p.Agent.RehelloOnDrop || t.rehello {
		return
	}
	t.rehello = true
	t.resends++
	s.at(s.now+s.net()+s.resendDelay(t.resends), &event{kind: evRehello, term: id, session: t.session})
}

// invoke starts an invocation, or reports false when Lambda throttles it.
func (s *sim) invoke(inv *invocation) bool {
	f := inv.fn
	if r := s.p.Lambda.Reserved[f]; r > 0 {
		if s.running[f] >= r {
			return false
		}
	} else if s.unreserved >= s.p.Lambda.Concurrency-s.reservedTotal {
		return false
	}
	if s.running[f] >= s.envs[f] {
		if !s.scaling[f].take(s.now, 1) {
			return false
		}
		s.envs[f]++
	}
	s.concurrency++
	if s.p.Lambda.Reserved[f] == 0 {
		s.unreserved++
	}
	s.running[f]++
	s.res.Invocations[f]++
	s.res.PeakConcurrency = max(s.res.PeakConcurrency, s.concurrency)
	s.res.PeakFunctionConcurrency[f] = max(s.res.PeakFunctionConcurrency[f], s.running[f])
	sec := s.second(s.now)
	sec.Concurrency = max(sec.Concurrency, s.concurrency)
	inv.pushes = inv.work.pushes
	s.dynamoPhase(inv)
	return true
}

// dynamoPhase runs the invocation's DynamoDB calls; throttled writes wait
// as the SDK retries them.
func (s *sim) dynamoPhase(inv *invocation) {
	inv.dynamo++
	took := s.p.Lambda.Overhead.Seconds() + float64(inv.work.calls)*s.p.Latency.DynamoDBCall.Seconds()
	if inv.work.wcu > 0 && !s.table.take(s.now, inv.work.wcu) {
		s.res.DynamoDBThrottled++
		if inv.dynamo >= s.p.SDK.DynamoDBAttempts {
			inv.failed = true
			s.res.DynamoDBFailed++
			s.afterDynamo(inv, took)
			return
		}
		wait := s.retryDelay(inv.dynamo)
		s.at(s.now+took+wait, &event{kind: evStep, inv: inv})
		return
	}
	s.second(s.now).WCU += inv.work.wcu
	s.afterDynamo(inv, took)
}

func (s *sim) afterDynamo(inv *invocation, took float64) {
	inv.dynamo = -1 // DynamoDB phase over; evStep now means pushes
	if inv.failed {
		inv.pushes = s.failurePushes(inv)
	}
	s.at(s.now+took, &event{kind: evStep, inv: inv})
}

// failurePushes is what a failed invocation sends: a failed hello is
// answered with an error naming it (the agent reconnects); other failures
// are answered with errors the agent acts on by waiting (logs are resent
// after the ack timeout), modelled without a push.
func (s *sim) failurePushes(inv *invocation) []msgKind {
	if inv.fn != fnMessage {
		return nil
	}
	switch {
	case inv.msg == msgHello:
		return []msgKind{msgHelloError}
	case inv.msg >= msgAnswer0 && inv.msg <= msgAnswer2:
		return []msgKind{msgAnswerError}
	case inv.msg == msgLogs || inv.msg == msgLogsResend:
		// The agent resends the batch after its ack timeout.
		s.unacked(inv.term, inv.msg)
	}
	return nil
}

// retryDelay is the SDK's wait before retry i+1 after a throttle (i from 1).
func (s *sim) retryDelay(i int) float64 {
	ceil := min(s.p.SDK.PushThrottleBase.Seconds()*math.Pow(2, float64(i-1)), s.p.SDK.PushMaxBackoff.Seconds())
	return s.rng.Float64() * ceil
}

// step continues an invocation: its DynamoDB phase again after a
// throttle, or its next push attempt.
func (s *sim) step(inv *invocation) {
	if inv.dynamo > 0 {
		s.dynamoPhase(inv)
		return
	}
	if inv.next >= len(inv.pushes) {
		s.end(inv)
		return
	}
	m := inv.pushes[inv.next]
	inv.attempt++
	sec := s.second(s.now)
	sec.Callbacks++
	s.res.Callbacks++
	took := s.p.Latency.PostToConnection.Seconds()
	if s.account.take(s.now, 1) {
		sec.CallbacksOK++
		sec.Requests++
		t := &s.terms[inv.term]
		s.at(s.now+took/2+s.net(), &event{kind: evDeliver, msg: m, term: inv.term, session: t.session})
		inv.next++
		inv.attempt = 0
		s.at(s.now+took, &event{kind: evStep, inv: inv})
		return
	}
	s.res.CallbacksThrottled++
	if inv.attempt < s.p.SDK.PushAttempts {
		s.at(s.now+took+s.retryDelay(inv.attempt), &event{kind: evStep, inv: inv})
		return
	}
	// The push failed for good.
	s.res.CallbacksFailed++
	inv.attempt = 0
	switch m {
	case msgHelloError, msgAnswerError:
		inv.next++
	case msgAck:
		// The logs were stored but never acknowledged: the agent resends
		// them after its ack timeout.
		inv.next++
		s.unacked(inv.term, inv.msg)
	default:
		// A pull could not be sent: hello fails, the service answers
		// with an error about the hello, the agent reconnects.
		inv.failed = true
		inv.pushes = []msgKind{msgHelloError}
		inv.next = 0
	}
	s.at(s.now+took, &event{kind: evStep, inv: inv})
}

// end finishes an invocation and applies what it did.
func (s *sim) end(inv *invocation) {
	s.concurrency--
	if s.p.Lambda.Reserved[inv.fn] == 0 {
		s.unreserved--
	}
	s.running[inv.fn]--
	t := &s.terms[inv.term]
	switch inv.fn {
	case fnConnect:
		if inv.failed {
			// The handshake fails (500).
			s.res.Refused++
			s.fail(s.net(), inv.term)
			return
		}
		s.at(s.now+s.net(), &event{kind: evConnected, term: inv.term})
	case fnMessage:
		if inv.failed || inv.session != t.session {
			return
		}
		if inv.msg >= msgAnswer0 && inv.msg <= msgAnswer2 {
			t.processed |= 1 << (inv.msg - msgAnswer0)
			if t.processed == 1<<pulls-1 && !t.resynced {
				t.resynced = true
				s.done++
				s.res.resyncTimes = append(s.res.resyncTimes, s.now)
				s.second(s.now).Resynced++
			}
		}
	}
}

// deliver: a pushed message reaches the agent.
func (s *sim) deliver(id int32, m msgKind) {
	t := &s.terms[id]
	switch {
	case m >= msgPull0 && m <= msgPull2:
		// The connection is healthy: the server spoke.
		t.failures = 0
		t.received |= 1 << (m - msgPull0)
		s.send(id, msgAnswer0+(m-msgPull0), 0.001)
	case m == msgAck:
		// An acknowledged resend ends its wait (the agent resent every
		// lost batch it held).
		t.unacked = 0
	case m == msgAnswerError:
		// An error naming a pull's answer: the agent today only logs it.
		s.errorFrame(id)
	case m == msgHelloError:
		// The agent reconnects at once after a healthy connection.
		s.res.HelloErrors++
		t.failures = 0
		t.session++ // the old connection's events no longer apply
		s.fail(0, id)
	}
}

func (s *sim) finish(end float64) {
	r := &s.res
	r.Duration = time.Duration(end * float64(time.Second))
	for _, t := range s.terms {
		if t.connected && !t.resynced {
			r.ConnectedNotResynced++
		}
	}
	r.Resynced = len(r.resyncTimes)
	r.Series = s.series
	for _, sec := range s.series {
		r.PeakAttempts = max(r.PeakAttempts, sec.Attempts)
		r.PeakCallbacks = max(r.PeakCallbacks, sec.Callbacks)
		r.PeakCallbacksOK = max(r.PeakCallbacksOK, sec.CallbacksOK)
		r.PeakRequests = max(r.PeakRequests, sec.Requests)
		r.PeakInbound = max(r.PeakInbound, sec.Inbound)
		r.PeakWCU = max(r.PeakWCU, sec.WCU)
	}
}
