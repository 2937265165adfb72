package agent_test

import (
	"math"
	"testing"
	"time"

	"github.com/edgesync/edgesync/agent"
	"github.com/edgesync/edgesync/agent/agenttest"
	"github.com/edgesync/edgesync/protocol"
)

// TestHelloSaidAgainWhenUnanswered: a hello API Gateway throttled never
// reaches the function, so nothing answers it; the agent says it again
// after its hello timeout, and again, spaced by its backoff — and stops
// once the server answers it (a welcome).
func TestHelloSaidAgainWhenUnanswered(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	a := newAgent(t, testConfig(t, srv), agent.WithHelloRetry(100*time.Millisecond, agent.Backoff{Base: 50 * time.Millisecond, Max: 100 * time.Millisecond}))
	start(t, a)
	waitFor(t, srv, "three hellos on one connection", func(v agenttest.View) bool { return len(v.Hellos()) >= 3 && v.Connections() == 1 })
	if err := srv.Send(waitCtx(t), protocol.Welcome{Type: protocol.TypeWelcome}); err != nil {
		t.Fatal(err)
	}
	var answered int
	srv.Inspect(func(v agenttest.View) { answered = len(v.Hellos()) })
	time.Sleep(500 * time.Millisecond) // five timeouts: no more hellos once answered
	srv.Inspect(func(v agenttest.View) {
		if got := len(v.Hellos()); got > answered+1 { // one may have been on its way
			t.Errorf("%d hellos after the server answered (%d before), want no more", got, answered)
		}
		if v.Connections() != 1 {
			t.Errorf("%d connections, want the hellos on the first", v.Connections())
		}
	})
}

// TestHelloSaidAgainAfterGatewayError: API Gateway answers a throttled
// message with an error frame of its own (a JSON object without "type");
// before the hello was answered the agent says hello again after its
// backoff, without waiting for the timeout, and does not count the frame
// as the server's answer.
func TestHelloSaidAgainAfterGatewayError(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	a := newAgent(t, testConfig(t, srv), agent.WithHelloRetry(time.Hour, agent.Backoff{Base: 20 * time.Millisecond, Max: 20 * time.Millisecond}))
	start(t, a)
	waitFor(t, srv, "the hello", func(v agenttest.View) bool { return len(v.Hellos()) == 1 })
	frame := map[string]string{"message": "Too Many Requests", "connectionId": "x", "requestId": "y"}
	if err := srv.Send(waitCtx(t), frame); err != nil {
		t.Fatal(err)
	}
	waitFor(t, srv, "a second hello long before the hour's timeout", func(v agenttest.View) bool { return len(v.Hellos()) == 2 })
	if err := srv.Send(waitCtx(t), frame); err != nil {
		t.Fatal(err)
	}
	waitFor(t, srv, "a third hello: the error frame is no answer", func(v agenttest.View) bool { return len(v.Hellos()) == 3 })
}

