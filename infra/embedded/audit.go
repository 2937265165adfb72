package embedded

import (
	"bytes"
	"context"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/edgesync/edgesync/fleet"
)

// Audit ids are fleet.NewAuditID's; fleet.ValidAuditID and
// fleet.AuditIDRange hold their rules.
const (
	// maxAuditTerminalID bounds the terminal id of an audit record, as the
	// DynamoDB store must.
	maxAuditTerminalID = 1000
)

type auditRecord struct {
	ID         string    `json:"id"`
	At         time.Time `json:"at"`
	Actor      string    `json:"actor,omitempty"`
	Role       string    `json:"role,omitempty"`
	Action     string    `json:"action,omitempty"`
	TerminalID string    `json:"terminalId,omitempty"`
	Outcome    string    `json:"outcome,omitempty"`
	Detail     []byte    `json:"detail,omitempty"`
}

func (r auditRecord) record() fleet.AuditRecord {
	return fleet.AuditRecord{ID: r.ID, At: r.At, Actor: r.Actor, Role: r.Role, Action: r.Action,
		TerminalID: r.TerminalID, Outcome: r.Outcome, Detail: raw(r.Detail)}
}

// SetDesiredConfig records the config an operator asked the terminal to
// run; the last request wins. ErrNotFound if the terminal is absent.
func (s *Store) SetDesiredConfig(ctx context.Context, id string, d fleet.DesiredConfig) error {
	err := s.updateTerminal(ctx, id, func(r *terminalRecord) (bool, error) {
		r.Desired = newDesiredRecord(d)
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("set desired config of %s: %w", id, err)
	}
	return nil
}

// PutAudit stores an audit record, without expiry, in the "audit" bucket
// and, when it names a terminal, indexes it under the terminal in
// "auditByTerminal". A record whose ID is stored already is kept as first
// stored (an audit trail is never rewritten). ErrInvalid unless the ID is
// one fleet.NewAuditID makes for r.At (so that ID order is time order) and
// Detail, when set, is valid JSON. At is kept to the millisecond, the
// precision of the ID.
func (s *Store) PutAudit(ctx context.Context, r fleet.AuditRecord) error {
	if err := checkAuditRecord(r); err != nil {
		return fmt.Errorf("put audit record %q: %w", r.ID, err)
	}
	rec := auditRecord{
		ID: r.ID, At: time.UnixMilli(r.At.UnixMilli()).UTC(), Actor: r.Actor, Role: r.Role, Action: r.Action,
		TerminalID: r.TerminalID, Outcome: r.Outcome, Detail: clone(r.Detail),
	}
	err := s.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(auditBucket)
		if b.Get([]byte(r.ID)) != nil {
			return nil
		}
		if err := put(b, []byte(r.ID), rec); err != nil {
			return err
		}
		if r.TerminalID == "" {
			return nil
		}
		idx, err := tx.Bucket(auditIndexBucket).CreateBucketIfNotExists([]byte(r.TerminalID))
		if err != nil {
			return err
		}
		return idx.Put([]byte(r.ID), []byte{})
	})
	if err != nil {
		return fmt.Errorf("put audit record %s: %w", r.ID, err)
	}
	return nil
}

// Audit returns the records matching q, newest first by ID, at most
// q.Limit, and the cursor of the next page ("" after the last page). The
// cursor is the ID of the page's last record. A terminal's records are
// found through its index bucket; Since and Until narrow the walk to the
// IDs of their milliseconds. ErrInvalid for a limit below 1 or a cursor
// that is not an audit record ID.
func (s *Store) Audit(ctx context.Context, q fleet.AuditQuery) ([]fleet.AuditRecord, string, error) {
	if q.Limit < 1 {
		return nil, "", fmt.Errorf("read audit: limit %d: must be at least 1: %w", q.Limit, fleet.ErrInvalid)
	}
	if q.Cursor != "" && !fleet.ValidAuditID(q.Cursor) {
		return nil, "", fmt.Errorf("read audit: malformed cursor: %w", fleet.ErrInvalid)
	}
	lo, hi, ok := fleet.AuditIDRange(q.Since, q.Until)
	if !ok {
		return nil, "", nil
	}
	if q.Cursor != "" && (hi == "" || q.Cursor < hi) {
		hi = q.Cursor
	}
	var out []fleet.AuditRecord
	err := s.view(ctx, func(tx *bolt.Tx) error {
		records := tx.Bucket(auditBucket)
		walk := records
		if q.TerminalID != "" {
			if walk = tx.Bucket(auditIndexBucket).Bucket([]byte(q.TerminalID)); walk == nil {
				return nil
			}
		}
		c := walk.Cursor()
		var k []byte
		if hi == "" {
			k, _ = c.Last()
		} else {
			if k, _ = c.Seek([]byte(hi)); k == nil {
				k, _ = c.Last()
			}
			for k != nil && bytes.Compare(k, []byte(hi)) >= 0 {
				k, _ = c.Prev()
			}
		}
		for ; k != nil && string(k) >= lo && len(out) <= q.Limit; k, _ = c.Prev() {
			r, found, err := get[auditRecord](records, k)
			if err != nil {
				return err
			}
			if !found {
				return fmt.Errorf("audit index of %s names %s, which is not stored", q.TerminalID, k)
			}
			if auditMatches(q, r) {
				out = append(out, r.record())
			}
		}
		return nil
	})
	if err != nil {
		return nil, "", fmt.Errorf("read audit: %w", err)
	}
	next := ""
	if len(out) > q.Limit {
		out = out[:q.Limit]
		next = out[len(out)-1].ID
	}
	return out, next, nil
}

// auditMatches applies q's filters to a stored record.
func auditMatches(q fleet.AuditQuery, r auditRecord) bool {
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

// checkAuditRecord rejects records the store cannot order or keep whole.
func checkAuditRecord(r fleet.AuditRecord) error {
	if err := fleet.CheckAuditRecord(r); err != nil {
		return err
	}
	if len(r.TerminalID) > maxAuditTerminalID {
		return fmt.Errorf("%w: terminal id is %d bytes, the limit is %d", fleet.ErrInvalid, len(r.TerminalID), maxAuditTerminalID)
	}
	return nil
}
