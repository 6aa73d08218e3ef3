//go:build unix

package harness

import (
	"os"
	"syscall"
)

func newGroupAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

// inGroup reports whether pid is in the process group pgid.
func inGroup(pid, pgid int) bool {
	g, err := syscall.Getpgid(pid)
	return err == nil && g == pgid
}

// terminateGroup sends SIGTERM to the process group led by p.
func terminateGroup(p *os.Process) { syscall.Kill(-p.Pid, syscall.SIGTERM) }

// killGroup sends SIGKILL to the process group led by p.
func killGroup(p *os.Process) { syscall.Kill(-p.Pid, syscall.SIGKILL) }
