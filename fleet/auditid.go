package fleet

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"time"
)

// NewAuditID returns a unique audit record id that sorts by time: the
// zero-padded Unix milliseconds of at, a dash, a per-process counter (so
// ids made by one process within a millisecond keep their order) and
// random hex digits that keep processes apart.
func NewAuditID(at time.Time) string {
	n := auditSeq.Add(1)
	return fmt.Sprintf("%013d-%012x%s", at.UnixMilli(), n, auditProcess)
}

var (
	auditSeq     atomic.Uint64
	auditProcess = func() string {
		var r [4]byte
		_, _ = rand.Read(r[:])
		return hex.EncodeToString(r[:])
	}()
)

// auditMillisDigits is the width of the time part of an audit id.
const auditMillisDigits = 13

// ValidAuditID reports whether id has NewAuditID's form: 13 digits, a
// dash, then 1 to 64 ASCII letters or digits. Stores use it for ids and
// for cursors (the last id of a page).
func ValidAuditID(id string) bool {
	if len(id) < auditMillisDigits+2 || len(id) > auditMillisDigits+1+64 || id[auditMillisDigits] != '-' {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case i < auditMillisDigits:
			if c < '0' || c > '9' {
				return false
			}
		case i == auditMillisDigits:
		case !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'):
			return false
		}
	}
	return true
}

// CheckAuditRecord is the rule every Store.PutAudit applies: ErrInvalid
// unless r.ID has NewAuditID's form for r.At (so ids order records by time
// and time bounds are key ranges) and r.Detail, when set, is JSON.
func CheckAuditRecord(r AuditRecord) error {
	if !ValidAuditID(r.ID) {
		return fmt.Errorf("audit id %q must be <13-digit unix ms>-<letters and digits> (NewAuditID): %w", truncate(r.ID, 80), ErrInvalid)
	}
	if r.At.IsZero() || r.ID[:auditMillisDigits] != fmt.Sprintf("%0*d", auditMillisDigits, r.At.UnixMilli()) {
		return fmt.Errorf("audit id %s does not carry At %s in milliseconds (make it with NewAuditID(At)): %w", r.ID, r.At.Format(time.RFC3339Nano), ErrInvalid)
	}
	if len(r.Detail) > 0 && !json.Valid(r.Detail) {
		return fmt.Errorf("audit %s: detail is not valid JSON: %w", r.ID, ErrInvalid)
	}
	return nil
}

// maxAuditMillis is the largest time part an audit id can carry.
const maxAuditMillis = 9_999_999_999_999

// AuditIDRange turns an AuditQuery's Since (inclusive) and Until
// (exclusive) into a range of audit ids: at least lo and below hi, ""
// meaning open. ok is false when no id can be in range. An id carries its
// At in milliseconds (NewAuditID) and no id equals a bare millisecond
// prefix, so with the times rounded up to the millisecond the range
// selects exactly the records with Since <= At < Until. Stores use it to
// turn time bounds into key ranges.
func AuditIDRange(since, until time.Time) (lo, hi string, ok bool) {
	if !since.IsZero() {
		ms := ceilMillis(since)
		if ms > maxAuditMillis {
			return "", "", false
		}
		if ms > 0 {
			lo = fmt.Sprintf("%0*d", auditMillisDigits, ms)
		}
	}
	if !until.IsZero() {
		ms := ceilMillis(until)
		if ms <= 0 {
			return "", "", false
		}
		if ms <= maxAuditMillis {
			hi = fmt.Sprintf("%0*d", auditMillisDigits, ms)
		}
	}
	if lo != "" && hi != "" && lo >= hi {
		return "", "", false
	}
	return lo, hi, true
}

// ceilMillis is t in Unix milliseconds, rounded up.
func ceilMillis(t time.Time) int64 {
	ms := t.UnixMilli()
	if t.After(time.UnixMilli(ms)) {
		ms++
	}
	return ms
}
