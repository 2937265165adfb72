package storetest

import (
	"context"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/edgesync/edgesync/fleet"
)

// alertContracts cover fleet.AlertStore: rules per group, and alerts with
// one active alert per key (dedup), acknowledgement, clearing by
// occurrence, delivery marks, listing order, paging and expiry.
func alertContracts() []contract {
	return []contract{
		{"AlertRules/PutListReplaceDelete", testAlertRules},
		{"Alerts/OpenIsOncePerKeyUntilCleared", testAlertOpenOnce},
		{"Alerts/ConcurrentOpenStoresOne", testAlertConcurrentOpen},
		{"Alerts/Acknowledge", testAlertAcknowledge},
		{"Alerts/ClearAndNotifyByOccurrence", testAlertClear},
		{"Alerts/ListingOrderPagingExpiry", testAlertListing},
	}
}

func rule(group, id string, kind fleet.AlertKind) fleet.AlertRule {
	return fleet.AlertRule{ID: id, Group: group, Kind: kind, Name: "Règle " + id, Minutes: 5, Field: "disk_percent", Op: ">",
		Threshold: 90.5, CreatedAt: at(time.Second), CreatedBy: "user:op@example.com"}
}

func testAlertRules(t *testing.T, e env) {
	ctx := context.Background()
	g1, g2 := e.group(t, "g1"), e.group(t, "g2")
	rs := []fleet.AlertRule{rule(g1, "r2", fleet.AlertStatus), rule(g1, "r1", fleet.AlertOffline), rule(g2, "r1", fleet.AlertErrorRate)}
	for _, r := range rs {
		if err := e.store.PutAlertRule(ctx, r); err != nil {
			t.Fatalf("PutAlertRule(%s/%s): %v", r.Group, r.ID, err)
		}
	}
	got, err := e.store.AlertRules(ctx, g1)
	if err != nil {
		t.Fatal(err)
	}
	if want := []fleet.AlertRule{rs[1], rs[0]}; !reflect.DeepEqual(got, want) {
		t.Errorf("AlertRules(%s) = %+v, want %+v (by id)", g1, got, want)
	}
	all, err := e.store.AlertRules(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	var mine []fleet.AlertRule
	for _, r := range all {
		if r.Group == g1 || r.Group == g2 {
			mine = append(mine, r)
		}
	}
	if want := []fleet.AlertRule{rs[1], rs[0], rs[2]}; !reflect.DeepEqual(mine, want) {
		t.Errorf("AlertRules(\"\") holds %+v of this test's, want %+v (by group, then id)", mine, want)
	}
	replaced := rs[0]
	replaced.Threshold, replaced.Name = 75, ""
	if err := e.store.PutAlertRule(ctx, replaced); err != nil {
		t.Fatal(err)
	}
	if err := e.store.DeleteAlertRule(ctx, g1, "r1"); err != nil {
		t.Fatalf("DeleteAlertRule: %v", err)
	}
	wantErr(t, "DeleteAlertRule again", e.store.DeleteAlertRule(ctx, g1, "r1"), fleet.ErrNotFound)
	wantErr(t, "DeleteAlertRule of another group's id", e.store.DeleteAlertRule(ctx, g1+"x", "r2"), fleet.ErrNotFound)
	got, err = e.store.AlertRules(ctx, g1)
	if err != nil {
		t.Fatal(err)
	}
	if want := []fleet.AlertRule{replaced}; !reflect.DeepEqual(got, want) {
		t.Errorf("after replace and delete: AlertRules = %+v, want %+v", got, want)
	}
	// A group whose name begins another's is another group.
	if got, err := e.store.AlertRules(ctx, g1[:len(g1)-1]); err != nil || len(got) != 0 {
		t.Errorf("AlertRules(prefix of a group) = %+v, %v; want none", got, err)
	}
}

func alert(key fleet.AlertKey, openedAt time.Time) fleet.Alert {
	return fleet.Alert{AlertKey: key, Kind: fleet.AlertStatus, RuleName: "disque", State: fleet.AlertOpen, OpenedAt: openedAt,
		Message: "disk_percent 93.25 > 90", Value: 93.25}
}

func openAlert(t *testing.T, st fleet.Store, a fleet.Alert, want bool) {
	t.Helper()
	got, err := st.OpenAlert(context.Background(), a)
	if err != nil {
		t.Fatalf("OpenAlert(%s): %v", a.AlertKey.String(), err)
	}
	if got != want {
		t.Fatalf("OpenAlert(%s at %s) = %v, want %v", a.AlertKey.String(), a.OpenedAt, got, want)
	}
}

// alertOf returns the stored alert under key (failing if absent).
func alertOf(t *testing.T, st fleet.Store, key fleet.AlertKey, now time.Time) fleet.Alert {
	t.Helper()
	as, err := st.Alerts(context.Background(), key.Group, "", 1000, now)
	if err != nil {
		t.Fatalf("Alerts(%s): %v", key.Group, err)
	}
	for _, a := range as {
		if a.AlertKey == key {
			return a
		}
	}
	t.Fatalf("no alert %s listed", key.String())
	return fleet.Alert{}
}

func testAlertOpenOnce(t *testing.T, e env) {
	key := fleet.AlertKey{Group: e.group(t, "g"), RuleID: "r1", TerminalID: e.id(t, "a")}
	first := alert(key, at(time.Minute))
	openAlert(t, e.store, first, true)
	if got := alertOf(t, e.store, key, at(time.Hour)); !reflect.DeepEqual(got, first) {
		t.Errorf("stored alert = %+v, want %+v (times to the millisecond)", got, first)
	}
	again := alert(key, at(2*time.Minute))
	again.Message = "another"
	openAlert(t, e.store, again, false)
	if got := alertOf(t, e.store, key, at(time.Hour)); !got.OpenedAt.Equal(first.OpenedAt) || got.Message != first.Message {
		t.Errorf("after a second OpenAlert: %+v, want the first kept", got)
	}
	// Acknowledged is still active: no new alert.
	if _, err := e.store.AcknowledgeAlert(context.Background(), key, "op", at(3*time.Minute)); err != nil {
		t.Fatal(err)
	}
	openAlert(t, e.store, alert(key, at(4*time.Minute)), false)
	// Cleared: the next OpenAlert stores a new occurrence, without the old one's fields.
	if ok, err := e.store.ClearAlert(context.Background(), key, first.OpenedAt, at(5*time.Minute), at(5*time.Minute+time.Hour), "cleared"); err != nil || !ok {
		t.Fatalf("ClearAlert = %v, %v; want true", ok, err)
	}
	next := alert(key, at(6*time.Minute))
	openAlert(t, e.store, next, true)
	if got := alertOf(t, e.store, key, at(time.Hour)); !reflect.DeepEqual(got, next) {
		t.Errorf("alert after clearing and opening again = %+v, want %+v", got, next)
	}
}

func testAlertConcurrentOpen(t *testing.T, e env) {
	key := fleet.AlertKey{Group: e.group(t, "g"), RuleID: "r1", TerminalID: e.id(t, "a")}
	const n = 8
	var wg sync.WaitGroup
	results := make(chan bool, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := e.store.OpenAlert(context.Background(), alert(key, at(time.Duration(i)*time.Millisecond)))
			if err != nil {
				t.Errorf("OpenAlert: %v", err)
			}
			results <- ok
		}()
	}
	wg.Wait()
	close(results)
	opened := 0
	for ok := range results {
		if ok {
			opened++
		}
	}
	if opened != 1 {
		t.Errorf("%d concurrent OpenAlert calls stored %d alerts, want exactly 1", n, opened)
	}
}

