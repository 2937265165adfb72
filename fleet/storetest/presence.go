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

func presenceContracts() []contract {
	return []contract{
		{"MarkOnline/ErrNotFound", testMarkOnlineNotFound},
		{"MarkOnlineOffline/Lifecycle", testPresenceLifecycle},
		{"MarkOffline/ReconnectRacedAhead", testMarkOfflineRace},
		{"MarkOnline/StaleConnectIgnored", testMarkOnlineStale},
		{"MarkOffline/AbsentTerminal", testMarkOfflineAbsent},
		{"Touch", testTouch},
		{"Touch/ErrNotFound", testTouchNotFound},
	}
}

func testMarkOnlineNotFound(t *testing.T, e env) {
	ctx := context.Background()
	id := e.id(t, "a")
	err := e.store.MarkOnline(ctx, id, "conn-1=", at(0))
	wantErr(t, "MarkOnline of an absent terminal", err, fleet.ErrNotFound)
	if _, err := e.store.Terminal(ctx, id); !errors.Is(err, fleet.ErrNotFound) {
		t.Errorf("Terminal after MarkOnline of an absent terminal: got error %v, want ErrNotFound (MarkOnline must not create terminals)", err)
	}
}

// checkOffline checks the presence fields after a MarkOffline and that the
// other fields are untouched.
func checkOffline(t *testing.T, got, want fleet.Terminal, disconnectedAt time.Time, reason string) {
	t.Helper()
	var d diffs
	d.value("Online", got.Online, false)
	d.value("ConnectionID", got.ConnectionID, "")
	d.time("DisconnectedAt", got.DisconnectedAt, disconnectedAt)
	d.value("DisconnectReason", got.DisconnectReason, reason)
	d.value("Name", got.Name, want.Name)
	d.value("LastSeq", got.LastSeq, want.LastSeq)
	diffCredentials(&d, got.Credentials, want.Credentials)
	d.report(t, "terminal "+want.ID+" after MarkOffline")
}

func testPresenceLifecycle(t *testing.T, e env) {
	ctx := context.Background()
	id := e.id(t, "a")
	want := create(t, e.store, id)
	conn1, conn2 := "conn-"+id+"-1=", "conn-"+id+"-2="

	if err := e.store.MarkOnline(ctx, id, conn1, at(time.Second)); err != nil {
		t.Fatalf("MarkOnline: %v", err)
	}
	want.Online, want.ConnectionID, want.ConnectedAt, want.LastSeen = true, conn1, at(time.Second), at(time.Second)
	checkTerminal(t, get(t, e.store, id), want)

	ok, err := e.store.MarkOffline(ctx, id, conn1, at(time.Minute), "client closed")
	if err != nil || !ok {
		t.Fatalf("MarkOffline with the current connection: got (%v, %v), want (true, nil)", ok, err)
	}
	checkOffline(t, get(t, e.store, id), want, at(time.Minute), "client closed")

	// A duplicate $disconnect finds no current connection any more.
	ok, err = e.store.MarkOffline(ctx, id, conn1, at(2*time.Minute), "duplicate")
	if err != nil || ok {
		t.Errorf("second MarkOffline with the same connection: got (%v, %v), want (false, nil)", ok, err)
	}
	checkOffline(t, get(t, e.store, id), want, at(time.Minute), "client closed")

	// Reconnect.
	if err := e.store.MarkOnline(ctx, id, conn2, at(3*time.Minute)); err != nil {
		t.Fatalf("MarkOnline after offline: %v", err)
	}
	got := get(t, e.store, id)
	var d diffs
	d.value("Online", got.Online, true)
	d.value("ConnectionID", got.ConnectionID, conn2)
	d.time("ConnectedAt", got.ConnectedAt, at(3*time.Minute))
	d.time("LastSeen", got.LastSeen, at(3*time.Minute))
	d.value("Name", got.Name, want.Name)
	diffCredentials(&d, got.Credentials, want.Credentials)
	d.report(t, "terminal after reconnect")
}

func testMarkOfflineRace(t *testing.T, e env) {
	ctx := context.Background()
	id := e.id(t, "a")
	want := create(t, e.store, id)
	conn1, conn2 := "conn-"+id+"-1=", "conn-"+id+"-2="

	if err := e.store.MarkOnline(ctx, id, conn1, at(time.Second)); err != nil {
		t.Fatalf("MarkOnline(conn1): %v", err)
	}
	// The terminal reconnects before the old connection's $disconnect runs.
	if err := e.store.MarkOnline(ctx, id, conn2, at(2*time.Second)); err != nil {
		t.Fatalf("MarkOnline(conn2): %v", err)
	}
	ok, err := e.store.MarkOffline(ctx, id, conn1, at(3*time.Second), "stale disconnect")
	if err != nil || ok {
		t.Fatalf("MarkOffline with a superseded connection: got (%v, %v), want (false, nil)", ok, err)
	}
	want.Online, want.ConnectionID, want.ConnectedAt, want.LastSeen = true, conn2, at(2*time.Second), at(2*time.Second)
	checkTerminal(t, get(t, e.store, id), want)

	ok, err = e.store.MarkOffline(ctx, id, "never-seen=", at(4*time.Second), "unknown")
	if err != nil || ok {
		t.Errorf("MarkOffline with a connection never current: got (%v, %v), want (false, nil)", ok, err)
	}
	checkTerminal(t, get(t, e.store, id), want)
}

