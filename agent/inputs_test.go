package agent_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/edgesync/edgesync/agent"
	"github.com/edgesync/edgesync/agent/agenttest"
	"github.com/edgesync/edgesync/internal/poll"
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
	// The timestamp and level prefix of each line become ts and level.
	msg := lineMsg

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
		if e.Source != "app.log" || e.Level != protocol.LevelError || !e.Time.Equal(time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)) {
			t.Errorf("line 1 = %+v, want source app.log, level error and the line's own time", e)
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
	poll.Until(t, fmt.Sprintf("the agent to log %q", msg), func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return slices.Contains(h.msgs, msg)
	})
}

func TestLineTimesSurviveDowntime(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	srv.RefuseAll(true) // the cloud is unreachable while the lines are written
	cfg := testConfig(t, srv)
	path := filepath.Join(t.TempDir(), "app.log")
	cfg.LogInputs = []string{path}
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	opened := &recordHandler{}
	a1 := newAgent(t, cfg, agent.WithLogger(slog.New(opened)))
	r1 := start(t, a1)
	opened.waitFor(t, "following log input")
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	fmt.Fprintln(f, `2023-01-02T03:04:05Z WARN own time`)
	fmt.Fprintln(f, `no time of its own`)
	fmt.Fprintln(f, `{"time":"2023-01-02T03:04:06Z","level":"info","msg":"json","temp":71.5,"n":3,"ok":true}`)
	f.Close()
	poll.Until(t, "three lines spooled", func() bool { return a1.Stats().SpoolLines >= 3 })
	seen := time.Now()
	r1.crash(t)

	// Later, the agent restarts and the cloud is back.
	srv.RefuseAll(false)
	a2 := newAgent(t, cfg)
	start(t, a2)
	waitDelivered(t, srv, a2, 3)
	srv.Inspect(func(v agenttest.View) {
		lines := v.Lines()
		if e := lines[1]; e.Message != "own time" || e.Level != protocol.LevelWarn || !e.Time.Equal(time.Date(2023, 1, 2, 3, 4, 5, 0, time.UTC)) {
			t.Errorf("line 1 = %+v, want its own time and level", e)
		}
		if e := lines[2]; e.Message != "no time of its own" || e.Time.After(seen) {
			t.Errorf("line 2 = %+v, want the time it was first seen (before %v), not the time it was sent", e, seen)
		}
		e := lines[3]
		if e.Message != "json" || !e.Time.Equal(time.Date(2023, 1, 2, 3, 4, 6, 0, time.UTC)) ||
			e.Attrs["temp"] != "71.5" || e.Attrs["n"] != "3" || e.Attrs["ok"] != "true" {
			t.Errorf("line 3 = %+v", e)
		}
	})
}
