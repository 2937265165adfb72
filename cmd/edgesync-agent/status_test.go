package main

import (
	"bytes"
	"encoding/json"
	"net"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/edgesync/edgesync/agent"
	"github.com/edgesync/edgesync/agent/agenttest"
)

func TestStatusAnswersWhileTheCloudIsDown(t *testing.T) {
	t.Parallel()
	srv := agenttest.NewServer("T-1", "tok")
	defer srv.Close()
	srv.RefuseAll(true)
	config := writeConfig(t, map[string]any{
		"terminal_id": "T-1", "server_url": srv.URL, "token": "tok", "spool_dir": t.TempDir(),
		"log_inputs": []string{"-"}, "batch_window_ms": 20, "idle_batch_window_ms": 0,
	})
	c := startChild(t, config)
	c.lines(t, 1, 25)

	var out string
	var code int
	deadline := time.Now().Add(waitLimit)
	for {
		var stdout, stderr bytes.Buffer
		code = run([]string{"status", "-config", config}, func(string) string { return "" }, &stderr, &stdout)
		out = stdout.String()
		// Every line spooled, and a connection attempt refused.
		if strings.Contains(out, "25 lines") && strings.Contains(out, "retrying:") || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if code != exitOK {
		t.Errorf("status exit code %d, want 0 (healthy: the agent keeps trying)", code)
	}
	flat := strings.Join(strings.Fields(out), " ")
	for _, want := range []string{"terminal T-1", "health ok", "connection disconnected from " + srv.URL + ", retrying: ", "503",
		"spool 25 lines", "disk ok", "oldest unsent seq 1 from", "last ack seq 0, none since the agent started", "dropped 0 (spool or disk full)"} {
		if !strings.Contains(flat, want) {
			t.Errorf("status output lacks %q:\n%s", want, out)
		}
	}

	var stdout bytes.Buffer
	run([]string{"status", "-config", config, "-json"}, func(string) string { return "" }, &bytes.Buffer{}, &stdout)
	var st agent.LocalStatus
	if err := json.Unmarshal(stdout.Bytes(), &st); err != nil || st.Connected || st.SpoolLines != 25 || st.OldestUnsentSeq != 1 || !st.Health.OK {
		t.Errorf("status -json = %s (%v)", stdout.String(), err)
	}

	c.cmd.Process.Signal(syscall.SIGTERM)
	c.wait(t)
	var stderr bytes.Buffer
	if code := run([]string{"status", "-config", config}, func(string) string { return "" }, &stderr, &bytes.Buffer{}); code != exitNotRunning || !strings.Contains(stderr.String(), "no agent answers") {
		t.Errorf("status after the agent stopped: exit %d, %s", code, stderr.String())
	}
}

// notifications listens where a service manager would (NOTIFY_SOCKET).
type notifications struct {
	path string
	conn *net.UnixConn
}

func listenNotify(t *testing.T) *notifications {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &notifications{path: path, conn: conn}
}

// next returns the next datagram.
func (n *notifications) next(t *testing.T) string {
	t.Helper()
	n.conn.SetReadDeadline(time.Now().Add(waitLimit))
	buf := make([]byte, 4096)
	k, err := n.conn.Read(buf)
	if err != nil {
		t.Fatalf("no notification: %v", err)
	}
	return string(buf[:k])
}

// until returns the first datagram containing want.
func (n *notifications) until(t *testing.T, want string) string {
	t.Helper()
	for {
		if d := n.next(t); strings.Contains(d, want) {
			return d
		}
	}
}

func TestWatchdogFedOnlyWhileDeliveryProgresses(t *testing.T) {
	t.Parallel()
	srv := agenttest.NewServer("T-1", "tok")
	defer srv.Close()
	config := writeConfig(t, map[string]any{
		"terminal_id": "T-1", "server_url": srv.URL, "token": "tok", "spool_dir": t.TempDir(),
		"log_inputs": []string{"-"}, "batch_window_ms": 20, "idle_batch_window_ms": 0, "ack_timeout": 0.2,
	})
	notify := listenNotify(t)
	c := startChildEnv(t, config, []string{"NOTIFY_SOCKET=" + notify.path, "WATCHDOG_USEC=100000"},
		"-stall-after", "300ms", "-summary-interval", "100ms")

	if d := notify.next(t); !strings.HasPrefix(d, "READY=1") {
		t.Errorf("first notification %q, want READY=1", d)
	}
	notify.until(t, "WATCHDOG=1")

	// Delivery gets stuck: the server stores lines but never acknowledges.
	srv.WithholdAcks(-1)
	c.lines(t, 1, 5)
	stalled := notify.until(t, "STALLED")
	if strings.Contains(stalled, "WATCHDOG=1") {
		t.Errorf("stalled notification feeds the watchdog: %q", stalled)
	}
	for i := 0; i < 5; i++ {
		if d := notify.next(t); strings.Contains(d, "WATCHDOG=1") || !strings.Contains(d, "STALLED") {
			t.Errorf("notification %q while delivery is stuck, want STALLED and no WATCHDOG=1", d)
		}
	}

	// Acknowledgements resume: the watchdog is fed again.
	srv.WithholdAcks(0)
	notify.until(t, "WATCHDOG=1")
	waitFor(t, srv, "the lines acknowledged", func(v agenttest.View) bool { return v.Stored() == 5 && v.AllAcked() })

	c.cmd.Process.Signal(syscall.SIGTERM)
	notify.until(t, "STOPPING=1")
	if err := c.wait(t); err != nil {
		t.Errorf("exit after SIGTERM: %v; stderr:\n%s", err, c.stderr)
	}
	// The journal got one-line summaries, the stall among them.
	var summaries, stalledSummaries int
	for _, line := range strings.Split(c.stderr.String(), "\n") {
		if strings.Contains(line, "msg=summary") && strings.Contains(line, "spool_lines=") && strings.Contains(line, "dropped_lines=0") {
			summaries++
			if strings.Contains(line, `health="stalled: `) {
				stalledSummaries++
			}
		}
	}
	if summaries == 0 || stalledSummaries == 0 {
		t.Errorf("%d summary lines (%d while stalled) in the log:\n%s", summaries, stalledSummaries, c.stderr)
	}
}
