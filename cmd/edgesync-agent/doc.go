// Command edgesync-agent runs the edgesync terminal agent on a detecting
// terminal: it keeps the terminal connected to the cloud, delivers the log
// lines of the files listed in log_inputs (and of standard input with "-"),
// answers the cloud's commands and reports status.
//
// Usage:
//
//	edgesync-agent -config /etc/edgesync/agent.json [-policy /etc/edgesync/policy.json]
//	edgesync-agent -config /etc/edgesync/agent.json -check
//	edgesync-agent status [-config /etc/edgesync/agent.json] [-json]
//	edgesync-agent -version
//
// Every config key can be overridden with an environment variable
// (EDGESYNC_SERVER_URL, EDGESYNC_TOKEN, ...). The device policy (what
// remote configuration may change) is read from -policy, else
// $EDGESYNC_POLICY_FILE, else /etc/edgesync/policy.json if it exists.
//
// Started by systemd with Type=notify, the agent says READY=1 once its
// spool is open, keeps a one-line STATUS=, and with WatchdogSec= feeds the
// watchdog only while delivery makes progress or has nothing to do. Every
// -summary-interval it logs a one-line summary. `edgesync-agent status`
// asks the running agent, over a unix socket in spool_dir, for its
// connection, spool, oldest unsent line, last acknowledgement, drops and
// health; it works while the cloud is unreachable.
//
// On SIGTERM or SIGINT the agent spools and sends what it can within
// -shutdown-timeout, closes the connection normally and exits 0;
// unacknowledged lines are resent at the next start. It exits 1 when it
// gives up connecting (only if reconnect_attempts is set) and 2 on a
// configuration error. status exits 0 when the agent is healthy, 1 when
// its delivery is stalled and 3 when no agent answers.
package main
