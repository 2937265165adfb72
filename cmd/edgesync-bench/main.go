package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/aws/smithy-go/middleware"

	"github.com/edgesync/edgesync"
	"github.com/edgesync/edgesync/devstack"
	"github.com/edgesync/edgesync/devstack/template"
	"github.com/edgesync/edgesync/fleet"
	"github.com/edgesync/edgesync/internal/dynalite"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "edgesync-bench:", err)
		os.Exit(1)
	}
}

type options struct {
	terminals int
	watched   int
	window    time.Duration
	warmup    time.Duration
	out       string
	skip      map[string]bool
	verbose   bool
}

// Phases that -skip accepts.
const (
	phaseLatency    = "latency"
	phaseThroughput = "throughput"
	phaseCPU        = "cpu"
	phaseColdStart  = "coldstart"
)

func run(ctx context.Context, args []string, stdout io.Writer) error {
	var o options
	var skip string
	fs := flag.NewFlagSet("edgesync-bench", flag.ContinueOnError)
	fs.IntVar(&o.terminals, "terminals", 60, "terminals per group in the cost run (edgesync agents, and as many per-line clients)")
	fs.IntVar(&o.watched, "watched", 4, "terminals whose logs a dashboard tails during the cost run")
	fs.DurationVar(&o.window, "window", 90*time.Second, "measured window of the cost run (a multiple of the 30 s status interval)")
	fs.DurationVar(&o.warmup, "warmup", 10*time.Second, "time before the window, for connections and first pulls")
	fs.StringVar(&o.out, "o", "", "also write the report into this Markdown file, between <!-- bench:begin --> and <!-- bench:end -->")
	fs.StringVar(&skip, "skip", "", "comma-separated phases to skip: latency, throughput, cpu, coldstart")
	fs.BoolVar(&o.verbose, "v", false, "log progress and the stack's warnings")
	if err := fs.Parse(args); err != nil {
		return err
	}
	o.skip = map[string]bool{}
	for _, s := range strings.Split(skip, ",") {
		if s = strings.TrimSpace(s); s != "" {
			o.skip[s] = true
		}
	}
	if o.terminals < 1 || o.watched < 1 || o.window < refStatusEvery {
		return fmt.Errorf("-terminals and -watched must be at least 1 and -window at least %v", refStatusEvery)
	}
	prices, err := loadPrices()
	if err != nil {
		return err
	}
	level := slog.LevelError
	if o.verbose {
		level = slog.LevelInfo
	}
	progress := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	// The functions run in this process and log every event: keep errors.
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})))
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))

	began := time.Now()
	dir, err := os.MkdirTemp("", "edgesync-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	memoryMB, err := templateMemory()
	if err != nil {
		return err
	}

	db, err := dynalite.Start(ctx)
	if err != nil {
		return fmt.Errorf("start dynalite: %w", err)
	}
	defer db.Close()

	m := newMeter()
	st, err := devstack.Start(ctx, devstack.Config{
		HTTPAddr: "127.0.0.1:0", WSAddr: "127.0.0.1:0", DataDir: dir + "/stack",
		DynamoDBEndpoint: db.Endpoint(), Table: "edgesync-bench", Logger: quiet,
		WrapInvoker:        m.wrapInvoker,
		WrapPusher:         m.wrapPusher,
		DynamoDBAPIOptions: []func(*middleware.Stack) error{m.capacityMiddleware},
	})
	if err != nil {
		return fmt.Errorf("start the local stack: %w", err)
	}
	defer st.Close(context.Background())

	root, err := moduleRoot()
	if err != nil {
		return err
	}
	if os.Getenv("AWS_LAMBDA_RIE") == "" {
		if p := filepath.Join(root, "tools", "bin", "aws-lambda-rie"); fileExists(p) {
			os.Setenv("AWS_LAMBDA_RIE", p)
		}
	}
	r := &results{began: began, opts: o, prices: prices, memoryMB: memoryMB, machine: machine()}

	progress.Info("cost run: edgesync agents, per-line clients and tailed agents side by side", "terminals", o.terminals, "window", o.window)
	if r.cost, err = runCost(ctx, st, m, costOptions{
		terminals: o.terminals, watched: o.watched, window: o.window, warmup: o.warmup,
		tailEvery: time.Second, dataDir: dir, log: quiet,
	}); err != nil {
		return err
	}
	r.base = modelGroup(r.cost, groupBaseline, memoryMB)
	r.ours = modelGroup(r.cost, groupOurs, memoryMB)
	r.watched = modelGroup(r.cost, groupWatched, memoryMB)
	r.base.finish(nil, fleet.LiveFor)
	r.ours.finish(&r.watched, fleet.LiveFor)

	if !o.skip[phaseLatency] {
		progress.Info("latency run: dashboards tailing terminals every 50 ms")
		if r.latency, err = runLatency(ctx, st, dir, quiet, 4, 20*time.Second, 50*time.Millisecond); err != nil {
			return err
		}
	}
	if !o.skip[phaseThroughput] {
		progress.Info("throughput run")
		if r.throughput, err = runThroughput(ctx, st, dir, quiet, 4, 4, 8*time.Second); err != nil {
			return err
		}
	}
	if !o.skip[phaseCPU] {
		progress.Info("CPU per message: go test -bench BenchmarkHandleMessage ./fleet")
		if r.cpu, err = runCPU(ctx, root); err != nil {
			return err
		}
	}
	if !o.skip[phaseColdStart] {
		progress.Info("binary sizes (linux/arm64) and init durations under RIE")
		if r.sizes, err = buildSizes(ctx, root, dir); err != nil {
			return err
		}
		if r.cold, err = coldStarts(ctx, db.Endpoint(), dir, quiet); err != nil {
			return err
		}
	}
	r.took = time.Since(began)

	var rep bytes.Buffer
	r.write(&rep)
	if _, err := stdout.Write(rep.Bytes()); err != nil {
		return err
	}
	if o.out != "" {
		return writeInto(o.out, rep.Bytes())
	}
	return nil
}

func fileExists(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir()
}

func templateMemory() (int, error) {
	tpl, err := template.Parse(edgesync.Template)
	if err != nil {
		return 0, fmt.Errorf("read template.yaml: %w", err)
	}
	p, ok := tpl.Parameters["FunctionMemorySize"]
	if !ok {
		return 0, errors.New("template.yaml has no FunctionMemorySize parameter")
	}
	n, err := strconv.Atoi(p.Default)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("template.yaml: FunctionMemorySize default %q is not a size in MB", p.Default)
	}
	return n, nil
}

const (
	beginMarker = "<!-- bench:begin -->"
	endMarker   = "<!-- bench:end -->"
)

// writeInto replaces the text between the markers of the file at path.
func writeInto(path string, report []byte) error {
	doc, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	i := bytes.Index(doc, []byte(beginMarker))
	j := bytes.Index(doc, []byte(endMarker))
	if i < 0 || j < i {
		return fmt.Errorf("%s: no %s … %s section to replace", path, beginMarker, endMarker)
	}
	var out bytes.Buffer
	out.Write(doc[:i+len(beginMarker)])
	out.WriteString("\n")
	out.Write(report)
	out.Write(doc[j:])
	return os.WriteFile(path, out.Bytes(), 0o644)
}
