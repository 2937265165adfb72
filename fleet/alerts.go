package fleet

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/edgesync/edgesync/protocol"
)

// Alerts: rules per terminal group (an operator of the group writes them),
// and the alerts they raise, one per rule and terminal until it clears.
// Where each kind of rule is evaluated is said at AlertKind; the scheduler
// function delivers every state change to the AlertPublisher (an SNS topic
// in AWS, a sink in the local stack). alerteval.go evaluates.

// AlertKind is what a rule watches.
type AlertKind string

// Kinds of alert rule, and where each is evaluated.
const (
	// AlertOffline: a terminal of the group offline (TerminalView.Online
	// false) for longer than Minutes (0: as soon as it reads offline).
	// Evaluated by the scheduler from the terminal records; it clears when
	// the terminal is online again.
	AlertOffline AlertKind = "offline"
	// AlertErrorRate: more than Threshold lines of level error within the
	// last Minutes. Opened on the write path, by the message function
	// storing a batch that holds error lines (it then counts the error
	// lines of the window); batches without error lines cost nothing more.
	// The scheduler clears it when the window holds no more than Threshold.
	AlertErrorRate AlertKind = "error_rate"
	// AlertStatus: a number of the terminal's last status, Field (a key,
	// or a dotted path into nested objects), compared with Threshold by
	// Op (>, >=, < or <=), e.g. disk_percent > 90. Evaluated by the
	// scheduler from the terminal records; it clears when the comparison
	// no longer holds (or the field is gone).
	AlertStatus AlertKind = "status"
	// AlertDropped: the terminal's count of log lines its spool dropped
	// rose within the last Minutes (its dropped count now above the
	// dropped_lines of its oldest status sample in the window). Evaluated
	// by the scheduler, reading status history only for terminals that
	// ever dropped a line; it clears after Minutes without a rise.
	AlertDropped AlertKind = "dropped"
)

// AlertState is an alert's state.
type AlertState string

// Alert states: open until someone acknowledges it or it clears, and
// cleared when its condition no longer holds. A cleared alert stays
// readable for AlertRetention; the rule fires again as a new open alert.
const (
	AlertOpen         AlertState = "open"
	AlertAcknowledged AlertState = "acknowledged"
	AlertCleared      AlertState = "cleared"
)

// active reports whether an alert in state st is not cleared.
func (st AlertState) active() bool { return st == AlertOpen || st == AlertAcknowledged }

// Alert bounds.
const (
	// MaxAlertRulesPerGroup bounds the rules of one group.
	MaxAlertRulesPerGroup = 20
	// AlertRetention is how long a cleared alert stays readable.
	AlertRetention = 7 * 24 * time.Hour
	// DefaultAlertPage and MaxAlertPage are the page sizes of Alerts.
	DefaultAlertPage = 100
	MaxAlertPage     = 500

	maxAlertRuleName      = 200
	maxAlertField         = 128
	maxAlertOfflineMin    = 7 * 24 * 60
	maxAlertErrorWindow   = 60
	maxAlertDroppedWindow = 24 * 60
)

// AlertRule is a rule of a terminal group: every terminal of Group is
// watched for Kind's condition.
type AlertRule struct {
	// ID is made by CreateAlertRule; it is unique across groups.
	ID    string    `json:"id"`
	Group string    `json:"group"`
	Kind  AlertKind `json:"kind"`
	// Name is the operator's label for the rule (optional).
	Name string `json:"name,omitempty"`
	// Minutes is the offline duration (offline) or the window (error_rate:
	// 1 to 60, dropped: 1 to 1440).
	Minutes int `json:"minutes"`
	// Field and Op name the status number and the comparison (status).
	Field string `json:"field,omitempty"`
	Op    string `json:"op,omitempty"`
	// Threshold is the number of error lines (error_rate) or the value
	// Field is compared with (status).
	Threshold float64   `json:"threshold"`
	CreatedAt time.Time `json:"createdAt"`
	CreatedBy string    `json:"createdBy,omitempty"`
}

// AlertKey names the alert of a rule for a terminal: there is at most one
// per key at a time.
type AlertKey struct {
	Group      string `json:"group"`
	RuleID     string `json:"ruleId"`
	TerminalID string `json:"terminalId"`
}

// String is the key as stores order alerts: group, rule id and terminal
// id separated by spaces, which none of them holds, so string order is
// (group, rule, terminal) order.
func (k AlertKey) String() string { return k.Group + " " + k.RuleID + " " + k.TerminalID }

