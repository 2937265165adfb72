package devstack_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/edgesync/edgesync/devstack"
	"github.com/edgesync/edgesync/devstack/gateway"
	"github.com/edgesync/edgesync/internal/poll"
)

// recordingInvoker records the scheduled events the stack sends.
type recordingInvoker struct {
	gateway.Invoker
	mu     sync.Mutex
	events []events.EventBridgeEvent
	errs   []error
}

func (r *recordingInvoker) Invoke(ctx context.Context, function string, payload []byte) ([]byte, error) {
	out, err := r.Invoker.Invoke(ctx, function, payload)
	if function == "SchedulerFunction" {
		var ev events.EventBridgeEvent
		_ = json.Unmarshal(payload, &ev)
		r.mu.Lock()
		r.events = append(r.events, ev)
		if err != nil {
			r.errs = append(r.errs, err)
		}
		r.mu.Unlock()
	}
	return out, err
}

// TestScheduledFunctionRuns: the local stack invokes the template's
// scheduled function as EventBridge would, with a scheduled event, and the
// function succeeds.
func TestScheduledFunctionRuns(t *testing.T) {
	t.Parallel()
	rec := &recordingInvoker{}
	start(t, devstack.Config{ScheduleEvery: 20 * time.Millisecond, WrapInvoker: func(inv gateway.Invoker) gateway.Invoker {
		rec.Invoker = inv
		return rec
	}})
	poll.Until(t, "two scheduled invocations", func() bool {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		return len(rec.events) >= 2
	})
	rec.mu.Lock()
	ev, errs := rec.events[0], rec.errs
	rec.mu.Unlock()
	if len(errs) > 0 {
		t.Errorf("scheduled invocations failed: %v", errs)
	}
	if ev.DetailType != "Scheduled Event" || ev.Source != "aws.events" || ev.Time.IsZero() || len(ev.Resources) != 1 {
		t.Errorf("scheduled event = %+v, want EventBridge's Scheduled Event shape", ev)
	}
}
