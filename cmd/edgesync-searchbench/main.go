package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go/middleware"

	"github.com/edgesync/edgesync/fleet"
	"github.com/edgesync/edgesync/infra/dynamo"
	"github.com/edgesync/edgesync/internal/dynalite"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "edgesync-searchbench:", err)
		os.Exit(1)
	}
}

type options struct {
	terminals, days, runs int
	data, out             string
}

const table = "edgesync"

func run(ctx context.Context, args []string, stdout io.Writer) error {
	var o options
	fs := flag.NewFlagSet("edgesync-searchbench", flag.ContinueOnError)
	fs.IntVar(&o.terminals, "terminals", 100, "terminals (in four groups)")
	fs.IntVar(&o.days, "days", 7, "days of reference-workload logs per terminal")
	fs.IntVar(&o.runs, "runs", 5, "runs of each measured request")
	fs.StringVar(&o.data, "data", "", "keep dynalite's store in this directory and reuse it when it holds the same -terminals and -days (default: a temporary directory)")
	fs.StringVar(&o.out, "o", "", "also write the report into this Markdown file, between <!-- searchbench:begin --> and <!-- searchbench:end -->")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.terminals < groupsOfFleet || o.days < 1 || o.runs < 1 {
		return fmt.Errorf("-terminals must be at least %d, -days and -runs at least 1", groupsOfFleet)
	}
	progress := func(msg string) { fmt.Fprintln(os.Stderr, "edgesync-searchbench:", msg) }
	slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil)))
	began := time.Now()

	dir := o.data
	if dir == "" {
		tmp, err := os.MkdirTemp("", "edgesync-searchbench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	if err := os.MkdirAll(filepath.Join(dir, "leveldb"), 0o700); err != nil {
		return err
	}
	srv, err := dynalite.StartOnDisk(ctx, filepath.Join(dir, "leveldb"))
	if err != nil {
		return fmt.Errorf("start dynalite: %w", err)
	}
	defer srv.Close()
	meter := &capacity{}
	client := dynalite.NewClient(srv.Endpoint())
	metered := dynamodb.New(client.Options(), func(o *dynamodb.Options) { o.APIOptions = append(o.APIOptions, meter.middleware) })
	st := dynamo.New(metered, table)

	var ds dataSet
	marker := filepath.Join(dir, "dataset.json")
	if raw, err := os.ReadFile(marker); err == nil && json.Unmarshal(raw, &ds) == nil && ds.Terminals == o.terminals && ds.Days == o.days {
		progress(fmt.Sprintf("reusing the data set in %s (%d chunks, %d lines)", dir, ds.Chunks, ds.Lines))
	} else {
		if err := dynamo.CreateTable(ctx, client, table); err != nil {
			return fmt.Errorf("create table (is %s a fresh -data directory?): %w", dir, err)
		}
		now := time.Now().UTC().Truncate(time.Minute)
		progress(fmt.Sprintf("loading %d terminals × %d days of logs into dynalite (%s)", o.terminals, o.days, dir))
		if ds, err = load(ctx, st, o.terminals, o.days, now, progress); err != nil {
			return err
		}
		raw, _ := json.Marshal(ds)
		if err := os.WriteFile(marker, raw, 0o600); err != nil {
			return err
		}
		progress(fmt.Sprintf("loaded %d chunks, %d lines in %s", ds.Chunks, ds.Lines, ds.LoadTime))
	}
	clock := func() time.Time { return ds.Now }
	// Alerts are delivered to a publisher that accepts them (SNS's cost is
	// not DynamoDB's; marking them delivered is).
	svc := fleet.NewService(st, okPush{}, fleet.DefaultConfig(), fleet.WithClock(clock), fleet.WithAlertPublisher(okPublisher{}))
	b := &bench{ctx: ctx, svc: svc, st: st, meter: meter, runs: o.runs, ds: ds, progress: progress, raw: client}
	if raw, err := os.ReadFile(filepath.Join("cmd", "edgesync-bench", "prices.json")); err == nil {
		_ = json.Unmarshal(raw, &b.prices)
	} else {
		progress("no cmd/edgesync-bench/prices.json here (run from the repository root): the report leaves out dollars")
	}
	if err := b.searches(); err != nil {
		return err
	}
	if err := b.alerts(); err != nil {
		return err
	}
	var report bytes.Buffer
	b.report(&report, time.Since(began))
	if _, err := stdout.Write(report.Bytes()); err != nil {
		return err
	}
	if o.out != "" {
		return writeInto(o.out, report.Bytes())
	}
	return nil
}

