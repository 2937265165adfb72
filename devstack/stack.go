package devstack

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/smithy-go/middleware"

	"github.com/edgesync/edgesync"
	"github.com/edgesync/edgesync/devstack/gateway"
	"github.com/edgesync/edgesync/devstack/idp"
	"github.com/edgesync/edgesync/devstack/template"
	"github.com/edgesync/edgesync/fleet"
	"github.com/edgesync/edgesync/functions"
	"github.com/edgesync/edgesync/functions/registry"
	"github.com/edgesync/edgesync/infra/apigw"
	"github.com/edgesync/edgesync/infra/dynamo"
	"github.com/edgesync/edgesync/infra/embedded"
)

// Lambda modes.
const (
	// LambdaInProcess runs the functions' handler code in this process.
	LambdaInProcess = "inprocess"
	// LambdaRIE runs each function's bootstrap binary under
	// aws-lambda-runtime-interface-emulator, one process per concurrent invocation.
	LambdaRIE = "rie"
)

// Region is the AWS region the local stack reports and signs for.
const Region = "us-east-1"

// Config configures a local stack.
type Config struct {
	// HTTPAddr serves the HTTP API (and the dashboard at /); WSAddr serves
	// the WebSocket API and, under /{stage}/@connections, its management API.
	// Port 0 picks a free port.
	HTTPAddr string
	WSAddr   string
	// DataDir holds the embedded store, demo spools and tokens, built binaries.
	DataDir string
	// DynamoDBEndpoint, when set, uses DynamoDB at that URL (dynalite,
	// LocalStack) instead of the embedded store; the table is created.
	DynamoDBEndpoint string
	// Table is the DynamoDB table (default "edgesync"). Set without an
	// endpoint it uses the real AWS DynamoDB with the standard credential
	// chain; with neither, the stack uses the embedded store.
	Table string
	// Lambda is LambdaInProcess (default) or LambdaRIE.
	Lambda string
	// RIEPath is the aws-lambda-rie executable (empty: gateway.LookRIE).
	RIEPath string
	// Demo is the number of demo terminals to run (demo-1 … demo-N).
	Demo int
	// DemoLinesPerSecond is each demo terminal's average log rate (default 2).
	DemoLinesPerSecond float64
	// DemoStatusInterval is the demo terminals' status interval (default 5 s).
	DemoStatusInterval time.Duration
	// IdleTimeout and MaxDuration are the WebSocket API's connection limits
	// (defaults: API Gateway's 10 min and 2 h).
	IdleTimeout time.Duration
	MaxDuration time.Duration
	// ScheduleEvery, when set, runs the template's scheduled functions
	// (Schedule events, EventBridge in AWS) at this interval instead of
	// their rate, e.g. every second in tests.
	ScheduleEvery time.Duration
	// Parameters override template.yaml parameters, e.g. "CommandTimeout": "5".
	Parameters map[string]string
	// FunctionConcurrency is the account's concurrency the functions run
	// in, as Lambda's (zero: gateway.DefaultFunctionConcurrency, 1,000;
	// negative: no bound): a function with ReservedConcurrentExecutions in
	// the template (DisconnectFunction: DisconnectReservedConcurrency) runs
	// at most that many invocations, the others share the rest. An
	// invocation beyond is throttled and the APIs answer it as API Gateway
	// answers a throttled integration (gateway.LimitConcurrency), so that a
	// stack under more load than it carries sheds it instead of queueing
	// it in memory.
	FunctionConcurrency int
	// Logger receives the stack's log (nil: slog.Default()).
	Logger *slog.Logger
	// WrapStore, when set, wraps the store the stack opens (embedded or
	// DynamoDB) before the functions and Admin use it; tests use it to
	// inject faults. In LambdaRIE mode the functions open their own
	// DynamoDB store, so only Admin sees the wrapper.
	WrapStore func(fleet.Store) fleet.Store
	// WrapInvoker, when set, wraps the invoker that runs the functions (in
	// process or under RIE) before the WebSocket and HTTP API emulators use
	// it; the benchmark times every invocation with it.
	WrapInvoker func(gateway.Invoker) gateway.Invoker
	// WrapPusher, when set, wraps the management-API pusher of the
	// functions run in process (LambdaInProcess only); the benchmark counts
	// what the functions send to terminals with it.
	WrapPusher func(fleet.Pusher) fleet.Pusher
	// DynamoDBAPIOptions are added to the APIOptions of the DynamoDB client
	// the stack opens (the functions' client in LambdaInProcess mode, and
	// Admin's); the benchmark adds a middleware that asks for and sums
	// ConsumedCapacity.
	DynamoDBAPIOptions []func(*middleware.Stack) error
}

