package servicetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/edgesync/edgesync/fleet"
	"github.com/edgesync/edgesync/protocol"
)

// searchAndAlertTests are the suite's tests of fleet-wide log search and
// alerts (Run adds them).
func searchAndAlertTests() []struct {
	name string
	run  func(t *testing.T, e *env)
} {
	return []struct {
		name string
		run  func(t *testing.T, e *env)
	}{
		{"Search/NewestFirstAcrossTerminals", testSearchNewestFirst},
		{"Search/NeverAnotherGroupsLines", testSearchGroups},
		{"Search/FiltersAndTimeBounds", testSearchFilters},
		{"Search/ResentLinesOnce", testSearchResent},
		{"Search/LinesTheRecordHasNotCaughtUpWith", testSearchAheadOfTheRecord},
		{"Search/CursorWhenTerminalsChange", testSearchTerminalsChange},
		{"Search/ReadBudgetBoundsEachRequest", testSearchBudget},
		{"Alerts/OfflineFiresClearsFiresAgain", testAlertOffline},
		{"Alerts/KeptWhenTheGroupReadFails", testAlertsKeptWhenTheGroupReadFails},
		{"Alerts/StatusThresholdFiresClearsFiresAgain", testAlertStatus},
		{"Alerts/ErrorRateFiresClearsFiresAgain", testAlertErrorRate},
		{"Alerts/ErrorRateAcrossProcesses", testAlertErrorRateAcrossProcesses},
		{"Alerts/ErrorRateNotClearedOnACutCount", testAlertErrorRateNotClearedOnACutCount},
		{"Alerts/GroupsOfAReusedTerminalID", testAlertGroupsOfAReusedID},
		{"Alerts/DroppedFiresClearsFiresAgain", testAlertDropped},
		{"Alerts/DroppedTakesTheTerminalsLastDrop", testAlertDroppedAt},
		{"Alerts/RulesAndAcknowledgeAccess", testAlertAccess},
	}
}

// searchBase is the time of the search tests' lines.
var searchBase = time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)

// line is a log line of seq at searchBase + sec seconds.
func line(seq uint64, sec int, level, msg string) protocol.LogEntry {
	return protocol.LogEntry{Seq: seq, Time: searchBase.Add(time.Duration(sec) * time.Second), Level: level, Message: msg}
}

// sendLines sends lines as logs batches of at most batch lines.
func (e *env) sendLines(t *testing.T, connID string, lines []protocol.LogEntry, batch int) {
	t.Helper()
	for i := 0; i < len(lines); i += batch {
		e.send(t, connID, map[string]any{"type": "logs", "entries": lines[i:min(i+batch, len(lines))]})
	}
}

// searchAll follows the cursor and returns every line "terminal/seq".
func searchAll(t *testing.T, svc *fleet.Service, p fleet.Principal, q fleet.LogSearch) []string {
	t.Helper()
	var out []string
	for range 1000 {
		page, err := svc.SearchLogs(context.Background(), p, q)
		if err != nil {
			t.Fatalf("SearchLogs(%+v): %v", q, err)
		}
		for _, l := range page.Lines {
			out = append(out, fmt.Sprintf("%s/%d", l.TerminalID, l.Seq))
		}
		if page.NextCursor == "" {
			return out
		}
		q.Cursor = page.NextCursor
	}
	t.Fatal("the search never ended")
	return nil
}

// fleetLines sets up t1 and t2 in group "a" and t3 in group "b", online,
// with lines interleaved in time: t1 at even seconds, t2 at odd ones, t3
// every second, 60 lines each (seq 1..60, second 0..119 or 0..59).
func fleetLines(t *testing.T, e *env) {
	for i, id := range []string{"t1", "t2", "t3"} {
		group := "a"
		if id == "t3" {
			group = "b"
		}
		e.connect(t, id, e.terminal(t, id, group), "c"+id)
		var lines []protocol.LogEntry
		for s := 1; s <= 60; s++ {
			sec := 2*(s-1) + i
			if id == "t3" {
				sec = s - 1
			}
			level := "info"
			if s%10 == 0 {
				level = "error"
			}
			l := line(uint64(s), sec, level, fmt.Sprintf("%s says %d", id, s))
			if s == 7 {
				l.Attrs = map[string]any{"api_token": "s3cret", "cam": "2"}
			}
			lines = append(lines, l)
		}
		e.sendLines(t, "c"+id, lines, 7)
	}
}

// want lists "terminal/seq" of t1 and t2's lines newest first (t2's line
// at second 2s+1 is newer than t1's at 2s).
func wantAB(keep func(id string, seq int) bool) []string {
	var out []string
	for s := 60; s >= 1; s-- {
		for _, id := range []string{"t2", "t1"} {
			if keep == nil || keep(id, s) {
				out = append(out, fmt.Sprintf("%s/%d", id, s))
			}
		}
	}
	return out
}

