package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/edgesync/edgesync/fleet"
)

func auditContracts() []contract {
	return []contract{
		{"PutAudit/RoundTrip", testAuditRoundTrip},
		{"PutAudit/Idempotent", testAuditIdempotent},
		{"PutAudit/ErrInvalid", testAuditInvalid},
		{"Audit/ErrInvalid", testAuditQueryInvalid},
		{"Audit/Empty", testAuditEmpty},
		{"Audit/Filters", testAuditFilters},
		{"Audit/OtherTerminalsNeverAppear", testAuditOtherTerminals},
		{"Audit/Paging", testAuditPaging},
		{"Concurrent/PutAudit", testConcurrentPutAudit},
	}
}

// auditRecord returns a fully populated audit record at at, with an ID
// made by fleet.NewAuditID(at) and a Detail that tells records apart by n.
func auditRecord(terminalID, actor, action string, at time.Time, n int) fleet.AuditRecord {
	return fleet.AuditRecord{
		ID:         fleet.NewAuditID(at),
		At:         at,
		Actor:      actor,
		Role:       "operator",
		Action:     action,
		TerminalID: terminalID,
		Outcome:    "ok",
		Detail: json.RawMessage(fmt.Sprintf(
			`{"n": %d, "diff": {"detector.threshold": [0.5, 0.75]}, "path": "/terminals/%s/config", "note": "北门 ✓ \"quoted\" \u00e9", "nested": {"empty": {}, "list": [1, 2.5, "x"], "none": null}}`,
			n, terminalID)),
	}
}

// actor returns an actor name unique to the test.
func (e env) actor(t *testing.T, name string) string { return "user:" + e.id(t, name) }

// putAudits stores recs, eight at a time.
func putAudits(t *testing.T, st fleet.Store, recs []fleet.AuditRecord) {
	t.Helper()
	parallel(8, func(w int) {
		for i := w; i < len(recs); i += 8 {
			if err := st.PutAudit(context.Background(), recs[i]); err != nil {
				t.Errorf("PutAudit(%s): %v", recs[i].ID, err)
			}
		}
	})
	if t.Failed() {
		t.FailNow()
	}
}

// matchesAudit reports whether r is selected by q's filters.
func matchesAudit(q fleet.AuditQuery, r fleet.AuditRecord) bool {
	switch {
	case q.TerminalID != "" && r.TerminalID != q.TerminalID,
		q.Actor != "" && r.Actor != q.Actor,
		q.Action != "" && r.Action != q.Action,
		!q.Since.IsZero() && r.At.Before(q.Since),
		!q.Until.IsZero() && !r.At.Before(q.Until):
		return false
	}
	return true
}

// wantAudit returns the records of recs that q selects, newest first by ID.
func wantAudit(recs []fleet.AuditRecord, q fleet.AuditQuery) []fleet.AuditRecord {
	var out []fleet.AuditRecord
	for _, r := range recs {
		if matchesAudit(q, r) {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b fleet.AuditRecord) int { return strings.Compare(b.ID, a.ID) })
	return out
}

// describeQuery renders q with its times relative to base.
func describeQuery(q fleet.AuditQuery) string {
	var parts []string
	add := func(name, v string) {
		if v != "" {
			parts = append(parts, name+"="+v)
		}
	}
	rel := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return "base" + fmt.Sprintf("%+v", t.Sub(base))
	}
	add("terminal", q.TerminalID)
	add("actor", q.Actor)
	add("action", q.Action)
	add("since", rel(q.Since))
	add("until", rel(q.Until))
	parts = append(parts, fmt.Sprintf("limit=%d", q.Limit))
	return "{" + strings.Join(parts, " ") + "}"
}

// auditPages reads every page of q (from its first page) and checks the
// paging contract: pages of at most q.Limit records, strictly descending
// IDs across pages, no empty page unless the whole result is empty, and
// cursor "" with the last page.
func auditPages(t *testing.T, st fleet.Store, q fleet.AuditQuery) [][]fleet.AuditRecord {
	t.Helper()
	ctx := context.Background()
	var pages [][]fleet.AuditRecord
	prev := ""
	q.Cursor = ""
	for page := 0; ; page++ {
		if page > 100000 {
			t.Fatalf("Audit%s: more than 100000 pages; the cursor does not advance", describeQuery(q))
		}
		recs, next, err := st.Audit(ctx, q)
		if err != nil {
			t.Fatalf("Audit%s page %d (cursor %q): %v", describeQuery(q), page, q.Cursor, err)
		}
		if len(recs) > q.Limit {
			t.Fatalf("Audit%s page %d: got %d records, want at most %d", describeQuery(q), page, len(recs), q.Limit)
		}
		if len(recs) == 0 && (page > 0 || next != "") {
			t.Fatalf("Audit%s page %d: got an empty page with next cursor %q; the previous page should have returned cursor \"\"",
				describeQuery(q), page, next)
		}
		for _, r := range recs {
			if prev != "" && r.ID >= prev {
				t.Fatalf("Audit%s: record %s listed after %s; want strictly descending IDs across pages", describeQuery(q), r.ID, prev)
			}
			prev = r.ID
		}
		pages = append(pages, recs)
		if next == "" {
			return pages
		}
		q.Cursor = next
	}
}

