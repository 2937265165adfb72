package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/edgesync/edgesync/fleet"
)

func desiredContracts() []contract {
	return []contract{
		{"SetDesiredConfig/LastWriteWins", testDesiredLastWins},
		{"SetDesiredConfig/ErrNotFound", testDesiredNotFound},
		{"SetDesiredConfig/KeepsOtherFields", testDesiredKeepsOthers},
		{"SetDesiredConfig/Listed", testDesiredListed},
		{"CreateTerminal/WithDesired", testCreateWithDesired},
		{"Concurrent/SetDesiredConfigWithUpdates", testConcurrentDesired},
	}
}

// desired returns a desired config of version set at setAt.
func desired(version string, setAt time.Time) fleet.DesiredConfig {
	return fleet.DesiredConfig{
		Data: json.RawMessage(fmt.Sprintf(
			`{"version": %q, "detector": {"threshold": 0.9, "zones": ["north", "门"]}, "upload": {"enabled": true, "empty": {}}}`, version)),
		Version:   version,
		SetAt:     setAt,
		SetBy:     "user:operator@example.com",
		RequestID: "req-desired-" + version,
	}
}

func testDesiredLastWins(t *testing.T, e env) {
	ctx := context.Background()
	id := e.id(t, "a")
	want := create(t, e.store, id)
	steps := []struct {
		name string
		set  fleet.DesiredConfig
	}{
		{"first", desired("v1", at(time.Minute))},
		{"second replaces", desired("v2", at(2*time.Minute))},
		// Unconditional: a request with an older SetAt still wins when it comes last.
		{"older SetAt still replaces", desired("v0", at(time.Second))},
		{"only data", fleet.DesiredConfig{Data: json.RawMessage(`{"a":1}`)}},
		{"zero value", fleet.DesiredConfig{}},
		{"again after zero", desired("v3", at(3*time.Minute))},
	}
	for _, s := range steps {
		if err := e.store.SetDesiredConfig(ctx, id, s.set); err != nil {
			t.Fatalf("%s: SetDesiredConfig: %v", s.name, err)
		}
		want.Desired = s.set
		t.Run(s.name, func(t *testing.T) { checkTerminal(t, get(t, e.store, id), want) })
	}
}

func testDesiredNotFound(t *testing.T, e env) {
	ctx := context.Background()
	id := e.id(t, "a")
	create(t, e.store, id)
	missing := e.id(t, "b")
	err := e.store.SetDesiredConfig(ctx, missing, desired("v1", at(0)))
	wantErr(t, "SetDesiredConfig of an absent terminal", err, fleet.ErrNotFound)
	if _, err := e.store.Terminal(ctx, missing); !errors.Is(err, fleet.ErrNotFound) {
		t.Errorf("Terminal after SetDesiredConfig of an absent terminal: got error %v, want ErrNotFound", err)
	}
	// The absent terminal's desired config did not land on another one.
	if got := get(t, e.store, id); len(got.Desired.Data) != 0 || got.Desired.Version != "" {
		t.Errorf("terminal %s: Desired = %+v after SetDesiredConfig of another, absent terminal; want zero", id, got.Desired)
	}
}

