package embedded

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/edgesync/edgesync/fleet"
)

// Bucket names.
var (
	metaBucket        = []byte("meta")
	terminalsBucket   = []byte("terminals")
	connectionsBucket = []byte("connections")
	statusBucket      = []byte("status")
	logsBucket        = []byte("logs")
	commandsBucket    = []byte("commands")
	auditBucket       = []byte("audit")
	auditIndexBucket  = []byte("auditByTerminal")
	// connIndexBucket holds one nested bucket per terminal id, keyed by
	// the ids of its connections (empty values): TerminalConnections.
	connIndexBucket = []byte("connectionsByTerminal")
)

// format is the version of the file layout, stored under meta/format.
// Version 2 keys log chunks by LastSeq (version 1 keyed them by FirstSeq).
const format = "2"

// scanPage is how many log chunks ScanLogChunks reads per transaction; fn
// is called outside transactions so it may use the store itself.
const scanPage = 64

// scanFirstPage is the size of ScanLogChunks' first page.
const scanFirstPage = 4

// Store is a fleet.Store kept in one bbolt file. Create it with Open and
// release it with Close. It is safe for concurrent use.
type Store struct {
	db *bolt.DB
	// writers counts the write transactions asked for and not finished:
	// batch shares a commit among concurrent ones.
	writers atomic.Int64
	// sweepWrote, when set (by tests), is told how many records each of
	// Sweep's write transactions on the per-terminal buckets deleted.
	sweepWrote func(n int)
}

var (
	_ fleet.Store         = (*Store)(nil)
	_ fleet.LogBatchStore = (*Store)(nil)
)

// maxBatchDelay is how long a write waits for others to share its commit
// (bolt.DB.MaxBatchDelay, 10 ms by default). A commit (its fdatasync)
// takes a fraction of a millisecond to a few on a developer's disk; 2 ms
// lets a batch gather the writes of a busy stack while a lone write
// under load waits little.
const maxBatchDelay = 2 * time.Millisecond

// ErrLocked is returned by Open when another process holds the store file.
var ErrLocked = errors.New("store file is locked by another process")

// Open opens the store file at path, creating it (mode 0600) and its
// buckets if needed. It fails after a second if another process holds the
// file, and on a file written in an unknown format.
func Open(path string) (*Store, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return nil, fmt.Errorf("open store %s: %w", path, ErrLocked)
		}
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucketIfNotExists(metaBucket)
		if err != nil {
			return err
		}
		switch v := meta.Get([]byte("format")); {
		case v == nil:
			if err := meta.Put([]byte("format"), []byte(format)); err != nil {
				return err
			}
		case string(v) != format:
			return fmt.Errorf("file format %q, this build reads only format %q (the file was written by another edgesync version; move it aside to start with an empty store)", v, format)
		}
		for _, name := range append([][]byte{terminalsBucket, connectionsBucket, statusBucket, logsBucket, commandsBucket, auditBucket, auditIndexBucket, connIndexBucket}, rolloutBuckets...) {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		if err := createAlertBuckets(tx); err != nil {
			return err
		}
		if tx.Bucket(groupsBucket) == nil {
			if _, err := tx.CreateBucket(groupsBucket); err != nil {
				return err
			}
			return buildGroupIndex(tx)
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	db.MaxBatchDelay = maxBatchDelay
	return &Store{db: db}, nil
}

// Close releases the file. The Store must not be used afterwards.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close store %s: %w", s.db.Path(), err)
	}
	return nil
}

