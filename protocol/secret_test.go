package protocol

import (
	"encoding/json"
	"os"
	"testing"
)

// TestIsSecretKey runs the shared table (testdata/secret-keys.json), which
// the TypeScript client's tests run too: one rule on both sides.
func TestIsSecretKey(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("testdata/secret-keys.json")
	if err != nil {
		t.Fatal(err)
	}
	var table struct {
		Cases map[string]bool `json:"cases"`
	}
	if err := json.Unmarshal(raw, &table); err != nil {
		t.Fatal(err)
	}
	if len(table.Cases) < 20 {
		t.Fatalf("table has %d cases; it is meant to be thorough", len(table.Cases))
	}
	for key, want := range table.Cases {
		if got := IsSecretKey(key); got != want {
			t.Errorf("IsSecretKey(%q) = %v, want %v (words %q)", key, got, want, keyWords(key))
		}
	}
}
