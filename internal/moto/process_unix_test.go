//go:build unix

package moto_test

import (
	"errors"
	"syscall"
	"testing"

	"github.com/edgesync/edgesync/internal/moto"
)

func TestCloseKillsProcessGroup(t *testing.T) {
	t.Parallel()
	srv := moto.ForTest(t)
	pid := moto.PID(srv)
	srv.Close()
	// The process was reaped by Close, so signalling its group fails.
	if err := syscall.Kill(-pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("kill(-%d, 0) after Close = %v, want ESRCH", pid, err)
	}
}
