//go:build !unix

package harness

import (
	"os"
	"syscall"
)

func newGroupAttr() *syscall.SysProcAttr { return nil }

// inGroup cannot tell process groups apart here; only the command's own
// pid is recognised.
func inGroup(pid, pgid int) bool { return false }

// terminateGroup asks the process to stop; without process groups only
// the command itself is reached.
func terminateGroup(p *os.Process) { p.Signal(os.Interrupt) }

// killGroup kills the process.
func killGroup(p *os.Process) { p.Kill() }
