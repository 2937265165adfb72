// Command edgesync-local runs the whole edgesync system on this machine:
// API Gateway WebSocket and HTTP API emulators with the routes of
// template.yaml, the four functions, a store, and demo terminals.
//
//	go run ./cmd/edgesync-local --demo 3
//
// It prints the URLs to open, serves until interrupted, and with
// --ready-file writes them as JSON once everything is up.
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
	"strings"
	"syscall"
	"time"

	"github.com/edgesync/edgesync/devstack"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		if errors.Is(err, errUsage) {
			os.Exit(2) // the flag package has said what is wrong
		}
		// One line: what went wrong and what to do about it.
		fmt.Fprintln(os.Stderr, "edgesync-local:", strings.ReplaceAll(err.Error(), "\n", "; "))
		os.Exit(1)
	}
}

var errUsage = errors.New("usage")

const usageHead = `Usage:
  edgesync-local [flags]         run the whole stack on this machine
  edgesync-local token [flags]   print a JWT of the local identity provider (-h for its flags)

Flags:
`

// params collects repeated --param Name=Value flags.
type params map[string]string

func (p params) String() string { return fmt.Sprint(map[string]string(p)) }
func (p params) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || k == "" {
		return fmt.Errorf("want Name=Value, got %q", v)
	}
	p[k] = val
	return nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "token" {
		return mintToken(args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("edgesync-local", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg devstack.Config
	fs.StringVar(&cfg.HTTPAddr, "http-addr", "127.0.0.1:8080", "address of the HTTP API and the dashboard")
	fs.StringVar(&cfg.WSAddr, "ws-addr", "127.0.0.1:8081", "address of the WebSocket API and its @connections API")
	fs.StringVar(&cfg.DataDir, "data", dataDir(), "directory of the embedded store, demo spools and tokens (env EDGESYNC_DATA)")
	fs.StringVar(&cfg.DynamoDBEndpoint, "dynamodb-endpoint", "", "use DynamoDB at this URL (dynalite, LocalStack) instead of the embedded store")
	fs.StringVar(&cfg.Table, "table", "", "DynamoDB table (default edgesync with --dynamodb-endpoint); without --dynamodb-endpoint, a table in your AWS account instead of the embedded store")
	fs.StringVar(&cfg.Lambda, "lambda", devstack.LambdaInProcess, "how functions run: inprocess (handler code here) or rie (real bootstrap binaries under aws-lambda-runtime-interface-emulator)")
	fs.IntVar(&cfg.Demo, "demo", 0, "number of demo terminals (real agents producing logs and status)")
	fs.Float64Var(&cfg.DemoLinesPerSecond, "demo-rate", 2, "average log lines per second of each demo terminal")
	fs.DurationVar(&cfg.DemoStatusInterval, "demo-status-interval", 5*time.Second, "status interval of the demo terminals")
	fs.DurationVar(&cfg.IdleTimeout, "idle-timeout", 10*time.Minute, "WebSocket idle timeout (API Gateway: 10m)")
	fs.DurationVar(&cfg.MaxDuration, "max-duration", 2*time.Hour, "WebSocket maximum connection duration (API Gateway: 2h)")
	fs.DurationVar(&cfg.ScheduleEvery, "schedule-every", 0, "run the scheduled functions at this interval instead of their template rate (EventBridge: rate(1 minute))")
	readyFile := fs.String("ready-file", "", "write the URLs and demo tokens as JSON to this file once ready")
	verbose := fs.Bool("v", false, "log debug detail")
	overrides := params{}
	fs.Var(overrides, "param", "override a template.yaml parameter, e.g. --param CommandTimeout=5 (repeatable)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usageHead)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "unexpected argument %q\n", fs.Arg(0))
		return errUsage
	}
	cfg.Parameters = overrides
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	cfg.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	slog.SetDefault(cfg.Logger)

	if *readyFile != "" {
		// Find a bad path now, not after the stack says it is up.
		if err := devstack.WriteReady(*readyFile, devstack.Ready{}); err != nil {
			return fmt.Errorf("--ready-file %s: %w", *readyFile, err)
		}
		_ = os.Remove(*readyFile) // written again, complete, once the stack is up
	}
	stack, err := devstack.Start(ctx, cfg)
	if err != nil {
		return err
	}
	defer func() {
		shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := stack.Close(shutdown); err != nil {
			fmt.Fprintln(stderr, "edgesync-local: shutdown:", err)
		}
	}()
	printBanner(stdout, stack)
	if *readyFile != "" {
		if err := devstack.WriteReady(*readyFile, stack.Ready()); err != nil {
			return fmt.Errorf("write ready file: %w", err)
		}
	}
	<-ctx.Done()
	fmt.Fprintln(stdout, "shutting down")
	return nil
}

// mintToken prints a JWT of the local identity provider of a data
// directory: edgesync-local token -role operator -group demo -subject alice.
func mintToken(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("edgesync-local token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := fs.String("data", dataDir(), "data directory of the local stack, which holds the signing key (env EDGESYNC_DATA)")
	role := fs.String("role", "viewer", "admin, operator or viewer")
	subject := fs.String("subject", "", "user name (default local-<role>)")
	ttl := fs.Duration("ttl", 24*time.Hour, "validity")
	var groups multi
	fs.Var(&groups, "group", "terminal group the user sees (repeatable)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "unexpected argument %q\n", fs.Arg(0))
		return errUsage
	}
	switch *role {
	case "admin", "operator", "viewer":
	default:
		fmt.Fprintf(stderr, "-role %q: want admin, operator or viewer\n", *role)
		return errUsage
	}
	if *subject == "" {
		*subject = "local-" + *role
	}
	iss, err := devstack.OpenIssuer(*data)
	if err != nil {
		return err
	}
	token, err := iss.Mint(*subject, append([]string{*role}, groups...), *ttl)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, token)
	return nil
}

// dataDir is the default data directory: $EDGESYNC_DATA, else .edgesync.
func dataDir() string {
	if d := os.Getenv("EDGESYNC_DATA"); d != "" {
		return d
	}
	return ".edgesync"
}

type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

func printBanner(w io.Writer, s *devstack.Stack) {
	fmt.Fprintf(w, "edgesync local stack is up\n\n")
	fmt.Fprintf(w, "  dashboard         %s/?token=%s\n", s.HTTPURL, s.Users["admin"])
	fmt.Fprintf(w, "  HTTP API          %s/terminals\n", s.HTTPURL)
	fmt.Fprintf(w, "  WebSocket API     %s   (terminals connect here)\n", s.WSURL)
	fmt.Fprintf(w, "  @connections API  %s   (CONNECTIONS_URL)\n", s.ConnectionsURL)
	fmt.Fprintf(w, "  metrics           %s\n", s.MetricsURL)
	fmt.Fprintf(w, "  alerts            %s   (what the scheduler delivers; SNS in AWS)\n", s.AlertsURL)
	if len(s.Terminals) > 0 {
		id := s.Terminals[0].ID
		fmt.Fprintf(w, "\n  %d demo terminals are streaming. Try:\n", len(s.Terminals))
		fmt.Fprintf(w, "    export TOKEN=%s\n", s.Users["operator"])
		fmt.Fprintf(w, "    curl -H \"Authorization: Bearer $TOKEN\" '%s/terminals/%s/logs/?count=10'\n", s.HTTPURL, id)
		fmt.Fprintf(w, "    curl -H \"Authorization: Bearer $TOKEN\" '%s/terminals/%s/status/'\n", s.HTTPURL, id)
		fmt.Fprintf(w, "    curl -H \"Authorization: Bearer $TOKEN\" -X POST -d '{\"command\":\"ping\"}' '%s/terminals/%s/commands'\n", s.HTTPURL, id)
	}
	fmt.Fprintf(w, "\n  Users (JWTs of the local issuer, 24 h; more: go run ./cmd/edgesync-local token -role viewer -group demo):\n")
	for _, role := range []string{"admin", "operator", "viewer"} {
		fmt.Fprintf(w, "    %-9s %s\n", role, s.Users[role])
	}
	fmt.Fprintf(w, "\nCtrl-C stops it.\n")
}
