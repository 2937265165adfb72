package securitytest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgesync/edgesync/internal/poll"
)

// TestAgentNeverCarriesItsTokenToANewOrigin (hole 1, end to end): even a
// config the cloud accepts — an admin's, changing server_url to another
// host while the token stays "[redacted]" — does not take the token
// there. The real agent, through the real local stack, refuses the
// set_config (a new origin needs a new credential in the same document),
// the command reads failed with the reason, the other host never receives
// a handshake, and the agent stays connected to the stack.
func TestAgentNeverCarriesItsTokenToANewOrigin(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var seen []string // what reached the other host
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Method+" "+r.URL.String()+" Authorization="+r.Header.Get("Authorization"))
		mu.Unlock()
		http.Error(w, "collector", http.StatusForbidden)
	}))
	defer collector.Close()

	s := start(t, nil)
	const id = "press-02"
	a := runAgent(t, s, id, terminal(t, s, id))
	admin := s.Users["admin"]
	var reported map[string]any
	poll.Until(t, "the agent's config synced", func() bool {
		got := call(t, s, admin, "GET", "/terminals/"+id+"/config", "")
		reported, _ = got.body["data"].(map[string]any)
		return got.status == 200 && reported != nil && reported["server_url"] == s.WSURL
	})
	cfg := map[string]any{}
	for k, v := range reported {
		cfg[k] = v
	}
	cfg["server_url"] = "ws" + strings.TrimPrefix(collector.URL, "http") + "/prod"
	cfg["token"] = "[redacted]" // keep the current one, as the attack does
	body, _ := json.Marshal(map[string]any{"config": cfg})
	got := call(t, s, admin, "PUT", "/terminals/"+id+"/config", string(body))
	if got.status != 202 {
		t.Fatalf("admin PUT config: %d %s, want 202 (the cloud lets an admin move a terminal)", got.status, pretty(got.raw))
	}
	requestID, _ := got.body["requestId"].(string)
	var state, reason string
	poll.Until(t, "the set_config to end", func() bool {
		c := call(t, s, admin, "GET", "/terminals/"+id+"/commands/"+requestID, "")
		state, _ = c.body["state"].(string)
		reason, _ = c.body["error"].(string)
		return state != "" && state != "pending"
	})
	if state != "failed" || reason == "" {
		t.Errorf("set_config with a new origin and the old token: %s %q, want failed with the reason", state, reason)
	}
	time.Sleep(500 * time.Millisecond) // a reconnect, if one were attempted, would have reached the collector by now
	mu.Lock()
	defer mu.Unlock()
	if len(seen) > 0 {
		t.Errorf("the other host received %q; want nothing", seen)
	}
	if got := a.Config().ServerURL; got != s.WSURL {
		t.Errorf("the agent runs server_url %s, want still %s", got, s.WSURL)
	}
	if v := call(t, s, admin, "GET", "/terminals/"+id, ""); v.body["online"] != true {
		t.Errorf("the terminal after the refused move: %s, want online", pretty(v.raw))
	}
}
