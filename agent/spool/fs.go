package spool

import (
	"io"
	"os"
)

// FS is the filesystem the spool keeps its files in. OS is the real one;
// tests wrap it to make writes fail (a full disk, a read-only remount).
type FS interface {
	// MkdirAll creates dir and its parents, as os.MkdirAll.
	MkdirAll(dir string, perm os.FileMode) error
	// OpenFile opens or creates name, as os.OpenFile.
	OpenFile(name string, flag int, perm os.FileMode) (File, error)
	// Remove deletes name, as os.Remove.
	Remove(name string) error
	// ReadDir lists dir, as os.ReadDir.
	ReadDir(dir string) ([]os.DirEntry, error)
}

// File is an open spool file. *os.File implements it.
type File interface {
	io.ReaderAt
	io.Writer
	io.Closer
	// Sync commits the file's content to stable storage.
	Sync() error
	// Truncate changes the file's size.
	Truncate(size int64) error
	// Stat describes the file.
	Stat() (os.FileInfo, error)
}

// OS is the operating system's filesystem.
var OS FS = osFS{}

type osFS struct{}

func (osFS) MkdirAll(dir string, perm os.FileMode) error { return os.MkdirAll(dir, perm) }
func (osFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err // a nil *os.File must not become a non-nil File
	}
	return f, nil
}
func (osFS) Remove(name string) error                  { return os.Remove(name) }
func (osFS) ReadDir(dir string) ([]os.DirEntry, error) { return os.ReadDir(dir) }
