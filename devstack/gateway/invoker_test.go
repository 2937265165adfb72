package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
)

type echoEvent struct {
	N int `json:"n"`
}

func echoHandler(ctx context.Context, e echoEvent) (echoEvent, error) {
	switch e.N {
	case -1:
		return e, errors.New("negative")
	case -2:
		panic("very negative")
	}
	return echoEvent{N: e.N * 10}, nil
}

// invokeMany invokes fn concurrently with n distinct events and checks every
// result belongs to its own event.
func invokeMany(t *testing.T, inv Invoker, fn string, n int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 1; i <= n; i++ {
		wg.Go(func() {
			out, err := inv.Invoke(context.Background(), fn, fmt.Appendf(nil, `{"n":%d}`, i))
			if err != nil {
				errs <- err
				return
			}
			var got echoEvent
			if err := json.Unmarshal(out, &got); err != nil || got.N != i*10 {
				errs <- fmt.Errorf("event %d: got %s (%v), want n=%d", i, out, err, i*10)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestInProcessInvokers(t *testing.T) {
	t.Parallel()
	invokers := map[string]Invoker{
		"HandlerInvoker":     HandlerInvoker(map[string]lambda.Handler{"Echo": lambda.NewHandler(echoHandler)}),
		"HandlerFuncInvoker": HandlerFuncInvoker(map[string]any{"Echo": echoHandler}),
	}
	for name, inv := range invokers {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			t.Run("results do not mix", func(t *testing.T) { invokeMany(t, inv, "Echo", 50) })
			tests := []struct {
				event    string
				wantType string
				wantMsg  string
			}{
				{`{"n":-1}`, "errorString", "negative"},
				{`{"n":-2}`, "Runtime.Panic", "very negative"},
				{`not json`, "SyntaxError", "invalid character"},
			}
			for _, tt := range tests {
				t.Run(tt.event, func(t *testing.T) {
					_, err := inv.Invoke(context.Background(), "Echo", []byte(tt.event))
					var fe *FunctionError
					if !errors.As(err, &fe) {
						t.Fatalf("got error %v, want a *FunctionError", err)
					}
					if fe.Type != tt.wantType || !strings.Contains(fe.Message, tt.wantMsg) || fe.Function != "Echo" {
						t.Errorf("got %s %q %q, want Echo %s containing %q", fe.Function, fe.Type, fe.Message, tt.wantType, tt.wantMsg)
					}
				})
			}
			t.Run("unknown function", func(t *testing.T) {
				if _, err := inv.Invoke(context.Background(), "Nope", []byte(`{}`)); !errors.Is(err, ErrUnknownFunction) {
					t.Errorf("got %v, want ErrUnknownFunction", err)
				}
			})
		})
	}
}

// TestHandlerFuncInvokerConcurrent proves one function runs concurrently:
// each invocation waits until all have started.
func TestHandlerFuncInvokerConcurrent(t *testing.T) {
	t.Parallel()
	const n = 5
	var mu sync.Mutex
	arrived := 0
	all := make(chan struct{})
	inv := HandlerFuncInvoker(map[string]any{"Wait": func(ctx context.Context) error {
		mu.Lock()
		if arrived++; arrived == n {
			close(all)
		}
		mu.Unlock()
		select {
		case <-all:
			return nil
		case <-time.After(20 * time.Second):
			return errors.New("the other invocations did not run concurrently")
		}
	}})
	var done sync.WaitGroup
	for range n {
		done.Go(func() {
			if _, err := inv.Invoke(context.Background(), "Wait", []byte(`{}`)); err != nil {
				t.Error(err)
			}
		})
	}
	done.Wait()
}

func TestHandlerFuncInvokerInvalidHandler(t *testing.T) {
	t.Parallel()
	inv := HandlerFuncInvoker(map[string]any{"Bad": "not a function"})
	_, err := inv.Invoke(context.Background(), "Bad", []byte(`{}`))
	var fe *FunctionError
	if !errors.As(err, &fe) || !strings.Contains(fe.Message, "handler kind") {
		t.Errorf("got %v, want a *FunctionError about the handler kind", err)
	}
}