// view runs fn in a read transaction after checking ctx.
func (s *Store) view(ctx context.Context, fn func(tx *bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.db.View(fn)
}

// update runs fn in a write transaction of its own after checking ctx.
func (s *Store) update(ctx context.Context, fn func(tx *bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.writers.Add(1)
	defer s.writers.Add(-1)
	return s.db.Update(fn)
}

// batch runs fn in a write transaction after checking ctx, sharing the
// transaction and its commit with the writes running at the same time
// (bolt.DB.Batch) when there are any; alone, it commits at once as
// update does. The message path's writes use it: under load every one
// otherwise waits for its own commit and fdatasync, one at a time.
//
// What sharing changes, and what it does not: batch returns only after
// the shared transaction committed, so a write is as durable as with
// update when it returns, and a caller's writes stay in the order it
// made them; concurrent writes had no order and run one after the other
// inside the transaction, each seeing the ones before, so conditional
// writes decide as if serialized. A commit that fails fails every write
// in it. fn may run more than once (when another fn of the batch fails,
// the batch is rolled back and run again without it, and the failed one
// alone): it must set what it reports to its caller afresh on every run.
// Expected errors (ErrNotFound, ErrConflict) cost that second run, so
// paths where they are common use update.
func (s *Store) batch(ctx context.Context, fn func(tx *bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	alone := s.writers.Add(1) == 1
	defer s.writers.Add(-1)
	if alone {
		return s.db.Update(fn)
	}
	return s.db.Batch(fn)
}

func get[T any](b *bolt.Bucket, key []byte) (T, bool, error) {
	var v T
	data := b.Get(key)
	if data == nil {
		return v, false, nil
	}
	if err := json.Unmarshal(data, &v); err != nil {
		return v, false, fmt.Errorf("decode %q: %w", key, err)
	}
	return v, true, nil
}

func put(b *bolt.Bucket, key []byte, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %q: %w", key, err)
	}
	return b.Put(key, data)
}

// updateTerminal loads terminal id, lets fn change it, and writes it back
// when fn reports a change, all in one transaction (shared with
// concurrent writes: batch). ErrNotFound if absent.
func (s *Store) updateTerminal(ctx context.Context, id string, fn func(r *terminalRecord) (changed bool, err error)) error {
	return s.batch(ctx, func(tx *bolt.Tx) error {
		return updateTerminalTx(tx, id, fn)
	})
}

func updateTerminalTx(tx *bolt.Tx, id string, fn func(r *terminalRecord) (bool, error)) error {
	if id == "" {
		return fleet.ErrNotFound
	}
	b := tx.Bucket(terminalsBucket)
	r, ok, err := get[terminalRecord](b, []byte(id))
	if err != nil {
		return err
	}
	if !ok {
		return fleet.ErrNotFound
	}
	changed, err := fn(&r)
	if err != nil || !changed {
		return err
	}
	return put(b, []byte(id), r)
}

// CreateTerminal stores a new terminal record. ErrExists if the id is taken.
func (s *Store) CreateTerminal(ctx context.Context, t fleet.Terminal) error {
	if t.ID == "" {
		return fmt.Errorf("create terminal: empty id: %w", fleet.ErrInvalid)
	}
	err := s.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(terminalsBucket)
		if b.Get([]byte(t.ID)) != nil {
			return fleet.ErrExists
		}
		if err := indexGroups(tx, t.ID, t.Groups); err != nil {
			return err
		}
		return put(b, []byte(t.ID), newTerminalRecord(t))
	})
	if err != nil {
		return fmt.Errorf("create terminal %s: %w", t.ID, err)
	}
	return nil
}

// Terminal returns the terminal record. ErrNotFound if absent.
func (s *Store) Terminal(ctx context.Context, id string) (fleet.Terminal, error) {
	var r terminalRecord
	err := s.view(ctx, func(tx *bolt.Tx) error {
		var ok bool
		var err error
		r, ok, err = get[terminalRecord](tx.Bucket(terminalsBucket), []byte(id))
		if err == nil && !ok {
			err = fleet.ErrNotFound
		}
		return err
	})
	if err != nil {
		return fleet.Terminal{}, fmt.Errorf("get terminal %s: %w", id, err)
	}
	return r.terminal(), nil
}

