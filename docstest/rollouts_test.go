//go:build unix

package docstest

import (
	"strings"
	"testing"
)

// TestREADMERolloutCommands runs the README's group config rollout
// example, with the operator token the stack printed: the rollout starts,
// reads back, shows its first wave and rolls back, each answer a success.
func TestREADMERolloutCommands(t *testing.T) {
	s := startStack(t)
	var block string
	for _, b := range shBlocks(t, "README.md") {
		if strings.Contains(b, "/groups/demo/config") {
			block = b
		}
	}
	if block == "" {
		t.Fatal("README.md has no sh block starting a rollout (PUT /groups/demo/config)")
	}
	script := strings.ReplaceAll(block, "<the operator token it printed>", s.token(t, "operator")) + "\necho\necho \"{\\\"id\\\":\\\"$ID\\\"}\"\n"
	docs := jsonDocs(t, bash(t, script))
	if len(docs) != 4 {
		t.Fatalf("the rollout example printed %d answers, want the rollout, its wave, the rollback and the id: %v", len(docs), docs)
	}
	for i, d := range docs {
		if _, isErr := d["code"]; isErr {
			t.Errorf("answer %d is an error: %v", i+1, d)
		}
	}
	id, _ := docs[3]["id"].(string)
	if docs[0]["id"] != id || docs[0]["group"] != "demo" || docs[0]["waves"] != float64(2) {
		t.Errorf("the rollout read back: %v; want rollout %q of demo in 2 waves", docs[0], id)
	}
	if docs[1]["index"] != float64(0) {
		t.Errorf("the wave read: %v, want wave 0", docs[1])
	}
	if st := docs[2]["state"]; st != "rolling_back" && st != "rolled_back" {
		t.Errorf("after the rollback: state %v, want rolling_back or rolled_back", st)
	}
}
