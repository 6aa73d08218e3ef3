//go:build unix

package mcp

import (
	"os/exec"
	"syscall"
)

// ownProcessGroup puts the command in a process group of its own, so that
// the processes it starts (npx starting node, a shell starting a server)
// can be stopped with it.
func ownProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

// killStragglers kills what is left of the command's process group once
// the command itself has been stopped. cmd may be nil or never started.
func killStragglers(cmd *exec.Cmd) {
	if cmd == nil || cmd.Process == nil {
		return
	}
	// An error means the group is already empty.
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
}
