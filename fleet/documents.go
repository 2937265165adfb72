package fleet

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/edgesync/edgesync/protocol"
)

// Documents: a terminal's config and status as last reported, with their
// freshness (DESIGN §4), the config an operator asked it to run, and the
// status history.

// maxDesiredConfigBytes bounds a config set with SetConfig.
const maxDesiredConfigBytes = 64 * 1024

// Freshness says how current a piece of synced data is (DESIGN §4): when it
// was synced, until when it counts as fresh, and whether a refresh was
// pushed to the terminal because it is not.
type Freshness struct {
	SyncedAt time.Time `json:"syncedAt,omitzero"`
	// ConfirmedAt, for a config, is when the terminal last said it runs
	// that version (a status report naming it) after SyncedAt; freshness
	// counts from it.
	ConfirmedAt time.Time `json:"confirmedAt,omitzero"`
	// FreshUntil is the promise: the data shown is current until then
	// (the time it was synced or confirmed plus its TTL, which follows the
	// terminal's reporting interval: see Service.StatusTTL).
	FreshUntil time.Time `json:"freshUntil,omitzero"`
	Fresh      bool      `json:"fresh"`
	// Stale is true when data exists but is past its TTL: the last known
	// value is being served.
	Stale bool `json:"stale"`
	// Refreshing is true when a refresh has been pushed to the terminal
	// and its answer is pending.
	Refreshing bool `json:"refreshing"`
}

func freshness(syncedAt time.Time, ttl time.Duration, now time.Time) Freshness {
	if syncedAt.IsZero() {
		return Freshness{}
	}
	f := Freshness{SyncedAt: syncedAt, FreshUntil: syncedAt.Add(ttl)}
	f.Fresh = now.Before(f.FreshUntil)
	f.Stale = !f.Fresh
	return f
}

// confirmed is f for data confirmed current at at (after it was synced).
func (f Freshness) confirmed(at time.Time, ttl time.Duration, now time.Time) Freshness {
	if f.SyncedAt.IsZero() || !at.After(f.SyncedAt) {
		return f
	}
	f.ConfirmedAt, f.FreshUntil = at, at.Add(ttl)
	f.Fresh = now.Before(f.FreshUntil)
	f.Stale = !f.Fresh
	return f
}

// reportInterval is the interval at which the terminal says it reports
// its status: the status report's "status_interval" (seconds), 0 when it
// does not say.
func reportInterval(status json.RawMessage) time.Duration {
	if len(status) == 0 {
		return 0
	}
	var v struct {
		Interval float64 `json:"status_interval"`
	}
	if json.Unmarshal(status, &v) != nil || v.Interval <= 0 || v.Interval > 24*3600 {
		return 0
	}
	return time.Duration(v.Interval * float64(time.Second))
}

// StatusTTL is how long t's status counts as fresh, the promise
// freshUntil states: STATUS_TTL, or for a terminal that says it reports
// every interval, twice that or the interval plus StatusRecordEvery (how
// often the record copy listings show follows), whichever is longest. A
// terminal reporting every 30 s promises a status at most 90 s old, one
// reporting every 5 minutes at most 10 minutes old.
func (s *Service) StatusTTL(t Terminal) time.Duration {
	i := reportInterval(t.Status.Data)
	if i == 0 {
		return s.cfg.StatusTTL
	}
	return max(s.cfg.StatusTTL, 2*i, i+StatusRecordEvery)
}

// configTTL is how long t's config counts as fresh after it was synced or
// confirmed: CONFIG_TTL, or twice the reporting interval when longer.
func (s *Service) configTTL(t Terminal) time.Duration {
	return max(s.cfg.ConfigTTL, 2*reportInterval(t.Status.Data))
}

// inactivity is how long a connected terminal may seem silent before it
// reads as offline: INACTIVITY_TIMEOUT, or for a terminal that says how
// often it reports (its LastSeen then moves with the record, about every
// StatusRecordEvery), its StatusTTL when longer.
func (s *Service) inactivity(t Terminal) time.Duration {
	if reportInterval(t.Status.Data) == 0 {
		return s.cfg.InactivityTimeout
	}
	return max(s.cfg.InactivityTimeout, s.StatusTTL(t))
}

