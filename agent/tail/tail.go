package tail

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Defaults of a Follower.
const (
	DefaultPoll    = 250 * time.Millisecond
	DefaultMaxLine = 64 * 1024
	// DefaultPartialFlush is how long an unterminated last line waits for
	// its newline before it is delivered as it is.
	DefaultPartialFlush = 2 * time.Second
)

// Position identifies a place in a followed file: the file (by inode, so it
// is found again after a rename) and the offset just after the last line
// delivered.
type Position struct {
	Inode  uint64 `json:"inode"`
	Offset int64  `json:"offset"`
}

// Line is one line of input without its line ending.
type Line struct {
	Text string
	// Cut is the number of bytes dropped from a line longer than the limit.
	Cut int
}

// Follower follows one file. Fill the fields and call Run.
type Follower struct {
	// Path is the file to follow. It need not exist yet.
	Path string
	// Start is where a previous follower stopped. With nil, an existing file
	// is followed from its end (like tail -f -n 0) and a file that appears
	// later from its beginning. If the file at Path is no longer the one
	// Start names, the rest of that file is read first when it can still be
	// found (renamed in the same directory), then Path from its beginning.
	Start *Position
	// Poll is how often to look for new data, rotation and truncation.
	Poll time.Duration
	// MaxLine bounds a line; the excess is cut and counted in Line.Cut.
	MaxLine int
	// PartialFlush is how long an unterminated line waits for its newline.
	PartialFlush time.Duration
	// Emit receives each group of lines and the position after them. It may
	// block (back pressure); an error stops Run.
	Emit func(ctx context.Context, lines []Line, pos Position) error
	// Opened, if set, is called whenever a file is opened for following,
	// with where reading starts.
	Opened func(path string, pos Position)
}

// Run follows the file until ctx ends or Emit fails. It returns nil when
// ctx ends.
func (f *Follower) Run(ctx context.Context) error {
	if f.Poll <= 0 {
		f.Poll = DefaultPoll
	}
	if f.MaxLine <= 0 {
		f.MaxLine = DefaultMaxLine
	}
	if f.PartialFlush <= 0 {
		f.PartialFlush = DefaultPartialFlush
	}
	err := f.run(ctx)
	if ctx.Err() != nil {
		return nil
	}
	return err
}

func (f *Follower) run(ctx context.Context) error {
	var cur *openFile
	if f.Start != nil {
		if old := f.findRotated(f.Start.Inode); old != "" {
			// The file we were reading was rotated while we were away.
			of, err := openAt(old, f.Start.Offset)
			if err == nil {
				if err := f.drain(ctx, of); err != nil {
					of.close()
					return err
				}
				of.close()
			}
		}
		of, err := openAt(f.Path, 0)
		if err == nil {
			if of.ino == f.Start.Inode && of.size() >= f.Start.Offset {
				if _, err := of.f.Seek(f.Start.Offset, io.SeekStart); err != nil {
					of.close()
					return fmt.Errorf("follow %s: %w", f.Path, err)
				}
				of.offset, of.lineEnd = f.Start.Offset, f.Start.Offset
			}
			cur = of
		}
	} else if of, err := openAt(f.Path, -1); err == nil {
		cur = of
	}
	for cur == nil {
		// Not there yet: wait for it and read it whole.
		if err := sleep(ctx, f.Poll); err != nil {
			return err
		}
		if of, err := openAt(f.Path, 0); err == nil {
			cur = of
		}
	}
	defer func() { cur.close() }()
	f.opened(cur)
	for {
		if err := f.readAvailable(ctx, cur); err != nil {
			return err
		}
		fi, err := os.Stat(f.Path)
		switch {
		case err != nil:
			// Renamed away and not recreated yet: keep reading the old file.
		case inode(fi) != cur.ino:
			// Rotated: finish the old file, then start the new one.
			if err := f.drain(ctx, cur); err != nil {
				return err
			}
			next, err := openAt(f.Path, 0)
			if err != nil {
				break // gone again; retry on the next poll
			}
			cur.close()
			cur = next
			f.opened(cur)
			continue
		case fi.Size() < cur.offset:
			// Truncated in place (copytruncate): start over.
			if _, err := cur.f.Seek(0, io.SeekStart); err != nil {
				return fmt.Errorf("follow %s: %w", f.Path, err)
			}
			cur.offset, cur.lineEnd = 0, 0
			cur.split.reset()
			continue
		}
		if cur.split.pending() && time.Since(cur.lastData) >= f.PartialFlush {
			line := cur.split.take()
			cur.lineEnd = cur.offset
			if err := f.Emit(ctx, []Line{line}, cur.position()); err != nil {
				return err
			}
		}
		if err := sleep(ctx, f.Poll); err != nil {
			return err
		}
	}
}

func (f *Follower) opened(of *openFile) {
	if f.Opened != nil {
		f.Opened(of.path, Position{Inode: of.ino, Offset: of.offset})
	}
}

