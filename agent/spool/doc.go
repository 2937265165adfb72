// Package spool is the terminal agent's on-disk queue of log lines that the
// cloud has not acknowledged yet.
//
// A Spool assigns every appended line the terminal's next sequence number
// and keeps the line until Ack (or DropInvalid) removes it. Lines, input
// checkpoints (Mark) and counters live in segment files (seg-*.log) of
// checksummed records in the spool directory: appends are written in
// pieces of at most ChunkBytes and synced before Append returns;
// acknowledgements are records too. Every segment starts with a
// checkpoint of the whole state, so only the newest one matters for the
// counters and older ones are kept only for their lines: a segment is
// deleted as soon as its lines are all acknowledged, and the oldest is
// deleted (its lines counted as dropped) when the files would grow past the
// bound, so the bytes on disk stay within it (up to one block per file).
//
// A crash at any point loses nothing that Append returned and never reuses
// a sequence number. A write the disk refuses (full, read-only, an I/O
// error) does not fail Append: the spool turns Degraded, keeps new lines in
// memory (bounded; beyond it the oldest lines go, counted as dropped), and
// writes them out when a write succeeds again, which it tries on its own
// every RetryEvery. A small reserve file is given up at that moment to
// record durably that lines are being kept in memory only.
//
// The directory is locked: a second process on it fails with ErrLocked.
// A bbolt spool of earlier versions (spool.db) is migrated on Open.
package spool
