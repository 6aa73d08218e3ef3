//go:build !linux

package devruntime

import "errors"

// waitForProcess is not available here: the parent is polled instead.
func waitForProcess(int) (func(<-chan struct{}) bool, func(), error) {
	return nil, nil, errors.New("no way to wait for another process here")
}
