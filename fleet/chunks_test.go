package fleet_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/edgesync/edgesync/fleet"
	"github.com/edgesync/edgesync/protocol"
)

// refusingStore refuses every log chunk as a store refuses one it cannot
// hold (the DynamoDB store, an item over 400 KB): fleet.ErrInvalid.
type refusingStore struct{ fleet.Store }

func (refusingStore) PutLogChunk(context.Context, fleet.LogChunk, uint64) error {
	return fmt.Errorf("put log chunk: %w: the item would be 500000 bytes", fleet.ErrInvalid)
}

// pushes keeps the messages pushed, decoded.
type pushes struct {
	mu   sync.Mutex
	msgs []map[string]any
}

func (p *pushes) Push(_ context.Context, _ string, msg []byte) error {
	var m map[string]any
	_ = json.Unmarshal(msg, &m)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.msgs = append(p.msgs, m)
	return nil
}

// TestChunkTheStoreRefusesIsTooLarge: a batch the store cannot hold is
// answered too_large (the agent resends it in halves), not internal (which
// it would resend as is, forever), and the command that carried it fails
// naming the reason.
func TestChunkTheStoreRefusesIsTooLarge(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	push := &pushes{}
	svc := fleet.NewService(refusingStore{openEmbedded(t)}, push, fleet.DefaultConfig())
	token, err := svc.CreateTerminal(ctx, fleet.System("test"), "t1", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Connect(ctx, fleet.ConnectRequest{ConnectionID: "c1", TerminalID: "t1", Token: token}); err != nil {
		t.Fatal(err)
	}
	body := `{"type":"logs","entries":[{"seq":1,"ts":"2026-11-27T09:00:00Z","level":"info","msg":"a"}]}`
	if err := svc.HandleMessage(ctx, "c1", []byte(body)); err != nil {
		t.Fatalf("HandleMessage: %v, want the refusal answered, not a service failure", err)
	}
	if len(push.msgs) != 1 || push.msgs[0]["type"] != "error" || push.msgs[0]["code"] != protocol.CodeTooLarge {
		t.Fatalf("answer to a batch the store refused: %v, want one error too_large", push.msgs)
	}
	c, err := svc.SendCommand(ctx, fleet.System("test"), "t1", "get_logs", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	answer := fmt.Sprintf(`{"type":"command_response","request_id":%q,"command":"get_logs","success":true,"result":{"entries":[{"seq":1,"ts":"2026-11-27T09:00:00Z","msg":"a"}]}}`, c.RequestID)
	if err := svc.HandleMessage(ctx, "c1", []byte(answer)); err != nil {
		t.Fatal(err)
	}
	got, err := svc.Command(ctx, fleet.System("test"), "t1", c.RequestID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != fleet.CommandFailed || !strings.Contains(got.Error, "too large") {
		t.Errorf("get_logs whose lines the store refused: %s %q, want failed saying why", got.State, got.Error)
	}
}

// conflictingStore loses every credential write to a concurrent change.
type conflictingStore struct {
	fleet.Store
	writes int
}

func (c *conflictingStore) SetCredentials(context.Context, string, []fleet.Credential, uint64) error {
	c.writes++
	return fmt.Errorf("set credentials: %w", fleet.ErrConflict)
}

// TestCredentialChangeRetriesThenConflicts: a credential change that keeps
// losing to concurrent changes reads again a few times, then answers
// ErrConflict (HTTP 409) having changed nothing.
func TestCredentialChangeRetriesThenConflicts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := &conflictingStore{Store: openEmbedded(t)}
	svc := fleet.NewService(st, &pushes{}, fleet.DefaultConfig())
	if _, err := svc.CreateTerminal(ctx, fleet.System("test"), "t1", "", nil); err != nil {
		t.Fatal(err)
	}
	for name, change := range map[string]func() error{
		"rotate": func() error { _, err := svc.RotateToken(ctx, fleet.System("test"), "t1", 0); return err },
		"revoke": func() error { return svc.RevokeToken(ctx, fleet.System("test"), "t1", "") },
	} {
		st.writes = 0
		if err := change(); !errors.Is(err, fleet.ErrConflict) {
			t.Errorf("%s losing every race: %v, want ErrConflict", name, err)
		}
		if st.writes < 2 || st.writes > 5 {
			t.Errorf("%s tried %d writes, want a few attempts (2 to 5)", name, st.writes)
		}
	}
}
