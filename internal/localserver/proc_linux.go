package localserver

import (
	"os"
	"syscall"
)

// processAttributes puts the server in its own process group, so Close can
// kill it and anything it spawned, and asks the kernel to kill it if the
// test binary dies without running Close. (Pdeathsig follows the OS thread
// that started the process; Go only ends threads of goroutines that exit
// while locked to them, which test code does not do.)
func processAttributes() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

func killGroup(p *os.Process) {
	if err := syscall.Kill(-p.Pid, syscall.SIGKILL); err != nil {
		_ = p.Kill()
	}
}
