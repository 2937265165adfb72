package embedded_test

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/edgesync/edgesync/fleet"
	"github.com/edgesync/edgesync/infra/embedded"
)

// TestOpenIndexesGroupsOfAnOlderFile: a file written before the group
// index existed gets it when opened, from the terminals it holds.
func TestOpenIndexesGroupsOfAnOlderFile(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "fleet.db")
	st, err := embedded.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, term := range []fleet.Terminal{{ID: "a", Groups: []string{"x", "y"}}, {ID: "b", Groups: []string{"y"}}, {ID: "c"}} {
		if err := st.CreateTerminal(ctx, term); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	// Make it an older file: no index bucket.
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error { return tx.DeleteBucket([]byte("terminalsByGroup")) }); err != nil {
		t.Fatalf("delete the index: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	st = open(t, path)
	for group, want := range map[string][]string{"x": {"a"}, "y": {"a", "b"}, "z": nil} {
		ts, err := st.GroupTerminals(ctx, group, "", 10)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, term := range ts {
			got = append(got, term.ID)
		}
		if !slices.Equal(got, want) {
			t.Errorf("group %s after reopening: %v, want %v", group, got, want)
		}
	}
}
