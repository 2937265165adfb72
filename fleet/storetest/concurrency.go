package storetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgesync/edgesync/fleet"
)

func concurrencyContracts() []contract {
	return []contract{
		{"Concurrent/Touch", testConcurrentTouch},
		{"Concurrent/PutLogChunk", testConcurrentPutLogChunk},
		{"Concurrent/PutLogChunkSameLastSeq", testConcurrentSameLastSeq},
		{"Concurrent/MixedUpdatesLoseNothing", testConcurrentMixed},
		{"Concurrent/ClaimRefreshOneWinner", testConcurrentClaim},
		{"Concurrent/CompleteCommandOneWinner", testConcurrentComplete},
		{"Concurrent/CreateTerminalOneWinner", testConcurrentCreate},
		{"Concurrent/SetCredentialsOneWinner", testConcurrentSetCredentials},
		{"Concurrent/RevokedCredentialNeverComesBack", testConcurrentRotateRevoke},
	}
}

const workers = 20

// parallel runs fn(i) for i in [0, n) on n goroutines started together.
func parallel(n int, fn func(i int)) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Go(func() {
			<-start
			fn(i)
		})
	}
	close(start)
	wg.Wait()
}

func testConcurrentTouch(t *testing.T, e env) {
	id := e.id(t, "a")
	want := create(t, e.store, id)
	parallel(workers, func(i int) {
		// Goroutine i touches at base+i s; the largest must win whatever the order.
		if err := e.store.Touch(context.Background(), id, at(time.Duration(i)*time.Second), ""); err != nil {
			t.Errorf("Touch #%d: %v", i, err)
		}
	})
	want.LastSeen = at((workers - 1) * time.Second)
	checkTerminal(t, get(t, e.store, id), want)
}

func testConcurrentPutLogChunk(t *testing.T, e env) {
	id := e.id(t, "a")
	want := create(t, e.store, id)
	parallel(workers, func(i int) {
		c := chunk(id, uint64(10*i+1), uint64(10*i+10), at(time.Hour))
		if err := e.store.PutLogChunk(context.Background(), c, uint64(i)); err != nil {
			t.Errorf("PutLogChunk #%d: %v", i, err)
		}
	})
	want.LastSeq, want.Dropped = 10*workers, workers-1
	checkTerminal(t, get(t, e.store, id), want)
	if got := scan(t, e.store, id, 0, false, at(0), 0); len(got) != workers {
		t.Errorf("chunks stored: got %d, want %d", len(got), workers)
	}
}

// testConcurrentSameLastSeq stores chunks that all end at the same LastSeq
// at once: whatever the order, the one with the lowest FirstSeq must remain
// (a read-compare-write without a condition may keep a narrower one).
func testConcurrentSameLastSeq(t *testing.T, e env) {
	id := e.id(t, "a")
	want := create(t, e.store, id)
	const last = 100
	parallel(workers, func(i int) {
		c := chunk(id, uint64(i+1), last, at(time.Hour))
		if err := e.store.PutLogChunk(context.Background(), c, uint64(i)); err != nil {
			t.Errorf("PutLogChunk #%d: %v", i, err)
		}
	})
	want.LastSeq, want.Dropped = last, workers-1
	checkTerminal(t, get(t, e.store, id), want)
	got := scan(t, e.store, id, 0, false, at(0), 0)
	if len(got) != 1 {
		t.Fatalf("chunks stored: got %v, want 1..%d only", spans(got), last)
	}
	checkChunk(t, got[0], chunk(id, 1, last, at(time.Hour)))
}

