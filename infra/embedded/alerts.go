package embedded

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/edgesync/edgesync/fleet"
)

// Alert rules and alerts (fleet.AlertStore): the "alertRules" bucket is
// keyed by "<group> <rule id>" and "alerts" by fleet.AlertKey.String()
// ("<group> <rule id> <terminal id>"), so a group's rules and alerts are a
// prefix walk and the whole set is one walk in (group, rule, terminal)
// order. Cleared alerts carry ExpiresAt; Sweep deletes them.
var (
	alertRulesBucket = []byte("alertRules")
	alertsBucket     = []byte("alerts")
)

// createAlertBuckets creates the alert buckets (Open calls it; a file
// written before alerts existed gains them).
func createAlertBuckets(tx *bolt.Tx) error {
	for _, name := range [][]byte{alertRulesBucket, alertsBucket} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return err
		}
	}
	return nil
}

type alertRecord struct {
	Group          string    `json:"group"`
	RuleID         string    `json:"ruleId"`
	TerminalID     string    `json:"terminalId"`
	Kind           string    `json:"kind"`
	RuleName       string    `json:"ruleName,omitempty"`
	State          string    `json:"state"`
	OpenedAt       time.Time `json:"openedAt"`
	AcknowledgedAt time.Time `json:"acknowledgedAt,omitzero"`
	AcknowledgedBy string    `json:"acknowledgedBy,omitempty"`
	ClearedAt      time.Time `json:"clearedAt,omitzero"`
	Message        string    `json:"message,omitempty"`
	Value          float64   `json:"value"`
	Notified       string    `json:"notified,omitempty"`
	ExpiresAt      time.Time `json:"expiresAt,omitzero"`
}

func ms(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return time.UnixMilli(t.UnixMilli()).UTC()
}

func newAlertRecord(a fleet.Alert) alertRecord {
	return alertRecord{
		Group: a.Group, RuleID: a.RuleID, TerminalID: a.TerminalID, Kind: string(a.Kind), RuleName: a.RuleName,
		State: string(a.State), OpenedAt: ms(a.OpenedAt), AcknowledgedAt: ms(a.AcknowledgedAt), AcknowledgedBy: a.AcknowledgedBy,
		ClearedAt: ms(a.ClearedAt), Message: a.Message, Value: a.Value, Notified: string(a.Notified), ExpiresAt: ms(a.ExpiresAt),
	}
}

func (r alertRecord) alert() fleet.Alert {
	return fleet.Alert{
		AlertKey: fleet.AlertKey{Group: r.Group, RuleID: r.RuleID, TerminalID: r.TerminalID},
		Kind:     fleet.AlertKind(r.Kind), RuleName: r.RuleName, State: fleet.AlertState(r.State),
		OpenedAt: r.OpenedAt, AcknowledgedAt: r.AcknowledgedAt, AcknowledgedBy: r.AcknowledgedBy,
		ClearedAt: r.ClearedAt, Message: r.Message, Value: r.Value, Notified: fleet.AlertState(r.Notified), ExpiresAt: r.ExpiresAt,
	}
}

func (r alertRecord) active(now time.Time) bool {
	return (r.State == string(fleet.AlertOpen) || r.State == string(fleet.AlertAcknowledged)) && !alertExpired(r.ExpiresAt, now)
}

// alertExpired: an alert expires only once cleared (zero: never).
func alertExpired(exp, now time.Time) bool { return !exp.IsZero() && !exp.After(now) }

func checkKey(k fleet.AlertKey) error {
	for _, part := range []string{k.Group, k.RuleID, k.TerminalID} {
		if part == "" || strings.ContainsAny(part, " ") {
			return fmt.Errorf("alert key %q: %w", k.String(), fleet.ErrInvalid)
		}
	}
	return nil
}

// PutAlertRule stores r under (r.Group, r.ID), replacing a rule stored there.
func (s *Store) PutAlertRule(ctx context.Context, r fleet.AlertRule) error {
	if r.Group == "" || r.ID == "" || strings.Contains(r.Group, " ") || strings.Contains(r.ID, " ") {
		return fmt.Errorf("put alert rule %q of %q: %w", r.ID, r.Group, fleet.ErrInvalid)
	}
	r.CreatedAt = ms(r.CreatedAt)
	err := s.update(ctx, func(tx *bolt.Tx) error {
		return put(tx.Bucket(alertRulesBucket), []byte(r.Group+" "+r.ID), r)
	})
	if err != nil {
		return fmt.Errorf("put alert rule %s of %q: %w", r.ID, r.Group, err)
	}
	return nil
}

// DeleteAlertRule removes the rule. ErrNotFound if absent.
func (s *Store) DeleteAlertRule(ctx context.Context, group, id string) error {
	err := s.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(alertRulesBucket)
		k := []byte(group + " " + id)
		if b.Get(k) == nil {
			return fleet.ErrNotFound
		}
		return b.Delete(k)
	})
	if err != nil {
		return fmt.Errorf("delete alert rule %s of %q: %w", id, group, err)
	}
	return nil
}

// AlertRules returns the rules of group (every group for ""), by group and id.
func (s *Store) AlertRules(ctx context.Context, group string) ([]fleet.AlertRule, error) {
	var out []fleet.AlertRule
	prefix := []byte(nil)
	if group != "" {
		prefix = []byte(group + " ")
	}
	err := s.view(ctx, func(tx *bolt.Tx) error {
		c := tx.Bucket(alertRulesBucket).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			var r fleet.AlertRule
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("decode %q: %w", k, err)
			}
			out = append(out, r)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("alert rules of %q: %w", group, err)
	}
	return out, nil
}

