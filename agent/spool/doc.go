// Package spool is the terminal agent's on-disk queue of log lines that the
// cloud has not acknowledged yet.
//
// A Spool assigns every appended line the terminal's next sequence number,
// keeps the line until Ack (or DropInvalid) removes it, and stays within a
// byte bound by evicting the oldest lines, counting them as dropped. The next
// sequence number, the drop counters, the highest acknowledged sequence
// number and input checkpoints are stored in the same transactions as the
// lines, so a crash at any point loses nothing that Append returned and
// never reuses a sequence number.
//
// The store is a bbolt database (spool.db) in the spool directory, opened
// exclusively: a second agent on the same directory fails with ErrLocked.
package spool