// Stack is a running local stack.
type Stack struct {
	// HTTPURL is the HTTP API's base URL; WSURL the WebSocket URL terminals
	// connect to; ConnectionsURL the management API endpoint (CONNECTIONS_URL).
	HTTPURL        string
	WSURL          string
	ConnectionsURL string
	// MetricsURL serves the figures the functions emit as CloudWatch
	// metrics in AWS (JSON).
	MetricsURL string
	// AlertsURL serves the stored alerts and the latest the scheduler
	// delivered (to SNS in AWS; to the stack's log and this endpoint here).
	AlertsURL string
	// Terminals are the demo terminals and their tokens.
	Terminals []DemoTerminal
	// Users are bearer tokens (JWTs of the local issuer) by role: "admin",
	// "operator" and "viewer"; the latter two see the "demo" group.
	Users map[string]string

	cfg     Config
	log     *slog.Logger
	store   fleet.Store
	admin   *fleet.Service
	ws      *gateway.WebSocketAPI
	rie     *gateway.RIEInvoker
	servers []*http.Server
	closers []func() error
	demo    *demo
	issuer  *idp.Issuer
	metrics *metrics
	alerts  *alertSink
	stop    context.CancelFunc
	quit    chan struct{} // closed by Close
	once    sync.Once
	wg      sync.WaitGroup
}

// DemoTerminal is a demo terminal's id and token.
type DemoTerminal struct {
	ID    string `json:"id"`
	Token string `json:"token"`
}

// Ready is what a stack reports once it serves: cmd/edgesync-local writes it
// to --ready-file for tests and scripts.
type Ready struct {
	HTTPURL        string            `json:"httpURL"`
	WSURL          string            `json:"wsURL"`
	ConnectionsURL string            `json:"connectionsURL"`
	Terminals      []DemoTerminal    `json:"terminals"`
	Users          map[string]string `json:"users"`
	MetricsURL     string            `json:"metricsURL"`
	AlertsURL      string            `json:"alertsURL"`
}

// Ready returns the stack's addresses, demo terminals and user tokens.
func (s *Stack) Ready() Ready {
	return Ready{HTTPURL: s.HTTPURL, WSURL: s.WSURL, ConnectionsURL: s.ConnectionsURL, Terminals: s.Terminals, Users: s.Users, MetricsURL: s.MetricsURL, AlertsURL: s.AlertsURL}
}

// Issuer returns the local identity provider, to mint more user tokens.
func (s *Stack) Issuer() *idp.Issuer { return s.issuer }

// Local identity provider: what the HTTP API's JWT authorizer accepts here.
const (
	LocalIssuer   = "https://edgesync.local/issuer"
	LocalAudience = "edgesync-local"
)

// OpenIssuer returns the local identity provider of a data directory (its
// signing key lives there), for tools that mint tokens for a running stack.
func OpenIssuer(dataDir string) (*idp.Issuer, error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, err
	}
	return idp.LoadOrCreate(filepath.Join(dataDir, "jwt-signing-key.pem"), LocalIssuer, LocalAudience)
}

// Stats returns the WebSocket API's counters (messages, 32 KB units,
// connection minutes, invocations).
func (s *Stack) Stats() gateway.Stats { return s.ws.Stats() }

// Admin returns a service over the stack's store, for creating terminals.
func (s *Stack) Admin() *fleet.Service { return s.admin }

