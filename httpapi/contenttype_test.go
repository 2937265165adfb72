package httpapi_test

import "testing"

// TestBodyContentTypes: a JSON body is read without a Content-Type and
// with curl's default for -d (application/x-www-form-urlencoded), so the
// README's `curl -X POST -d '{"command":"ping"}'` works; a real form body is
// malformed JSON (400) and any other type is 415.
func TestBodyContentTypes(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	tests := []struct {
		name, contentType, body string
		want                    int
	}{
		{"no content type", "", `{"command":"ping"}`, 202},
		{"application/json", "application/json", `{"command":"ping"}`, 202},
		{"application/json with charset", "application/json; charset=utf-8", `{"command":"ping"}`, 202},
		{"curl -d default", "application/x-www-form-urlencoded", `{"command":"ping"}`, 202},
		{"a real form", "application/x-www-form-urlencoded", `command=ping`, 400},
		{"text/plain", "text/plain", `{"command":"ping"}`, 415},
		{"malformed type", "application/", `{"command":"ping"}`, 415},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var header []string
			if tt.contentType != "" {
				header = []string{"Content-Type", tt.contentType}
			}
			status, _, body := f.do(t, "POST", "/terminals/t1/commands", tt.body, header...)
			if status != tt.want {
				t.Errorf("status = %d (%v), want %d", status, body, tt.want)
			}
			if status == 415 && body["code"] != "unsupported_media_type" {
				t.Errorf("415 body = %v, want code unsupported_media_type", body)
			}
		})
	}
}
