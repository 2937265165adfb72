package storetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/edgesync/edgesync/fleet"
)

func terminalContracts() []contract {
	return []contract{
		{"CreateTerminal/RoundTrip", testCreateRoundTrip},
		{"CreateTerminal/MinimalRecord", testCreateMinimal},
		{"CreateTerminal/ErrExists", testCreateExists},
		{"Terminal/ErrNotFound", testTerminalNotFound},
		{"Terminals/Paging", testTerminalsPaging},
		{"Terminals/ManyTerminals", testManyTerminals},
		{"SetCredentials", testSetCredentials},
		{"DeleteTerminal", testDeleteTerminal},
		{"NoMethodCreatesTerminals", testNoMethodCreates},
	}
}

func testCreateRoundTrip(t *testing.T, e env) {
	id := e.id(t, "a")
	want := create(t, e.store, id)
	checkTerminal(t, get(t, e.store, id), want)
}

func testCreateMinimal(t *testing.T, e env) {
	id := e.id(t, "a")
	want := fleet.Terminal{ID: id, CreatedAt: at(0)}
	if err := e.store.CreateTerminal(context.Background(), want); err != nil {
		t.Fatalf("CreateTerminal(%s) with only ID and CreatedAt: %v", id, err)
	}
	checkTerminal(t, get(t, e.store, id), want)
}

func testCreateExists(t *testing.T, e env) {
	ctx := context.Background()
	id := e.id(t, "a")
	want := create(t, e.store, id)
	again := newTerminal(id)
	again.Name = "impostor"
	again.Credentials = nil
	err := e.store.CreateTerminal(ctx, again)
	wantErr(t, "second CreateTerminal with the same id", err, fleet.ErrExists)
	checkTerminal(t, get(t, e.store, id), want)
}

func testTerminalNotFound(t *testing.T, e env) {
	ctx := context.Background()
	id := e.id(t, "a")
	create(t, e.store, id)
	for _, missing := range []string{e.id(t, "b"), id + "x", id[:len(id)-1]} {
		_, err := e.store.Terminal(ctx, missing)
		wantErr(t, "Terminal("+missing+")", err, fleet.ErrNotFound)
	}
}

// testTerminalsPaging creates terminals whose ids sort in a known order and
// walks the whole listing with several page sizes. Other terminals (a
// shared store) may be interleaved; the checks allow for them.
func testTerminalsPaging(t *testing.T, e env) {
	ctx := context.Background()
	// Suffixes in byte order: '-' < '0' < ':' < 'A' < '_' < 'a'.
	suffixes := []string{"-1", "0", "1", "2", ":x", "A", "B", "Z", "_", "a", "b", "c", "z"}
	var mine []string
	// Create out of order to show the store sorts.
	for i := len(suffixes) - 1; i >= 0; i-- {
		id := e.id(t, suffixes[i])
		create(t, e.store, id)
	}
	for _, s := range suffixes {
		mine = append(mine, e.id(t, s))
	}
	prefix := e.id(t, "")

	for _, limit := range []int{1, 2, 5, 1000} {
		t.Run(fmt.Sprintf("limit=%d", limit), func(t *testing.T) {
			var got []string
			var prev string
			cursor := ""
			for page := 0; ; page++ {
				if page > 100000 {
					t.Fatalf("limit %d: more than 100000 pages; the cursor does not advance", limit)
				}
				terms, next, err := e.store.Terminals(ctx, cursor, limit)
				if err != nil {
					t.Fatalf("Terminals(%q, %d) page %d: %v", cursor, limit, page, err)
				}
				if len(terms) > limit {
					t.Fatalf("Terminals(_, %d) page %d: got %d terminals, want at most %d", limit, page, len(terms), limit)
				}
				if len(terms) == 0 {
					t.Fatalf("Terminals(_, %d) page %d: got an empty page (cursor %q); the cursor before it should have been \"\" since the previous page held the last terminal", limit, page, cursor)
				}
				for _, term := range terms {
					if term.ID <= prev {
						t.Fatalf("Terminals(_, %d): id %q listed after %q; want strictly ascending id order across pages", limit, term.ID, prev)
					}
					prev = term.ID
					if strings.HasPrefix(term.ID, prefix) {
						got = append(got, term.ID)
						if want := newTerminal(term.ID).Name; term.Name != want {
							t.Errorf("listed terminal %s: Name %q, want %q (listing must return full records)", term.ID, term.Name, want)
						}
						if !sameTime(term.CreatedAt, newTerminal(term.ID).CreatedAt) {
							t.Errorf("listed terminal %s: CreatedAt %v, want %v", term.ID, term.CreatedAt, newTerminal(term.ID).CreatedAt)
						}
					}
				}
				if next == "" {
					break
				}
				cursor = next
			}
			if !sameStrings(got, mine) {
				t.Errorf("Terminals with limit %d listed our terminals\n  got  %q\n  want %q", limit, got, mine)
			}
		})
	}
}

