package spool

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// migrate reads the spool of earlier versions (a bbolt database, spool.db,
// and the sequence high-water mark seq.hwm) into the state, returning its
// lines for the first segment. Nothing is removed until that segment is
// written (removeLegacy).
func (s *Spool) migrate() ([]memLine, error) {
	if data, err := os.ReadFile(s.path(legacyHWM)); err == nil {
		if v, err := strconv.ParseUint(strings.TrimSpace(string(data)), 10, 64); err == nil {
			s.next = max(s.next, v)
		}
	}
	name := s.path(legacyDB)
	if _, err := os.Stat(name); errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	db, err := bolt.Open(name, 0o600, &bolt.Options{Timeout: time.Second, ReadOnly: true})
	if err != nil {
		// Unreadable: set it aside and number above anything it may
		// have handed out.
		aside := fmt.Sprintf("%s.unreadable-%d", name, time.Now().Unix())
		os.Rename(name, aside)
		s.next += corruptSkip
		s.recovered = append(s.recovered, fmt.Sprintf("spool %s of an earlier version is unreadable (%v); moved it to %s and continued numbering above it", name, err, aside))
		return nil, nil
	}
	defer db.Close()
	var lines []memLine
	err = db.View(func(tx *bolt.Tx) error {
		get := func(b *bolt.Bucket, k string) uint64 {
			if b == nil {
				return 0
			}
			if v := b.Get([]byte(k)); len(v) == 8 {
				return binary.BigEndian.Uint64(v)
			}
			return 0
		}
		meta := tx.Bucket([]byte("meta"))
		s.next = max(s.next, get(meta, "next_seq"))
		s.dropped, s.droppedInvalid, s.lastAck = get(meta, "dropped"), get(meta, "dropped_invalid"), get(meta, "last_ack")
		if b := tx.Bucket([]byte("marks")); b != nil {
			b.ForEach(func(k, v []byte) error {
				s.marks[string(k)] = append([]byte(nil), v...)
				return nil
			})
		}
		if b := tx.Bucket([]byte("lines")); b != nil {
			b.ForEach(func(k, v []byte) error {
				if len(k) == 8 {
					seq := binary.BigEndian.Uint64(k)
					lines = append(lines, memLine{seq: seq, raw: append([]byte(nil), v...)})
					s.next = max(s.next, seq+1)
				}
				return nil
			})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("migrate spool %s: %w", name, err)
	}
	return lines, nil
}

// removeLegacy deletes the files migrate read once their content is in a
// segment.
func (s *Spool) removeLegacy() {
	os.Remove(s.path(legacyDB))
	os.Remove(s.path(legacyHWM))
}
