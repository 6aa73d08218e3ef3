package runtimeproc

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/genkit-runtime/genkit-runtime/runtimefile"
)

const (
	// defaultReadyTimeout is RuntimeConfig.ReadyTimeout when it is zero.
	defaultReadyTimeout = 15 * time.Second
	// startAttempts bounds the starts of [StartRuntime] that fail because
	// another program took the free port.
	startAttempts = 3
	// pollInterval is how often AwaitReady looks for the runtime file and
	// asks for health: a child process offers nothing to wait on.
	pollInterval = 5 * time.Millisecond
	// healthTimeout bounds one health request of AwaitReady.
	healthTimeout = time.Second
	// outputInErrors bounds the output of a failed start quoted in its
	// error.
	outputInErrors = 4 << 10
)

// RuntimeFile is the runtime file of a ready runtime, as [Process.AwaitReady]
// found it.
type RuntimeFile struct {
	// Path is the file, in [runtimefile.Dir] of the project root.
	Path string
	// Info is its content. Info.ReflectionServerURL is the runtime's base
	// URL, such as http://127.0.0.1:3100.
	Info runtimefile.Info
}

// AwaitReady waits until the child is ready as a reflection v1 runtime of
// the project at root: it has written a runtime file whose pid is its own
// to [runtimefile.Dir](root), and the reflection server that file names
// answers GET /api/__health with 200 (see [runtimefile.CheckHealth]). It
// polls every few milliseconds and returns the runtime file. It fails when
// the child exits first or when ctx is done first; the child is left as it
// is either way.
func (p *Process) AwaitReady(ctx context.Context, root string) (RuntimeFile, error) {
	tr := &http.Transport{Proxy: nil, DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: healthTimeout}
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	var (
		rf    RuntimeFile
		found bool
	)
	for {
		if !found {
			rf, found = p.findRuntimeFile(root)
		}
		if found && runtimefile.CheckHealth(ctx, client, rf.Info) == nil {
			return rf, nil
		}
		select {
		case <-p.done:
			return RuntimeFile{}, fmt.Errorf("%s (pid %d) exited before it was ready: %v", p.name, p.PID(), p.err)
		case <-ctx.Done():
			return RuntimeFile{}, fmt.Errorf("%s (pid %d) not ready: %w", p.name, p.PID(), context.Cause(ctx))
		case <-tick.C:
		}
	}
}

// findRuntimeFile looks in the runtimes directory of root for a complete
// runtime file of the child.
func (p *Process) findRuntimeFile(root string) (RuntimeFile, bool) {
	dir := runtimefile.Dir(root)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return RuntimeFile{}, false
	}
	for _, e := range ents {
		// Names beginning with '.' are files being written.
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		path := filepath.Join(dir, e.Name())
		b, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		info, err := runtimefile.Parse(b)
		if err != nil || info.PID != p.PID() {
			continue
		}
		return RuntimeFile{Path: path, Info: info}, true
	}
	return RuntimeFile{}, false
}

// RuntimeConfig says how [StartRuntime] starts a genkit-runtime binary.
type RuntimeConfig struct {
	// Binary is the path of the genkit-runtime binary, e.g. from [Build].
	Binary string
	// Root is the project root: the working directory of the runtime and
	// the project whose runtimes directory gets its runtime file. It should
	// hold a project marker such as package.json, so that the runtime does
	// not take a directory above it for the root.
	Root string
	// Args are the runtime's arguments after "--port <port>".
	Args []string
	// Env holds KEY=VALUE entries added to [CleanEnv].
	Env []string
	// ReadyTimeout bounds the wait for each start to get ready. Zero means
	// 15 s.
	ReadyTimeout time.Duration
}

// StartRuntime starts a genkit-runtime binary as c says, on a free loopback
// port (--port), with its output captured, and waits until it is ready (see
// [Process.AwaitReady]). It returns the Process, which the caller ends, and
// the runtime file.
//
// Another program may take the free port before the runtime binds it; the
// runtime then exits at once, and StartRuntime starts it again on another
// port, up to three times in all. A runtime that does not get ready within
// c.ReadyTimeout, or before ctx is done, is killed, and the error carries
// the end of its output. ctx bounds the start only, not the life of the
// runtime.
func StartRuntime(ctx context.Context, c RuntimeConfig) (*Process, RuntimeFile, error) {
	var err error
	for range startAttempts {
		var (
			p  *Process
			rf RuntimeFile
		)
		if p, rf, err = startRuntimeOnce(ctx, c); err == nil {
			return p, rf, nil
		}
		if !errors.Is(err, errPortTaken) {
			break
		}
	}
	return nil, RuntimeFile{}, err
}

// errPortTaken is wrapped by the error of a start that failed because the
// port was taken.
var errPortTaken = errors.New("port taken")

// startRuntimeOnce is one attempt of [StartRuntime].
func startRuntimeOnce(ctx context.Context, c RuntimeConfig) (*Process, RuntimeFile, error) {
	port, err := FreePort()
	if err != nil {
		return nil, RuntimeFile{}, err
	}
	cmd := exec.Command(c.Binary, append([]string{"--port", strconv.Itoa(port)}, c.Args...)...)
	cmd.Dir = c.Root
	cmd.Env = CleanEnv(c.Env...)
	p, err := Start(cmd)
	if err != nil {
		return nil, RuntimeFile{}, err
	}
	timeout := c.ReadyTimeout
	if timeout <= 0 {
		timeout = defaultReadyTimeout
	}
	ctx, cancel := context.WithTimeoutCause(ctx, timeout, fmt.Errorf("no answer within %v", timeout))
	defer cancel()
	rf, err := p.AwaitReady(ctx, c.Root)
	if err != nil {
		p.Kill()
		out := p.Output()
		if strings.Contains(out, "address already in use") {
			err = fmt.Errorf("%w (%w)", err, errPortTaken)
		}
		return nil, RuntimeFile{}, fmt.Errorf("%w; output:\n%s", err, tail(out, outputInErrors))
	}
	return p, rf, nil
}
