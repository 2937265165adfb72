package functions_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/edgesync/edgesync"
	"github.com/edgesync/edgesync/devstack/template"
	"github.com/edgesync/edgesync/functions"
	"github.com/edgesync/edgesync/functions/queryfunction"
	"github.com/edgesync/edgesync/functions/registry"
	"github.com/edgesync/edgesync/infra/embedded"
)

// TestRegistryMatchesTemplate: every function template.yaml declares has a
// registry entry and no entry is missing from the template, so the mains,
// the local stack and the template agree on one list.
func TestRegistryMatchesTemplate(t *testing.T) {
	t.Parallel()
	tpl, err := template.Parse(edgesync.Template)
	if err != nil {
		t.Fatal(err)
	}
	fns, err := tpl.Functions()
	if err != nil {
		t.Fatal(err)
	}
	var declared []string
	for _, fn := range fns {
		declared = append(declared, fn.LogicalID)
	}
	slices.Sort(declared)
	if got := registry.Names(); !slices.Equal(got, declared) {
		t.Fatalf("registry has %v, template.yaml declares %v", got, declared)
	}
}

// TestHandlerFromTemplateEnvironment builds every function's handler from
// the environment template.yaml gives it, as the local stack does.
func TestHandlerFromTemplateEnvironment(t *testing.T) {
	t.Parallel()
	tpl, err := template.Parse(edgesync.Template)
	if err != nil {
		t.Fatal(err)
	}
	store, err := embedded.Open(t.TempDir() + "/edgesync.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	refs := map[string]string{"AuthIssuer": "https://issuer.example", "AuthAudience": "aud", "AWS::Region": "eu-west-1",
		"AWS::AccountId": "000000000000", "AWS::StackName": "s", "Table": "t", "WebSocketApi": "w", "HttpApi": "h"}
	for _, fn := range registry.All() {
		name := fn.Name
		env, err := tpl.FunctionEnvironment(name, refs)
		if err != nil {
			t.Fatalf("environment of %s: %v", name, err)
		}
		env["CONNECTIONS_URL"] = "https://w.execute-api.eu-west-1.amazonaws.com/prod"
		h, err := functions.Handler(fn, func(k string) string { return env[k] }, functions.Clients{Store: store, Pusher: nil})
		if err != nil || h == nil {
			t.Errorf("Handler(%s) = %v, %v; want a handler", name, h, err)
		}
	}
	if _, err := registry.Lookup("NoSuchFunction"); err == nil || !strings.Contains(err.Error(), "ConnectFunction") {
		t.Errorf("Handler(NoSuchFunction) error = %v, want one listing the known functions", err)
	}
}

// TestQueryDashboardFromEnvironment: the query function's dashboard gets
// its API allow-list from DASHBOARD_API_ORIGINS and the agent's WebSocket
// URL from CONNECTIONS_URL, in the page and in its CSP; a malformed list
// fails at start-up naming the variable.
func TestQueryDashboardFromEnvironment(t *testing.T) {
	t.Parallel()
	store, err := embedded.Open(t.TempDir() + "/edgesync.db")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	env := map[string]string{
		"TABLE_NAME":            "t",
		"CONNECTIONS_URL":       "https://abc.execute-api.eu-west-1.amazonaws.com/prod",
		"DASHBOARD_API_ORIGINS": "https://api.example.com, https://other.example.com:8443",
	}
	h, err := functions.Handler(queryfunction.Query, func(k string) string { return env[k] }, functions.Clients{Store: store})
	if err != nil {
		t.Fatal(err)
	}
	handle, ok := h.(func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error))
	if !ok {
		t.Fatalf("the query handler is a %T", h)
	}
	res, err := handle(context.Background(), events.APIGatewayV2HTTPRequest{
		Version: "2.0", RawPath: "/", RequestContext: events.APIGatewayV2HTTPRequestContext{HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: "GET", Path: "/"}},
	})
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("GET / = %d, %v", res.StatusCode, err)
	}
	for _, want := range []string{
		`<meta name="edgesync-api-origins" content="https://api.example.com,https://other.example.com:8443">`,
		`<meta name="edgesync-agent-server-url" content="wss://abc.execute-api.eu-west-1.amazonaws.com/prod">`,
	} {
		if !strings.Contains(res.Body, want) {
			t.Errorf("the page lacks %s", want)
		}
	}
	if csp := res.Headers["Content-Security-Policy"]; !strings.Contains(csp, "connect-src 'self' https://api.example.com https://other.example.com:8443;") {
		t.Errorf("Content-Security-Policy = %q", csp)
	}

	env["DASHBOARD_API_ORIGINS"] = "https://api.example.com,*"
	if _, err := functions.Handler(queryfunction.Query, func(k string) string { return env[k] }, functions.Clients{Store: store}); err == nil || !strings.Contains(err.Error(), "DASHBOARD_API_ORIGINS") || !strings.Contains(err.Error(), `"*"`) {
		t.Errorf("a wildcard in DASHBOARD_API_ORIGINS: error %v, want one naming the variable and the value", err)
	}
}