// Start brings a stack up. Close it with Close.
func Start(ctx context.Context, cfg Config) (s *Stack, err error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Lambda == "" {
		cfg.Lambda = LambdaInProcess
	}
	embeddedStore := cfg.DynamoDBEndpoint == "" && cfg.Table == ""
	if cfg.Table == "" {
		cfg.Table = "edgesync"
	}
	if cfg.DataDir == "" {
		cfg.DataDir = ".edgesync"
	}
	if cfg.Lambda != LambdaInProcess && cfg.Lambda != LambdaRIE {
		return nil, fmt.Errorf("lambda mode %q: want %s or %s", cfg.Lambda, LambdaInProcess, LambdaRIE)
	}
	if cfg.Lambda == LambdaRIE && cfg.DynamoDBEndpoint == "" {
		return nil, errors.New("--lambda rie needs --dynamodb-endpoint: the functions run as separate processes and the embedded store belongs to one process")
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	tpl, err := template.Parse(edgesync.Template)
	if err != nil {
		return nil, fmt.Errorf("read template.yaml: %w", err)
	}
	if err := checkParameters(tpl, cfg.Parameters); err != nil {
		return nil, err
	}
	runCtx, stop := context.WithCancel(context.Background())
	st := &Stack{cfg: cfg, log: cfg.Logger, stop: stop, quit: make(chan struct{}), metrics: newMetrics(), alerts: &alertSink{log: cfg.Logger}}
	defer func() {
		// st, not the named result: a failing return has set s to nil.
		if err != nil {
			st.Close(context.Background())
		}
	}()
	s = st

	wsLn, err := listen(cfg.WSAddr, "--ws-addr")
	if err != nil {
		return nil, err
	}
	s.closers = append(s.closers, func() error { wsLn.Close(); return nil })
	httpLn, err := listen(cfg.HTTPAddr, "--http-addr")
	if err != nil {
		return nil, err
	}
	s.closers = append(s.closers, func() error { httpLn.Close(); return nil })

	stage := paramValue(tpl, cfg.Parameters, "StageName", "prod")
	s.WSURL = "ws://" + wsLn.Addr().String() + "/" + stage
	s.ConnectionsURL = "http://" + wsLn.Addr().String() + "/" + stage
	s.HTTPURL = "http://" + httpLn.Addr().String()

	if s.store, err = s.openStore(ctx, embeddedStore); err != nil {
		return nil, err
	}
	if cfg.WrapStore != nil {
		s.store = cfg.WrapStore(s.store)
	}
	s.admin = fleet.NewService(s.store, offline{}, fleet.DefaultConfig())
	if s.issuer, err = OpenIssuer(cfg.DataDir); err != nil {
		return nil, fmt.Errorf("local identity provider: %w", err)
	}
	s.Users = map[string]string{}
	for _, u := range []struct{ role, subject string }{{"admin", "local-admin"}, {"operator", "local-operator"}, {"viewer", "local-viewer"}} {
		groups := []string{u.role}
		if u.role != "admin" {
			groups = append(groups, "demo")
		}
		if s.Users[u.role], err = s.issuer.Mint(u.subject, groups, 24*time.Hour); err != nil {
			return nil, fmt.Errorf("mint %s token: %w", u.role, err)
		}
	}
	envs, err := s.functionEnvironments(tpl)
	if err != nil {
		return nil, err
	}
	invoker, err := s.invoker(ctx, tpl, envs)
	if err != nil {
		return nil, err
	}
	if cfg.WrapInvoker != nil {
		invoker = cfg.WrapInvoker(invoker)
	}
	// Outermost, as Lambda throttles before anything runs.
	account := cfg.FunctionConcurrency
	if account == 0 {
		account = gateway.DefaultFunctionConcurrency
	}
	reserved, err := s.reservedConcurrency(tpl)
	if err != nil {
		return nil, err
	}
	if invoker, err = gateway.LimitConcurrency(invoker, account, reserved); err != nil {
		return nil, fmt.Errorf("function concurrency: %w", err)
	}

	routes, err := tpl.WebSocketRoutes()
	if err != nil {
		return nil, fmt.Errorf("template routes: %w", err)
	}
	wsRoutes := map[string]string{}
	for _, r := range routes {
		wsRoutes[r.Key] = r.Function
	}
	rse, err := tpl.RouteSelectionExpression()
	if err != nil {
		return nil, fmt.Errorf("template route selection: %w", err)
	}
	s.ws = gateway.NewWebSocketAPI(gateway.WebSocketConfig{
		Routes: wsRoutes, RouteSelectionExpression: rse, Invoker: invoker, Stage: stage,
		IdleTimeout: cfg.IdleTimeout, MaxDuration: cfg.MaxDuration, Logger: cfg.Logger,
	})
	httpRoutes, err := tpl.HTTPRoutes()
	if err != nil {
		return nil, fmt.Errorf("template HTTP routes: %w", err)
	}
	var hr []gateway.HTTPRoute
	authorizers := map[string]gateway.JWTAuthorizer{}
	for _, r := range httpRoutes {
		hr = append(hr, gateway.HTTPRoute{Method: r.Method, Path: r.Path, Function: r.Function, Authorizer: r.Authorizer})
		if r.Authorizer != "" {
			authorizers[r.Authorizer] = s.issuer.Authorize
		}
	}
	var cors *gateway.CORS
	if c, err := tpl.HTTPAPICORS("HttpApi", cfg.Parameters); err != nil {
		return nil, fmt.Errorf("template HTTP API CORS: %w", err)
	} else if c != nil {
		cors = &gateway.CORS{AllowOrigins: c.AllowOrigins, AllowMethods: c.AllowMethods, AllowHeaders: c.AllowHeaders,
			ExposeHeaders: c.ExposeHeaders, MaxAge: c.MaxAge, AllowCredentials: c.AllowCredentials}
	}
	httpAPI := gateway.NewHTTPAPI(gateway.HTTPConfig{Routes: hr, Invoker: invoker, Authorizers: authorizers, CORS: cors, Logger: cfg.Logger})

	s.MetricsURL = "http://" + wsLn.Addr().String() + "/metrics"
	wsMux := http.NewServeMux()
	wsMux.HandleFunc("GET /metrics", s.serveMetrics)
	s.AlertsURL = "http://" + wsLn.Addr().String() + "/alerts"
	wsMux.HandleFunc("GET /alerts", s.serveAlerts)
	wsMux.HandleFunc("POST /demo/{id}/stop", s.serveStopDemo)
	wsMux.Handle("/"+stage+"/@connections/", s.ws.ManagementHandler())
	wsMux.Handle("/", s.ws.ClientHandler())
	s.serve(wsLn, wsMux)
	s.serve(httpLn, httpAPI)
	if err := s.runSchedules(tpl, invoker); err != nil {
		return nil, err
	}

	if cfg.Demo > 0 {
		if s.demo, err = startDemo(runCtx, s); err != nil {
			return nil, err
		}
		s.Terminals = s.demo.terminals
	}
	return s, nil
}

// runSchedules invokes each of the template's scheduled functions at its
// rate (or Config.ScheduleEvery) with an EventBridge scheduled event, as
// EventBridge does in AWS, until the stack closes.
func (s *Stack) runSchedules(tpl *template.Template, invoker gateway.Invoker) error {
	schedules, err := tpl.Schedules()
	if err != nil {
		return fmt.Errorf("template schedules: %w", err)
	}
	for _, sch := range schedules {
		every := sch.Every
		if s.cfg.ScheduleEvery > 0 {
			every = s.cfg.ScheduleEvery
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			t := time.NewTicker(every)
			defer t.Stop()
			for {
				select {
				case <-s.quit:
					return
				case at := <-t.C:
					ev := events.EventBridgeEvent{
						Version: "0", ID: newEventID(), DetailType: "Scheduled Event", Source: "aws.events",
						AccountID: "000000000000", Time: at.UTC().Truncate(time.Second), Region: Region,
						Resources: []string{"arn:aws:events:" + Region + ":000000000000:rule/edgesync-local-" + sch.Function + "-" + sch.Event},
						Detail:    json.RawMessage("{}"),
					}
					payload, _ := json.Marshal(ev)
					ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
					if _, err := invoker.Invoke(ctx, sch.Function, payload); err != nil {
						s.log.Error("scheduled invocation failed", "function", sch.Function, "schedule", sch.Expression, "error", err)
					}
					cancel()
				}
			}
		}()
	}
	return nil
}

// newEventID returns a random EventBridge event id (a UUID).
func newEventID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// listen listens on addr; an address in use is one line that names the
// flag to change.
func listen(addr, flag string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		return nil, fmt.Errorf("%s is in use (another local stack, or another program, listens there): stop it or pass %s with another address, e.g. %s 127.0.0.1:0 for any free port", addr, flag, flag)
	case err != nil:
		return nil, fmt.Errorf("listen on %s (%s): %w", addr, flag, err)
	}
	return ln, nil
}