// Terminals lists terminals in id order, at most limit, starting after the
// cursor ("" for the first page). It returns the next page's cursor, ""
// after the last. A limit below 1 or a malformed cursor is ErrInvalid.
func (s *Store) Terminals(ctx context.Context, cursor string, limit int) ([]fleet.Terminal, string, error) {
	if limit < 1 {
		return nil, "", fmt.Errorf("list terminals: limit %d: must be at least 1: %w", limit, fleet.ErrInvalid)
	}
	after, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		return nil, "", fmt.Errorf("list terminals: malformed cursor: %w", fleet.ErrInvalid)
	}
	var out []fleet.Terminal
	var next string
	err = s.view(ctx, func(tx *bolt.Tx) error {
		c := tx.Bucket(terminalsBucket).Cursor()
		k, v := c.First()
		if len(after) > 0 {
			k, v = c.Seek(after)
			if k != nil && bytes.Equal(k, after) {
				k, v = c.Next()
			}
		}
		for ; k != nil && len(out) < limit; k, v = c.Next() {
			var r terminalRecord
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("decode %q: %w", k, err)
			}
			out = append(out, r.terminal())
		}
		if k != nil && len(out) > 0 {
			next = base64.RawURLEncoding.EncodeToString([]byte(out[len(out)-1].ID))
		}
		return nil
	})
	if err != nil {
		return nil, "", fmt.Errorf("list terminals: %w", err)
	}
	return out, next, nil
}

// SetCredentials replaces the terminal's credentials if its credentials
// version is still version, and stores version+1. ErrConflict if it is
// not; ErrNotFound if the terminal is absent.
func (s *Store) SetCredentials(ctx context.Context, id string, creds []fleet.Credential, version uint64) error {
	// A transaction of its own: a conflict is an expected answer here,
	// which would cost a batch a second run.
	err := s.update(ctx, func(tx *bolt.Tx) error {
		return updateTerminalTx(tx, id, func(r *terminalRecord) (bool, error) {
			if r.CredsVersion != version {
				return false, fmt.Errorf("credentials are at version %d, not %d: %w", r.CredsVersion, version, fleet.ErrConflict)
			}
			r.Credentials = credentialRecords(creds)
			r.CredsVersion = version + 1
			return true, nil
		})
	})
	if err != nil {
		return fmt.Errorf("set credentials of %s: %w", id, err)
	}
	return nil
}

// DeleteTerminal removes the terminal record (with its config, desired
// config and credentials), its group memberships and its connection
// bindings, in one transaction. Its log chunks, status samples and
// commands stay until Sweep finds them expired; its audit records stay.
// ErrNotFound if absent.
func (s *Store) DeleteTerminal(ctx context.Context, id string) error {
	err := s.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(terminalsBucket)
		r, ok, err := get[terminalRecord](b, []byte(id))
		if err != nil {
			return err
		}
		if !ok {
			return fleet.ErrNotFound
		}
		if err := unindexGroups(tx, id, r.Groups); err != nil {
			return err
		}
		if idx := tx.Bucket(connIndexBucket).Bucket([]byte(id)); idx != nil {
			conns := tx.Bucket(connectionsBucket)
			if err := idx.ForEach(func(k, _ []byte) error { return conns.Delete(k) }); err != nil {
				return err
			}
			if err := tx.Bucket(connIndexBucket).DeleteBucket([]byte(id)); err != nil {
				return err
			}
		}
		return b.Delete([]byte(id))
	})
	if err != nil {
		return fmt.Errorf("delete terminal %s: %w", id, err)
	}
	return nil
}