// checkAudit reads every page of q and compares the records this test
// stored (mine) with what q should select from them. Every record listed
// must match q. With exclusive set, q selects only records of this test
// (its terminal or actor is the test's own), so nothing else may be listed
// and every page but the last must be full.
func checkAudit(t *testing.T, st fleet.Store, q fleet.AuditQuery, mine []fleet.AuditRecord, exclusive bool) {
	t.Helper()
	pages := auditPages(t, st, q)
	ours := make(map[string]bool, len(mine))
	for _, r := range mine {
		ours[r.ID] = true
	}
	var got []fleet.AuditRecord
	foreign := 0
	for i, p := range pages {
		if exclusive && i < len(pages)-1 && len(p) != q.Limit {
			t.Errorf("Audit%s page %d of %d: got %d records, want %d (only the last page may be short)", describeQuery(q), i, len(pages), len(p), q.Limit)
		}
		for _, r := range p {
			if !matchesAudit(q, r) {
				t.Errorf("Audit%s listed record %s (terminal %q, actor %q, action %q, at %v), which does not match",
					describeQuery(q), r.ID, r.TerminalID, r.Actor, r.Action, r.At)
			}
			if ours[r.ID] {
				got = append(got, r)
			} else {
				foreign++
			}
		}
	}
	if exclusive && foreign > 0 {
		t.Errorf("Audit%s listed %d records this test did not store", describeQuery(q), foreign)
	}
	want := wantAudit(mine, q)
	ids := func(rs []fleet.AuditRecord) []string {
		out := make([]string, len(rs))
		for i, r := range rs {
			out[i] = r.ID
		}
		return out
	}
	if !sameStrings(ids(got), ids(want)) {
		t.Fatalf("Audit%s listed %d of this test's records, want %d\n  got  %q\n  want %q",
			describeQuery(q), len(got), len(want), ids(got), ids(want))
	}
	for i := range want {
		checkAuditRecord(t, got[i], want[i])
	}
}

// checkAuditRecord compares every field of an audit record, Detail as JSON.
func checkAuditRecord(t *testing.T, got, want fleet.AuditRecord) {
	t.Helper()
	var d diffs
	d.value("ID", got.ID, want.ID)
	d.time("At", got.At, want.At)
	d.value("Actor", got.Actor, want.Actor)
	d.value("Role", got.Role, want.Role)
	d.value("Action", got.Action, want.Action)
	d.value("TerminalID", got.TerminalID, want.TerminalID)
	d.value("Outcome", got.Outcome, want.Outcome)
	d.json("Detail", got.Detail, want.Detail)
	d.report(t, "audit record "+want.ID)
}

func testAuditRoundTrip(t *testing.T, e env) {
	ctx := context.Background()
	term, absent := e.id(t, "a"), e.id(t, "absent")
	create(t, e.store, term)
	alice := e.actor(t, "alice")

	full := auditRecord(term, alice, "config.set", at(time.Second).In(time.FixedZone("UTC+8", 8*3600)), 1)
	fleetWide := fleet.AuditRecord{ID: fleet.NewAuditID(at(2 * time.Second)), At: at(2 * time.Second), Actor: alice,
		Action: "request.denied", Outcome: "denied"}
	// Audit records name terminals that may not exist (a denied request for
	// an unknown id); storing one must neither fail nor create the terminal.
	forAbsent := auditRecord(absent, alice, "command.send", at(3*time.Second), 3)
	forAbsent.Outcome = "failed"
	// Audit records never expire: one from long ago is kept like any other.
	old := time.Date(2001, time.February, 3, 4, 5, 6, 789_000_000, time.UTC)
	ancient := auditRecord(term, alice, "credentials.rotate", old, 4)
	// A large detail (a config diff) is kept whole.
	large := auditRecord(term, alice, "config.set", at(4*time.Second), 5)
	large.Detail = mustJSON(t, map[string]any{"diff": strings.Repeat("0123456789abcdef", 3000), "n": 5})
	mine := []fleet.AuditRecord{full, fleetWide, forAbsent, ancient, large}

	for _, r := range mine {
		if err := e.store.PutAudit(ctx, r); err != nil {
			t.Fatalf("PutAudit(%s, terminal %q): %v", r.ID, r.TerminalID, err)
		}
	}
	if _, err := e.store.Terminal(ctx, absent); !errors.Is(err, fleet.ErrNotFound) {
		t.Errorf("Terminal after PutAudit naming an absent terminal: got error %v, want ErrNotFound", err)
	}
	for _, q := range []fleet.AuditQuery{
		{TerminalID: term, Limit: 10},
		{TerminalID: absent, Limit: 10},
		{Actor: alice, Limit: 10},
		{Actor: alice, Limit: 1},
	} {
		t.Run(describeQuery(q), func(t *testing.T) { checkAudit(t, e.store, q, mine, true) })
	}
}