// Alert is a rule's alert for one terminal.
type Alert struct {
	AlertKey
	Kind     AlertKind  `json:"kind"`
	RuleName string     `json:"ruleName,omitempty"`
	State    AlertState `json:"state"`
	// OpenedAt identifies the occurrence: a rule that fires again after
	// clearing opens a new alert (with a later OpenedAt) under the same key.
	OpenedAt       time.Time `json:"openedAt"`
	AcknowledgedAt time.Time `json:"acknowledgedAt,omitzero"`
	AcknowledgedBy string    `json:"acknowledgedBy,omitempty"`
	ClearedAt      time.Time `json:"clearedAt,omitzero"`
	// Message says what fired (and, once cleared, why it cleared).
	Message string `json:"message"`
	// Value is the figure that fired: minutes offline, error lines in the
	// window, the status value, or the dropped lines of the window.
	Value float64 `json:"value"`
	// Notified is the state last delivered to the AlertPublisher ("" for
	// none): the scheduler delivers the alert again while it differs.
	Notified AlertState `json:"-"`
	// ExpiresAt is set when the alert clears (ClearedAt + AlertRetention).
	ExpiresAt time.Time `json:"-"`
}

// AlertStore persists alert rules and alerts (both stores implement it;
// infra/dynamo/doc.go and infra/embedded/doc.go say how). Times are kept
// to the millisecond; reads drop alerts expired at now.
type AlertStore interface {
	// PutAlertRule stores r under (r.Group, r.ID), replacing a rule stored
	// there. ErrInvalid for an empty group or id.
	PutAlertRule(ctx context.Context, r AlertRule) error
	// DeleteAlertRule removes the rule. ErrNotFound if absent.
	DeleteAlertRule(ctx context.Context, group, id string) error
	// AlertRules returns the rules of group, or of every group when group
	// is "", ordered by group then id.
	AlertRules(ctx context.Context, group string) ([]AlertRule, error)

	// OpenAlert stores a (its State open) unless the alert stored under
	// a.AlertKey is open or acknowledged and unexpired at a.OpenedAt: it
	// reports whether it stored a. Exactly one of concurrent callers for a
	// key stores its alert.
	OpenAlert(ctx context.Context, a Alert) (bool, error)
	// AcknowledgeAlert moves the open alert under key to acknowledged, by
	// and at, and returns it. ErrNotFound if no alert is stored (or it
	// expired at at); ErrConflict if it is not open.
	AcknowledgeAlert(ctx context.Context, key AlertKey, by string, at time.Time) (Alert, error)
	// ClearAlert moves the alert under key to cleared at at, with message
	// and ExpiresAt expiresAt, if it is the occurrence opened at openedAt
	// and not cleared; it reports whether it did.
	ClearAlert(ctx context.Context, key AlertKey, openedAt, at, expiresAt time.Time, message string) (bool, error)
	// MarkAlertNotified records that state was delivered, if the alert
	// under key is still the occurrence opened at openedAt in that state;
	// it reports whether it did.
	MarkAlertNotified(ctx context.Context, key AlertKey, openedAt time.Time, state AlertState) (bool, error)
	// Alerts returns the alerts of group ("" for every group) whose
	// AlertKey.String() is after `after` ("" from the first), in that
	// order, unexpired at now, at most limit; fewer only when no more
	// follow. ErrInvalid for a limit below 1.
	Alerts(ctx context.Context, group, after string, limit int, now time.Time) ([]Alert, error)
}

// AlertPublisher delivers alert state changes to people: an SNS topic
// (infra/snsalert), the local stack's sink. The scheduler function calls
// it; nothing else does.
type AlertPublisher interface {
	// Publish delivers a in its current state. An error leaves the change
	// to be delivered again at the next tick (delivery is at least once).
	// Safe for concurrent use.
	Publish(ctx context.Context, a Alert) error
}

// WithAlertPublisher makes the service's periodic work (Tick) deliver
// every alert state change to pub.
func WithAlertPublisher(pub AlertPublisher) Option {
	return func(s *Service) { s.alertPub = pub }
}

// Audit actions of alert rules and alerts.
const (
	AuditAlertRuleCreate = "alert.rule.create"
	AuditAlertRuleDelete = "alert.rule.delete"
	AuditAlertAck        = "alert.acknowledge"
)

