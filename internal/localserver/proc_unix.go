//go:build unix && !linux

package localserver

import (
	"os"
	"syscall"
)

// processAttributes puts the server in its own process group, so Close can
// kill it and anything it spawned.
func processAttributes() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}

func killGroup(p *os.Process) {
	if err := syscall.Kill(-p.Pid, syscall.SIGKILL); err != nil {
		_ = p.Kill()
	}
}