// testManyTerminals lists 150 terminals with the largest page the service
// asks for (500), more than one DynamoDB BatchGetItem call (100 keys) holds.
func testManyTerminals(t *testing.T, e env) {
	ctx := context.Background()
	const n = 150
	var want []string
	for i := 0; i < n; i++ {
		want = append(want, e.id(t, fmt.Sprintf("%03d", i)))
	}
	parallel(8, func(w int) {
		for i := w; i < n; i += 8 {
			if err := e.store.CreateTerminal(ctx, newTerminal(want[i])); err != nil {
				t.Errorf("CreateTerminal(%s): %v", want[i], err)
			}
		}
	})
	if t.Failed() {
		t.FailNow()
	}
	prefix := e.id(t, "")
	var got []string
	cursor := ""
	for page := 0; ; page++ {
		if page > 10000 {
			t.Fatalf("more than 10000 pages of 500; the cursor does not advance")
		}
		terms, next, err := e.store.Terminals(ctx, cursor, 500)
		if err != nil {
			t.Fatalf("Terminals(%q, 500): %v", cursor, err)
		}
		for _, term := range terms {
			if strings.HasPrefix(term.ID, prefix) {
				got = append(got, term.ID)
				if term.Name != newTerminal(term.ID).Name {
					t.Errorf("listed terminal %s: Name %q, want %q", term.ID, term.Name, newTerminal(term.ID).Name)
				}
			}
		}
		if next == "" {
			break
		}
		cursor = next
	}
	if !sameStrings(got, want) {
		t.Errorf("listed %d of our terminals, want %d in id order\n  got  %q\n  want %q", len(got), len(want), got, want)
	}
}

func testSetCredentials(t *testing.T, e env) {
	ctx := context.Background()
	id := e.id(t, "a")
	want := create(t, e.store, id)

	want.Credentials = []fleet.Credential{{ID: "cred-3", Hash: []byte{1, 2, 3, 4, 5, 6, 7, 8}, CreatedAt: at(time.Second), NotAfter: at(48 * time.Hour)}}
	if err := e.store.SetCredentials(ctx, id, want.Credentials, 0); err != nil {
		t.Fatalf("SetCredentials(%s) at version 0: %v", id, err)
	}
	want.CredentialsVersion = 1
	checkTerminal(t, get(t, e.store, id), want)

	// A change computed from version 0 after version 1 was written loses.
	err := e.store.SetCredentials(ctx, id, newTerminal(id).Credentials, 0)
	wantErr(t, "SetCredentials over a version already changed", err, fleet.ErrConflict)
	err = e.store.SetCredentials(ctx, id, newTerminal(id).Credentials, 7)
	wantErr(t, "SetCredentials over a version never written", err, fleet.ErrConflict)
	checkTerminal(t, get(t, e.store, id), want)

	want.Credentials, want.CredentialsVersion = nil, 2
	if err := e.store.SetCredentials(ctx, id, nil, 1); err != nil {
		t.Fatalf("SetCredentials(%s, nil) at version 1: %v", id, err)
	}
	checkTerminal(t, get(t, e.store, id), want)

	missing := e.id(t, "b")
	err = e.store.SetCredentials(ctx, missing, want.Credentials, 0)
	wantErr(t, "SetCredentials of an absent terminal", err, fleet.ErrNotFound)
	if _, err := e.store.Terminal(ctx, missing); err == nil {
		t.Errorf("SetCredentials of an absent terminal created it")
	}
}