// checkParameters refuses overrides CloudFormation would refuse: an unknown
// parameter, a Number that is not a number, a value outside AllowedValues.
func checkParameters(tpl *template.Template, overrides map[string]string) error {
	names := make([]string, 0, len(overrides))
	for k := range overrides {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, name := range names {
		v := overrides[name]
		p, ok := tpl.Parameters[name]
		if !ok {
			known := make([]string, 0, len(tpl.Parameters))
			for k := range tpl.Parameters {
				known = append(known, k)
			}
			sort.Strings(known)
			return fmt.Errorf("--param %s: template.yaml has no parameter %s (it has %s)", name, name, strings.Join(known, ", "))
		}
		if p.Type == "Number" {
			if _, err := strconv.ParseFloat(v, 64); err != nil {
				return fmt.Errorf("--param %s=%s: %s is a Number parameter; give a number, e.g. --param %s=%s", name, v, name, name, orDefault(p.Default, "10"))
			}
		}
		if len(p.AllowedValues) > 0 && !slices.Contains(p.AllowedValues, v) {
			return fmt.Errorf("--param %s=%s: allowed values are %s", name, v, strings.Join(p.AllowedValues, ", "))
		}
	}
	return nil
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// offline is the pusher of the admin service, which never pushes.
type offline struct{}

func (offline) Push(context.Context, string, []byte) error { return fleet.ErrOffline }

func (s *Stack) serve(ln net.Listener, h http.Handler) {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	s.servers = append(s.servers, srv)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("server stopped", "addr", ln.Addr().String(), "error", err)
		}
	}()
}