func testAlertAcknowledge(t *testing.T, e env) {
	ctx := context.Background()
	key := fleet.AlertKey{Group: e.group(t, "g"), RuleID: "r1", TerminalID: e.id(t, "a")}
	_, err := e.store.AcknowledgeAlert(ctx, key, "op", at(time.Minute))
	wantErr(t, "AcknowledgeAlert of no alert", err, fleet.ErrNotFound)
	a := alert(key, at(time.Minute))
	openAlert(t, e.store, a, true)
	got, err := e.store.AcknowledgeAlert(ctx, key, "user:op", at(2*time.Minute))
	if err != nil {
		t.Fatalf("AcknowledgeAlert: %v", err)
	}
	want := a
	want.State, want.AcknowledgedBy, want.AcknowledgedAt = fleet.AlertAcknowledged, "user:op", at(2*time.Minute)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("AcknowledgeAlert returned %+v, want %+v", got, want)
	}
	if stored := alertOf(t, e.store, key, at(time.Hour)); !reflect.DeepEqual(stored, want) {
		t.Errorf("stored after acknowledging: %+v, want %+v", stored, want)
	}
	_, err = e.store.AcknowledgeAlert(ctx, key, "user:other", at(3*time.Minute))
	wantErr(t, "AcknowledgeAlert of an acknowledged alert", err, fleet.ErrConflict)
	if ok, err := e.store.ClearAlert(ctx, key, a.OpenedAt, at(4*time.Minute), at(5*time.Minute), "gone"); err != nil || !ok {
		t.Fatalf("ClearAlert = %v, %v", ok, err)
	}
	_, err = e.store.AcknowledgeAlert(ctx, key, "user:op", at(4*time.Minute+time.Second))
	wantErr(t, "AcknowledgeAlert of a cleared alert", err, fleet.ErrConflict)
	_, err = e.store.AcknowledgeAlert(ctx, key, "user:op", at(5*time.Minute))
	wantErr(t, "AcknowledgeAlert of an expired cleared alert", err, fleet.ErrNotFound)
}

