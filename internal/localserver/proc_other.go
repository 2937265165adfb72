//go:build !unix

package localserver

import (
	"os"
	"syscall"
)

// processAttributes has nothing to set where process groups do not exist.
func processAttributes() *syscall.SysProcAttr { return nil }

func killGroup(p *os.Process) { _ = p.Kill() }