func testSearchNewestFirst(t *testing.T, e *env) {
	fleetLines(t, e)
	viewer := fleet.Principal{Subject: "vic", Role: fleet.RoleViewer, Groups: []string{"a"}}
	for _, limit := range []int{1, 7, 100, 500} {
		t.Run(fmt.Sprint("limit ", limit), func(t *testing.T) {
			got := searchAll(t, e.svc, viewer, fleet.LogSearch{Limit: limit})
			if want := wantAB(nil); !reflect.DeepEqual(got, want) {
				t.Errorf("lines of t1 and t2, newest first, pages of %d:\n got %v\nwant %v", limit, got, want)
			}
		})
	}
	page, err := e.svc.SearchLogs(context.Background(), viewer, fleet.LogSearch{Limit: 3})
	if err != nil {
		t.Fatal(err)
	}
	if page.Terminals != 2 || len(page.Lines) != 3 || page.Lines[0].TerminalID != "t2" || page.Lines[0].Seq != 60 ||
		!page.Lines[0].Time.Equal(searchBase.Add(119*time.Second)) || page.Lines[0].Message != "t2 says 60" {
		t.Errorf("first page = %+v, want t2's line 60 first, of 2 terminals", page)
	}
	// Admins search the fleet: t3's lines interleave by time.
	all := searchAll(t, e.svc, admin, fleet.LogSearch{Limit: 50})
	if len(all) != 180 || all[0] != "t2/60" || !slices.Contains(all, "t3/60") {
		t.Errorf("admin search: %d lines starting %v, want 180 starting t2/60 and holding t3's", len(all), all[:min(3, len(all))])
	}
	if i, j := slices.Index(all, "t3/60"), slices.Index(all, "t1/31"); i < j {
		// t3/60 is at 59 s, t1/31 at 60 s.
		t.Errorf("t3/60 (59 s) listed before t1/31 (60 s): at %d, before %d", i, j)
	}
}

func testSearchGroups(t *testing.T, e *env) {
	fleetLines(t, e)
	ctx := context.Background()
	viewerA := fleet.Principal{Subject: "vic", Role: fleet.RoleViewer, Groups: []string{"a"}}
	tests := []struct {
		name string
		p    fleet.Principal
		q    fleet.LogSearch
		want []string // terminals whose lines may appear
	}{
		{"viewer of a", viewerA, fleet.LogSearch{}, []string{"t1", "t2"}},
		{"viewer of a names b", viewerA, fleet.LogSearch{Group: "b"}, nil},
		{"viewer of a names a group nobody has", viewerA, fleet.LogSearch{Group: "zzz"}, nil},
		{"viewer of no group", fleet.Principal{Subject: "x", Role: fleet.RoleViewer}, fleet.LogSearch{}, nil},
		{"viewer of b", fleet.Principal{Subject: "y", Role: fleet.RoleViewer, Groups: []string{"b"}}, fleet.LogSearch{}, []string{"t3"}},
		{"admin names b", fleet.Principal{Subject: "ad", Role: fleet.RoleAdmin}, fleet.LogSearch{Group: "b"}, []string{"t3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.q.Limit = 500
			got := searchAll(t, e.svc, tt.p, tt.q)
			seen := map[string]bool{}
			for _, l := range got {
				id, _, _ := strings.Cut(l, "/")
				seen[id] = true
				if !slices.Contains(tt.want, id) {
					t.Fatalf("line %s returned, want only lines of %v", l, tt.want)
				}
			}
			if len(seen) != len(tt.want) {
				t.Errorf("lines of %v, want of %v", seen, tt.want)
			}
		})
	}
	// A cursor of one caller gives another nothing it may not see.
	adminPage, err := e.svc.SearchLogs(ctx, admin, fleet.LogSearch{Limit: 5})
	if err != nil {
		t.Fatal(err)
	}
	page, err := e.svc.SearchLogs(ctx, viewerA, fleet.LogSearch{Limit: 500, Cursor: adminPage.NextCursor})
	if err != nil {
		t.Fatalf("viewer with the admin's cursor: %v", err)
	}
	for _, l := range page.Lines {
		if l.TerminalID == "t3" {
			t.Fatalf("viewer of a got t3's line %d through an admin's cursor", l.Seq)
		}
	}
	// Secrets in attributes are masked for viewers, not for admins.
	for _, p := range []fleet.Principal{viewerA, admin} {
		got, err := e.svc.SearchLogs(ctx, p, fleet.LogSearch{Query: "t1 says 7", Limit: 5})
		if err != nil || len(got.Lines) != 1 {
			t.Fatalf("search t1's line 7: %+v, %v", got, err)
		}
		want := "s3cret"
		if !p.SeesSecrets() {
			want = fleet.Masked
		}
		if a := got.Lines[0].Attrs; a["api_token"] != want || a["cam"] != "2" {
			t.Errorf("%s reads attrs %v, want api_token %q", p.Subject, a, want)
		}
	}
	_, err = e.svc.SearchLogs(ctx, fleet.TerminalPrincipal("t1"), fleet.LogSearch{})
	if !errors.Is(err, fleet.ErrForbidden) {
		t.Errorf("a terminal searching: %v, want ErrForbidden", err)
	}
}

