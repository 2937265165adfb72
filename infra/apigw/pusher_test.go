package apigw_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"

	"github.com/edgesync/edgesync/fleet"
	"github.com/edgesync/edgesync/infra/apigw"
	"github.com/edgesync/edgesync/protocol"
)

// reply is what the fake management API answers.
type reply struct {
	status    int
	errorType string // x-amzn-ErrorType header; empty sends none
}

// request is what the fake management API received.
type request struct {
	method, path, rawPath, auth string
	body                        []byte
}

// managementAPI is an HTTP server standing in for API Gateway's
// @connections endpoint of stage "prod".
type managementAPI struct {
	srv   *httptest.Server
	reply reply

	mu       sync.Mutex
	requests []request
}

var sigV4 = regexp.MustCompile(`^AWS4-HMAC-SHA256 Credential=AKIDTEST/\d{8}/eu-west-1/execute-api/aws4_request, SignedHeaders=[a-z0-9;-]*host[a-z0-9;-]*, Signature=[0-9a-f]{64}$`)

func newManagementAPI(t *testing.T, r reply) *managementAPI {
	t.Helper()
	m := &managementAPI{reply: r}
	m.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		m.mu.Lock()
		m.requests = append(m.requests, request{
			method: req.Method, path: req.URL.Path, rawPath: req.URL.EscapedPath(),
			auth: req.Header.Get("Authorization"), body: body,
		})
		m.mu.Unlock()
		if !sigV4.MatchString(req.Header.Get("Authorization")) {
			w.Header().Set("x-amzn-ErrorType", "ForbiddenException")
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprintf(w, `{"message":"Missing Authentication Token"}`)
			return
		}
		if !strings.HasPrefix(req.URL.Path, "/prod/@connections/") {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		if m.reply.errorType != "" {
			w.Header().Set("x-amzn-ErrorType", m.reply.errorType)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(m.reply.status)
		if m.reply.status >= 300 {
			fmt.Fprintf(w, `{"message":"answer %d"}`, m.reply.status)
		}
	}))
	t.Cleanup(m.srv.Close)
	return m
}

func (m *managementAPI) received() []request {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]request(nil), m.requests...)
}

// pusher returns a Pusher whose client talks to m like to API Gateway:
// SigV4-signed requests to the stage's management endpoint, without retries
// so every answer reaches the test.
func (m *managementAPI) pusher() *apigw.Pusher {
	client := apigatewaymanagementapi.New(apigatewaymanagementapi.Options{
		Region:       "eu-west-1",
		BaseEndpoint: aws.String(m.srv.URL + "/prod"),
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
		HTTPClient:   m.srv.Client(),
		Retryer:      aws.NopRetryer{},
	})
	return apigw.New(client)
}

func TestPush(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		reply   reply
		wantErr []error // each must match with errors.Is; nil means success
	}{
		{"delivered", reply{status: 200}, nil},
		{"gone", reply{status: 410, errorType: "GoneException"}, []error{fleet.ErrGone}},
		{"gone without error type", reply{status: 410}, []error{fleet.ErrGone}},
		{"too large", reply{status: 413, errorType: "PayloadTooLargeException"}, []error{apigw.ErrTooLarge}},
		{"rate limited", reply{status: 429, errorType: "LimitExceededException"}, []error{fleet.ErrThrottled}},
		{"forbidden", reply{status: 403, errorType: "ForbiddenException"}, []error{apigw.ErrForbidden}},
		{"server error", reply{status: 500, errorType: "InternalServerError"}, []error{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			api := newManagementAPI(t, tt.reply)
			msg := []byte(`{"type":"command","request_id":"r1","command":"ping"}`)
			err := api.pusher().Push(context.Background(), "L0SM9cOFvHcCIhw=", msg)
			switch {
			case tt.wantErr == nil && err != nil:
				t.Fatalf("Push: %v, want nil", err)
			case tt.wantErr != nil && err == nil:
				t.Fatalf("Push = nil, want an error")
			}
			for _, want := range tt.wantErr {
				if !errors.Is(err, want) {
					t.Errorf("Push error = %v, want errors.Is %v", err, want)
				}
			}
			if tt.wantErr != nil && len(tt.wantErr) == 0 {
				for _, other := range []error{fleet.ErrGone, fleet.ErrThrottled, apigw.ErrTooLarge, apigw.ErrForbidden} {
					if errors.Is(err, other) {
						t.Errorf("Push error = %v, must not be %v", err, other)
					}
				}
			}
			if err != nil && !strings.Contains(err.Error(), "L0SM9cOFvHcCIhw=") {
				t.Errorf("Push error %q does not name the connection", err)
			}
			reqs := api.received()
			if len(reqs) != 1 {
				t.Fatalf("server received %d requests, want 1", len(reqs))
			}
			if got := reqs[0]; got.method != http.MethodPost || string(got.body) != string(msg) {
				t.Errorf("request = %s body %q, want POST body %q", got.method, got.body, msg)
			}
		})
	}
}

