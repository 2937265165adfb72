// Command edgesync-agent runs the edgesync terminal agent on a detecting
// terminal: it keeps the terminal connected to the cloud, delivers the log
// lines of the files listed in log_inputs (and of standard input with "-"),
// answers the cloud's commands and reports status.
//
// Usage:
//
//	edgesync-agent -config /etc/edgesync/agent.json
//	edgesync-agent -config /etc/edgesync/agent.json -check
//	edgesync-agent -version
//
// Every config key can be overridden with an environment variable
// (EDGESYNC_SERVER_URL, EDGESYNC_TOKEN, ...). On SIGTERM or SIGINT the agent
// spools and sends what it can within -shutdown-timeout, closes the
// connection normally and exits 0; unacknowledged lines are resent at the
// next start. It exits 1 when it gives up connecting (reconnect_attempts)
// and 2 on a configuration error.
package main
