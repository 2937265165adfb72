package embedded

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// expiring is the part of every expiring record that Sweep reads.
type expiring struct {
	ExpiresAt time.Time `json:"expiresAt"`
}

// sweepBatch bounds the records one of Sweep's write transactions
// deletes.
const sweepBatch = 1000

// errBudgetSpent ends a walk of a bucket whose expired records fill the
// write transaction's budget.
var errBudgetSpent = errors.New("sweep budget spent")

// Sweep deletes every connection, status sample, log chunk and command
// whose ExpiresAt is at or before now, the equivalent of DynamoDB's TTL
// deletion, and reports how many it deleted. Reads never need it (they
// filter on expiry themselves); it only reclaims space. Terminal records
// and audit records never expire.
//
// The bindings, their index and the alerts are swept in one write
// transaction. The per-terminal buckets (status samples, log chunks,
// commands), which hold nearly everything, are read in read transactions,
// which bbolt's one writer never waits for, and what expired is deleted
// in write transactions of at most sweepBatch records, each checked again
// there: a sweep of a large store then holds up the stack's writes for
// moments, not for the whole walk (at 14,000 terminals a single
// transaction held them for seconds every minute).
func (s *Store) Sweep(now time.Time) (int, error) {
	deleted := 0
	err := s.db.Update(func(tx *bolt.Tx) error {
		n, err := sweepBucket(tx.Bucket(connectionsBucket), now)
		deleted += n
		if err != nil {
			return fmt.Errorf("connections: %w", err)
		}
		if err := sweepConnectionIndex(tx); err != nil {
			return fmt.Errorf("connection index: %w", err)
		}
		n, err = sweepAlerts(tx.Bucket(alertsBucket), now)
		deleted += n
		if err != nil {
			return fmt.Errorf("alerts: %w", err)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("sweep expired items at %s: %w", now.Format(time.RFC3339), err)
	}
	for _, name := range [][]byte{statusBucket, logsBucket, commandsBucket} {
		n, err := s.sweepNested(name, now)
		deleted += n
		if err != nil {
			return deleted, fmt.Errorf("sweep expired items at %s: %s: %w", now.Format(time.RFC3339), name, err)
		}
	}
	return deleted, nil
}

// sweepNested sweeps the nested buckets of the bucket parent: it finds
// their expired records, and the buckets that are empty, in read
// transactions, and deletes them in write transactions of at most about
// sweepBatch records, checking each again (a record rewritten since with
// a later expiry stays, a bucket written to since stays).
func (s *Store) sweepNested(parent []byte, now time.Time) (int, error) {
	type found struct {
		bucket []byte
		keys   [][]byte
	}
	deleted := 0
	var after []byte // the last bucket read; the next read starts after it
	for {
		var batch []found
		done := false
		err := s.db.View(func(tx *bolt.Tx) error {
			p := tx.Bucket(parent)
			c := p.Cursor()
			k, v := c.First()
			if after != nil {
				if k, v = c.Seek(after); k != nil && bytes.Equal(k, after) {
					k, v = c.Next()
				}
			}
			count := 0
			for ; k != nil; k, v = c.Next() {
				if v != nil {
					continue // not a bucket
				}
				prev := after
				after = append([]byte(nil), k...)
				b := p.Bucket(k)
				f := found{bucket: after}
				budget := sweepBatch - count
				err := b.ForEach(func(key, val []byte) error {
					if val == nil {
						return nil // a nested bucket; none are expected here
					}
					if gone, err := expiredRecord(val, now); err != nil {
						return fmt.Errorf("decode %x of %s: %w", key, k, err)
					} else if gone {
						f.keys = append(f.keys, append([]byte(nil), key...))
						if len(f.keys) >= budget {
							return errBudgetSpent
						}
					}
					return nil
				})
				if errors.Is(err, errBudgetSpent) {
					// A bucket with more expired records than the
					// transaction may delete: this many now, and the next
					// read starts at this bucket again for the rest.
					batch = append(batch, f)
					after = prev
					if after == nil {
						after = []byte{} // before every key: the first bucket again
					}
					return nil
				}
				if err != nil {
					return err
				}
				if first, _ := b.Cursor().First(); len(f.keys) > 0 || first == nil {
					batch = append(batch, f)
					count += len(f.keys) + 1
				}
				if count >= sweepBatch {
					return nil
				}
			}
			done = true
			return nil
		})
		if err != nil {
			return deleted, err
		}
		if len(batch) > 0 {
			n := 0
			err := s.db.Update(func(tx *bolt.Tx) error {
				p := tx.Bucket(parent)
				for _, f := range batch {
					b := p.Bucket(f.bucket)
					if b == nil {
						continue
					}
					for _, key := range f.keys {
						v := b.Get(key)
						if v == nil {
							continue
						}
						if gone, err := expiredRecord(v, now); err != nil || !gone {
							continue // rewritten since, or unreadable (left as it is)
						}
						if err := b.Delete(key); err != nil {
							return err
						}
						n++
					}
					if first, _ := b.Cursor().First(); first == nil {
						if err := p.DeleteBucket(f.bucket); err != nil {
							return fmt.Errorf("delete empty bucket %s: %w", f.bucket, err)
						}
					}
				}
				return nil
			})
			if err != nil {
				return deleted, err
			}
			deleted += n
			if s.sweepWrote != nil {
				s.sweepWrote(n)
			}
		}
		if done {
			return deleted, nil
		}
	}
}

// expiredRecord reports whether the JSON record v expired at now.
func expiredRecord(v []byte, now time.Time) (bool, error) {
	var r expiring
	if err := json.Unmarshal(v, &r); err != nil {
		return false, err
	}
	return expired(r.ExpiresAt, now), nil
}

// sweepBucket deletes the records of b that expired at now.
func sweepBucket(b *bolt.Bucket, now time.Time) (int, error) {
	var doomed [][]byte
	err := b.ForEach(func(k, v []byte) error {
		if v == nil {
			return nil // a nested bucket; none are expected here
		}
		var r expiring
		if err := json.Unmarshal(v, &r); err != nil {
			return fmt.Errorf("decode %x: %w", k, err)
		}
		if expired(r.ExpiresAt, now) {
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

// sweepConnectionIndex drops the entries of connIndexBucket whose binding
// is gone, and the buckets it leaves empty.
func sweepConnectionIndex(tx *bolt.Tx) error {
	parent, conns := tx.Bucket(connIndexBucket), tx.Bucket(connectionsBucket)
	var empty [][]byte
	err := parent.ForEachBucket(func(k []byte) error {
		b := parent.Bucket(k)
		var gone [][]byte
		if err := b.ForEach(func(id, _ []byte) error {
			if conns.Get(id) == nil {
				gone = append(gone, append([]byte(nil), id...))
			}
			return nil
		}); err != nil {
			return err
		}
		for _, id := range gone {
			if err := b.Delete(id); err != nil {
				return err
			}
		}
		if first, _ := b.Cursor().First(); first == nil {
			empty = append(empty, append([]byte(nil), k...))
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range empty {
		if err := parent.DeleteBucket(k); err != nil {
			return err
		}
	}
	return nil
}
