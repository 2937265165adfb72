package dashboard_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgesync/edgesync/fleet"
	"github.com/edgesync/edgesync/httpapi"
	"github.com/edgesync/edgesync/infra/embedded"
)

type noPusher struct{}

func (noPusher) Push(context.Context, string, []byte) error { return fleet.ErrGone }

// TestMountedInAPI checks the dashboard as the query function and the
// local stack serve it: beside the API, behind its middleware.
func TestMountedInAPI(t *testing.T) {
	t.Parallel()
	store, err := embedded.Open(filepath.Join(t.TempDir(), "store.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	srv := httptest.NewServer(httpapi.New(fleet.NewService(store, noPusher{}, fleet.DefaultConfig()), httpapi.Options{}))
	t.Cleanup(srv.Close)

	tests := []struct {
		method, path string
		wantStatus   int // 0: any
		wantType     string
	}{
		{"GET", "/", 200, "text/html; charset=utf-8"},
		{"HEAD", "/", 200, "text/html; charset=utf-8"},
		{"GET", "/ui/js/main.js", 200, "text/javascript; charset=utf-8"},
		{"GET", "/ui/js/client.js", 200, "text/javascript; charset=utf-8"},
		{"GET", "/ui/style.css", 200, "text/css; charset=utf-8"},
		{"GET", "/ui/nope.js", 404, "application/json"},
		{"POST", "/ui/js/main.js", 405, "application/json"},
		// API routes stay the API's (answered or refused, never the page).
		{"GET", "/terminals", 0, "application/json"},
		{"GET", "/terminals/", 0, "application/json"},
		{"GET", "/nothing-here", 404, "application/json"},
	}
	for _, tc := range tests {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			t.Parallel()
			req, err := http.NewRequest(tc.method, srv.URL+tc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			res, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if tc.wantStatus != 0 && res.StatusCode != tc.wantStatus {
				t.Errorf("status = %d, want %d", res.StatusCode, tc.wantStatus)
			}
			if got := res.Header.Get("Content-Type"); !strings.HasPrefix(got, tc.wantType) {
				t.Errorf("Content-Type = %q, want %q", got, tc.wantType)
			}
		})
	}
}
