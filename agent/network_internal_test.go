package agent

import (
	"net/url"
	"testing"
)

func TestEnvProxy(t *testing.T) {
	t.Parallel()
	tests := []struct {
		target  string
		env     map[string]string
		want    string // "" for a direct connection
		wantErr bool
	}{
		{"wss://gw.example.com/prod", map[string]string{"HTTPS_PROXY": "http://proxy:3128"}, "http://proxy:3128", false},
		{"wss://gw.example.com/prod", map[string]string{"https_proxy": "proxy:3128"}, "http://proxy:3128", false},
		{"wss://gw.example.com/prod", nil, "", false},
		{"wss://localhost:8081/prod", map[string]string{"HTTPS_PROXY": "http://proxy:3128"}, "", false},
		{"wss://127.0.0.1:8081/prod", map[string]string{"HTTPS_PROXY": "http://proxy:3128"}, "", false},
		{"wss://gw.example.com/prod", map[string]string{"HTTPS_PROXY": "http://p:1", "NO_PROXY": "*"}, "", false},
		{"wss://gw.example.com/prod", map[string]string{"HTTPS_PROXY": "http://p:1", "NO_PROXY": "example.com"}, "", false},
		{"wss://example.com/prod", map[string]string{"HTTPS_PROXY": "http://p:1", "NO_PROXY": "example.com"}, "", false},
		{"wss://example.com/prod", map[string]string{"HTTPS_PROXY": "http://p:1", "NO_PROXY": ".example.com"}, "http://p:1", false},
		{"wss://gw.example.com/prod", map[string]string{"HTTPS_PROXY": "http://p:1", "NO_PROXY": "*.example.com"}, "", false},
		{"wss://notexample.com/prod", map[string]string{"HTTPS_PROXY": "http://p:1", "NO_PROXY": "example.com"}, "http://p:1", false},
		{"wss://gw.example.com/prod", map[string]string{"HTTPS_PROXY": "http://p:1", "NO_PROXY": "gw.example.com:8443"}, "http://p:1", false},
		{"wss://gw.example.com:8443/prod", map[string]string{"HTTPS_PROXY": "http://p:1", "no_proxy": "gw.example.com:8443"}, "", false},
		{"wss://10.1.2.3/prod", map[string]string{"HTTPS_PROXY": "http://p:1", "NO_PROXY": "10.0.0.0/8"}, "", false},
		{"wss://10.1.2.3/prod", map[string]string{"HTTPS_PROXY": "http://p:1", "NO_PROXY": "10.1.2.4"}, "http://p:1", false},
	}
	for _, tt := range tests {
		t.Run(tt.target+" "+tt.env["NO_PROXY"]+tt.env["no_proxy"], func(t *testing.T) {
			t.Parallel()
			u, _ := url.Parse(tt.target)
			got, err := envProxy(func(k string) string { return tt.env[k] }, u)
			if (err != nil) != tt.wantErr {
				t.Fatalf("envProxy error = %v", err)
			}
			gotS := ""
			if got != nil {
				gotS = got.String()
			}
			if gotS != tt.want {
				t.Errorf("envProxy(%s, %v) = %q, want %q", tt.target, tt.env, gotS, tt.want)
			}
		})
	}
}
