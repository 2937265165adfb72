package sdnotify_test

import (
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/edgesync/edgesync/agent/sdnotify"
)

func TestNotify(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	n := sdnotify.New(func(k string) string { return map[string]string{"NOTIFY_SOCKET": path}[k] })
	if err := n.Notify("READY=1\n" + sdnotify.Status("up\nand running")); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 4096)
	k, err := conn.Read(buf)
	if err != nil || string(buf[:k]) != "READY=1\nSTATUS=up and running" {
		t.Errorf("received %q, %v", buf[:k], err)
	}
}

func TestNoNotifySocket(t *testing.T) {
	t.Parallel()
	n := sdnotify.New(func(string) string { return "" })
	if n != nil {
		t.Fatalf("New without NOTIFY_SOCKET = %v, want nil", n)
	}
	if err := n.Notify("READY=1"); err != nil {
		t.Errorf("Notify on nil = %v", err)
	}
}

func TestWatchdogInterval(t *testing.T) {
	t.Parallel()
	tests := []struct {
		env  map[string]string
		want time.Duration
		ok   bool
	}{
		{map[string]string{"WATCHDOG_USEC": "30000000"}, 30 * time.Second, true},
		{map[string]string{"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "42"}, 30 * time.Second, true},
		{map[string]string{"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "7"}, 0, false},
		{map[string]string{"WATCHDOG_USEC": "x"}, 0, false},
		{nil, 0, false},
	}
	for _, tt := range tests {
		got, ok := sdnotify.WatchdogInterval(func(k string) string { return tt.env[k] }, 42)
		if got != tt.want || ok != tt.ok {
			t.Errorf("WatchdogInterval(%v) = %v, %v; want %v, %v", tt.env, got, ok, tt.want, tt.ok)
		}
	}
}