func (s *Stack) openStore(ctx context.Context, embeddedStore bool) (fleet.Store, error) {
	if embeddedStore {
		path := filepath.Join(s.cfg.DataDir, "edgesync.db")
		st, err := embedded.Open(path)
		if errors.Is(err, embedded.ErrLocked) {
			return nil, fmt.Errorf("data directory %s is in use by another local stack (its store %s is locked): stop that stack or pass --data with another directory", s.cfg.DataDir, path)
		}
		if err != nil {
			return nil, fmt.Errorf("open embedded store %s: %w", path, err)
		}
		s.closers = append(s.closers, st.Close)
		s.wg.Add(1)
		go func() { // DynamoDB's TTL deletion, for the embedded store
			defer s.wg.Done()
			t := time.NewTicker(time.Minute)
			defer t.Stop()
			for {
				select {
				case <-t.C:
					if n, err := st.Sweep(time.Now()); err != nil {
						s.log.Error("sweep expired items", "error", err)
					} else if n > 0 {
						s.log.Debug("swept expired items", "count", n)
					}
				case <-s.quit:
					return
				}
			}
		}()
		return st, nil
	}
	client, err := s.dynamoClient(ctx)
	if err != nil {
		return nil, err
	}
	if s.cfg.DynamoDBEndpoint != "" {
		if err := dynamo.CreateTable(ctx, client, s.cfg.Table); err != nil {
			return nil, fmt.Errorf("create table %s at %s: %w", s.cfg.Table, s.cfg.DynamoDBEndpoint, err)
		}
	}
	return dynamo.New(client, s.cfg.Table), nil
}

