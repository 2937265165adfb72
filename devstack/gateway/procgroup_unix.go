//go:build unix

package gateway

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// setProcessGroup makes cmd the leader of a new process group.
func setProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

// killProcessTree kills cmd, its process group and the process groups of its
// children. aws-lambda-rie starts the bootstrap in a process group of its
// own, so killing the emulator's group alone would leave a busy bootstrap
// running. Where the children cannot be listed (no /proc), the emulator gets
// SIGTERM first, on which it kills the bootstrap itself, and up to two
// seconds to exit. exited is closed when cmd has been waited for.
func killProcessTree(cmd *exec.Cmd, exited <-chan struct{}) {
	if cmd.Process == nil {
		return
	}
	pid := cmd.Process.Pid
	kids, ok := childPIDs(pid)
	if !ok {
		_ = syscall.Kill(-pid, syscall.SIGTERM)
		t := time.NewTimer(2 * time.Second)
		select {
		case <-exited:
		case <-t.C:
		}
		t.Stop()
	}
	for _, k := range kids {
		_ = syscall.Kill(-k, syscall.SIGKILL)
		_ = syscall.Kill(k, syscall.SIGKILL)
	}
	if err := syscall.Kill(-pid, syscall.SIGKILL); err != nil {
		_ = cmd.Process.Kill()
	}
}

// childPIDs lists pid's children from /proc (Linux); ok is false where that
// is not possible.
func childPIDs(pid int) (kids []int, ok bool) {
	files, err := filepath.Glob("/proc/" + strconv.Itoa(pid) + "/task/*/children")
	if err != nil || len(files) == 0 {
		return nil, false
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, false
		}
		for _, field := range strings.Fields(string(b)) {
			if k, err := strconv.Atoi(field); err == nil {
				kids = append(kids, k)
			}
		}
	}
	return kids, true
}
