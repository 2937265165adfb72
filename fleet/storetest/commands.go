package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/edgesync/edgesync/fleet"
	"github.com/edgesync/edgesync/protocol"
)

func commandContracts() []contract {
	return []contract{
		{"PutCommands/RoundTrip", testCommandRoundTrip},
		{"PutCommands/Idempotent", testCommandIdempotent},
		{"Command/Expiry", testCommandExpiry},
		{"CompleteCommand", testCompleteCommand},
		{"CompleteCommand/Deadline", testCompleteDeadline},
		{"ClaimRefresh", testClaimRefresh},
	}
}

func newCommand(terminalID, requestID, name string) fleet.Command {
	return fleet.Command{
		TerminalID: terminalID,
		RequestID:  requestID,
		Name:       name,
		Params:     json.RawMessage(`{"count":100,"since_seq":42}`),
		State:      fleet.CommandPending,
		CreatedAt:  at(0),
		Deadline:   at(10 * time.Second),
		Actor:      "system:hello",
		ExpiresAt:  at(7 * 24 * time.Hour),
	}
}

func getCommand(t *testing.T, st fleet.Store, terminalID, requestID string, now time.Time) fleet.Command {
	t.Helper()
	c, err := st.Command(context.Background(), terminalID, requestID, now)
	if err != nil {
		t.Fatalf("Command(%s, %s): %v", terminalID, requestID, err)
	}
	return c
}

func testCommandRoundTrip(t *testing.T, e env) {
	ctx := context.Background()
	id := e.id(t, "a")
	other := e.id(t, "b")
	create(t, e.store, id)
	cmds := []fleet.Command{
		newCommand(id, "req-1", protocol.CommandGetStatus),
		newCommand(id, "req-2", protocol.CommandGetLogs),
		newCommand(other, "req-1", protocol.CommandPing),
	}
	cmds[1].Params = nil
	cmds[1].Actor = "user:alice@example.com"
	if err := e.store.PutCommands(ctx, cmds...); err != nil {
		t.Fatalf("PutCommands: %v", err)
	}
	for _, c := range cmds {
		checkCommand(t, getCommand(t, e.store, c.TerminalID, c.RequestID, at(0)), c)
	}
	// Read as stored: past its deadline a pending command is still pending.
	checkCommand(t, getCommand(t, e.store, id, "req-1", at(time.Hour)), cmds[0])

	if err := e.store.PutCommands(ctx); err != nil {
		t.Errorf("PutCommands with no commands: %v", err)
	}
	// More commands than one DynamoDB batch write (25) holds.
	var many []fleet.Command
	for i := 0; i < 30; i++ {
		many = append(many, newCommand(id, fmt.Sprintf("batch-%02d", i), protocol.CommandPing))
	}
	if err := e.store.PutCommands(ctx, many...); err != nil {
		t.Fatalf("PutCommands of 30: %v", err)
	}
	for _, c := range many {
		checkCommand(t, getCommand(t, e.store, id, c.RequestID, at(0)), c)
	}
	_, err := e.store.Command(ctx, id, "req-3", at(0))
	wantErr(t, "Command of an unknown request id", err, fleet.ErrNotFound)
	_, err = e.store.Command(ctx, e.id(t, "c"), "req-1", at(0))
	wantErr(t, "Command of another terminal's request id", err, fleet.ErrNotFound)
}

func testCommandIdempotent(t *testing.T, e env) {
	ctx := context.Background()
	id := e.id(t, "a")
	create(t, e.store, id)
	c := newCommand(id, "req-1", protocol.CommandGetConfig)
	for i := 0; i < 3; i++ {
		if err := e.store.PutCommands(ctx, c, c); err != nil {
			t.Fatalf("PutCommands #%d: %v", i+1, err)
		}
	}
	checkCommand(t, getCommand(t, e.store, id, c.RequestID, at(0)), c)

	// Storing it again after completion must not make it pending again.
	done := fleet.Completion{State: fleet.CommandSucceeded, Result: json.RawMessage(`{"ok":true}`), At: at(time.Second)}
	if err := e.store.CompleteCommand(ctx, id, c.RequestID, done); err != nil {
		t.Fatalf("CompleteCommand: %v", err)
	}
	if err := e.store.PutCommands(ctx, c); err != nil {
		t.Fatalf("PutCommands after completion: %v", err)
	}
	want := c
	want.State, want.Result, want.CompletedAt = fleet.CommandSucceeded, done.Result, done.At
	checkCommand(t, getCommand(t, e.store, id, c.RequestID, at(0)), want)
}