// testConcurrentMixed runs every kind of terminal update at once; a store
// that rewrites whole records (read-modify-write without a condition) loses
// some of them.
func testConcurrentMixed(t *testing.T, e env) {
	ctx := context.Background()
	id := e.id(t, "a")
	want := create(t, e.store, id)
	conn := "conn-" + id + "="
	creds := []fleet.Credential{{ID: "cred-9", Hash: []byte("0123456789abcdef0123456789abcdef"), CreatedAt: at(time.Second)}}
	const rounds = 5
	parallel(6, func(i int) {
		for r := 0; r < rounds; r++ {
			var err error
			switch i {
			case 0:
				err = e.store.Touch(ctx, id, at(time.Duration(r)*time.Second), "2.0.0")
			case 1:
				err = e.store.PutLogChunk(ctx, chunk(id, uint64(r*10+1), uint64(r*10+10), at(time.Hour)), uint64(r))
			case 2:
				err = e.store.PutConfig(ctx, id, config(fmt.Sprintf("v%d", r), at(time.Duration(r)*time.Second)))
			case 3:
				err = e.store.PutStatus(ctx, id, status(r, at(time.Duration(r)*time.Second)), at(time.Hour))
			case 4:
				err = e.store.MarkOnline(ctx, id, conn, at(time.Hour))
			case 5:
				err = e.store.SetCredentials(ctx, id, creds, uint64(r))
			}
			if err != nil {
				t.Errorf("update kind %d round %d: %v", i, r, err)
			}
		}
	})
	last := at((rounds - 1) * time.Second)
	want.Credentials, want.CredentialsVersion = creds, rounds
	// MarkOnline's time is after every other one, so it sets LastSeen last
	// whatever the interleaving.
	want.Online, want.ConnectionID, want.ConnectedAt = true, conn, at(time.Hour)
	want.LastSeen = at(time.Hour)
	want.AgentVersion = "2.0.0"
	want.LastSeq, want.Dropped = rounds*10, rounds-1
	want.Config = config(fmt.Sprintf("v%d", rounds-1), last)
	want.Status = status(rounds-1, last)
	checkTerminal(t, get(t, e.store, id), want)
}

func testConcurrentClaim(t *testing.T, e env) {
	id := e.id(t, "a")
	create(t, e.store, id)
	var wins atomic.Int32
	parallel(workers, func(i int) {
		won, err := e.store.ClaimRefresh(context.Background(), id, "logs", at(time.Duration(i)*time.Millisecond), at(-time.Minute))
		if err != nil {
			t.Errorf("ClaimRefresh #%d: %v", i, err)
		}
		if won {
			wins.Add(1)
		}
	})
	if got := wins.Load(); got != 1 {
		t.Errorf("concurrent ClaimRefresh in one window: %d winners, want 1", got)
	}
}

func testConcurrentComplete(t *testing.T, e env) {
	id := e.id(t, "a")
	create(t, e.store, id)
	c := newCommand(id, "req-1", "ping")
	if err := e.store.PutCommands(context.Background(), c); err != nil {
		t.Fatalf("PutCommands: %v", err)
	}
	var wins atomic.Int32
	parallel(workers, func(i int) {
		err := e.store.CompleteCommand(context.Background(), id, c.RequestID, fleet.Completion{
			State: fleet.CommandFailed, Error: fmt.Sprintf("answer %d", i), At: at(time.Second),
		})
		switch {
		case err == nil:
			wins.Add(1)
		case !errors.Is(err, fleet.ErrConflict):
			t.Errorf("CompleteCommand #%d: got %v, want nil or ErrConflict", i, err)
		}
	})
	if got := wins.Load(); got != 1 {
		t.Errorf("concurrent CompleteCommand: %d succeeded, want 1", got)
	}
}

func testConcurrentCreate(t *testing.T, e env) {
	id := e.id(t, "a")
	var wins atomic.Int32
	parallel(workers, func(i int) {
		term := newTerminal(id)
		term.Name = fmt.Sprintf("creator %d", i)
		err := e.store.CreateTerminal(context.Background(), term)
		switch {
		case err == nil:
			wins.Add(1)
		case !errors.Is(err, fleet.ErrExists):
			t.Errorf("CreateTerminal #%d: got %v, want nil or ErrExists", i, err)
		}
	})
	if got := wins.Load(); got != 1 {
		t.Errorf("concurrent CreateTerminal of one id: %d succeeded, want 1", got)
	}
}

