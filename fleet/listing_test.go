package fleet_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/edgesync/edgesync/fleet"
)

// TestFilteredListingReadBudget: a filtered listing reads a bounded number
// of terminal records per call, whatever the fleet's size and however
// rare the matches, and its pages together list every match once, in id
// order. 1,200 terminals, 1 in 97 named "needle"; pages of 10.
func TestFilteredListingReadBudget(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := &countingStore{Store: openEmbedded(t)}
	const terminals = 1200
	var want, sevens []string
	for i := range terminals {
		if strings.Contains(fmt.Sprint(i), "7") {
			sevens = append(sevens, fmt.Sprintf("t-%04d", i))
		}
		id := fmt.Sprintf("t-%04d", i)
		name := fmt.Sprintf("camera %d", i)
		if i%97 == 5 {
			name = fmt.Sprintf("Needle %d", i)
			want = append(want, id)
		}
		if err := st.Store.CreateTerminal(ctx, fleet.Terminal{ID: id, Name: name, Groups: []string{fmt.Sprintf("g%d", i%3)}}); err != nil {
			t.Fatal(err)
		}
	}
	svc := fleet.NewService(st, nil, fleet.DefaultConfig())
	viewer := fleet.Principal{Subject: "v", Role: fleet.RoleViewer, Groups: []string{"g0", "g1", "g2"}}
	tests := []struct {
		name  string
		p     fleet.Principal
		q     fleet.TerminalQuery
		limit int
		want  []string
	}{
		{name: "admin search", p: fleet.System("test"), q: fleet.TerminalQuery{Search: "NEEDLE"}, limit: 10, want: want},
		{name: "admin search pages of 1", p: fleet.System("test"), q: fleet.TerminalQuery{Search: "needle"}, limit: 1, want: want},
		{name: "admin dense matches", p: fleet.System("test"), q: fleet.TerminalQuery{Search: "t-00"}, limit: 7, want: ids(0, 100)},
		{name: "admin pages ending inside a batch", p: fleet.System("test"), q: fleet.TerminalQuery{Search: "7"}, limit: 7, want: sevens},
		{name: "group user pages ending inside a batch", p: viewer, q: fleet.TerminalQuery{Search: "7"}, limit: 5, want: sevens},
		{name: "group user search", p: viewer, q: fleet.TerminalQuery{Search: "needle"}, limit: 10, want: want},
		{name: "group filter", p: fleet.System("test"), q: fleet.TerminalQuery{Group: "g1", Search: "needle"}, limit: 4, want: inGroup(want, 1)},
		{name: "no match", p: fleet.System("test"), q: fleet.TerminalQuery{Search: "nothing-is-called-this"}, limit: 10},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			cursor, calls := "", 0
			for {
				st.read.Store(0)
				q := tc.q
				q.Cursor, q.Limit = cursor, tc.limit
				ts, next, err := svc.QueryTerminals(ctx, tc.p, q)
				if err != nil {
					t.Fatalf("QueryTerminals(%+v): %v", q, err)
				}
				calls++
				// A group user's listing merges one listing per group, each
				// reading a record ahead (see TestGroupListingReadsAPage).
				bound := int64((fleet.FilterReadFactor + 1) * tc.limit)
				groups := len(tc.p.Groups)
				if tc.q.Group != "" {
					groups = 1
				}
				if groups > 0 {
					bound = int64(fleet.FilterReadFactor * (tc.limit + 1) * groups)
				}
				if n := st.read.Load(); n > bound {
					t.Errorf("call %d read %d records, want at most %d", calls, n, bound)
				}
				if len(ts) > tc.limit {
					t.Errorf("call %d listed %d terminals, more than the limit %d", calls, len(ts), tc.limit)
				}
				got = append(got, viewIDs(ts)...)
				if next == "" {
					break
				}
				if calls > terminals {
					t.Fatalf("more than %d calls: the cursor does not advance (last %q)", terminals, next)
				}
				cursor = next
			}
			if !slices.Equal(got, tc.want) {
				i := 0
				for i < len(got) && i < len(tc.want) && got[i] == tc.want[i] {
					i++
				}
				t.Errorf("listed %d terminals, want %d; they part at index %d: got %v, want %v", len(got), len(tc.want), i, got[i:min(i+3, len(got))], tc.want[i:min(i+3, len(tc.want))])
			}
			if minCalls := terminals / (fleet.FilterReadFactor * tc.limit); tc.q.Group == "" && len(tc.want) < terminals/10 && calls < minCalls {
				t.Errorf("%d calls for a sparse filter over %d terminals: a call read more than its budget", calls, terminals)
			}
		})
	}
}

