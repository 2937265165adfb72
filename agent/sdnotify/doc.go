// Package sdnotify speaks systemd's service notification protocol
// (sd_notify(3)): newline-separated KEY=value assignments such as
// READY=1, WATCHDOG=1, STATUS=... and STOPPING=1, sent as one datagram to
// the unix socket named by $NOTIFY_SOCKET ("@" for Linux's abstract
// namespace). It uses the standard library only.
package sdnotify