func (s *Stack) dynamoClient(ctx context.Context) (*dynamodb.Client, error) {
	opts := dynamodb.Options{Region: Region, APIOptions: slices.Clone(s.cfg.DynamoDBAPIOptions), Retryer: dynamo.Retryer()}
	if s.cfg.DynamoDBEndpoint != "" {
		opts.BaseEndpoint = aws.String(s.cfg.DynamoDBEndpoint)
		opts.Credentials = credentials.NewStaticCredentialsProvider("local", "local", "")
		return dynamodb.New(opts), nil
	}
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("load AWS config: %w", err)
	}
	return dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) {
		o.APIOptions = append(o.APIOptions, s.cfg.DynamoDBAPIOptions...)
		o.Retryer = dynamo.Retryer()
	}), nil
}

// reservedConcurrency reads each function's ReservedConcurrentExecutions
// from the template, as CloudFormation would resolve it.
func (s *Stack) reservedConcurrency(tpl *template.Template) (map[string]int, error) {
	fns, err := tpl.Functions()
	if err != nil {
		return nil, fmt.Errorf("template functions: %w", err)
	}
	out := map[string]int{}
	for _, fn := range fns {
		n, ok, err := tpl.ReservedConcurrency(fn.LogicalID, s.templateRefs())
		if err != nil {
			return nil, err
		}
		if ok {
			out[fn.LogicalID] = n
		}
	}
	return out, nil
}

// functionEnvironments resolves each function's environment from the
// template, as CloudFormation would, then points it at the local endpoints.
func (s *Stack) functionEnvironments(tpl *template.Template) (map[string]map[string]string, error) {
	fns, err := tpl.Functions()
	if err != nil {
		return nil, fmt.Errorf("template functions: %w", err)
	}
	refs := s.templateRefs()
	out := map[string]map[string]string{}
	for _, fn := range fns {
		env, err := tpl.FunctionEnvironment(fn.LogicalID, refs)
		if err != nil {
			return nil, fmt.Errorf("environment of %s: %w", fn.LogicalID, err)
		}
		env["CONNECTIONS_URL"] = s.ConnectionsURL
		out[fn.LogicalID] = env
	}
	return out, nil
}

// templateRefs are the values the template's references resolve to in
// the local stack: the local issuer and endpoints, and the parameters
// given (over the template's defaults).
func (s *Stack) templateRefs() map[string]string {
	refs := map[string]string{
		"AuthIssuer":     LocalIssuer,
		"AuthAudience":   LocalAudience,
		"AWS::Region":    Region,
		"AWS::AccountId": "000000000000",
		"AWS::StackName": "edgesync-local",
		"Table":          s.cfg.Table,
		"WebSocketApi":   "local",
		"HttpApi":        "local",
	}
	for k, v := range s.cfg.Parameters {
		refs[k] = v
	}
	return refs
}

// invoker runs the functions: their handlers in process, or their
// bootstraps under RIE.
func (s *Stack) invoker(ctx context.Context, tpl *template.Template, envs map[string]map[string]string) (gateway.Invoker, error) {
	if s.cfg.Lambda == LambdaRIE {
		return s.rieInvoker(ctx, tpl, envs)
	}
	// The production wiring (package functions) builds each handler, on the
	// stack's store and a management-API pusher that reaches the emulator.
	handlers := map[string]any{}
	for name, env := range envs {
		var pusher fleet.Pusher = apigw.New(managementClient(s.ConnectionsURL))
		if s.cfg.WrapPusher != nil {
			pusher = s.cfg.WrapPusher(pusher)
		}
		getenv := func(k string) string { return env[k] }
		fn, err := registry.Lookup(name)
		if err != nil {
			return nil, fmt.Errorf("template function %s: %w", name, err)
		}
		h, err := functions.Handler(fn, getenv, functions.Clients{Store: s.store, Pusher: pusher, Metrics: s.metrics, Alerts: s.alerts})
		if err != nil {
			return nil, fmt.Errorf("template function %s: %w", name, err)
		}
		handlers[name] = h
	}
	return gateway.HandlerFuncInvoker(handlers), nil
}

