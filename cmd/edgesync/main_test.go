package main

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestTerminalsCLI(t *testing.T) {
	store := filepath.Join(t.TempDir(), "db", "edgesync.db")
	cli := func(args ...string) (string, error) {
		var out, errOut bytes.Buffer
		err := run(context.Background(), append([]string{"-store", store}, args...), &out, &errOut)
		return out.String() + errOut.String(), err
	}
	out, err := cli("terminals", "create", "press-07", "-name", "Press 7", "-group", "hall-a")
	if err != nil {
		t.Fatalf("create: %v\n%s", err, out)
	}
	if !regexp.MustCompile(`token .*: est_[A-Za-z0-9_-]{43}\n`).MatchString(out) {
		t.Errorf("create output: got %q, want the token", out)
	}
	if _, err := cli("terminals", "create", "press-07"); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("create twice: got %v, want already exists", err)
	}
	if out, err := cli("terminals", "rotate", "press-07", "-overlap", "1h"); err != nil || !strings.Contains(out, "new token") {
		t.Errorf("rotate: %v %q", err, out)
	}
	out, err = cli("terminals", "list")
	if err != nil || !strings.Contains(out, "press-07") || !strings.Contains(out, "Press 7") || strings.Count(out, "until") != 1 {
		t.Errorf("list after rotate: %v\n%s\nwant one credential ending, one active", err, out)
	}
	if _, err := cli("terminals", "revoke", "press-07"); err != nil {
		t.Errorf("revoke: %v", err)
	}
	if out, _ := cli("terminals", "list"); strings.Contains(out, "active") {
		t.Errorf("list after revoke: %s\nwant no active credential", out)
	}
	if out, err := cli("terminals", "index-groups"); err != nil || !strings.Contains(out, "nothing to do") {
		t.Errorf("index-groups on the embedded store: %v %q, want nothing to do", err, out)
	}
	for _, args := range [][]string{{}, {"terminals"}, {"terminals", "create"}, {"terminals", "explode", "x"}, {"terminals", "index-groups", "x"}} {
		if _, err := cli(args...); !errors.Is(err, errUsage) {
			t.Errorf("%v: got %v, want a usage error", args, err)
		}
	}
	if _, err := cli("terminals", "create", "../etc"); err == nil || !strings.Contains(err.Error(), "invalid") {
		t.Errorf("bad id: got %v, want invalid", err)
	}
}
