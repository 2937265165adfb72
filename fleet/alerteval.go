package fleet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/edgesync/edgesync/protocol"
)

// Evaluating alert rules (see AlertKind for where each kind is evaluated).
//
// The write path (the message function) evaluates error_rate rules when it
// stores a batch holding error lines, and nothing else: a batch without
// error lines costs no read and no write. With error lines it reads the
// rules (cached for alertRulesTTL per process), the terminal's groups
// (kept alertRulesTTL, as the rules) and, for a rule not known
// open, the chunks of the rule's window; it writes only when an alert
// opens. The scheduler (Tick's "alerts" job) evaluates everything else,
// clears, and delivers each state change to the AlertPublisher.

// alertRulesTTL is how long the write path trusts the rules it read.
const alertRulesTTL = 30 * time.Second

// alertOpenTTL is how long the write path remembers that an alert is
// open, so a burst of error batches tries to open it once.
const alertOpenTTL = time.Minute

// maxAlertChunks bounds the chunks counted for one error-rate evaluation.
const maxAlertChunks = 400

// maxCachedTerminals bounds the terminals whose groups a process keeps.
const maxCachedTerminals = 100_000

// alertCache is a process's view of the alert rules for the write path.
type alertCache struct {
	mu     sync.Mutex
	rules  []AlertRule
	readAt time.Time
	// groups: terminal id → cachedGroups, kept alertRulesTTL (a terminal's
	// groups never change, but a deleted terminal's id may be reused).
	groups   sync.Map
	nGroups  int
	open     sync.Map // AlertKey.String() → time.Time the alert was known active
	windows  sync.Map // terminal id → *errorWindow
	readOnce sync.Mutex
}

func (c *alertCache) forgetRules() {
	c.mu.Lock()
	c.readAt = time.Time{}
	c.mu.Unlock()
}

// errorRules returns the cached rules of kind error_rate, reading them
// again when older than alertRulesTTL.
func (s *Service) errorRules(ctx context.Context, now time.Time) ([]AlertRule, error) {
	c := &s.alerts
	c.mu.Lock()
	if !c.readAt.IsZero() && now.Sub(c.readAt) < alertRulesTTL && now.After(c.readAt.Add(-time.Second)) {
		rules := c.rules
		c.mu.Unlock()
		return rules, nil
	}
	c.mu.Unlock()
	c.readOnce.Lock() // one read per process at a time
	defer c.readOnce.Unlock()
	c.mu.Lock()
	if !c.readAt.IsZero() && now.Sub(c.readAt) < alertRulesTTL {
		rules := c.rules
		c.mu.Unlock()
		return rules, nil
	}
	c.mu.Unlock()
	all, err := s.store.AlertRules(ctx, "")
	if err != nil {
		return nil, err
	}
	var rules []AlertRule
	for _, r := range all {
		if r.Kind == AlertErrorRate {
			rules = append(rules, r)
		}
	}
	c.mu.Lock()
	c.rules, c.readAt = rules, now
	c.mu.Unlock()
	return rules, nil
}

// terminalGroups returns the groups of terminal id, from the cache or the
// store.
func (s *Service) terminalGroups(ctx context.Context, id string) ([]string, error) {
	now := s.now()
	if v, ok := s.alerts.groups.Load(id); ok {
		// Kept as long as the rules are (a terminal deleted and created
		// again under its id may be in other groups).
		if c := v.(cachedGroups); now.Sub(c.at) < alertRulesTTL && !now.Before(c.at) {
			return c.groups, nil
		}
	}
	t, err := s.store.Terminal(ctx, id)
	if err != nil {
		return nil, err
	}
	s.alerts.mu.Lock()
	if s.alerts.nGroups >= maxCachedTerminals {
		s.alerts.groups.Clear()
		s.alerts.nGroups = 0
	}
	s.alerts.nGroups++
	s.alerts.mu.Unlock()
	s.alerts.groups.Store(id, cachedGroups{groups: t.Groups, at: now})
	return t.Groups, nil
}

// cachedGroups are a terminal's groups as read at at.
type cachedGroups struct {
	groups []string
	at     time.Time
}

// knownActive reports whether this process saw the alert under key active
// within alertOpenTTL.
func (s *Service) knownActive(key AlertKey, now time.Time) bool {
	v, ok := s.alerts.open.Load(key.String())
	return ok && now.Sub(v.(time.Time)) < alertOpenTTL && !now.Before(v.(time.Time))
}