// TestUnfilteredListingIsUnchanged: without filters pages are full and an
// admin's cursors are the store's own, as before filters existed.
func TestUnfilteredListingIsUnchanged(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := openEmbedded(t)
	for i := range 25 {
		if err := st.CreateTerminal(ctx, fleet.Terminal{ID: fmt.Sprintf("t-%04d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	svc := fleet.NewService(st, nil, fleet.DefaultConfig())
	cursor := ""
	var got []string
	for {
		ts, next, err := svc.Terminals(ctx, fleet.System("test"), cursor, 10)
		if err != nil {
			t.Fatal(err)
		}
		_, storeNext, err := st.Terminals(ctx, cursor, 10)
		if err != nil {
			t.Fatal(err)
		}
		if next != storeNext {
			t.Errorf("after %q: cursor %q, want the store's %q", cursor, next, storeNext)
		}
		if next != "" && len(ts) != 10 {
			t.Errorf("after %q: %d terminals, want a full page", cursor, len(ts))
		}
		got = append(got, viewIDs(ts)...)
		if next == "" {
			break
		}
		cursor = next
	}
	if !slices.Equal(got, ids(0, 25)) {
		t.Errorf("listed %v", got)
	}
}

func TestQueryTerminalsRefusesBadQueries(t *testing.T) {
	t.Parallel()
	svc := fleet.NewService(openEmbedded(t), nil, fleet.DefaultConfig())
	tests := []struct {
		name string
		q    fleet.TerminalQuery
	}{
		{"limit 0", fleet.TerminalQuery{}},
		{"limit too big", fleet.TerminalQuery{Limit: fleet.MaxPageSize + 1}},
		{"group with a space", fleet.TerminalQuery{Limit: 1, Group: "a b"}},
		{"long search", fleet.TerminalQuery{Limit: 1, Search: strings.Repeat("x", 201)}},
		{"search not UTF-8", fleet.TerminalQuery{Limit: 1, Search: "\xff"}},
		{"long agent version", fleet.TerminalQuery{Limit: 1, AgentVersion: strings.Repeat("1", 129)}},
		{"forged skip cursor", fleet.TerminalQuery{Limit: 1, Cursor: "~bm90IGpzb24"}},
		{"skip cursor with a bad id", fleet.TerminalQuery{Limit: 1, Cursor: "~eyJjIjoiIiwiYSI6ImEgYiJ9"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if _, _, err := svc.QueryTerminals(context.Background(), fleet.System("test"), tc.q); !errors.Is(err, fleet.ErrInvalid) {
				t.Errorf("QueryTerminals(%+v) = %v, want ErrInvalid", tc.q, err)
			}
		})
	}
}

func ids(from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf("t-%04d", i))
	}
	return out
}

func inGroup(list []string, g int) []string {
	var out []string
	for _, id := range list {
		var n int
		fmt.Sscanf(id, "t-%d", &n)
		if n%3 == g {
			out = append(out, id)
		}
	}
	return out
}

func viewIDs(ts []fleet.TerminalView) []string {
	out := make([]string, 0, len(ts))
	for _, v := range ts {
		out = append(out, v.ID)
	}
	return out
}