// TestHelloSaidAgainWhenAnAnswerIsLost: a pull's answer API Gateway
// refused (an error frame soon after the answer), or the server failed to
// take (an error naming the answer's request_id), leaves the pull timed out
// and the terminal's data stale; the agent says hello again after its
// backoff so that the server compares and pulls again. A permanent
// rejection of the answer does not (the same answer would fail again).
func TestHelloSaidAgainWhenAnAnswerIsLost(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		after func(resp protocol.CommandResponse) any
		want  bool
	}{
		{"API Gateway error frame", func(protocol.CommandResponse) any {
			return map[string]string{"message": "Internal server error", "connectionId": "x", "requestId": "y"}
		}, true},
		{"server error naming the answer", func(r protocol.CommandResponse) any {
			return protocol.ErrorMessage{Type: protocol.TypeError, RequestID: r.RequestID, Code: protocol.CodeInternal, Message: "try later"}
		}, true},
		{"permanent rejection of the answer", func(r protocol.CommandResponse) any {
			return protocol.ErrorMessage{Type: protocol.TypeError, RequestID: r.RequestID, Code: protocol.CodeInvalid, Message: "status: bad"}
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t)
			a := newAgent(t, testConfig(t, srv), agent.WithHelloRetry(time.Hour, agent.Backoff{Base: 20 * time.Millisecond, Max: 20 * time.Millisecond}))
			start(t, a)
			waitFor(t, srv, "the hello", func(v agenttest.View) bool { return len(v.Hellos()) == 1 })
			resp := command(t, srv, protocol.CommandGetStatus, nil) // the pull answers the hello
			if err := srv.Send(waitCtx(t), tt.after(resp)); err != nil {
				t.Fatal(err)
			}
			if tt.want {
				waitFor(t, srv, "a second hello", func(v agenttest.View) bool { return len(v.Hellos()) == 2 })
				return
			}
			// The agent reads in order: a command after the error is
			// answered once the error was handled.
			command(t, srv, protocol.CommandPing, nil)
			time.Sleep(100 * time.Millisecond) // five backoffs
			srv.Inspect(func(v agenttest.View) {
				if got := len(v.Hellos()); got != 1 {
					t.Errorf("%d hellos, want 1", got)
				}
			})
		})
	}
}

// TestBackoffCeilingNeverOverflows: the ceiling doubles from Base up to
// Max, for every failure count, whatever the base: doubling a base of tens
// of seconds 29 times overflows a time.Duration, and some bases wrap to a
// short positive wait.
func TestBackoffCeilingNeverOverflows(t *testing.T) {
	t.Parallel()
	for _, b := range []agent.Backoff{agent.DefaultBackoff, agent.HelloBackoff, {Base: 17 * time.Second, Max: time.Minute}, {Base: time.Millisecond, Max: time.Hour},
		{Base: 1<<35 + 1, Max: time.Hour}} { // 34.4 s: doubled 29 times it wraps to 2^29 ns {
		for n := 1; n <= 100; n++ {
			want := b.Max
			if f := float64(b.Base) * math.Pow(2, float64(n-1)); f < float64(b.Max) {
				want = time.Duration(f)
			}
			if got := b.Ceiling(n); got != want {
				t.Errorf("%+v.Ceiling(%d) = %v, want %v", b, n, got, want)
			}
		}
	}
}

// TestHelloSaidAgainIsTodays: acks of the logs sent after a hello do not
// answer it (API Gateway may throttle the hello and pass the logs), and a
// hello said again is made anew: its spool positions are today's, not the
// connection's first (so are its status and config version).
func TestHelloSaidAgainIsTodays(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	a := newAgent(t, testConfig(t, srv), agent.WithHelloRetry(300*time.Millisecond, agent.Backoff{Base: 50 * time.Millisecond, Max: 100 * time.Millisecond}))
	start(t, a)
	waitFor(t, srv, "the hello", func(v agenttest.View) bool { return len(v.Hellos()) == 1 })
	a.Log("info", lineMsg(1), "test")
	waitDelivered(t, srv, a, 1)
	waitFor(t, srv, "a hello said again after the ack, naming it", func(v agenttest.View) bool {
		hs := v.Hellos()
		return len(hs) >= 2 && hs[len(hs)-1].LastAckSeq >= 1
	})
	srv.Inspect(func(v agenttest.View) {
		if first := v.Hellos()[0]; first.LastAckSeq != 0 {
			t.Errorf("first hello's last acked seq %d, want 0", first.LastAckSeq)
		}
		if v.Connections() != 1 {
			t.Errorf("%d connections, want the hellos on one", v.Connections())
		}
	})
}

func TestHelloRetryOptionChecked(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	for _, o := range []agent.Option{
		agent.WithHelloRetry(0, agent.HelloBackoff),
		agent.WithHelloRetry(time.Second, agent.Backoff{}),
		agent.WithHelloRetry(time.Second, agent.Backoff{Base: time.Minute, Max: time.Second}),
	} {
		if _, err := agent.New(testConfig(t, srv), o); err == nil {
			t.Error("New accepted a hello retry that would resend without pause")
		}
	}
}
