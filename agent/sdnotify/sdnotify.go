package sdnotify

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// Notifier sends notifications to the service manager.
type Notifier struct {
	addr *net.UnixAddr
}

// New returns a notifier for the socket $NOTIFY_SOCKET names (read with
// getenv), or nil when there is none: the process was not started by a
// service manager listening for notifications (Type=notify).
func New(getenv func(string) string) *Notifier {
	name := getenv("NOTIFY_SOCKET")
	if name == "" || (name[0] != '/' && name[0] != '@') {
		return nil
	}
	// A leading "@" is Linux's abstract namespace; the net package maps it.
	return &Notifier{addr: &net.UnixAddr{Name: name, Net: "unixgram"}}
}

// Notify sends the assignments (e.g. "READY=1", or "WATCHDOG=1\nSTATUS=ok")
// in one datagram. On a nil Notifier it does nothing.
func (n *Notifier) Notify(state string) error {
	if n == nil {
		return nil
	}
	conn, err := net.DialUnix("unixgram", nil, n.addr)
	if err != nil {
		return fmt.Errorf("sd_notify %s: %w", n.addr.Name, err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(state)); err != nil {
		return fmt.Errorf("sd_notify %s: %w", n.addr.Name, err)
	}
	return nil
}

// Status makes s a single STATUS= assignment (newlines would start other
// assignments).
func Status(s string) string {
	return "STATUS=" + strings.NewReplacer("\n", " ", "\r", " ").Replace(s)
}

// WatchdogInterval returns the watchdog timeout systemd set for this
// process (WatchdogSec=, as $WATCHDOG_USEC), and whether there is one:
// $WATCHDOG_PID, when set, must be pid. The service should send
// WATCHDOG=1 at least twice per interval.
func WatchdogInterval(getenv func(string) string, pid int) (time.Duration, bool) {
	usec, err := strconv.ParseInt(getenv("WATCHDOG_USEC"), 10, 64)
	if err != nil || usec <= 0 {
		return 0, false
	}
	if p := getenv("WATCHDOG_PID"); p != "" && p != strconv.Itoa(pid) {
		return 0, false
	}
	return time.Duration(usec) * time.Microsecond, true
}
