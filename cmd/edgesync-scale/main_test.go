package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReportFromTheEmbeddedInputs(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	if err := run([]string{"-skip", "storm", "-template", "../../template.yaml"}, &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"### Capacity at the reference workload, profile default", "100,000 terminals", "profile economy", "### Settings within fixed quotas", "### One open fleet page"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q", want)
		}
	}
}

func TestRewriteKeepsTheRestOfTheFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "SCALE.md")
	doc := "# Scale\n\nmethod\n\n" + beginMarker + "\nold results\n" + endMarker + "\n\nafter\n"
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := rewrite(path, []byte("new results\n")); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	want := "# Scale\n\nmethod\n\n" + beginMarker + "\nnew results\n" + endMarker + "\n\nafter\n"
	if string(got) != want {
		t.Errorf("rewritten file:\n%s\nwant:\n%s", got, want)
	}
	if err := os.WriteFile(path, []byte("no markers"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := rewrite(path, []byte("x")); err == nil {
		t.Error("rewrite of a file without markers succeeded")
	}
}

func TestFlagsRefuse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
	}{
		{"sizes not numbers", []string{"-sizes", "1k"}},
		{"no terminals", []string{"-terminals", "0"}},
		{"quotas file missing", []string{"-quotas", "/nonexistent/quotas.json"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if err := run(tt.args, &bytes.Buffer{}); err == nil {
				t.Errorf("run(%q) succeeded", tt.args)
			}
		})
	}
}
