package fleet

import (
	"context"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/edgesync/edgesync/protocol"
)

// Fleet-wide log search: the lines of every terminal a principal sees,
// newest first, a page at a time, at a bounded cost per request.
//
// How the cost is bounded. A search reads the terminal records it covers
// (at most MaxSearchTerminals: the caller's groups, one group, or the
// fleet for admins), then reads each terminal's log chunks newest first
// (Store.ScanLogChunks, descending), fanned out searchFanOut at a time,
// and merges the terminals' lines by time (a k-way merge on a heap). A
// terminal is read only as far as the merge needs: a first read of
// searchFirstFill chunks, then reads that double up to searchMaxFill, and
// only while its lines may be newer than the next line of the page. Every
// request reads at most SearchChunkBudget chunks (and, on the first page
// of a search with Until, at most maxSeekProbes more per terminal to find
// its last line before Until: an interpolation search by time, a few
// probes on lines that arrive at a steady pace); when the budget runs out
// first (a rare filter, a long way back), the page is short, even empty,
// and its cursor continues where each terminal's read stopped. No index is
// written: a search costs nothing until someone searches.
//
// Order. Lines are ordered by their time (ts), newest first, ties by
// terminal id then sequence number. A terminal's lines are read in
// descending sequence numbers, which the merge takes as descending time:
// a terminal whose clock went backwards has those lines placed by
// sequence, and Since stops a terminal's read at its first line older
// than Since.
//
// The cursor holds each terminal's position (the sequence number to read
// at or below next), compact: a hash of the terminal list and one varint
// per terminal, about three bytes per terminal. If the terminals the
// caller sees changed between pages (one was created or deleted), the
// positions no longer apply and the search continues from the time of the
// last line returned instead (lines of exactly that time may then be
// skipped).

// Search bounds.
const (
	// DefaultSearchLimit and MaxSearchLimit are page sizes of SearchLogs.
	DefaultSearchLimit = 100
	MaxSearchLimit     = 500
	// MaxSearchTerminals bounds the terminals one search covers; a caller
	// who sees more names a group.
	MaxSearchTerminals = 1000
	// SearchChunkBudget bounds the log chunks one request reads.
	SearchChunkBudget = 1500
	searchFanOut      = 16
	searchFirstFill   = 2
	searchMaxFill     = 64
	maxSearchQuery    = 256
	// maxSeekProbes bounds the chunks a seek reads per terminal to find
	// its lines before Until (outside SearchChunkBudget).
	maxSeekProbes = 24
)

// TerminalRecords lists terminals' records without their documents: what
// the fleet-wide search (LastSeq) and the alert evaluation (presence,
// Dropped, the last status) read of every terminal they cover, at a third
// of the reads of Terminals and GroupTerminals in the DynamoDB store
// (which keeps the config and the desired config in items of their own).
type TerminalRecords interface {
	// TerminalRecords is Store.Terminals with each terminal's Config and
	// Desired left zero (the same pages and cursors).
	TerminalRecords(ctx context.Context, cursor string, limit int) ([]Terminal, string, error)
	// GroupTerminalRecords is Store.GroupTerminals with each terminal's
	// Config and Desired left zero.
	GroupTerminalRecords(ctx context.Context, group, after string, limit int) ([]Terminal, error)
}

// LogSearch selects log lines across the terminals a principal sees.
type LogSearch struct {
	// Group keeps the terminals of one group ("" for every terminal the
	// caller sees). A group the caller is not in has no lines for it.
	Group string
	// Level is the minimum level ("" for all).
	Level string
	// Query keeps lines whose message or source contains it, ignoring case.
	Query string
	// Since and Until bound the lines' times (inclusive since, exclusive
	// until); zero is open.
	Since, Until time.Time
	// Cursor continues a previous page ("" for the first).
	Cursor string
	// Limit is the page size, 1 to MaxSearchLimit (0: DefaultSearchLimit).
	Limit int
}

// SearchLine is a log line and the terminal it came from.
type SearchLine struct {
	TerminalID string `json:"terminalId"`
	protocol.LogEntry
}

// SearchPage is a page of a fleet-wide search.
type SearchPage struct {
	// Lines are newest first.
	Lines []SearchLine `json:"lines"`
	// NextCursor continues the search; "" when no lines remain. A page
	// may be shorter than the limit (even empty) and still have one: the
	// request's read budget ran out.
	NextCursor string `json:"nextCursor"`
	// Terminals is how many terminals the search covers.
	Terminals int `json:"terminals"`
	// Chunks is how many stored log chunks this page read.
	Chunks int `json:"chunks"`
}