// testDeleteTerminal: a deleted terminal is gone from every read (record,
// listing, its groups, its connections), the id can be created again
// without anything of the old one, and other terminals are untouched.
func testDeleteTerminal(t *testing.T, e env) {
	ctx := context.Background()
	id, other := e.id(t, "a"), e.id(t, "b")
	doomed := create(t, e.store, id)
	keep := create(t, e.store, other)
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	must("PutConfig", e.store.PutConfig(ctx, id, config("v1", at(time.Minute))))
	must("SetDesiredConfig", e.store.SetDesiredConfig(ctx, id, desired("v2", at(time.Minute))))
	conn := fleet.Connection{ID: "Cn" + id + "=", TerminalID: id, ConnectedAt: at(0), CredentialID: "cred-1", ExpiresAt: at(time.Hour)}
	otherConn := fleet.Connection{ID: "Cn" + other + "=", TerminalID: other, ConnectedAt: at(0), CredentialID: "cred-2", ExpiresAt: at(time.Hour)}
	must("PutConnection", e.store.PutConnection(ctx, conn))
	must("PutConnection of the other terminal", e.store.PutConnection(ctx, otherConn))

	must("DeleteTerminal", e.store.DeleteTerminal(ctx, id))
	if _, err := e.store.Terminal(ctx, id); !errors.Is(err, fleet.ErrNotFound) {
		t.Errorf("Terminal after DeleteTerminal: %v, want ErrNotFound", err)
	}
	_, err := e.store.Connection(ctx, conn.ID, at(0))
	wantErr(t, "the deleted terminal's connection binding", err, fleet.ErrNotFound)
	if got, err := e.store.TerminalConnections(ctx, id, at(0)); err != nil || len(got) != 0 {
		t.Errorf("TerminalConnections of the deleted terminal: %v, %v; want none", got, err)
	}
	for _, g := range doomed.Groups {
		ts, err := e.store.GroupTerminals(ctx, g, "", 1000)
		must("GroupTerminals", err)
		for _, term := range ts {
			if term.ID == id {
				t.Errorf("group %s still lists the deleted terminal", g)
			}
		}
	}
	wantErr(t, "DeleteTerminal again", e.store.DeleteTerminal(ctx, id), fleet.ErrNotFound)

	// The id is free again, and nothing of the old terminal comes back.
	fresh := newTerminal(id)
	fresh.Credentials = []fleet.Credential{{ID: "cred-new", Hash: []byte("0123456789abcdef0123456789abcdef"), CreatedAt: at(time.Hour)}}
	must("CreateTerminal of the deleted id", e.store.CreateTerminal(ctx, fresh))
	checkTerminal(t, get(t, e.store, id), fresh)

	// The other terminal kept everything.
	checkTerminal(t, get(t, e.store, other), keep)
	got, err := e.store.Connection(ctx, otherConn.ID, at(0))
	must("the other terminal's connection", err)
	checkConnection(t, got, otherConn)
}

func connectionContracts() []contract {
	return []contract{
		{"Connection/RoundTripAndExpiry", testConnectionExpiry},
		{"Connection/PutIdempotent", testConnectionIdempotent},
		{"Connection/DeleteIdempotent", testConnectionDelete},
		{"Connection/ByTerminal", testTerminalConnections},
	}
}

func newConnection(e env, t *testing.T, suffix string) fleet.Connection {
	return fleet.Connection{
		// API Gateway connection ids look like "L0SM9cOFvHcCIhw=".
		ID:           "Cn" + e.id(t, suffix) + "=",
		TerminalID:   e.id(t, "term"),
		ConnectedAt:  at(0),
		SourceIP:     "203.0.113.7",
		CredentialID: "cred-1",
		ExpiresAt:    at(2*time.Hour + 10*time.Minute),
	}
}

