package fleet

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/edgesync/edgesync/protocol"
)

// TerminalQuery selects a page of the terminals a principal sees. Every
// filter given must hold; the zero value of a filter keeps every terminal.
type TerminalQuery struct {
	// Cursor continues a previous page of the same query ("" for the first).
	Cursor string
	// Limit is the page size, 1 to MaxPageSize.
	Limit int
	// Group keeps the terminals of one group, read through the store's
	// group index (Store.GroupTerminals), so it costs what a page of that
	// group costs. A group the caller is not in lists nothing, as if empty.
	Group string
	// Search keeps the terminals whose id or name contains it, ignoring case.
	Search string
	// Online, when set, keeps the terminals whose effective online state
	// (TerminalView.Online) is *Online.
	Online *bool
	// Stale, when set, keeps the terminals whose config or status is stale
	// (true), or neither (false).
	Stale *bool
	// AgentVersion keeps the terminals that reported exactly this agent version.
	AgentVersion string
}

// FilterReadFactor bounds the work of a filtered page: a query with
// Search, Online, Stale or AgentVersion examines at most about
// FilterReadFactor × Limit terminals (a batch may overshoot by less than
// Limit), keeping those that match; a listing of a user's groups reads
// them as groupTerminals does, about one record per group for each. When the budget runs out
// first, the page is short (possibly empty) and its cursor continues the
// scan after the last terminal read; only the last page has no cursor.
const FilterReadFactor = 5

// Bounds of the filters' values.
const (
	maxSearchBytes       = 200
	maxAgentVersionBytes = 128
)

// filtered reports whether q has filters applied while paging (Group is
// not one: it picks what is read).
func (q TerminalQuery) filtered() bool {
	return q.Search != "" || q.Online != nil || q.Stale != nil || q.AgentVersion != ""
}

func (q TerminalQuery) validate() error {
	if q.Limit < 1 || q.Limit > MaxPageSize {
		return fmt.Errorf("limit %d: must be from 1 to %d: %w", q.Limit, MaxPageSize, ErrInvalid)
	}
	if q.Group != "" && !validGroup(q.Group) {
		return fmt.Errorf("group %q: must be 1 to %d bytes of UTF-8 without spaces or control characters: %w", truncate(q.Group, 64), maxGroupBytes, ErrInvalid)
	}
	if len(q.Search) > maxSearchBytes || !utf8.ValidString(q.Search) {
		return fmt.Errorf("search: at most %d bytes of UTF-8: %w", maxSearchBytes, ErrInvalid)
	}
	if len(q.AgentVersion) > maxAgentVersionBytes || !utf8.ValidString(q.AgentVersion) {
		return fmt.Errorf("agent version: at most %d bytes of UTF-8: %w", maxAgentVersionBytes, ErrInvalid)
	}
	return nil
}

// match reports whether t, as it stands at now, passes q's filters.
func (s *Service) match(q TerminalQuery, search string, t Terminal, now time.Time) bool {
	if search != "" && !strings.Contains(strings.ToLower(t.ID), search) && !strings.Contains(strings.ToLower(t.Name), search) {
		return false
	}
	if q.Online != nil && s.online(t, now) != *q.Online {
		return false
	}
	if q.Stale != nil {
		stale := freshness(t.Config.SyncedAt, s.cfg.ConfigTTL, now).Stale || freshness(t.Status.SyncedAt, s.cfg.StatusTTL, now).Stale
		if stale != *q.Stale {
			return false
		}
	}
	return q.AgentVersion == "" || t.AgentVersion == q.AgentVersion
}

// QueryTerminals lists the terminals p sees that pass q's filters, in id
// order, at most q.Limit, and returns the cursor of the next page ("" with
// the last). Admins read the whole fleet, others the terminals of their
// groups (see Terminals); q.Group reads one group through the store's
// index. Work per call is bounded: without filters a page reads q.Limit
// terminals; with filters at most FilterReadFactor × q.Limit, so a page
// may be short, even empty, while its cursor says more may match further
// on.
func (s *Service) QueryTerminals(ctx context.Context, p Principal, q TerminalQuery) ([]TerminalView, string, error) {
	if err := s.allow(ctx, p, opListTerminals, ""); err != nil {
		return nil, "", err
	}
	if err := q.validate(); err != nil {
		return nil, "", err
	}
	var src terminalSource
	switch {
	case q.Group != "" && !p.seesAll() && !slices.Contains(p.Groups, q.Group):
		return nil, "", nil // another group's terminals are absent to p
	case q.Group != "":
		src = &groupSource{s: s, p: p, groups: []string{q.Group}, after: q.Cursor}
	case p.seesAll():
		fs, err := newFleetSource(s.store, q.Cursor)
		if err != nil {
			return nil, "", err
		}
		src = fs
	default:
		src = &groupSource{s: s, p: p, groups: p.Groups, after: q.Cursor}
	}
	budget := q.Limit
	if q.filtered() {
		budget = FilterReadFactor * q.Limit
	}
	search := strings.ToLower(q.Search)
	now := s.now()
	var out []TerminalView
	read := 0
	for {
		batch, more, n, err := src.read(ctx, max(1, min(q.Limit, budget-read)))
		if err != nil {
			return nil, "", fmt.Errorf("list terminals: %w", err)
		}
		read += n
		for i, t := range batch {
			if !s.match(q, search, t, now) {
				continue
			}
			out = append(out, s.view(p, t, now))
			if len(out) == q.Limit {
				if i == len(batch)-1 && !more {
					return out, "", nil
				}
				return out, src.cursorAfter(i), nil
			}
		}
		switch {
		case !more || len(batch) == 0:
			return out, "", nil
		case read >= budget:
			return out, src.cursorAfter(len(batch) - 1), nil
		}
	}
}

