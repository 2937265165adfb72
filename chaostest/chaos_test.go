package chaostest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"

	"github.com/edgesync/edgesync/agent"
	"github.com/edgesync/edgesync/devstack"
	"github.com/edgesync/edgesync/fleet"
	"github.com/edgesync/edgesync/infra/apigw"
	"github.com/edgesync/edgesync/internal/dynalite"
)

func TestMain(m *testing.M) {
	// The functions log every request; keep the test's output to its
	// counts, and their errors for a failing test to show.
	slog.SetDefault(slog.New(slog.NewTextHandler(&recentErrors, &slog.HandlerOptions{Level: slog.LevelError})))
	os.Exit(m.Run())
}

// recentErrors keeps the last error lines the functions logged.
var recentErrors errorLines

type errorLines struct {
	mu    sync.Mutex
	lines []string
}

func (e *errorLines) Write(p []byte) (int, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.lines = append(e.lines, strings.TrimSpace(string(p)))
	if len(e.lines) > 50 {
		e.lines = e.lines[len(e.lines)-50:]
	}
	return len(p), nil
}

// last returns up to n of the latest error lines.
func (e *errorLines) last(n int) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return strings.Join(e.lines[max(len(e.lines)-n, 0):], "\n")
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// seed returns CHAOS_SEED or a fresh seed, logged so a run can be replayed.
func seed(t *testing.T) uint64 {
	t.Helper()
	if v := os.Getenv("CHAOS_SEED"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("CHAOS_SEED=%q: want a whole number", v)
		}
		return n
	}
	return uint64(time.Now().UnixNano())
}

// plan is what one chaos run does.
type plan struct {
	terminals    int
	linesEach    int           // lines each terminal produces
	produceFor   time.Duration // spread over this long
	chaosFor     time.Duration // faults are injected for this long
	restarts     int           // gateway restarts, evenly spread
	smallSpoolOf int           // index of the terminal with the smallest spool (-1: none)
	storeFaults  bool          // inject faults with the fault-injecting fleet.Store
	dynamoDB     bool          // use DynamoDB (dynalite) behind a fault-injecting proxy, not the embedded store
}

// run is the state of one chaos run.
type run struct {
	t      *testing.T
	plan   plan
	rnd    *lockedRand
	dir    string
	faults *storeFaults
	proxy  *netProxy
	dynamo *dynamoFaults // nil on the embedded store

	mu    sync.Mutex
	stack *devstack.Stack
	inner fleet.Store // the stack's store without faults

	agents []*terminal

	restartsDone, connsClosed, kills atomic.Int64
	listed, listFailed               atomic.Int64
}

// terminal is one simulated terminal: an agent that can be killed and
// replaced on the same spool, and the producer feeding it.
type terminal struct {
	id, token, spool string
	smallSpool       bool

	mu     sync.RWMutex // held for reading by Log calls, for writing while swapping agents
	a      *agent.Agent
	cancel context.CancelFunc
	done   chan error

	produced atomic.Int64
}

func (r *run) current() (*devstack.Stack, fleet.Store) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stack, r.inner
}

func (r *run) start() {
	r.t.Helper()
	var inner fleet.Store
	cfg := devstack.Config{
		HTTPAddr: "127.0.0.1:0", WSAddr: "127.0.0.1:0", DataDir: r.dir, Logger: quiet(),
		WrapStore: func(store fleet.Store) fleet.Store {
			inner = store
			return faultStore{Store: store, f: r.faults}
		},
	}
	if r.dynamo != nil {
		cfg.DynamoDBEndpoint, cfg.Table = r.dynamo.Endpoint(), "chaos"
	}
	var s *devstack.Stack
	var err error
	for attempt := 0; ; attempt++ {
		s, err = devstack.Start(context.Background(), cfg)
		if err == nil || attempt == 20 {
			break
		}
		time.Sleep(100 * time.Millisecond) // e.g. the store file still being released
	}
	if err != nil {
		r.t.Fatalf("start local stack: %v", err)
	}
	u, err := url.Parse(s.WSURL)
	if err != nil {
		r.t.Fatal(err)
	}
	r.mu.Lock()
	r.stack, r.inner = s, inner
	r.mu.Unlock()
	if r.proxy == nil {
		if r.proxy, err = newNetProxy(u.Host); err != nil {
			r.t.Fatal(err)
		}
	} else {
		r.proxy.setTarget(u.Host)
	}
}