// testDesiredKeepsOtherFields checks that SetDesiredConfig and the other
// updates of a terminal leave one another's fields alone.
func testDesiredKeepsOthers(t *testing.T, e env) {
	ctx := context.Background()
	id := e.id(t, "a")
	want := create(t, e.store, id)
	conn := "conn-" + id + "="
	steps := []struct {
		name string
		call func() error
		set  func(*fleet.Terminal)
	}{
		{"PutConfig", func() error { return e.store.PutConfig(ctx, id, config("v1", at(time.Minute))) },
			func(w *fleet.Terminal) { w.Config = config("v1", at(time.Minute)) }},
		{"PutStatus", func() error { return e.store.PutStatus(ctx, id, status(1, at(time.Minute)), at(time.Hour)) },
			func(w *fleet.Terminal) { w.Status, w.LastSeen = status(1, at(time.Minute)), at(time.Minute) }},
		{"MarkOnline", func() error { return e.store.MarkOnline(ctx, id, conn, at(2*time.Minute)) },
			func(w *fleet.Terminal) {
				w.Online, w.ConnectionID, w.ConnectedAt, w.LastSeen = true, conn, at(2*time.Minute), at(2*time.Minute)
			}},
		{"PutLogChunk", func() error { return e.store.PutLogChunk(ctx, chunk(id, 1, 5, at(time.Hour)), 2) },
			func(w *fleet.Terminal) { w.LastSeq, w.Dropped = 5, 2 }},
		{"Touch", func() error { return e.store.Touch(ctx, id, at(3*time.Minute), "3.1.4") },
			func(w *fleet.Terminal) { w.LastSeen, w.AgentVersion = at(3*time.Minute), "3.1.4" }},
		{"SetDesiredConfig", func() error { return e.store.SetDesiredConfig(ctx, id, desired("v2", at(4*time.Minute))) },
			func(w *fleet.Terminal) { w.Desired = desired("v2", at(4*time.Minute)) }},
		{"PutConfig after", func() error { return e.store.PutConfig(ctx, id, config("v2", at(5*time.Minute))) },
			func(w *fleet.Terminal) { w.Config = config("v2", at(5*time.Minute)) }},
		{"PutStatus after", func() error { return e.store.PutStatus(ctx, id, status(2, at(5*time.Minute)), at(time.Hour)) },
			func(w *fleet.Terminal) { w.Status, w.LastSeen = status(2, at(5*time.Minute)), at(5*time.Minute) }},
		{"SetCredentials after", func() error { return e.store.SetCredentials(ctx, id, nil, 0) },
			func(w *fleet.Terminal) { w.Credentials, w.CredentialsVersion = nil, 1 }},
		{"MarkOffline after", func() error {
			ok, err := e.store.MarkOffline(ctx, id, conn, at(6*time.Minute), "bye")
			if err == nil && !ok {
				err = errors.New("MarkOffline reported false for the current connection")
			}
			return err
		}, func(w *fleet.Terminal) {
			w.Online, w.ConnectionID, w.DisconnectedAt, w.DisconnectReason = false, "", at(6*time.Minute), "bye"
		}},
		{"SetDesiredConfig again", func() error { return e.store.SetDesiredConfig(ctx, id, desired("v3", at(7*time.Minute))) },
			func(w *fleet.Terminal) { w.Desired = desired("v3", at(7*time.Minute)) }},
	}
	for _, s := range steps {
		if err := s.call(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		s.set(&want)
		t.Run("after "+s.name, func(t *testing.T) { checkTerminal(t, get(t, e.store, id), want) })
	}
}

// testDesiredListed checks that Terminals returns the desired config with
// the rest of the record.
func testDesiredListed(t *testing.T, e env) {
	ctx := context.Background()
	with, without := e.id(t, "a"), e.id(t, "b")
	create(t, e.store, with)
	create(t, e.store, without)
	d := desired("v9", at(time.Minute))
	if err := e.store.SetDesiredConfig(ctx, with, d); err != nil {
		t.Fatalf("SetDesiredConfig: %v", err)
	}
	found := map[string]fleet.Terminal{}
	cursor := ""
	for page := 0; ; page++ {
		if page > 10000 {
			t.Fatalf("more than 10000 pages of 1000; the cursor does not advance")
		}
		terms, next, err := e.store.Terminals(ctx, cursor, 1000)
		if err != nil {
			t.Fatalf("Terminals(%q, 1000): %v", cursor, err)
		}
		for _, term := range terms {
			if term.ID == with || term.ID == without {
				found[term.ID] = term
			}
		}
		if next == "" {
			break
		}
		cursor = next
	}
	for _, tt := range []struct {
		id   string
		want fleet.DesiredConfig
	}{{with, d}, {without, fleet.DesiredConfig{}}} {
		term, ok := found[tt.id]
		if !ok {
			t.Errorf("Terminals did not list %s", tt.id)
			continue
		}
		var dd diffs
		diffDesired(&dd, term.Desired, tt.want)
		dd.report(t, "listed terminal "+tt.id)
	}
}

func testCreateWithDesired(t *testing.T, e env) {
	id := e.id(t, "a")
	want := newTerminal(id)
	want.Config = config("v1", at(time.Second))
	want.Desired = desired("v2", at(2*time.Second))
	if err := e.store.CreateTerminal(context.Background(), want); err != nil {
		t.Fatalf("CreateTerminal with Config and Desired: %v", err)
	}
	checkTerminal(t, get(t, e.store, id), want)
}

// testConcurrentDesired runs SetDesiredConfig alongside the frequent
// terminal updates: none may lose another's fields.
func testConcurrentDesired(t *testing.T, e env) {
	ctx := context.Background()
	id := e.id(t, "a")
	want := create(t, e.store, id)
	const rounds = 8
	parallel(5, func(i int) {
		for r := 0; r < rounds; r++ {
			var err error
			switch i {
			case 0:
				err = e.store.SetDesiredConfig(ctx, id, desired(fmt.Sprintf("d%d", r), at(time.Duration(r)*time.Second)))
			case 1:
				err = e.store.Touch(ctx, id, at(time.Duration(r)*time.Second), "4.0.0")
			case 2:
				err = e.store.PutStatus(ctx, id, status(r, at(time.Duration(r)*time.Second)), at(time.Hour))
			case 3:
				err = e.store.PutConfig(ctx, id, config(fmt.Sprintf("v%d", r), at(time.Duration(r)*time.Second)))
			case 4:
				err = e.store.PutLogChunk(ctx, chunk(id, uint64(r*10+1), uint64(r*10+10), at(time.Hour)), uint64(r))
			}
			if err != nil {
				t.Errorf("update kind %d round %d: %v", i, r, err)
			}
		}
	})
	last := at((rounds - 1) * time.Second)
	want.Desired = desired(fmt.Sprintf("d%d", rounds-1), last)
	want.LastSeen, want.AgentVersion = last, "4.0.0"
	want.Status = status(rounds-1, last)
	want.Config = config(fmt.Sprintf("v%d", rounds-1), last)
	want.LastSeq, want.Dropped = rounds*10, rounds-1
	checkTerminal(t, get(t, e.store, id), want)
}
