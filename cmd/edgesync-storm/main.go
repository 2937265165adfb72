// Command edgesync-storm is the reconnect-storm load program: it connects
// many simulated terminals to the WebSocket API at once, as after a
// network outage of a whole site, and reports how long it took until every
// one of them was resynced (the three pulls that follow hello - get_status,
// get_config, get_logs - answered and recorded as succeeded in the store),
// with connect and resync latency percentiles and every failure.
//
// By default it starts the local stack in process (embedded store, the
// functions' handler code) on loopback ports:
//
//	go run ./cmd/edgesync-storm -terminals 1000
//
// or it targets a running local stack on DynamoDB (dynalite, LocalStack):
// it registers its terminals in the table and checks them there:
//
//	go run ./cmd/edgesync-storm -ws-url ws://127.0.0.1:8081/prod \
//	    -dynamodb-endpoint http://127.0.0.1:8000 -table edgesync
//
// Each simulated terminal is a bare WebSocket client speaking the protocol
// (no spool, no agent): connect with its token, send hello, answer the
// three pulls. Targets must be on loopback; the run is bounded by -timeout.
//
// With -load as its first argument it is the load test of the local stack
// (SCALE.md): the stack in a child process, terminals at the reference
// workload added step by step until the stack saturates, with the stack
// process's CPU, memory per connection and CPU profile:
//
//	go run ./cmd/edgesync-storm -load
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
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/coder/websocket"

	"github.com/edgesync/edgesync/devstack"
	"github.com/edgesync/edgesync/fleet"
	"github.com/edgesync/edgesync/infra/dynamo"
	"github.com/edgesync/edgesync/protocol"
)

func main() {
	ctx := context.Background()
	var err error
	switch {
	case len(os.Args) > 1 && os.Args[1] == "-load":
		err = runLoad(ctx, os.Args[2:], os.Stdout)
	case len(os.Args) > 1 && os.Args[1] == "-serve":
		err = serve(ctx, os.Args[2:], os.Stdout)
	default:
		err = run(ctx, os.Args[1:], os.Stdout)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "edgesync-storm:", err)
		os.Exit(1)
	}
}

type options struct {
	terminals int
	timeout   time.Duration
	wsURL     string
	endpoint  string
	table     string
	dataDir   string
	prefix    string
	jsonOut   bool
	settle    time.Duration
}

