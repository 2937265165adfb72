package tail_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/edgesync/edgesync/agent/tail"
)

// waitLimit bounds waits in the tests' synctest bubbles (fake time).
const waitLimit = 20 * time.Second

// follower runs a Follower and collects what it emits.
type follower struct {
	mu     sync.Mutex
	lines  []string
	cuts   []int
	pos    tail.Position
	opened chan tail.Position
	cancel context.CancelFunc
	done   chan error
}

func follow(t *testing.T, path string, start *tail.Position) *follower {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	f := &follower{opened: make(chan tail.Position, 16), cancel: cancel, done: make(chan error, 1)}
	tf := &tail.Follower{
		Path: path, Start: start, Poll: 5 * time.Millisecond, MaxLine: 100, PartialFlush: 50 * time.Millisecond,
		Emit: func(_ context.Context, lines []tail.Line, pos tail.Position) error {
			f.mu.Lock()
			defer f.mu.Unlock()
			for _, l := range lines {
				f.lines = append(f.lines, l.Text)
				f.cuts = append(f.cuts, l.Cut)
			}
			f.pos = pos
			return nil
		},
		Opened: func(_ string, pos tail.Position) { f.opened <- pos },
	}
	go func() { f.done <- tf.Run(ctx) }()
	t.Cleanup(func() { f.stop(t) })
	return f
}

func (f *follower) stop(t *testing.T) tail.Position {
	t.Helper()
	f.cancel()
	select {
	case err := <-f.done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
		f.done <- nil
	case <-time.After(waitLimit):
		t.Errorf("Run did not stop")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.pos
}

func (f *follower) waitOpened(t *testing.T) tail.Position {
	t.Helper()
	select {
	case p := <-f.opened:
		return p
	case <-time.After(waitLimit):
		t.Fatal("file never opened")
	}
	return tail.Position{}
}

func (f *follower) waitLines(t *testing.T, want ...string) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for {
		f.mu.Lock()
		got := strings.Join(f.lines, "|")
		f.mu.Unlock()
		if got == strings.Join(want, "|") {
			return
		}
		if time.Now().After(deadline) || len(got) > len(strings.Join(want, "|")) {
			t.Fatalf("lines = %q, want %q", got, strings.Join(want, "|"))
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func write(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}

func TestFollowAppendsRotationAndTruncation(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "app.log")
		write(t, path, "old 1\nold 2\n")
		f := follow(t, path, nil)
		if p := f.waitOpened(t); p.Offset != 12 {
			t.Errorf("first start opened at %d, want the end (12)", p.Offset)
		}
		write(t, path, "a\r\nb\n")
		f.waitLines(t, "a", "b")
		// Rotation: renamed away, then recreated.
		write(t, path, "c\n")
		os.Rename(path, path+".1")
		write(t, path+".1", "d\n") // the writer had the old file open
		f.waitLines(t, "a", "b", "c", "d")
		write(t, path, "eeeeeeeeee\n")
		f.waitOpened(t)
		f.waitLines(t, "a", "b", "c", "d", "eeeeeeeeee")
		// Truncation in place (copytruncate), then less than before is written:
		// the follower sees a file shorter than its offset and starts over.
		if err := os.Truncate(path, 0); err != nil {
			t.Fatal(err)
		}
		write(t, path, "f\n")
		f.waitLines(t, "a", "b", "c", "d", "eeeeeeeeee", "f")
	})
}

func TestFollowPartialAndLongLines(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "app.log")
		write(t, path, "")
		f := follow(t, path, nil)
		f.waitOpened(t)
		write(t, path, strings.Repeat("x", 250)+"\nprompt> ")
		f.waitLines(t, strings.Repeat("x", 100), "prompt> ")
		f.mu.Lock()
		if f.cuts[0] != 150 {
			t.Errorf("cut = %d, want 150", f.cuts[0])
		}
		f.mu.Unlock()
	})
}

func TestFollowResumesFromPosition(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		before func(t *testing.T, path string) // after the first follower stopped
		want   []string
	}{
		{"appended while away", func(t *testing.T, path string) { write(t, path, "3\n4\n") }, []string{"3", "4"}},
		{"rotated while away", func(t *testing.T, path string) {
			write(t, path, "3\n")
			os.Rename(path, path+".1")
			write(t, path, "4\n")
		}, []string{"3", "4"}},
		{"truncated while away", func(t *testing.T, path string) {
			os.Truncate(path, 0)
			write(t, path, "x\n")
		}, []string{"x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				path := filepath.Join(t.TempDir(), "app.log")
				write(t, path, "")
				f := follow(t, path, nil)
				f.waitOpened(t)
				write(t, path, "1\n2\n")
				f.waitLines(t, "1", "2")
				pos := f.stop(t)
				tt.before(t, path)
				g := follow(t, path, &pos)
				g.waitLines(t, tt.want...)
			})
		})
	}
}

func TestStream(t *testing.T) {
	t.Parallel()
	var got []string
	err := tail.Stream(context.Background(), strings.NewReader("one\ntwo\r\n\nlast"), 0, func(_ context.Context, lines []tail.Line) error {
		for _, l := range lines {
			got = append(got, l.Text)
		}
		return nil
	})
	if err != nil || fmt.Sprint(got) != "[one two  last]" {
		t.Errorf("Stream = %q, %v", got, err)
	}
}

