package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/edgesync/edgesync/fleet"
)

func groupContracts() []contract {
	return []contract{
		{"GroupTerminals/Paging", testGroupPaging},
		{"GroupTerminals/CurrentRecords", testGroupCurrentRecords},
		{"GroupTerminals/ExistingIDDoesNotJoin", testGroupExistingIDDoesNotJoin},
		{"GroupTerminals/ManyTerminals", testGroupManyTerminals},
	}
}

// group returns a group name unique to the test t, this run and suffix, so
// that a shared store's other tests never add terminals to it.
func (e env) group(t testing.TB, suffix string) string {
	t.Helper()
	return "g." + e.id(t, suffix)
}

// createIn stores newTerminal(id) in groups and returns it.
func createIn(t *testing.T, st fleet.Store, id string, groups ...string) fleet.Terminal {
	t.Helper()
	term := newTerminal(id)
	term.Groups = groups
	if err := st.CreateTerminal(context.Background(), term); err != nil {
		t.Fatalf("CreateTerminal(%s): %v", id, err)
	}
	return term
}

// listGroup walks group's whole listing with pages of limit and returns
// the ids, checking that every page but the last is full.
func listGroup(t *testing.T, st fleet.Store, group string, limit int) []string {
	t.Helper()
	var ids []string
	after := ""
	for page := 0; ; page++ {
		if page > 10000 {
			t.Fatalf("GroupTerminals(%q, _, %d): more than 10000 pages; after does not advance", group, limit)
		}
		terms, err := st.GroupTerminals(context.Background(), group, after, limit)
		if err != nil {
			t.Fatalf("GroupTerminals(%q, %q, %d): %v", group, after, limit, err)
		}
		if len(terms) > limit {
			t.Fatalf("GroupTerminals(%q, %q, %d): %d terminals, want at most %d", group, after, limit, len(terms), limit)
		}
		for _, term := range terms {
			if term.ID <= after {
				t.Fatalf("GroupTerminals(%q, %q, %d): id %q is not after %q; want ascending ids after the cursor", group, after, limit, term.ID, after)
			}
			after = term.ID
			ids = append(ids, term.ID)
		}
		if len(terms) < limit {
			return ids // fewer than limit: nothing more
		}
	}
}

// testGroupPaging lists two overlapping groups with several page sizes:
// each lists exactly its terminals in id order, whatever the page size,
// and never a terminal of another group or of none.
func testGroupPaging(t *testing.T, e env) {
	ctx := context.Background()
	a, b, empty := e.group(t, "a"), e.group(t, "b"), e.group(t, "empty")
	var inA, inB []string
	// Created out of order to show the store sorts; ids sort by suffix.
	for i := 11; i >= 0; i-- {
		id := e.id(t, fmt.Sprintf("%02d", i))
		var groups []string
		switch {
		case i%4 == 0:
			groups = []string{a, b}
		case i%4 == 1:
			groups = []string{a}
		case i%4 == 2:
			groups = []string{b, e.group(t, "other")}
		}
		createIn(t, e.store, id, groups...)
	}
	for i := 0; i <= 11; i++ {
		id := e.id(t, fmt.Sprintf("%02d", i))
		if i%4 == 0 || i%4 == 1 {
			inA = append(inA, id)
		}
		if i%4 == 0 || i%4 == 2 {
			inB = append(inB, id)
		}
	}
	for _, limit := range []int{1, 2, 5, 6, 7, 1000} {
		for _, g := range []struct {
			name string
			want []string
		}{{a, inA}, {b, inB}, {empty, nil}} {
			if got := listGroup(t, e.store, g.name, limit); !sameStrings(got, g.want) {
				t.Errorf("group %s with limit %d:\n  got  %q\n  want %q", g.name, limit, got, g.want)
			}
		}
	}
	// The records are whole, and after may name any id, in the group or not.
	terms, err := e.store.GroupTerminals(ctx, a, e.id(t, "02"), 2)
	if err != nil {
		t.Fatalf("GroupTerminals after an id outside the group: %v", err)
	}
	if len(terms) != 2 || terms[0].ID != e.id(t, "04") || terms[1].ID != e.id(t, "05") {
		t.Fatalf("GroupTerminals(%s, after %s, 2): got %d terminals %v, want 04 and 05", a, e.id(t, "02"), len(terms), ids(terms))
	}
	want := newTerminal(e.id(t, "04"))
	want.Groups = []string{a, b}
	checkTerminal(t, terms[0], want)
	if terms, err := e.store.GroupTerminals(ctx, a, e.id(t, "99"), 5); err != nil || len(terms) != 0 {
		t.Errorf("GroupTerminals after the last id: got %v, %v; want none", ids(terms), err)
	}
	_, err = e.store.GroupTerminals(ctx, a, "", 0)
	wantErr(t, "GroupTerminals with limit 0", err, fleet.ErrInvalid)
}