// validate checks a rule an operator asks for (before its id and creation
// time are set) and normalises it.
func (r *AlertRule) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("alert rule: "+format+": %w", append(args, ErrInvalid)...)
	}
	if len(r.Name) > maxAlertRuleName || !utf8.ValidString(r.Name) {
		return bad("name: at most %d bytes of UTF-8", maxAlertRuleName)
	}
	if math.IsNaN(r.Threshold) || math.IsInf(r.Threshold, 0) {
		return bad("threshold: must be a finite number")
	}
	switch r.Kind {
	case AlertOffline:
		if r.Minutes < 0 || r.Minutes > maxAlertOfflineMin {
			return bad("minutes: offline for 0 to %d minutes", maxAlertOfflineMin)
		}
		r.Field, r.Op, r.Threshold = "", "", 0
	case AlertErrorRate:
		if r.Minutes < 1 || r.Minutes > maxAlertErrorWindow {
			return bad("minutes: a window of 1 to %d minutes", maxAlertErrorWindow)
		}
		if r.Threshold < 0 || r.Threshold > 1e6 {
			return bad("threshold: 0 to 1000000 error lines")
		}
		r.Field, r.Op = "", ""
	case AlertStatus:
		if !validStatusField(r.Field) {
			return bad("field: 1 to %d bytes of letters, digits, _ and -, dotted for nested objects, e.g. disk_percent", maxAlertField)
		}
		for _, part := range strings.Split(r.Field, ".") {
			if IsSecretKey(part) {
				return bad("field %q looks secret: alerts never carry secrets", truncate(r.Field, 64))
			}
		}
		if !slices.Contains([]string{">", ">=", "<", "<="}, r.Op) {
			return bad(`op: one of ">", ">=", "<", "<="`)
		}
		r.Minutes = 0
	case AlertDropped:
		if r.Minutes < 1 || r.Minutes > maxAlertDroppedWindow {
			return bad("minutes: a window of 1 to %d minutes", maxAlertDroppedWindow)
		}
		r.Field, r.Op, r.Threshold = "", "", 0
	default:
		return bad("kind %q: one of offline, error_rate, status, dropped", truncate(string(r.Kind), 32))
	}
	return nil
}

// validStatusField reports whether f can name a status number: dotted
// segments of letters, digits, '_' and '-'.
func validStatusField(f string) bool {
	if f == "" || len(f) > maxAlertField {
		return false
	}
	for _, part := range strings.Split(f, ".") {
		if part == "" {
			return false
		}
		for i := 0; i < len(part); i++ {
			c := part[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
				return false
			}
		}
	}
	return true
}

// memberOf reports whether p may act on group g's alerts: admins for any
// group, others for their own groups.
func (p Principal) memberOf(g string) bool {
	return p.Kind != KindTerminal && (p.seesAll() || slices.Contains(p.Groups, g))
}

// groupAccess is allow, then a check that p is in group (a refusal is
// audited as a denial, like the role check).
func (s *Service) groupAccess(ctx context.Context, p Principal, op operation, group string) error {
	if err := s.allow(ctx, p, op, ""); err != nil {
		return err
	}
	if !validGroup(group) {
		return fmt.Errorf("group %q: must be 1 to %d bytes of UTF-8 without spaces or control characters: %w", truncate(group, 64), maxGroupBytes, ErrInvalid)
	}
	if !p.memberOf(group) {
		s.deny(ctx, p, op, "", "not in group "+truncate(group, maxGroupBytes))
		return fmt.Errorf("you are not in group %q: %w", truncate(group, 64), ErrForbidden)
	}
	return nil
}

// AlertRules returns the rules of group. It needs the viewer role; a
// group the caller is not in has no rules for it (the answer is empty,
// as for a group without rules).
func (s *Service) AlertRules(ctx context.Context, p Principal, group string) ([]AlertRule, error) {
	if err := s.allow(ctx, p, opReadAlerts, ""); err != nil {
		return nil, err
	}
	if !validGroup(group) {
		return nil, fmt.Errorf("group %q: must be 1 to %d bytes of UTF-8 without spaces or control characters: %w", truncate(group, 64), maxGroupBytes, ErrInvalid)
	}
	if !p.memberOf(group) {
		return []AlertRule{}, nil
	}
	rules, err := s.store.AlertRules(ctx, group)
	if err != nil {
		return nil, fmt.Errorf("alert rules of %q: %w", group, err)
	}
	if rules == nil {
		rules = []AlertRule{}
	}
	return rules, nil
}

