package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgesync/edgesync/fleet"
	"github.com/edgesync/edgesync/httpapi"
	"github.com/edgesync/edgesync/infra/embedded"
)

// discard is a pusher that accepts every message and drops it.
type discard struct{}

func (discard) Push(context.Context, string, []byte) error { return nil }

// newEmbeddedAPI returns the real API handler over an embedded store (the
// local stack's) in dir, with terminal "t1" online holding lines 1..200 in
// overlapping chunks (1..50, 40..120, 121..200) plus 250..260 after a gap,
// and terminal "t2" registered but never connected.
func newEmbeddedAPI(tb testing.TB, dir string) http.Handler {
	tb.Helper()
	st, err := embedded.Open(filepath.Join(dir, "edgesync.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	svc := fleet.NewService(st, discard{}, fleet.DefaultConfig())
	ctx := context.Background()
	token, err := svc.CreateTerminal(ctx, fleet.System("test"), "t1", "Press 1", nil)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := svc.CreateTerminal(ctx, fleet.System("test"), "t2", "", nil); err != nil {
		tb.Fatal(err)
	}
	if err := svc.Connect(ctx, fleet.ConnectRequest{ConnectionID: "c1", TerminalID: "t1", Token: token}); err != nil {
		tb.Fatal(err)
	}
	levels := []string{"debug", "info", "warn", "error"}
	for _, r := range [][2]int{{1, 50}, {40, 120}, {121, 200}, {250, 260}} {
		var lines []string
		for s := r[0]; s <= r[1]; s++ {
			lines = append(lines, fmt.Sprintf(`{"seq":%d,"ts":"2026-11-27T09:00:00Z","level":%q,"msg":"line %d","source":"src%d"}`, s, levels[s%4], s, s%3))
		}
		if err := svc.HandleMessage(ctx, "c1", []byte(`{"type":"logs","entries":[`+strings.Join(lines, ",")+`]}`)); err != nil {
			tb.Fatal(err)
		}
	}
	// The fuzzer explores parameters, not authentication (tested in
	// security_test.go): every request comes from an admin.
	admin := func(*http.Request) (fleet.Principal, error) { return fleet.System("fuzz"), nil }
	return httpapi.New(svc, httpapi.Options{Identify: admin})
}

// FuzzLogsQuery drives GET /terminals/{id}/logs/ with arbitrary ids and raw
// query strings through the real handler. The committed seed corpus is
// testdata/fuzz/FuzzLogsQuery; run the fuzzer with
//
//	go test ./httpapi -run='^$' -fuzz=FuzzLogsQuery -fuzztime=60s
//
// Properties: never a 5xx; every answer is a JSON object; a 4xx carries a
// non-empty code and message; a 200 holds at most 1000 entries with
// strictly increasing sequence numbers within the bounds asked for.
func FuzzLogsQuery(f *testing.F) {
	api := newEmbeddedAPI(f, f.TempDir())
	seeds := []struct{ id, query string }{
		{"t1", ""},
		{"t1", "count=10"},
		{"t1", "count=-1"},
		{"t1", "count=0"},
		{"t1", "count=1001"},
		{"t1", "count=99999999999999999999"},
		{"t1", "count=1e3"},
		{"t1", "limit=5&count=7"},
		{"t1", "since=0&count=1000"},
		{"t1", "since=45&count=10"},
		{"t1", "since=18446744073709551615"},
		{"t1", "since=18446744073709551616"},
		{"t1", "since=-1"},
		{"t1", "since_seq=100"},
		{"t1", "cursor=after:120&count=3"},
		{"t1", "cursor=before:251"},
		{"t1", "cursor=before:0"},
		{"t1", "cursor=sideways:3"},
		{"t1", "cursor=after:5&since=3"},
		{"t1", "level=warn&q=line%201"},
		{"t1", "level=loud"},
		{"t1", "q=" + strings.Repeat("a", 300)},
		{"t1", "count=1&count=2"},
		{"t1", "%zz=1"},
		{"t1", "count=%00"},
		{"t2", "count=5"},
		{"nobody", ""},
		{"../t1", ""},
		{"a/b", "count=3"},
		{"t1\x00", ""},
		{strings.Repeat("x", 200), ""},
		{"", ""},
	}
	for _, s := range seeds {
		f.Add(s.id, s.query)
	}
	f.Fuzz(func(t *testing.T, id, query string) {
		checkLogsAnswer(t, api, id, query)
	})
}

// checkLogsAnswer sends one logs read and checks the properties of FuzzLogsQuery.
func checkLogsAnswer(t *testing.T, api http.Handler, id, query string) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.URL = &url.URL{
		Path:     "/terminals/" + id + "/logs/",
		RawPath:  "/terminals/" + url.PathEscape(id) + "/logs/",
		RawQuery: query,
	}
	req.RequestURI = req.URL.RequestURI()
	rec := httptest.NewRecorder()
	api.ServeHTTP(rec, req)

	status := rec.Code
	if status >= 500 {
		t.Fatalf("GET %s: %d, want no 5xx\n%s", req.RequestURI, status, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("GET %s: %d with Content-Type %q, want application/json", req.RequestURI, status, ct)
	}
	var body map[string]json.RawMessage
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("GET %s: %d, body is not a JSON object: %v\n%s", req.RequestURI, status, err, rec.Body)
	}
	if status >= 400 {
		var e struct{ Code, Message string }
		if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Code == "" || e.Message == "" {
			t.Fatalf("GET %s: %d, want a body with code and message, got %s", req.RequestURI, status, rec.Body)
		}
		return
	}
	if status != http.StatusOK {
		t.Fatalf("GET %s: %d, want 200 or a 4xx", req.RequestURI, status)
	}
	var page struct {
		Entries []struct {
			Seq   uint64 `json:"seq"`
			Level string `json:"level"`
		} `json:"entries"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &page); err != nil {
		t.Fatalf("GET %s: decode page: %v", req.RequestURI, err)
	}
	if page.Entries == nil || len(page.Entries) > 1000 {
		t.Fatalf("GET %s: %d entries (nil: %v), want a list of at most 1000", req.RequestURI, len(page.Entries), page.Entries == nil)
	}
	for i := 1; i < len(page.Entries); i++ {
		if page.Entries[i].Seq <= page.Entries[i-1].Seq {
			t.Fatalf("GET %s: entry %d has seq %d after %d, want strictly increasing", req.RequestURI, i, page.Entries[i].Seq, page.Entries[i-1].Seq)
		}
	}
	q, _ := url.ParseQuery(query)
	if v := q.Get("since"); v != "" && len(page.Entries) > 0 {
		var after uint64
		if _, err := fmt.Sscan(v, &after); err == nil && page.Entries[0].Seq <= after {
			t.Fatalf("GET %s: first seq %d, want above since=%d", req.RequestURI, page.Entries[0].Seq, after)
		}
	}
}

// TestLogsQueryAnswers pins the exact answer to malformed log queries and
// ids: HTTP status and error code (the message for the ones a frontend
// shows). It uses the same fixture as FuzzLogsQuery.
func TestLogsQueryAnswers(t *testing.T) {
	t.Parallel()
	api := newEmbeddedAPI(t, t.TempDir())
	const countMsg = `query parameter "count": want a whole number from 1 to 1000`
	tests := []struct {
		name, path string
		status     int
		code, msg  string
	}{
		{"default", "/terminals/t1/logs/", 200, "", ""},
		{"no trailing slash", "/terminals/t1/logs", 200, "", ""},
		{"negative count", "/terminals/t1/logs/?count=-1", 400, "invalid", countMsg},
		{"zero count", "/terminals/t1/logs/?count=0", 400, "invalid", countMsg},
		{"count over the maximum", "/terminals/t1/logs/?count=1001", 400, "invalid", countMsg},
		{"count past int64", "/terminals/t1/logs/?count=99999999999999999999", 400, "invalid", countMsg},
		{"count in exponent form", "/terminals/t1/logs/?count=1e3", 400, "invalid", countMsg},
		{"count with NUL", "/terminals/t1/logs/?count=%00", 400, "invalid", countMsg},
		{"count twice", "/terminals/t1/logs/?count=1&count=2", 400, "invalid", `query parameter "count": given 2 times`},
		{"negative since", "/terminals/t1/logs/?since=-1", 400, "invalid", `query parameter "since": want a sequence number (a whole number 0 or more)`},
		{"since past uint64", "/terminals/t1/logs/?since=18446744073709551616", 400, "invalid", `query parameter "since": want a sequence number (a whole number 0 or more)`},
		{"since at uint64 max", "/terminals/t1/logs/?since=18446744073709551615", 200, "", ""},
		{"cursor and since", "/terminals/t1/logs/?since=1&cursor=after:5", 400, "invalid", `query parameters "since" and "cursor": give one, not both`},
		{"foreign cursor", "/terminals/t1/logs/?cursor=sideways:3", 400, "invalid", `query parameter "cursor": not a cursor this API returned`},
		{"before:0 cursor", "/terminals/t1/logs/?cursor=before:0", 400, "invalid", `query parameter "cursor": not a cursor this API returned`},
		{"unknown level", "/terminals/t1/logs/?level=loud", 400, "invalid", `level "loud": must be debug, info, warn or error`},
		{"search over 256 bytes", "/terminals/t1/logs/?q=" + strings.Repeat("a", 257), 400, "invalid", "search: longer than 256 bytes"},
		{"malformed query", "/terminals/t1/logs/?%zz=1", 400, "invalid", "malformed query string"},
		{"unknown terminal", "/terminals/nobody/logs/", 404, "not_found", ""},
		{"id with a dot-dot segment", "/terminals/..%2Ft1/logs/", 400, "invalid", ""},
		{"id with an encoded slash", "/terminals/a%2Fb/logs", 400, "invalid", ""},
		{"id with NUL", "/terminals/t1%00/logs/", 400, "invalid", ""},
		{"id with a newline", "/terminals/t%0A1/logs/", 400, "invalid", ""},
		{"id with an escape", "/terminals/t%1B%5B31m/logs/", 400, "invalid", ""},
		{"id of 200 bytes", "/terminals/" + strings.Repeat("x", 200) + "/logs/", 400, "invalid", ""},
		{"id with a space", "/terminals/t%201/logs/", 400, "invalid", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req := httptest.NewRequest(http.MethodGet, tt.path, nil)
			rec := httptest.NewRecorder()
			api.ServeHTTP(rec, req)
			if rec.Code != tt.status {
				t.Fatalf("GET %s: got %d %s, want %d", tt.path, rec.Code, rec.Body, tt.status)
			}
			checkLogsAnswer(t, api, "t1", "") // the fixture still answers
			if tt.code == "" {
				return
			}
			var e struct{ Code, Message string }
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil {
				t.Fatalf("GET %s: body %s: %v", tt.path, rec.Body, err)
			}
			if e.Code != tt.code || (tt.msg != "" && e.Message != tt.msg) {
				t.Errorf("GET %s:\n got %s: %s\nwant %s: %s", tt.path, e.Code, e.Message, tt.code, tt.msg)
			}
		})
	}
}
