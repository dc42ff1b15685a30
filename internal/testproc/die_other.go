//go:build !linux

package testproc

import "os/exec"

// DieWithParent has no equivalent here; the test's cleanup kills the child.
func DieWithParent(cmd *exec.Cmd) {}
