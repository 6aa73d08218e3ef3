package clitest

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Default bounds of a [Session]'s start-up and shutdown.
const (
	defaultReadyTimeout = 60 * time.Second
	defaultStopTimeout  = 10 * time.Second
	// outputDrainTimeout bounds the wait for the output reader once every
	// process we know of is gone; a process that escaped the process group
	// may still hold the pipe open.
	outputDrainTimeout = 5 * time.Second
)

// StartOptions configures [Project.Start].
type StartOptions struct {
	// Command is the runtime command line placed after "--". Relative paths
	// are resolved against the project directory, which is the CLI's and the
	// runtime's working directory. If empty, "genkit start" runs without a
	// runtime and only watches the project for one.
	Command []string
	// NoUI passes --noui: no Developer UI and no tools API.
	NoUI bool
	// ReflectionV2 passes --experimental-reflection-v2: the CLI serves
	// reflection v2 over WebSocket and writes no runtime file.
	ReflectionV2 bool
	// Port pins the Developer UI port (-p). Zero lets the CLI pick one in
	// 4000-4099.
	Port int
	// Args holds further "genkit start" flags, e.g. --disable-realtime-telemetry.
	Args []string
	// Env holds extra KEY=VALUE entries for the CLI and, through it, the
	// runtime. If it sets GENKIT_TELEMETRY_SERVER the CLI starts no telemetry
	// server and that value is used as the telemetry URL.
	Env []string
	// ReadyTimeout bounds the wait for the CLI to print its addresses.
	// Zero means 60 s.
	ReadyTimeout time.Duration
	// StopTimeout bounds the graceful part of the shutdown. Zero means 10 s.
	StopTimeout time.Duration
}

// Session is a running "genkit start". It is stopped in t.Cleanup, or earlier
// by [Session.Stop]. Its methods may be called from several goroutines.
type Session struct {
	project     *Project
	pid         int // the CLI (node) process; also its process group id
	stopTimeout time.Duration
	transport   *http.Transport
	client      *http.Client
	output      *os.File // read end of the CLI's stdout+stderr pipe

	done    chan struct{} // closed once the CLI has exited and been reaped
	waitErr error         // the CLI's exit status; read only after done is closed

	outputDone     chan struct{} // closed when the output reader returns
	telemetryReady chan struct{} // closed once telemetryURL is known
	uiReady        chan struct{} // closed once uiURL is known

	mu           sync.Mutex // guards log, telemetryURL, uiURL and v2URL
	log          strings.Builder
	telemetryURL string
	uiURL        string
	v2URL        string

	stopOnce sync.Once
	stopErr  error // result of the one stop; read only after stopOnce.Do
}

// Start runs "genkit start --non-interactive [--noui]
// [--experimental-reflection-v2] [-p port] [args...] [-- command...]" in the
// project directory, in its own process group, with standard output and
// standard error captured (see [Session.Log]). It returns once the CLI has
// printed the telemetry API address and, unless opts.NoUI is set, the
// Developer UI address; it fails the test if the CLI exits first or
// opts.ReadyTimeout passes.
//
// At the end of the test the session is stopped as by [Session.Stop]; a
// shutdown that needed SIGKILL is logged.
func (p *Project) Start(t testing.TB, opts StartOptions) *Session {
	t.Helper()
	// The CLI creates this folder as well; creating it first lets
	// WaitRuntimeFile watch it from the beginning.
	if err := os.MkdirAll(filepath.Join(p.dir, ".genkit", "runtimes"), 0o755); err != nil {
		t.Fatalf("clitest: %v", err)
	}
	args := []string{"start", "--non-interactive"}
	if opts.NoUI {
		args = append(args, "--noui")
	}
	if opts.ReflectionV2 {
		args = append(args, "--experimental-reflection-v2")
	}
	if opts.Port != 0 {
		args = append(args, "-p", strconv.Itoa(opts.Port))
	}
	args = append(args, opts.Args...)
	if len(opts.Command) > 0 {
		args = append(args, "--")
		args = append(args, opts.Command...)
	}

	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatalf("clitest: %v", err)
	}
	cmd := exec.Command(p.genkit, args...)
	cmd.Dir = p.dir
	cmd.Env = append(p.Env(), opts.Env...)
	// The runtime inherits the CLI's stdio, so its output lands here too.
	cmd.Stdout = pw
	cmd.Stderr = pw
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		pr.Close()
		pw.Close()
		t.Fatalf("clitest: starting genkit start: %v", err)
	}
	pw.Close()

	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil
	s := &Session{
		project:        p,
		pid:            cmd.Process.Pid,
		stopTimeout:    orDefault(opts.StopTimeout, defaultStopTimeout),
		transport:      tr,
		client:         &http.Client{Transport: tr},
		output:         pr,
		done:           make(chan struct{}),
		outputDone:     make(chan struct{}),
		telemetryReady: make(chan struct{}),
		uiReady:        make(chan struct{}),
	}
	go s.readOutput(pr)
	go func() {
		s.waitErr = cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(func() {
		// Report only a stop made here; an explicit Stop returned its error.
		stoppedHere := false
		s.stopOnce.Do(func() {
			stoppedHere = true
			s.stopErr = s.stop()
		})
		if stoppedHere && s.stopErr != nil {
			t.Logf("clitest: %v\ngenkit start output:\n%s", s.stopErr, s.Log())
		}
	})

	if v, ok := envValue(opts.Env, "GENKIT_TELEMETRY_SERVER"); ok && v != "" {
		s.record(kindTelemetry, v)
	}
	type wait struct {
		what  string
		ready <-chan struct{}
	}
	waits := []wait{{"telemetry API address", s.telemetryReady}}
	if !opts.NoUI {
		waits = append(waits, wait{"Developer UI address", s.uiReady})
	}
	timeout := orDefault(opts.ReadyTimeout, defaultReadyTimeout)
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for _, w := range waits {
		select {
		case <-w.ready:
		case <-s.done:
			s.drainOutput()
			t.Fatalf("clitest: genkit start exited (%v) before printing the %s; output:\n%s", s.waitErr, w.what, s.Log())
		case <-timer.C:
			t.Fatalf("clitest: genkit start printed no %s within %v; output:\n%s", w.what, timeout, s.Log())
		}
	}
	return s
}

