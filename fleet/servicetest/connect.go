package servicetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/edgesync/edgesync/fleet"
)

func testConnectAuthentication(t *testing.T, e *env) {
	token := e.terminal(t, "t1")
	revokedToken := e.terminal(t, "t2")
	tr, err := e.store.Terminal(context.Background(), "t2")
	if err != nil {
		t.Fatal(err)
	}
	tr.Credentials[0].NotAfter = e.clock.Now().Add(-time.Second)
	if err := e.store.SetCredentials(context.Background(), "t2", tr.Credentials, tr.CredentialsVersion); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		id, token string
		want      error
	}{
		{"no terminal id", "", token, fleet.ErrUnauthenticated},
		{"no token", "t1", "", fleet.ErrUnauthenticated},
		{"malformed id", "../etc", token, fleet.ErrInvalid},
		{"unknown terminal", "nope", token, fleet.ErrForbidden},
		{"wrong token", "t1", token + "x", fleet.ErrForbidden},
		{"another terminal's token", "t1", revokedToken, fleet.ErrForbidden},
		{"revoked token", "t2", revokedToken, fleet.ErrForbidden},
		{"good", "t1", token, nil},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := e.svc.Connect(context.Background(), fleet.ConnectRequest{ConnectionID: fmt.Sprintf("c%d", i), TerminalID: tt.id, Token: tt.token})
			if !errors.Is(err, tt.want) && !(tt.want == nil && err == nil) {
				t.Fatalf("Connect: got %v, want %v", err, tt.want)
			}
		})
	}
	v, err := e.svc.Terminal(context.Background(), admin, "t1")
	if err != nil {
		t.Fatal(err)
	}
	if !v.Online {
		t.Errorf("t1 online: got false, want true after a good connect")
	}
}

func testDisconnectAfterReconnectKeepsTerminalOnline(t *testing.T, e *env) {
	ctx := context.Background()
	token := e.terminal(t, "t1")
	e.connect(t, "t1", token, "old")
	e.clock.Advance(time.Second)
	e.connect(t, "t1", token, "new")
	if err := e.svc.Disconnect(ctx, "old", "close 1006"); err != nil {
		t.Fatal(err)
	}
	v, _ := e.svc.Terminal(ctx, admin, "t1")
	if !v.Online {
		t.Fatalf("after the old connection's late $disconnect: offline, want online on the new connection")
	}
	if err := e.svc.Disconnect(ctx, "new", "close 1000"); err != nil {
		t.Fatal(err)
	}
	v, _ = e.svc.Terminal(ctx, admin, "t1")
	if v.Online || v.DisconnectReason != "close 1000" {
		t.Fatalf("after the current connection's $disconnect: online=%v reason=%q, want offline with reason", v.Online, v.DisconnectReason)
	}
	if err := e.svc.Disconnect(ctx, "new", "again"); err != nil {
		t.Errorf("repeated $disconnect: %v, want nil (idempotent)", err)
	}
}

// testReconnectRaceKeepsNewerConnection: the older connection's $connect
// is handled last, yet the newer connection (by API Gateway's
// connectedAt) stays current and the older one's $disconnect changes nothing.
func testReconnectRaceKeepsNewerConnection(t *testing.T, e *env) {
	ctx := context.Background()
	token := e.terminal(t, "t1")
	opened := e.clock.Now().Add(-2 * time.Second)
	newer := fleet.ConnectRequest{ConnectionID: "new", TerminalID: "t1", Token: token, ConnectedAt: opened.Add(time.Second)}
	older := fleet.ConnectRequest{ConnectionID: "old", TerminalID: "t1", Token: token, ConnectedAt: opened}
	if err := e.svc.Connect(ctx, newer); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Connect(ctx, older); err != nil {
		t.Fatal(err)
	}
	tr, _ := e.store.Terminal(ctx, "t1")
	if tr.ConnectionID != "new" {
		t.Fatalf("current connection: got %q, want new", tr.ConnectionID)
	}
	if err := e.svc.Disconnect(ctx, "old", "close 1006"); err != nil {
		t.Fatal(err)
	}
	if v, _ := e.svc.Terminal(ctx, admin, "t1"); !v.Online {
		t.Errorf("after the older connection's $disconnect: offline, want online on the newer one")
	}
}

func testGoneConnectionIsCleanedUp(t *testing.T, e *env) {
	ctx := context.Background()
	token := e.terminal(t, "t1")
	e.connect(t, "t1", token, "c1")
	e.push.setGone("c1")
	if _, err := e.svc.SendCommand(ctx, admin, "t1", "ping", nil, 0); !errors.Is(err, fleet.ErrOffline) {
		t.Fatalf("command to a gone connection: got %v, want ErrOffline", err)
	}
	v, _ := e.svc.Terminal(ctx, admin, "t1")
	if v.Online || v.DisconnectReason != "gone" {
		t.Errorf("after 410: online=%v reason=%q, want offline, gone", v.Online, v.DisconnectReason)
	}
	if _, err := e.store.Connection(ctx, "c1", e.clock.Now()); !errors.Is(err, fleet.ErrNotFound) {
		t.Errorf("connection record after 410: got %v, want ErrNotFound", err)
	}
}

func testInactiveTerminalReadsOffline(t *testing.T, e *env) {
	ctx := context.Background()
	token := e.terminal(t, "t1")
	e.connect(t, "t1", token, "c1")
	e.clock.Advance(119 * time.Second)
	if v, _ := e.svc.Terminal(ctx, admin, "t1"); !v.Online {
		t.Fatalf("119 s after the last message: offline, want online")
	}
	e.clock.Advance(time.Second)
	v, _ := e.svc.Terminal(ctx, admin, "t1")
	if v.Online || !v.Inactive {
		t.Fatalf("120 s after the last message: online=%v inactive=%v, want offline and inactive", v.Online, v.Inactive)
	}
	if _, err := e.svc.SendCommand(ctx, admin, "t1", "ping", nil, 0); !errors.Is(err, fleet.ErrOffline) {
		t.Errorf("command to an inactive terminal: got %v, want ErrOffline", err)
	}
}
