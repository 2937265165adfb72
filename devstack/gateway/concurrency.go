package gateway

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// ErrThrottled is wrapped by the error of an invocation refused because
// its function already runs as many invocations as it may: Lambda's
// TooManyRequestsException (HTTP 429, "Rate Exceeded.").
var ErrThrottled = errors.New("function throttled: its concurrent invocations are at the limit (Lambda TooManyRequestsException)")

// DefaultFunctionConcurrency is the concurrency the local stack gives its
// functions together: Lambda's default concurrency quota of an account
// (1,000), which in AWS all functions share.
const DefaultFunctionConcurrency = 1000

// LimitConcurrency returns an Invoker that lets invocations run through
// inv as Lambda's concurrency does: a function with reserved concurrency
// (reserved, by function name) runs at most that many at once, and the
// others share what the account's concurrency leaves (account less every
// reservation). An invocation beyond its limit fails at once, never
// queued, with an error wrapping ErrThrottled, and runs nothing. API
// Gateway answers an integration throttled this way as one that failed (a
// Lambda proxy integration gets no response to pass on): the WebSocket
// emulator refuses the $connect handshake with 500 {"message": "Internal
// server error"}, answers a message with the frame {"message": "Internal
// server error", "connectionId": …, "requestId": …} (the frame an agent
// cannot tell from a failed invocation), and drops a $disconnect; the HTTP
// API emulator answers 500 {"message":"Internal Server Error"}. The
// WebSocket emulator counts throttled invocations apart from the others
// (Stats.Throttles), as Lambda's Throttles metric does. An account below 1
// returns inv itself; reservations that leave the others nothing are
// refused, as Lambda refuses them (it keeps 100 unreserved).
func LimitConcurrency(inv Invoker, account int, reserved map[string]int) (Invoker, error) {
	if account < 1 {
		return inv, nil
	}
	total := 0
	for name, n := range reserved {
		if n < 0 {
			return nil, fmt.Errorf("reserved concurrency of %s: %d, want 0 or more", name, n)
		}
		total += n
	}
	if total >= account {
		return nil, fmt.Errorf("reserved concurrency %d leaves nothing of the account's %d for the other functions", total, account)
	}
	return &limitedInvoker{inv: inv, shared: account - total, reserved: reserved, running: map[string]int{}}, nil
}

type limitedInvoker struct {
	inv      Invoker
	shared   int            // the unreserved functions' pool
	reserved map[string]int // by function

	mu         sync.Mutex
	running    map[string]int
	sharedUsed int
}

func (l *limitedInvoker) Invoke(ctx context.Context, function string, payload []byte) ([]byte, error) {
	r, isReserved := l.reserved[function]
	l.mu.Lock()
	switch {
	case isReserved && l.running[function] >= r:
		l.mu.Unlock()
		return nil, fmt.Errorf("invoke %s: %d running, its reserved concurrency: %w", function, r, ErrThrottled)
	case !isReserved && l.sharedUsed >= l.shared:
		l.mu.Unlock()
		return nil, fmt.Errorf("invoke %s: the unreserved functions run %d, the account's concurrency left to them: %w", function, l.shared, ErrThrottled)
	}
	l.running[function]++
	if !isReserved {
		l.sharedUsed++
	}
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		if l.running[function]--; l.running[function] == 0 {
			delete(l.running, function)
		}
		if !isReserved {
			l.sharedUsed--
		}
		l.mu.Unlock()
	}()
	return l.inv.Invoke(ctx, function, payload)
}