// SearchLogs returns a page of the log lines of the terminals p sees
// matching q, newest first (see the comment at the top of search.go for
// its cost and order). It needs the viewer role. Lines are returned as p
// sees them (attributes under secret keys masked).
func (s *Service) SearchLogs(ctx context.Context, p Principal, q LogSearch) (SearchPage, error) {
	if err := s.allow(ctx, p, opSearchLogs, ""); err != nil {
		return SearchPage{}, err
	}
	if q.Limit == 0 {
		q.Limit = DefaultSearchLimit
	}
	if q.Limit < 1 || q.Limit > MaxSearchLimit {
		return SearchPage{}, fmt.Errorf("limit %d: must be from 1 to %d: %w", q.Limit, MaxSearchLimit, ErrInvalid)
	}
	minRank := 0
	if q.Level != "" {
		level, ok := protocol.NormalizeLevel(q.Level)
		if !ok {
			return SearchPage{}, fmt.Errorf("level %q: must be debug, info, warn or error: %w", truncate(q.Level, 32), ErrInvalid)
		}
		minRank = protocol.LevelRank(level)
	}
	if len(q.Query) > maxSearchQuery || !utf8.ValidString(q.Query) {
		return SearchPage{}, fmt.Errorf("q: at most %d bytes of UTF-8: %w", maxSearchQuery, ErrInvalid)
	}
	if q.Group != "" && !validGroup(q.Group) {
		return SearchPage{}, fmt.Errorf("group %q: must be 1 to %d bytes of UTF-8 without spaces or control characters: %w", truncate(q.Group, 64), maxGroupBytes, ErrInvalid)
	}
	var cur *searchCursor
	if q.Cursor != "" {
		c, err := decodeSearchCursor(q.Cursor)
		if err != nil {
			return SearchPage{}, err
		}
		cur = &c
	}
	terminals, err := s.searchTerminals(ctx, p, q.Group)
	if err != nil {
		return SearchPage{}, err
	}
	needle := strings.ToLower(q.Query)
	r := &searcher{s: s, now: s.now(), since: q.Since, until: q.Until, budget: SearchChunkBudget,
		match: func(e *protocol.LogEntry) bool {
			if protocol.LevelRank(e.Level) < minRank {
				return false
			}
			return needle == "" || strings.Contains(strings.ToLower(e.Message), needle) || strings.Contains(strings.ToLower(e.Source), needle)
		}}
	hash := terminalsHash(terminals)
	// A first page seeks each terminal's lines before until; later pages
	// resume where the cursor says.
	seek := cur == nil && !q.Until.IsZero()
	if cur != nil && (cur.hash != hash || len(cur.positions) != len(terminals)) {
		// The terminals changed: continue from the last line's time.
		seek = true
		if r.until.IsZero() || cur.bound.Before(r.until) {
			r.until = cur.bound
		}
		cur = nil
	}
	for i, t := range terminals {
		// A first read starts at the terminal's newest chunk: the record's
		// LastSeq may lag it (a store keeps the record about once a
		// minute, LogBatch.Record), so it is no bound.
		st := &searchStream{id: t.ID, hi: fromNewest, scanFrom: fromNewest, fill: searchFirstFill}
		if cur != nil {
			st.hi, st.scanFrom = cur.positions[i].hi, cur.positions[i].scanFrom
		}
		st.boundary = st.hi + 1
		if st.hi == fromNewest {
			st.boundary = fromNewest
		}
		st.done = st.hi == 0
		r.streams = append(r.streams, st)
	}
	if seek {
		if err := r.seekAll(ctx); err != nil {
			return SearchPage{}, err
		}
	}
	lines, err := r.merge(ctx, q.Limit)
	if err != nil {
		return SearchPage{}, err
	}
	page := SearchPage{Lines: lines, Terminals: len(terminals), Chunks: r.read + r.probes}
	if page.Lines == nil {
		page.Lines = []SearchLine{}
	}
	if !r.finished() {
		bound := r.until
		if len(lines) > 0 {
			bound = lines[len(lines)-1].Time
		} else if cur != nil {
			bound = cur.bound
		}
		page.NextCursor = r.cursor(hash, bound)
	}
	for i := range page.Lines {
		page.Lines[i].LogEntry = p.entries([]protocol.LogEntry{page.Lines[i].LogEntry})[0]
	}
	return page, nil
}

// searchTerminals returns the terminals a search of p covers, in id order:
// group's (when p is in it), p's groups', or the fleet for admins. More
// than MaxSearchTerminals is ErrInvalid, asking for a group.
func (s *Service) searchTerminals(ctx context.Context, p Principal, group string) ([]Terminal, error) {
	tooMany := func() error {
		return fmt.Errorf("the search would cover more than %d terminals: name a group: %w", MaxSearchTerminals, ErrInvalid)
	}
	var out []Terminal
	switch {
	case group != "" && !p.memberOf(group):
		return nil, nil // another group's terminals are absent to p
	case group == "" && p.seesAll():
		cursor := ""
		for {
			ts, next, err := s.store.TerminalRecords(ctx, cursor, min(500, MaxSearchTerminals+1-len(out)))
			if err != nil {
				return nil, fmt.Errorf("terminals to search: %w", err)
			}
			out = append(out, ts...)
			if len(out) > MaxSearchTerminals {
				return nil, tooMany()
			}
			if next == "" {
				return out, nil
			}
			cursor = next
		}
	}
	groups := p.Groups
	if group != "" {
		groups = []string{group}
	}
	seen := map[string]bool{}
	for _, g := range groups {
		if !validGroup(g) {
			continue
		}
		after := ""
		for {
			ts, err := s.store.GroupTerminalRecords(ctx, g, after, 500)
			if err != nil {
				return nil, fmt.Errorf("terminals of group %q to search: %w", g, err)
			}
			for _, t := range ts {
				if !seen[t.ID] && p.Sees(t) {
					seen[t.ID] = true
					out = append(out, t)
				}
			}
			if len(out) > MaxSearchTerminals {
				return nil, tooMany()
			}
			if len(ts) < 500 {
				break
			}
			after = ts[len(ts)-1].ID
		}
	}
	slices.SortFunc(out, func(a, b Terminal) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// terminalsHash identifies a list of terminals (by id, in order).
func terminalsHash(ts []Terminal) uint64 {
	h := fnv.New64a()
	for _, t := range ts {
		h.Write([]byte(t.ID))
		h.Write([]byte{0})
	}
	return h.Sum64()
}
