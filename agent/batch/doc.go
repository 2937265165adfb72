// Package batch turns a terminal's log lines into protocol logs messages
// that API Gateway accepts and bills in a single 32 KB unit: it normalizes
// lines (levels, bounded sizes, truncation markers instead of drops), packs
// as many consecutive lines as fit in one message, and gzip-compresses them
// when that carries more lines or fewer bytes.
package batch
