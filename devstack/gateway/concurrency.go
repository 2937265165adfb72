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

// DefaultFunctionConcurrency is the limit the local stack gives each
// function: Lambda's default concurrency quota of an account (1,000),
// which in AWS all functions share.
const DefaultFunctionConcurrency = 1000

// LimitConcurrency returns an Invoker that lets at most limit invocations
// of each function run through inv at once, as Lambda's concurrency does:
// an invocation beyond it fails at once, never queued, with an error
// wrapping ErrThrottled, and runs nothing. API Gateway answers an
// integration throttled this way as one that failed (a Lambda proxy
// integration gets no response to pass on): the WebSocket emulator
// refuses the $connect handshake with 500 {"message": "Internal server
// error"}, answers a message with the frame {"message": "Internal server
// error", "connectionId": …, "requestId": …} (the frame an agent cannot
// tell from a failed invocation), and drops a $disconnect; the HTTP API
// emulator answers 500 {"message":"Internal Server Error"}. The WebSocket
// emulator counts throttled invocations apart from the others
// (Stats.Throttles), as Lambda's Throttles metric does. A limit below 1
// returns inv itself.
func LimitConcurrency(inv Invoker, limit int) Invoker {
	if limit < 1 {
		return inv
	}
	return &limitedInvoker{inv: inv, limit: limit, running: map[string]int{}}
}

type limitedInvoker struct {
	inv   Invoker
	limit int

	mu      sync.Mutex
	running map[string]int
}

func (l *limitedInvoker) Invoke(ctx context.Context, function string, payload []byte) ([]byte, error) {
	l.mu.Lock()
	if l.running[function] >= l.limit {
		l.mu.Unlock()
		return nil, fmt.Errorf("invoke %s: %d running: %w", function, l.limit, ErrThrottled)
	}
	l.running[function]++
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		if l.running[function]--; l.running[function] == 0 {
			delete(l.running, function)
		}
		l.mu.Unlock()
	}()
	return l.inv.Invoke(ctx, function, payload)
}
