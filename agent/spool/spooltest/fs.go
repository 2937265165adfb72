package spooltest

import (
	"os"
	"path/filepath"
	"sync"
	"syscall"

	"github.com/edgesync/edgesync/agent/spool"
)

// DiskFS is a spool.FS over the real filesystem whose writes can be made
// to fail. Its zero value is not usable; call NewDiskFS. It is safe for
// concurrent use.
type DiskFS struct {
	mu       sync.Mutex
	dir      string
	capacity int64 // bytes of files in dir; 0 is unlimited
	err      error // every write fails with it when set
	refused  int
}

// NewDiskFS returns a filesystem whose capacity counts the bytes of the
// files in dir (the spool directory).
func NewDiskFS(dir string) *DiskFS { return &DiskFS{dir: dir} }

// SetCapacity makes the disk hold at most n bytes of files in its
// directory (0: unlimited). Writes beyond it write what fits and fail
// with ENOSPC.
func (d *DiskFS) SetCapacity(n int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.capacity = n
}

// FailWrites makes every write and sync fail with err (nil: stop).
func (d *DiskFS) FailWrites(err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.err = err
}

// Refused returns how many writes failed so far.
func (d *DiskFS) Refused() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.refused
}

// Used returns the bytes of the files in the directory.
func (d *DiskFS) Used() int64 {
	entries, _ := os.ReadDir(d.dir)
	var n int64
	for _, e := range entries {
		if fi, err := os.Stat(filepath.Join(d.dir, e.Name())); err == nil && fi.Mode().IsRegular() {
			n += fi.Size()
		}
	}
	return n
}

// MkdirAll implements spool.FS.
func (d *DiskFS) MkdirAll(dir string, perm os.FileMode) error { return os.MkdirAll(dir, perm) }

// Remove implements spool.FS.
func (d *DiskFS) Remove(name string) error { return os.Remove(name) }

// ReadDir implements spool.FS.
func (d *DiskFS) ReadDir(dir string) ([]os.DirEntry, error) { return os.ReadDir(dir) }

// OpenFile implements spool.FS.
func (d *DiskFS) OpenFile(name string, flag int, perm os.FileMode) (spool.File, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &file{File: f, d: d}, nil
}

type file struct {
	*os.File
	d *DiskFS
}

func (f *file) Write(p []byte) (int, error) {
	d := f.d
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.err != nil {
		d.refused++
		return 0, d.err
	}
	if d.capacity > 0 {
		room := d.capacity - d.Used()
		if int64(len(p)) > room {
			d.refused++
			n := 0
			if room > 0 {
				n, _ = f.File.Write(p[:room])
			}
			return n, &os.PathError{Op: "write", Path: f.Name(), Err: syscall.ENOSPC}
		}
	}
	return f.File.Write(p)
}

func (f *file) Sync() error {
	f.d.mu.Lock()
	err := f.d.err
	f.d.mu.Unlock()
	if err != nil {
		return err
	}
	return f.File.Sync()
}
