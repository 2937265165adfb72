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