func testSearchFilters(t *testing.T, e *env) {
	fleetLines(t, e)
	ctx := context.Background()
	viewer := fleet.Principal{Subject: "vic", Role: fleet.RoleViewer, Groups: []string{"a"}}
	at := func(sec int) time.Time { return searchBase.Add(time.Duration(sec) * time.Second) }
	tests := []struct {
		name string
		q    fleet.LogSearch
		keep func(id string, seq int) bool
	}{
		{"level error", fleet.LogSearch{Level: "error"}, func(_ string, s int) bool { return s%10 == 0 }},
		{"level fatal is error", fleet.LogSearch{Level: "fatal"}, func(_ string, s int) bool { return s%10 == 0 }},
		{"query ignores case", fleet.LogSearch{Query: "T1 SAYS 5"}, func(id string, s int) bool { return id == "t1" && (s == 5 || s >= 50 && s <= 59) }},
		// t1's seq s is at 2(s-1) s, t2's at 2(s-1)+1 s.
		{"since", fleet.LogSearch{Since: at(100)}, func(id string, s int) bool { return 2*(s-1)+map[string]int{"t1": 0, "t2": 1}[id] >= 100 }},
		{"until", fleet.LogSearch{Until: at(10)}, func(id string, s int) bool { return 2*(s-1)+map[string]int{"t1": 0, "t2": 1}[id] < 10 }},
		{"since and until", fleet.LogSearch{Since: at(40), Until: at(50), Level: "info"}, func(id string, s int) bool {
			sec := 2*(s-1) + map[string]int{"t1": 0, "t2": 1}[id]
			return sec >= 40 && sec < 50 && s%10 != 0
		}},
		{"nothing matches", fleet.LogSearch{Query: "no such line"}, func(string, int) bool { return false }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, limit := range []int{3, 500} {
				q := tt.q
				q.Limit = limit
				if got, want := searchAll(t, e.svc, viewer, q), wantAB(tt.keep); !reflect.DeepEqual(got, want) && !(len(got) == 0 && len(want) == 0) {
					t.Errorf("limit %d:\n got %v\nwant %v", limit, got, want)
				}
			}
		})
	}
	bad := []fleet.LogSearch{{Limit: -1}, {Limit: fleet.MaxSearchLimit + 1}, {Level: "loud"}, {Query: strings.Repeat("x", 300)},
		{Group: "a b"}, {Cursor: "not-a-cursor"}, {Cursor: "AQ"}}
	for _, q := range bad {
		if _, err := e.svc.SearchLogs(ctx, viewer, q); !errors.Is(err, fleet.ErrInvalid) {
			t.Errorf("SearchLogs(%+v): %v, want ErrInvalid", q, err)
		}
	}
}

// testSearchResent: a terminal resends lines in overlapping batches (after
// a lost ack); every line is returned once, in order.
func testSearchResent(t *testing.T, e *env) {
	e.connect(t, "t1", e.terminal(t, "t1", "a"), "c1")
	var lines []protocol.LogEntry
	for s := 1; s <= 40; s++ {
		lines = append(lines, line(uint64(s), s, "info", fmt.Sprint("l", s)))
	}
	e.sendLines(t, "c1", lines[:20], 10)
	e.sendLines(t, "c1", lines[5:30], 8) // overlaps and straddles
	e.sendLines(t, "c1", lines[15:40], 25)
	e.sendLines(t, "c1", lines[30:33], 3)
	var want []string
	for s := 40; s >= 1; s-- {
		want = append(want, fmt.Sprintf("t1/%d", s))
	}
	for _, limit := range []int{1, 4, 100} {
		if got := searchAll(t, e.svc, admin, fleet.LogSearch{Limit: limit}); !reflect.DeepEqual(got, want) {
			t.Errorf("limit %d:\n got %v\nwant %v", limit, got, want)
		}
	}
}

