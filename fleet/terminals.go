package fleet

import (
	"context"
	"fmt"
	"slices"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/edgesync/edgesync/protocol"
)

// TerminalView is a terminal as the frontend sees it.
type TerminalView struct {
	Terminal
	// Online is the effective state: marked online and heard from within
	// the inactivity timeout.
	Online        bool      `json:"online"`
	Inactive      bool      `json:"inactive,omitempty"`
	ConfigVersion string    `json:"configVersion,omitempty"`
	Config        Freshness `json:"config"`
	Status        Freshness `json:"status"`
	// Summary is the last status's CPU, memory and disk use and the
	// dropped log lines: a fleet table's row.
	Summary TerminalSummary `json:"summary"`
}

// view is t as p sees it at now.
func (s *Service) view(p Principal, t Terminal, now time.Time) TerminalView {
	v := TerminalView{Terminal: p.terminal(t), Online: s.online(t, now), ConfigVersion: t.Config.Version}
	v.Inactive = t.Online && !v.Online
	v.Config = s.configFreshness(t, now)
	v.Status = s.statusFreshness(t, now)
	v.Summary = summarize(t)
	return v
}

// online reports the effective state: a terminal whose $disconnect never
// arrived goes offline after InactivityTimeout (or twice its reporting
// interval, when longer: see inactivity) without a message.
func (s *Service) online(t Terminal, now time.Time) bool {
	return t.Online && t.ConnectionID != "" && now.Sub(t.LastSeen) < s.inactivity(t)
}

// Terminal returns one terminal as p sees it. ErrNotFound if unknown or
// not visible to p.
func (s *Service) Terminal(ctx context.Context, p Principal, id string) (TerminalView, error) {
	t, err := s.access(ctx, p, opReadTerminal, id)
	if err != nil {
		return TerminalView{}, err
	}
	now := s.now()
	return s.view(p, s.current(ctx, t, now), now), nil
}

// MaxPageSize bounds list pages.
const MaxPageSize = 500

// Terminals lists the terminals p sees in id order, limit per page
// (1..MaxPageSize), after cursor ("" for the first page), and returns the
// cursor of the next page ("" with the last). Admins page the whole fleet;
// anyone else pages the terminals of their groups only (see
// groupTerminals): pages are full and never name another group's terminal.
// It is QueryTerminals without filters.
func (s *Service) Terminals(ctx context.Context, p Principal, cursor string, limit int) ([]TerminalView, string, error) {
	return s.QueryTerminals(ctx, p, TerminalQuery{Cursor: cursor, Limit: limit})
}

// groupTerminals lists the terminals of groups that p sees in id order
// after cursor (the last id of the previous page): a merge of the store's
// listing of each group (Store.GroupTerminals), each read after cursor.
// A page reads at most about limit+1 terminals per group and never the
// rest of the fleet; a terminal in several of the groups is listed once.
func (s *Service) groupTerminals(ctx context.Context, p Principal, groups []string, cursor string, limit int) ([]Terminal, string, error) {
	if cursor != "" && !protocol.ValidID(cursor) {
		return nil, "", fmt.Errorf("cursor %q: %w", truncate(cursor, 64), ErrInvalid)
	}
	var streams []*groupStream
	for _, g := range groups {
		if validGroup(g) && !slices.ContainsFunc(streams, func(st *groupStream) bool { return st.group == g }) {
			streams = append(streams, &groupStream{group: g, after: cursor})
		}
	}
	var out []Terminal
	for {
		// Fetch enough to fill the page and see whether a next one exists.
		want := limit - len(out) + 1
		var head *Terminal
		for _, st := range streams {
			if err := st.fill(ctx, s.store, want); err != nil {
				return nil, "", err
			}
			if len(st.buf) > 0 && (head == nil || st.buf[0].ID < head.ID) {
				head = &st.buf[0]
			}
		}
		if head == nil {
			return out, "", nil
		}
		if len(out) == limit {
			return out, out[len(out)-1].ID, nil
		}
		t := *head
		for _, st := range streams {
			if len(st.buf) > 0 && st.buf[0].ID == t.ID {
				st.buf = st.buf[1:]
			}
		}
		if p.Sees(t) {
			out = append(out, t)
		}
	}
}

// groupStream is one group's terminals in id order, read a batch at a time.
type groupStream struct {
	group string
	after string // the last id read
	buf   []Terminal
	done  bool // the store has no more
}

// fill reads up to n more terminals when the buffer is empty.
func (st *groupStream) fill(ctx context.Context, store Store, n int) error {
	if len(st.buf) > 0 || st.done {
		return nil
	}
	ts, err := store.GroupTerminals(ctx, st.group, st.after, n)
	if err != nil {
		return fmt.Errorf("terminals of group %q: %w", st.group, err)
	}
	st.buf, st.done = ts, len(ts) < n
	if len(ts) > 0 {
		st.after = ts[len(ts)-1].ID
	}
	return nil
}

// Limits of a terminal's name and groups.
const (
	maxNameBytes  = 200
	maxGroups     = 50
	maxGroupBytes = 128
)

// validGroup reports whether g can name a group: 1 to 128 bytes of UTF-8
// without spaces or control characters (a token's list claim could not
// carry such a name).
func validGroup(g string) bool {
	if g == "" || len(g) > maxGroupBytes || !utf8.ValidString(g) {
		return false
	}
	for _, r := range g {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			return false
		}
	}
	return true
}

// CreateTerminal registers a terminal and returns its first token, which
// is shown once and stored only as a hash. It needs the admin role and is
// audited. Groups repeated are kept once.
func (s *Service) CreateTerminal(ctx context.Context, p Principal, id, name string, groups []string) (token string, err error) {
	if err := s.allow(ctx, p, opCreateTerminal, id); err != nil {
		return "", err
	}
	if len(name) > maxNameBytes || len(groups) > maxGroups {
		return "", fmt.Errorf("name is at most %d bytes and groups at most %d: %w", maxNameBytes, maxGroups, ErrInvalid)
	}
	err = s.audited(ctx, p, AuditTerminalCreate, id, map[string]any{"name": name, "groups": groups}, func() error {
		token, err = s.createTerminal(ctx, id, name, groups)
		return err
	})
	return token, err
}

func (s *Service) createTerminal(ctx context.Context, id, name string, groups []string) (string, error) {
	if !protocol.ValidID(id) {
		return "", fmt.Errorf("terminal id %q: %w", truncate(id, 64), ErrInvalid)
	}
	var unique []string
	for _, g := range groups {
		if !validGroup(g) {
			return "", fmt.Errorf("group %q: must be 1 to %d bytes of UTF-8 without spaces or control characters: %w", truncate(g, 64), maxGroupBytes, ErrInvalid)
		}
		if !slices.Contains(unique, g) {
			unique = append(unique, g)
		}
	}
	now := s.now()
	token, cred := NewToken(now)
	t := Terminal{ID: id, Name: name, Groups: unique, Credentials: []Credential{cred}, CreatedAt: now}
	if err := s.store.CreateTerminal(ctx, t); err != nil {
		return "", fmt.Errorf("create terminal %s: %w", id, err)
	}
	return token, nil
}
