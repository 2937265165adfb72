//go:build unix

package tail

import (
	"os"
	"syscall"
)

// inode returns the file's inode number, identifying it across renames.
func inode(fi os.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Ino)
	}
	return 0
}

// openNonBlocking opens path for reading without blocking: a FIFO with no writer
// would otherwise hold the open (and the agent's shutdown) for ever. The
// caller refuses anything but a regular file.
func openNonBlocking(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
}

// unlinked reports whether f's file has no name left (it was deleted).
func unlinked(f *os.File) bool {
	fi, err := f.Stat()
	if err != nil {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && st.Nlink == 0
}
