package harness

import (
	"bytes"
	"io"
	"os/exec"
	"sync"
	"time"

	"github.com/genkit-runtime/genkit-runtime/conformance"
)

// waitDelay bounds the wait for the runtime's output pipes to close once
// the process has exited, in case a child it left behind holds them.
const waitDelay = 2 * time.Second

// process is a runtime command started in its own process group.
type process struct {
	cmd    *exec.Cmd
	output *tail
	// exited is closed when the process has exited; waitErr is then set.
	exited  chan struct{}
	waitErr error
}

// startProcess runs command with "sh -c" in dir, in a new process group.
func startProcess(command, dir string, env []string, out io.Writer) (*process, error) {
	cmd := exec.Command("sh", "-c", command)
	cmd.Dir = dir
	cmd.Env = env
	cmd.SysProcAttr = newGroupAttr()
	cmd.WaitDelay = waitDelay
	p := &process{cmd: cmd, output: &tail{max: outputKeep}, exited: make(chan struct{})}
	var w io.Writer = p.output
	if out != nil {
		w = io.MultiWriter(p.output, out)
	}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	return p, nil
}

// owns reports whether pid belongs to the process's group: the command
// itself or a process it started.
func (p *process) owns(pid int) bool {
	return pid == p.cmd.Process.Pid || inGroup(pid, p.cmd.Process.Pid)
}

// stop sends SIGTERM to the process group, then SIGKILL if the process has
// not exited within timeout, and waits for the exit.
func (p *process) stop(timeout time.Duration) *conformance.ShutdownResult {
	res := &conformance.ShutdownResult{Signal: "SIGTERM", ExitCode: -1}
	select {
	case <-p.exited:
		// It had already exited: nothing was signalled.
		res.Signal = ""
		res.Exited = true
		res.ExitCode = p.cmd.ProcessState.ExitCode()
		return res
	default:
	}
	start := time.Now()
	terminateGroup(p.cmd.Process)
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-p.exited:
		res.Exited = true
	case <-t.C:
		killGroup(p.cmd.Process)
		res.Killed = true
		<-p.exited
	}
	// Whatever the group leader did, leave nothing of the group behind.
	killGroup(p.cmd.Process)
	res.Elapsed = time.Since(start)
	res.ExitCode = p.cmd.ProcessState.ExitCode()
	return res
}

// tail keeps the last max bytes written to it. It is safe for concurrent
// use.
type tail struct {
	max int

	mu  sync.Mutex // guards buf
	buf []byte
}

func (t *tail) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, b...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(b), nil
}

// String returns what was kept, from the first whole line.
func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.buf
	if len(b) == t.max {
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	return string(b)
}
