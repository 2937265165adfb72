package agent_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/edgesync/edgesync/agent"
	"github.com/edgesync/edgesync/agent/agenttest"
	"github.com/edgesync/edgesync/protocol"
)

func appendLines(t *testing.T, path string, from, to int) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for i := from; i <= to; i++ {
		fmt.Fprintf(f, "2024-05-01T10:00:00Z ERROR %s\n", lineMsg(i))
	}
}

func TestFollowedFileResumesAfterRestartAndRotation(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	cfg := testConfig(t, srv)
	path := filepath.Join(t.TempDir(), "app.log")
	cfg.LogInputs = []string{path}
	msg := func(i int) string { return "2024-05-01T10:00:00Z ERROR " + lineMsg(i) }

	// Existing content is skipped on a first start (tail -n 0).
	appendLines(t, path, -5, 0)
	opened := &recordHandler{}
	a1 := newAgent(t, cfg, agent.WithLogger(slog.New(opened)))
	r1 := start(t, a1)
	opened.waitFor(t, "following log input")
	appendLines(t, path, 1, 50)
	waitDelivered(t, srv, a1, 50)
	if err := a1.Shutdown(waitCtx(t)); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	r1.crash(t)

	// While the agent is down: more lines, then a rotation by rename.
	appendLines(t, path, 51, 70)
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	appendLines(t, path, 71, 80)

	a2 := newAgent(t, cfg)
	start(t, a2)
	waitDelivered(t, srv, a2, 80)
	appendLines(t, path, 81, 90)
	waitDelivered(t, srv, a2, 90)
	checkExactlyOnce(t, srv, 90, msg)
	srv.Inspect(func(v agenttest.View) {
		e := v.Lines()[1]
		if e.Source != "app.log" || e.Level != protocol.LevelError {
			t.Errorf("line 1 = %+v, want source app.log and level error", e)
		}
	})
}

// recordHandler records the messages of the agent's own diagnostics.
type recordHandler struct {
	mu   sync.Mutex
	msgs []string
}

func (h *recordHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *recordHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.msgs = append(h.msgs, r.Message)
	return nil
}
func (h *recordHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *recordHandler) WithGroup(string) slog.Handler      { return h }

func (h *recordHandler) waitFor(t *testing.T, msg string) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for time.Now().Before(deadline) {
		h.mu.Lock()
		for _, m := range h.msgs {
			if m == msg {
				h.mu.Unlock()
				return
			}
		}
		h.mu.Unlock()
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("the agent never logged %q", msg)
}