// PutConnection records a connection binding and indexes it under its
// terminal, in one transaction. Idempotent.
func (s *Store) PutConnection(ctx context.Context, c fleet.Connection) error {
	if c.ID == "" || c.TerminalID == "" {
		return fmt.Errorf("put connection: empty connection or terminal id: %w", fleet.ErrInvalid)
	}
	err := s.batch(ctx, func(tx *bolt.Tx) error {
		idx, err := tx.Bucket(connIndexBucket).CreateBucketIfNotExists([]byte(c.TerminalID))
		if err != nil {
			return err
		}
		if err := idx.Put([]byte(c.ID), nil); err != nil {
			return err
		}
		return put(tx.Bucket(connectionsBucket), []byte(c.ID), newConnectionRecord(c))
	})
	if err != nil {
		return fmt.Errorf("put connection %s: %w", c.ID, err)
	}
	return nil
}

// Connection returns the binding of connID. ErrNotFound if absent or
// expired at now.
func (s *Store) Connection(ctx context.Context, connID string, now time.Time) (fleet.Connection, error) {
	var r connectionRecord
	err := s.view(ctx, func(tx *bolt.Tx) error {
		var ok bool
		var err error
		r, ok, err = get[connectionRecord](tx.Bucket(connectionsBucket), []byte(connID))
		if err == nil && (!ok || expired(r.ExpiresAt, now)) {
			err = fleet.ErrNotFound
		}
		return err
	})
	if err != nil {
		return fleet.Connection{}, fmt.Errorf("get connection %s: %w", connID, err)
	}
	return r.connection(), nil
}

