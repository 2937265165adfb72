// Package tail reads log lines for the terminal agent: it follows files
// the way tail -F does (appends, rotation by rename, truncation, files that
// appear later), reads streams such as stdin, and guesses a line's level,
// message and time from common text and JSON log formats.
//
// A Follower reports, with every group of lines, the Position after the
// last complete line; storing that position together with the lines (the
// agent does so in its spool transaction) lets a restarted follower resume
// exactly where the previous one stopped, even across a rotation.
package tail
