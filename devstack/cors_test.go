package devstack_test

import (
	"net/http"
	"testing"

	"github.com/edgesync/edgesync/devstack"
)

// TestCORSPreflightThroughTheStack: the local stack routes a browser's
// preflight as API Gateway would with template.yaml's routes and
// CorsConfiguration: no route matches OPTIONS, so the gateway answers it
// (no token needed); the request that follows carries the token and gets
// the configured Access-Control-Allow-Origin.
func TestCORSPreflightThroughTheStack(t *testing.T) {
	t.Parallel()
	s := start(t, devstack.Config{Parameters: map[string]string{"AllowedOrigins": "https://dash.example.com,https://ops.example.com"}})
	const origin = "https://ops.example.com"

	pre, _ := http.NewRequest("OPTIONS", s.HTTPURL+"/terminals/demo-1/logs/", nil)
	pre.Header.Set("Origin", origin)
	pre.Header.Set("Access-Control-Request-Method", "GET")
	pre.Header.Set("Access-Control-Request-Headers", "authorization")
	resp, err := http.DefaultClient.Do(pre)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Access-Control-Allow-Origin") != origin ||
		resp.Header.Get("Access-Control-Allow-Headers") == "" {
		t.Fatalf("preflight: %d, allow-origin %q, allow-headers %q; want 204 from the gateway with the configured headers",
			resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"), resp.Header.Get("Access-Control-Allow-Headers"))
	}

	req := authorized("GET", s.HTTPURL+"/me", nil)
	req.Header.Set("Origin", origin)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Access-Control-Allow-Origin") != origin {
		t.Errorf("GET /me from %s: %d, allow-origin %q; want 200 with the origin allowed", origin, resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
	}

	req = authorized("GET", s.HTTPURL+"/me", nil)
	req.Header.Set("Origin", "https://evil.example")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("GET /me from a disallowed origin: Access-Control-Allow-Origin %q, want none", got)
	}
}