// testGroupCurrentRecords: the listing returns the terminal record as it
// is now, not as it was created.
func testGroupCurrentRecords(t *testing.T, e env) {
	ctx := context.Background()
	g := e.group(t, "g")
	id := e.id(t, "a")
	want := createIn(t, e.store, id, g)
	if err := e.store.MarkOnline(ctx, id, "Cn-1=", at(time.Minute)); err != nil {
		t.Fatalf("MarkOnline: %v", err)
	}
	if err := e.store.PutStatus(ctx, id, status(7, at(2*time.Minute)), at(time.Hour)); err != nil {
		t.Fatalf("PutStatus: %v", err)
	}
	want.Online, want.ConnectionID, want.ConnectedAt = true, "Cn-1=", at(time.Minute)
	want.LastSeen, want.Status = at(2*time.Minute), status(7, at(2*time.Minute))
	terms, err := e.store.GroupTerminals(ctx, g, "", 10)
	if err != nil || len(terms) != 1 {
		t.Fatalf("GroupTerminals: got %v, %v; want the one terminal", ids(terms), err)
	}
	checkTerminal(t, terms[0], want)
}

// testGroupExistingIDDoesNotJoin: a CreateTerminal refused with ErrExists
// does not add the existing terminal to the groups it named.
func testGroupExistingIDDoesNotJoin(t *testing.T, e env) {
	ctx := context.Background()
	mine, theirs := e.group(t, "mine"), e.group(t, "theirs")
	id := e.id(t, "a")
	createIn(t, e.store, id, mine)
	again := newTerminal(id)
	again.Name, again.Credentials, again.Groups = "impostor", nil, []string{theirs}
	wantErr(t, "CreateTerminal of a taken id", e.store.CreateTerminal(ctx, again), fleet.ErrExists)
	if got := listGroup(t, e.store, theirs, 10); len(got) != 0 {
		t.Errorf("group named by the refused CreateTerminal lists %q, want nothing", got)
	}
	if got := listGroup(t, e.store, mine, 10); !sameStrings(got, []string{id}) {
		t.Errorf("the terminal's own group lists %q, want %q", got, []string{id})
	}
}

// testGroupManyTerminals lists 150 terminals of one group with the largest
// page the service asks for (501: MaxPageSize and one to see past it).
func testGroupManyTerminals(t *testing.T, e env) {
	ctx := context.Background()
	g := e.group(t, "g")
	const n = 150
	var want []string
	for i := 0; i < n; i++ {
		want = append(want, e.id(t, fmt.Sprintf("%03d", i)))
	}
	parallel(8, func(w int) {
		for i := w; i < n; i += 8 {
			term := newTerminal(want[i])
			term.Groups = []string{g}
			if err := e.store.CreateTerminal(ctx, term); err != nil {
				t.Errorf("CreateTerminal(%s): %v", want[i], err)
			}
		}
	})
	if t.Failed() {
		t.FailNow()
	}
	terms, err := e.store.GroupTerminals(ctx, g, "", fleet.MaxPageSize+1)
	if err != nil {
		t.Fatalf("GroupTerminals: %v", err)
	}
	if got := ids(terms); !sameStrings(got, want) {
		t.Errorf("listed %d terminals, want %d in id order", len(got), len(want))
	}
}

func ids(terms []fleet.Terminal) []string {
	out := make([]string, len(terms))
	for i, term := range terms {
		out[i] = term.ID
	}
	return out
}
