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
)

func main() {
	os.Exit(run(os.Args[1:], os.Getenv, os.Stderr, os.Stdout))
}

func run(args []string, getenv func(string) string, stderr, stdout io.Writer) int {
	fs := flag.NewFlagSet("edgesync-agent", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "/etc/edgesync/agent.json", "config file (JSON); \"\" for environment variables only")
	check := fs.Bool("check", false, "validate the configuration, print it (secrets redacted) and exit")
	version := fs.Bool("version", false, "print the version and exit")
	shutdownTimeout := fs.Duration("shutdown-timeout", 10*time.Second, "how long SIGTERM may spend delivering spooled lines")
	jsonLogs := fs.Bool("log-json", false, "write the agent's own diagnostics as JSON")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *version {
		fmt.Fprintln(stdout, agent.Version)
		return 0
	}
	cfg, err := agent.LoadConfig(*configPath, getenv)
	if err != nil {
		fmt.Fprintf(stderr, "edgesync-agent: %v\n", err)
		return 2
	}
	if *check {
		// What connecting will read too: a missing token file fails here,
		// not in a restart loop.
		if err := cfg.CheckFiles(); err != nil {
			fmt.Fprintf(stderr, "edgesync-agent: config %s: %v\n", *configPath, err)
			return 2
		}
		fmt.Fprintf(stdout, "%s\nconfig_version %s\n", cfg.Document(), cfg.Version())
		return 0
	}
	level, _ := agent.ParseLevel(cfg.LogLevel)
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewTextHandler(stderr, opts)
	if *jsonLogs {
		h = slog.NewJSONHandler(stderr, opts)
	}
	logger := slog.New(h)

	a, err := agent.New(cfg, agent.WithConfigFile(*configPath), agent.WithGetenv(getenv), agent.WithLogger(logger))
	if err != nil {
		logger.Error("start", "err", err)
		return 2
	}
	defer a.Close()

	// The first signal shuts down gracefully; a second one stops at once
	// (what is spooled stays spooled).
	runCtx, stopNow := context.WithCancel(context.Background())
	defer stopNow()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)
	go func() {
		sig := <-sigs
		logger.Info("stopping", "signal", sig.String(), "timeout", shutdownTimeout.String())
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

	logger.Info("edgesync agent starting", "version", agent.Version, "server_url", cfg.ServerURL,
		"config_version", cfg.Version(), "spool_dir", cfg.SpoolDir, "log_inputs", cfg.LogInputs)
	err = a.Run(runCtx)
	if err != nil && !errors.Is(err, context.Canceled) {
		logger.Error("agent stopped", "err", err)
		return 1
	}
	st := a.Stats()
	logger.Info("agent stopped", "spooled_lines", st.SpoolLines, "dropped_lines", st.Dropped)
	return 0
}