// orDefault returns d, or def when d is not positive.
func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// envValue returns the last value of name in env, a list of KEY=VALUE entries.
func envValue(env []string, name string) (string, bool) {
	val, found := "", false
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok && k == name {
			val, found = v, true
		}
	}
	return val, found
}

// readOutput copies the CLI's output into the log and records the addresses
// it announces. It returns when every writer has closed the pipe or the read
// end is closed.
func (s *Session) readOutput(r io.Reader) {
	defer close(s.outputDone)
	br := bufio.NewReader(r)
	for {
		line, err := br.ReadString('\n')
		if line != "" {
			s.mu.Lock()
			s.log.WriteString(line)
			s.mu.Unlock()
			if kind, u := parseLogLine(line); kind != kindNone {
				s.record(kind, u)
			}
		}
		if err != nil {
			return
		}
	}
}

// record stores the first address seen of each kind and signals it.
func (s *Session) record(kind logURLKind, u string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch kind {
	case kindTelemetry:
		if s.telemetryURL == "" {
			s.telemetryURL = u
			close(s.telemetryReady)
		}
	case kindUI:
		if s.uiURL == "" {
			s.uiURL = u
			close(s.uiReady)
		}
	case kindV2:
		if s.v2URL == "" {
			s.v2URL = u
		}
	}
}

// drainOutput waits, within a bound, for the output reader to take in what
// exited processes wrote before the log is reported.
func (s *Session) drainOutput() {
	t := time.NewTimer(outputDrainTimeout)
	defer t.Stop()
	select {
	case <-s.outputDone:
	case <-t.C:
	}
}

// Log returns everything the CLI and the runtime have written so far to
// standard output and standard error, interleaved as written.
func (s *Session) Log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.String()
}

// TelemetryURL returns the telemetry server address, e.g.
// "http://127.0.0.1:4033".
func (s *Session) TelemetryURL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.telemetryURL
}

// UIURL returns the Developer UI address as the CLI printed it, e.g.
// "http://localhost:4000", or "" with NoUI.
func (s *Session) UIURL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.uiURL
}

// ToolsURL returns the tools API base address with the loopback address the
// server binds (127.0.0.1) in place of "localhost", or "" with NoUI.
func (s *Session) ToolsURL() string {
	ui := s.UIURL()
	if ui == "" {
		return ""
	}
	u, err := url.Parse(ui)
	if err != nil {
		return ui
	}
	if u.Hostname() == "localhost" {
		u.Host = "127.0.0.1:" + u.Port()
	}
	return strings.TrimSuffix(u.String(), "/")
}

// ReflectionV2URL returns the reflection v2 WebSocket address the CLI
// printed (e.g. "ws://localhost:3200"), or "" when none has been seen. It is
// printed only with ReflectionV2, and possibly after Start returns.
func (s *Session) ReflectionV2URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.v2URL
}

// PID returns the process id of the CLI, which is also its process group id.
func (s *Session) PID() int { return s.pid }

// RuntimePID returns the process id of the CLI's first child, the runtime
// command (or the shell or launcher that runs it), or 0 if there is none.
func (s *Session) RuntimePID() int {
	select {
	case <-s.done:
		return 0
	default:
	}
	if kids := children(s.pid); len(kids) > 0 {
		return kids[0]
	}
	return 0
}

