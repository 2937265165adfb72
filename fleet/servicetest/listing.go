package servicetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/edgesync/edgesync/fleet"
)

// groupFleet creates n terminals "g-00".."g-<n-1>" in groups a, b and c
// by turns (i%3), and returns the ids of each group.
func groupFleet(t *testing.T, e *env, n int) map[string][]string {
	t.Helper()
	byGroup := map[string][]string{}
	for i := n - 1; i >= 0; i-- { // out of order: the store sorts
		id := fmt.Sprintf("g-%02d", i)
		g := string(rune('a' + i%3))
		e.terminal(t, id, g)
	}
	for i := 0; i < n; i++ {
		g := string(rune('a' + i%3))
		byGroup[g] = append(byGroup[g], fmt.Sprintf("g-%02d", i))
	}
	return byGroup
}

// pages lists everything p sees with pages of limit and returns the pages' ids.
func pages(t *testing.T, e *env, p fleet.Principal, limit int) [][]string {
	t.Helper()
	var out [][]string
	cursor := ""
	for n := 0; ; n++ {
		if n > 1000 {
			t.Fatalf("more than 1000 pages of %d; the cursor does not advance", limit)
		}
		ts, next, err := e.svc.Terminals(context.Background(), p, cursor, limit)
		if err != nil {
			t.Fatalf("Terminals(%q, %d) as %s: %v", cursor, limit, p.Subject, err)
		}
		var page []string
		for _, v := range ts {
			page = append(page, v.ID)
		}
		out = append(out, page)
		if next == "" {
			return out
		}
		if len(page) == 0 {
			t.Fatalf("page %d is empty and has next cursor %q", n, next)
		}
		if !p.Can(fleet.RoleAdmin) && next != page[len(page)-1] {
			t.Fatalf("page %v has next cursor %q; want the last id listed", page, next)
		}
		cursor = next
	}
}

// testGroupPagesAreFull: a user of groups a and b pages exactly the
// terminals of a and b, in id order; every page but the last is full, no
// page is empty unless there is nothing to list, and no cursor names a
// terminal of group c.
func testGroupPagesAreFull(t *testing.T, e *env) {
	ctx := context.Background()
	byGroup := groupFleet(t, e, 30)
	user := fleet.Principal{Subject: "ab", Role: fleet.RoleViewer, Groups: []string{"a", "b", "no-such-group"}}
	want := slices.Concat(byGroup["a"], byGroup["b"])
	slices.Sort(want)
	for _, limit := range []int{1, 3, 7, 19, 20, 21, fleet.MaxPageSize} {
		got := pages(t, e, user, limit)
		var all []string
		for i, page := range got {
			if i < len(got)-1 && len(page) != limit {
				t.Errorf("limit %d: page %d holds %d terminals %v, want a full page", limit, i, len(page), page)
			}
			if len(page) == 0 {
				t.Errorf("limit %d: page %d is empty", limit, i)
			}
			all = append(all, page...)
		}
		if !slices.Equal(all, want) {
			t.Errorf("limit %d: listed %v, want %v", limit, all, want)
		}
	}
	// A cursor naming another group's terminal continues after it in id
	// order, with the user's terminals only.
	ts, _, err := e.svc.Terminals(ctx, user, byGroup["c"][0], 3)
	if err != nil {
		t.Fatal(err)
	}
	if got := viewIDs(ts); !slices.Equal(got, []string{"g-03", "g-04", "g-06"}) {
		t.Errorf("after %s: %v, want g-03 g-04 g-06", byGroup["c"][0], got)
	}
	if _, _, err := e.svc.Terminals(ctx, user, "not an id", 3); !errors.Is(err, fleet.ErrInvalid) {
		t.Errorf("malformed cursor: %v, want ErrInvalid", err)
	}
	for _, p := range []fleet.Principal{
		{Subject: "none", Role: fleet.RoleOperator},
		{Subject: "empty", Role: fleet.RoleViewer, Groups: []string{"no-such-group"}},
	} {
		if got := pages(t, e, p, 5); len(got) != 1 || len(got[0]) != 0 {
			t.Errorf("%s lists %v, want one empty page", p.Subject, got)
		}
	}
}

