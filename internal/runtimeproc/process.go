package runtimeproc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// defaultWaitDelay is the cmd.WaitDelay [Start] sets when the caller left it
// zero.
const defaultWaitDelay = 5 * time.Second

// Process is a child process started by [Start]. Its methods may be called
// from several goroutines.
type Process struct {
	cmd  *exec.Cmd
	name string  // the base name of the program, for messages
	out  *buffer // the output captured; empty when the caller routed it elsewhere

	done chan struct{} // closed once the child has exited and been reaped
	err  error         // what cmd.Wait returned; written before done is closed
}

// Start starts cmd and returns its Process. cmd must be configured (path,
// arguments, Dir, Env, SysProcAttr) but not started. If cmd.Stdout is nil,
// the child's standard output is captured in [Process.Output], and likewise
// cmd.Stderr; a writer the caller set is left alone. If cmd.WaitDelay is
// zero, it is set to 5 s, so that a grandchild that keeps the output pipe
// open cannot keep the Process from seeing the child's exit.
//
// From then on the Process owns cmd: the caller must not call cmd.Wait. A
// goroutine of the Process waits for the child; it ends when the child
// exits, which the caller ensures with [Process.Kill], [Process.Stop] or by
// letting the child end by itself and waiting for [Process.Done].
func Start(cmd *exec.Cmd) (*Process, error) {
	p := &Process{
		cmd:  cmd,
		name: filepath.Base(cmd.Path),
		out:  &buffer{},
		done: make(chan struct{}),
	}
	if cmd.Stdout == nil {
		cmd.Stdout = p.out
	}
	if cmd.Stderr == nil {
		cmd.Stderr = p.out
	}
	if cmd.WaitDelay == 0 {
		cmd.WaitDelay = defaultWaitDelay
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", p.name, err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// PID returns the process id of the child.
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Output returns what the child has written so far to the standard output
// and standard error that [Start] captured, interleaved as written.
func (p *Process) Output() string { return p.out.String() }

// Done returns a channel that is closed once the child has exited and been
// reaped.
func (p *Process) Done() <-chan struct{} { return p.done }

// ExitErr returns what exec.Cmd.Wait returned for the child: nil after an
// exit with status 0, an *exec.ExitError after any other exit. It blocks
// until the child has exited.
func (p *Process) ExitErr() error {
	<-p.done
	return p.err
}

// Signal sends sig to the child. It returns os.ErrProcessDone if the child
// has already exited and been reaped.
func (p *Process) Signal(sig os.Signal) error { return p.cmd.Process.Signal(sig) }

// Wait waits until the child has exited or ctx is done, whichever comes
// first, and returns the child's exit status: 0 for success, the status it
// exited with otherwise, -1 when a signal killed it. The error is not nil
// when ctx was done first (the child keeps running) or when the wait itself
// failed, e.g. because its output could not be copied.
func (p *Process) Wait(ctx context.Context) (int, error) {
	select {
	case <-p.done:
	case <-ctx.Done():
		return -1, fmt.Errorf("%s (pid %d) still running: %w", p.name, p.PID(), context.Cause(ctx))
	}
	if ee, ok := errors.AsType[*exec.ExitError](p.err); ok {
		return ee.ExitCode(), nil
	}
	if p.err != nil {
		return -1, fmt.Errorf("waiting for %s (pid %d): %w", p.name, p.PID(), p.err)
	}
	return 0, nil
}

// Kill kills the child with SIGKILL if it is still running and waits until
// it has been reaped. It does nothing for a child that has exited; it may
// be called more than once.
func (p *Process) Kill() {
	select {
	case <-p.done:
		return
	default:
	}
	// An error means the child has exited already; done closes soon.
	_ = p.cmd.Process.Kill()
	<-p.done
}

// Stop ends the child gracefully: it sends SIGTERM, waits up to grace for
// the child to exit and kills it if it has not. Stop returns once the child
// has been reaped. It returns nil when the child exits with status 0 (a
// child that exits by itself as the SIGTERM is sent included); a child that
// had exited before Stop, exited with another status or had to be killed
// gives an error.
func (p *Process) Stop(grace time.Duration) error {
	select {
	case <-p.done:
		if p.err != nil {
			return fmt.Errorf("%s (pid %d) had already exited: %w", p.name, p.PID(), p.err)
		}
		return fmt.Errorf("%s (pid %d) had already exited", p.name, p.PID())
	default:
	}
	if err := p.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		p.Kill()
		return fmt.Errorf("SIGTERM to %s (pid %d): %w; killed", p.name, p.PID(), err)
	}
	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case <-p.done:
		if p.err != nil {
			return fmt.Errorf("%s (pid %d) after SIGTERM: %w", p.name, p.PID(), p.err)
		}
		return nil
	case <-timer.C:
		p.Kill()
		return fmt.Errorf("%s (pid %d) did not exit within %v of SIGTERM; killed", p.name, p.PID(), grace)
	}
}

// buffer collects a child's output. Its methods may be called from several
// goroutines: the child's standard output and standard error are copied
// into it concurrently while readers take copies.
type buffer struct {
	mu  sync.Mutex // guards buf
	buf bytes.Buffer
}

// Write appends b to the buffer.
func (b *buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns a copy of what has been written.
func (b *buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// tail returns at most the last n bytes of s, without surrounding white
// space, for error messages.
func tail(s string, n int) string {
	if len(s) > n {
		s = s[len(s)-n:]
	}
	return strings.TrimSpace(s)
}
