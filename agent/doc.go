// Package agent is the edgesync terminal agent: the device end of the
// sync between a fleet of detecting terminals and the cloud.
//
// An Agent keeps one WebSocket connection to the cloud (API Gateway) open,
// authenticated with a bearer token, and over it
//
//   - delivers the terminal's log lines: every line gets a per-terminal
//     sequence number, waits in a bounded on-disk spool (package spool) and
//     is sent in batches (package batch: time window, 32 KB messages, gzip
//     when it pays) until the server acknowledges it; unacknowledged lines
//     are resent after an ack timeout, after a reconnect and after a restart;
//   - answers the commands get_status, get_config, get_logs, set_config
//     and ping, and fails any other command explicitly;
//   - pushes a status report periodically and a heartbeat well inside API
//     Gateway's idle timeout, and reconnects with exponential backoff and
//     full jitter, proactively before API Gateway's 2-hour limit.
//
// Lines come from Log, from the slog.Handler returned by Handler, and from
// the files (or standard input) listed in the config's log_inputs, which
// are followed across both kinds of rotation and resumed where they
// stopped; text, logfmt and JSON lines are parsed for their own time,
// level and attributes (package tail).
//
// The device bounds what the cloud may change with a Policy (WithPolicy):
// set_config may change only the keys it names, add log inputs only in its
// directories, never make the agent follow its own files, and never send
// the credential in use to a new origin. Health tells whether delivery
// makes progress (the binary feeds systemd's watchdog with it) and
// LocalStatus is the state the local status command shows.
//
// The messages are those of package protocol; docs/agent.md describes
// installation, configuration and behaviour.
package agent
