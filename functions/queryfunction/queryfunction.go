// Package queryfunction holds the HTTP API's function, with the dashboard
// it serves, as a functions.Function value: its main passes it to
// functions.FromEnvironment, the local stack finds it in package registry.
package queryfunction

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/aws/aws-lambda-go/events"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"

	"github.com/edgesync/edgesync/dashboard"
	"github.com/edgesync/edgesync/fleet"
	"github.com/edgesync/edgesync/functions"
	"github.com/edgesync/edgesync/httpapi"
	"github.com/edgesync/edgesync/infra/apigw"
)

// VarDashboardAPIOrigins lists the API origins, besides its own, that the
// dashboard the query function serves may send the user's token to
// (comma-separated scheme://host[:port]; empty: its own origin only). See
// dashboard.Options.APIOrigins.
const VarDashboardAPIOrigins = "DASHBOARD_API_ORIGINS"

// Query is the HTTP API's function behind API Gateway's payload format
// 2.0, with the dashboard. Its environment: CORS_ALLOW_ORIGINS,
// AUTH_ROLE_CLAIM, AUTH_GROUPS_CLAIM, DASHBOARD_API_ORIGINS.
var Query = functions.Function{Name: functions.Query, Pushing: functions.Pushes, Build: build}

func build(svc *fleet.Service, getenv func(string) string, c functions.Clients) (any, error) {
	origins, err := dashboard.ParseAPIOrigins(getenv(VarDashboardAPIOrigins))
	if err != nil {
		return nil, fmt.Errorf("function environment: %s: %w", VarDashboardAPIOrigins, err)
	}
	ui, err := dashboard.New(dashboard.Options{APIOrigins: origins, AgentServerURL: agentServerURL(getenv(functions.VarConnectionsURL))})
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
