//go:build unix

package tail_test

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/edgesync/edgesync/agent/tail"
)

// TestAFIFOAtThePathNeverHangs: a FIFO where the followed file should be
// (no writer ever opens it) does not block the follower: it is refused as
// not a regular file, and Run ends when asked.
func TestAFIFOAtThePathNeverHangs(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "app.log")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	f := &tail.Follower{Path: path, Poll: 10 * time.Millisecond, PartialFlush: time.Hour,
		Emit: func(context.Context, []tail.Line, tail.Position) error { return nil }}
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	time.Sleep(100 * time.Millisecond)
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return 5 s after cancel: the open of the FIFO blocks")
	}
}

// TestResumeNeverFollowsAReusedInode: a saved position whose inode now
// belongs to another file (the rotated file was deleted, the inode number
// reused) is not followed there: that file may be another service's log.
func TestResumeNeverFollowsAReusedInode(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		other := filepath.Join(dir, "auth.log")
		write(t, other, "sshd line 1\nSECRET sshd line 2\n")
		fi, err := os.Stat(other)
		if err != nil {
			t.Fatal(err)
		}
		ino := fi.Sys().(*syscall.Stat_t).Ino
		path := filepath.Join(dir, "app.log")
		write(t, path, "a fresh app.log\n")
		pos := tail.Position{Inode: uint64(ino), Offset: 5, Check: 12345}
		f := startBubble(t, path, &pos)
		f.poll()
		for _, l := range f.got() {
			if l == "SECRET sshd line 2" || l == "sshd line 1" {
				t.Errorf("shipped %q from auth.log as app.log's", l)
			}
		}
		f.stop(t)
	})
}