func run(ctx context.Context, args []string, out io.Writer) error {
	var o options
	fs := flag.NewFlagSet("edgesync-storm", flag.ContinueOnError)
	fs.IntVar(&o.terminals, "terminals", 1000, "simulated terminals connecting at once")
	fs.DurationVar(&o.timeout, "timeout", 3*time.Minute, "bound of the whole run")
	fs.StringVar(&o.wsURL, "ws-url", "", "WebSocket URL of a running local stack (default: start one in process)")
	fs.StringVar(&o.endpoint, "dynamodb-endpoint", "", "with -ws-url: the DynamoDB endpoint the running stack uses")
	fs.StringVar(&o.table, "table", "edgesync", "with -ws-url: the DynamoDB table the running stack uses")
	fs.StringVar(&o.dataDir, "data", "", "data directory of the in-process stack (default: a temporary one)")
	fs.StringVar(&o.prefix, "prefix", "storm", "terminal id prefix: <prefix>-<n>")
	fs.BoolVar(&o.jsonOut, "json", false, "print the report as JSON")
	fs.DurationVar(&o.settle, "settle", 30*time.Second, "give up on pulls still pending this long after the last one completed")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.terminals < 1 {
		return fmt.Errorf("-terminals must be at least 1, got %d", o.terminals)
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()

	target, err := open(ctx, o)
	if err != nil {
		return err
	}
	defer target.close()

	rep, err := storm(ctx, target, o)
	if err != nil {
		return err
	}
	if o.jsonOut {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	rep.print(out)
	if rep.Failed > 0 {
		return fmt.Errorf("%d of %d terminals failed to resync", rep.Failed, rep.Terminals)
	}
	return nil
}

// target is the stack under load: where terminals connect, and the store
// that registers them and tells whether their pulls succeeded.
type target struct {
	wsURL string
	store fleet.Store
	admin *fleet.Service
	close func()
}

func open(ctx context.Context, o options) (*target, error) {
	if o.wsURL == "" {
		// The functions run in this process and log every event: keep
		// only their warnings and errors.
		slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
		dir := o.dataDir
		cleanup := func() {}
		if dir == "" {
			d, err := os.MkdirTemp("", "edgesync-storm-")
			if err != nil {
				return nil, err
			}
			dir, cleanup = d, func() { os.RemoveAll(d) }
		}
		s, err := devstack.Start(ctx, devstack.Config{
			HTTPAddr: "127.0.0.1:0", WSAddr: "127.0.0.1:0", DataDir: dir,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		})
		if err != nil {
			cleanup()
			return nil, fmt.Errorf("start the local stack: %w", err)
		}
		return &target{wsURL: s.WSURL, store: s.Admin().Store(), admin: s.Admin(), close: func() {
			cctx, ccancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer ccancel()
			s.Close(cctx)
			cleanup()
		}}, nil
	}
	if err := loopbackOnly(o.wsURL); err != nil {
		return nil, fmt.Errorf("-ws-url: %w", err)
	}
	if o.endpoint == "" {
		return nil, errors.New("-ws-url needs -dynamodb-endpoint: the storm registers its terminals in the stack's table")
	}
	if err := loopbackOnly(o.endpoint); err != nil {
		return nil, fmt.Errorf("-dynamodb-endpoint: %w", err)
	}
	client := dynamodb.New(dynamodb.Options{
		Region: devstack.Region, BaseEndpoint: aws.String(o.endpoint),
		Credentials: credentials.NewStaticCredentialsProvider("local", "local", ""),
	})
	store := dynamo.New(client, o.table)
	return &target{wsURL: o.wsURL, store: store, admin: fleet.NewService(store, noPush{}, fleet.DefaultConfig()), close: func() {}}, nil
}

// noPush is the pusher of the registering service, which never pushes.
type noPush struct{}

func (noPush) Push(context.Context, string, []byte) error { return fleet.ErrOffline }

// loopbackOnly refuses a target that is not on this machine's loopback.
func loopbackOnly(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	host := u.Hostname()
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("%s is not a loopback address; the storm only loads this machine", host)
}

// result is one simulated terminal's outcome.
type result struct {
	id       string
	connect  time.Duration // dial start → handshake done
	resync   time.Duration // dial start → third pull answered
	requests []string      // request ids of the pulls answered
	seenLate map[string]bool
	err      error
}

// Report is what a storm measured.
type Report struct {
	Terminals int `json:"terminals"`
	Resynced  int `json:"resynced"`
	Failed    int `json:"failed"`
	// Failures counts failures by kind (first words of the error).
	Failures map[string]int `json:"failures,omitempty"`
	// AllConnected and AllResynced are measured from the moment every
	// terminal started dialling; AllResynced is confirmed in the store.
	AllConnected  Duration    `json:"allConnected"`
	AllAnswered   Duration    `json:"allAnswered"`
	AllResynced   Duration    `json:"allResynced"`
	Connect       Percentiles `json:"connect"`
	Resync        Percentiles `json:"resync"`
	RegisterTime  Duration    `json:"registerTime"`
	ConfirmedInDB int         `json:"confirmedInStore"`
	// LateReads counts pulls that a reader would have seen as timed_out:
	// still pending in the store past their deadline, though answered.
	LateReads int `json:"lateReads"`
}

// Duration prints as a rounded Go duration.
type Duration time.Duration

// MarshalJSON writes d as a duration string like "1.234s".
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

func (d Duration) String() string { return time.Duration(d).Round(time.Millisecond).String() }

// Percentiles summarise latencies.
type Percentiles struct {
	P50 Duration `json:"p50"`
	P95 Duration `json:"p95"`
	P99 Duration `json:"p99"`
	Max Duration `json:"max"`
}

func percentiles(ds []time.Duration) Percentiles {
	if len(ds) == 0 {
		return Percentiles{}
	}
	slices.Sort(ds)
	at := func(q float64) Duration {
		i := int(q*float64(len(ds))+0.999999) - 1
		return Duration(ds[min(max(i, 0), len(ds)-1)])
	}
	return Percentiles{P50: at(0.50), P95: at(0.95), P99: at(0.99), Max: Duration(ds[len(ds)-1])}
}

func (r Report) print(w io.Writer) {
	fmt.Fprintf(w, "terminals     %d (registered in %v)\n", r.Terminals, r.RegisterTime)
	fmt.Fprintf(w, "resynced      %d, confirmed in the store %d\n", r.Resynced, r.ConfirmedInDB)
	fmt.Fprintf(w, "late reads    %d pulls still pending past their deadline (read as timed_out meanwhile)\n", r.LateReads)
	fmt.Fprintf(w, "failed        %d\n", r.Failed)
	kinds := make([]string, 0, len(r.Failures))
	for k := range r.Failures {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		fmt.Fprintf(w, "  %5d  %s\n", r.Failures[k], k)
	}
	fmt.Fprintf(w, "all connected %v\nall answered  %v\nall resynced  %v (the last terminal whose pulls all succeeded in the store)\n", r.AllConnected, r.AllAnswered, r.AllResynced)
	fmt.Fprintf(w, "connect       p50 %v  p95 %v  p99 %v  max %v\n", r.Connect.P50, r.Connect.P95, r.Connect.P99, r.Connect.Max)
	fmt.Fprintf(w, "resync        p50 %v  p95 %v  p99 %v  max %v\n", r.Resync.P50, r.Resync.P95, r.Resync.P99, r.Resync.Max)
}

func storm(ctx context.Context, tg *target, o options) (Report, error) {
	rep := Report{Terminals: o.terminals, Failures: map[string]int{}}
	registerStart := time.Now()
	tokens := make([]string, o.terminals)
	ids := make([]string, o.terminals)
	for i := range o.terminals {
		ids[i] = fmt.Sprintf("%s-%d", o.prefix, i+1)
		token, err := tg.admin.CreateTerminal(ctx, fleet.System("storm"), ids[i], "", []string{"storm"})
		if errors.Is(err, fleet.ErrExists) {
			token, err = tg.admin.RotateToken(ctx, fleet.System("storm"), ids[i], 0)
		}
		if err != nil {
			return rep, fmt.Errorf("register %s: %w", ids[i], err)
		}
		tokens[i] = token
	}
	rep.RegisterTime = Duration(time.Since(registerStart))

	results := make([]result, o.terminals)
	conns := make([]*websocket.Conn, o.terminals)
	gate := make(chan struct{})
	var ready, wg sync.WaitGroup
	ready.Add(o.terminals)
	for i := range o.terminals {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ready.Done()
			<-gate
			results[i], conns[i] = terminal(ctx, tg.wsURL, ids[i], tokens[i])
		}()
	}
	ready.Wait()
	start := time.Now()
	close(gate)
	wg.Wait()
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close(websocket.StatusNormalClosure, "storm over")
			}
		}
	}()

	var connects, resyncs []time.Duration
	for _, r := range results {
		if r.err != nil {
			continue
		}
		connects = append(connects, r.connect)
		resyncs = append(resyncs, r.resync)
		rep.AllConnected = max(rep.AllConnected, Duration(r.connect))
		rep.AllAnswered = max(rep.AllAnswered, Duration(r.resync))
	}
	rep.Connect, rep.Resync = percentiles(connects), percentiles(resyncs)

	// Confirm in the store: every pull of every terminal succeeded. Check
	// the terminals still pending in rounds, until none is left or none
	// has completed for -settle (a pull whose answer the server failed to
	// store stays pending for good).
	var mu sync.Mutex
	pending := []int{}
	for i := range results {
		if results[i].err == nil {
			pending = append(pending, i)
		}
	}
	progress := time.Now()
	for len(pending) > 0 && ctx.Err() == nil && time.Since(progress) < o.settle {
		var still []int
		sem := make(chan struct{}, 8)
		var round sync.WaitGroup
		for _, i := range pending {
			round.Add(1)
			sem <- struct{}{}
			go func() {
				defer round.Done()
				defer func() { <-sem }()
				r := &results[i]
				if r.seenLate == nil {
					r.seenLate = map[string]bool{}
				}
				ok, late, err := pullsSucceeded(ctx, tg.store, r.id, r.requests, r.seenLate)
				mu.Lock()
				defer mu.Unlock()
				rep.LateReads += late
				switch {
				case err != nil && ctx.Err() == nil:
					r.err = err
				case ok:
					rep.ConfirmedInDB++
					progress = time.Now()
				default:
					still = append(still, i)
				}
			}()
		}
		round.Wait()
		pending = still
		if len(pending) > 0 {
			time.Sleep(50 * time.Millisecond)
		}
	}
	for _, i := range pending {
		results[i].err = fmt.Errorf("pulls of %s still pending in the store %v after the last one completed", results[i].id, o.settle)
	}
	for _, r := range results {
		if r.err != nil {
			rep.Failed++
			rep.Failures[kind(r.err)]++
		}
	}
	rep.AllResynced = Duration(progress.Sub(start)) // the last pull confirmed
	rep.Resynced = rep.Terminals - rep.Failed
	return rep, nil
}