func testAuditIdempotent(t *testing.T, e env) {
	ctx := context.Background()
	term := e.id(t, "a")
	alice, mallory := e.actor(t, "alice"), e.actor(t, "mallory")
	first := auditRecord(term, alice, "config.set", at(time.Second), 1)
	fleetWide := auditRecord("", alice, "credentials.rotate", at(2*time.Second), 2)
	for _, r := range []fleet.AuditRecord{first, fleetWide} {
		for i := 0; i < 3; i++ {
			if err := e.store.PutAudit(ctx, r); err != nil {
				t.Fatalf("PutAudit(%s) #%d: %v", r.ID, i+1, err)
			}
		}
		// The same ID again with other content (a forged or buggy rewrite):
		// the stored record is kept as first stored.
		other := r
		other.Actor, other.Action, other.Outcome = mallory, "request.denied", "denied"
		other.Detail = json.RawMessage(`{"rewritten":true}`)
		if err := e.store.PutAudit(ctx, other); err != nil {
			t.Errorf("PutAudit(%s) with a stored ID and other content: got error %v, want nil (idempotent)", r.ID, err)
		}
	}
	mine := []fleet.AuditRecord{first, fleetWide}
	checkAudit(t, e.store, fleet.AuditQuery{TerminalID: term, Limit: 10}, mine, true)
	checkAudit(t, e.store, fleet.AuditQuery{Actor: alice, Limit: 10}, mine, true)
	checkAudit(t, e.store, fleet.AuditQuery{Actor: mallory, Limit: 10}, mine, true)
}

func testAuditInvalid(t *testing.T, e env) {
	ctx := context.Background()
	term := e.id(t, "a")
	alice := e.actor(t, "alice")
	valid := func() fleet.AuditRecord { return auditRecord(term, alice, "config.set", at(time.Second), 1) }
	tests := []struct {
		name   string
		change func(r *fleet.AuditRecord)
	}{
		{"empty ID", func(r *fleet.AuditRecord) { r.ID = "" }},
		{"ID not made by NewAuditID", func(r *fleet.AuditRecord) { r.ID = "audit-1" }},
		{"ID with a bad suffix", func(r *fleet.AuditRecord) { r.ID = r.ID[:14] + "zz/../x" }},
		{"ID of another time than At", func(r *fleet.AuditRecord) { r.ID = fleet.NewAuditID(at(time.Hour)) }},
		{"zero At", func(r *fleet.AuditRecord) { r.At = time.Time{} }},
		{"Detail not JSON", func(r *fleet.AuditRecord) { r.Detail = json.RawMessage(`{"unterminated":`) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := valid()
			tt.change(&r)
			wantErr(t, "PutAudit", e.store.PutAudit(ctx, r), fleet.ErrInvalid)
		})
	}
	// Nothing was stored.
	checkAudit(t, e.store, fleet.AuditQuery{TerminalID: term, Limit: 10}, nil, true)
	checkAudit(t, e.store, fleet.AuditQuery{Actor: alice, Limit: 10}, nil, true)
}

func testAuditQueryInvalid(t *testing.T, e env) {
	ctx := context.Background()
	term := e.id(t, "a")
	alice := e.actor(t, "alice")
	putAudits(t, e.store, []fleet.AuditRecord{auditRecord(term, alice, "config.set", at(0), 1)})
	for _, bq := range []fleet.AuditQuery{{TerminalID: term}, {Actor: alice}, {}} {
		for _, limit := range []int{0, -1} {
			q := bq
			q.Limit = limit
			_, _, err := e.store.Audit(ctx, q)
			wantErr(t, "Audit"+describeQuery(q), err, fleet.ErrInvalid)
		}
		for _, cursor := range []string{"not a cursor!", "%%%", "\xff\xfe", "../../etc/passwd", strings.Repeat("!", 3000)} {
			q := bq
			q.Limit, q.Cursor = 10, cursor
			_, _, err := e.store.Audit(ctx, q)
			wantErr(t, fmt.Sprintf("Audit%s with cursor %.20q", describeQuery(q), cursor), err, fleet.ErrInvalid)
		}
	}
}