// TerminalConnections returns the terminal's bindings unexpired at now:
// a walk of its index bucket.
func (s *Store) TerminalConnections(ctx context.Context, terminalID string, now time.Time) ([]fleet.Connection, error) {
	var out []fleet.Connection
	err := s.view(ctx, func(tx *bolt.Tx) error {
		idx := tx.Bucket(connIndexBucket).Bucket([]byte(terminalID))
		if idx == nil {
			return nil
		}
		conns := tx.Bucket(connectionsBucket)
		return idx.ForEach(func(k, _ []byte) error {
			r, ok, err := get[connectionRecord](conns, k)
			if err != nil {
				return err
			}
			if ok && r.TerminalID == terminalID && !expired(r.ExpiresAt, now) {
				out = append(out, r.connection())
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("connections of %s: %w", terminalID, err)
	}
	return out, nil
}

// DeleteConnection removes the binding and its index entry. Idempotent:
// absent is not an error.
func (s *Store) DeleteConnection(ctx context.Context, connID string) error {
	if connID == "" {
		return nil
	}
	err := s.batch(ctx, func(tx *bolt.Tx) error {
		conns := tx.Bucket(connectionsBucket)
		r, ok, err := get[connectionRecord](conns, []byte(connID))
		if err != nil {
			return err
		}
		if ok {
			if idx := tx.Bucket(connIndexBucket).Bucket([]byte(r.TerminalID)); idx != nil {
				if err := idx.Delete([]byte(connID)); err != nil {
					return err
				}
			}
		}
		return conns.Delete([]byte(connID))
	})
	if err != nil {
		return fmt.Errorf("delete connection %s: %w", connID, err)
	}
	return nil
}

// MarkOnline makes connID the terminal's current connection, online, with
// ConnectedAt at and LastSeen moved forward to at, unless the stored
// ConnectedAt is after at (a newer connection is current: nothing changes).
// ErrNotFound if the terminal is absent.
func (s *Store) MarkOnline(ctx context.Context, id, connID string, at time.Time) error {
	err := s.updateTerminal(ctx, id, func(r *terminalRecord) (bool, error) {
		if r.ConnectedAt.After(at) {
			return false, nil
		}
		r.Online, r.ConnectionID, r.ConnectedAt = true, connID, utc(at)
		r.LastSeen = later(r.LastSeen, at)
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("mark %s online on %s: %w", id, connID, err)
	}
	return nil
}

// MarkOffline marks the terminal offline with at and reason only if connID
// is still its current, online connection; it reports whether it did.
// ErrNotFound if the terminal is absent.
func (s *Store) MarkOffline(ctx context.Context, id, connID string, at time.Time, reason string) (bool, error) {
	did := false
	err := s.updateTerminal(ctx, id, func(r *terminalRecord) (bool, error) {
		did = false // batch may run this again
		if !r.Online || r.ConnectionID != connID {
			return false, nil
		}
		r.Online, r.ConnectionID = false, ""
		r.DisconnectedAt, r.DisconnectReason = utc(at), reason
		did = true
		return true, nil
	})
	if err != nil {
		return false, fmt.Errorf("mark %s offline from %s: %w", id, connID, err)
	}
	return did, nil
}

// Touch moves LastSeen forward to at (never backward) and, when non-empty,
// sets AgentVersion. ErrNotFound if the terminal is absent.
func (s *Store) Touch(ctx context.Context, id string, at time.Time, agentVersion string) error {
	err := s.updateTerminal(ctx, id, func(r *terminalRecord) (bool, error) {
		changed := at.After(r.LastSeen) || (agentVersion != "" && agentVersion != r.AgentVersion)
		r.LastSeen = later(r.LastSeen, at)
		if agentVersion != "" {
			r.AgentVersion = agentVersion
		}
		return changed, nil
	})
	if err != nil {
		return fmt.Errorf("touch %s: %w", id, err)
	}
	return nil
}

// PutConfig stores the terminal's reported config unless a newer one (by
// SyncedAt) is already stored. ErrNotFound if the terminal is absent.
func (s *Store) PutConfig(ctx context.Context, id string, snap fleet.Snapshot) error {
	err := s.updateTerminal(ctx, id, func(r *terminalRecord) (bool, error) {
		if r.Config.SyncedAt.After(snap.SyncedAt) {
			return false, nil
		}
		r.Config = newSnapshotRecord(snap)
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("put config of %s: %w", id, err)
	}
	return nil
}

// PutStatus stores snap as the terminal's last known status (unless a
// newer one is stored), moves LastSeen forward to snap.SyncedAt, and
// appends a history sample expiring at expiresAt, in one transaction.
// ErrNotFound if the terminal is absent.
func (s *Store) PutStatus(ctx context.Context, id string, snap fleet.Snapshot, expiresAt time.Time) error {
	err := s.batch(ctx, func(tx *bolt.Tx) error {
		return putStatusTx(tx, id, snap, expiresAt)
	})
	if err != nil {
		return fmt.Errorf("put status of %s: %w", id, err)
	}
	return nil
}

// putStatusTx is PutStatus within tx.
func putStatusTx(tx *bolt.Tx, id string, snap fleet.Snapshot, expiresAt time.Time) error {
	err := updateTerminalTx(tx, id, func(r *terminalRecord) (bool, error) {
		if !r.Status.SyncedAt.After(snap.SyncedAt) {
			r.Status = newSnapshotRecord(snap)
		}
		r.LastSeen = later(r.LastSeen, snap.SyncedAt)
		return true, nil
	})
	if err != nil {
		return err
	}
	hist, err := tx.Bucket(statusBucket).CreateBucketIfNotExists([]byte(id))
	if err != nil {
		return err
	}
	sample := sampleRecord{At: utc(snap.SyncedAt), Data: clone(snap.Data), ExpiresAt: utc(expiresAt)}
	return put(hist, timeKey(snap.SyncedAt), sample)
}

// StatusHistory returns unexpired samples taken after since, oldest first,
// at most limit (the newest ones when there are more). A limit below 1 is
// ErrInvalid.
func (s *Store) StatusHistory(ctx context.Context, id string, since, now time.Time, limit int) ([]fleet.StatusSample, error) {
	if limit < 1 {
		return nil, fmt.Errorf("status history of %s: limit %d: must be at least 1: %w", id, limit, fleet.ErrInvalid)
	}
	var out []fleet.StatusSample
	err := s.view(ctx, func(tx *bolt.Tx) error {
		hist := tx.Bucket(statusBucket).Bucket([]byte(id))
		if hist == nil {
			return nil
		}
		sinceKey := timeKey(since)
		c := hist.Cursor()
		// Walk from the newest back to since, keeping the newest limit.
		for k, v := c.Last(); k != nil && bytes.Compare(k, sinceKey) > 0 && len(out) < limit; k, v = c.Prev() {
			var r sampleRecord
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("decode sample %x: %w", k, err)
			}
			if !expired(r.ExpiresAt, now) {
				out = append(out, r.sample())
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("status history of %s: %w", id, err)
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, nil
}

// PutLogChunk stores a chunk, keyed by (TerminalID, LastSeq); storing the
// same chunk again is a no-op in effect. A chunk with the same LastSeq as a
// stored one replaces it only if its FirstSeq is lower or equal; otherwise
// it is ignored (not an error). Either way it raises the terminal's LastSeq
// to the chunk's LastSeq and its Dropped to dropped, never lowering either,
// in the same transaction. ErrNotFound if the terminal is absent.
//
// The stored chunk is compared whether or not it has expired (PutLogChunk
// has no now): until Sweep deletes it, an expired chunk still blocks a
// narrower one with its LastSeq.
func (s *Store) PutLogChunk(ctx context.Context, c fleet.LogChunk, dropped uint64) error {
	if c.LastSeq < c.FirstSeq {
		return fmt.Errorf("put log chunk %s/%d..%d: LastSeq before FirstSeq: %w", c.TerminalID, c.FirstSeq, c.LastSeq, fleet.ErrInvalid)
	}
	err := s.batch(ctx, func(tx *bolt.Tx) error {
		return putLogChunkTx(tx, c, dropped)
	})
	if err != nil {
		return fmt.Errorf("put log chunk %s/%d..%d: %w", c.TerminalID, c.FirstSeq, c.LastSeq, err)
	}
	return nil
}

// putLogChunkTx is PutLogChunk within tx.
func putLogChunkTx(tx *bolt.Tx, c fleet.LogChunk, dropped uint64) error {
	err := updateTerminalTx(tx, c.TerminalID, func(r *terminalRecord) (bool, error) {
		changed := c.LastSeq > r.LastSeq || dropped > r.Dropped
		r.LastSeq = max(r.LastSeq, c.LastSeq)
		r.Dropped = max(r.Dropped, dropped)
		return changed, nil
	})
	if err != nil {
		return err
	}
	logs, err := tx.Bucket(logsBucket).CreateBucketIfNotExists([]byte(c.TerminalID))
	if err != nil {
		return err
	}
	key := seqKey(c.LastSeq)
	stored, ok, err := get[chunkBounds](logs, key)
	if err != nil {
		return err
	}
	if ok && stored.FirstSeq < c.FirstSeq {
		return nil // the stored chunk holds every line of this one
	}
	return put(logs, key, newChunkRecord(c))
}

// PutLogBatch stores a logs message's chunk and the status riding along
// in one transaction (fleet.LogBatchStore): the effect of PutLogChunk and
// then PutStatus, with one commit instead of two, and none of it when
// either fails. The record always follows the batch (writes cost nothing
// here), whatever b.Record says.
func (s *Store) PutLogBatch(ctx context.Context, b fleet.LogBatch) error {
	c := b.Chunk
	switch {
	case c.FirstSeq == 0 || c.LastSeq < c.FirstSeq:
		return fmt.Errorf("put log batch %s/%d..%d: sequence numbers start at 1, LastSeq not before FirstSeq: %w", c.TerminalID, c.FirstSeq, c.LastSeq, fleet.ErrInvalid)
	case b.Status != nil && b.Status.SyncedAt.IsZero():
		return fmt.Errorf("put log batch %s/%d..%d: status without a time: %w", c.TerminalID, c.FirstSeq, c.LastSeq, fleet.ErrInvalid)
	}
	err := s.batch(ctx, func(tx *bolt.Tx) error {
		if err := putLogChunkTx(tx, c, b.Dropped); err != nil {
			return err
		}
		if b.Status == nil {
			return nil
		}
		return putStatusTx(tx, c.TerminalID, *b.Status, b.StatusExpiresAt)
	})
	if err != nil {
		return fmt.Errorf("put log batch %s/%d..%d: %w", c.TerminalID, c.FirstSeq, c.LastSeq, err)
	}
	return nil
}

// ScanLogChunks calls fn with the terminal's unexpired chunks ordered by
// LastSeq, ascending from LastSeq >= from, or descending from
// LastSeq <= from when desc is set (from 0 with desc means from the
// newest). It stops when fn returns false or the chunks run out. fn runs
// outside any transaction, so it may call the store.
func (s *Store) ScanLogChunks(ctx context.Context, terminalID string, from uint64, desc bool, now time.Time, fn func(fleet.LogChunk) bool) error {
	var resume []byte // key to continue from (exclusive); nil on the first page
	// Pages grow from scanFirstPage to scanPage: a reader that stops after
	// a chunk or two (a fleet-wide search's first read of each terminal)
	// does not decode 64.
	size := scanFirstPage
	for {
		var page []fleet.LogChunk
		more := false
		err := s.view(ctx, func(tx *bolt.Tx) error {
			logs := tx.Bucket(logsBucket).Bucket([]byte(terminalID))
			if logs == nil {
				return nil
			}
			c := logs.Cursor()
			var k, v []byte
			switch {
			case resume != nil:
				k, v = c.Seek(resume)
				if desc {
					// Seek lands on resume (still stored) or the next key.
					if k == nil {
						k, v = c.Last()
					}
					for k != nil && bytes.Compare(k, resume) >= 0 {
						k, v = c.Prev()
					}
				} else if k != nil && bytes.Equal(k, resume) {
					k, v = c.Next()
				}
			case desc && from == 0:
				k, v = c.Last()
			case desc:
				start := seqKey(from)
				k, v = c.Seek(start)
				if k == nil {
					k, v = c.Last()
				} else if bytes.Compare(k, start) > 0 {
					k, v = c.Prev()
				}
			default:
				k, v = c.Seek(seqKey(from))
			}
			for ; k != nil; k, v = step(c, desc) {
				if len(page) == size {
					more = true
					return nil
				}
				resume = append(resume[:0], k...)
				var r chunkRecord
				if err := json.Unmarshal(v, &r); err != nil {
					return fmt.Errorf("decode chunk %x: %w", k, err)
				}
				if !expired(r.ExpiresAt, now) {
					page = append(page, r.chunk())
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("scan log chunks of %s: %w", terminalID, err)
		}
		for _, c := range page {
			if !fn(c) {
				return nil
			}
		}
		if !more {
			return nil
		}
		size = min(2*size, scanPage)
	}
}

func step(c *bolt.Cursor, desc bool) ([]byte, []byte) {
	if desc {
		return c.Prev()
	}
	return c.Next()
}

// PutCommands stores new pending commands. Idempotent per (TerminalID,
// RequestID): a command already stored, pending or completed, is kept.
func (s *Store) PutCommands(ctx context.Context, cmds ...fleet.Command) error {
	if len(cmds) == 0 {
		return nil
	}
	for _, c := range cmds {
		if c.TerminalID == "" || c.RequestID == "" {
			return fmt.Errorf("put command %s/%s: empty terminal or request id: %w", c.TerminalID, c.RequestID, fleet.ErrInvalid)
		}
	}
	err := s.batch(ctx, func(tx *bolt.Tx) error {
		for _, c := range cmds {
			b, err := tx.Bucket(commandsBucket).CreateBucketIfNotExists([]byte(c.TerminalID))
			if err != nil {
				return fmt.Errorf("command %s/%s: %w", c.TerminalID, c.RequestID, err)
			}
			if b.Get([]byte(c.RequestID)) != nil {
				continue
			}
			if err := put(b, []byte(c.RequestID), newCommandRecord(c)); err != nil {
				return fmt.Errorf("command %s/%s: %w", c.TerminalID, c.RequestID, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("put %d commands: %w", len(cmds), err)
	}
	return nil
}

// getCommandTx returns the stored command or ErrNotFound.
func getCommandTx(tx *bolt.Tx, terminalID, requestID string) (*bolt.Bucket, commandRecord, error) {
	b := tx.Bucket(commandsBucket).Bucket([]byte(terminalID))
	if b == nil {
		return nil, commandRecord{}, fleet.ErrNotFound
	}
	r, ok, err := get[commandRecord](b, []byte(requestID))
	if err == nil && !ok {
		err = fleet.ErrNotFound
	}
	return b, r, err
}

// Command returns a stored command as stored (callers apply Effective).
// ErrNotFound if absent or expired.
func (s *Store) Command(ctx context.Context, terminalID, requestID string, now time.Time) (fleet.Command, error) {
	var r commandRecord
	err := s.view(ctx, func(tx *bolt.Tx) error {
		var err error
		_, r, err = getCommandTx(tx, terminalID, requestID)
		if err == nil && expired(r.ExpiresAt, now) {
			err = fleet.ErrNotFound
		}
		return err
	})
	if err != nil {
		return fleet.Command{}, fmt.Errorf("get command %s/%s: %w", terminalID, requestID, err)
	}
	return r.command(), nil
}

// CompleteCommand records the outcome if the command is pending and its
// deadline is after c.At. ErrNotFound if absent (or expired at c.At);
// ErrConflict otherwise; ErrInvalid unless c.State is succeeded or failed.
func (s *Store) CompleteCommand(ctx context.Context, terminalID, requestID string, c fleet.Completion) error {
	if c.State != fleet.CommandSucceeded && c.State != fleet.CommandFailed {
		return fmt.Errorf("complete command %s/%s: state %q: %w", terminalID, requestID, c.State, fleet.ErrInvalid)
	}
	err := s.batch(ctx, func(tx *bolt.Tx) error {
		b, r, err := getCommandTx(tx, terminalID, requestID)
		if err != nil {
			return err
		}
		if expired(r.ExpiresAt, c.At) {
			return fleet.ErrNotFound
		}
		if r.State != fleet.CommandPending {
			return fmt.Errorf("already %s: %w", r.State, fleet.ErrConflict)
		}
		if !r.Deadline.After(c.At) {
			return fmt.Errorf("deadline %s passed: %w", r.Deadline.Format(time.RFC3339Nano), fleet.ErrConflict)
		}
		r.State, r.Result, r.Error, r.CompletedAt = c.State, clone(c.Result), c.Error, utc(c.At)
		return put(b, []byte(requestID), r)
	})
	if err != nil {
		return fmt.Errorf("complete command %s/%s: %w", terminalID, requestID, err)
	}
	return nil
}

// ClaimRefresh records that a refresh of what was pushed at, if none was
// recorded after notBefore; it reports whether the caller won the claim.
// ErrNotFound if the terminal is absent.
func (s *Store) ClaimRefresh(ctx context.Context, id, what string, at, notBefore time.Time) (bool, error) {
	won := false
	err := s.updateTerminal(ctx, id, func(r *terminalRecord) (bool, error) {
		won = false // batch may run this again
		if last, ok := r.Refresh[what]; ok && last.After(notBefore) {
			return false, nil
		}
		if r.Refresh == nil {
			r.Refresh = map[string]time.Time{}
		}
		r.Refresh[what] = utc(at)
		won = true
		return true, nil
	})
	if err != nil {
		return false, fmt.Errorf("claim %s refresh of %s: %w", what, id, err)
	}
	return won, nil
}
