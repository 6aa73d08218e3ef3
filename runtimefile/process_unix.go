//go:build unix

package runtimefile

import (
	"errors"
	"syscall"
)

// processExists reports whether a process with the given pid exists. A
// process that exists but belongs to another user counts as existing.
func processExists(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
