package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/edgesync/edgesync/fleet"
)

// recordContracts cover fleet.TerminalRecords: the listings of Terminals
// and GroupTerminals with Config and Desired left zero.
func recordContracts() []contract {
	return []contract{
		{"TerminalRecords/AsListingsWithoutDocuments", testTerminalRecords},
	}
}

func testTerminalRecords(t *testing.T, e env) {
	ctx := context.Background()
	group := e.group(t, "g")
	var ids []string
	for i := range 7 {
		id := e.id(t, fmt.Sprintf("%02d", i))
		createIn(t, e.store, id, group)
		ids = append(ids, id)
	}
	// Documents, presence and log counters on one of them.
	id := ids[3]
	if err := e.store.PutConfig(ctx, id, fleet.Snapshot{Data: json.RawMessage(`{"threshold":1}`), SyncedAt: at(time.Minute), Version: "v1"}); err != nil {
		t.Fatal(err)
	}
	if err := e.store.SetDesiredConfig(ctx, id, desired("v2", at(time.Minute))); err != nil {
		t.Fatal(err)
	}
	if err := e.store.PutStatus(ctx, id, fleet.Snapshot{Data: json.RawMessage(`{"disk_percent":91}`), SyncedAt: at(2 * time.Minute)}, at(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := e.store.MarkOnline(ctx, id, "c-"+id, at(3*time.Minute)); err != nil {
		t.Fatal(err)
	}
	put(t, e.store, chunk(id, 1, 5, at(time.Hour)), 2)

	want := map[string]fleet.Terminal{}
	for _, id := range ids {
		term := get(t, e.store, id)
		term.Config, term.Desired = fleet.Snapshot{}, fleet.DesiredConfig{}
		want[id] = term
	}
	check := func(what string, got []fleet.Terminal) {
		t.Helper()
		for _, term := range got {
			w, ok := want[term.ID]
			if !ok {
				continue // another test's terminal (a shared store)
			}
			t.Run(what+" "+term.ID, func(t *testing.T) { checkTerminal(t, term, w) })
			delete(want, term.ID)
		}
	}
	for _, limit := range []int{2, 500} {
		var listed []string
		after := ""
		for {
			page, err := e.store.GroupTerminalRecords(ctx, group, after, limit)
			if err != nil {
				t.Fatalf("GroupTerminalRecords(%s, %q, %d): %v", group, after, limit, err)
			}
			for _, term := range page {
				listed = append(listed, term.ID)
			}
			if limit == 2 {
				check("GroupTerminalRecords", page)
			}
			if len(page) < limit {
				break
			}
			after = page[len(page)-1].ID
		}
		if fmt.Sprint(listed) != fmt.Sprint(ids) {
			t.Errorf("GroupTerminalRecords pages of %d list %v, want %v", limit, listed, ids)
		}
	}
	if len(want) != 0 {
		t.Errorf("GroupTerminalRecords missed %d terminals", len(want))
	}
	for _, id := range ids {
		term := get(t, e.store, id)
		term.Config, term.Desired = fleet.Snapshot{}, fleet.DesiredConfig{}
		want[id] = term
	}
	cursor := ""
	for range 10000 {
		page, next, err := e.store.TerminalRecords(ctx, cursor, 100)
		if err != nil {
			t.Fatalf("TerminalRecords: %v", err)
		}
		check("TerminalRecords", page)
		if next == "" {
			break
		}
		cursor = next
	}
	if len(want) != 0 {
		t.Errorf("TerminalRecords missed %d terminals", len(want))
	}
	if _, err := e.store.GroupTerminalRecords(ctx, group, "", 0); err == nil {
		t.Error("GroupTerminalRecords with limit 0: no error, want ErrInvalid")
	}
}
