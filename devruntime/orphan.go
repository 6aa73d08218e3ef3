package devruntime

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"sync"
	"time"
)

// parentPollInterval is how often the parent process is checked where it
// cannot be waited for.
const parentPollInterval = 250 * time.Millisecond

// parentWatch tells when the process that started this one exits.
type parentWatch struct {
	gone     chan struct{} // closed when the parent has exited
	stopOnce sync.Once
	stopped  chan struct{} // closed by stop
	done     chan struct{} // closed when the watching goroutine has returned
	release  func()        // frees what the watch holds, after done
}

// stop ends the watch and waits for its goroutine.
func (w *parentWatch) stop() {
	w.stopOnce.Do(func() { close(w.stopped) })
	<-w.done
	if w.release != nil {
		w.release()
	}
}

// errNoParent is returned by watchParent when there is no parent worth
// watching: the process was started by init (or a container's first
// process), whose exit ends everything anyway.
var errNoParent = errors.New("no parent process to watch")

// watchParent starts watching the parent process. On Linux it waits for
// the parent on a pidfd, an event the kernel sends when it exits; elsewhere
// it checks every parentPollInterval whether the process has been
// re-parented.
func watchParent(logger *slog.Logger) (*parentWatch, error) {
	ppid := os.Getppid()
	if ppid <= 1 {
		return nil, errNoParent
	}
	w := &parentWatch{gone: make(chan struct{}), stopped: make(chan struct{}), done: make(chan struct{})}
	wait, release, err := waitForProcess(ppid)
	if err == nil {
		w.release = release
		go func() {
			defer close(w.done)
			if wait(w.stopped) {
				close(w.gone)
			}
		}()
		return w, nil
	}
	logger.Debug("watching the parent process by polling", "reason", err)
	go func() {
		defer close(w.done)
		t := time.NewTicker(parentPollInterval)
		defer t.Stop()
		for {
			select {
			case <-w.stopped:
				return
			case <-t.C:
				if os.Getppid() != ppid {
					close(w.gone)
					return
				}
			}
		}
	}()
	return w, nil
}

// WatchParent returns a channel that is closed when the process that
// started this one exits, as when `go run` under `genkit start` is killed
// and leaves the program it built behind. [Runtime.Serve] shuts down on it
// by itself; an app serving [Runtime.Handler] in its own server can do the
// same. The watch ends with ctx. The channel is never closed when there is
// no parent to watch (the process was started by init).
func WatchParent(ctx context.Context) <-chan struct{} {
	gone := make(chan struct{})
	w, err := watchParent(slog.New(slog.DiscardHandler))
	if err != nil {
		return gone
	}
	go func() {
		defer w.stop()
		select {
		case <-w.gone:
			close(gone)
		case <-ctx.Done():
		}
	}()
	return gone
}