func TestPushConnectionIDRoundTrips(t *testing.T) {
	t.Parallel()
	for _, id := range []string{"abc=", "L0SM9cOFvHcCIhw=", "a+b/c", "id with space"} {
		t.Run(id, func(t *testing.T) {
			t.Parallel()
			api := newManagementAPI(t, reply{status: 200})
			if err := api.pusher().Push(context.Background(), id, []byte("{}")); err != nil {
				t.Fatalf("Push(%q): %v", id, err)
			}
			reqs := api.received()
			if len(reqs) != 1 {
				t.Fatalf("server received %d requests, want 1", len(reqs))
			}
			if want := "/prod/@connections/" + id; reqs[0].path != want {
				t.Errorf("path = %q (raw %q), want %q", reqs[0].path, reqs[0].rawPath, want)
			}
			if !sigV4.MatchString(reqs[0].auth) {
				t.Errorf("Authorization = %q, want a SigV4 signature for execute-api", reqs[0].auth)
			}
		})
	}
}

func TestPushRefusedLocally(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		connID  string
		msg     []byte
		wantErr error
	}{
		{"larger than a WebSocket message", "abc=", make([]byte, protocol.MaxMessageBytes+1), apigw.ErrTooLarge},
		{"empty connection id", "", []byte("{}"), fleet.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			api := newManagementAPI(t, reply{status: 200})
			err := api.pusher().Push(context.Background(), tt.connID, tt.msg)
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("Push error = %v, want %v", err, tt.wantErr)
			}
			if n := len(api.received()); n != 0 {
				t.Errorf("server received %d requests, want none", n)
			}
		})
	}
}

func TestPushLargestMessageIsSent(t *testing.T) {
	t.Parallel()
	api := newManagementAPI(t, reply{status: 200})
	msg := []byte(strings.Repeat("x", protocol.MaxMessageBytes))
	if err := api.pusher().Push(context.Background(), "abc=", msg); err != nil {
		t.Fatalf("Push of exactly %d bytes: %v", len(msg), err)
	}
	if reqs := api.received(); len(reqs) != 1 || len(reqs[0].body) != len(msg) {
		t.Errorf("server received %d requests, want 1 with %d bytes", len(reqs), len(msg))
	}
}

func TestClose(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		reply   reply
		wantErr error // nil means success
	}{
		{"closed", reply{status: 204}, nil},
		{"already gone", reply{status: 410, errorType: "GoneException"}, nil},
		{"already gone without error type", reply{status: 410}, nil},
		{"forbidden", reply{status: 403, errorType: "ForbiddenException"}, apigw.ErrForbidden},
		{"rate limited", reply{status: 429, errorType: "LimitExceededException"}, fleet.ErrThrottled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			api := newManagementAPI(t, tt.reply)
			err := api.pusher().Close(context.Background(), "abc=")
			if tt.wantErr == nil && err != nil {
				t.Fatalf("Close: %v, want nil", err)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("Close error = %v, want %v", err, tt.wantErr)
			}
			reqs := api.received()
			if len(reqs) != 1 {
				t.Fatalf("server received %d requests, want 1", len(reqs))
			}
			if got := reqs[0]; got.method != http.MethodDelete || got.path != "/prod/@connections/abc=" {
				t.Errorf("request = %s %s, want DELETE /prod/@connections/abc=", got.method, got.path)
			}
		})
	}
	t.Run("empty connection id", func(t *testing.T) {
		t.Parallel()
		api := newManagementAPI(t, reply{status: 204})
		if err := api.pusher().Close(context.Background(), ""); !errors.Is(err, fleet.ErrInvalid) {
			t.Errorf("Close(\"\") error = %v, want %v", err, fleet.ErrInvalid)
		}
	})
}