func testConnectionExpiry(t *testing.T, e env) {
	ctx := context.Background()
	c := newConnection(e, t, "c1")
	if err := e.store.PutConnection(ctx, c); err != nil {
		t.Fatalf("PutConnection: %v", err)
	}
	tests := []struct {
		name    string
		now     time.Time
		present bool
	}{
		{"at connect", c.ConnectedAt, true},
		{"before connect", c.ConnectedAt.Add(-time.Hour), true},
		{"1ms before expiry", c.ExpiresAt.Add(-time.Millisecond), true},
		{"at expiry", c.ExpiresAt, false},
		{"1ms after expiry", c.ExpiresAt.Add(time.Millisecond), false},
		{"a day after expiry", c.ExpiresAt.Add(24 * time.Hour), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := e.store.Connection(ctx, c.ID, tt.now)
			if !tt.present {
				wantErr(t, "Connection past its ExpiresAt", err, fleet.ErrNotFound)
				return
			}
			if err != nil {
				t.Fatalf("Connection(%s, %v): %v", c.ID, tt.now, err)
			}
			checkConnection(t, got, c)
		})
	}
	// Expired but still stored: reading again before expiry still works.
	if _, err := e.store.Connection(ctx, c.ID, c.ConnectedAt); err != nil {
		t.Errorf("Connection before expiry after an expired read: %v", err)
	}
	_, err := e.store.Connection(ctx, c.ID+"x", c.ConnectedAt)
	wantErr(t, "Connection of an unknown id", err, fleet.ErrNotFound)
}

func testConnectionIdempotent(t *testing.T, e env) {
	ctx := context.Background()
	c := newConnection(e, t, "c1")
	for i := 0; i < 3; i++ {
		if err := e.store.PutConnection(ctx, c); err != nil {
			t.Fatalf("PutConnection #%d: %v", i+1, err)
		}
	}
	got, err := e.store.Connection(ctx, c.ID, c.ConnectedAt)
	if err != nil {
		t.Fatalf("Connection: %v", err)
	}
	checkConnection(t, got, c)
}

func testConnectionDelete(t *testing.T, e env) {
	ctx := context.Background()
	c := newConnection(e, t, "c1")
	other := newConnection(e, t, "c2")
	for _, x := range []fleet.Connection{c, other} {
		if err := e.store.PutConnection(ctx, x); err != nil {
			t.Fatalf("PutConnection(%s): %v", x.ID, err)
		}
	}
	if err := e.store.DeleteConnection(ctx, c.ID); err != nil {
		t.Fatalf("DeleteConnection: %v", err)
	}
	_, err := e.store.Connection(ctx, c.ID, c.ConnectedAt)
	wantErr(t, "Connection after DeleteConnection", err, fleet.ErrNotFound)
	wantErr(t, "DeleteConnection again", e.store.DeleteConnection(ctx, c.ID), nil)
	wantErr(t, "DeleteConnection of a never stored id", e.store.DeleteConnection(ctx, c.ID+"never"), nil)
	if got, err := e.store.Connection(ctx, other.ID, other.ConnectedAt); err != nil {
		t.Errorf("Connection(%s) after deleting another connection: %v", other.ID, err)
	} else {
		checkConnection(t, got, other)
	}
}

// testTerminalConnections: a terminal's connections are listed until
// they expire or are deleted, and only its own.
func testTerminalConnections(t *testing.T, e env) {
	ctx := context.Background()
	a, b := newConnection(e, t, "c1"), newConnection(e, t, "c2")
	b.CredentialID, b.ExpiresAt = "cred-2", at(time.Hour)
	stranger := newConnection(e, t, "c3")
	stranger.TerminalID = e.id(t, "other")
	for _, c := range []fleet.Connection{a, b, stranger} {
		if err := e.store.PutConnection(ctx, c); err != nil {
			t.Fatalf("PutConnection(%s): %v", c.ID, err)
		}
	}
	list := func(now time.Time) map[string]fleet.Connection {
		t.Helper()
		cs, err := e.store.TerminalConnections(ctx, a.TerminalID, now)
		if err != nil {
			t.Fatalf("TerminalConnections: %v", err)
		}
		out := map[string]fleet.Connection{}
		for _, c := range cs {
			out[c.ID] = c
		}
		return out
	}
	got := list(at(0))
	if len(got) != 2 {
		t.Fatalf("TerminalConnections at connect: %d connections, want %s and %s", len(got), a.ID, b.ID)
	}
	checkConnection(t, got[a.ID], a)
	checkConnection(t, got[b.ID], b)
	if got := list(b.ExpiresAt); len(got) != 1 || got[a.ID].ID != a.ID {
		t.Errorf("TerminalConnections at %s's expiry: %v, want only %s", b.ID, got, a.ID)
	}
	if err := e.store.DeleteConnection(ctx, a.ID); err != nil {
		t.Fatalf("DeleteConnection: %v", err)
	}
	if got := list(at(0)); len(got) != 1 || got[b.ID].ID != b.ID {
		t.Errorf("TerminalConnections after deleting %s: %v, want only %s", a.ID, got, b.ID)
	}
}