func testAlertClear(t *testing.T, e env) {
	ctx := context.Background()
	key := fleet.AlertKey{Group: e.group(t, "g"), RuleID: "r1", TerminalID: e.id(t, "a")}
	if ok, err := e.store.ClearAlert(ctx, key, at(time.Minute), at(2*time.Minute), at(time.Hour), "x"); err != nil || ok {
		t.Errorf("ClearAlert of no alert = %v, %v; want false, nil", ok, err)
	}
	a := alert(key, at(time.Minute))
	openAlert(t, e.store, a, true)
	steps := []struct {
		name string
		do   func() (bool, error)
		want bool
	}{
		{"notify another state", func() (bool, error) { return e.store.MarkAlertNotified(ctx, key, a.OpenedAt, fleet.AlertCleared) }, false},
		{"notify another occurrence", func() (bool, error) {
			return e.store.MarkAlertNotified(ctx, key, a.OpenedAt.Add(time.Millisecond), fleet.AlertOpen)
		}, false},
		{"notify open", func() (bool, error) { return e.store.MarkAlertNotified(ctx, key, a.OpenedAt, fleet.AlertOpen) }, true},
		{"clear another occurrence", func() (bool, error) {
			return e.store.ClearAlert(ctx, key, a.OpenedAt.Add(-time.Millisecond), at(2*time.Minute), at(time.Hour), "x")
		}, false},
		{"clear", func() (bool, error) {
			return e.store.ClearAlert(ctx, key, a.OpenedAt, at(2*time.Minute), at(2*time.Minute+time.Hour), "online again")
		}, true},
		{"clear again", func() (bool, error) {
			return e.store.ClearAlert(ctx, key, a.OpenedAt, at(3*time.Minute), at(3*time.Minute+time.Hour), "x")
		}, false},
		{"notify cleared", func() (bool, error) { return e.store.MarkAlertNotified(ctx, key, a.OpenedAt, fleet.AlertCleared) }, true},
	}
	for _, s := range steps {
		got, err := s.do()
		if err != nil || got != s.want {
			t.Errorf("%s: %v, %v; want %v, nil", s.name, got, err, s.want)
		}
	}
	want := a
	want.State, want.ClearedAt, want.Message = fleet.AlertCleared, at(2*time.Minute), "online again"
	want.Notified, want.ExpiresAt = fleet.AlertCleared, at(2*time.Minute+time.Hour)
	if got := alertOf(t, e.store, key, at(time.Hour)); !reflect.DeepEqual(got, want) {
		t.Errorf("cleared alert = %+v, want %+v", got, want)
	}
}