// managementClient is the SDK client the functions use to reach the
// emulator's @connections API, signed like the real one.
func managementClient(endpoint string) *apigatewaymanagementapi.Client {
	return apigatewaymanagementapi.New(apigatewaymanagementapi.Options{
		Region:       Region,
		BaseEndpoint: aws.String(endpoint),
		Credentials:  credentials.NewStaticCredentialsProvider("local", "local", ""),
	})
}

func (s *Stack) rieInvoker(ctx context.Context, tpl *template.Template, envs map[string]map[string]string) (gateway.Invoker, error) {
	root, err := moduleRoot()
	if err != nil {
		return nil, fmt.Errorf("--lambda rie builds the functions from source: %w", err)
	}
	fns := map[string]gateway.RIEFunction{}
	names := make([]string, 0, len(envs))
	for name := range envs {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		fn, err := tpl.Function(name)
		if err != nil {
			return nil, err
		}
		bin := filepath.Join(s.cfg.DataDir, "bin", name, "bootstrap")
		build := exec.CommandContext(ctx, "go", "build", "-tags", "lambda.norpc", "-ldflags", "-s", "-o", bin, "./"+strings.TrimSuffix(fn.CodeURI, "/"))
		build.Dir = root
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("build %s: %v\n%s", name, err, out)
		}
		env := map[string]string{}
		for k, v := range envs[name] {
			env[k] = v
		}
		env["AWS_ENDPOINT_URL_DYNAMODB"] = s.cfg.DynamoDBEndpoint
		env["AWS_REGION"] = Region
		env["AWS_ACCESS_KEY_ID"] = "local"
		env["AWS_SECRET_ACCESS_KEY"] = "local"
		timeout := 10 * time.Second
		if n, err := strconv.Atoi(paramValue(tpl, s.cfg.Parameters, "FunctionTimeout", "10")); err == nil && n > 0 {
			timeout = time.Duration(n) * time.Second
		}
		fns[name] = gateway.RIEFunction{Bootstrap: bin, Env: env, Timeout: timeout}
	}
	inv, err := gateway.NewRIEInvoker(gateway.RIEConfig{Path: s.cfg.RIEPath, Functions: fns, Logger: s.log})
	if err != nil {
		return nil, err
	}
	s.rie = inv
	s.closers = append(s.closers, inv.Close)
	return inv, nil
}

// ColdStarts reports the init durations measured in --lambda rie mode.
func (s *Stack) ColdStarts() []gateway.ColdStart {
	if s.rie == nil {
		return nil
	}
	return s.rie.ColdStarts()
}

func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if data, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && strings.Contains(string(data), "module github.com/edgesync/edgesync\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("run it inside the edgesync source tree")
		}
		dir = parent
	}
}

func paramValue(tpl *template.Template, overrides map[string]string, name, def string) string {
	if v, ok := overrides[name]; ok {
		return v
	}
	if p, ok := tpl.Parameters[name]; ok && p.Default != "" {
		return p.Default
	}
	return def
}

// Close stops the demo terminals, the servers and the functions, and
// closes the store. It is safe to call more than once.
func (s *Stack) Close(ctx context.Context) error {
	if s.demo != nil {
		s.demo.stop(ctx)
		s.demo = nil
	}
	if s.ws != nil {
		_ = s.ws.Shutdown(ctx)
	}
	for _, srv := range s.servers {
		_ = srv.Shutdown(ctx)
	}
	s.servers = nil
	s.stop()
	s.once.Do(func() { close(s.quit) })
	s.wg.Wait()
	var errs []error
	for i := len(s.closers) - 1; i >= 0; i-- {
		if err := s.closers[i](); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	s.closers = nil
	return errors.Join(errs...)
}

// WriteReady writes r as JSON to path, atomically.
func WriteReady(path string, r Ready) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp-" + strconv.Itoa(os.Getpid())
	if err := os.WriteFile(tmp, append(data, '\n'), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
