package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// TestLimitConcurrency: a function with reserved concurrency runs at most
// that many invocations at once; the others share what the account leaves
// (account less the reservations); one beyond fails at once with
// ErrThrottled and runs nothing; a finished invocation frees its place.
func TestLimitConcurrency(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	started := make(chan string, 10)
	var mu sync.Mutex
	ran := map[string]int{}
	inner := invokerFunc(func(ctx context.Context, fn string, _ []byte) ([]byte, error) {
		mu.Lock()
		ran[fn]++
		mu.Unlock()
		started <- fn
		<-release
		return []byte(`{}`), nil
	})
	inv, err := LimitConcurrency(inner, 4, map[string]int{"D": 1}) // A and B share 3
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var wg sync.WaitGroup
	for _, fn := range []string{"A", "A", "B", "D"} {
		wg.Go(func() {
			if _, err := inv.Invoke(ctx, fn, nil); err != nil {
				t.Errorf("invocation of %s within the limit: %v", fn, err)
			}
		})
	}
	for range 4 {
		recv(t, started, "an invocation started")
	}
	if _, err := inv.Invoke(ctx, "A", nil); !errors.Is(err, ErrThrottled) {
		t.Errorf("a fourth unreserved invocation: %v, want ErrThrottled (A and B share 3)", err)
	}
	if _, err := inv.Invoke(ctx, "D", nil); !errors.Is(err, ErrThrottled) {
		t.Errorf("a second invocation of D: %v, want ErrThrottled (its reservation is 1)", err)
	}
	mu.Lock()
	if ran["A"] != 2 || ran["D"] != 1 {
		t.Errorf("A ran %d times, D %d; want 2 and 1 (the throttled ones run nothing)", ran["A"], ran["D"])
	}
	mu.Unlock()
	close(release)
	wg.Wait()
	if _, err := inv.Invoke(ctx, "A", nil); err != nil {
		t.Errorf("invocation after the others finished: %v", err)
	}
	if got, err := LimitConcurrency(inner, 0, nil); err != nil {
		t.Errorf("LimitConcurrency with no account limit: %v", err)
	} else if _, ok := got.(invokerFunc); !ok {
		t.Errorf("LimitConcurrency with no account limit = %T, want the invoker itself", got)
	}
	if _, err := LimitConcurrency(inner, 100, map[string]int{"D": 100}); err == nil {
		t.Error("LimitConcurrency accepted reservations that leave the other functions nothing")
	}
}

type invokerFunc func(ctx context.Context, fn string, payload []byte) ([]byte, error)

func (f invokerFunc) Invoke(ctx context.Context, fn string, payload []byte) ([]byte, error) {
	return f(ctx, fn, payload)
}

// TestWebSocketThrottledIntegration: with the account limited to one
// invocation at a time, a message while another runs is answered as API
// Gateway answers a throttled Lambda integration (the "Internal server
// error" frame), a $connect while another runs is refused with 500, and
// the throttles are counted apart from the invocations.
func TestWebSocketThrottledIntegration(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	blocked := make(chan struct{}, 1)
	f := newWSFixture(t, func(c *WebSocketConfig) { c.Invoker = limited(t, c.Invoker, 1) })
	f.block = func(ctx context.Context) error {
		blocked <- struct{}{}
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	c, id := f.dial(t, "")
	write(t, c, `{"type":"block"}`)
	recv(t, blocked, "the first message running")
	write(t, c, `{"type":"hello"}`)
	_, data, err := read(t, c)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	var got map[string]string
	if err := json.Unmarshal(data, &got); err != nil || got["message"] != "Internal server error" || got["connectionId"] != id || got["requestId"] == "" {
		t.Errorf("answer to a throttled message: %s (%v), want the Internal server error document for %s", data, err, id)
	}

	// $connect: hold one handshake's invocation, then try another.
	connectRelease := make(chan struct{})
	connectBlocked := make(chan struct{}, 1)
	f2 := newWSFixture(t, func(c *WebSocketConfig) {
		inner := c.Invoker
		c.Invoker = limited(t, invokerFunc(func(ctx context.Context, fn string, payload []byte) ([]byte, error) {
			if fn == "ConnectFunction" {
				select {
				case connectBlocked <- struct{}{}:
					<-connectRelease
				default:
				}
			}
			return inner.Invoke(ctx, fn, payload)
		}), 1)
	})
	first := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		conn, _, err := websocket.Dial(ctx, f2.clientURL, nil)
		if err == nil {
			conn.CloseNow()
		}
		first <- err
	}()
	recv(t, connectBlocked, "the first $connect running")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, resp, err := websocket.Dial(ctx, f2.clientURL, nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusInternalServerError {
		t.Errorf("handshake while $connect is at its limit: %v (response %v), want refused with 500", err, resp)
	}
	close(connectRelease)
	if err := <-first; err != nil {
		t.Errorf("the first handshake: %v", err)
	}

	close(release)
	recv(t, f.messages, "the first message")
	st := f.shutdown(t)
	if st.Throttles["MessageFunction"] != 1 || st.InvocationErrors["MessageFunction"] != 0 || st.Invocations["MessageFunction"] != 1 {
		t.Errorf("message function: %d throttled, %d invocations, %d errors; want 1, 1, 0", st.Throttles["MessageFunction"], st.Invocations["MessageFunction"], st.InvocationErrors["MessageFunction"])
	}
	if st2 := f2.shutdown(t); st2.Throttles["ConnectFunction"] != 1 || st2.ConnectionsRefused != 1 {
		t.Errorf("connect function: %d throttled, %d handshakes refused; want 1, 1", st2.Throttles["ConnectFunction"], st2.ConnectionsRefused)
	}
}

// limited is LimitConcurrency with an account of n and no reservations.
func limited(t *testing.T, inv Invoker, n int) Invoker {
	t.Helper()
	l, err := LimitConcurrency(inv, n, nil)
	if err != nil {
		t.Fatal(err)
	}
	return l
}
