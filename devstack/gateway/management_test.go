package gateway

import (
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// TestDeleteConnectionAsAWSDocumentsIt: DELETE @connections/{id} answers
// 204 with no body and closes the client's WebSocket (close 1000, then
// $disconnect); the connection is gone afterwards, so a second DELETE, a
// POST and a GET answer 410 GoneException, as API Gateway's
// DeleteConnection does for a connection that no longer exists.
func TestDeleteConnectionAsAWSDocumentsIt(t *testing.T) {
	t.Parallel()
	f := newWSFixture(t, nil)
	c, id := f.dial(t, "")
	do := func(method string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, f.mgmtURL+"/@connections/"+id, nil)
		req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/execute-api/aws4_request")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if method == http.MethodDelete && resp.StatusCode == http.StatusNoContent && len(body) != 0 {
			t.Errorf("DELETE 204 with a body %q, want none", body)
		}
		return resp.StatusCode, resp.Header.Get("x-amzn-ErrorType")
	}
	if status, _ := do(http.MethodDelete); status != http.StatusNoContent {
		t.Fatalf("DELETE of an open connection: %d, want 204", status)
	}
	expectClose(t, c, websocket.StatusNormalClosure)
	select {
	case d := <-f.disconnects:
		if d.RequestContext.ConnectionID != id {
			t.Errorf("$disconnect of %s, want %s", d.RequestContext.ConnectionID, id)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no $disconnect after DELETE")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for ctx.Err() == nil {
		// The close completes asynchronously; then every call is 410.
		if status, _ := do(http.MethodGet); status == http.StatusGone {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, m := range []string{http.MethodDelete, http.MethodPost, http.MethodGet} {
		if status, errType := do(m); status != http.StatusGone || errType != "GoneException" {
			t.Errorf("%s after DELETE: %d %s, want 410 GoneException", m, status, errType)
		}
	}
}