func testAuditEmpty(t *testing.T, e env) {
	ctx := context.Background()
	term := e.id(t, "a")
	create(t, e.store, term)
	for _, q := range []fleet.AuditQuery{
		{TerminalID: term, Limit: 10},
		{TerminalID: e.id(t, "absent"), Limit: 1},
		{Actor: e.actor(t, "nobody"), Limit: 10},
		{Action: "no-such-action." + e.id(t, "x"), Limit: 10},
	} {
		recs, next, err := e.store.Audit(ctx, q)
		if err != nil || len(recs) != 0 || next != "" {
			t.Errorf("Audit%s with no records: got (%d records, %q, %v), want (0, \"\", nil)", describeQuery(q), len(recs), next, err)
		}
	}
}

// auditSet is the record set of the filter tests: 40 records, two per
// second (sharing a millisecond, so their order is the IDs' random part),
// spread over three terminals (one id a prefix of another) and fleet-wide
// records, two actors and four actions.
type auditSet struct {
	a, a2, b     string
	alice, bob   string
	actions      []string
	records      []fleet.AuditRecord
	second       func(n int) time.Time
	unknownActor string
}

func newAuditSet(t *testing.T, e env) auditSet {
	s := auditSet{
		a: e.id(t, "a"), a2: e.id(t, "a.x"), b: e.id(t, "b"),
		alice: e.actor(t, "alice"), bob: e.actor(t, "bob"),
		actions:      []string{"config.set", "command.send", "credentials.rotate", "request.denied"},
		second:       func(n int) time.Time { return at(time.Duration(n) * time.Second) },
		unknownActor: e.actor(t, "nobody"),
	}
	terminals := []string{s.a, s.a2, s.b, ""}
	for i := 0; i < 40; i++ {
		actor := s.alice
		if i%3 == 0 {
			actor = s.bob
		}
		r := auditRecord(terminals[i%4], actor, s.actions[(i/4)%4], s.second(i/2), i)
		if i%5 == 0 {
			r.Outcome = "denied"
		}
		s.records = append(s.records, r)
	}
	return s
}

func testAuditFilters(t *testing.T, e env) {
	s := newAuditSet(t, e)
	putAudits(t, e.store, s.records)
	sec := s.second
	ms := time.Millisecond
	exclusive := []fleet.AuditQuery{
		{TerminalID: s.a},
		{TerminalID: s.a2},
		{TerminalID: s.b},
		{Actor: s.alice},
		{Actor: s.bob},
		{TerminalID: s.a, Actor: s.alice},
		{TerminalID: s.b, Action: s.actions[1]},
		{Actor: s.bob, Action: s.actions[2]},
		{Actor: s.alice, Since: sec(5)},
		{Actor: s.alice, Until: sec(5)},
		{Actor: s.alice, Since: sec(5), Until: sec(12)},
		{Actor: s.alice, Since: sec(5).Add(-ms / 2)},
		{Actor: s.alice, Since: sec(5).Add(ms)},
		{Actor: s.alice, Until: sec(5).Add(ms / 2)},
		{Actor: s.alice, Until: sec(5).Add(-ms)},
		{TerminalID: s.a, Since: sec(4), Until: sec(16)},
		{TerminalID: s.a2, Since: sec(2), Until: sec(2).Add(ms)},
		{TerminalID: s.b, Actor: s.alice, Action: s.actions[3], Since: sec(1), Until: sec(19)},
		{Actor: s.alice, Action: s.actions[0], Since: sec(0), Until: sec(20)},
		{Actor: s.alice, Since: sec(12), Until: sec(5)},
		{Actor: s.alice, Since: sec(100)},
		{Actor: s.alice, Until: sec(0)},
		{TerminalID: s.a, Actor: s.bob, Action: "no-such-action"},
		{Actor: s.unknownActor},
	}
	for _, q := range exclusive {
		for _, limit := range []int{1, 3, 1000} {
			q.Limit = limit
			t.Run(describeQuery(q), func(t *testing.T) { checkAudit(t, e.store, q, s.records, true) })
		}
	}
	// Fleet-wide queries without an actor of this test's own may list
	// records of other tests (a shared store); they must still match.
	shared := []fleet.AuditQuery{
		{Limit: 100},
		{Action: s.actions[3], Limit: 50},
		{Since: sec(5), Until: sec(12), Limit: 100},
		{Action: s.actions[0], Since: sec(2), Limit: 20},
	}
	for _, q := range shared {
		t.Run(describeQuery(q), func(t *testing.T) { checkAudit(t, e.store, q, s.records, false) })
	}
}

