package agent

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/coder/websocket"

	"github.com/edgesync/edgesync/protocol"
)

// ErrAlreadyRunning is returned by a second call to Run.
var ErrAlreadyRunning = errors.New("agent is already running (Run may be called once)")

// Run connects to the server and keeps the terminal in sync until ctx ends
// (it then returns ctx's error at once, without flushing: what is not
// acknowledged stays in the spool), Shutdown is called (it returns nil), or
// reconnect_attempts connection attempts in a row have failed (it returns
// an error). It also follows the configured log_inputs. Run may be called
// once per Agent.
func (a *Agent) Run(ctx context.Context) error {
	if !a.running.CompareAndSwap(false, true) {
		return ErrAlreadyRunning
	}
	defer close(a.runDone)
	inputsCtx, stopInputs := context.WithCancel(ctx)
	defer stopInputs()
	inputsDone := make(chan struct{})
	go func() {
		defer close(inputsDone)
		a.runInputs(inputsCtx)
	}()
	defer func() { stopInputs(); <-inputsDone }()

	failures := 0
	for {
		if a.isStopping() {
			return nil
		}
		cfg := a.Config()
		conn, err := a.dial(ctx, cfg)
		a.mark(&a.prog.dialed)
		if err != nil {
			a.setLastError(err)
			if ctx.Err() != nil {
				return ctx.Err()
			}
			failures++
			a.log.Warn("connect failed", "server_url", cfg.ServerURL, "attempt", failures, "err", err)
			if cfg.ReconnectAttempts > 0 && failures >= cfg.ReconnectAttempts {
				return fmt.Errorf("connect to %s: gave up after %d attempts in a row: %w", cfg.ServerURL, failures, err)
			}
			if err := a.pause(ctx, a.backoff(failures)); err != nil {
				return err
			}
			continue
		}
		end := a.runSession(ctx, conn, cfg)
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case end.reason == endStopped || a.isStopping():
			return nil
		case end.reason == endRecycle:
			failures = 0
			continue
		}
		if end.healthy {
			failures = 0
		}
		a.setLastError(end.err)
		failures++
		a.log.Warn("connection lost", "err", end.err, "attempt", failures)
		if cfg.ReconnectAttempts > 0 && failures >= cfg.ReconnectAttempts {
			return fmt.Errorf("connection to %s failed %d times in a row: %w", cfg.ServerURL, failures, end.err)
		}
		if err := a.pause(ctx, a.backoff(failures)); err != nil {
			return err
		}
	}
}

func (a *Agent) isStopping() bool {
	select {
	case <-a.stopping:
		return true
	default:
		return false
	}
}

// backoff returns the wait before attempt n+1 after n failures: full
// jitter over an exponentially growing, capped ceiling.
func (a *Agent) backoff(n int) time.Duration {
	return Backoff{Base: a.opts.backoffBase, Max: a.opts.backoffMax}.Delay(n, a.opts.jitter())
}

// pause waits d, returning ctx's error if ctx ends first and nil early if
// Shutdown is called.
func (a *Agent) pause(ctx context.Context, d time.Duration) error {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-a.stopping:
			cancel()
		case <-sctx.Done():
		}
	}()
	err := a.opts.sleep(sctx, d)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	_ = err // stopped early by Shutdown, or slept: either way carry on
	return nil
}

// dial opens the WebSocket: bearer token in the Authorization header,
// terminal id in the terminal_id query parameter.
func (a *Agent) dial(ctx context.Context, cfg Config) (*websocket.Conn, error) {
	a.dials.Add(1)
	token, err := cfg.token()
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(cfg.ServerURL)
	if err != nil {
		return nil, fmt.Errorf("server_url: %w", err)
	}
	q := u.Query()
	q.Set("terminal_id", cfg.TerminalID)
	u.RawQuery = q.Encode()
	client, err := a.httpClient(cfg)
	if err != nil {
		return nil, err
	}
	dctx, cancel := context.WithTimeout(ctx, cfg.WebSocketTimeout.Duration())
	defer cancel()
	conn, resp, err := websocket.Dial(dctx, u.String(), &websocket.DialOptions{
		HTTPClient: client,
		HTTPHeader: http.Header{"Authorization": {"Bearer " + token}},
	})
	if err != nil {
		if resp != nil {
			switch resp.StatusCode {
			case http.StatusUnauthorized, http.StatusForbidden:
				return nil, fmt.Errorf("server refused the credentials (HTTP %d); check terminal_id and token: %w", resp.StatusCode, err)
			}
			return nil, fmt.Errorf("handshake answered HTTP %d: %w", resp.StatusCode, err)
		}
		return nil, err
	}
	// The server's largest message is API Gateway's limit.
	conn.SetReadLimit(protocol.MaxMessageBytes)
	return conn, nil
}
