//go:build linux

package tail_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgesync/edgesync/agent/tail"
	ipoll "github.com/edgesync/edgesync/internal/poll"
)

// TestADeletedFileIsLetGo: a followed file deleted (not renamed) is read
// to its end and closed, so that its space is freed, and the path is
// followed again once it comes back.
func TestADeletedFileIsLetGo(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "app.log")
	write(t, path, "")
	var mu sync.Mutex
	var got []string
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	opened := make(chan struct{}, 4)
	f := &tail.Follower{Path: path, Poll: 10 * time.Millisecond, PartialFlush: time.Hour,
		Opened: func(string, tail.Position) {
			select {
			case opened <- struct{}{}:
			default:
			}
		},
		Emit: func(_ context.Context, lines []tail.Line, _ tail.Position) error {
			mu.Lock()
			defer mu.Unlock()
			for _, l := range lines {
				got = append(got, l.Text)
			}
			return nil
		}}
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	lines := func() []string { mu.Lock(); defer mu.Unlock(); return slices.Clone(got) }
	<-opened // from its end: what comes next
	appendTo(t, path, "one\n")
	ipoll.Until(t, "the first line", func() bool { return slices.Contains(lines(), "one") })
	appendTo(t, path, "two\n")
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	ipoll.Until(t, "the deleted file read to its end and closed", func() bool {
		return slices.Contains(lines(), "two") && !holdsDeleted(t, path)
	})
	write(t, path, "three\n")
	ipoll.Until(t, "the new file's line", func() bool { return slices.Contains(lines(), "three") })
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
}

func appendTo(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}

// holdsDeleted reports whether this process holds path open though it
// was deleted.
func holdsDeleted(t *testing.T, path string) bool {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	for _, fd := range fds {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name()))
		if err == nil && strings.HasPrefix(target, path) && strings.HasSuffix(target, "(deleted)") {
			return true
		}
	}
	return false
}