// testAuditOtherTerminals stores records of terminals whose ids are
// prefixes of one another and checks that a terminal's query lists only its
// own, however the store keys them.
func testAuditOtherTerminals(t *testing.T, e env) {
	ids := []string{e.id(t, "a"), e.id(t, "a.b"), e.id(t, "a.b.c"), e.id(t, "a_"), e.id(t, "b")}
	alice := e.actor(t, "alice")
	var recs []fleet.AuditRecord
	for i := 0; i < 30; i++ {
		recs = append(recs, auditRecord(ids[i%len(ids)], alice, "command.send", at(time.Duration(i)*time.Millisecond), i))
	}
	putAudits(t, e.store, recs)
	for _, id := range ids {
		for _, limit := range []int{2, 100} {
			q := fleet.AuditQuery{TerminalID: id, Limit: limit}
			t.Run(describeQuery(q), func(t *testing.T) { checkAudit(t, e.store, q, recs, true) })
		}
	}
}

// testAuditPaging pages through 260 records (three per millisecond), more
// than one DynamoDB query page of a small limit and enough to need filter
// pages to be refilled.
func testAuditPaging(t *testing.T, e env) {
	a, b := e.id(t, "a"), e.id(t, "b")
	alice := e.actor(t, "alice")
	const n = 260
	var recs []fleet.AuditRecord
	for i := 0; i < n; i++ {
		term := a
		switch i % 4 {
		case 2:
			term = b
		case 3:
			term = ""
		}
		action := "command.send"
		if i%25 == 0 {
			action = "credentials.rotate" // sparse: 11 of 260
		}
		recs = append(recs, auditRecord(term, alice, action, at(time.Duration(i/3)*time.Millisecond), i))
	}
	putAudits(t, e.store, recs)
	var queries []fleet.AuditQuery
	for _, limit := range []int{1, 7, 100, 129, 130, 131, 1000} {
		queries = append(queries, fleet.AuditQuery{TerminalID: a, Limit: limit})
	}
	for _, limit := range []int{7, 100, 259, 260, 1000} {
		queries = append(queries, fleet.AuditQuery{Actor: alice, Limit: limit})
	}
	queries = append(queries,
		fleet.AuditQuery{TerminalID: b, Limit: 10},
		fleet.AuditQuery{Actor: alice, Action: "credentials.rotate", Limit: 1},
		fleet.AuditQuery{Actor: alice, Action: "credentials.rotate", Limit: 3},
		fleet.AuditQuery{TerminalID: a, Action: "credentials.rotate", Limit: 2},
		fleet.AuditQuery{Actor: alice, Since: at(20 * time.Millisecond), Until: at(60 * time.Millisecond), Limit: 10},
		fleet.AuditQuery{TerminalID: a, Since: at(20 * time.Millisecond), Until: at(60 * time.Millisecond), Limit: 7},
	)
	for _, q := range queries {
		t.Run(describeQuery(q), func(t *testing.T) { checkAudit(t, e.store, q, recs, true) })
	}
}

func testConcurrentPutAudit(t *testing.T, e env) {
	term := e.id(t, "a")
	alice := e.actor(t, "alice")
	const perWorker = 5
	recs := make([]fleet.AuditRecord, workers*perWorker)
	for i := range recs {
		tid := term
		if i%2 == 1 {
			tid = ""
		}
		recs[i] = auditRecord(tid, alice, "command.send", at(time.Duration(i)*time.Millisecond), i)
	}
	parallel(workers, func(w int) {
		ctx := context.Background()
		// Every worker also stores the first record: a retried write.
		for _, r := range append([]fleet.AuditRecord{recs[0]}, recs[w*perWorker:(w+1)*perWorker]...) {
			if err := e.store.PutAudit(ctx, r); err != nil {
				t.Errorf("worker %d: PutAudit(%s): %v", w, r.ID, err)
			}
		}
	})
	checkAudit(t, e.store, fleet.AuditQuery{Actor: alice, Limit: 1000}, recs, true)
	checkAudit(t, e.store, fleet.AuditQuery{TerminalID: term, Limit: 1000}, recs, true)
}
