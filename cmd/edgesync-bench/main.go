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
	terminals      int
	watched        int
	chartTerminals int
	window         time.Duration
	warmup         time.Duration
	out            string
	rates          string
	chart          string
	skip           map[string]bool
	verbose        bool
}

// Phases that -skip accepts.
const (
	phaseLatency    = "latency"
	phaseThroughput = "throughput"
	phaseCPU        = "cpu"
	phaseColdStart  = "coldstart"
	phaseChart      = "chart"
)

// defaults are the flags' defaults; the report names the flags of a run
// that differ.
var defaults = options{terminals: 60, watched: 4, chartTerminals: 10, window: 2 * time.Minute, warmup: 10 * time.Second}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	var o options
	var skip string
	fs := flag.NewFlagSet("edgesync-bench", flag.ContinueOnError)
	fs.IntVar(&o.terminals, "terminals", defaults.terminals, "terminals of the default and seed-literal groups of the cost run (economy: 3/5 as many, per-line: 2/5)")
	fs.IntVar(&o.watched, "watched", defaults.watched, "terminals of each profile whose logs a dashboard tails during the cost run")
	fs.IntVar(&o.chartTerminals, "chart-terminals", defaults.chartTerminals, "terminals of each point of the chart")
	fs.DurationVar(&o.window, "window", defaults.window, "measured window of the cost run, in whole minutes (the terminal record takes a status report once a minute of the clock, fleet.StatusRecordEvery: a window of 90 s would see one such minute or two)")
	fs.DurationVar(&o.warmup, "warmup", defaults.warmup, "time before the window, for connections and first pulls")
	fs.StringVar(&o.out, "o", "", "also write the report into this Markdown file, between <!-- bench:begin --> and <!-- bench:end --> (a new file if it does not exist)")
	fs.StringVar(&o.rates, "rates", "", "write the per-terminal rates (JSON) here; with -o, cmd/edgesync-bench/rates.json in the source tree unless set")
	fs.StringVar(&o.chart, "chart", "", "write the cost chart (SVG) here; with -o, docs/cost-chart.svg beside FILE unless set")
	fs.StringVar(&skip, "skip", "", "comma-separated phases to skip: latency, throughput, cpu, coldstart, chart")
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
	if o.terminals < 5 || o.watched < 1 || o.chartTerminals < 2 || o.window < fleet.StatusRecordEvery || o.window%fleet.StatusRecordEvery != 0 {
		return fmt.Errorf("-terminals must be at least 5, -watched 1, -chart-terminals 2, and -window whole minutes (got %v): the terminal record takes a report once a minute of the clock (fleet.StatusRecordEvery), so any other window counts a different number of those minutes from run to run", o.window)
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

	groups := mainGroups(o.terminals, o.watched)
	if !o.skip[phaseChart] {
		groups = append(groups, chartGroups(o.chartTerminals)...)
	}
	progress.Info("cost run: the profiles, the baselines and the chart's points side by side", "groups", len(groups), "window", o.window)
	if r.cost, err = runCost(ctx, st, m, costOptions{
		groups: groups, window: o.window, warmup: o.warmup,
		tailEvery: time.Second, dataDir: dir, log: quiet, progress: progress,
	}); err != nil {
		return err
	}
	r.models = modelAll(r.cost, memoryMB)

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
	chartPath, ratesPath := o.chart, o.rates
	if o.out != "" {
		if chartPath == "" {
			chartPath = filepath.Join(filepath.Dir(o.out), "docs", "cost-chart.svg")
		}
		if ratesPath == "" {
			ratesPath = filepath.Join(root, "cmd", "edgesync-bench", "rates.json")
		}
	}
	if chartPath != "" && !o.skip[phaseChart] {
		r.chartFile = chartPath
		if o.out != "" {
			if rel, err := filepath.Rel(filepath.Dir(o.out), chartPath); err == nil {
				r.chartFile = filepath.ToSlash(rel)
			}
		}
		if err := os.MkdirAll(filepath.Dir(chartPath), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(chartPath, r.chartSVG(), 0o644); err != nil {
			return fmt.Errorf("write the chart: %w", err)
		}
	}
	r.write(&rep)
	if _, err := stdout.Write(rep.Bytes()); err != nil {
		return err
	}
	if ratesPath != "" {
		raw, err := r.ratesJSON()
		if err != nil {
			return err
		}
		if err := os.WriteFile(ratesPath, raw, 0o644); err != nil {
			return fmt.Errorf("write the rates: %w", err)
		}
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

// writeInto replaces the text between the markers of the file at path,
// or writes a new file holding the report between the markers when there
// is none.
func writeInto(path string, report []byte) error {
	doc, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		doc = []byte("# Benchmarks\n\n" + beginMarker + "\n" + endMarker + "\n")
	} else if err != nil {
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