// testTerminalInSeveralGroupsListedOnce: a terminal in two of the user's
// groups is listed once.
func testTerminalInSeveralGroupsListedOnce(t *testing.T, e *env) {
	for _, tt := range []struct {
		id     string
		groups []string
	}{{"t1", []string{"a"}}, {"t2", []string{"a", "b"}}, {"t3", []string{"b"}}, {"t4", []string{"b", "a", "c"}}, {"t5", []string{"c"}}} {
		e.terminal(t, tt.id, tt.groups...)
	}
	user := fleet.Principal{Subject: "ab", Role: fleet.RoleViewer, Groups: []string{"b", "a", "a"}}
	for _, limit := range []int{1, 2, 10} {
		got := slices.Concat(pages(t, e, user, limit)...)
		if !slices.Equal(got, []string{"t1", "t2", "t3", "t4"}) {
			t.Errorf("limit %d: %v, want t1 t2 t3 t4 once each", limit, got)
		}
	}
}

// testAdminsListTheFleet: admins and the system list every terminal,
// grouped or not.
func testAdminsListTheFleet(t *testing.T, e *env) {
	byGroup := groupFleet(t, e, 9)
	e.terminal(t, "loner")
	want := slices.Concat(byGroup["a"], byGroup["b"], byGroup["c"], []string{"loner"})
	slices.Sort(want)
	for _, p := range []fleet.Principal{adminUser, admin} {
		if got := slices.Concat(pages(t, e, p, 4)...); !slices.Equal(got, want) {
			t.Errorf("%s lists %v, want %v", p.Subject, got, want)
		}
	}
	if _, _, err := e.svc.Terminals(context.Background(), fleet.TerminalPrincipal("loner"), "", 4); !errors.Is(err, fleet.ErrForbidden) {
		t.Errorf("a terminal lists the fleet: %v, want ErrForbidden", err)
	}
}

func viewIDs(vs []fleet.TerminalView) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = v.ID
	}
	return out
}

