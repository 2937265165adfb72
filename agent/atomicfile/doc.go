// Package atomicfile replaces files so that a crash at any moment leaves
// either the old or the new content, never a mix or an empty file.
package atomicfile
