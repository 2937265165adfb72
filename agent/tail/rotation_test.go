package tail_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/edgesync/edgesync/agent/tail"
)

const poll = 250 * time.Millisecond

// bubbleFollower runs a Follower inside a synctest bubble, where poll()
// lets exactly one poll interval pass.
type bubbleFollower struct {
	mu     sync.Mutex
	lines  []string
	pos    tail.Position
	cancel context.CancelFunc
	done   chan error
}

func startBubble(t *testing.T, path string, start *tail.Position) *bubbleFollower {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	b := &bubbleFollower{cancel: cancel, done: make(chan error, 1)}
	f := &tail.Follower{Path: path, Start: start, Poll: poll, PartialFlush: time.Hour,
		Emit: func(_ context.Context, lines []tail.Line, pos tail.Position) error {
			b.mu.Lock()
			defer b.mu.Unlock()
			for _, l := range lines {
				b.lines = append(b.lines, l.Text)
			}
			b.pos = pos
			return nil
		}}
	go func() { b.done <- f.Run(ctx) }()
	synctest.Wait()
	return b
}

// poll lets one poll interval pass and waits until the follower sleeps.
func (b *bubbleFollower) poll() {
	time.Sleep(poll)
	synctest.Wait()
}

func (b *bubbleFollower) stop(t *testing.T) tail.Position {
	t.Helper()
	b.cancel()
	if err := <-b.done; err != nil {
		t.Errorf("Run: %v", err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.pos
}

func (b *bubbleFollower) got() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.lines)
}

func numbered(from, to int) []string {
	var out []string
	for i := from; i <= to; i++ {
		out = append(out, fmt.Sprintf("line %d", i))
	}
	return out
}

func appendNumbered(t *testing.T, path string, from, to int) {
	t.Helper()
	write(t, path, strings.Join(numbered(from, to), "\n")+"\n")
}

// copyTruncate does what logrotate's copytruncate does: copy, then
// truncate in place (older copies shifted first).
func copyTruncate(t *testing.T, path string) {
	t.Helper()
	shift(t, path)
	src, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.Create(path + ".1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	dst.Close()
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
}

// renameRotate does what logrotate's create does: rename, and the writer
// creates a new file.
func renameRotate(t *testing.T, path string) {
	t.Helper()
	shift(t, path)
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
}

// shift renames path.N to path.N+1, newest last.
func shift(t *testing.T, path string) {
	t.Helper()
	for n := 8; n >= 1; n-- {
		old := fmt.Sprintf("%s.%d", path, n)
		if _, err := os.Stat(old); err == nil {
			if err := os.Rename(old, fmt.Sprintf("%s.%d", path, n+1)); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestRotationLosesNoLine(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// rotate writes from line 11 on and rotates, with no poll in
		// between; it returns the last line written.
		rotate func(t *testing.T, path string) int
	}{
		{"copytruncate, fewer bytes after", func(t *testing.T, path string) int {
			appendNumbered(t, path, 11, 20)
			copyTruncate(t, path)
			appendNumbered(t, path, 21, 22)
			return 22
		}},
		{"copytruncate, more bytes after than before", func(t *testing.T, path string) int {
			appendNumbered(t, path, 11, 12)
			copyTruncate(t, path)
			appendNumbered(t, path, 13, 400)
			return 400
		}},
		{"copytruncate twice within one poll", func(t *testing.T, path string) int {
			appendNumbered(t, path, 11, 15)
			copyTruncate(t, path)
			appendNumbered(t, path, 16, 20)
			copyTruncate(t, path)
			appendNumbered(t, path, 21, 25)
			return 25
		}},
		{"rename", func(t *testing.T, path string) int {
			appendNumbered(t, path, 11, 15)
			renameRotate(t, path)
			appendNumbered(t, path+".1", 16, 17) // the writer still has it open
			appendNumbered(t, path, 18, 20)
			return 20
		}},
		{"rename twice within one poll", func(t *testing.T, path string) int {
			appendNumbered(t, path, 11, 15)
			renameRotate(t, path)
			appendNumbered(t, path, 16, 20)
			renameRotate(t, path)
			appendNumbered(t, path, 21, 25)
			return 25
		}},
		{"rename three times within one poll", func(t *testing.T, path string) int {
			appendNumbered(t, path, 11, 15)
			for i := 0; i < 3; i++ {
				renameRotate(t, path)
				appendNumbered(t, path, 16+5*i, 20+5*i)
			}
			return 30
		}},
		{"rename three times within one clock tick", func(t *testing.T, path string) int {
			// File times come from a coarse clock: rotations close together
			// leave files with equal times, and the names must order them.
			appendNumbered(t, path, 11, 15)
			for i := 0; i < 3; i++ {
				renameRotate(t, path)
				appendNumbered(t, path, 16+5*i, 20+5*i)
			}
			fi, err := os.Stat(path + ".3") // the first rotated
			if err != nil {
				t.Fatal(err)
			}
			tick := fi.ModTime()
			for _, p := range []string{path + ".1", path + ".2"} {
				if err := os.Chtimes(p, tick, tick); err != nil {
					t.Fatal(err)
				}
			}
			return 30
		}},
		{"rename then copytruncate within one poll", func(t *testing.T, path string) int {
			appendNumbered(t, path, 11, 15)
			renameRotate(t, path)
			appendNumbered(t, path, 16, 20)
			copyTruncate(t, path)
			appendNumbered(t, path, 21, 25)
			return 25
		}},
	}
	for _, tt := range tests {
		t.Run("while following/"+tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				path := t.TempDir() + "/app.log"
				// History of earlier rotations, present before the start,
				// is not shipped.
				write(t, path+".3", "history\n")
				write(t, path+".2.gz", "compressed\n")
				write(t, path, "before the start\n")
				f := startBubble(t, path, nil)
				appendNumbered(t, path, 1, 10)
				f.poll()
				last := tt.rotate(t, path)
				f.poll()
				f.poll()
				if got, want := f.got(), numbered(1, last); !slices.Equal(got, want) {
					t.Errorf("lines =\n%q\nwant\n%q", got, want)
				}
				f.stop(t)
			})
		})
		t.Run("while stopped/"+tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				path := t.TempDir() + "/app.log"
				write(t, path+".3", "history\n")
				write(t, path, "")
				f := startBubble(t, path, nil)
				appendNumbered(t, path, 1, 10)
				f.poll()
				pos := f.stop(t)
				if got := f.got(); !slices.Equal(got, numbered(1, 10)) {
					t.Fatalf("first follower read %q", got)
				}
				last := tt.rotate(t, path)
				g := startBubble(t, path, &pos)
				g.poll()
				if got, want := g.got(), numbered(11, last); !slices.Equal(got, want) {
					t.Errorf("after the restart lines =\n%q\nwant\n%q", got, want)
				}
				g.stop(t)
			})
		})
	}
}