// Done returns a channel closed once the CLI has exited.
func (s *Session) Done() <-chan struct{} { return s.done }

// ExitErr returns the CLI's exit status as reported by exec.Cmd.Wait. It may
// be called only after Done is closed.
func (s *Session) ExitErr() error {
	<-s.done
	return s.waitErr
}

// Run runs "genkit args..." like [Project.Run], with GENKIT_TELEMETRY_SERVER
// set to the session's telemetry server so the command does not start one of
// its own.
func (s *Session) Run(ctx context.Context, args ...string) (string, error) {
	return s.project.RunEnv(ctx, []string{"GENKIT_TELEMETRY_SERVER=" + s.TelemetryURL()}, args...)
}

// WaitRuntimeFile waits until a runtime file (*.json holding valid JSON)
// exists in the project's .genkit/runtimes folder and returns its content.
// Only reflection v1 runtimes write one. It fails when ctx is done or the CLI
// exits first.
func (s *Session) WaitRuntimeFile(ctx context.Context) ([]byte, error) {
	dir := filepath.Join(s.project.dir, ".genkit", "runtimes")
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	defer w.Close()
	if err := w.Add(dir); err != nil {
		return nil, err
	}
	for {
		// Scan after every event: the file may be created, then written.
		if b, ok := readRuntimeFile(dir); ok {
			return b, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("no runtime file in %s: %w", dir, context.Cause(ctx))
		case <-s.done:
			if b, ok := readRuntimeFile(dir); ok {
				return b, nil
			}
			return nil, fmt.Errorf("genkit start exited (%v) before a runtime file appeared in %s", s.waitErr, dir)
		case _, ok := <-w.Events:
			if !ok {
				return nil, errors.New("runtime folder watcher closed")
			}
		case err, ok := <-w.Errors:
			if !ok {
				return nil, errors.New("runtime folder watcher closed")
			}
			return nil, fmt.Errorf("watching %s: %w", dir, err)
		}
	}
}

// readRuntimeFile returns the content of the first *.json file in dir that
// holds complete JSON.
func readRuntimeFile(dir string) ([]byte, bool) {
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err == nil && json.Valid(b) {
			return b, true
		}
	}
	return nil, false
}

// Stop ends the session: it sends SIGTERM to the CLI's descendants (the
// runtime and anything it started), upon which the CLI exits by itself, or
// SIGINT to the CLI when it has no runtime. If the CLI is still running after
// StopTimeout, it SIGKILLs the CLI's process group. Processes left in the
// group are killed too. Stop waits for the CLI to exit and is idempotent; it
// returns an error when the graceful path did not suffice.
func (s *Session) Stop() error {
	s.stopOnce.Do(func() { s.stopErr = s.stop() })
	return s.stopErr
}

func (s *Session) stop() error {
	var errs []error
	select {
	case <-s.done:
	default:
		kids := descendants(s.pid)
		if len(kids) == 0 {
			// With no runtime to wait for, the CLI never exits by itself, and
			// its telemetry server catches SIGTERM; SIGINT ends it.
			if err := syscall.Kill(s.pid, syscall.SIGINT); err != nil && !errors.Is(err, syscall.ESRCH) {
				errs = append(errs, fmt.Errorf("SIGINT to genkit (pid %d): %w", s.pid, err))
			}
		}
		// Deepest first, so a launcher (shell, go run) does not outlive the runtime.
		for i := len(kids) - 1; i >= 0; i-- {
			if err := syscall.Kill(kids[i], syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
				errs = append(errs, fmt.Errorf("SIGTERM to pid %d: %w", kids[i], err))
			}
		}
		timer := time.NewTimer(s.stopTimeout)
		select {
		case <-s.done:
			timer.Stop()
		case <-timer.C:
			errs = append(errs, fmt.Errorf("genkit start (pid %d) still running %v after SIGTERM to %v; killing its process group", s.pid, s.stopTimeout, kids))
			// The leader is not reaped yet, so the group id is still ours.
			if err := syscall.Kill(-s.pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
				errs = append(errs, fmt.Errorf("SIGKILL to process group %d: %w", s.pid, err))
			}
			<-s.done
		}
	}
	if err := killGroup(s.pid); err != nil {
		errs = append(errs, fmt.Errorf("killing leftover processes of group %d: %w", s.pid, err))
	}
	timer := time.NewTimer(outputDrainTimeout)
	select {
	case <-s.outputDone:
		timer.Stop()
	case <-timer.C:
		// Some process outside the group still holds the pipe; closing the
		// read end unblocks the reader.
	}
	if err := s.output.Close(); err != nil {
		errs = append(errs, err)
	}
	<-s.outputDone
	s.transport.CloseIdleConnections()
	return errors.Join(errs...)
}
