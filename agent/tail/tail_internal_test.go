package tail

import (
	"testing"
	"time"
)

// TestOlderByNameWhenTimesTie: rotated files with equal times (the file
// clock's tick) are ordered as logrotate names them.
func TestOlderByNameWhenTimesTie(t *testing.T) {
	t.Parallel()
	f := &Follower{Path: "/var/log/app.log"}
	tick := time.Date(2026, 11, 30, 7, 0, 0, 0, time.UTC)
	tests := []struct {
		older, newer string
	}{
		{"app.log.2", "app.log.1"},
		{"app.log.10", "app.log.9"},
		{"app.log-20261129", "app.log-20261130"},
		{"app.log.20261129", "app.log.20261130"},
		{"app.log-2026-11-29", "app.log-2026-11-30"},
	}
	for _, tt := range tests {
		a := candidate{path: "/var/log/" + tt.older, mtime: tick}
		b := candidate{path: "/var/log/" + tt.newer, mtime: tick}
		if !f.older(a, b) || f.older(b, a) {
			t.Errorf("older(%s, %s) = %v, older(%s, %s) = %v; want %s first", tt.older, tt.newer, f.older(a, b), tt.newer, tt.older, f.older(b, a), tt.older)
		}
	}
	// Times decide when they differ.
	a := candidate{path: "/var/log/app.log.1", mtime: tick}
	b := candidate{path: "/var/log/app.log.2", mtime: tick.Add(time.Millisecond)}
	if !f.older(a, b) {
		t.Error("a file with an earlier time is not older")
	}
}