// testMarkOnlineStale: two $connect of one terminal land out of order; the
// older one must not displace the newer, live connection.
func testMarkOnlineStale(t *testing.T, e env) {
	ctx := context.Background()
	id := e.id(t, "a")
	want := create(t, e.store, id)
	conn1, conn2, conn3 := "conn-"+id+"-1=", "conn-"+id+"-2=", "conn-"+id+"-3="

	if err := e.store.MarkOnline(ctx, id, conn2, at(2*time.Second)); err != nil {
		t.Fatalf("MarkOnline(conn2): %v", err)
	}
	if err := e.store.MarkOnline(ctx, id, conn1, at(time.Second)); err != nil {
		t.Fatalf("MarkOnline(conn1) older than the current connection: got error %v, want nil", err)
	}
	want.Online, want.ConnectionID, want.ConnectedAt, want.LastSeen = true, conn2, at(2*time.Second), at(2*time.Second)
	t.Run("older connect ignored", func(t *testing.T) { checkTerminal(t, get(t, e.store, id), want) })

	ok, err := e.store.MarkOffline(ctx, id, conn1, at(3*time.Second), "stale connection gone")
	if err != nil || ok {
		t.Errorf("MarkOffline with the ignored older connection: got (%v, %v), want (false, nil)", ok, err)
	}
	t.Run("stays online", func(t *testing.T) { checkTerminal(t, get(t, e.store, id), want) })

	if err := e.store.MarkOnline(ctx, id, conn3, at(2*time.Second)); err != nil {
		t.Fatalf("MarkOnline(conn3) at the current ConnectedAt: %v", err)
	}
	want.ConnectionID = conn3
	t.Run("equal time applies", func(t *testing.T) { checkTerminal(t, get(t, e.store, id), want) })
}

func testMarkOfflineAbsent(t *testing.T, e env) {
	ctx := context.Background()
	id := e.id(t, "a")
	ok, err := e.store.MarkOffline(ctx, id, "conn=", at(0), "gone")
	if ok {
		t.Errorf("MarkOffline of an absent terminal reported true")
	}
	if err != nil && !errors.Is(err, fleet.ErrNotFound) {
		t.Errorf("MarkOffline of an absent terminal: got error %v, want nil or ErrNotFound", err)
	}
	if _, err := e.store.Terminal(ctx, id); !errors.Is(err, fleet.ErrNotFound) {
		t.Errorf("Terminal after MarkOffline of an absent terminal: got error %v, want ErrNotFound", err)
	}
}

func testTouch(t *testing.T, e env) {
	ctx := context.Background()
	id := e.id(t, "a")
	want := create(t, e.store, id)
	steps := []struct {
		name        string
		at          time.Time
		version     string
		wantSeen    time.Time
		wantVersion string
	}{
		{"first touch sets LastSeen", at(10 * time.Second), "", at(10 * time.Second), ""},
		{"later touch moves forward", at(20 * time.Second), "1.0.0", at(20 * time.Second), "1.0.0"},
		{"same time keeps", at(20 * time.Second), "", at(20 * time.Second), "1.0.0"},
		{"older touch keeps LastSeen but sets version", at(5 * time.Second), "1.0.1", at(20 * time.Second), "1.0.1"},
		{"1ms later moves forward", at(20*time.Second + time.Millisecond), "", at(20*time.Second + time.Millisecond), "1.0.1"},
		{"empty version keeps version", at(time.Minute), "", at(time.Minute), "1.0.1"},
	}
	for _, s := range steps {
		if err := e.store.Touch(ctx, id, s.at, s.version); err != nil {
			t.Fatalf("%s: Touch: %v", s.name, err)
		}
		want.LastSeen, want.AgentVersion = s.wantSeen, s.wantVersion
		t.Run(s.name, func(t *testing.T) { checkTerminal(t, get(t, e.store, id), want) })
	}
}

func testTouchNotFound(t *testing.T, e env) {
	ctx := context.Background()
	id := e.id(t, "a")
	wantErr(t, "Touch of an absent terminal", e.store.Touch(ctx, id, at(0), "1.0.0"), fleet.ErrNotFound)
	if _, err := e.store.Terminal(ctx, id); !errors.Is(err, fleet.ErrNotFound) {
		t.Errorf("Terminal after Touch of an absent terminal: got error %v, want ErrNotFound (Touch must not create terminals)", err)
	}
}

