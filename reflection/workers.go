package reflection

import (
	"sync"
	"time"
)

// workerIdle is how long a worker goroutine waits for more work before it
// ends.
const workerIdle = time.Second

// workers runs functions on goroutines that, once done, wait a while for
// the next function before they end. A run grows its goroutine's stack to
// tens of kilobytes (the run core, the span, the exporter), and a new
// goroutine grows it again, copying it at each step; a worker grows it
// once, as the goroutine of a kept-alive HTTP connection does for v1.
type workers struct {
	wg   *sync.WaitGroup // counts the workers
	work chan func()     // unbuffered: a send succeeds when a worker waits
	quit <-chan struct{} // closed to end the waiting workers
}

func newWorkers(wg *sync.WaitGroup, quit <-chan struct{}) *workers {
	return &workers{wg: wg, work: make(chan func()), quit: quit}
}

// Go calls f on a waiting worker, or on a new one.
func (w *workers) Go(f func()) {
	select {
	case w.work <- f:
	default:
		w.wg.Go(func() { w.loop(f) })
	}
}

// loop is a worker: it calls f, then the functions it is given, until none
// comes for workerIdle or quit is closed.
func (w *workers) loop(f func()) {
	var t *time.Timer
	for {
		f()
		if t == nil {
			t = time.NewTimer(workerIdle)
		} else {
			t.Reset(workerIdle)
		}
		select {
		case f = <-w.work:
		case <-t.C:
			return
		case <-w.quit:
			t.Stop()
			return
		}
	}
}