// testFilters: every filter of QueryTerminals, alone and together, for an
// admin and for a user of two groups, at several page sizes: the pages
// together list exactly the matching terminals the caller sees, in id
// order, each page within its limit; each row's summary comes from the
// terminal's last status.
func testFilters(t *testing.T, e *env) {
	ctx := context.Background()
	type row struct {
		id, name, group, version string
		online, status           bool
	}
	var rows []row
	for i := range 18 {
		r := row{id: fmt.Sprintf("f-%02d", i), name: fmt.Sprintf("Press %d", i), group: string(rune('a' + i%3))}
		if i%2 == 1 {
			r.name = fmt.Sprintf("Camera %d", i)
		}
		token := e.terminalNamed(t, r.id, r.name, r.group)
		if i%4 != 3 {
			conn := "c-" + r.id
			e.connect(t, r.id, token, conn)
			r.online = true
			r.version = "2.0"
			if i%5 == 0 {
				r.version = "1.9"
			}
			e.send(t, conn, map[string]any{"type": "hello", "agent_version": r.version})
			if i%2 == 0 {
				e.send(t, conn, map[string]any{"type": "status", "status": map[string]any{"cpu_percent": float64(i), "memory_percent": 50.5, "disk_percent": 12}})
				r.status = true
			}
		}
		rows = append(rows, r)
	}
	// Past the status TTL but within the inactivity timeout: statuses are
	// stale, the connected terminals still online.
	e.clock.Advance(fleet.DefaultConfig().StatusTTL + time.Second)
	user := fleet.Principal{Subject: "ab", Role: fleet.RoleViewer, Groups: []string{"a", "b"}}
	yes, no := true, false
	tests := []struct {
		name string
		q    fleet.TerminalQuery
		keep func(row) bool
	}{
		{"no filter", fleet.TerminalQuery{}, func(row) bool { return true }},
		{"search name, any case", fleet.TerminalQuery{Search: "cAMERA"}, func(r row) bool { return strings.HasPrefix(r.name, "Camera") }},
		{"search id", fleet.TerminalQuery{Search: "F-1"}, func(r row) bool { return strings.HasPrefix(r.id, "f-1") }},
		{"online", fleet.TerminalQuery{Online: &yes}, func(r row) bool { return r.online }},
		{"offline", fleet.TerminalQuery{Online: &no}, func(r row) bool { return !r.online }},
		{"stale", fleet.TerminalQuery{Stale: &yes}, func(r row) bool { return r.status }},
		{"not stale", fleet.TerminalQuery{Stale: &no}, func(r row) bool { return !r.status }},
		{"agent version", fleet.TerminalQuery{AgentVersion: "1.9"}, func(r row) bool { return r.version == "1.9" }},
		{"group", fleet.TerminalQuery{Group: "b"}, func(r row) bool { return r.group == "b" }},
		{"group and online and search", fleet.TerminalQuery{Group: "a", Online: &yes, Search: "press"}, func(r row) bool {
			return r.group == "a" && r.online && strings.HasPrefix(r.name, "Press")
		}},
	}
	for _, p := range []fleet.Principal{adminUser, user} {
		for _, tc := range tests {
			var want []string
			for _, r := range rows {
				if tc.keep(r) && p.Sees(fleet.Terminal{ID: r.id, Groups: []string{r.group}}) {
					want = append(want, r.id)
				}
			}
			for _, limit := range []int{1, 2, 5, fleet.MaxPageSize} {
				var got []string
				q := tc.q
				q.Limit = limit
				for n := 0; ; n++ {
					ts, next, err := e.svc.QueryTerminals(ctx, p, q)
					if err != nil {
						t.Fatalf("%s as %s: QueryTerminals(%+v): %v", tc.name, p.Subject, q, err)
					}
					if len(ts) > limit {
						t.Errorf("%s as %s, limit %d: a page of %d", tc.name, p.Subject, limit, len(ts))
					}
					got = append(got, viewIDs(ts)...)
					if next == "" {
						break
					}
					if n > 100 {
						t.Fatalf("%s as %s: the cursor does not advance", tc.name, p.Subject)
					}
					q.Cursor = next
				}
				if !slices.Equal(got, want) {
					t.Errorf("%s as %s, limit %d: listed %v, want %v", tc.name, p.Subject, limit, got, want)
				}
			}
		}
	}
	// A group the user is not in lists nothing, as if it were empty.
	if ts, next, err := e.svc.QueryTerminals(ctx, user, fleet.TerminalQuery{Group: "c", Limit: 10}); err != nil || len(ts) != 0 || next != "" {
		t.Errorf("another group: %v, %q, %v; want nothing", viewIDs(ts), next, err)
	}
	ts, _, err := e.svc.QueryTerminals(ctx, adminUser, fleet.TerminalQuery{Search: "f-04", Limit: 10})
	if err != nil || len(ts) != 1 {
		t.Fatalf("f-04: %v, %v", viewIDs(ts), err)
	}
	s := ts[0].Summary
	if s.CPU == nil || *s.CPU != 4 || s.Memory == nil || *s.Memory != 50.5 || s.Disk == nil || *s.Disk != 12 || s.Dropped != 0 {
		t.Errorf("f-04 summary = %+v, want cpu 4, memory 50.5, disk 12, dropped 0", s)
	}
	ts, _, err = e.svc.QueryTerminals(ctx, adminUser, fleet.TerminalQuery{Search: "f-03", Limit: 10})
	if err != nil || len(ts) != 1 {
		t.Fatalf("f-03: %v, %v", viewIDs(ts), err)
	}
	if s := ts[0].Summary; s.CPU != nil || s.Memory != nil || s.Disk != nil {
		t.Errorf("f-03 never reported a status; summary = %+v, want no figures", s)
	}
}
