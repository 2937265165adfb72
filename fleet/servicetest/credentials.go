package servicetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/edgesync/edgesync/fleet"
)

func testRotateAndRevoke(t *testing.T, e *env) {
	ctx := context.Background()
	old := e.terminal(t, "t1")
	fresh, err := e.svc.RotateToken(ctx, admin, "t1", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	try := func(name, token string, want error) {
		t.Helper()
		err := e.svc.Connect(ctx, fleet.ConnectRequest{ConnectionID: "c-" + name, TerminalID: "t1", Token: token})
		if !errors.Is(err, want) && !(want == nil && err == nil) {
			t.Errorf("%s: got %v, want %v", name, err, want)
		}
	}
	try("old token inside the overlap", old, nil)
	try("new token", fresh, nil)
	e.clock.Advance(time.Hour)
	try("old token after the overlap", old, fleet.ErrForbidden)
	try("new token after the overlap", fresh, nil)
	if err := e.svc.RevokeToken(ctx, admin, "t1", ""); err != nil {
		t.Fatal(err)
	}
	try("revoked token", fresh, fleet.ErrForbidden)
	if err := e.svc.RevokeToken(ctx, admin, "t1", "nope"); !errors.Is(err, fleet.ErrNotFound) {
		t.Errorf("revoke unknown credential: got %v, want ErrNotFound", err)
	}
}