// configConfirmedAt is when t last said it runs its stored config: the
// time of the stored status report when that report names the stored
// config's version (the Go agent's reports carry "config_version"), else
// zero. An online terminal reporting the version already stored has a
// current config, fresh without a pull.
func configConfirmedAt(t Terminal) time.Time {
	if t.Config.Version == "" || len(t.Status.Data) == 0 {
		return time.Time{}
	}
	var v struct {
		ConfigVersion string `json:"config_version"`
	}
	if json.Unmarshal(t.Status.Data, &v) != nil || v.ConfigVersion != t.Config.Version {
		return time.Time{}
	}
	return t.Status.SyncedAt
}

// statusFreshness is the freshness of t's status at now.
func (s *Service) statusFreshness(t Terminal, now time.Time) Freshness {
	return freshness(t.Status.SyncedAt, s.StatusTTL(t), now)
}

// configFreshness is the freshness of t's config at now, counting from
// the last report naming its version.
func (s *Service) configFreshness(t Terminal, now time.Time) Freshness {
	ttl := s.configTTL(t)
	return freshness(t.Config.SyncedAt, ttl, now).confirmed(configConfirmedAt(t), ttl, now)
}

// DocumentView is a synced JSON document (config or status) with its freshness.
type DocumentView struct {
	TerminalID string          `json:"terminalId"`
	Online     bool            `json:"online"`
	Version    string          `json:"version,omitempty"`
	Data       json.RawMessage `json:"data"`
	Freshness
}

// ConfigView is a terminal's config as reported by it and as an operator
// asked for it: Pending until the set_config carrying Desired succeeds.
type ConfigView struct {
	DocumentView
	Desired *DesiredView `json:"desired,omitempty"`
}

// DesiredView is the desired config and the state of its delivery.
type DesiredView struct {
	DesiredConfig
	// State is the set_config command's state: pending, succeeded, failed
	// or timed_out; Pending is true until it succeeded.
	State   CommandState `json:"state"`
	Pending bool         `json:"pending"`
	Error   string       `json:"error,omitempty"`
}

// TerminalConfig returns the terminal's last reported config with its
// freshness and the desired config with its delivery state, as p sees
// them. Past ConfigTTL the config is returned marked stale and, if the
// terminal is online, a get_config refresh is pushed (at most one per
// command timeout).
func (s *Service) TerminalConfig(ctx context.Context, p Principal, id string) (ConfigView, error) {
	t, err := s.access(ctx, p, opReadConfig, id)
	if err != nil {
		return ConfigView{}, err
	}
	v := ConfigView{DocumentView: s.document(ctx, p, t, "config")}
	if t.Desired.Version == "" {
		return v, nil
	}
	d := &DesiredView{DesiredConfig: t.Desired, State: CommandPending, Pending: true}
	d.Data = p.document(d.Data)
	if t.Desired.RequestID != "" {
		now := s.now()
		c, err := s.store.Command(ctx, t.ID, t.Desired.RequestID, now)
		switch {
		case err == nil:
			c = c.Effective(now)
			d.State, d.Error = c.State, c.Error
			d.Pending = c.State != CommandSucceeded
		case errors.Is(err, ErrNotFound):
			d.State = CommandTimedOut
		default:
			return ConfigView{}, fmt.Errorf("config of %s: desired state: %w", id, err)
		}
	}
	v.Desired = d
	return v, nil
}

// TerminalStatus returns the terminal's last reported status, like TerminalConfig.
func (s *Service) TerminalStatus(ctx context.Context, p Principal, id string) (DocumentView, error) {
	t, err := s.access(ctx, p, opReadStatus, id)
	if err != nil {
		return DocumentView{}, err
	}
	return s.document(ctx, p, t, "status"), nil
}

