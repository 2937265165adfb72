package functions

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
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
	// Alerts receives the alert state changes the scheduler function
	// delivers (nil: none; the other functions never deliver).
	Alerts fleet.AlertPublisher
}

// function is one registry entry: whether it pushes to terminals (and so
// needs CONNECTIONS_URL) and how its handler is built on a service (an
// error names a variable whose value the handler cannot use).
type function struct {
	pushing Pushing
	build   func(svc *fleet.Service, getenv func(string) string, c Clients) (any, error)
	// delivers: the function delivers alerts (Clients.Alerts).
	delivers bool
}

var registry = map[string]function{
	Connect: {NeverPushes, func(svc *fleet.Service, _ func(string) string, _ Clients) (any, error) {
		return wsapi.NewConnect(svc).Handle, nil
	}, false},
	Disconnect: {NeverPushes, func(svc *fleet.Service, _ func(string) string, _ Clients) (any, error) {
		return wsapi.NewDisconnect(svc).Handle, nil
	}, false},
	Message: {Pushes, func(svc *fleet.Service, _ func(string) string, _ Clients) (any, error) {
		return wsapi.NewMessage(svc).Handle, nil
	}, false},
	Query:     {Pushes, queryHandler, false},
	Scheduler: {Pushes, schedulerHandler, true},
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
	if c.Alerts != nil && fn.delivers {
		opts = append(opts, fleet.WithAlertPublisher(c.Alerts))
	}
	svc := fleet.NewService(c.Store, c.Pusher, env.Fleet, opts...)
	return fn.build(svc, getenv, c)
}

// FromEnvironment is what a function's main calls before lambda.Start: it
// reads the environment through getenv, builds the AWS clients once
// (AWSClients) and returns the function's handler. The error says what to
// fix; the main logs it and exits. opts add clients only some functions
// link (WithAlertTopic).
func FromEnvironment(name string, getenv func(string) string, opts ...Option) (any, error) {
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
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if o.newPublisher != nil && fn.delivers {
		arn := strings.TrimSpace(getenv(VarAlertTopicARN))
		if arn != "" {
			if !alertTopicARN.MatchString(arn) {
				return nil, fmt.Errorf("function environment: %s: %q is not an SNS topic ARN (arn:aws:sns:<region>:<account>:<name>)", VarAlertTopicARN, arn)
			}
			cfg, _ := AWSConfig(getenv) // AWSClients checked it
			c.Alerts = o.newPublisher(cfg, arn)
		}
	}
	return build(fn, env, getenv, c)
}

// VarAlertTopicARN names the SNS topic the scheduler function delivers
// alert state changes to (template parameter AlertTopicArn); empty: none,
// alerts are only stored and shown.
const VarAlertTopicARN = "ALERT_TOPIC_ARN"

var alertTopicARN = regexp.MustCompile(`^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,256}$`)

// Option adds to what FromEnvironment builds.
type Option func(*options)

type options struct {
	newPublisher func(cfg aws.Config, topicARN string) fleet.AlertPublisher
}

// WithAlertTopic makes FromEnvironment deliver alerts, in a function that
// delivers them (the scheduler), to the SNS topic ALERT_TOPIC_ARN names,
// through the publisher newPublisher builds on the function's AWS
// configuration (snsalert.FromConfig). It is an option so that only the
// scheduler's binary links the SNS client.
func WithAlertTopic(newPublisher func(cfg aws.Config, topicARN string) fleet.AlertPublisher) Option {
	return func(o *options) { o.newPublisher = newPublisher }
}