func snapshotContracts() []contract {
	return []contract{
		{"PutConfig/NewerWins", testPutConfig},
		{"PutConfig/ErrNotFound", testPutConfigNotFound},
		{"PutStatus/NewerWinsAndHistory", testPutStatus},
		{"PutStatus/ErrNotFound", testPutStatusNotFound},
		{"StatusHistory", testStatusHistory},
	}
}

func config(version string, syncedAt time.Time) fleet.Snapshot {
	return fleet.Snapshot{
		Data:     json.RawMessage(fmt.Sprintf(`{"version":%q,"detector":{"threshold":0.75,"zones":["a","b"]},"nested":{"empty":{},"list":[1,2,3]}}`, version)),
		SyncedAt: syncedAt,
		Version:  version,
	}
}

func status(n int, syncedAt time.Time) fleet.Snapshot {
	return fleet.Snapshot{
		Data:     json.RawMessage(fmt.Sprintf(`{"cpu_percent":%d.5,"memory_percent":40,"n":%d}`, n, n)),
		SyncedAt: syncedAt,
	}
}

func testPutConfig(t *testing.T, e env) {
	ctx := context.Background()
	id := e.id(t, "a")
	want := create(t, e.store, id)
	steps := []struct {
		name string
		put  fleet.Snapshot
		want fleet.Snapshot
	}{
		{"first", config("v1", at(time.Minute)), config("v1", at(time.Minute))},
		{"newer replaces", config("v2", at(2*time.Minute)), config("v2", at(2*time.Minute))},
		{"older is ignored", config("v0", at(90*time.Second)), config("v2", at(2*time.Minute))},
		{"1ms newer replaces", config("v3", at(2*time.Minute+time.Millisecond)), config("v3", at(2*time.Minute+time.Millisecond))},
	}
	for _, s := range steps {
		if err := e.store.PutConfig(ctx, id, s.put); err != nil {
			t.Fatalf("%s: PutConfig: %v", s.name, err)
		}
		want.Config = s.want
		t.Run(s.name, func(t *testing.T) { checkTerminal(t, get(t, e.store, id), want) })
	}
}

func testPutConfigNotFound(t *testing.T, e env) {
	ctx := context.Background()
	id := e.id(t, "a")
	wantErr(t, "PutConfig of an absent terminal", e.store.PutConfig(ctx, id, config("v1", at(0))), fleet.ErrNotFound)
	if _, err := e.store.Terminal(ctx, id); !errors.Is(err, fleet.ErrNotFound) {
		t.Errorf("Terminal after PutConfig of an absent terminal: got error %v, want ErrNotFound", err)
	}
}

func testPutStatus(t *testing.T, e env) {
	ctx := context.Background()
	id := e.id(t, "a")
	want := create(t, e.store, id)
	expires := func(s fleet.Snapshot) time.Time { return s.SyncedAt.Add(time.Hour) }
	steps := []struct {
		name     string
		put      fleet.Snapshot
		want     fleet.Snapshot
		wantSeen time.Time
	}{
		{"first", status(1, at(time.Minute)), status(1, at(time.Minute)), at(time.Minute)},
		{"newer replaces", status(2, at(2*time.Minute)), status(2, at(2*time.Minute)), at(2 * time.Minute)},
		{"older is ignored", status(3, at(90*time.Second)), status(2, at(2*time.Minute)), at(2 * time.Minute)},
		{"1ms newer replaces", status(4, at(2*time.Minute+time.Millisecond)), status(4, at(2*time.Minute+time.Millisecond)), at(2*time.Minute + time.Millisecond)},
	}
	for _, s := range steps {
		if err := e.store.PutStatus(ctx, id, s.put, expires(s.put)); err != nil {
			t.Fatalf("%s: PutStatus: %v", s.name, err)
		}
		want.Status, want.LastSeen = s.want, s.wantSeen
		t.Run(s.name, func(t *testing.T) { checkTerminal(t, get(t, e.store, id), want) })
	}

	// Every PutStatus appended a history sample, the older one included.
	got, err := e.store.StatusHistory(ctx, id, time.Time{}, at(0), 100)
	if err != nil {
		t.Fatalf("StatusHistory: %v", err)
	}
	wantHist := []fleet.StatusSample{
		sample(status(1, at(time.Minute))),
		sample(status(3, at(90*time.Second))),
		sample(status(2, at(2*time.Minute))),
		sample(status(4, at(2*time.Minute+time.Millisecond))),
	}
	for i := range wantHist {
		wantHist[i].ExpiresAt = wantHist[i].At.Add(time.Hour)
	}
	checkHistory(t, got, wantHist)

	// A Touch does not undo PutStatus's LastSeen, and PutStatus never moves it back.
	if err := e.store.Touch(ctx, id, at(time.Hour), ""); err != nil {
		t.Fatalf("Touch: %v", err)
	}
	if err := e.store.PutStatus(ctx, id, status(5, at(30*time.Minute)), at(2*time.Hour)); err != nil {
		t.Fatalf("PutStatus: %v", err)
	}
	want.Status, want.LastSeen = status(5, at(30*time.Minute)), at(time.Hour)
	checkTerminal(t, get(t, e.store, id), want)
}

