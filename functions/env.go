package functions

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/edgesync/edgesync/fleet"
	"github.com/edgesync/edgesync/infra/apigw"
	"github.com/edgesync/edgesync/infra/dynamo"
	"github.com/edgesync/edgesync/infra/emf"
)

// Environment variable names set by template.yaml.
const (
	// VarTableName names the DynamoDB table (required).
	VarTableName = "TABLE_NAME"
	// VarConnectionsURL is the management endpoint of the WebSocket stage,
	// https://{api-id}.execute-api.{region}.amazonaws.com/{stage} (required by
	// functions that push to terminals).
	VarConnectionsURL = "CONNECTIONS_URL"
)

// Pushing says whether a function pushes messages to terminals, and so
// whether it needs CONNECTIONS_URL.
type Pushing bool

// The two kinds of function.
const (
	// NeverPushes: $connect and $disconnect. API Gateway does not let
	// $connect post to the connection it is accepting; $disconnect has no one
	// left to post to. CONNECTIONS_URL is optional.
	NeverPushes Pushing = false
	// Pushes: $default and the query function send commands to terminals.
	// CONNECTIONS_URL is required.
	Pushes Pushing = true
)

// Env is a function's configuration as read from its environment.
type Env struct {
	TableName string
	// ConnectionsURL is empty only for a function that never pushes and was
	// given none.
	ConnectionsURL string
	Fleet          fleet.Config
}

// Read reads the environment through getenv. It reports every missing or
// malformed variable at once, so a misconfigured function fails at start-up
// with one message saying what to fix.
func Read(getenv func(string) string, pushing Pushing) (Env, error) {
	var errs []error
	env := Env{
		TableName:      strings.TrimSpace(getenv(VarTableName)),
		ConnectionsURL: strings.TrimSpace(getenv(VarConnectionsURL)),
	}
	if env.TableName == "" {
		errs = append(errs, fmt.Errorf("%s is not set: it names the DynamoDB table", VarTableName))
	}
	switch {
	case env.ConnectionsURL == "" && pushing == Pushes:
		errs = append(errs, fmt.Errorf("%s is not set: it is the WebSocket stage's management endpoint, https://{api-id}.execute-api.{region}.amazonaws.com/{stage}", VarConnectionsURL))
	case env.ConnectionsURL != "":
		if err := checkURL(env.ConnectionsURL); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", VarConnectionsURL, err))
		}
	}
	cfg, err := fleet.LoadConfig(getenv)
	if err != nil {
		errs = append(errs, err)
	}
	env.Fleet = cfg
	if len(errs) > 0 {
		return Env{}, fmt.Errorf("function environment: %w", errors.Join(errs...))
	}
	return env, nil
}

func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("%q is not a URL: %w", s, err)
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("%q is not an http(s) URL with a host", s)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%q has a query or fragment; want just the stage endpoint", s)
	}
	return nil
}

// AWSClients builds the clients a deployed function runs on, once, from
// its environment: the DynamoDB store on env.TableName and the
// management-API pusher at env.ConnectionsURL (from the AWS configuration
// read by AWSConfig, modified by optFns), and EMF metrics on standard
// output (see Metrics).
func AWSClients(env Env, getenv func(string) string, optFns ...func(*aws.Config)) (Clients, error) {
	awsCfg, err := AWSConfig(getenv)
	for _, fn := range optFns {
		fn(&awsCfg)
	}
	if err != nil && (awsCfg.Region == "" || awsCfg.Credentials == nil) {
		return Clients{}, fmt.Errorf("load AWS configuration: %w", err)
	}
	dynamoEndpoint := awsCfg.BaseEndpoint
	if v := strings.TrimSpace(getenv("AWS_ENDPOINT_URL_DYNAMODB")); v != "" {
		dynamoEndpoint = aws.String(v)
	}
	store := dynamo.New(dynamodb.NewFromConfig(awsCfg, func(o *dynamodb.Options) {
		o.BaseEndpoint = dynamoEndpoint
		o.Retryer = dynamo.Retryer()
	}), env.TableName)
	var pusher fleet.Pusher = noConnectionsURL{}
	if env.ConnectionsURL != "" {
		pusher = apigw.New(apigatewaymanagementapi.NewFromConfig(awsCfg, func(o *apigatewaymanagementapi.Options) {
			o.BaseEndpoint = aws.String(env.ConnectionsURL)
		}))
	}
	return Clients{Store: store, Pusher: pusher, Metrics: Metrics(getenv)}, nil
}

// AWSConfig is the AWS configuration of a function, read with getenv from
// the variables Lambda sets: the region (AWS_REGION, or AWS_DEFAULT_REGION)
// and the execution role's credentials (AWS_ACCESS_KEY_ID,
// AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN), plus AWS_ENDPOINT_URL for a
// local endpoint (AWSClients also honours AWS_ENDPOINT_URL_DYNAMODB). In a
// Lambda function that is what the SDK's default configuration
// (config.LoadDefaultConfig) resolves too; reading it directly keeps that
// package's shared-config, SSO, STS and instance-metadata providers (about
// 1.5 MB) out of the binaries. The error names what is missing; the
// returned configuration holds what was found.
func AWSConfig(getenv func(string) string) (aws.Config, error) {
	get := func(k string) string { return strings.TrimSpace(getenv(k)) }
	cfg := aws.Config{Region: get("AWS_REGION")}
	if cfg.Region == "" {
		cfg.Region = get("AWS_DEFAULT_REGION")
	}
	if v := get("AWS_ENDPOINT_URL"); v != "" {
		cfg.BaseEndpoint = aws.String(v)
	}
	var missing []string
	if cfg.Region == "" {
		missing = append(missing, "AWS_REGION")
	}
	id, secret := get("AWS_ACCESS_KEY_ID"), get("AWS_SECRET_ACCESS_KEY")
	if id != "" && secret != "" {
		cfg.Credentials = aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider(id, secret, get("AWS_SESSION_TOKEN")))
	} else {
		missing = append(missing, "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
	}
	if len(missing) > 0 {
		return cfg, fmt.Errorf("%s not set (Lambda sets them for the function's execution role)", strings.Join(missing, ", "))
	}
	return cfg, nil
}

// Metrics returns the function's metrics recorder: CloudWatch Embedded
// Metric Format lines on standard output, in namespace METRICS_NAMESPACE
// (default "edgesync") with the dimension Stack = STACK_NAME.
func Metrics(getenv func(string) string) fleet.Metrics {
	ns := getenv("METRICS_NAMESPACE")
	if ns == "" {
		ns = "edgesync"
	}
	stack := getenv("STACK_NAME")
	if stack == "" {
		stack = "edgesync"
	}
	return emf.New(os.Stdout, ns, map[string]string{"Stack": stack}, getenv("LOG_LEVEL"))
}

// noConnectionsURL is the pusher of a function that was given no
// CONNECTIONS_URL; it refuses every push with an error saying so.
type noConnectionsURL struct{}

func (noConnectionsURL) Push(_ context.Context, connID string, _ []byte) error {
	return fmt.Errorf("push to connection %s: this function has no %s", connID, VarConnectionsURL)
}