// pullsSucceeded reports whether every pull succeeded in the store, and
// how many pulls it found, for the first time, pending past their deadline.
func pullsSucceeded(ctx context.Context, store fleet.Store, id string, requests []string, seenLate map[string]bool) (bool, int, error) {
	now := time.Now()
	late := 0
	for _, req := range requests {
		c, err := store.Command(ctx, id, req, now)
		if err != nil {
			return false, late, fmt.Errorf("read pull %s of %s: %w", req, id, err)
		}
		if c.State == fleet.CommandPending && !now.Before(c.Deadline) && !seenLate[req] {
			seenLate[req] = true
			late++
		}
		// The stored state, not the effective one: an answer the terminal
		// sent in time is still being processed while the deadline passes
		// (a reader then sees timed_out until it completes).
		switch c.State {
		case fleet.CommandSucceeded:
		case fleet.CommandPending:
			return false, late, nil
		default:
			return false, late, fmt.Errorf("pull %s of %s: %s %s", c.Name, id, c.State, c.Error)
		}
	}
	return true, late, nil
}

var (
	hexID    = regexp.MustCompile(`\b[0-9a-f]{16,}\b`)
	numbered = regexp.MustCompile(`\b[A-Za-z][A-Za-z0-9_.:]*-[0-9]+\b`)
	address  = regexp.MustCompile(`127\.0\.0\.1:[0-9]+`)
)