// testConcurrentSetCredentials writes credentials over the same version
// from many goroutines: exactly one wins, the others get ErrConflict.
func testConcurrentSetCredentials(t *testing.T, e env) {
	id := e.id(t, "a")
	want := create(t, e.store, id)
	var wins atomic.Int32
	winner := make([]fleet.Credential, workers)
	parallel(workers, func(i int) {
		creds := []fleet.Credential{{ID: fmt.Sprintf("cred-w%d", i), Hash: []byte(fmt.Sprintf("%032d", i)), CreatedAt: at(time.Second)}}
		err := e.store.SetCredentials(context.Background(), id, creds, 0)
		switch {
		case err == nil:
			wins.Add(1)
			winner[i] = creds[0]
		case !errors.Is(err, fleet.ErrConflict):
			t.Errorf("SetCredentials #%d: got %v, want nil or ErrConflict", i, err)
		}
	})
	if got := wins.Load(); got != 1 {
		t.Fatalf("concurrent SetCredentials over one version: %d succeeded, want 1", got)
	}
	for _, c := range winner {
		if c.ID != "" {
			want.Credentials = []fleet.Credential{c}
		}
	}
	want.CredentialsVersion = 1
	checkTerminal(t, get(t, e.store, id), want)
}

// testConcurrentRotateRevoke races one revocation of cred-1 against many
// rotations, each a read-modify-write over the version it read, retried
// on ErrConflict as the service does. Whatever the interleaving the
// revocation stands (a rotation computed from the credentials before it
// must not write them back) and no rotation is lost.
func testConcurrentRotateRevoke(t *testing.T, e env) {
	ctx := context.Background()
	id := e.id(t, "a")
	create(t, e.store, id)
	revokedAt := at(time.Minute)
	// change reads the terminal, applies fn to its credentials and writes
	// them over the version read, until a write wins.
	change := func(what string, fn func([]fleet.Credential) []fleet.Credential) {
		for attempt := 0; attempt < 1000; attempt++ {
			term, err := e.store.Terminal(ctx, id)
			if err != nil {
				t.Errorf("%s: read: %v", what, err)
				return
			}
			err = e.store.SetCredentials(ctx, id, fn(term.Credentials), term.CredentialsVersion)
			if err == nil {
				return
			}
			if !errors.Is(err, fleet.ErrConflict) {
				t.Errorf("%s: SetCredentials: %v", what, err)
				return
			}
		}
		t.Errorf("%s: never won a write", what)
	}
	const rotations = workers - 1
	parallel(workers, func(i int) {
		if i == 0 {
			change("revoke", func(creds []fleet.Credential) []fleet.Credential {
				for j := range creds {
					if creds[j].ID == "cred-1" {
						creds[j].NotAfter = revokedAt
					}
				}
				return creds
			})
			return
		}
		change(fmt.Sprintf("rotate #%d", i), func(creds []fleet.Credential) []fleet.Credential {
			return append(creds, fleet.Credential{ID: fmt.Sprintf("cred-r%02d", i), Hash: []byte(fmt.Sprintf("%032d", i)), CreatedAt: at(time.Second)})
		})
	})
	got := get(t, e.store, id)
	if got.CredentialsVersion != workers {
		t.Errorf("CredentialsVersion = %d after %d changes, want %d", got.CredentialsVersion, workers, workers)
	}
	rotated := 0
	for _, c := range got.Credentials {
		switch {
		case c.ID == "cred-1" && !sameTime(c.NotAfter, revokedAt):
			t.Errorf("revoked cred-1 came back: NotAfter %v, want %v", c.NotAfter, revokedAt)
		case strings.HasPrefix(c.ID, "cred-r"):
			rotated++
		}
	}
	if rotated != rotations {
		t.Errorf("rotations kept: %d, want %d (a write lost another)", rotated, rotations)
	}
}
