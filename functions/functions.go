package functions

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/aws/aws-lambda-go/events"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"

	"github.com/edgesync/edgesync/dashboard"
	"github.com/edgesync/edgesync/fleet"
	"github.com/edgesync/edgesync/httpapi"
	"github.com/edgesync/edgesync/infra/apigw"
	"github.com/edgesync/edgesync/wsapi"
)

// The functions, by their logical ids in template.yaml.
const (
	// Connect is the WebSocket API's $connect function.
	Connect = "ConnectFunction"
	// Disconnect is the WebSocket API's $disconnect function.
	Disconnect = "DisconnectFunction"
	// Message is the WebSocket API's $default function.
	Message = "MessageFunction"
	// Query is the HTTP API's function.
	Query = "QueryFunction"
	// Scheduler is the function EventBridge invokes every minute.
	Scheduler = "SchedulerFunction"
)

// Clients are what a handler is built on. A deployed function gets them
// from AWSClients; the local stack passes its own store and pusher.
type Clients struct {
	Store  fleet.Store
	Pusher fleet.Pusher
	// Metrics records the function's metrics (nil: none).
	Metrics fleet.Metrics
}

// function is one registry entry: whether it pushes to terminals (and so
// needs CONNECTIONS_URL) and how its handler is built on a service (an
// error names a variable whose value the handler cannot use).
type function struct {
	pushing Pushing
	build   func(svc *fleet.Service, getenv func(string) string, c Clients) (any, error)
}

var registry = map[string]function{
	Connect: {NeverPushes, func(svc *fleet.Service, _ func(string) string, _ Clients) (any, error) {
		return wsapi.NewConnect(svc).Handle, nil
	}},
	Disconnect: {NeverPushes, func(svc *fleet.Service, _ func(string) string, _ Clients) (any, error) {
		return wsapi.NewDisconnect(svc).Handle, nil
	}},
	Message: {Pushes, func(svc *fleet.Service, _ func(string) string, _ Clients) (any, error) {
		return wsapi.NewMessage(svc).Handle, nil
	}},
	Query:     {Pushes, queryHandler},
	Scheduler: {Pushes, schedulerHandler},
}

// schedulerHandler runs the fleet's periodic work for each EventBridge
// scheduled event. An error fails the invocation (EventBridge retries it).
func schedulerHandler(svc *fleet.Service, _ func(string) string, _ Clients) (any, error) {
	return func(ctx context.Context, ev events.EventBridgeEvent) error {
		return svc.Tick(ctx, ev.Time)
	}, nil
}

// VarDashboardAPIOrigins lists the API origins, besides its own, that the
// dashboard the query function serves may send the user's token to
// (comma-separated scheme://host[:port]; empty: its own origin only). See
// dashboard.Options.APIOrigins.
const VarDashboardAPIOrigins = "DASHBOARD_API_ORIGINS"

// queryHandler is the HTTP API behind API Gateway's payload format 2.0,
// with the dashboard.
func queryHandler(svc *fleet.Service, getenv func(string) string, c Clients) (any, error) {
	origins, err := dashboard.ParseAPIOrigins(getenv(VarDashboardAPIOrigins))
	if err != nil {
		return nil, fmt.Errorf("function environment: %s: %w", VarDashboardAPIOrigins, err)
	}
	ui, err := dashboard.New(dashboard.Options{APIOrigins: origins, AgentServerURL: agentServerURL(getenv(VarConnectionsURL))})
	if err != nil {
		return nil, fmt.Errorf("function environment: %w", err)
	}
	api := httpapi.New(svc, httpapi.Options{
		AllowedOrigins: httpapi.OriginsFromEnv(getenv("CORS_ALLOW_ORIGINS")),
		Identify: apigw.Identify(fleet.ClaimsConfig{
			RoleClaim:   getenv("AUTH_ROLE_CLAIM"),
			GroupsClaim: getenv("AUTH_GROUPS_CLAIM"),
		}),
		Metrics:   c.Metrics,
		Dashboard: ui,
	})
	adapter := httpadapter.NewV2(api)
	return func(ctx context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		return adapter.ProxyWithContext(ctx, req)
	}, nil
}

// agentServerURL is the WebSocket URL terminals connect to, derived from
// the stage's management endpoint (CONNECTIONS_URL: the same host and
// stage over https), or "" without one.
func agentServerURL(connectionsURL string) string {
	u, err := url.Parse(strings.TrimSpace(connectionsURL))
	if err != nil || u.Host == "" {
		return ""
	}
	switch u.Scheme {
	case "https":
		u.Scheme = "wss"
	case "http":
		u.Scheme = "ws"
	default:
		return ""
	}
	u.RawQuery, u.Fragment = "", ""
	return u.String()
}

// Names returns the registered functions' names, sorted.
func Names() []string {
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Handler returns the Lambda handler (a value lambda.Start accepts) of the
// function name, configured from getenv as template.yaml configures it and
// built on c. An unknown name, or a missing or malformed variable, is an
// error that names every problem at once.
func Handler(name string, getenv func(string) string, c Clients) (any, error) {
	fn, ok := registry[name]
	if !ok {
		return nil, fmt.Errorf("function %q: not one of %s", name, strings.Join(Names(), ", "))
	}
	env, err := Read(getenv, fn.pushing)
	if err != nil {
		return nil, err
	}
	return build(fn, env, getenv, c)
}

func build(fn function, env Env, getenv func(string) string, c Clients) (any, error) {
	opts := []fleet.Option{}
	if c.Metrics != nil {
		opts = append(opts, fleet.WithMetrics(c.Metrics))
	}
	svc := fleet.NewService(c.Store, c.Pusher, env.Fleet, opts...)
	return fn.build(svc, getenv, c)
}

// FromEnvironment is what a function's main calls before lambda.Start: it
// reads the environment through getenv, builds the AWS clients once
// (AWSClients) and returns the function's handler. The error says what to
// fix; the main logs it and exits.
func FromEnvironment(name string, getenv func(string) string) (any, error) {
	fn, ok := registry[name]
	if !ok {
		return nil, fmt.Errorf("function %q: not one of %s", name, strings.Join(Names(), ", "))
	}
	env, err := Read(getenv, fn.pushing)
	if err != nil {
		return nil, err
	}
	c, err := AWSClients(env, getenv)
	if err != nil {
		return nil, err
	}
	return build(fn, env, getenv, c)
}