// document is t's config or status (what) as p sees it, refreshed when
// stale and the terminal is online.
func (s *Service) document(ctx context.Context, p Principal, t Terminal, what string) DocumentView {
	now := s.now()
	t = s.current(ctx, t, now)
	snap, fresh, command := t.Config, s.configFreshness(t, now), protocol.CommandGetConfig
	if what == "status" {
		snap, fresh, command = t.Status, s.statusFreshness(t, now), protocol.CommandGetStatus
	}
	v := DocumentView{TerminalID: t.ID, Online: s.online(t, now), Version: snap.Version, Data: p.document(snap.Data), Freshness: fresh}
	if v.Data == nil {
		v.Data = json.RawMessage("null")
	}
	s.freshness(v.Freshness)
	if !v.Fresh && v.Online {
		v.Refreshing = s.refresh(ctx, t, what, command, nil)
	}
	return v
}

// current is t brought up to date from its newest log chunks when the
// store lets the record lag them (LogBatchStore, LogBatch.Record): the
// status report riding in a newer chunk, LastSeq, and LastSeen moved to
// when that chunk was stored. A failed read leaves t as it is.
func (s *Service) current(ctx context.Context, t Terminal, now time.Time) Terminal {
	if _, ok := s.store.(LogBatchStore); !ok {
		return t
	}
	n := 0
	err := s.store.ScanLogChunks(ctx, t.ID, 0, true, now, func(c LogChunk) bool {
		n++
		t.LastSeq = max(t.LastSeq, c.LastSeq)
		if c.StoredAt.After(t.LastSeen) {
			t.LastSeen = c.StoredAt
		}
		if c.Status != nil && c.Status.At.After(t.Status.SyncedAt) {
			t.Status = Snapshot{Data: c.Status.Data, SyncedAt: c.Status.At}
		}
		// Chunks arrive by LastSeq, newest first; a report rides in the
		// newest few.
		return n < newestChunks
	})
	if err != nil {
		slog.WarnContext(ctx, "read the newest log chunks", "terminal", t.ID, "error", err)
	}
	return t
}

// newestChunks is how many of the newest chunks current reads.
const newestChunks = 3

// refresh pushes command to an online terminal unless a refresh of what was
// pushed within the last command timeout; it reports whether one is under way.
func (s *Service) refresh(ctx context.Context, t Terminal, what, command string, params json.RawMessage) bool {
	now := s.now()
	won, err := s.store.ClaimRefresh(ctx, t.ID, what, now, now.Add(-s.cfg.CommandTimeout))
	if err != nil {
		slog.ErrorContext(ctx, "claim refresh", "terminal", t.ID, "what", what, "error", err)
		return false
	}
	if !won {
		return true
	}
	c := s.newCommand(t.ID, command, params, "system:refresh", now, 0)
	if err := s.store.PutCommands(ctx, c); err != nil {
		slog.ErrorContext(ctx, "record refresh", "terminal", t.ID, "what", what, "error", err)
		return false
	}
	if err := s.send(ctx, t.ID, t.ConnectionID, c.message()); err != nil {
		return false
	}
	return true
}

// StatusHistory returns the terminal's status samples since the given time,
// oldest first, at most limit, as p sees them.
func (s *Service) StatusHistory(ctx context.Context, p Principal, id string, since time.Time, limit int) ([]StatusSample, error) {
	t, err := s.access(ctx, p, opReadStatus, id)
	if err != nil {
		return nil, err
	}
	if limit < 1 || limit > 2000 {
		return nil, fmt.Errorf("limit %d: must be from 1 to 2000: %w", limit, ErrInvalid)
	}
	now := s.now()
	samples, err := s.store.StatusHistory(ctx, t.ID, since, now, limit)
	if err != nil {
		return nil, fmt.Errorf("status history of %s: %w", id, err)
	}
	for i := range samples {
		samples[i].Data = p.document(samples[i].Data)
	}
	return samples, nil
}

