package functions_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/edgesync/edgesync"
	"github.com/edgesync/edgesync/devstack/template"
	"github.com/edgesync/edgesync/functions"
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
	if got := functions.Names(); !slices.Equal(got, declared) {
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
	for _, name := range functions.Names() {
		env, err := tpl.FunctionEnvironment(name, refs)
		if err != nil {
			t.Fatalf("environment of %s: %v", name, err)
		}
		env["CONNECTIONS_URL"] = "https://w.execute-api.eu-west-1.amazonaws.com/prod"
		h, err := functions.Handler(name, func(k string) string { return env[k] }, functions.Clients{Store: store, Pusher: nil})
		if err != nil || h == nil {
			t.Errorf("Handler(%s) = %v, %v; want a handler", name, h, err)
		}
	}
	if _, err := functions.Handler("NoSuchFunction", func(string) string { return "" }, functions.Clients{}); err == nil || !strings.Contains(err.Error(), "ConnectFunction") {
		t.Errorf("Handler(NoSuchFunction) error = %v, want one listing the known functions", err)
	}
}