// alertOnErrors evaluates the error_rate rules of the terminal that sent
// entries (just stored): see the comment at the top of this file. It logs
// failures: the batch is stored and acknowledged either way.
func (s *Service) alertOnErrors(ctx context.Context, in inbound, entries []protocol.LogEntry) {
	errs := 0
	for i := range entries {
		if entries[i].Level == protocol.LevelError {
			errs++
		}
	}
	if errs == 0 {
		s.advanceWindow(in.terminalID, entries, in.now)
		return
	}
	if err := s.evaluateErrorRate(ctx, in.terminalID, entries, in.now); err != nil {
		slog.WarnContext(ctx, "alert evaluation on stored logs failed", "terminal", in.terminalID, "error", err)
	}
}

func (s *Service) evaluateErrorRate(ctx context.Context, id string, batch []protocol.LogEntry, now time.Time) error {
	rules, err := s.errorRules(ctx, now)
	if err != nil || len(rules) == 0 {
		return err
	}
	groups, err := s.terminalGroups(ctx, id)
	if err != nil {
		return err
	}
	var mine []AlertRule
	window := 0
	for _, r := range rules {
		key := AlertKey{Group: r.Group, RuleID: r.ID, TerminalID: id}
		if slices.Contains(groups, r.Group) && !s.knownActive(key, now) {
			mine = append(mine, r)
			window = max(window, r.Minutes)
		}
	}
	if len(mine) == 0 {
		s.advanceWindow(id, batch, now)
		return nil
	}
	times, err := s.windowTimes(ctx, id, batch, now, time.Duration(window)*time.Minute)
	if err != nil {
		return err
	}
	for _, r := range mine {
		n := countSince(times, now.Add(-time.Duration(r.Minutes)*time.Minute))
		if float64(n) <= r.Threshold {
			continue
		}
		a := s.newAlert(r, id, now, float64(n), fmt.Sprintf("%d error lines in the last %d min (more than %s)", n, r.Minutes, formatNumber(r.Threshold)))
		opened, err := s.store.OpenAlert(ctx, a)
		if err != nil {
			return fmt.Errorf("open alert %s: %w", a.AlertKey, err)
		}
		s.alerts.open.Store(a.AlertKey.String(), now)
		if opened {
			slog.InfoContext(ctx, "alert opened", "group", r.Group, "rule", r.ID, "kind", r.Kind, "terminal", id, "message", a.Message)
		}
	}
	return nil
}

// errorWindow is the error lines of one terminal's recent batches as this
// process handled them: while the batches it sees are contiguous (each
// starts right after the last), it holds every error line since from, so
// an error-rate evaluation needs no store read.
type errorWindow struct {
	mu      sync.Mutex
	lastSeq uint64
	from    time.Time
	times   []time.Time // error line times at or after from
}

// maxErrorWindow is the longest window an error-rate rule may have.
const maxErrorWindow = maxAlertErrorWindow * time.Minute

// advance adds a batch this process stored: contiguous, its error lines
// join the window; otherwise the window is no longer complete.
func (w *errorWindow) advance(batch []protocol.LogEntry, now time.Time) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.lastSeq == 0 || batch[0].Seq != w.lastSeq+1 {
		w.lastSeq = 0 // a gap (another process stored some) or a resend
		return false
	}
	w.lastSeq = batch[len(batch)-1].Seq
	cut := now.Add(-maxErrorWindow)
	if w.from.Before(cut) {
		w.from = cut
	}
	kept := w.times[:0]
	for _, t := range w.times {
		if !t.Before(w.from) {
			kept = append(kept, t)
		}
	}
	w.times = kept
	for i := range batch {
		if batch[i].Level == protocol.LevelError && !batch[i].Time.Before(w.from) {
			w.times = append(w.times, batch[i].Time)
		}
	}
	return true
}

// advanceWindow keeps a window this process holds of terminal id
// contiguous with a batch it did not evaluate (a map lookup, no store call).
func (s *Service) advanceWindow(id string, batch []protocol.LogEntry, now time.Time) {
	if v, ok := s.alerts.windows.Load(id); ok {
		v.(*errorWindow).advance(batch, now)
	}
}