func testAlertListing(t *testing.T, e env) {
	ctx := context.Background()
	g1, g2 := e.group(t, "g1"), e.group(t, "g2")
	var keys []fleet.AlertKey
	for _, g := range []string{g1, g2} {
		for _, r := range []string{"r1", "r2"} {
			for _, term := range []string{"a", "b", "c"} {
				keys = append(keys, fleet.AlertKey{Group: g, RuleID: r, TerminalID: e.id(t, term)})
			}
		}
	}
	for i := len(keys) - 1; i >= 0; i-- { // stored out of order
		openAlert(t, e.store, alert(keys[i], at(time.Duration(i)*time.Second)), true)
	}
	// One cleared alert expires at 1h.
	if ok, err := e.store.ClearAlert(ctx, keys[1], at(time.Second), at(time.Minute), at(time.Hour), "x"); err != nil || !ok {
		t.Fatal(ok, err)
	}
	list := func(group, after string, limit int, now time.Time) []string {
		t.Helper()
		as, err := e.store.Alerts(ctx, group, after, limit, now)
		if err != nil {
			t.Fatalf("Alerts(%q, %q, %d): %v", group, after, limit, err)
		}
		var out []string
		for _, a := range as {
			if a.Group == g1 || a.Group == g2 {
				out = append(out, a.AlertKey.String())
			}
		}
		return out
	}
	keyStrings := func(ks []fleet.AlertKey) []string {
		var out []string
		for _, k := range ks {
			out = append(out, k.String())
		}
		return out
	}
	if got, want := list(g1, "", 100, at(time.Minute)), keyStrings(keys[:6]); !reflect.DeepEqual(got, want) {
		t.Errorf("Alerts(g1) = %v, want %v", got, want)
	}
	if got, want := list(g1, "", 100, at(time.Hour)), keyStrings(append([]fleet.AlertKey{keys[0]}, keys[2:6]...)); !reflect.DeepEqual(got, want) {
		t.Errorf("Alerts(g1) after the cleared one expired = %v, want %v", got, want)
	}
	// Paging a group two at a time, then the whole table from a cursor.
	var paged []string
	after := ""
	for range 10 {
		page := list(g2, after, 2, at(time.Minute))
		paged = append(paged, page...)
		if len(page) < 2 {
			break
		}
		after = page[len(page)-1]
	}
	if want := keyStrings(keys[6:]); !reflect.DeepEqual(paged, want) {
		t.Errorf("Alerts(g2) paged by 2 = %v, want %v", paged, want)
	}
	if got, want := list("", keys[4].String(), 1000, at(time.Minute)), keyStrings(keys[5:]); !reflect.DeepEqual(got, want) {
		t.Errorf("Alerts(all, after %s) = %v, want %v (this test's)", keys[4], got, want)
	}
	if got := list(g1, keys[5].String(), 10, at(time.Minute)); len(got) != 0 {
		t.Errorf("Alerts(g1 after its last) = %v, want none", got)
	}
	_, err := e.store.Alerts(ctx, g1, "", 0, at(time.Minute))
	wantErr(t, "Alerts with limit 0", err, fleet.ErrInvalid)
}