func TestParse(t *testing.T) {
	t.Parallel()
	utc := func(s string) time.Time {
		ts, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return ts
	}
	local := func(s string) time.Time {
		ts, err := time.ParseInLocation("2006-01-02T15:04:05.999999999", s, time.Local)
		if err != nil {
			t.Fatal(err)
		}
		return ts
	}
	syslogTime := func(month time.Month, day, h, m, s int) time.Time {
		now := time.Now()
		ts := time.Date(now.Year(), month, day, h, m, s, 0, time.Local)
		if ts.After(now.Add(24 * time.Hour)) {
			ts = ts.AddDate(-1, 0, 0)
		}
		return ts
	}
	tests := []struct {
		name  string
		line  string
		level string
		msg   string
		time  time.Time // zero: none
		attrs map[string]any
	}{
		// Text with a timestamp prefix.
		{"RFC 3339 and a level word", "2024-05-01T10:00:00Z ERROR disk full", "error", "disk full", utc("2024-05-01T10:00:00Z"), nil},
		{"fraction and offset", "2024-05-01T10:00:00.123456+02:00 [WARN] hot", "warn", "hot", utc("2024-05-01T08:00:00.123456Z"), nil},
		{"space, comma fraction, no zone (local)", "2024-05-01 10:00:00,250 INFO: started", "info", "started", local("2024-05-01T10:00:00.25"), nil},
		{"bracketed", "[2024-05-01 10:00:00] <debug> tick", "debug", "tick", local("2024-05-01T10:00:00"), nil},
		{"UTC suffix", "2024-05-01 10:00:00 UTC warning: low battery", "warn", "low battery", utc("2024-05-01T10:00:00Z"), nil},
		{"Go log package", "2024/05/01 10:00:00.5 connected to plc", "info", "connected to plc", local("2024-05-01T10:00:00.5"), nil},
		{"Python logging, level further in", "2024-05-01 10:00:00,123 - cam - ERROR - lens", "error", "cam - ERROR - lens", local("2024-05-01T10:00:00.123"), nil},
		{"syslog", "May  1 10:00:00 host app[12]: fatal: crashed", "error", "crashed", syslogTime(time.May, 1, 10, 0, 0),
			map[string]any{"host": "host", "app": "app", "pid": int64(12)}},
		{"timestamp only", "2024-05-01T10:00:00Z plain text", "info", "plain text", utc("2024-05-01T10:00:00Z"), nil},
		{"implausible year is not a timestamp", "0001-01-01T00:00:00Z x", "info", "0001-01-01T00:00:00Z x", time.Time{}, nil},
		{"date running into text is not a timestamp", "2024-05-01T10:00:00Zabc", "info", "2024-05-01T10:00:00Zabc", time.Time{}, nil},
		// Text without a timestamp.
		{"bracketed level", "[WARN] low battery", "warn", "low battery", time.Time{}, nil},
		{"level and colon", "WARNING: low battery", "warn", "low battery", time.Time{}, nil},
		{"an ordinary word is not a level token", "Error reading config", "error", "Error reading config", time.Time{}, nil},
		{"level word far from the start", "Information about what happened, far from the start: error", "info", "Information about what happened, far from the start: error", time.Time{}, nil},
		{"plain", "plain line", "info", "plain line", time.Time{}, nil},
		// logfmt.
		{"logfmt", `time=2024-05-01T10:00:00Z level=warn msg="over temp" temp=71.5 count=3 ok=true zone=a dur=12ms`, "warn", "over temp", utc("2024-05-01T10:00:00Z"),
			map[string]any{"temp": 71.5, "count": int64(3), "ok": true, "zone": "a", "dur": "12ms"}},
		{"logfmt without msg", "level=debug event=tick", "debug", "level=debug event=tick", time.Time{}, map[string]any{"event": "tick"}},
		{"logfmt-looking text", "a=b and more", "info", "a=b and more", time.Time{}, nil},
		{"not logfmt without level or msg", "x=1 y=2", "info", "x=1 y=2", time.Time{}, nil},
		// JSON lines.
		{"slog JSON", `{"time":"2024-05-01T10:00:00Z","level":"WARN","msg":"hot","temp":71.5,"n":7,"zone":"a","ok":false,"none":null}`, "warn", "hot", utc("2024-05-01T10:00:00Z"),
			map[string]any{"temp": 71.5, "n": int64(7), "zone": "a", "ok": false, "none": nil}},
		{"zap JSON, seconds", `{"ts":1714557600.5,"level":"error","message":"boom","ctx":{"k":1}}`, "error", "boom", time.Unix(1714557600, 5e8), map[string]any{"ctx": `{"k":1}`}},
		{"pino JSON, milliseconds and numeric level", `{"time":1714557600123,"level":50,"msg":"failed"}`, "error", "failed", time.UnixMilli(1714557600123), nil},
		{"JSON not a log record", `{"not":"a log record"}`, "info", `{"not":"a log record"}`, time.Time{}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := tail.Parse(tt.line)
			if p.Level != tt.level || p.Message != tt.msg {
				t.Errorf("Parse(%q) level %q msg %q, want %q %q", tt.line, p.Level, p.Message, tt.level, tt.msg)
			}
			if !p.Time.Equal(tt.time) {
				t.Errorf("Parse(%q) time %v, want %v", tt.line, p.Time, tt.time)
			}
			if !reflect.DeepEqual(p.Attrs, tt.attrs) {
				t.Errorf("Parse(%q) attrs %#v, want %#v", tt.line, p.Attrs, tt.attrs)
			}
		})
	}
}

func TestFollowFileThatAppearsLater(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		// Deleted while the agent was away: whenever the file appears, it is new
		// and read from its beginning.
		path := filepath.Join(t.TempDir(), "later.log")
		f := follow(t, path, &tail.Position{Inode: 1, Offset: 500})
		write(t, path, "first\n")
		if p := f.waitOpened(t); p.Offset != 0 {
			t.Errorf("a new file opened at %d, want 0", p.Offset)
		}
		f.waitLines(t, "first")
	})
}
