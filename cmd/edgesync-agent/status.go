package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/edgesync/edgesync/agent"
	"github.com/edgesync/edgesync/agent/sdnotify"
)

func statusSocketPath(cfg agent.Config) string { return filepath.Join(cfg.SpoolDir, statusSocket) }

// serveStatus answers every connection to a unix socket at path with the
// agent's LocalStatus as JSON. It needs no cloud: the agent's state is
// local. The returned function stops it and removes the socket.
func serveStatus(ctx context.Context, path string, a *agent.Agent, logger *slog.Logger) (func(), error) {
	if fi, err := os.Lstat(path); err == nil && fi.Mode()&os.ModeSocket != 0 {
		os.Remove(path) // left by an agent that did not stop cleanly
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("status socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("status socket: %w", err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			conn, err := ln.Accept()
			if err != nil {
				if ctx.Err() == nil && !errors.Is(err, net.ErrClosed) {
					logger.Warn("status socket", "err", err)
				}
				return
			}
			conn.SetDeadline(time.Now().Add(5 * time.Second))
			json.NewEncoder(conn).Encode(a.LocalStatus())
			conn.Close()
		}
	}()
	stop := func() {
		ln.Close() // removes the socket file too
		<-done
	}
	go func() {
		<-ctx.Done()
		ln.Close()
	}()
	return stop, nil
}

