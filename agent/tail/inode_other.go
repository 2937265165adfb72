//go:build !unix

package tail

import "os"

// inode returns 0 where files have no inode: rotation is then detected by
// truncation only.
func inode(fi os.FileInfo) uint64 { return 0 }

// openNonBlocking opens path for reading.
func openNonBlocking(path string) (*os.File, error) { return os.Open(path) }

// unlinked reports false: without link counts a deleted file is kept open
// until its path comes back.
func unlinked(f *os.File) bool { return false }