func testPutStatusNotFound(t *testing.T, e env) {
	ctx := context.Background()
	id := e.id(t, "a")
	wantErr(t, "PutStatus of an absent terminal", e.store.PutStatus(ctx, id, status(1, at(0)), at(time.Hour)), fleet.ErrNotFound)
	if _, err := e.store.Terminal(ctx, id); !errors.Is(err, fleet.ErrNotFound) {
		t.Errorf("Terminal after PutStatus of an absent terminal: got error %v, want ErrNotFound", err)
	}
}

func sample(s fleet.Snapshot) fleet.StatusSample {
	return fleet.StatusSample{At: s.SyncedAt, Data: s.Data}
}

func checkHistory(t *testing.T, got, want []fleet.StatusSample) {
	t.Helper()
	var d diffs
	if len(got) != len(want) {
		d = append(d, fmt.Sprintf("length: got %d, want %d", len(got), len(want)))
	}
	for i := 0; i < len(got) && i < len(want); i++ {
		f := fmt.Sprintf("[%d]", i)
		d.time(f+".At", got[i].At, want[i].At)
		d.json(f+".Data", got[i].Data, want[i].Data)
		d.time(f+".ExpiresAt", got[i].ExpiresAt, want[i].ExpiresAt)
	}
	if len(d) > 0 {
		var gotAt []string
		for _, s := range got {
			gotAt = append(gotAt, s.At.Sub(base).String())
		}
		d = append(d, fmt.Sprintf("got samples at base+%v", gotAt))
	}
	d.report(t, "status history")
}

func testStatusHistory(t *testing.T, e env) {
	ctx := context.Background()
	id := e.id(t, "a")
	other := e.id(t, "b")
	create(t, e.store, id)
	create(t, e.store, other)

	// Ten samples a minute apart, each kept for an hour; the other terminal
	// gets samples at the same times that must never appear.
	var all []fleet.StatusSample
	for i := 0; i < 10; i++ {
		s := status(i, at(time.Duration(i)*time.Minute))
		exp := s.SyncedAt.Add(time.Hour)
		if err := e.store.PutStatus(ctx, id, s, exp); err != nil {
			t.Fatalf("PutStatus #%d: %v", i, err)
		}
		if err := e.store.PutStatus(ctx, other, status(100+i, s.SyncedAt), exp); err != nil {
			t.Fatalf("PutStatus other #%d: %v", i, err)
		}
		smp := sample(s)
		smp.ExpiresAt = exp
		all = append(all, smp)
	}
	tests := []struct {
		name  string
		since time.Time
		now   time.Time
		limit int
		want  []fleet.StatusSample
	}{
		{"all", time.Time{}, at(0), 100, all},
		{"since before first", at(-time.Second), at(0), 100, all},
		{"since is exclusive", all[3].At, at(0), 100, all[4:]},
		{"since 1ms before a sample includes it", all[3].At.Add(-time.Millisecond), at(0), 100, all[3:]},
		{"limit keeps the newest", time.Time{}, at(0), 3, all[7:]},
		{"limit equal to count", time.Time{}, at(0), 10, all},
		{"limit 1", time.Time{}, at(0), 1, all[9:]},
		{"expired at now are skipped", time.Time{}, all[2].ExpiresAt, 100, all[3:]},
		{"1ms before expiry kept", time.Time{}, all[2].ExpiresAt.Add(-time.Millisecond), 100, all[2:]},
		{"since and expiry and limit", all[4].At, all[2].ExpiresAt, 2, all[8:]},
		{"since after last", all[9].At, at(0), 100, nil},
		{"all expired", time.Time{}, all[9].ExpiresAt, 100, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := e.store.StatusHistory(ctx, id, tt.since, tt.now, tt.limit)
			if err != nil {
				t.Fatalf("StatusHistory: %v", err)
			}
			checkHistory(t, got, tt.want)
		})
	}
	got, err := e.store.StatusHistory(ctx, e.id(t, "none"), time.Time{}, at(0), 10)
	if err != nil && !errors.Is(err, fleet.ErrNotFound) {
		t.Errorf("StatusHistory of an absent terminal: got error %v, want nil or ErrNotFound", err)
	}
	if len(got) != 0 {
		t.Errorf("StatusHistory of an absent terminal: got %d samples, want none", len(got))
	}
}