// drain reads of to its end and delivers an unterminated last line.
func (f *Follower) drain(ctx context.Context, of *openFile) error {
	if err := f.readAvailable(ctx, of); err != nil {
		return err
	}
	if of.split.pending() {
		line := of.split.take()
		of.lineEnd = of.offset
		return f.Emit(ctx, []Line{line}, of.position())
	}
	return nil
}

// readAvailable reads of until EOF, emitting complete lines.
func (f *Follower) readAvailable(ctx context.Context, of *openFile) error {
	if of.split.max == 0 {
		of.split.max = f.MaxLine
	}
	buf := make([]byte, 64*1024)
	for {
		n, err := of.f.Read(buf)
		if n > 0 {
			lines, end := of.split.feed(buf[:n])
			if end >= 0 {
				of.lineEnd = of.offset + int64(end)
			}
			of.offset += int64(n)
			of.lastData = time.Now()
			if len(lines) > 0 {
				if err := f.Emit(ctx, lines, of.position()); err != nil {
					return err
				}
			}
		}
		if errors.Is(err, io.EOF) || (n == 0 && err == nil) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("follow %s: %w", of.path, err)
		}
	}
}

// findRotated looks in the followed file's directory for another file with
// inode ino (the followed file renamed by rotation).
func (f *Follower) findRotated(ino uint64) string {
	if ino == 0 {
		return ""
	}
	if fi, err := os.Stat(f.Path); err == nil && inode(fi) == ino {
		return "" // not rotated
	}
	dir := filepath.Dir(f.Path)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return ""
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		p := filepath.Join(dir, e.Name())
		if fi, err := os.Stat(p); err == nil && inode(fi) == ino {
			return p
		}
	}
	return ""
}

type openFile struct {
	path     string
	f        *os.File
	ino      uint64
	offset   int64 // bytes read so far
	lineEnd  int64 // offset after the last delivered line
	split    splitter
	lastData time.Time
}

// openAt opens path at offset, or at its end when offset is negative.
func openAt(path string, offset int64) (*openFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if offset < 0 {
		offset = fi.Size()
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		f.Close()
		return nil, err
	}
	return &openFile{path: path, f: f, ino: inode(fi), offset: offset, lineEnd: offset, lastData: time.Now()}, nil
}

func (of *openFile) size() int64 {
	fi, err := of.f.Stat()
	if err != nil {
		return 0
	}
	return fi.Size()
}

func (of *openFile) position() Position { return Position{Inode: of.ino, Offset: of.lineEnd} }

func (of *openFile) close() {
	if of != nil {
		of.f.Close()
	}
}

// Stream reads lines from r until EOF or ctx ends, delivering them to emit
// as they arrive; an unterminated last line is delivered at EOF. Lines
// longer than maxLine (DefaultMaxLine if 0) are cut.
func Stream(ctx context.Context, r io.Reader, maxLine int, emit func(ctx context.Context, lines []Line) error) error {
	if maxLine <= 0 {
		maxLine = DefaultMaxLine
	}
	s := splitter{max: maxLine}
	buf := make([]byte, 64*1024)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if lines, _ := s.feed(buf[:n]); len(lines) > 0 {
				if err := emit(ctx, lines); err != nil {
					return err
				}
			}
		}
		if errors.Is(err, io.EOF) {
			if s.pending() {
				return emit(ctx, []Line{s.take()})
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("read stream: %w", err)
		}
		if ctx.Err() != nil {
			return nil
		}
	}
}

// splitter cuts a byte stream into lines of at most max bytes.
type splitter struct {
	max int
	buf []byte
	cut int
	any bool // bytes of an unterminated line were seen
}

// feed consumes data and returns the lines it completes and the index in
// data just after the last newline (-1 if data has none).
func (s *splitter) feed(data []byte) ([]Line, int) {
	var lines []Line
	end := -1
	start := 0
	for {
		i := bytes.IndexByte(data[start:], '\n')
		if i < 0 {
			s.add(data[start:])
			return lines, end
		}
		s.add(data[start : start+i])
		lines = append(lines, s.take())
		start += i + 1
		end = start
	}
}

func (s *splitter) add(p []byte) {
	if len(p) == 0 {
		return
	}
	s.any = true
	room := s.max - len(s.buf)
	if len(p) <= room {
		s.buf = append(s.buf, p...)
		return
	}
	s.buf = append(s.buf, p[:max(room, 0)]...)
	s.cut += len(p) - max(room, 0)
}

func (s *splitter) pending() bool { return s.any }

func (s *splitter) take() Line {
	l := Line{Text: strings.TrimSuffix(string(s.buf), "\r"), Cut: s.cut}
	s.reset()
	return l
}

func (s *splitter) reset() {
	s.buf, s.cut, s.any = s.buf[:0], 0, false
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