// OpenAlert stores a as open unless the alert under its key is active.
func (s *Store) OpenAlert(ctx context.Context, a fleet.Alert) (bool, error) {
	if err := checkKey(a.AlertKey); err != nil {
		return false, fmt.Errorf("open alert: %w", err)
	}
	a.State = fleet.AlertOpen
	opened := false
	err := s.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(alertsBucket)
		k := []byte(a.AlertKey.String())
		old, ok, err := get[alertRecord](b, k)
		if err != nil {
			return err
		}
		if ok && old.active(a.OpenedAt) {
			return nil
		}
		opened = true
		return put(b, k, newAlertRecord(a))
	})
	if err != nil {
		return false, fmt.Errorf("open alert %s: %w", a.AlertKey.String(), err)
	}
	return opened, nil
}

// changeAlert applies fn to the unexpired alert under key in one
// transaction; fn reports whether it changed it. ErrNotFound if absent.
func (s *Store) changeAlert(ctx context.Context, key fleet.AlertKey, now time.Time, fn func(r *alertRecord) (bool, error)) (alertRecord, error) {
	var r alertRecord
	err := s.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(alertsBucket)
		k := []byte(key.String())
		var ok bool
		var err error
		r, ok, err = get[alertRecord](b, k)
		if err != nil {
			return err
		}
		if !ok || alertExpired(r.ExpiresAt, now) {
			return fleet.ErrNotFound
		}
		changed, err := fn(&r)
		if err != nil || !changed {
			return err
		}
		return put(b, k, r)
	})
	return r, err
}

// AcknowledgeAlert moves the open alert under key to acknowledged.
func (s *Store) AcknowledgeAlert(ctx context.Context, key fleet.AlertKey, by string, at time.Time) (fleet.Alert, error) {
	r, err := s.changeAlert(ctx, key, at, func(r *alertRecord) (bool, error) {
		if r.State != string(fleet.AlertOpen) {
			return false, fleet.ErrConflict
		}
		r.State, r.AcknowledgedBy, r.AcknowledgedAt = string(fleet.AlertAcknowledged), by, ms(at)
		return true, nil
	})
	if err != nil {
		return fleet.Alert{}, fmt.Errorf("acknowledge alert %s: %w", key.String(), err)
	}
	return r.alert(), nil
}

// ClearAlert clears the occurrence opened at openedAt, if not cleared.
func (s *Store) ClearAlert(ctx context.Context, key fleet.AlertKey, openedAt, at, expiresAt time.Time, message string) (bool, error) {
	cleared := false
	_, err := s.changeAlert(ctx, key, at, func(r *alertRecord) (bool, error) {
		if !r.OpenedAt.Equal(ms(openedAt)) || r.State == string(fleet.AlertCleared) {
			return false, nil
		}
		r.State, r.ClearedAt, r.ExpiresAt, r.Message = string(fleet.AlertCleared), ms(at), ms(expiresAt), message
		cleared = true
		return true, nil
	})
	if err != nil && !errors.Is(err, fleet.ErrNotFound) {
		return false, fmt.Errorf("clear alert %s: %w", key.String(), err)
	}
	return cleared, nil
}

// MarkAlertNotified records that state was delivered.
func (s *Store) MarkAlertNotified(ctx context.Context, key fleet.AlertKey, openedAt time.Time, state fleet.AlertState) (bool, error) {
	marked := false
	_, err := s.changeAlert(ctx, key, time.Time{}, func(r *alertRecord) (bool, error) {
		if !r.OpenedAt.Equal(ms(openedAt)) || r.State != string(state) {
			return false, nil
		}
		r.Notified, marked = string(state), true
		return true, nil
	})
	if err != nil && !errors.Is(err, fleet.ErrNotFound) {
		return false, fmt.Errorf("mark alert %s notified: %w", key.String(), err)
	}
	return marked, nil
}

// Alerts returns group's alerts ("" for all) after the key `after`.
func (s *Store) Alerts(ctx context.Context, group, after string, limit int, now time.Time) ([]fleet.Alert, error) {
	if limit < 1 {
		return nil, fmt.Errorf("list alerts: limit %d: must be at least 1: %w", limit, fleet.ErrInvalid)
	}
	prefix := []byte(nil)
	if group != "" {
		prefix = []byte(group + " ")
	}
	var out []fleet.Alert
	err := s.view(ctx, func(tx *bolt.Tx) error {
		c := tx.Bucket(alertsBucket).Cursor()
		k, v := c.Seek(prefix)
		if after != "" && bytes.Compare([]byte(after), prefix) >= 0 {
			k, v = c.Seek([]byte(after))
			if k != nil && bytes.Equal(k, []byte(after)) {
				k, v = c.Next()
			}
		}
		for ; k != nil && bytes.HasPrefix(k, prefix) && len(out) < limit; k, v = c.Next() {
			var r alertRecord
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("decode %q: %w", k, err)
			}
			if !alertExpired(r.ExpiresAt, now) {
				out = append(out, r.alert())
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list alerts of %q: %w", group, err)
	}
	return out, nil
}

// sweepAlerts deletes the cleared alerts of b past their retention (open
// ones have no expiry).
func sweepAlerts(b *bolt.Bucket, now time.Time) (int, error) {
	var doomed [][]byte
	err := b.ForEach(func(k, v []byte) error {
		var r expiring
		if err := json.Unmarshal(v, &r); err != nil {
			return fmt.Errorf("decode %q: %w", k, err)
		}
		if alertExpired(r.ExpiresAt, now) {
			doomed = append(doomed, append([]byte(nil), k...))
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	for _, k := range doomed {
		if err := b.Delete(k); err != nil {
			return 0, err
		}
	}
	return len(doomed), nil
}
