package fleet_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

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
