package dashboard

import (
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func TestHandler(t *testing.T) {
	t.Parallel()
	h := Handler()
	tests := []struct {
		name        string
		method      string
		path        string
		wantStatus  int
		wantType    string
		wantBody    string
		wantCSP     bool
		wantNoBody  bool
		wantHeaders map[string]string
	}{
		{name: "page", method: "GET", path: "/", wantStatus: 200, wantType: "text/html; charset=utf-8", wantBody: `src="ui/js/main.js"`, wantCSP: true},
		{name: "page by name", method: "GET", path: "/index.html", wantStatus: 200, wantType: "text/html; charset=utf-8", wantCSP: true},
		{name: "page head", method: "HEAD", path: "/", wantStatus: 200, wantType: "text/html; charset=utf-8", wantNoBody: true},
		{name: "entry script", method: "GET", path: "/ui/js/main.js", wantStatus: 200, wantType: "text/javascript; charset=utf-8", wantBody: "import"},
		{name: "client module", method: "GET", path: "/ui/js/client.js", wantStatus: 200, wantType: "text/javascript; charset=utf-8", wantBody: "class EdgesyncClient"},
		{name: "stylesheet", method: "GET", path: "/ui/style.css", wantStatus: 200, wantType: "text/css; charset=utf-8"},
		{name: "security headers", method: "GET", path: "/ui/js/app.js", wantStatus: 200, wantHeaders: map[string]string{"X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"}},
		{name: "page not under ui", method: "GET", path: "/ui/index.html", wantStatus: 404, wantType: "application/json", wantBody: `"code":"not_found"`},
		{name: "unknown asset", method: "GET", path: "/ui/js/nope.js", wantStatus: 404, wantType: "application/json"},
		{name: "directory", method: "GET", path: "/ui/js", wantStatus: 404},
		{name: "escape attempt", method: "GET", path: "/ui/../dashboard.go", wantStatus: 404},
		{name: "other path", method: "GET", path: "/terminals", wantStatus: 404},
		{name: "post", method: "POST", path: "/", wantStatus: 405, wantHeaders: map[string]string{"Allow": "GET, HEAD"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, nil))
			if rec.Code != tc.wantStatus {
				t.Fatalf("%s %s: status = %d, want %d; body %q", tc.method, tc.path, rec.Code, tc.wantStatus, rec.Body.String())
			}
			if got := rec.Header().Get("Content-Type"); tc.wantType != "" && got != tc.wantType {
				t.Errorf("Content-Type = %q, want %q", got, tc.wantType)
			}
			if tc.wantBody != "" && !strings.Contains(rec.Body.String(), tc.wantBody) {
				t.Errorf("body does not contain %q", tc.wantBody)
			}
			if got := rec.Header().Get("Content-Security-Policy"); tc.wantCSP && !strings.Contains(got, "script-src 'self'") {
				t.Errorf("Content-Security-Policy = %q, want one limiting scripts to 'self'", got)
			}
			if tc.wantNoBody && rec.Body.Len() != 0 {
				t.Errorf("HEAD body has %d bytes, want none", rec.Body.Len())
			}
			for k, want := range tc.wantHeaders {
				if got := rec.Header().Get(k); got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
		})
	}
}

func TestHandlerRevalidates(t *testing.T) {
	t.Parallel()
	h := Handler()
	for _, p := range []string{"/", "/ui/js/main.js"} {
		t.Run(p, func(t *testing.T) {
			t.Parallel()
			first := httptest.NewRecorder()
			h.ServeHTTP(first, httptest.NewRequest("GET", p, nil))
			etag := first.Header().Get("ETag")
			if etag == "" {
				t.Fatalf("GET %s: no ETag", p)
			}
			req := httptest.NewRequest("GET", p, nil)
			req.Header.Set("If-None-Match", etag)
			again := httptest.NewRecorder()
			h.ServeHTTP(again, req)
			if again.Code != http.StatusNotModified {
				t.Errorf("GET %s with If-None-Match %s: status = %d, want 304", p, etag, again.Code)
			}
		})
	}
}

