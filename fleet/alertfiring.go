package fleet

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// firing evaluates rule r (offline, status or dropped) for terminal t at
// now: whether it fires, the value, and a message saying why (or why not).
func (s *Service) firing(ctx context.Context, r AlertRule, t Terminal, now time.Time) (bool, float64, string, error) {
	switch r.Kind {
	case AlertOffline:
		if s.online(t, now) {
			return false, 0, "online again", nil
		}
		last := t.LastSeen
		for _, at := range []time.Time{t.DisconnectedAt, t.ConnectedAt} {
			if at.After(last) {
				last = at
			}
		}
		if last.IsZero() {
			last = t.CreatedAt
		}
		off := now.Sub(last)
		if off < time.Duration(r.Minutes)*time.Minute {
			return false, 0, "online again", nil
		}
		return true, math.Floor(off.Minutes()), fmt.Sprintf("offline for %s (last heard %s)", off.Truncate(time.Second), last.UTC().Format(time.RFC3339)), nil
	case AlertStatus:
		v, ok := statusNumber(t.Status.Data, r.Field)
		if !ok {
			return false, 0, fmt.Sprintf("%s is no longer reported", r.Field), nil
		}
		if compare(v, r.Op, r.Threshold) {
			return true, v, fmt.Sprintf("%s %s %s %s", r.Field, formatNumber(v), r.Op, formatNumber(r.Threshold)), nil
		}
		return false, v, fmt.Sprintf("%s %s, no longer %s %s", r.Field, formatNumber(v), r.Op, formatNumber(r.Threshold)), nil
	case AlertDropped:
		window := time.Duration(r.Minutes) * time.Minute
		calm := fmt.Sprintf("no dropped lines in the last %d min", r.Minutes)
		if t.Dropped == 0 {
			return false, 0, calm, nil
		}
		if last, ok := lastDrop(t); ok && now.Sub(last) >= window {
			return false, 0, calm, nil // the terminal says so: no history to read
		}
		samples, err := s.store.StatusHistory(ctx, t.ID, now.Add(-window), now, 2000)
		if err != nil {
			return false, 0, "", fmt.Errorf("status history of %s: %w", t.ID, err)
		}
		for _, smp := range samples {
			before, ok := statusNumber(smp.Data, "dropped_lines")
			if !ok {
				continue
			}
			if rose := float64(t.Dropped) - before; rose > 0 {
				return true, rose, fmt.Sprintf("%s more log lines dropped in the last %d min (%d in all)", formatNumber(rose), r.Minutes, t.Dropped), nil
			}
			return false, 0, calm, nil
		}
		return false, 0, calm, nil
	}
	return false, 0, "", nil
}

// lastDrop is when, on the service's clock, terminal t last dropped lines
// by its status report: the Go agent reports dropped_at, when a report
// first counted dropped_lines at its value, beside its own time; their
// difference (both on the terminal's clock) before the report's SyncedAt.
// ok is false when the report says nothing of it, is malformed, counts
// fewer dropped lines than the record (a drop it has not reported yet),
// or puts the drop before the host's boot (uptime_seconds): a clock
// stepped since, which an agent measuring on the monotonic clock does not
// report but an older one might. The history is read then.
func lastDrop(t Terminal) (time.Time, bool) {
	var r struct {
		Time    time.Time  `json:"time"`
		At      *time.Time `json:"dropped_at"`
		Dropped *uint64    `json:"dropped_lines"`
		Uptime  *float64   `json:"uptime_seconds"`
	}
	if t.Status.SyncedAt.IsZero() || json.Unmarshal(t.Status.Data, &r) != nil ||
		r.At == nil || r.Dropped == nil || *r.Dropped < t.Dropped || r.Time.IsZero() || r.At.After(r.Time) {
		return time.Time{}, false
	}
	ago := r.Time.Sub(*r.At)
	if r.Uptime != nil && ago.Seconds() > *r.Uptime {
		return time.Time{}, false
	}
	return t.Status.SyncedAt.Add(-ago), true
}

// statusNumber reads the number at a dotted path of a status document.
func statusNumber(doc json.RawMessage, path string) (float64, bool) {
	if len(doc) == 0 {
		return 0, false
	}
	var v any
	if json.Unmarshal(doc, &v) != nil {
		return 0, false
	}
	for _, part := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return 0, false
		}
		if v, ok = m[part]; !ok {
			return 0, false
		}
	}
	f, ok := v.(float64)
	return f, ok
}

func compare(v float64, op string, threshold float64) bool {
	switch op {
	case ">":
		return v > threshold
	case ">=":
		return v >= threshold
	case "<":
		return v < threshold
	case "<=":
		return v <= threshold
	}
	return false
}

func formatNumber(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