func testCommandExpiry(t *testing.T, e env) {
	ctx := context.Background()
	id := e.id(t, "a")
	create(t, e.store, id)
	c := newCommand(id, "req-1", protocol.CommandPing)
	if err := e.store.PutCommands(ctx, c); err != nil {
		t.Fatalf("PutCommands: %v", err)
	}
	tests := []struct {
		name    string
		now     time.Time
		present bool
	}{
		{"1ms before expiry", c.ExpiresAt.Add(-time.Millisecond), true},
		{"at expiry", c.ExpiresAt, false},
		{"after expiry", c.ExpiresAt.Add(time.Hour), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := e.store.Command(ctx, id, c.RequestID, tt.now)
			if !tt.present {
				wantErr(t, "Command past its ExpiresAt", err, fleet.ErrNotFound)
				return
			}
			if err != nil {
				t.Fatalf("Command: %v", err)
			}
			checkCommand(t, got, c)
		})
	}
}

func testCompleteCommand(t *testing.T, e env) {
	ctx := context.Background()
	id := e.id(t, "a")
	create(t, e.store, id)
	ok := newCommand(id, "req-ok", protocol.CommandGetStatus)
	bad := newCommand(id, "req-bad", protocol.CommandSetConfig)
	if err := e.store.PutCommands(ctx, ok, bad); err != nil {
		t.Fatalf("PutCommands: %v", err)
	}

	wantErr(t, "CompleteCommand of an unknown request id",
		e.store.CompleteCommand(ctx, id, "req-none", fleet.Completion{State: fleet.CommandSucceeded, At: at(time.Second)}), fleet.ErrNotFound)
	wantErr(t, "CompleteCommand under another terminal",
		e.store.CompleteCommand(ctx, e.id(t, "b"), ok.RequestID, fleet.Completion{State: fleet.CommandSucceeded, At: at(time.Second)}), fleet.ErrNotFound)

	succeeded := fleet.Completion{State: fleet.CommandSucceeded, Result: json.RawMessage(`{"cpu_percent":12.5,"disks":[{"path":"/","free":1}]}`), At: at(2 * time.Second)}
	if err := e.store.CompleteCommand(ctx, id, ok.RequestID, succeeded); err != nil {
		t.Fatalf("CompleteCommand(succeeded): %v", err)
	}
	wantOK := ok
	wantOK.State, wantOK.Result, wantOK.CompletedAt = fleet.CommandSucceeded, succeeded.Result, succeeded.At
	checkCommand(t, getCommand(t, e.store, id, ok.RequestID, at(0)), wantOK)

	failed := fleet.Completion{State: fleet.CommandFailed, Error: "config rejected: threshold out of range", At: at(3 * time.Second)}
	if err := e.store.CompleteCommand(ctx, id, bad.RequestID, failed); err != nil {
		t.Fatalf("CompleteCommand(failed): %v", err)
	}
	wantBad := bad
	wantBad.State, wantBad.Error, wantBad.CompletedAt = fleet.CommandFailed, failed.Error, failed.At
	checkCommand(t, getCommand(t, e.store, id, bad.RequestID, at(0)), wantBad)

	// Completing again conflicts and changes nothing.
	again := fleet.Completion{State: fleet.CommandFailed, Error: "late duplicate", At: at(4 * time.Second)}
	wantErr(t, "second CompleteCommand", e.store.CompleteCommand(ctx, id, ok.RequestID, again), fleet.ErrConflict)
	wantErr(t, "second CompleteCommand of a failed command", e.store.CompleteCommand(ctx, id, bad.RequestID, succeeded), fleet.ErrConflict)
	checkCommand(t, getCommand(t, e.store, id, ok.RequestID, at(0)), wantOK)
	checkCommand(t, getCommand(t, e.store, id, bad.RequestID, at(0)), wantBad)
}

