package functions

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/edgesync/edgesync/fleet"
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

// Function is one of the stack's Lambda functions: its logical id in
// template.yaml, whether it pushes to terminals (and so needs
// CONNECTIONS_URL), whether it delivers alerts, and how its handler is built
// on a service. Each function's value lives in a package of its own
// (wsfunctions, queryfunction, schedulerfunction) so that a function's
// binary links only its own edge; package registry lists them all for the
// local stack and the tests.
type Function struct {
	Name    string
	Pushing Pushing
	// Delivers says the function delivers alerts (Clients.Alerts).
	Delivers bool
	// Build returns the handler (a value lambda.Start accepts) on svc; an
	// error names a variable whose value the handler cannot use.
	Build func(svc *fleet.Service, getenv func(string) string, c Clients) (any, error)
}

// Handler returns the Lambda handler (a value lambda.Start accepts) of fn,
// configured from getenv as template.yaml configures it and built on c. A
// missing or malformed variable is an error that names every problem at
// once.
func Handler(fn Function, getenv func(string) string, c Clients) (any, error) {
	env, err := Read(getenv, fn.Pushing)
	if err != nil {
		return nil, err
	}
	return build(fn, env, getenv, c)
}

func build(fn Function, env Env, getenv func(string) string, c Clients) (any, error) {
	opts := []fleet.Option{}
	if c.Metrics != nil {
		opts = append(opts, fleet.WithMetrics(c.Metrics))
	}
	if c.Alerts != nil && fn.Delivers {
		opts = append(opts, fleet.WithAlertPublisher(c.Alerts))
	}
	svc := fleet.NewService(c.Store, c.Pusher, env.Fleet, opts...)
	return fn.Build(svc, getenv, c)
}

// FromEnvironment is what a function's main calls before lambda.Start: it
// reads the environment through getenv, builds the AWS clients once
// (AWSClients) and returns the function's handler. The error says what to
// fix; the main logs it and exits. opts add clients only some functions
// link (WithAlertTopic).
func FromEnvironment(fn Function, getenv func(string) string, opts ...Option) (any, error) {
	env, err := Read(getenv, fn.Pushing)
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
	if o.newPublisher != nil && fn.Delivers {
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