// terminalSource yields the terminals a listing reads, in id order, a
// batch at a time.
type terminalSource interface {
	// read returns up to n more terminals (at least one unless there are
	// no more), whether more may follow them and how many records it read
	// to find them.
	read(ctx context.Context, n int) (batch []Terminal, more bool, records int, err error)
	// cursorAfter is the cursor that continues the listing after the i-th
	// terminal of the last batch.
	cursorAfter(i int) string
}

// groupSource reads the terminals of groups that p sees (groupTerminals);
// its cursor is the id of the last terminal read.
type groupSource struct {
	s      *Service
	p      Principal
	groups []string
	after  string
	last   []Terminal
}

func (g *groupSource) read(ctx context.Context, n int) ([]Terminal, bool, int, error) {
	ts, next, err := g.s.groupTerminals(ctx, g.p, g.groups, g.after, n)
	if err != nil {
		return nil, false, 0, err
	}
	g.last = ts
	if len(ts) > 0 {
		g.after = ts[len(ts)-1].ID
	}
	return ts, next != "", len(ts), nil
}

func (g *groupSource) cursorAfter(i int) string { return g.last[i].ID }

// fleetSource reads the whole fleet with Store.Terminals, whose cursors
// are opaque: a page that ends inside a batch continues with a fleet
// cursor naming the store cursor the batch started at and the last id
// read from it (skipCursor), so the next page reads that batch again
// from the id after it.
type fleetSource struct {
	store Store
	// cursor is the store cursor of the next read; skipThrough drops the
	// terminals up to this id from it.
	cursor, skipThrough string
	// start and next are the store cursors of the last batch and after it.
	start, next string
	last        []Terminal
}

// skipCursorPrefix marks a fleet cursor: a character no terminal id and
// no base64url text holds, so it is never a store cursor.
const skipCursorPrefix = "~"

type skipCursor struct {
	StoreCursor string `json:"c"`
	After       string `json:"a"`
}

func newFleetSource(store Store, cursor string) (*fleetSource, error) {
	fs := &fleetSource{store: store, cursor: cursor}
	if rest, ok := strings.CutPrefix(cursor, skipCursorPrefix); ok {
		var c skipCursor
		raw, err := base64.RawURLEncoding.DecodeString(rest)
		if err != nil || json.Unmarshal(raw, &c) != nil || !protocol.ValidID(c.After) || strings.HasPrefix(c.StoreCursor, skipCursorPrefix) {
			return nil, fmt.Errorf("cursor: not one this listing returned: %w", ErrInvalid)
		}
		fs.cursor, fs.skipThrough = c.StoreCursor, c.After
	}
	return fs, nil
}

func (f *fleetSource) read(ctx context.Context, n int) ([]Terminal, bool, int, error) {
	records := 0
	for {
		f.start = f.cursor
		ts, next, err := f.store.Terminals(ctx, f.cursor, n)
		if err != nil {
			return nil, false, records, err
		}
		records += len(ts)
		f.cursor, f.next = next, next
		if f.skipThrough != "" {
			i := 0
			for i < len(ts) && ts[i].ID <= f.skipThrough {
				i++
			}
			ts = ts[i:]
			if len(ts) > 0 || next == "" {
				f.skipThrough = ""
			}
		}
		if len(ts) == 0 && next != "" {
			continue // the whole batch was read by the previous page
		}
		f.last = ts
		return ts, next != "", records, nil
	}
}

func (f *fleetSource) cursorAfter(i int) string {
	if i == len(f.last)-1 && f.next != "" {
		return f.next
	}
	raw, _ := json.Marshal(skipCursor{StoreCursor: f.start, After: f.last[i].ID})
	return skipCursorPrefix + base64.RawURLEncoding.EncodeToString(raw)
}

// TerminalSummary condenses a terminal's last reported status for a fleet
// listing: CPU, memory and disk use in percent (each absent when the
// status has no such number) and the log lines its spool dropped.
type TerminalSummary struct {
	CPU     *float64 `json:"cpu,omitempty"`
	Memory  *float64 `json:"memory,omitempty"`
	Disk    *float64 `json:"disk,omitempty"`
	Dropped uint64   `json:"dropped"`
}

// summarize derives t's summary from its stored status (the keys of
// docs/PROTOCOL.md's status: cpu_percent, memory_percent, disk_percent).
func summarize(t Terminal) TerminalSummary {
	sum := TerminalSummary{Dropped: t.Dropped}
	if len(t.Status.Data) == 0 {
		return sum
	}
	var st struct {
		CPU    json.RawMessage `json:"cpu_percent"`
		Memory json.RawMessage `json:"memory_percent"`
		Disk   json.RawMessage `json:"disk_percent"`
	}
	if json.Unmarshal(t.Status.Data, &st) != nil {
		return sum
	}
	sum.CPU, sum.Memory, sum.Disk = percent(st.CPU), percent(st.Memory), percent(st.Disk)
	return sum
}

// percent is a JSON number as a float, nil for anything else.
func percent(raw json.RawMessage) *float64 {
	var v float64
	if len(raw) == 0 || json.Unmarshal(raw, &v) != nil {
		return nil
	}
	return &v
}