// testSearchAheadOfTheRecord: today's agents send their batches with
// "ack":"deferred" and no status most of the time, and a store may then
// leave the terminal record's LastSeq behind (the DynamoDB store brings
// it up to date about once a minute): the search still finds the newest
// lines, on the first page and after a cursor, and with until.
func testSearchAheadOfTheRecord(t *testing.T, e *env) {
	e.connect(t, "t1", e.terminal(t, "t1", "a"), "c1")
	var lines []protocol.LogEntry
	for s := 1; s <= 30; s++ {
		lines = append(lines, line(uint64(s), s, "info", fmt.Sprint("l", s)))
	}
	e.sendLines(t, "c1", lines[:10], 10) // recorded: the first protocol's batch
	for i := 10; i < 30; i += 5 {
		e.send(t, "c1", map[string]any{"type": "logs", "entries": lines[i : i+5], "ack": protocol.AckDeferred})
	}
	var want []string
	for s := 30; s >= 1; s-- {
		want = append(want, fmt.Sprintf("t1/%d", s))
	}
	for _, limit := range []int{1, 7, 100} {
		if got := searchAll(t, e.svc, admin, fleet.LogSearch{Limit: limit}); !reflect.DeepEqual(got, want) {
			t.Errorf("limit %d:\n got %v\nwant %v", limit, got, want)
		}
	}
	got := searchAll(t, e.svc, admin, fleet.LogSearch{Limit: 4, Until: searchBase.Add(26 * time.Second)})
	if !reflect.DeepEqual(got, want[5:]) {
		t.Errorf("until 26 s:\n got %v\nwant %v", got, want[5:])
	}
}

// testSearchTerminalsChange: a terminal created between pages makes the
// cursor's positions stale; the search goes on from the last line's time,
// never repeating a line.
func testSearchTerminalsChange(t *testing.T, e *env) {
	fleetLines(t, e)
	ctx := context.Background()
	viewer := fleet.Principal{Subject: "vic", Role: fleet.RoleViewer, Groups: []string{"a"}}
	page, err := e.svc.SearchLogs(ctx, viewer, fleet.LogSearch{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	got := []string{}
	for _, l := range page.Lines {
		got = append(got, fmt.Sprintf("%s/%d", l.TerminalID, l.Seq))
	}
	e.connect(t, "t0", e.terminal(t, "t0", "a"), "ct0")
	e.sendLines(t, "ct0", []protocol.LogEntry{line(1, 3, "info", "old"), line(2, 1000, "info", "newer than the cursor")}, 2)
	rest := searchAll(t, e.svc, viewer, fleet.LogSearch{Limit: 50, Cursor: page.NextCursor})
	got = append(got, rest...)
	want := wantAB(nil)
	// t0's line at 3 s falls between t2/2 (3 s: a tie, t0 first) and t1/2
	// (2 s); its line at 1000 s is newer than the first page.
	i := slices.Index(want, "t2/2")
	want = slices.Insert(want, i, "t0/1")
	if !reflect.DeepEqual(got, want) {
		t.Errorf("after a terminal was created between pages:\n got %v\nwant %v", got, want)
	}
}

// testSearchBudget: a search for a line far down a terminal's logs reads
// at most SearchChunkBudget chunks per request, answering short (empty)
// pages with a cursor until it finds it.
func testSearchBudget(t *testing.T, e *env) {
	ctx := context.Background()
	e.terminal(t, "t1", "a")
	const chunks = fleet.SearchChunkBudget + 100
	for c := range chunks {
		msg := "routine"
		if c == 0 {
			msg = "the needle"
		}
		seq := uint64(2*c + 1)
		err := e.store.PutLogChunk(ctx, fleet.LogChunk{TerminalID: "t1", FirstSeq: seq, LastSeq: seq + 1, StoredAt: e.clock.Now(), ExpiresAt: e.clock.Now().Add(time.Hour),
			Entries: []protocol.LogEntry{line(seq, 2*c, "info", msg), line(seq+1, 2*c+1, "info", "routine")}}, 0)
		if err != nil {
			t.Fatal(err)
		}
	}
	q := fleet.LogSearch{Query: "needle", Limit: 10}
	var found []string
	requests := 0
	for ; requests < 10; requests++ {
		page, err := e.svc.SearchLogs(ctx, admin, q)
		if err != nil {
			t.Fatal(err)
		}
		if page.Chunks > fleet.SearchChunkBudget {
			t.Errorf("request %d read %d chunks, more than the budget %d", requests, page.Chunks, fleet.SearchChunkBudget)
		}
		for _, l := range page.Lines {
			found = append(found, l.Message)
		}
		if page.NextCursor == "" {
			break
		}
		q.Cursor = page.NextCursor
	}
	if requests < 1 || !reflect.DeepEqual(found, []string{"the needle"}) {
		t.Errorf("after %d requests found %v, want the needle after more than one request", requests+1, found)
	}
}
