package devruntime

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// waitForProcess opens a pidfd for pid, which must be this process's
// parent. The returned wait blocks until the process exits (true) or stop
// is closed (false); release closes the descriptors once wait has
// returned.
func waitForProcess(pid int) (wait func(stop <-chan struct{}) bool, release func(), err error) {
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("pidfd_open: %w", err)
	}
	// The parent may have exited, and its pid been reused, before the
	// pidfd was opened; the parent pid tells.
	if os.Getppid() != pid {
		unix.Close(pidfd)
		return func(<-chan struct{}) bool { return true }, func() {}, nil
	}
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		unix.Close(pidfd)
		return nil, nil, fmt.Errorf("pipe: %w", err)
	}
	wake := make(chan struct{})
	wait = func(stop <-chan struct{}) bool {
		go func() {
			select {
			case <-stop:
				unix.Write(p[1], []byte{0})
			case <-wake:
			}
		}()
		defer close(wake)
		fds := []unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}, {Fd: int32(p[0]), Events: unix.POLLIN}}
		for {
			_, err := unix.Poll(fds, -1)
			if errors.Is(err, unix.EINTR) {
				continue
			}
			if err != nil {
				return false
			}
			return fds[0].Revents != 0 && fds[1].Revents == 0
		}
	}
	release = func() {
		unix.Close(pidfd)
		unix.Close(p[0])
		unix.Close(p[1])
	}
	return wait, release, nil
}
