package embedded

import (
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// expiring is the part of every expiring record that Sweep reads.
type expiring struct {
	ExpiresAt time.Time `json:"expiresAt"`
}

// Sweep deletes every connection, status sample, log chunk and command
// whose ExpiresAt is at or before now, the equivalent of DynamoDB's TTL
// deletion, and reports how many it deleted. Reads never need it (they
// filter on expiry themselves); it only reclaims space. Terminal records
// and audit records never expire. Sweep runs in one write transaction.
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
		for _, name := range [][]byte{statusBucket, logsBucket, commandsBucket} {
			parent := tx.Bucket(name)
			var empty [][]byte
			err := parent.ForEachBucket(func(k []byte) error {
				b := parent.Bucket(k)
				n, err := sweepBucket(b, now)
				deleted += n
				if err != nil {
					return fmt.Errorf("%s of %s: %w", name, k, err)
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
					return fmt.Errorf("%s of %s: %w", name, k, err)
				}
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("sweep expired items at %s: %w", now.Format(time.RFC3339), err)
	}
	return deleted, nil
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
