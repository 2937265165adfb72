package tail

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
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
// is found again after a rename), the offset just after the last line
// delivered, and a checksum of the bytes before that offset (up to
// checkWindow of them) that tells whether the file at that inode is still
// the one that was read, or was truncated and written again (copytruncate).
type Position struct {
	Inode  uint64 `json:"inode"`
	Offset int64  `json:"offset"`
	Check  uint32 `json:"check,omitempty"`
}

// checkWindow is how many bytes before a position identify it.
const checkWindow = 64

// Line is one line of input without its line ending.
type Line struct {
	Text string
	// Cut is the number of bytes dropped from a line longer than the limit.
	Cut int
}

// Follower follows one file. Fill the fields and call Run.
//
// Rotation is followed in both styles logrotate has. By rename (create):
// the rest of the renamed file is read, then the new file from its start.
// By copy and truncate (copytruncate): the lines written since the last
// read are in the copy, found among the rotated files by its content at the
// position reached, and are read from there before the truncated file is
// read from its start. Rotated files are those in the same directory whose
// name is the followed file's name followed by ".", "-" or "_" (app.log.1,
// app.log-20240501), compressed ones (.gz, .xz, .bz2, .zst, .lz4, .zip)
// excepted. Rotations quicker than Poll lose nothing either: a rotated file
// the follower never saw (renamed away twice within one poll) is read
// whole, oldest first.
type Follower struct {
	// Path is the file to follow. It need not exist yet.
	Path string
	// Start is where a previous follower stopped. With nil, an existing file
	// is followed from its end (like tail -f -n 0) and a file that appears
	// later from its beginning. If the file at Path is no longer the one
	// Start names, the rest of that file is read first when it can still be
	// found among the rotated files (by inode, or for copytruncate by its
	// content), then rotated files written after it, then Path from its
	// beginning.
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
	// Check, if set, is called with every file opened for reading, the
	// followed one or a rotated one, before anything is read from it. An
	// error refuses the file: Run fails with it for the followed file, a
	// rotated file is skipped.
	Check func(path string, fi os.FileInfo) error

	// known holds the inodes of rotated files already read or present
	// before the follower started: the others appeared since.
	known map[uint64]bool
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
	cur, err := f.resume(ctx)
	if err != nil {
		return err
	}
	f.known = map[uint64]bool{}
	for _, c := range f.rotated() {
		f.known[c.ino] = true
	}
	for cur == nil {
		// Not there yet: wait for it and read it whole.
		if err := sleep(ctx, f.Poll); err != nil {
			return err
		}
		if cur, err = f.open(f.Path, 0); err != nil {
			return err
		}
	}
	defer func() { cur.close() }()
	f.opened(cur)
	for {
		if !cur.unchanged() {
			// Truncated (and maybe written again past where we were).
			if err := f.truncated(ctx, cur); err != nil {
				return err
			}
			continue
		}
		if err := f.readAvailable(ctx, cur); err != nil {
			return err
		}
		fi, err := os.Stat(f.Path)
		switch {
		case err != nil && unlinked(cur.f):
			// Deleted, not renamed: finish it and let it go (holding it
			// would keep its space), then wait for the path to come back.
			if err := f.drain(ctx, cur); err != nil {
				return err
			}
			cur.close()
			var next *openFile
			for next == nil {
				if err := sleep(ctx, f.Poll); err != nil {
					cur = nil // closed already
					return err
				}
				if next, err = f.open(f.Path, 0); err != nil {
					cur = nil
					return err
				}
			}
			cur = next
			f.opened(cur)
			continue
		case err != nil:
			// Renamed away and not recreated yet: keep reading the old file.
		case inode(fi) != cur.ino:
			// Rotated: finish the old file and any rotated since, then
			// start the new one.
			if err := f.drain(ctx, cur); err != nil {
				return err
			}
			f.known[cur.ino] = true
			if err := f.readNew(ctx, inode(fi), time.Time{}); err != nil {
				return err
			}
			next, err := f.open(f.Path, 0)
			if err != nil {
				return err
			}
			if next == nil {
				break // gone again; retry on the next poll
			}
			cur.close()
			cur = next
			f.opened(cur)
			continue
		case fi.Size() < cur.offset:
			continue // truncated: handled at the top
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

// resume opens the file to follow after a restart at Start, first reading
// what was written to it (or to its rotated successors) while the follower
// was away. It returns nil when the file does not exist yet.
func (f *Follower) resume(ctx context.Context) (*openFile, error) {
	if f.Start == nil {
		return f.open(f.Path, -1)
	}
	start := *f.Start
	pathIno := uint64(0)
	if fi, err := os.Stat(f.Path); err == nil {
		pathIno = inode(fi)
	}
	var since time.Time // rotated files newer than the one read are read too
	if pathIno == start.Inode && start.Inode != 0 {
		of, err := f.open(f.Path, start.Offset)
		if err != nil || of == nil {
			return of, err
		}
		if of.matches(start) {
			return of, nil
		}
		// Truncated while we were away (copytruncate): the rest is in the copy.
		of.close()
		if c, ok := f.findCopy(start); ok {
			if err := f.readRotated(ctx, c, start.Offset, nil); err != nil {
				return nil, err
			}
			since = c.mtime
			f.known = map[uint64]bool{start.Inode: true, c.ino: true}
		}
	} else if c, ok := f.findInode(start); ok {
		// Rotated while we were away.
		if err := f.readRotated(ctx, c, start.Offset, nil); err != nil {
			return nil, err
		}
		since = c.mtime
		f.known = map[uint64]bool{start.Inode: true}
	}
	if !since.IsZero() {
		if err := f.readNew(ctx, pathIno, since); err != nil {
			return nil, err
		}
	}
	return f.open(f.Path, 0)
}

// truncated handles cur truncated in place: the lines written since the
// last read are read from the copy, if one can be found, then any other
// new rotated file, and cur is read again from its start.
func (f *Follower) truncated(ctx context.Context, cur *openFile) error {
	if c, ok := f.findCopy(Position{Offset: cur.offset, Check: crc(cur.win)}); ok {
		if err := f.readRotated(ctx, c, cur.offset, cur); err != nil {
			return err
		}
		f.known[c.ino] = true
	} else if cur.split.pending() {
		// The copy is gone: deliver the partial line as it is.
		line := cur.split.take()
		cur.lineEnd = cur.offset
		if err := f.Emit(ctx, []Line{line}, cur.position()); err != nil {
			return err
		}
	}
	if err := f.readNew(ctx, cur.ino, time.Time{}); err != nil {
		return err
	}
	if _, err := cur.f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("follow %s: %w", f.Path, err)
	}
	cur.offset, cur.lineEnd, cur.win = 0, 0, cur.win[:0]
	cur.split.reset()
	return nil
}

// readNew reads whole, oldest first, the rotated files not seen before
// (renamed away within one poll), modified at or after since if set;
// skip is the followed file's inode.
func (f *Follower) readNew(ctx context.Context, skip uint64, since time.Time) error {
	var fresh []candidate
	for _, c := range f.rotated() {
		if c.ino == skip || f.known[c.ino] || c.mtime.Before(since) {
			continue
		}
		fresh = append(fresh, c)
	}
	sort.Slice(fresh, func(i, j int) bool { return f.older(fresh[i], fresh[j]) })
	for _, c := range fresh {
		if err := f.readRotated(ctx, c, 0, nil); err != nil {
			return err
		}
		f.known[c.ino] = true
	}
	return nil
}

// readRotated reads a rotated file from offset to its end. If from is
// set, its partial last line continues in this file.
func (f *Follower) readRotated(ctx context.Context, c candidate, offset int64, from *openFile) error {
	of, err := openAt(c.path, offset)
	if err != nil {
		return nil // gone meanwhile
	}
	defer of.close()
	if of.ino != c.ino {
		return nil
	}
	if f.Check != nil {
		if fi, err := of.f.Stat(); err != nil || f.Check(c.path, fi) != nil {
			return nil
		}
	}
	if from != nil {
		of.split = from.split
		of.split.buf = slices.Clone(from.split.buf)
		of.lineEnd = from.lineEnd
		from.split.reset()
	}
	f.opened(of)
	return f.drain(ctx, of)
}

// older reports whether rotated file a was written before b. File times
// come from a coarse clock (a jiffy, up to 10 ms), so files rotated within
// one tick tie; the names then decide as logrotate gives them: a rotation
// counter counts up with age (app.log.1 is newer than app.log.2), any other
// suffix (a date, app.log-20261130) sorts up with time.
func (f *Follower) older(a, b candidate) bool {
	if !a.mtime.Equal(b.mtime) {
		return a.mtime.Before(b.mtime)
	}
	base := len(filepath.Base(f.Path)) + 1
	sa, sb := filepath.Base(a.path), filepath.Base(b.path)
	if len(sa) < base || len(sb) < base {
		return sa < sb
	}
	na, okA := rotationNumber(sa[base:])
	nb, okB := rotationNumber(sb[base:])
	if okA && okB {
		return na > nb
	}
	return sa < sb
}

// rotationNumber parses a rotation counter (app.log.1: "1"); a date
// (app.log-20261130, dateext's default: eight digits or more) is none.
func rotationNumber(suffix string) (uint64, bool) {
	if len(suffix) == 0 || len(suffix) >= 8 {
		return 0, false
	}
	n, err := strconv.ParseUint(suffix, 10, 64)
	return n, err == nil
}

// candidate is a rotated file.
type candidate struct {
	path  string
	ino   uint64
	size  int64
	mtime time.Time
}

var compressed = []string{".gz", ".xz", ".bz2", ".zst", ".lz4", ".zip", ".z"}

// rotated lists the rotated files of Path (see Follower).
func (f *Follower) rotated() []candidate {
	dir, base := filepath.Split(f.Path)
	entries, err := os.ReadDir(filepath.Clean(dir))
	if err != nil {
		return nil
	}
	var out []candidate
	for _, e := range entries {
		name := e.Name()
		if len(name) <= len(base) || !strings.HasPrefix(name, base) || !strings.ContainsRune(".-_", rune(name[len(base)])) {
			continue
		}
		lower := strings.ToLower(name)
		if slices.ContainsFunc(compressed, func(s string) bool { return strings.HasSuffix(lower, s) }) {
			continue
		}
		p := filepath.Join(dir, name)
		fi, err := os.Stat(p)
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		out = append(out, candidate{path: p, ino: inode(fi), size: fi.Size(), mtime: fi.ModTime()})
	}
	return out
}

// findInode finds the rotated file pos was in (the followed file renamed
// by rotation): inode, size and content must all agree.
func (f *Follower) findInode(pos Position) (candidate, bool) {
	if pos.Inode == 0 {
		return candidate{}, false
	}
	// Only a rotated file of Path, holding before the offset the bytes
	// the position names: an inode number is reused once its file is
	// deleted, and may then be another log's (another service's secrets).
	for _, c := range f.rotated() {
		if c.ino != pos.Inode || c.size < pos.Offset {
			continue
		}
		if pos.Offset > 0 && checkAt(c.path, pos.Offset) != pos.Check {
			continue
		}
		return c, true
	}
	return candidate{}, false
}

// findCopy finds the copy copytruncate made of the followed file: a rotated
// file holding, before pos.Offset, the bytes pos.Check names.
func (f *Follower) findCopy(pos Position) (candidate, bool) {
	if pos.Offset == 0 {
		return candidate{}, false
	}
	// Content decides; among files that match, one not seen before (the
	// copy is new) and the oldest (the first of several rotations).
	var best candidate
	found := false
	better := func(c candidate) bool {
		if f.known[c.ino] != f.known[best.ino] {
			return !f.known[c.ino]
		}
		return c.mtime.Before(best.mtime)
	}
	for _, c := range f.rotated() {
		if c.size < pos.Offset || checkAt(c.path, pos.Offset) != pos.Check {
			continue
		}
		if !found || better(c) {
			best, found = c, true
		}
	}
	return best, found
}

// checkAt returns the checksum of the bytes before offset in the file at
// path.
func checkAt(path string, offset int64) uint32 {
	file, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer file.Close()
	return windowCheck(file, offset)
}

func windowCheck(r io.ReaderAt, offset int64) uint32 {
	n := min(offset, checkWindow)
	buf := make([]byte, n)
	if _, err := r.ReadAt(buf, offset-n); err != nil {
		return 0
	}
	return crc(buf)
}

func crc(b []byte) uint32 { return crc32.ChecksumIEEE(b) }

// open opens path for following at offset (its end when negative) and
// checks it; it returns nil, nil when the file does not exist.
func (f *Follower) open(path string, offset int64) (*openFile, error) {
	of, err := openAt(path, offset)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("follow %s: %w", path, err)
	}
	if f.Check != nil {
		fi, err := of.f.Stat()
		if err == nil {
			err = f.Check(path, fi)
		}
		if err != nil {
			of.close()
			return nil, fmt.Errorf("follow %s: %w", path, err)
		}
	}
	return of, nil
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
			of.remember(buf[:n])
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

type openFile struct {
	path     string
	f        *os.File
	ino      uint64
	offset   int64  // bytes read so far
	lineEnd  int64  // offset after the last delivered line
	win      []byte // the last bytes read, up to checkWindow, before offset
	split    splitter
	lastData time.Time
}

// openAt opens path at offset, or at its end when offset is negative (or
// past the end).
func openAt(path string, offset int64) (*openFile, error) {
	f, err := openNonBlocking(path)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%s is not a regular file (%s)", path, fi.Mode().Type())
	}
	if offset < 0 || offset > fi.Size() {
		offset = fi.Size()
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		f.Close()
		return nil, err
	}
	of := &openFile{path: path, f: f, ino: inode(fi), offset: offset, lineEnd: offset, lastData: time.Now()}
	n := min(offset, checkWindow)
	of.win = make([]byte, n, checkWindow)
	if _, err := f.ReadAt(of.win, offset-n); err != nil {
		of.win = of.win[:0]
	}
	return of, nil
}

// remember keeps the last checkWindow bytes read.
func (of *openFile) remember(p []byte) {
	if len(p) >= checkWindow {
		of.win = append(of.win[:0], p[len(p)-checkWindow:]...)
		return
	}
	if drop := len(of.win) + len(p) - checkWindow; drop > 0 {
		of.win = append(of.win[:0], of.win[drop:]...)
	}
	of.win = append(of.win, p...)
}

// unchanged reports whether the bytes before offset are still those read:
// false when the file was truncated, or truncated and written again.
func (of *openFile) unchanged() bool {
	if len(of.win) == 0 {
		return of.size() >= of.offset
	}
	buf := make([]byte, len(of.win))
	n, _ := of.f.ReadAt(buf, of.offset-int64(len(of.win)))
	return n == len(buf) && bytes.Equal(buf, of.win)
}

// matches reports whether of, opened at start.Offset, is the file start
// was taken from.
func (of *openFile) matches(start Position) bool {
	if of.offset != start.Offset {
		return false // shorter than the position
	}
	return start.Check == 0 || crc(of.win) == start.Check
}

func (of *openFile) size() int64 {
	fi, err := of.f.Stat()
	if err != nil {
		return 0
	}
	return fi.Size()
}

func (of *openFile) position() Position {
	return Position{Inode: of.ino, Offset: of.lineEnd, Check: windowCheck(of.f, of.lineEnd)}
}

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