// capacity sums the ConsumedCapacity DynamoDB (dynalite) reports for
// every call of the metered client.
type capacity struct {
	mu         sync.Mutex
	rcu, wcu   float64
	reads      int
	writes     int
	failedCond int
}

func (c *capacity) middleware(stack *middleware.Stack) error {
	return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("SearchBenchConsumedCapacity",
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			total := types.ReturnConsumedCapacityTotal
			write := true
			switch p := in.Parameters.(type) {
			case *dynamodb.PutItemInput:
				p.ReturnConsumedCapacity = total
			case *dynamodb.UpdateItemInput:
				p.ReturnConsumedCapacity = total
			case *dynamodb.DeleteItemInput:
				p.ReturnConsumedCapacity = total
			case *dynamodb.BatchWriteItemInput:
				p.ReturnConsumedCapacity = total
			case *dynamodb.GetItemInput:
				p.ReturnConsumedCapacity, write = total, false
			case *dynamodb.BatchGetItemInput:
				p.ReturnConsumedCapacity, write = total, false
			case *dynamodb.QueryInput:
				p.ReturnConsumedCapacity, write = total, false
			default:
				return next.HandleInitialize(ctx, in)
			}
			out, md, err := next.HandleInitialize(ctx, in)
			c.mu.Lock()
			defer c.mu.Unlock()
			if write {
				c.writes++
			} else {
				c.reads++
			}
			var ccf *types.ConditionalCheckFailedException
			if errors.As(err, &ccf) {
				c.failedCond++
				c.wcu++ // DynamoDB bills a failed condition; dynalite reports nothing
				return out, md, err
			}
			var cc []types.ConsumedCapacity
			switch r := out.Result.(type) {
			case *dynamodb.PutItemOutput:
				cc = one(r.ConsumedCapacity)
			case *dynamodb.UpdateItemOutput:
				cc = one(r.ConsumedCapacity)
			case *dynamodb.DeleteItemOutput:
				cc = one(r.ConsumedCapacity)
			case *dynamodb.BatchWriteItemOutput:
				cc = r.ConsumedCapacity
			case *dynamodb.GetItemOutput:
				cc = one(r.ConsumedCapacity)
			case *dynamodb.BatchGetItemOutput:
				cc = r.ConsumedCapacity
			case *dynamodb.QueryOutput:
				cc = one(r.ConsumedCapacity)
			}
			for _, x := range cc {
				if x.CapacityUnits == nil {
					continue
				}
				if write {
					c.wcu += *x.CapacityUnits
				} else {
					c.rcu += *x.CapacityUnits
				}
			}
			return out, md, err
		}), middleware.After)
}

func one(c *types.ConsumedCapacity) []types.ConsumedCapacity {
	if c == nil {
		return nil
	}
	return []types.ConsumedCapacity{*c}
}

// usage is what the metered client consumed over one measurement.
type usage struct {
	rcu, wcu      float64
	reads, writes int
}

func (c *capacity) snapshot() usage {
	c.mu.Lock()
	defer c.mu.Unlock()
	return usage{c.rcu, c.wcu, c.reads, c.writes}
}

func (u usage) minus(v usage) usage {
	return usage{u.rcu - v.rcu, u.wcu - v.wcu, u.reads - v.reads, u.writes - v.writes}
}

// okPublisher accepts every alert.
type okPublisher struct{}

func (okPublisher) Publish(context.Context, fleet.Alert) error { return nil }

// okPush accepts every push (the acks of the write-path measurement).
type okPush struct{}

func (okPush) Push(context.Context, string, []byte) error { return nil }

const (
	beginMarker = "<!-- searchbench:begin -->"
	endMarker   = "<!-- searchbench:end -->"
)

// writeInto replaces the text between the markers of the file at path,
// appending the section when the file has none.
func writeInto(path string, report []byte) error {
	doc, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	i := bytes.Index(doc, []byte(beginMarker))
	j := bytes.Index(doc, []byte(endMarker))
	var out bytes.Buffer
	switch {
	case i < 0 && j < 0:
		out.Write(bytes.TrimRight(doc, "\n"))
		out.WriteString("\n\n" + beginMarker + "\n")
		out.Write(report)
		out.WriteString(endMarker + "\n")
	case i < 0 || j < i:
		return fmt.Errorf("%s: %s and %s are not in order", path, beginMarker, endMarker)
	default:
		out.Write(doc[:i+len(beginMarker)])
		out.WriteString("\n")
		out.Write(report)
		out.Write(doc[j:])
	}
	return os.WriteFile(path, out.Bytes(), 0o644)
}

// machine describes where the benchmark ran.
func machine() string {
	return fmt.Sprintf("%s/%s, %d CPUs, %s", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.Version())
}