// kind names a failure without its ids, so failures group in the report.
func kind(err error) string {
	s := hexID.ReplaceAllString(err.Error(), "<id>")
	s = numbered.ReplaceAllString(s, "<terminal>")
	s = address.ReplaceAllString(s, "<addr>")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

var answers = map[string]string{
	protocol.CommandGetStatus: `{"cpu_percent":3.5,"memory_percent":41}`,
	protocol.CommandGetConfig: `{"threshold":0.8,"camera":"cam-1"}`,
	protocol.CommandGetLogs:   `{"entries":[]}`,
}

// terminal is one simulated terminal: connect with its token, say hello,
// answer the three pulls. It returns the open connection.
func terminal(ctx context.Context, wsURL, id, token string) (result, *websocket.Conn) {
	r := result{id: id}
	begin := time.Now()
	conn, _, err := websocket.Dial(ctx, wsURL+"?terminal_id="+url.QueryEscape(id), &websocket.DialOptions{
		HTTPHeader: http.Header{"Authorization": {"Bearer " + token}},
	})
	if err != nil {
		r.err = fmt.Errorf("connect: %w", err)
		return r, nil
	}
	r.connect = time.Since(begin)
	conn.SetReadLimit(protocol.MaxMessageBytes)
	if err := conn.Write(ctx, websocket.MessageText, []byte(`{"type":"hello","terminal_id":"`+id+`","agent_version":"storm"}`)); err != nil {
		r.err = fmt.Errorf("send hello: %w", err)
		return r, conn
	}
	pending := map[string]bool{protocol.CommandGetStatus: true, protocol.CommandGetConfig: true, protocol.CommandGetLogs: true}
	for len(pending) > 0 {
		_, data, err := conn.Read(ctx)
		if err != nil {
			r.err = fmt.Errorf("read pulls: %w", err)
			return r, conn
		}
		var cmd protocol.Command
		if err := json.Unmarshal(data, &cmd); err != nil {
			r.err = fmt.Errorf("read pulls: %s is not JSON", data)
			return r, conn
		}
		switch cmd.Type {
		case protocol.TypeCommand:
		case protocol.TypeError:
			r.err = fmt.Errorf("server error: %s", data)
			return r, conn
		default:
			continue
		}
		answer, ok := answers[cmd.Command]
		if !ok {
			answer = `{}`
		}
		msg := fmt.Sprintf(`{"type":"command_response","request_id":%q,"command":%q,"success":true,"result":%s}`, cmd.RequestID, cmd.Command, answer)
		if err := conn.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
			r.err = fmt.Errorf("answer %s: %w", cmd.Command, err)
			return r, conn
		}
		if pending[cmd.Command] {
			delete(pending, cmd.Command)
			r.requests = append(r.requests, cmd.RequestID)
		}
	}
	r.resync = time.Since(begin)
	return r, conn
}
