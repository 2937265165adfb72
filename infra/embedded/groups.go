package embedded

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"

	"github.com/edgesync/edgesync/fleet"
)

// groupsBucket holds one nested bucket per group, keyed by the ids of the
// group's terminals (empty values): the index GroupTerminals walks.
var groupsBucket = []byte("terminalsByGroup")

// indexGroups adds terminal id to the index of each of its groups.
func indexGroups(tx *bolt.Tx, id string, groups []string) error {
	idx := tx.Bucket(groupsBucket)
	for _, g := range groups {
		if g == "" {
			continue // bbolt has no empty bucket names; no one can be in group ""
		}
		b, err := idx.CreateBucketIfNotExists([]byte(g))
		if err != nil {
			return fmt.Errorf("index group %q: %w", g, err)
		}
		if err := b.Put([]byte(id), nil); err != nil {
			return fmt.Errorf("index group %q: %w", g, err)
		}
	}
	return nil
}

// unindexGroups removes terminal id from the index of each of its groups
// (and a group's bucket when it empties).
func unindexGroups(tx *bolt.Tx, id string, groups []string) error {
	idx := tx.Bucket(groupsBucket)
	for _, g := range groups {
		b := idx.Bucket([]byte(g))
		if g == "" || b == nil {
			continue
		}
		if err := b.Delete([]byte(id)); err != nil {
			return fmt.Errorf("unindex group %q: %w", g, err)
		}
		if first, _ := b.Cursor().First(); first == nil {
			if err := idx.DeleteBucket([]byte(g)); err != nil {
				return fmt.Errorf("unindex group %q: %w", g, err)
			}
		}
	}
	return nil
}

// buildGroupIndex indexes every stored terminal: Open runs it once when it
// creates the index bucket in a file written before it existed.
func buildGroupIndex(tx *bolt.Tx) error {
	return tx.Bucket(terminalsBucket).ForEach(func(k, v []byte) error {
		var r terminalRecord
		if err := json.Unmarshal(v, &r); err != nil {
			return fmt.Errorf("decode %q: %w", k, err)
		}
		return indexGroups(tx, string(k), r.Groups)
	})
}

// GroupTerminals lists the terminals of group in id order after the id
// after, at most limit: a walk of the group's index bucket, reading the
// records it names and nothing else.
func (s *Store) GroupTerminals(ctx context.Context, group, after string, limit int) ([]fleet.Terminal, error) {
	if limit < 1 {
		return nil, fmt.Errorf("list terminals of group %q: limit %d: must be at least 1: %w", group, limit, fleet.ErrInvalid)
	}
	var out []fleet.Terminal
	err := s.view(ctx, func(tx *bolt.Tx) error {
		if group == "" {
			return nil
		}
		idx := tx.Bucket(groupsBucket).Bucket([]byte(group))
		if idx == nil {
			return nil
		}
		terminals := tx.Bucket(terminalsBucket)
		c := idx.Cursor()
		k, _ := c.First()
		if after != "" {
			k, _ = c.Seek([]byte(after))
			if k != nil && bytes.Equal(k, []byte(after)) {
				k, _ = c.Next()
			}
		}
		for ; k != nil && len(out) < limit; k, _ = c.Next() {
			r, ok, err := get[terminalRecord](terminals, k)
			if err != nil {
				return err
			}
			if ok && slices.Contains(r.Groups, group) {
				out = append(out, r.terminal())
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list terminals of group %q: %w", group, err)
	}
	return out, nil
}