// runStatus is `edgesync-agent status`: it asks the running agent for its
// state over the status socket and prints it.
func runStatus(args []string, getenv func(string) string, stderr, stdout io.Writer) int {
	fs := flag.NewFlagSet("edgesync-agent status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "/etc/edgesync/agent.json", "the agent's config file (for spool_dir, where the socket is)")
	socketPath := fs.String("socket", "", "the status socket (default status.sock in the config's spool_dir)")
	asJSON := fs.Bool("json", false, "print the state as JSON")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: edgesync-agent status [flags]\n\nShows the running agent's connection, spool, oldest unsent line, last acknowledgement,\ndrops and health; it works while the cloud is unreachable. Exit status: 0 healthy,\n1 delivery stalled, 3 no agent answers.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitConfig
	}
	if *socketPath == "" {
		cfg, err := agent.LoadConfig(*configPath, getenv)
		if err != nil {
			// A broken config must not hide the running agent.
			cfg = agent.DefaultConfig()
			if dir := getenv(agent.EnvPrefix + "SPOOL_DIR"); dir != "" {
				cfg.SpoolDir = dir
			}
		}
		*socketPath = statusSocketPath(cfg)
	}
	conn, err := net.DialTimeout("unix", *socketPath, 5*time.Second)
	if err != nil {
		fmt.Fprintf(stderr, "edgesync-agent status: no agent answers on %s (%v); is it running? (systemctl status edgesync-agent)\n", *socketPath, err)
		return exitNotRunning
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	raw, err := io.ReadAll(conn)
	var st agent.LocalStatus
	if err == nil {
		err = json.Unmarshal(raw, &st)
	}
	if err != nil {
		fmt.Fprintf(stderr, "edgesync-agent status: read %s: %v\n", *socketPath, err)
		return exitNotRunning
	}
	if *asJSON {
		stdout.Write(raw)
	} else {
		printStatus(stdout, st)
	}
	if !st.Health.OK {
		return exitFailed
	}
	return exitOK
}

// printStatus writes st for a person, one aspect per line.
func printStatus(w io.Writer, st agent.LocalStatus) {
	now := st.Time
	ago := func(t time.Time) string {
		return fmt.Sprintf("%s (%s ago)", t.Local().Format(time.RFC3339), now.Sub(t).Round(time.Second))
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "terminal\t%s (agent %s, config %s)\n", st.TerminalID, st.AgentVersion, st.ConfigVersion)
	if st.Health.OK {
		fmt.Fprintf(tw, "health\tok\n")
	} else {
		fmt.Fprintf(tw, "health\tSTALLED: %s\n", st.Health.Stalled)
	}
	switch {
	case st.Connected:
		fmt.Fprintf(tw, "connection\tconnected to %s since %s, %d reconnects\n", st.ServerURL, ago(st.ConnectedSince), st.Reconnects)
	case st.LastError != "":
		fmt.Fprintf(tw, "connection\tdisconnected from %s, retrying: %s\n", st.ServerURL, st.LastError)
	default:
		fmt.Fprintf(tw, "connection\tconnecting to %s\n", st.ServerURL)
	}
	fmt.Fprintf(tw, "spool\t%d lines, %s on disk of %s\n", st.SpoolLines, bytesText(st.SpoolBytes), bytesText(st.SpoolMaxBytes))
	if st.SpoolDegraded {
		fmt.Fprintf(tw, "disk\tREFUSING WRITES since %s: %s; %d lines held in memory\n", ago(st.SpoolDegradedSince), st.DiskError, st.SpoolMemoryLines)
	} else {
		fmt.Fprintf(tw, "disk\tok\n")
	}
	if st.OldestUnsentSeq != 0 {
		fmt.Fprintf(tw, "oldest unsent\tseq %d from %s\n", st.OldestUnsentSeq, ago(st.OldestUnsentTime))
	} else {
		fmt.Fprintf(tw, "oldest unsent\tnone: every line is acknowledged\n")
	}
	if !st.LastAckTime.IsZero() {
		fmt.Fprintf(tw, "last ack\tseq %d at %s\n", st.LastAckSeq, ago(st.LastAckTime))
	} else {
		fmt.Fprintf(tw, "last ack\tseq %d, none since the agent started\n", st.LastAckSeq)
	}
	fmt.Fprintf(tw, "sent\t%d lines acknowledged since the agent started\n", st.LinesAcked)
	fmt.Fprintf(tw, "dropped\t%d (spool or disk full), %d rejected by the server as invalid\n", st.DroppedLines, st.DroppedInvalid)
	tw.Flush()
}

func bytesText(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// notifyLoop keeps systemd informed when it started the agent with
// Type=notify: a STATUS= line, and WATCHDOG=1 only while the agent's
// delivery makes progress or has nothing to do (agent.Health), at half the
// watchdog interval (WatchdogSec=).
func notifyLoop(ctx context.Context, a *agent.Agent, n *sdnotify.Notifier, getenv func(string) string, logger *slog.Logger) {
	if n == nil {
		return
	}
	watchdog, feed := sdnotify.WatchdogInterval(getenv, os.Getpid())
	every := 10 * time.Second
	if feed {
		every = min(every, watchdog/2)
	}
	t := time.NewTicker(every)
	defer t.Stop()
	stalled := false
	for {
		st := a.LocalStatus()
		msg := sdnotify.Status(shortStatus(st))
		if st.Health.OK {
			if feed {
				msg = "WATCHDOG=1\n" + msg
			}
			if stalled {
				logger.Info("delivery progresses again; feeding the watchdog")
			}
		} else if !stalled {
			logger.Error("delivery stalled; no longer feeding the watchdog", "reason", st.Health.Stalled, "watchdog", feed)
		}
		stalled = !st.Health.OK
		if err := n.Notify(msg); err != nil {
			logger.Debug("sd_notify", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// shortStatus is the one line systemctl status shows.
func shortStatus(st agent.LocalStatus) string {
	var b strings.Builder
	if !st.Health.OK {
		fmt.Fprintf(&b, "STALLED: %s; ", st.Health.Stalled)
	}
	if st.Connected {
		b.WriteString("connected")
	} else {
		b.WriteString("disconnected")
	}
	fmt.Fprintf(&b, ", %d lines spooled, %d sent, %d dropped", st.SpoolLines, st.LinesAcked, st.DroppedLines)
	if st.SpoolDegraded {
		fmt.Fprintf(&b, ", disk refusing writes (%d lines in memory)", st.SpoolMemoryLines)
	}
	return b.String()
}

// summaryLoop writes a one-line summary to the agent's log every interval.
func summaryLoop(ctx context.Context, a *agent.Agent, every time.Duration, logger *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	var lastAcked uint64
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		st := a.LocalStatus()
		disk := "ok"
		if st.SpoolDegraded {
			disk = "refusing writes: " + st.DiskError
		}
		health := "ok"
		if !st.Health.OK {
			health = "stalled: " + st.Health.Stalled
		}
		logger.Info("summary", "connected", st.Connected, "spool_lines", st.SpoolLines, "spool_bytes", st.SpoolBytes,
			"sent_lines", st.LinesAcked-lastAcked, "dropped_lines", st.DroppedLines, "dropped_invalid", st.DroppedInvalid,
			"oldest_unsent_seq", st.OldestUnsentSeq, "disk", disk, "health", health, "every", every.String())
		lastAcked = st.LinesAcked
	}
}