// restart closes the gateway, functions and store, and starts them again
// on the same data directory (or table): every connection is cut.
func (r *run) restart() {
	s, _ := r.current()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Close(ctx); err != nil {
		r.t.Errorf("close stack for restart: %v", err)
	}
	r.start()
	r.restartsDone.Add(1)
}

// closeConnection closes a random terminal's current connection through
// the management API (DELETE @connections/{id}), as an operator would.
func (r *run) closeConnection() {
	s, store := r.current()
	tm := r.agents[r.rnd.IntN(len(r.agents))]
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rec, err := store.Terminal(ctx, tm.id)
	if err != nil || rec.ConnectionID == "" {
		return
	}
	pusher := apigw.New(apigatewaymanagementapi.New(apigatewaymanagementapi.Options{
		Region: devstack.Region, BaseEndpoint: aws.String(s.ConnectionsURL),
		Credentials: credentials.NewStaticCredentialsProvider("chaos", "chaos", ""),
	}))
	if err := pusher.Close(ctx, rec.ConnectionID); err == nil {
		r.connsClosed.Add(1)
	}
}

func (r *run) newAgent(tm *terminal) {
	cfg := agent.DefaultConfig()
	cfg.TerminalID, cfg.Token, cfg.SpoolDir = tm.id, tm.token, tm.spool
	cfg.ServerURL = "ws://" + r.proxy.Addr() + "/prod"
	cfg.ReconnectAttempts = 0
	cfg.AckTimeout = 1
	cfg.AckInterval = 2 // acks on request, asked for as often as the rest is compressed
	cfg.WebSocketTimeout = 5
	cfg.StatusInterval = 2
	cfg.HeartbeatInterval = 1
	cfg.BatchWindowMS = 50
	if tm.smallSpool {
		cfg.SpoolMaxBytes = 64 << 10
	}
	a, err := agent.New(cfg, agent.WithLogger(quiet()), agent.WithBackoff(50*time.Millisecond, time.Second))
	if err != nil {
		r.t.Fatalf("agent %s: %v", tm.id, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	tm.a, tm.cancel, tm.done = a, cancel, make(chan error, 1)
	go func() { tm.done <- a.Run(ctx) }()
}

// kill cancels a random agent's Run without Shutdown (lines in flight stay
// unacknowledged), closes it, and starts a new agent on the same spool.
func (r *run) kill() {
	tm := r.agents[r.rnd.IntN(len(r.agents))]
	tm.mu.Lock()
	defer tm.mu.Unlock()
	tm.cancel()
	<-tm.done
	if err := tm.a.Close(); err != nil {
		r.t.Errorf("close killed agent %s: %v", tm.id, err)
	}
	r.newAgent(tm)
	r.kills.Add(1)
}

// produce logs linesEach lines, numbered, spread over produceFor.
func (r *run) produce(tm *terminal) {
	const tick = 10 * time.Millisecond
	ticks := max(int(r.plan.produceFor/tick), 1)
	perTick := (r.plan.linesEach + ticks - 1) / ticks
	next := time.Now()
	for n := 1; n <= r.plan.linesEach; {
		tm.mu.RLock()
		for i := 0; i < perTick && n <= r.plan.linesEach; i++ {
			tm.a.Log("info", fmt.Sprintf("%s line %d", tm.id, n), "chaos")
			tm.produced.Add(1)
			n++
		}
		tm.mu.RUnlock()
		next = next.Add(tick)
		time.Sleep(time.Until(next))
	}
}

// chaos injects faults until the end of the chaos window.
func (r *run) chaos(wg *sync.WaitGroup, stop <-chan struct{}) {
	defer wg.Done()
	end := time.Now().Add(r.plan.chaosFor)
	var restartAt []time.Time
	for i := 1; i <= r.plan.restarts; i++ {
		restartAt = append(restartAt, time.Now().Add(r.plan.chaosFor*time.Duration(i)/time.Duration(r.plan.restarts+1)))
	}
	for time.Now().Before(end) {
		select {
		case <-stop:
			return
		case <-time.After(time.Duration(100+r.rnd.IntN(400)) * time.Millisecond):
		}
		if len(restartAt) > 0 && time.Now().After(restartAt[0]) {
			restartAt = restartAt[1:]
			r.restart()
			continue
		}
		switch x := r.rnd.IntN(100); {
		case x < 40:
			r.proxy.dropRandom(r.rnd)
		case x < 60:
			r.closeConnection()
		case x < 68:
			r.kill()
		case x < 73 && r.faults.on.Load():
			r.faults.burstUntil.Store(time.Now().Add(time.Second).UnixNano())
		}
	}
}

// listTerminals reads the terminal list as a dashboard does, every 200 ms
// until stop: a complete answer lists every terminal; a failed one must be
// a JSON error, never an incomplete list.
func (r *run) listTerminals(wg *sync.WaitGroup, stop <-chan struct{}) {
	defer wg.Done()
	for {
		select {
		case <-stop:
			return
		case <-time.After(200 * time.Millisecond):
		}
		s, _ := r.current()
		var page struct {
			Terminals []struct {
				ID string `json:"id"`
			} `json:"terminals"`
		}
		if err := getJSON(s, s.HTTPURL+"/terminals?limit=500", &page); err != nil {
			if r.listFailed.Add(1) <= 3 {
				r.t.Logf("GET /terminals failed during the faults: %v", err)
			}
			continue
		}
		if len(page.Terminals) != len(r.agents) {
			r.t.Errorf("GET /terminals listed %d terminals, want %d", len(page.Terminals), len(r.agents))
		}
		r.listed.Add(1)
	}
}

// tally is what a run counted for one terminal.
type tally struct {
	produced, stored, duplicated, outOfOrder, lost, dropped, droppedInvalid, droppedDelivered int64
}

func (c *tally) add(o tally) {
	c.produced += o.produced
	c.stored += o.stored
	c.duplicated += o.duplicated
	c.outOfOrder += o.outOfOrder
	c.lost += o.lost
	c.dropped += o.dropped
	c.droppedInvalid += o.droppedInvalid
	c.droppedDelivered += o.droppedDelivered
}

// chaosRun runs a plan and checks that nothing was lost or duplicated.
func chaosRun(t *testing.T, p plan) tally {
	sd := seed(t)
	t.Logf("CHAOS_SEED=%d", sd)
	r := &run{t: t, plan: p, rnd: newLockedRand(sd), dir: t.TempDir()}
	r.faults = &storeFaults{rnd: r.rnd}
	if p.storeFaults {
		r.faults.throttle, r.faults.fail, r.faults.failAfter = 0.04, 0.02, 0.03
	}
	if p.dynamoDB {
		db := dynalite.ForTest(t)
		d, err := newDynamoFaults(db.Endpoint(), r.rnd)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(d.Close)
		r.dynamo = d
	}
	r.start()
	t.Cleanup(func() {
		s, _ := r.current()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		s.Close(ctx)
		r.proxy.Close()
	})

	s, _ := r.current()
	for i := range p.terminals {
		id := fmt.Sprintf("chaos-%d", i+1)
		token, err := s.Admin().CreateTerminal(context.Background(), fleet.System("test"), id, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		tm := &terminal{id: id, token: token, spool: filepath.Join(r.dir, "spool", id), smallSpool: i == p.smallSpoolOf}
		r.newAgent(tm)
		r.agents = append(r.agents, tm)
	}
	t.Cleanup(func() {
		for _, tm := range r.agents {
			tm.mu.Lock()
			tm.cancel()
			<-tm.done
			tm.a.Close()
			tm.mu.Unlock()
		}
	})

	began := time.Now()
	r.faults.on.Store(p.storeFaults)
	if r.dynamo != nil {
		r.dynamo.on.Store(true)
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(2)
	go r.chaos(&wg, stop)
	go r.listTerminals(&wg, stop)
	var producers sync.WaitGroup
	for _, tm := range r.agents {
		producers.Add(1)
		go func() {
			defer producers.Done()
			r.produce(tm)
		}()
	}
	producers.Wait()
	close(stop)
	wg.Wait()
	r.faults.on.Store(false)
	if r.dynamo != nil {
		r.dynamo.on.Store(false)
	}
	chaosEnded := time.Now()

	// Let every agent deliver what it holds: all spooled lines acknowledged.
	for _, tm := range r.agents {
		tm.mu.RLock()
		a := tm.a
		tm.mu.RUnlock()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if err := a.Sync(ctx); err != nil {
			t.Errorf("%s: lines not spooled: %v", tm.id, err)
		}
		cancel()
		deadline := time.Now().Add(90 * time.Second)
		for {
			st := a.Stats()
			if st.SpoolLines == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("%s: %d lines still unacknowledged 90 s after the faults stopped (stats %+v)", tm.id, st.SpoolLines, st)
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	drained := time.Now()
	for _, tm := range r.agents {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := tm.a.Shutdown(ctx); err != nil {
			t.Errorf("%s: shutdown: %v", tm.id, err)
		}
		cancel()
	}

	var total tally
	s, _ = r.current()
	for _, tm := range r.agents {
		c := r.check(s, tm)
		t.Logf("%s: produced %d, stored %d, duplicated %d, out of order %d, lost %d, dropped %d (of which delivered anyway %d), dropped invalid %d",
			tm.id, c.produced, c.stored, c.duplicated, c.outOfOrder, c.lost, c.dropped, c.droppedDelivered, c.droppedInvalid)
		total.add(c)
	}
	gw := s.Stats()
	t.Logf("injected: %d gateway restarts, %d connections dropped by the network, %d closed through @connections, %d agents killed mid-stream; fleet.Store wrapper: %d throttled, %d failed, %d failed after applying; proxy accepted %d connections, refused %d",
		r.restartsDone.Load(), r.proxy.dropped.Load(), r.connsClosed.Load(), r.kills.Load(),
		r.faults.throttled.Load(), r.faults.failed.Load(), r.faults.failedAfter.Load(), r.proxy.accepted.Load(), r.proxy.refused.Load())
	t.Logf("frontend: %d terminal listings complete, %d failed (a 5xx while the store failed; never an incomplete list)", r.listed.Load(), r.listFailed.Load())
	if d := r.dynamo; d != nil {
		t.Logf("DynamoDB: %d requests, %d throttled (ProvisionedThroughputExceeded), %d failed (500), %d failed after applying, %d answers cut off mid-body, %d batches answered in part (Unprocessed*)",
			d.requests.Load(), d.throttled.Load(), d.failed.Load(), d.failedAfter.Load(), d.cutOff.Load(), d.partials.Load())
	}
	t.Logf("timing: produced and faulted for %v, drained %v after; last gateway: %+v", chaosEnded.Sub(began).Round(time.Millisecond), drained.Sub(chaosEnded).Round(time.Millisecond), gw)
	t.Logf("TOTAL produced %d, stored %d, duplicated %d, lost %d, dropped %d", total.produced, total.stored, total.duplicated, total.lost, total.dropped)
	if total.lost != 0 || total.duplicated != 0 || total.outOfOrder != 0 || total.droppedInvalid != 0 {
		t.Errorf("lost %d, duplicated %d, out of order %d, dropped as invalid %d; want all 0 (replay with CHAOS_SEED=%d)",
			total.lost, total.duplicated, total.outOfOrder, total.droppedInvalid, sd)
	}
	if total.produced != int64(p.terminals*p.linesEach) {
		t.Errorf("produced %d lines, want %d", total.produced, p.terminals*p.linesEach)
	}
	return total
}

// check reads every stored line of a terminal through the HTTP API with
// the cursor and counts it against what was produced and dropped.
func (r *run) check(s *devstack.Stack, tm *terminal) tally {
	lines := readAll(r.t, s, tm.id)
	st := tm.a.Stats()
	c := tally{produced: tm.produced.Load(), dropped: int64(st.Dropped), droppedInvalid: int64(st.DroppedInvalid)}
	seen := map[int64]bool{}
	var lastSeq uint64
	var lastN int64
	prefix := tm.id + " line "
	for _, l := range lines {
		if l.Seq <= lastSeq {
			c.outOfOrder++ // the API returned a seq twice or out of order
			r.t.Errorf("%s: seq %d read after %d", tm.id, l.Seq, lastSeq)
		}
		lastSeq = l.Seq
		n, err := strconv.ParseInt(strings.TrimPrefix(l.Msg, prefix), 10, 64)
		if err != nil || !strings.HasPrefix(l.Msg, prefix) {
			r.t.Errorf("%s: seq %d holds %q, not a line of this terminal", tm.id, l.Seq, l.Msg)
			continue
		}
		if seen[n] {
			c.duplicated++ // the same produced line stored under two seqs
			if c.duplicated <= 5 {
				r.t.Errorf("%s: line %d stored again as seq %d", tm.id, n, l.Seq)
			}
			continue
		}
		seen[n] = true
		if n < lastN {
			c.outOfOrder++
			r.t.Errorf("%s: line %d (seq %d) follows line %d", tm.id, n, l.Seq, lastN)
		}
		lastN = n
		c.stored++
	}
	missing := c.produced - c.stored
	c.lost = max(missing-c.dropped, 0)
	c.droppedDelivered = max(c.dropped-missing, 0)
	if c.lost > 0 {
		var gaps []string
		for n := int64(1); n <= c.produced && len(gaps) < 10; n++ {
			if !seen[n] {
				gaps = append(gaps, strconv.FormatInt(n, 10))
			}
		}
		r.t.Errorf("%s: %d lines missing, %d dropped by the spool: %d lost; first missing lines: %s", tm.id, missing, c.dropped, c.lost, strings.Join(gaps, " "))
	}
	return c
}

type line struct {
	Seq uint64 `json:"seq"`
	Msg string `json:"msg"`
}

// readAll reads every line of a terminal forward with the API's cursor.
func readAll(t *testing.T, s *devstack.Stack, id string) []line {
	t.Helper()
	var out []line
	next := fmt.Sprintf("%s/terminals/%s/logs/?since=0&count=1000", s.HTTPURL, id)
	for {
		var page struct {
			Entries    []line `json:"entries"`
			NextCursor string `json:"nextCursor"`
		}
		if err := getJSON(s, next, &page); err != nil {
			t.Fatalf("read logs of %s: %v\nlatest errors the functions logged:\n%s", id, err, recentErrors.last(10))
		}
		out = append(out, page.Entries...)
		if len(page.Entries) == 0 {
			return out
		}
		next = fmt.Sprintf("%s/terminals/%s/logs/?cursor=%s&count=1000", s.HTTPURL, id, url.QueryEscape(page.NextCursor))
	}
}

func getJSON(s *devstack.Stack, u string, v any) error {
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	if token := bearer(s); token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %d %s", u, resp.StatusCode, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return errors.Join(fmt.Errorf("GET %s: decode", u), err)
	}
	return nil
}

// TestChaosEmbedded streams 100,000 lines from four agents through the
// local stack on its embedded store while connections drop, the gateway
// restarts, the store throttles and fails (also after applying a write),
// and agents are killed mid-batch. One agent has the smallest spool
// (64 KB), so outages overflow it and lines are dropped and counted.
func TestChaosEmbedded(t *testing.T) {
	t.Parallel()
	chaosRun(t, plan{
		terminals: 4, linesEach: 25_000, produceFor: 30 * time.Second, chaosFor: 30 * time.Second,
		restarts: 3, smallSpoolOf: 3, storeFaults: true,
	})
}

// TestChaosDynamoDB runs the same faults on DynamoDB (dynalite) instead of
// the embedded store, with the store's faults injected on the wire: the
// AWS SDK sees ProvisionedThroughputExceededException, InternalServerError
// (also after a write was applied) and batches answered in part, and its
// retries and the store's own must keep every line.
func TestChaosDynamoDB(t *testing.T) {
	t.Parallel()
	chaosRun(t, plan{
		terminals: 4, linesEach: 25_000, produceFor: 30 * time.Second, chaosFor: 30 * time.Second,
		restarts: 3, smallSpoolOf: -1, dynamoDB: true,
	})
}
