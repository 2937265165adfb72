package protocol

import "testing"

func TestIsAdminOnlyConfigKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		key  string
		want bool
	}{
		{"server_url", true},
		{"token", true},
		{"token_file", true},
		{"allow_insecure", true},
		{"ca_file", true},
		{"proxy_url", true},
		{"client_cert_file", true},
		{"client_key_file", true},
		{"tls", true},
		{"log_inputs", true},
		{"terminal_id", true},
		// Tuning keys an operator may change.
		{"log_level", false},
		{"status_interval", false},
		{"batch_window_ms", false},
		{"threshold", false},
		// Exact names only: the agent reads keys exactly.
		{"Server_URL", false},
		{"server_url ", false},
		{"", false},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			if got := IsAdminOnlyConfigKey(tt.key); got != tt.want {
				t.Errorf("IsAdminOnlyConfigKey(%q) = %v, want %v", tt.key, got, tt.want)
			}
		})
	}
}
