package testproc

import (
	"os/exec"
	"syscall"
)

// DieWithParent makes the child get SIGKILL if the test process dies first
// (a test binary killed by a timeout or a closed pipe), so no server or
// agent outlives the run.
func DieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
