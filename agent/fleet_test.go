package agent_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/edgesync/edgesync/agent"
	"github.com/edgesync/edgesync/fleet"
	"github.com/edgesync/edgesync/infra/embedded"
	"github.com/edgesync/edgesync/internal/poll"
	"github.com/edgesync/edgesync/protocol"
)

// fleetBridge puts the real cloud logic (fleet.Service on the embedded
// store) behind a WebSocket server the way API Gateway and the Lambda
// handlers do: the handshake calls Connect, every message is handled
// concurrently by HandleMessage, a closed connection calls Disconnect, and
// the service pushes through Push (PostToConnection).
type fleetBridge struct {
	svc   *fleet.Service
	store *embedded.Store
	url   string

	mu    sync.Mutex
	conns map[string]*websocket.Conn
	next  int
}

func newFleetBridge(t *testing.T) *fleetBridge {
	t.Helper()
	store, err := embedded.Open(filepath.Join(t.TempDir(), "fleet.db"))
	if err != nil {
		t.Fatalf("open embedded store: %v", err)
	}
	t.Cleanup(func() { store.Close() })
	b := &fleetBridge{store: store, conns: map[string]*websocket.Conn{}}
	b.svc = fleet.NewService(store, b, fleet.DefaultConfig())
	srv := httptest.NewServer(http.HandlerFunc(b.serve))
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
	})
	b.url = "ws://" + srv.Listener.Addr().String() + "/prod"
	return b
}

// Push implements fleet.Pusher.
func (b *fleetBridge) Push(ctx context.Context, connID string, msg []byte) error {
	b.mu.Lock()
	c := b.conns[connID]
	b.mu.Unlock()
	if c == nil {
		return fleet.ErrGone
	}
	if err := c.Write(ctx, websocket.MessageText, msg); err != nil {
		return fmt.Errorf("push: %w", fleet.ErrGone)
	}
	return nil
}

func (b *fleetBridge) serve(w http.ResponseWriter, r *http.Request) {
	b.mu.Lock()
	b.next++
	connID := fmt.Sprintf("conn-%d", b.next)
	b.mu.Unlock()
	err := b.svc.Connect(r.Context(), fleet.ConnectRequest{
		ConnectionID: connID,
		TerminalID:   r.URL.Query().Get("terminal_id"),
		Token:        strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "),
	})
	if err != nil {
		code := http.StatusInternalServerError
		switch {
		case errors.Is(err, fleet.ErrUnauthenticated):
			code = http.StatusUnauthorized
		case errors.Is(err, fleet.ErrForbidden):
			code = http.StatusForbidden
		}
		http.Error(w, http.StatusText(code), code)
		return
	}
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	c.SetReadLimit(protocol.MaxMessageBytes)
	b.mu.Lock()
	b.conns[connID] = c
	b.mu.Unlock()
	var wg sync.WaitGroup
	defer func() {
		wg.Wait()
		b.mu.Lock()
		delete(b.conns, connID)
		b.mu.Unlock()
		_ = b.svc.Disconnect(context.Background(), connID, "closed")
		c.CloseNow()
	}()
	for {
		_, data, err := c.Read(r.Context())
		if err != nil {
			return
		}
		wg.Add(1)
		go func() { // like Lambda: messages are handled concurrently
			defer wg.Done()
			_ = b.svc.HandleMessage(context.Background(), connID, data)
		}()
	}
}

// TestAgainstTheFleetService runs the agent against the real fleet
// service, speaking today's protocol (welcome, acks on request) and, as
// an agent of the first protocol version does, announcing nothing new.
func TestAgainstTheFleetService(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		caps []string
	}{{"today's protocol", agent.Capabilities}, {"first protocol version", agent.FirstVersionCapabilities}} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			testAgainstTheFleetService(t, tt.caps)
		})
	}
}

func testAgainstTheFleetService(t *testing.T, caps []string) {
	b := newFleetBridge(t)
	ctx := context.Background()
	now := time.Now()
	token, cred := fleet.NewToken(now)
	if err := b.store.CreateTerminal(ctx, fleet.Terminal{ID: "press-07", Credentials: []fleet.Credential{cred}, CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	cfg := agent.DefaultConfig()
	cfg.TerminalID, cfg.ServerURL, cfg.Token, cfg.SpoolDir = "press-07", b.url, token, t.TempDir()
	cfg.BatchWindowMS, cfg.BatchMaxBytes = 20, 4096
	cfg.IdleBatchWindowMS = 0
	cfg.AckInterval = 0.2 // ask for acks soon, so that the spool empties within the test
	a := newAgent(t, cfg, agent.WithCapabilities(caps))
	const n = 600
	for i := 1; i <= n/2; i++ {
		a.Log("info", lineMsg(i), "vision")
	}
	start(t, a)
	for i := n/2 + 1; i <= n; i++ {
		a.Log("warn", lineMsg(i), "vision")
	}
	poll.Until(t, "every line stored and acknowledged", func() bool {
		term, err := b.store.Terminal(ctx, "press-07")
		return err == nil && term.LastSeq == n && a.Stats().SpoolLines == 0 && a.Stats().LastAckSeq == n
	})
	// The hello pull: status and config synced, the config under the
	// version the agent announces.
	poll.Until(t, "config and status synced", func() bool {
		term, err := b.store.Terminal(ctx, "press-07")
		return err == nil && term.Config.Version != "" && len(term.Status.Data) > 0
	})
	term, _ := b.store.Terminal(ctx, "press-07")
	if term.Config.Version != a.ConfigVersion() {
		t.Errorf("server's config version %s, agent's %s", term.Config.Version, a.ConfigVersion())
	}
	if strings.Contains(string(term.Config.Data), token) {
		t.Errorf("the stored config holds the token")
	}
	if !term.Online || term.AgentVersion == "" {
		t.Errorf("terminal record = %+v", term)
	}
	seen := map[uint64]bool{}
	err := b.store.ScanLogChunks(ctx, "press-07", 0, false, time.Now(), func(c fleet.LogChunk) bool {
		for _, e := range c.Entries {
			if e.Message != lineMsg(int(e.Seq)) {
				t.Errorf("seq %d stored as %q", e.Seq, e.Message)
			}
			seen[e.Seq] = true
		}
		return true
	})
	if err != nil || len(seen) != n {
		t.Errorf("stored %d distinct seqs (%v), want %d", len(seen), err, n)
	}
}
