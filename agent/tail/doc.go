// Package tail reads log lines for the terminal agent: it follows files
// the way tail -F does (appends, rotation by rename, truncation, files that
// appear later, copytruncate, rotations quicker than a poll), reads
// streams such as stdin, and parses a line's time, level, message and typed
// attributes from common text, logfmt and JSON log formats.
//
// A Follower reports, with every group of lines, the Position after the
// last complete line; storing that position together with the lines (the
// agent does so in its spool transaction) lets a restarted follower resume
// exactly where the previous one stopped, even across a rotation.
package tail
