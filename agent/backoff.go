package agent

import "time"

// The reconnect policy, in one place: a simulation of a fleet's reconnect
// storm imports these so that it models what the agent does.
const (
	// DefaultBackoffBase is the backoff ceiling after the first failure:
	// 5 s, so a fleet that lost its connections at once (a stage
	// redeploy) spreads its first attempts over 5 s instead of 1 s, below
	// API Gateway's 500 new connections/s sooner (SCALE.md: the first
	// wave of a 100,000-terminal storm 29,000 attempts/s instead of
	// 119,000, the same resync times).
	DefaultBackoffBase = 5 * time.Second
	// DefaultBackoffMax caps the backoff ceiling: a device retries at
	// least this often, forever unless reconnect_attempts says otherwise.
	DefaultBackoffMax = time.Minute
	// HealthyAfter is how long a connection must last, if the server says
	// nothing, for the next failure to count as the first of a new series
	// (a connection on which the server sent anything counts at once).
	HealthyAfter = time.Minute
	// DefaultReconnectAttempts is reconnect_attempts' default: 0, retry
	// forever.
	DefaultReconnectAttempts = 0
	// HelloTimeout is how long the agent waits for any answer to its
	// hello (a welcome, a pull, an ack) before saying hello again: a hello
	// API Gateway throttled never reaches the function, and nothing else
	// would ever tell the agent.
	HelloTimeout = 20 * time.Second
)

// HelloBackoff spaces the hellos of one connection: after its k-th hello
// the agent waits HelloTimeout plus HelloBackoff.Delay(k, j) for an answer
// before the next (so terminals that connected together do not resend
// together), and after an error frame from API Gateway or a lost answer
// just HelloBackoff.Delay(k, j). internal/stormsim models exactly this.
var HelloBackoff = Backoff{Base: 20 * time.Second, Max: time.Minute}

// Backoff is the reconnect backoff: exponential with full jitter. After
// the n-th failure in a row the agent waits Delay(n, j) with j uniform in
// [0, 1).
type Backoff struct {
	// Base is the ceiling after the first failure; it doubles with each
	// further one.
	Base time.Duration
	// Max caps the ceiling.
	Max time.Duration
}

// DefaultBackoff is the policy of an agent without WithBackoff.
var DefaultBackoff = Backoff{Base: DefaultBackoffBase, Max: DefaultBackoffMax}

// Ceiling returns the longest wait after n failures in a row (n >= 1):
// min(Max, Base·2^(n-1)).
func (b Backoff) Ceiling(n int) time.Duration {
	if n < 1 {
		return 0
	}
	// Base·2^(n-1) > Max, compared without computing the product (it
	// overflows for a base of tens of seconds and n about 30).
	if n > 62 || b.Base > b.Max>>(n-1) {
		return b.Max
	}
	return b.Base << (n - 1)
}

// Delay returns the wait after n failures in a row for a jitter j in
// [0, 1] (values outside are clamped): j·Ceiling(n), "full jitter".
func (b Backoff) Delay(n int, j float64) time.Duration {
	j = min(max(j, 0), 1)
	return time.Duration(j * float64(b.Ceiling(n)))
}