// testNoMethodCreates calls every method that names a terminal
// with an absent one: each may fail with ErrNotFound or succeed, but the
// terminal must stay absent (an update must not leave a partial record).
func testNoMethodCreates(t *testing.T, e env) {
	ctx := context.Background()
	id := e.id(t, "a")
	calls := []struct {
		name string
		call func() error
	}{
		{"PutConnection", func() error {
			return e.store.PutConnection(ctx, fleet.Connection{ID: "Cn" + id + "=", TerminalID: id, ConnectedAt: at(0), ExpiresAt: at(time.Hour)})
		}},
		{"MarkOnline", func() error { return e.store.MarkOnline(ctx, id, "c=", at(0)) }},
		{"MarkOffline", func() error { _, err := e.store.MarkOffline(ctx, id, "c=", at(0), "x"); return err }},
		{"Touch", func() error { return e.store.Touch(ctx, id, at(0), "1.0.0") }},
		{"SetCredentials", func() error { return e.store.SetCredentials(ctx, id, newTerminal(id).Credentials, 0) }},
		{"DeleteTerminal", func() error { return e.store.DeleteTerminal(ctx, id) }},
		{"TerminalConnections", func() error { _, err := e.store.TerminalConnections(ctx, id, at(0)); return err }},
		{"PutConfig", func() error { return e.store.PutConfig(ctx, id, config("v1", at(0))) }},
		{"PutStatus", func() error { return e.store.PutStatus(ctx, id, status(1, at(0)), at(time.Hour)) }},
		{"StatusHistory", func() error { _, err := e.store.StatusHistory(ctx, id, time.Time{}, at(0), 10); return err }},
		{"PutLogChunk", func() error { return e.store.PutLogChunk(ctx, chunk(id, 1, 3, at(time.Hour)), 1) }},
		{"ScanLogChunks", func() error {
			return e.store.ScanLogChunks(ctx, id, 0, true, at(0), func(fleet.LogChunk) bool { return true })
		}},
		{"PutCommands", func() error { return e.store.PutCommands(ctx, newCommand(id, "req-1", "ping")) }},
		{"CompleteCommand", func() error {
			return e.store.CompleteCommand(ctx, id, "req-1", fleet.Completion{State: fleet.CommandSucceeded, At: at(time.Second)})
		}},
		{"ClaimRefresh", func() error { _, err := e.store.ClaimRefresh(ctx, id, "logs", at(0), at(-time.Minute)); return err }},
		{"SetDesiredConfig", func() error { return e.store.SetDesiredConfig(ctx, id, desired("v1", at(0))) }},
		{"PutAudit", func() error { return e.store.PutAudit(ctx, auditRecord(id, "user:x", "config.set", at(0), 1)) }},
		{"Audit", func() error { _, _, err := e.store.Audit(ctx, fleet.AuditQuery{TerminalID: id, Limit: 10}); return err }},
	}
	for _, c := range calls {
		if err := c.call(); err != nil && !errors.Is(err, fleet.ErrNotFound) {
			t.Errorf("%s for an absent terminal: got error %v, want nil or ErrNotFound", c.name, err)
		}
		if _, err := e.store.Terminal(ctx, id); !errors.Is(err, fleet.ErrNotFound) {
			t.Fatalf("Terminal after %s for an absent terminal: got error %v, want ErrNotFound", c.name, err)
		}
	}
}