// windowTimes is errorTimes answered from the process's window of the
// terminal when it is complete for window, else from the store (and the
// process's window starts again from what the store answered).
func (s *Service) windowTimes(ctx context.Context, id string, batch []protocol.LogEntry, now time.Time, window time.Duration) ([]time.Time, error) {
	v, _ := s.alerts.windows.LoadOrStore(id, &errorWindow{})
	w := v.(*errorWindow)
	if w.advance(batch, now) {
		w.mu.Lock()
		defer w.mu.Unlock()
		if !w.from.After(now.Add(-window)) {
			return slices.Clone(w.times), nil
		}
	}
	times, _, err := s.errorTimes(ctx, id, batch, now, window)
	if err != nil {
		return nil, err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.lastSeq, w.from, w.times = batch[len(batch)-1].Seq, now.Add(-window), slices.Clone(times)
	return times, nil
}

// errorTimes returns the times of the terminal's error lines within window
// before now: those of batch (when given; the newest lines, just stored)
// and of the chunks stored within the window below it, each sequence
// number once. It reads at most maxAlertChunks chunks; truncated says it
// stopped there before reaching the window's start (a terminal sending
// many small batches, live), so the count is a lower bound.
func (s *Service) errorTimes(ctx context.Context, id string, batch []protocol.LogEntry, now time.Time, window time.Duration) (times []time.Time, truncated bool, err error) {
	since := now.Add(-window)
	seen := map[uint64]bool{}
	add := func(e *protocol.LogEntry) {
		if e.Level == protocol.LevelError && !e.Time.Before(since) && !seen[e.Seq] {
			seen[e.Seq] = true
			times = append(times, e.Time)
		}
	}
	from := uint64(0) // the newest
	if len(batch) > 0 {
		for i := range batch {
			add(&batch[i])
		}
		if batch[0].Seq <= 1 {
			return times, false, nil
		}
		from = batch[0].Seq - 1 + protocol.MaxBatchSpan - 1 // chunks that may hold older lines
	}
	read := 0
	err = s.store.ScanLogChunks(ctx, id, from, true, now, func(c LogChunk) bool {
		read++
		if c.StoredAt.Before(since) {
			return false // stored before the window: its lines are older
		}
		for i := range c.Entries {
			add(&c.Entries[i])
		}
		if read >= maxAlertChunks {
			truncated = true
			return false
		}
		return true
	})
	if err != nil {
		return nil, false, fmt.Errorf("error lines of %s: %w", id, err)
	}
	return times, truncated, nil
}

func countSince(times []time.Time, since time.Time) int {
	n := 0
	for _, t := range times {
		if !t.Before(since) {
			n++
		}
	}
	return n
}

// newAlert is rule r's open alert for terminal id at now.
func (s *Service) newAlert(r AlertRule, id string, now time.Time, value float64, msg string) Alert {
	return Alert{
		AlertKey: AlertKey{Group: r.Group, RuleID: r.ID, TerminalID: id},
		Kind:     r.Kind, RuleName: r.Name, State: AlertOpen, OpenedAt: millis(now),
		Message: truncate(msg, 500), Value: value,
	}
}

// alertJob is the scheduler's alert work: evaluate the rules the write
// path does not, clear what no longer holds, deliver state changes.
func (s *Service) alertJob() job {
	return job{name: "alerts", run: s.evaluateAlerts}
}

// evaluateAlerts is one scheduled evaluation as of now. It reads every
// rule, every alert, and the terminal records of the groups that have
// offline, status or dropped rules (Store.GroupTerminalRecords); status
// history only for terminals with dropped lines under a dropped rule, and
// log chunks only for open error_rate alerts. It writes only on changes.
func (s *Service) evaluateAlerts(ctx context.Context, now time.Time) error {
	rules, err := s.store.AlertRules(ctx, "")
	if err != nil {
		return fmt.Errorf("read alert rules: %w", err)
	}
	alerts, err := s.groupAlerts(ctx, "", now)
	if err != nil {
		return err
	}
	active := map[string]Alert{}
	for _, a := range alerts {
		if a.State.active() {
			active[a.AlertKey.String()] = a
		}
	}
	byID := map[string]AlertRule{}
	groups := map[string][]AlertRule{} // group → its rules the scheduler evaluates per terminal
	for _, r := range rules {
		byID[r.Group+" "+r.ID] = r
		if r.Kind != AlertErrorRate {
			groups[r.Group] = append(groups[r.Group], r)
		}
	}
	var errs []error
	handled := map[string]bool{} // changed (and delivered) in this run
	// Alerts whose rule is gone, and error-rate alerts whose window calmed.
	for _, a := range active {
		r, ok := byID[a.Group+" "+a.RuleID]
		switch {
		case !ok:
			s.clearAlert(ctx, a, now, "the rule was deleted")
			handled[a.AlertKey.String()] = true
		case r.Kind == AlertErrorRate:
			times, truncated, err := s.errorTimes(ctx, a.TerminalID, nil, now, time.Duration(r.Minutes)*time.Minute)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			// A count cut short at maxAlertChunks is a lower bound: it
			// cannot tell that the rate fell (the write path, which opened
			// the alert, counted the whole window).
			if n := len(times); float64(n) <= r.Threshold && !truncated {
				s.clearAlert(ctx, a, now, fmt.Sprintf("%d error lines in the last %d min (at most %s)", n, r.Minutes, formatNumber(r.Threshold)))
				handled[a.AlertKey.String()] = true
			}
		}
	}
	// Offline, status and dropped rules, per terminal of their groups.
	for group, rs := range groups {
		seen := map[string]bool{}
		complete := true // every page of the group's terminals was read
		after := ""
		for {
			ts, err := s.store.GroupTerminalRecords(ctx, group, after, maxTerminalsPerRead)
			if err != nil {
				errs = append(errs, fmt.Errorf("terminals of group %q: %w", group, err))
				complete = false
				break
			}
			for _, t := range ts {
				seen[t.ID] = true
				for _, r := range rs {
					key := AlertKey{Group: group, RuleID: r.ID, TerminalID: t.ID}
					firing, value, msg, err := s.firing(ctx, r, t, now)
					if err != nil {
						errs = append(errs, err)
						continue
					}
					cur, isActive := active[key.String()]
					switch {
					case handled[key.String()]:
					case firing && !isActive:
						a := s.newAlert(r, t.ID, now, value, msg)
						opened, err := s.store.OpenAlert(ctx, a)
						if err != nil {
							errs = append(errs, fmt.Errorf("open alert %s: %w", key, err))
							continue
						}
						handled[key.String()] = true
						if opened {
							slog.InfoContext(ctx, "alert opened", "group", group, "rule", r.ID, "kind", r.Kind, "terminal", t.ID, "message", msg)
							s.deliver(ctx, a)
						}
					case !firing && isActive:
						s.clearAlert(ctx, cur, now, msg)
						handled[key.String()] = true
					}
				}
			}
			if len(ts) < maxTerminalsPerRead {
				break
			}
			after = ts[len(ts)-1].ID
		}
		// Alerts of terminals no longer in the group (deleted), known only
		// when the whole group was read: a failed read (throttled) must not
		// clear the alerts of the terminals it did not reach.
		if !complete {
			continue
		}
		for key, a := range active {
			if a.Group == group && !handled[key] && !seen[a.TerminalID] {
				if r, ok := byID[a.Group+" "+a.RuleID]; ok && r.Kind != AlertErrorRate {
					s.clearAlert(ctx, a, now, "the terminal is no longer in the group")
					handled[key] = true
				}
			}
		}
	}
	// Deliver what is not delivered yet (alerts the message function
	// opened, acknowledgements, earlier failures).
	if s.alertPub != nil {
		for _, a := range alerts {
			if !handled[a.AlertKey.String()] && a.Notified != a.State {
				s.deliver(ctx, a)
			}
		}
	}
	return errors.Join(errs...)
}

// maxTerminalsPerRead is the page of group terminals the scheduler reads.
const maxTerminalsPerRead = 500

// clearAlert clears a (if it is still the occurrence read) and delivers
// the change; failures are logged (the next tick tries again).
func (s *Service) clearAlert(ctx context.Context, a Alert, now time.Time, why string) {
	at := millis(now)
	ok, err := s.store.ClearAlert(ctx, a.AlertKey, a.OpenedAt, at, at.Add(AlertRetention), truncate(why, 500))
	if err != nil {
		slog.ErrorContext(ctx, "clear alert", "alert", a.AlertKey.String(), "error", err)
		return
	}
	s.alerts.open.Delete(a.AlertKey.String())
	if !ok {
		return
	}
	slog.InfoContext(ctx, "alert cleared", "group", a.Group, "rule", a.RuleID, "terminal", a.TerminalID, "message", why)
	a.State, a.ClearedAt, a.Message, a.ExpiresAt = AlertCleared, at, truncate(why, 500), at.Add(AlertRetention)
	s.deliver(ctx, a)
}

// deliver publishes a's state (when the service has a publisher) and
// records it as delivered.
func (s *Service) deliver(ctx context.Context, a Alert) {
	if s.alertPub == nil {
		return
	}
	if err := s.alertPub.Publish(ctx, a); err != nil {
		slog.ErrorContext(ctx, "deliver alert; the next tick retries", "alert", a.AlertKey.String(), "state", a.State, "error", err)
		return
	}
	if _, err := s.store.MarkAlertNotified(ctx, a.AlertKey, a.OpenedAt, a.State); err != nil {
		slog.ErrorContext(ctx, "record alert delivery; it may be delivered again", "alert", a.AlertKey.String(), "error", err)
	}
}
