// Package spooltest provides a filesystem for tests of the spool and the
// agent that behaves like a small disk: it refuses writes beyond a
// capacity with ENOSPC (after writing what fits, as a full disk does), or
// every write with a chosen error.
package spooltest