// CreateAlertRule adds a rule to group and returns it with its id. It
// needs the operator role and membership of the group (admins may write
// any group's rules), and is audited. A group holds at most
// MaxAlertRulesPerGroup rules.
func (s *Service) CreateAlertRule(ctx context.Context, p Principal, group string, r AlertRule) (AlertRule, error) {
	if err := s.groupAccess(ctx, p, opManageAlertRules, group); err != nil {
		return AlertRule{}, err
	}
	if err := r.validate(); err != nil {
		return AlertRule{}, err
	}
	existing, err := s.store.AlertRules(ctx, group)
	if err != nil {
		return AlertRule{}, fmt.Errorf("alert rules of %q: %w", group, err)
	}
	if len(existing) >= MaxAlertRulesPerGroup {
		return AlertRule{}, fmt.Errorf("group %q has %d alert rules, the most a group may have; delete one first: %w", truncate(group, 64), len(existing), ErrInvalid)
	}
	r.ID, r.Group = s.newID(), group
	r.CreatedAt, r.CreatedBy = millis(s.now()), truncate(p.Subject, maxAuditNameBytes)
	err = s.audited(ctx, p, AuditAlertRuleCreate, "", r, func() error {
		return s.store.PutAlertRule(ctx, r)
	})
	if err != nil {
		return AlertRule{}, fmt.Errorf("create alert rule in %q: %w", group, err)
	}
	s.alerts.forgetRules()
	return r, nil
}

