package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-lambda-go/events"
)

// TestHTTPAPICORS encodes API Gateway's documented CORS behaviour for HTTP
// APIs: an OPTIONS request that a route matches runs that route's
// authorizer (so a browser preflight, which carries no token, gets 401 on
// an ANY route behind a JWT authorizer); one that no route matches is
// answered by the gateway itself when the API has a CORS configuration,
// and is 404 without one; the integration's CORS headers are replaced by
// the configured ones.
func TestHTTPAPICORS(t *testing.T) {
	t.Parallel()
	cors := &CORS{AllowOrigins: []string{"https://dash.example.com"}, AllowMethods: []string{"GET", "POST"},
		AllowHeaders: []string{"Authorization", "Content-Type"}, MaxAge: 600}
	methodRoutes := []HTTPRoute{
		{Method: "GET", Path: "/{proxy+}", Function: "Query", Authorizer: "jwt"},
		{Method: "POST", Path: "/{proxy+}", Function: "Query", Authorizer: "jwt"},
	}
	anyRoute := []HTTPRoute{{Method: "ANY", Path: "/{proxy+}", Function: "Query", Authorizer: "jwt"}}
	authorizers := map[string]JWTAuthorizer{"jwt": func(r *http.Request) (map[string]string, []string, error) {
		if r.Header.Get("Authorization") != "Bearer good" {
			return nil, nil, errors.New("no token")
		}
		return map[string]string{"sub": "u"}, nil, nil
	}}
	tests := []struct {
		name        string
		routes      []HTTPRoute
		cors        *CORS
		method      string
		origin      string
		token       string
		wantStatus  int
		wantInvoked bool
		wantOrigin  string // Access-Control-Allow-Origin
	}{
		{"preflight matching an ANY route hits the authorizer", anyRoute, cors, "OPTIONS", "https://dash.example.com", "", 401, false, ""},
		{"preflight matching no route: the gateway answers", methodRoutes, cors, "OPTIONS", "https://dash.example.com", "", 204, false, "https://dash.example.com"},
		{"preflight from a disallowed origin: no allow header", methodRoutes, cors, "OPTIONS", "https://evil.example", "", 204, false, ""},
		{"no CORS configuration: unmatched OPTIONS is 404", methodRoutes, nil, "OPTIONS", "https://dash.example.com", "", 404, false, ""},
		{"CORS request with a token: configured headers replace the function's", methodRoutes, cors, "GET", "https://dash.example.com", "good", 200, true, "https://dash.example.com"},
		{"CORS request from a disallowed origin: the function's headers are dropped", methodRoutes, cors, "GET", "https://evil.example", "good", 200, true, ""},
		{"CORS request without a token", methodRoutes, cors, "GET", "https://dash.example.com", "", 401, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var invoked atomic.Bool
			inv := funcInvoker(func(ctx context.Context, function string, payload []byte) ([]byte, error) {
				invoked.Store(true)
				// The function says "*": a CORS-configured gateway ignores it.
				return json.Marshal(events.APIGatewayV2HTTPResponse{StatusCode: 200, Body: "{}",
					Headers: map[string]string{"Content-Type": "application/json", "Access-Control-Allow-Origin": "*"}})
			})
			srv := newHTTPServer(t, HTTPConfig{Routes: tt.routes, Invoker: inv, Authorizers: authorizers, CORS: tt.cors})
			req, _ := http.NewRequest(tt.method, srv.URL+"/terminals", nil)
			req.Header.Set("Origin", tt.origin)
			if tt.method == "OPTIONS" {
				req.Header.Set("Access-Control-Request-Method", "GET")
				req.Header.Set("Access-Control-Request-Headers", "authorization")
			}
			if tt.token != "" {
				req.Header.Set("Authorization", "Bearer "+tt.token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("status = %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if invoked.Load() != tt.wantInvoked {
				t.Errorf("function invoked = %v, want %v", invoked.Load(), tt.wantInvoked)
			}
			if got := resp.Header.Get("Access-Control-Allow-Origin"); got != tt.wantOrigin {
				t.Errorf("Access-Control-Allow-Origin = %q, want %q", got, tt.wantOrigin)
			}
			if tt.wantStatus == 204 && tt.wantOrigin != "" {
				if got := resp.Header.Get("Access-Control-Allow-Headers"); got != "Authorization,Content-Type" {
					t.Errorf("Access-Control-Allow-Headers = %q", got)
				}
				if got := resp.Header.Get("Access-Control-Max-Age"); got != "600" {
					t.Errorf("Access-Control-Max-Age = %q", got)
				}
			}
		})
	}
}
