package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/edgesync/edgesync/agent"
	"github.com/edgesync/edgesync/agent/sdnotify"
)

func main() {
	os.Exit(run(os.Args[1:], os.Getenv, os.Stderr, os.Stdout))
}

// Exit statuses.
const (
	exitOK          = 0
	exitFailed      = 1 // gave up connecting; status: the agent is stalled
	exitConfig      = 2 // a configuration error: restarting will not help
	exitNotRunning  = 3 // status: no agent answers
	policyFileEnv   = "EDGESYNC_POLICY_FILE"
	statusSocket    = "status.sock"
	defaultSummary  = 5 * time.Minute
	defaultShutdown = 10 * time.Second
)

func run(args []string, getenv func(string) string, stderr, stdout io.Writer) int {
	if len(args) > 0 && args[0] == "status" {
		return runStatus(args[1:], getenv, stderr, stdout)
	}
	fs := flag.NewFlagSet("edgesync-agent", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage:\n  edgesync-agent [flags]          run the agent\n  edgesync-agent status [flags]   show a running agent's state (see status -h)\n\nFlags:\n")
		fs.PrintDefaults()
	}
	configPath := fs.String("config", "/etc/edgesync/agent.json", "config file (JSON); \"\" for environment variables only")
	policyPath := fs.String("policy", "", "device policy file: what the cloud may change (default $"+policyFileEnv+", else "+agent.DefaultPolicyFile+" if it exists)")
	check := fs.Bool("check", false, "validate the configuration, the files it names and the policy, print the config (secrets redacted) and exit")
	version := fs.Bool("version", false, "print the version and exit")
	shutdownTimeout := fs.Duration("shutdown-timeout", defaultShutdown, "how long SIGTERM may spend delivering spooled lines")
	jsonLogs := fs.Bool("log-json", false, "write the agent's own diagnostics as JSON")
	socketPath := fs.String("status-socket", "", "unix socket answering `edgesync-agent status` (default status.sock in spool_dir)")
	summaryEvery := fs.Duration("summary-interval", defaultSummary, "how often a one-line summary goes to the agent's log (the journal); 0 for never")
	stallAfter := fs.Duration("stall-after", 0, "how long delivery may make no progress, lines waiting, before the watchdog is no longer fed (default the larger of 5m and 3 x (idle_batch_window_ms + status_interval + ack_timeout))")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitConfig
	}
	if *version {
		fmt.Fprintln(stdout, agent.Version)
		return exitOK
	}
	cfg, err := agent.LoadConfig(*configPath, getenv)
	if err != nil {
		fmt.Fprintf(stderr, "edgesync-agent: %v\n", err)
		return exitConfig
	}
	policy, err := loadPolicy(*policyPath, getenv)
	if err != nil {
		fmt.Fprintf(stderr, "edgesync-agent: %v\n", err)
		return exitConfig
	}
	if *check {
		// What connecting and following will meet too: a missing token
		// file fails here, not in a restart loop.
		err := errors.Join(cfg.CheckFiles(), agent.CheckLogInputs(cfg, *configPath, policy))
		if err != nil {
			fmt.Fprintf(stderr, "edgesync-agent: config %s: %v\n", *configPath, err)
			return exitConfig
		}
		fmt.Fprintf(stdout, "%s\nconfig_version %s\n", cfg.Document(), cfg.Version())
		return exitOK
	}
	level, _ := agent.ParseLevel(cfg.LogLevel)
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewTextHandler(stderr, opts)
	if *jsonLogs {
		h = slog.NewJSONHandler(stderr, opts)
	}
	logger := slog.New(h)

	a, err := agent.New(cfg, agent.WithConfigFile(*configPath), agent.WithGetenv(getenv), agent.WithLogger(logger),
		agent.WithPolicy(policy), agent.WithStallAfter(*stallAfter))
	if err != nil {
		logger.Error("start", "err", err)
		return exitConfig
	}
	defer func() {
		if err := a.Close(); err != nil {
			logger.Error("close", "err", err)
		}
	}()
	if err := cfg.CheckFiles(); err != nil {
		// Not fatal: the files are read again at every connection attempt.
		logger.Error("config names files that cannot be used yet; retrying at every connection attempt", "err", err)
	}

	// The first signal shuts down gracefully; a second one stops at once
	// (what is spooled stays spooled).
	runCtx, stopNow := context.WithCancel(context.Background())
	defer stopNow()
	notifier := sdnotify.New(getenv)
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)
	go func() {
		sig := <-sigs
		logger.Info("stopping", "signal", sig.String(), "timeout", shutdownTimeout.String())
		notifier.Notify("STOPPING=1")
		ctx, cancel := context.WithTimeout(runCtx, *shutdownTimeout)
		defer cancel()
		go func() {
			select {
			case sig := <-sigs:
				logger.Warn("stopping at once", "signal", sig.String())
				stopNow()
			case <-ctx.Done():
			}
		}()
		if err := a.Shutdown(ctx); err != nil {
			logger.Warn("shutdown", "err", err)
		}
	}()

	if *socketPath == "" {
		*socketPath = statusSocketPath(cfg)
	}
	stopStatus, err := serveStatus(runCtx, *socketPath, a, logger)
	if err != nil {
		logger.Warn("local status socket unavailable; `edgesync-agent status` will not answer", "err", err)
	} else {
		defer stopStatus()
	}
	logger.Info("edgesync agent starting", "version", agent.Version, "server_url", cfg.ServerURL,
		"config_version", cfg.Version(), "spool_dir", cfg.SpoolDir, "log_inputs", cfg.LogInputs,
		"policy", policyName(policy), "remote_keys", policy.RemoteKeys, "status_socket", *socketPath)
	// Ready once the spool is open and the status socket answers; the
	// cloud may well be unreachable (that is no start-up failure). Then
	// the status and the watchdog.
	notifier.Notify("READY=1\n" + sdnotify.Status("starting"))
	go notifyLoop(runCtx, a, notifier, getenv, logger)
	if *summaryEvery > 0 {
		go summaryLoop(runCtx, a, *summaryEvery, logger)
	}
	err = a.Run(runCtx)
	if err != nil && !errors.Is(err, context.Canceled) {
		logger.Error("agent stopped", "err", err)
		return exitFailed
	}
	st := a.Stats()
	logger.Info("agent stopped", "spooled_lines", st.SpoolLines, "dropped_lines", st.Dropped)
	return exitOK
}

// loadPolicy reads the policy file named by the flag or the environment
// (which must exist), else the default one if it exists.
func loadPolicy(path string, getenv func(string) string) (agent.Policy, error) {
	if path == "" {
		path = getenv(policyFileEnv)
	}
	if path != "" {
		return agent.LoadPolicy(path, true)
	}
	return agent.LoadPolicy(agent.DefaultPolicyFile, false)
}

func policyName(p agent.Policy) string {
	if p.File == "" {
		return "default (no policy file)"
	}
	return p.File
}