func testCompleteDeadline(t *testing.T, e env) {
	ctx := context.Background()
	id := e.id(t, "a")
	create(t, e.store, id)
	tests := []struct {
		name    string
		at      time.Time
		wantErr error
	}{
		{"1ms before deadline", at(10*time.Second - time.Millisecond), nil},
		{"at deadline", at(10 * time.Second), fleet.ErrConflict},
		{"1ms after deadline", at(10*time.Second + time.Millisecond), fleet.ErrConflict},
		{"long after deadline", at(time.Hour), fleet.ErrConflict},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCommand(id, "req-"+string(rune('a'+i)), protocol.CommandPing)
			if err := e.store.PutCommands(ctx, c); err != nil {
				t.Fatalf("PutCommands: %v", err)
			}
			done := fleet.Completion{State: fleet.CommandSucceeded, Result: json.RawMessage(`"pong"`), At: tt.at}
			err := e.store.CompleteCommand(ctx, id, c.RequestID, done)
			wantErr(t, "CompleteCommand", err, tt.wantErr)
			want := c
			if tt.wantErr == nil {
				want.State, want.Result, want.CompletedAt = done.State, done.Result, done.At
			}
			checkCommand(t, getCommand(t, e.store, id, c.RequestID, at(0)), want)
		})
	}
}

func testClaimRefresh(t *testing.T, e env) {
	ctx := context.Background()
	id := e.id(t, "a")
	other := e.id(t, "b")
	create(t, e.store, id)
	create(t, e.store, other)
	const window = time.Minute
	steps := []struct {
		name string
		id   string
		what string
		at   time.Time
		want bool
	}{
		{"first claim wins", id, "status", at(0), true},
		{"same window loses", id, "status", at(time.Second), false},
		{"1ms before the window ends loses", id, "status", at(window - time.Millisecond), false},
		{"other kind wins", id, "config", at(time.Second), true},
		{"third kind wins", id, "logs", at(time.Second), true},
		{"other terminal wins", other, "status", at(time.Second), true},
		{"window passed wins (claim at notBefore)", id, "status", at(window), true},
		{"new window loses", id, "status", at(window + 30*time.Second), false},
		{"later window wins", id, "status", at(3 * window), true},
		{"other kind in its window loses", id, "config", at(30 * time.Second), false},
	}
	for _, s := range steps {
		won, err := e.store.ClaimRefresh(ctx, s.id, s.what, s.at, s.at.Add(-window))
		if err != nil {
			t.Fatalf("%s: ClaimRefresh: %v", s.name, err)
		}
		if won != s.want {
			t.Errorf("%s: ClaimRefresh(%s, at base+%v, notBefore base+%v): got %v, want %v",
				s.name, s.what, s.at.Sub(base), s.at.Add(-window).Sub(base), won, s.want)
		}
	}
	// Claims leave the terminal record alone.
	want := newTerminal(id)
	checkTerminal(t, get(t, e.store, id), want)

	won, err := e.store.ClaimRefresh(ctx, e.id(t, "absent"), "status", at(0), at(-window))
	if err != nil && !errors.Is(err, fleet.ErrNotFound) {
		t.Errorf("ClaimRefresh of an absent terminal: got (%v, %v), want nil error or ErrNotFound", won, err)
	}
	if _, err := e.store.Terminal(ctx, e.id(t, "absent")); !errors.Is(err, fleet.ErrNotFound) {
		t.Errorf("Terminal after ClaimRefresh of an absent terminal: got error %v, want ErrNotFound", err)
	}
}