// SetConfig records doc as the terminal's desired config with a new
// version, pushes set_config to it, and audits the change with a diff
// against the last reported config (secrets masked). The terminal must be
// online (ErrOffline otherwise, and nothing is recorded). It needs the
// operator role, and the admin role for a change of a connection setting
// or of what the terminal exposes (protocol.AdminOnlyConfigKeys; see
// adminOnlyChanges): ErrForbidden naming the keys otherwise. It returns
// the desired config as p sees it.
func (s *Service) SetConfig(ctx context.Context, p Principal, id string, doc json.RawMessage) (DesiredView, error) {
	t, err := s.access(ctx, p, opSetConfig, id)
	if err != nil {
		return DesiredView{}, err
	}
	if !protocol.IsObject(doc) {
		return DesiredView{}, fmt.Errorf("config: must be a JSON object: %w", ErrInvalid)
	}
	if len(doc) > maxDesiredConfigBytes {
		return DesiredView{}, fmt.Errorf("config: %d bytes, the limit is %d: %w", len(doc), maxDesiredConfigBytes, ErrInvalid)
	}
	doc = compact(doc)
	if !p.Can(RoleAdmin) {
		if keys := adminOnlyChanges(doc, t.Config.Data, t.Desired.Data); len(keys) > 0 {
			s.deny(ctx, p, opSetConfig, t.ID, "changes admin-only config keys")
			return DesiredView{}, fmt.Errorf("%s may only be changed by an admin: %w", joinKeys(keys), ErrForbidden)
		}
	}
	now := s.now()
	if !s.online(t, now) {
		return DesiredView{}, fmt.Errorf("set config of %s: %w", id, ErrOffline)
	}
	version := ConfigVersion(doc)
	params, _ := json.Marshal(protocol.SetConfigParams{Config: doc})
	c := s.newCommand(t.ID, protocol.CommandSetConfig, params, p.Subject, now, 0)
	d := DesiredConfig{Data: doc, Version: version, SetAt: now, SetBy: p.Subject, RequestID: c.RequestID}
	detail := map[string]any{"version": version, "requestId": c.RequestID, "diff": Diff(t.Config.Data, doc)}
	err = s.audited(ctx, p, AuditConfigSet, t.ID, detail, func() error {
		if err := s.store.PutCommands(ctx, c); err != nil {
			return fmt.Errorf("record set_config for %s: %w", id, err)
		}
		if err := s.store.SetDesiredConfig(ctx, t.ID, d); err != nil {
			return fmt.Errorf("record desired config of %s: %w", id, err)
		}
		if err := s.send(ctx, t.ID, t.ConnectionID, c.message()); err != nil {
			if errors.Is(err, ErrGone) {
				return fmt.Errorf("set config of %s: %w", id, ErrOffline)
			}
			return err
		}
		return nil
	})
	if err != nil {
		return DesiredView{}, err
	}
	d.Data = p.document(d.Data)
	return DesiredView{DesiredConfig: d, State: CommandPending, Pending: true}, nil
}

// Change is one entry of a config diff: the dotted path of a key and its
// value before and after (absent on one side when added or removed).
type Change struct {
	Path   string          `json:"path"`
	Before json.RawMessage `json:"before,omitempty"`
	After  json.RawMessage `json:"after,omitempty"`
}

// Diff lists the changes from before to after, objects compared key by key,
// anything else as a whole. Secret values are masked in the result.
func Diff(before, after json.RawMessage) []Change {
	var b, a any
	_ = json.Unmarshal(before, &b)
	_ = json.Unmarshal(after, &a)
	var out []Change
	var walk func(path string, key string, b, a any, hadB, hadA bool)
	walk = func(path, key string, b, a any, hadB, hadA bool) {
		bm, bok := b.(map[string]any)
		am, aok := a.(map[string]any)
		if bok && aok && !IsSecretKey(key) {
			keys := map[string]bool{}
			for k := range bm {
				keys[k] = true
			}
			for k := range am {
				keys[k] = true
			}
			sorted := make([]string, 0, len(keys))
			for k := range keys {
				sorted = append(sorted, k)
			}
			slices.Sort(sorted)
			for _, k := range sorted {
				p := k
				if path != "" {
					p = path + "." + k
				}
				bv, hb := bm[k]
				av, ha := am[k]
				walk(p, k, bv, av, hb, ha)
			}
			return
		}
		bj, _ := json.Marshal(b)
		aj, _ := json.Marshal(a)
		if hadB == hadA && string(bj) == string(aj) {
			return
		}
		c := Change{Path: path}
		secret := IsSecretKey(key)
		if hadB {
			c.Before = maybeMask(bj, secret)
		}
		if hadA {
			c.After = maybeMask(aj, secret)
		}
		out = append(out, c)
	}
	walk("", "", b, a, before != nil && string(before) != "null", true)
	return out
}

