package fleet_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgesync/edgesync/fleet"
)

// countingStore counts the terminal records a store hands the service.
type countingStore struct {
	fleet.Store
	read atomic.Int64
}

func (c *countingStore) Terminal(ctx context.Context, id string) (fleet.Terminal, error) {
	t, err := c.Store.Terminal(ctx, id)
	if err == nil {
		c.read.Add(1)
	}
	return t, err
}

func (c *countingStore) Terminals(ctx context.Context, cursor string, limit int) ([]fleet.Terminal, string, error) {
	ts, next, err := c.Store.Terminals(ctx, cursor, limit)
	c.read.Add(int64(len(ts)))
	return ts, next, err
}

func (c *countingStore) GroupTerminals(ctx context.Context, group, after string, limit int) ([]fleet.Terminal, error) {
	ts, err := c.Store.GroupTerminals(ctx, group, after, limit)
	c.read.Add(int64(len(ts)))
	return ts, err
}

// TestGroupListingReadsAPage: listing the terminals of a user's groups
// reads in proportion to the page, not to the fleet: a page of 10 for a
// user of 2 of 40 groups of a 1,200-terminal fleet reads at most
// 2·(10+1) records, and the whole listing of the user's 60 terminals at
// most that per page.
func TestGroupListingReadsAPage(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := &countingStore{Store: openEmbedded(t)}
	const terminals, groups = 1200, 40
	for i := range terminals {
		id := fmt.Sprintf("t-%04d", i)
		if err := st.Store.CreateTerminal(ctx, fleet.Terminal{ID: id, Groups: []string{fmt.Sprintf("g%02d", i%groups)}}); err != nil {
			t.Fatal(err)
		}
	}
	svc := fleet.NewService(st, nil, fleet.DefaultConfig())
	user := fleet.Principal{Subject: "u", Role: fleet.RoleViewer, Groups: []string{"g07", "g31"}}
	const limit = 10
	maxPerPage := int64(len(user.Groups) * (limit + 1))
	listed, pages := 0, 0
	cursor := ""
	for {
		st.read.Store(0)
		ts, next, err := svc.Terminals(ctx, user, cursor, limit)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		listed += len(ts)
		if n := st.read.Load(); n > maxPerPage {
			t.Errorf("page %d (%d terminals) read %d records of a %d-terminal fleet, want at most %d", pages, len(ts), n, terminals, maxPerPage)
		}
		if next == "" {
			break
		}
		cursor = next
	}
	if want := 2 * terminals / groups; listed != want || pages != want/limit {
		t.Errorf("listed %d terminals in %d pages, want %d in %d full pages", listed, pages, want, want/limit)
	}
}

// discard is a pusher that accepts every message.
type discard struct{}

func (discard) Push(context.Context, string, []byte) error { return nil }

// TestOneTerminalReadPerCall: each call a request makes reads its terminal
// record once (GET /terminals/{id}/config used to read it three times).
func TestOneTerminalReadPerCall(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := &countingStore{Store: openEmbedded(t)}
	svc := fleet.NewService(st, discard{}, fleet.DefaultConfig())
	admin := fleet.System("test")
	token, err := svc.CreateTerminal(ctx, admin, "t1", "", []string{"g"})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Connect(ctx, fleet.ConnectRequest{ConnectionID: "c1", TerminalID: "t1", Token: token}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.SetConfig(ctx, admin, "t1", json.RawMessage(`{"a":1}`)); err != nil {
		t.Fatal(err)
	}
	operator := fleet.Principal{Subject: "o", Role: fleet.RoleOperator, Groups: []string{"g"}}
	// In this order: the revocation ends the connection the others need.
	calls := []struct {
		name string
		call func() error
	}{
		{"Terminal", func() error { _, err := svc.Terminal(ctx, operator, "t1"); return err }},
		{"TerminalConfig", func() error { _, err := svc.TerminalConfig(ctx, operator, "t1"); return err }},
		{"TerminalStatus", func() error { _, err := svc.TerminalStatus(ctx, operator, "t1"); return err }},
		{"StatusHistory", func() error { _, err := svc.StatusHistory(ctx, operator, "t1", time.Time{}, 10); return err }},
		{"TerminalLogs", func() error { _, err := svc.TerminalLogs(ctx, operator, "t1", fleet.LogQuery{}); return err }},
		{"SetConfig", func() error {
			_, err := svc.SetConfig(ctx, operator, "t1", json.RawMessage(`{"a":2}`))
			return err
		}},
		{"SendCommand", func() error { _, err := svc.SendCommand(ctx, operator, "t1", "ping", nil, 0); return err }},
		{"Sync", func() error { _, err := svc.Sync(ctx, operator, "t1"); return err }},
		{"Credentials", func() error { _, err := svc.Credentials(ctx, admin, "t1"); return err }},
		{"RotateToken", func() error { _, err := svc.RotateToken(ctx, admin, "t1", time.Hour); return err }},
		{"RevokeToken", func() error { return svc.RevokeToken(ctx, admin, "t1", "") }},
	}
	for _, c := range calls {
		st.read.Store(0)
		if err := c.call(); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if n := st.read.Load(); n != 1 {
			t.Errorf("%s read the terminal %d times, want once", c.name, n)
		}
	}
}