// TestReferencesResolve checks the build layout: every file the page links
// and every module a script imports is embedded, so the page loads whole.
func TestReferencesResolve(t *testing.T) {
	t.Parallel()
	h, err := load(site)
	if err != nil {
		t.Fatal(err)
	}
	page := string(h.index.body)
	links := regexp.MustCompile(`(?:src|href)="ui/([^"]+)"`).FindAllStringSubmatch(page, -1)
	if len(links) < 2 {
		t.Fatalf("index.html links %d assets under ui/, want the stylesheet and the entry script", len(links))
	}
	for _, m := range links {
		if _, ok := h.assets[m[1]]; !ok {
			t.Errorf("index.html links ui/%s, which is not embedded", m[1])
		}
	}
	imports := regexp.MustCompile(`(?m)^(?:import|export)\b[^"\n;]*\bfrom\s+"([^"]+)"`)
	scripts, resolved := 0, 0
	err = fs.WalkDir(site, "web/js", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		scripts++
		body, err := fs.ReadFile(site, p)
		if err != nil {
			return err
		}
		for _, m := range imports.FindAllStringSubmatch(string(body), -1) {
			if !strings.HasPrefix(m[1], "./") {
				t.Errorf("%s imports %q: the page has no import map, only ./ paths load", p, m[1])
				continue
			}
			resolved++
			target := "js/" + strings.TrimPrefix(m[1], "./")
			if _, ok := h.assets[target]; !ok {
				t.Errorf("%s imports %s, which is not embedded as %s", p, m[1], target)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if scripts == 0 || resolved == 0 {
		t.Fatalf("found %d scripts with %d imports under web/js, want some of each", scripts, resolved)
	}
}

// TestAPIOrigins checks the allow-list as the page and the browser get it:
// the meta tag the page's script reads and the CSP connect-src, which must
// name the same origins and nothing else (no wildcard).
func TestAPIOrigins(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		opts        Options
		wantMeta    string
		wantConnect string
		wantServer  string
	}{
		{name: "default: own origin only", wantMeta: `<meta name="edgesync-api-origins" content="">`, wantConnect: "connect-src 'self';"},
		{
			name:        "listed origins, canonical",
			opts:        Options{APIOrigins: []string{"https://ABC.execute-api.eu-west-1.amazonaws.com:443", "http://127.0.0.1:8080/"}},
			wantMeta:    `<meta name="edgesync-api-origins" content="https://abc.execute-api.eu-west-1.amazonaws.com,http://127.0.0.1:8080">`,
			wantConnect: "connect-src 'self' https://abc.execute-api.eu-west-1.amazonaws.com http://127.0.0.1:8080;",
		},
		{
			name:        "agent server URL",
			opts:        Options{AgentServerURL: "wss://abc.execute-api.eu-west-1.amazonaws.com/prod"},
			wantMeta:    `content="">`,
			wantConnect: "connect-src 'self';",
			wantServer:  `<meta name="edgesync-agent-server-url" content="wss://abc.execute-api.eu-west-1.amazonaws.com/prod">`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h, err := New(tc.opts)
			if err != nil {
				t.Fatalf("New(%+v): %v", tc.opts, err)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
			body, csp := rec.Body.String(), rec.Header().Get("Content-Security-Policy")
			if !strings.Contains(body, tc.wantMeta) {
				t.Errorf("page does not contain %s", tc.wantMeta)
			}
			if tc.wantServer != "" && !strings.Contains(body, tc.wantServer) {
				t.Errorf("page does not contain %s", tc.wantServer)
			}
			if !strings.Contains(csp, tc.wantConnect) {
				t.Errorf("Content-Security-Policy = %q, want it to contain %q", csp, tc.wantConnect)
			}
			if strings.Contains(csp, "*") {
				t.Errorf("Content-Security-Policy = %q: a wildcard lets the page send the token anywhere", csp)
			}
		})
	}
}

func TestAPIOriginsRefused(t *testing.T) {
	t.Parallel()
	bad := []string{
		"*",
		"https://*.amazonaws.com",
		"abc.execute-api.eu-west-1.amazonaws.com",
		"ftp://host",
		"https://host/prod",
		"https://host?x=1",
		"https://user@host",
		"https://host; script-src *",
		`https://host" onload="x`,
		"https://host,",
		"null",
	}
	for _, o := range bad {
		t.Run(o, func(t *testing.T) {
			t.Parallel()
			if _, err := New(Options{APIOrigins: []string{o}}); err == nil {
				t.Errorf("New with API origin %q: no error, want one", o)
			}
		})
	}
	if _, err := New(Options{AgentServerURL: "https://host/prod"}); err == nil {
		t.Error("New with an https agent server URL: no error, want one (terminals connect with ws or wss)")
	}
}

func TestParseAPIOrigins(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    []string
		wantErr string
	}{
		{in: "", want: nil},
		{in: " , ", want: nil},
		{in: "https://a.example, http://127.0.0.1:9000", want: []string{"https://a.example", "http://127.0.0.1:9000"}},
		{in: "http://A.example:80", want: []string{"http://a.example"}},
		{in: "https://a.example,*,https://b/x", wantErr: `API origin "*"`},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			got, err := ParseAPIOrigins(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), `"https://b/x"`) {
					t.Fatalf("ParseAPIOrigins(%q) error = %v, want one naming %s and https://b/x", tc.in, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseAPIOrigins(%q): %v", tc.in, err)
			}
			if strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Errorf("ParseAPIOrigins(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}