// DeleteAlertRule removes a rule of group and clears its alerts. It needs
// the operator role and membership of the group, and is audited.
// ErrNotFound if the group has no such rule.
func (s *Service) DeleteAlertRule(ctx context.Context, p Principal, group, id string) error {
	if err := s.groupAccess(ctx, p, opManageAlertRules, group); err != nil {
		return err
	}
	if !validRuleID(id) {
		return fmt.Errorf("group %q has no alert rule %q: %w", truncate(group, 64), truncate(id, 64), ErrNotFound)
	}
	err := s.audited(ctx, p, AuditAlertRuleDelete, "", map[string]string{"group": group, "rule": id}, func() error {
		return s.store.DeleteAlertRule(ctx, group, id)
	})
	if errors.Is(err, ErrNotFound) {
		return fmt.Errorf("group %q has no alert rule %q: %w", group, id, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("delete alert rule %s of %q: %w", id, group, err)
	}
	s.alerts.forgetRules()
	// Clear its alerts now; the scheduler clears any this misses.
	now := s.now()
	alerts, err := s.groupAlerts(ctx, group, now)
	if err != nil {
		return nil // the rule is gone; the scheduler clears the rest
	}
	for _, a := range alerts {
		if a.RuleID == id && a.State.active() {
			s.clearAlert(ctx, a, now, "the rule was deleted")
		}
	}
	return nil
}

// validRuleID reports whether id can be a rule id (CreateAlertRule makes
// them as hex; anything of protocol.ValidID's alphabet up to 64 bytes is
// accepted).
func validRuleID(id string) bool { return len(id) <= 64 && protocol.ValidID(id) }

// AlertQuery selects alerts.
type AlertQuery struct {
	// Group keeps one group's alerts ("" for every group the caller is in).
	Group string
	// State keeps alerts in that state; "active" keeps open and
	// acknowledged ones; "" keeps all.
	State string
	// Cursor continues a previous page ("" for the first).
	Cursor string
	// Limit is the page size, 1 to MaxAlertPage (0: DefaultAlertPage).
	Limit int
}

// Alerts lists the alerts of the groups p is in (every group for admins),
// by group, rule and terminal, and returns the cursor of the next page
// ("" with the last). It needs the viewer role. A filtered page reads at
// most FilterReadFactor × Limit alerts, so it may be short with a cursor.
func (s *Service) Alerts(ctx context.Context, p Principal, q AlertQuery) ([]Alert, string, error) {
	if err := s.allow(ctx, p, opReadAlerts, ""); err != nil {
		return nil, "", err
	}
	if q.Limit == 0 {
		q.Limit = DefaultAlertPage
	}
	if q.Limit < 1 || q.Limit > MaxAlertPage {
		return nil, "", fmt.Errorf("limit %d: must be from 1 to %d: %w", q.Limit, MaxAlertPage, ErrInvalid)
	}
	switch q.State {
	case "", "active", string(AlertOpen), string(AlertAcknowledged), string(AlertCleared):
	default:
		return nil, "", fmt.Errorf("state %q: one of open, acknowledged, cleared, active: %w", truncate(q.State, 32), ErrInvalid)
	}
	if q.Group != "" && !validGroup(q.Group) {
		return nil, "", fmt.Errorf("group %q: must be 1 to %d bytes of UTF-8 without spaces or control characters: %w", truncate(q.Group, 64), maxGroupBytes, ErrInvalid)
	}
	after := ""
	if q.Cursor != "" {
		raw, err := base64.RawURLEncoding.DecodeString(q.Cursor)
		if err != nil || len(raw) > 1024 || strings.Count(string(raw), " ") != 2 || !utf8.Valid(raw) {
			return nil, "", fmt.Errorf("cursor: not one this listing returned: %w", ErrInvalid)
		}
		after = string(raw)
	}
	var groups []string // nil: every group (admins)
	switch {
	case q.Group != "" && !p.memberOf(q.Group):
		return []Alert{}, "", nil
	case q.Group != "":
		groups = []string{q.Group}
	case !p.seesAll():
		groups = slices.Clone(p.Groups)
		slices.Sort(groups)
		groups = slices.Compact(groups)
		if len(groups) == 0 {
			return []Alert{}, "", nil
		}
	}
	keep := func(a Alert) bool {
		switch q.State {
		case "":
			return true
		case "active":
			return a.State.active()
		}
		return string(a.State) == q.State
	}
	now := s.now()
	budget := q.Limit
	if q.State != "" {
		budget = FilterReadFactor * q.Limit
	}
	out := []Alert{}
	read, gi := 0, 0
	for {
		group := "" // every group
		if groups != nil {
			cursorGroup, _, _ := strings.Cut(after, " ")
			for gi < len(groups) && after != "" && groups[gi] < cursorGroup {
				gi++
			}
			if gi == len(groups) {
				return out, "", nil
			}
			group = groups[gi]
			if group != cursorGroup {
				after = "" // the cursor was in an earlier group
			}
		}
		// One more than the page can take, to see whether more follow.
		n := min(q.Limit-len(out), budget-read) + 1
		page, err := s.store.Alerts(ctx, group, after, n, now)
		if err != nil {
			return nil, "", fmt.Errorf("list alerts: %w", err)
		}
		for _, a := range page {
			if len(out) == q.Limit || read == budget {
				return out, base64.RawURLEncoding.EncodeToString([]byte(after)), nil
			}
			read++
			after = a.AlertKey.String()
			if keep(a) {
				out = append(out, a)
			}
		}
		if len(page) < n {
			// This group (or the fleet) has no more.
			if groups == nil {
				return out, "", nil
			}
			gi++
			after = ""
			if gi == len(groups) {
				return out, "", nil
			}
		}
	}
}

// AcknowledgeAlert acknowledges the open alert of rule ruleID for a
// terminal of group: it stays until its condition clears, and the
// scheduler delivers the acknowledgement. It needs the operator role and
// membership of the group, and is audited. ErrNotFound if there is no
// such alert; ErrConflict if it is not open.
func (s *Service) AcknowledgeAlert(ctx context.Context, p Principal, group, ruleID, terminalID string) (Alert, error) {
	if err := s.groupAccess(ctx, p, opAcknowledgeAlert, group); err != nil {
		return Alert{}, err
	}
	key := AlertKey{Group: group, RuleID: ruleID, TerminalID: terminalID}
	if !validRuleID(ruleID) || !protocol.ValidID(terminalID) {
		return Alert{}, fmt.Errorf("group %q has no alert of rule %q for terminal %q: %w", truncate(group, 64), truncate(ruleID, 64), truncate(terminalID, 64), ErrNotFound)
	}
	var a Alert
	err := s.audited(ctx, p, AuditAlertAck, terminalID, map[string]string{"group": group, "rule": ruleID}, func() error {
		var err error
		a, err = s.store.AcknowledgeAlert(ctx, key, truncate(p.Subject, maxAuditNameBytes), millis(s.now()))
		return err
	})
	switch {
	case errors.Is(err, ErrNotFound):
		return Alert{}, fmt.Errorf("group %q has no alert of rule %q for terminal %q: %w", group, ruleID, terminalID, ErrNotFound)
	case errors.Is(err, ErrConflict):
		return Alert{}, fmt.Errorf("the alert of rule %q for terminal %q is not open: %w", ruleID, terminalID, ErrConflict)
	case err != nil:
		return Alert{}, fmt.Errorf("acknowledge alert of rule %s for %s: %w", ruleID, terminalID, err)
	}
	return a, nil
}

// groupAlerts reads every alert of group (fleet-wide when group is "").
func (s *Service) groupAlerts(ctx context.Context, group string, now time.Time) ([]Alert, error) {
	var out []Alert
	after := ""
	for {
		page, err := s.store.Alerts(ctx, group, after, MaxAlertPage, now)
		if err != nil {
			return nil, fmt.Errorf("list alerts: %w", err)
		}
		out = append(out, page...)
		if len(page) < MaxAlertPage {
			return out, nil
		}
		after = page[len(page)-1].AlertKey.String()
	}
}

// millis is t to the millisecond, in UTC: the precision stores keep.
func millis(t time.Time) time.Time { return time.UnixMilli(t.UnixMilli()).UTC() }
