package servicetest

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/edgesync/edgesync/fleet"
)

func testCommandLifecycle(t *testing.T, e *env) {
	ctx := context.Background()
	token := e.terminal(t, "t1")
	e.connect(t, "t1", token, "c1")

	ok, err := e.svc.SendCommand(ctx, admin, "t1", "ping", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	// set_config goes through SetConfig only (validated, versioned, audited).
	if _, err := e.svc.SendCommand(ctx, admin, "t1", "set_config", json.RawMessage(`{"config":{}}`), 0); !errors.Is(err, fleet.ErrInvalid) {
		t.Fatalf("set_config through SendCommand: got %v, want ErrInvalid", err)
	}
	failed, err := e.svc.SetConfig(ctx, admin, "t1", json.RawMessage(`{"threshold":7}`))
	if err != nil {
		t.Fatal(err)
	}
	slow, _ := e.svc.SendCommand(ctx, admin, "t1", "ping", nil, 0)
	pushed := e.push.take(t, "c1")
	if len(pushed) != 3 {
		t.Fatalf("pushed: got %d messages, want 3", len(pushed))
	}
	respond(t, e, "c1", pushed[0], true, map[string]any{})
	respond(t, e, "c1", pushed[1], false, "config rejected: threshold out of range")
	e.clock.Advance(10 * time.Second)
	respond(t, e, "c1", pushed[2], true, map[string]any{}) // late: at the deadline
	tests := []struct {
		name string
		id   string
		want fleet.CommandState
	}{
		{"answered", ok.RequestID, fleet.CommandSucceeded},
		{"failed", failed.RequestID, fleet.CommandFailed},
		{"late answer", slow.RequestID, fleet.CommandTimedOut},
	}
	for _, tt := range tests {
		c, err := e.svc.Command(ctx, admin, "t1", tt.id)
		if err != nil {
			t.Fatal(err)
		}
		if c.State != tt.want {
			t.Errorf("%s: got %s, want %s", tt.name, c.State, tt.want)
		}
	}
	if _, err := e.svc.SendCommand(ctx, admin, "t1", "reboot", nil, 0); !errors.Is(err, fleet.ErrInvalid) {
		t.Errorf("unknown command: got %v, want ErrInvalid", err)
	}
	if _, err := e.svc.Command(ctx, admin, "t1", "nope"); !errors.Is(err, fleet.ErrNotFound) {
		t.Errorf("unknown request id: got %v, want ErrNotFound", err)
	}
}
