//go:build !unix

package runtimefile

import "os"

// processExists reports whether a process with the given pid exists. Where
// that cannot be told, it reports true, so nothing is removed in doubt.
func processExists(pid int) bool {
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	p.Release()
	return true
}