func maybeMask(v json.RawMessage, secret bool) json.RawMessage {
	if secret {
		return json.RawMessage(`"` + Masked + `"`)
	}
	return MaskSecrets(v)
}

// adminOnlyChanges returns, sorted, the admin-only keys
// (protocol.IsAdminOnlyConfigKey) whose value in doc differs both from
// the last reported config and from the last desired one: an operator may
// send back what the terminal runs or what an admin asked it to run, and
// nothing else there. A key absent on one side and present on the other
// differs. A secret key whose value in doc is "[redacted]" keeps the
// terminal's current value (the agent's rule), so it changes nothing.
func adminOnlyChanges(doc, reported, desired json.RawMessage) []string {
	next, cur, want := topLevel(doc), topLevel(reported), topLevel(desired)
	var out []string
	for _, k := range protocol.AdminOnlyConfigKeys {
		v, ok := next[k]
		if ok && IsSecretKey(k) && isRedacted(v) {
			continue
		}
		if sameValue(k, v, ok, cur) || (len(desired) > 0 && sameValue(k, v, ok, want)) {
			continue
		}
		out = append(out, k)
	}
	return out
}

// topLevel returns the keys of a JSON object (none for anything else).
func topLevel(doc json.RawMessage) map[string]json.RawMessage {
	m := map[string]json.RawMessage{}
	_ = json.Unmarshal(doc, &m)
	return m
}

func isRedacted(v json.RawMessage) bool {
	var s string
	return json.Unmarshal(v, &s) == nil && s == Masked
}

// sameValue reports whether key, with value v (present when ok), has the
// same JSON value in doc; absent on both sides is the same.
func sameValue(key string, v json.RawMessage, ok bool, doc map[string]json.RawMessage) bool {
	w, had := doc[key]
	return ok == had && (!ok || jsonEqual(v, w))
}

// jsonEqual reports whether a and b hold the same JSON value (numbers
// compared as written, objects whatever their key order).
func jsonEqual(a, b json.RawMessage) bool {
	decode := func(raw json.RawMessage) (any, bool) {
		var v any
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		return v, dec.Decode(&v) == nil
	}
	va, okA := decode(a)
	vb, okB := decode(b)
	return okA && okB && reflect.DeepEqual(va, vb)
}

func joinKeys(keys []string) string {
	switch len(keys) {
	case 1:
		return keys[0]
	case 2:
		return keys[0] + " and " + keys[1]
	}
	return strings.Join(keys[:len(keys)-1], ", ") + " and " + keys[len(keys)-1]
}

// ConfigVersion names a config document: the first 12 hex digits of the
// SHA-256 of its canonical form (keys sorted, compact) with every secret
// masked (MaskSecrets), the form the Go agent versions its own redacted
// document in, so the version a terminal reports and the one the cloud
// computes agree. A version is shown to every role: it is never derived
// from a secret value, so no one can test guesses of a secret against it.
// A change of secrets alone therefore keeps the version; the set_config
// command's state says whether it applied.
func ConfigVersion(doc json.RawMessage) string {
	sum := sha256.Sum256(MaskSecrets(compact(doc)))
	return hex.EncodeToString(sum[:6])
}

func compact(raw json.RawMessage) json.RawMessage {
	var out bytes.Buffer
	if err := json.Compact(&out, raw); err != nil {
		return raw
	}
	return out.Bytes()
}
