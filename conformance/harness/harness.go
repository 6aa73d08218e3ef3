// Package harness provides the conformance suite's targets: it launches a
// runtime command (or attaches to a running v1 runtime) and serves the
// parts the suite plays around it, a recording telemetry sink and, over
// reflection v2, the manager the runtime dials.
//
// Unlike the conformance package, harness has process side effects by
// design: it listens on loopback ports, starts the command in its own
// process group and stops it with SIGTERM, then SIGKILL after a bound.
package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/genkit-runtime/genkit-runtime/conformance"
	"github.com/genkit-runtime/genkit-runtime/reflection/v2manager"
	"github.com/genkit-runtime/genkit-runtime/runtimefile"
)

// Defaults of LaunchOptions.
const (
	// DefaultStartTimeout bounds the wait for a launched runtime to be
	// reachable: its runtime file and a healthy answer (v1), or its
	// register (v2).
	DefaultStartTimeout = 60 * time.Second
	// DefaultStopTimeout is how long a runtime gets to exit after SIGTERM
	// before it is sent SIGKILL.
	DefaultStopTimeout = 5 * time.Second
)

// outputKeep is how much of a runtime's output is kept for reports.
const outputKeep = 64 << 10

// LaunchOptions configures Launch.
type LaunchOptions struct {
	// Name names the runtime in reports. If empty, the command.
	Name string
	// Command is the shell command that starts the runtime, run with
	// "sh -c". It is required.
	Command string
	// Dir is the folder the command runs in. If empty, a fresh temporary
	// folder holding the files SDKs look for to find their project root
	// (go.mod and package.json) is made, and removed by Close.
	Dir string
	// Transport is V1 (the default): the runtime serves HTTP and is
	// found through its runtime file; or V2: the runtime dials the
	// harness's manager, whose URL it gets in GENKIT_REFLECTION_V2_SERVER.
	Transport conformance.Transport
	// ExtraEnv holds NAME=value variables added to the environment after
	// Env is filtered, as a case controlling the launch asks
	// (conformance.Launch).
	ExtraEnv []string
	// Env is the environment the command starts from, usually
	// os.Environ(). Variables starting with GENKIT_ or OTEL_ are removed
	// so the caller's setup cannot change the runtime's behaviour;
	// GENKIT_ENV=dev is added. The telemetry server is not given in the
	// environment: the suite announces it through /api/notify (v1) or
	// the register answer (v2), which is part of what it tests.
	Env []string
	// ManagerDelay (V2) makes the manager listen only this long after the
	// command is started, on the address already given to it, so its
	// first dials fail.
	ManagerDelay time.Duration
	// StartTimeout bounds the start; if zero, DefaultStartTimeout.
	StartTimeout time.Duration
	// StopTimeout bounds the wait after SIGTERM; if zero,
	// DefaultStopTimeout.
	StopTimeout time.Duration
	// Output, if not nil, receives the runtime's standard output and
	// error as they come. The last 64 KiB are kept for reports either
	// way.
	Output io.Writer
	// Logger receives diagnostics. If nil, nothing is logged.
	Logger *slog.Logger
}

// Session is a target ready for the suite, and what it takes to tear it
// down. Close it when done.
type Session struct {
	// Target is the target to pass to conformance.Suite.Run.
	Target *conformance.Target

	logger      *slog.Logger
	servers     []*http.Server
	serveWG     sync.WaitGroup // the servers' Serve goroutines
	manager     *v2manager.Manager
	proc        *process // nil when attached
	stopTimeout time.Duration
	tempDir     string // removed by Close
	rtFile      string // the discovered runtime file, v1 launches
	stopOnce    sync.Once
	stopRes     *conformance.ShutdownResult
	stopErr     error
	closed      sync.Once
}

// Attach returns a session for the v1 runtime serving at url, which
// must already be running. The runtime was not discovered through a
// runtime file and cannot be stopped, so the cases needing that are
// unsupported.
func Attach(ctx context.Context, url, name string, logger *slog.Logger) (*Session, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if name == "" {
		name = url
	}
	s := &Session{logger: logger}
	sink := conformance.NewSink()
	sinkURL, err := s.serve(sink)
	if err != nil {
		return nil, err
	}
	s.Target = &conformance.Target{Name: name, Transport: conformance.V1, URL: strings.TrimSuffix(url, "/"),
		Sink: sink, SinkURL: sinkURL}
	return s, nil
}

// serve serves h on a new loopback port and returns its http:// URL.
func (s *Session) serve(h http.Handler) (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	return s.serveOn(l, h), nil
}

// serveOn serves h on l and returns its http:// URL.
func (s *Session) serveOn(l net.Listener, h http.Handler) string {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(s.logger.Handler(), slog.LevelDebug)}
	s.servers = append(s.servers, srv)
	s.serveWG.Go(func() { srv.Serve(l) })
	return "http://" + l.Addr().String()
}

// Launch starts the command and returns a session once the runtime is
// reachable. On error, everything started is stopped again.
func Launch(ctx context.Context, opts *LaunchOptions) (sess *Session, err error) {
	if opts == nil || opts.Command == "" {
		return nil, errors.New("harness: a command is required")
	}
	o := *opts
	if o.Transport == "" {
		o.Transport = conformance.V1
	}
	if o.StartTimeout <= 0 {
		o.StartTimeout = DefaultStartTimeout
	}
	if o.StopTimeout <= 0 {
		o.StopTimeout = DefaultStopTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Name == "" {
		o.Name = o.Command
	}
	s := &Session{logger: o.Logger, stopTimeout: o.StopTimeout}
	defer func() {
		if err != nil {
			s.Close()
			sess = nil
		}
	}()
	sink := conformance.NewSink()
	sinkURL, err := s.serve(sink)
	if err != nil {
		return nil, err
	}
	t := &conformance.Target{Name: o.Name, Transport: o.Transport, Command: o.Command, Sink: sink, SinkURL: sinkURL}
	s.Target = t

	dir := o.Dir
	if dir == "" {
		if dir, err = newProjectDir(); err != nil {
			return nil, err
		}
		s.tempDir = dir
	}
	if dir, err = filepath.Abs(dir); err != nil {
		return nil, err
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("harness: %s is not a folder", dir)
	}
	env := append(append(filterEnv(o.Env), o.ExtraEnv...), "GENKIT_ENV=dev")

	ctx, cancel := context.WithTimeout(ctx, o.StartTimeout)
	defer cancel()
	switch o.Transport {
	case conformance.V1:
		err = s.launchV1(ctx, &o, dir, env)
	case conformance.V2:
		err = s.launchV2(ctx, &o, dir, env, sinkURL)
	default:
		err = fmt.Errorf("harness: unknown transport %q", o.Transport)
	}
	if err != nil {
		return nil, err
	}
	s.settle(ctx)
	t.Shutdown = s.shutdown
	t.Output = s.proc.output.String
	t.Launch = func(ctx context.Context, l *conformance.Launch) (*conformance.Target, func(), error) {
		return relaunch(ctx, o, l)
	}
	return s, nil
}

// relaunch starts another instance of the command, as o did, with the
// settings of a case controlling the launch, and returns its target and
// the function that closes its session.
func relaunch(ctx context.Context, o LaunchOptions, l *conformance.Launch) (*conformance.Target, func(), error) {
	o.ExtraEnv = slices.Clone(o.ExtraEnv)
	for _, k := range slices.Sorted(maps.Keys(l.Env)) {
		o.ExtraEnv = append(o.ExtraEnv, k+"="+l.Env[k])
	}
	o.ManagerDelay = time.Duration(l.ManagerDelayMs) * time.Millisecond
	sess, err := Launch(ctx, &o)
	if err != nil {
		return nil, nil, err
	}
	return sess.Target, func() { sess.Close() }, nil
}

// Bounds of settle.
const (
	settleInterval = 100 * time.Millisecond
	settleMax      = 3 * time.Second
	listTimeout    = 2 * time.Second // one listing
)

// settle waits until the runtime lists the same actions twice in a row,
// settleInterval apart, for at most settleMax. An SDK may be reachable
// before the app has defined all its actions (the Go SDK starts its
// reflection server in genkit.Init, and the app defines its actions after
// it); the cases test it once its actions are there, as a person opening
// the Developer UI a moment later sees it.
//
// It never fails, and does not use up the start timeout: a listing that
// fails or does not settle is for the cases to report.
func (s *Session) settle(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), settleMax)
	defer cancel()
	list := s.listV1
	if s.Target.Manager != nil {
		list = s.listV2
	}
	prev, err := list(ctx)
	if err != nil {
		return
	}
	for {
		t := time.NewTimer(settleInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			s.logger.Debug("the runtime's actions did not settle", "within", settleMax)
			return
		case <-t.C:
		}
		cur, err := list(ctx)
		if err != nil || bytes.Equal(cur, prev) {
			return
		}
		s.logger.Debug("the runtime's actions are still changing")
		prev = cur
	}
}

// listV1 returns the body of GET /api/actions.
func (s *Session) listV1(ctx context.Context) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.Target.URL+"/api/actions", nil)
	if err != nil {
		return nil, err
	}
	client := &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}, Timeout: listTimeout}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /api/actions: HTTP %d", resp.StatusCode)
	}
	return io.ReadAll(resp.Body)
}

// listV2 returns the result of the listActions request.
func (s *Session) listV2(ctx context.Context) ([]byte, error) {
	rt, err := s.manager.WaitRuntime(ctx, "")
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, listTimeout)
	defer cancel()
	var res json.RawMessage
	if err := rt.Call(ctx, "listActions", nil, &res); err != nil {
		return nil, err
	}
	return res, nil
}

// newProjectDir makes a temporary project folder with the marker files
// the Genkit SDKs and CLI look for.
func newProjectDir() (string, error) {
	dir, err := os.MkdirTemp("", "genkit-conformance-")
	if err != nil {
		return "", err
	}
	files := map[string]string{
		"go.mod":       "module example.com/conformance\n\ngo 1.22\n",
		"package.json": `{"name": "conformance", "private": true}` + "\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			os.RemoveAll(dir)
			return "", err
		}
	}
	return dir, nil
}

// filterEnv drops the variables that would change what a runtime does.
func filterEnv(env []string) []string {
	var out []string
	for _, kv := range env {
		if strings.HasPrefix(kv, "GENKIT_") || strings.HasPrefix(kv, "OTEL_") {
			continue
		}
		out = append(out, kv)
	}
	return out
}

// launchV1 starts the command and finds its reflection server through its
// runtime file, as the CLI does.
func (s *Session) launchV1(ctx context.Context, o *LaunchOptions, dir string, env []string) error {
	root, err := runtimefile.FindRoot(dir)
	if err != nil {
		return err
	}
	events := make(chan runtimefile.Event, 64)
	w, err := runtimefile.NewWatcher(root, &runtimefile.WatcherOptions{
		Logger: s.logger,
		OnEvent: func(e runtimefile.Event) {
			if e.Kind != runtimefile.Added {
				return
			}
			select {
			case events <- e:
			default:
			}
		},
	})
	if err != nil {
		return err
	}
	wctx, stopWatch := context.WithCancel(ctx)
	watchDone := make(chan error, 1)
	go func() { watchDone <- w.Run(wctx) }()
	defer func() {
		stopWatch()
		<-watchDone
	}()

	if s.proc, err = startProcess(o.Command, dir, env, o.Output); err != nil {
		return err
	}
	client := &http.Client{Transport: &http.Transport{Proxy: nil}, Timeout: 2 * time.Second}
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("harness: no runtime file of the runtime appeared in %s: %w; output:\n%s", w.Dir(), ctx.Err(), s.proc.output.String())
		case <-s.proc.exited:
			return fmt.Errorf("harness: the runtime exited before it was found (%v); output:\n%s", s.proc.waitErr, s.proc.output.String())
		case err := <-watchDone:
			watchDone <- err
			return fmt.Errorf("harness: watching %s: %v", w.Dir(), err)
		case e := <-events:
			if !s.proc.owns(e.Info.PID) {
				s.logger.Debug("ignoring a runtime file of another process", "path", e.Path, "pid", e.Info.PID)
				continue
			}
			data, err := os.ReadFile(e.Path)
			if err != nil {
				continue
			}
			rf := &conformance.RuntimeFile{Path: e.Path, Data: data}
			// The CLI checks health the moment it sees the file, and drops
			// a runtime that does not answer; record that first answer.
			rf.HealthStatus, rf.HealthError = health(ctx, client, e.Info)
			if err := s.waitHealthy(ctx, client, e.Info, rf.HealthStatus); err != nil {
				return err
			}
			s.rtFile = e.Path
			s.Target.RuntimeFile = rf
			s.Target.URL = strings.TrimSuffix(e.Info.ReflectionServerURL, "/")
			return nil
		}
	}
}

// health makes one CLI health check and returns the status, or 0 and why.
func health(ctx context.Context, client *http.Client, info runtimefile.Info) (int, string) {
	err := runtimefile.CheckHealth(ctx, client, info)
	if err == nil {
		return http.StatusOK, ""
	}
	// CheckHealth does not return the status; ask again for it.
	req, rerr := http.NewRequestWithContext(ctx, http.MethodGet, info.ReflectionServerURL+"/api/__health?id="+info.ID, nil)
	if rerr != nil {
		return 0, err.Error()
	}
	resp, rerr := client.Do(req)
	if rerr != nil {
		return 0, err.Error()
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, err.Error()
}

// waitHealthy polls the runtime's health until it answers 200: to the
// CLI's check with its id, or else to a check without an id. A runtime
// that rejects its own advertised id (as JS and the Go SDK do with
// GENKIT_RUNTIME_ID set, protocol.md §1.2) is up all the same; the cases
// report the rejection, recorded in the first check.
func (s *Session) waitHealthy(ctx context.Context, client *http.Client, info runtimefile.Info, first int) error {
	if first == http.StatusOK {
		return nil
	}
	anyID := info
	anyID.ID = ""
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("harness: the runtime at %s never answered healthy: %w", info.ReflectionServerURL, ctx.Err())
		case <-s.proc.exited:
			return fmt.Errorf("harness: the runtime exited (%v); output:\n%s", s.proc.waitErr, s.proc.output.String())
		case <-tick.C:
			if runtimefile.CheckHealth(ctx, client, info) == nil {
				return nil
			}
			if runtimefile.CheckHealth(ctx, client, anyID) == nil {
				s.logger.Debug("the runtime answers health checks, but not with its own id", "id", info.ID)
				return nil
			}
		}
	}
}

// launchV2 serves a v2 manager, starts the command pointed at it and
// waits for the runtime to register.
func (s *Session) launchV2(ctx context.Context, o *LaunchOptions, dir string, env []string, sinkURL string) error {
	rec := &v2manager.Recorder{}
	m := v2manager.New(&v2manager.Options{TelemetryServerURL: sinkURL, OnMessage: rec.Record, Logger: s.logger})
	s.manager = m
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	addr := l.Addr().String()
	var u string
	if o.ManagerDelay > 0 {
		// Nothing listens there until listenLate.
		l.Close()
		u = "http://" + addr
	} else {
		u = s.serveOn(l, m)
	}
	s.Target.Manager, s.Target.Messages = m, rec
	wsURL := "ws" + strings.TrimPrefix(u, "http")
	env = append(env, "GENKIT_REFLECTION_V2_SERVER="+wsURL)
	if s.proc, err = startProcess(o.Command, dir, env, o.Output); err != nil {
		return err
	}
	if o.ManagerDelay > 0 {
		if err := s.listenLate(ctx, addr, m, o.ManagerDelay); err != nil {
			return err
		}
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-s.proc.exited:
			cancel()
		case <-wctx.Done():
		}
	}()
	if _, err := m.WaitRuntime(wctx, ""); err != nil {
		select {
		case <-s.proc.exited:
			return fmt.Errorf("harness: the runtime exited before it registered (%v); output:\n%s", s.proc.waitErr, s.proc.output.String())
		default:
		}
		return fmt.Errorf("harness: no runtime registered with %s: %w; output:\n%s", wsURL, err, s.proc.output.String())
	}
	return nil
}

// listenLate waits delay, unless the runtime exits first, then serves the
// manager at addr.
func (s *Session) listenLate(ctx context.Context, addr string, m *v2manager.Manager, delay time.Duration) error {
	t := time.NewTimer(delay)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-s.proc.exited:
		return fmt.Errorf("harness: the runtime exited while the manager was not listening yet (%v); output:\n%s", s.proc.waitErr, s.proc.output.String())
	case <-t.C:
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("harness: listening late for the runtime: %w", err)
	}
	s.serveOn(l, m)
	return nil
}

// shutdown is the target's Shutdown. Every wait in stop is bounded, so
// it does not need ctx.
func (s *Session) shutdown(_ context.Context) (*conformance.ShutdownResult, error) {
	return s.stop()
}

// stop stops the runtime once: SIGTERM to its process group, then
// SIGKILL after StopTimeout.
func (s *Session) stop() (*conformance.ShutdownResult, error) {
	s.stopOnce.Do(func() {
		if s.proc == nil {
			s.stopErr = errors.New("harness: no process to stop")
			return
		}
		res := s.proc.stop(s.stopTimeout)
		if s.rtFile != "" {
			_, err := os.Stat(s.rtFile)
			removed := errors.Is(err, os.ErrNotExist)
			res.RuntimeFileRemoved = &removed
		}
		if s.manager != nil {
			// The connection ends with the process; give the manager a
			// moment to notice.
			t := time.NewTimer(2 * time.Second)
			gone := true
			for _, rt := range s.manager.Runtimes() {
				select {
				case <-rt.Done():
				case <-t.C:
					gone = false
				}
			}
			t.Stop()
			res.Disconnected = &gone
		}
		s.stopRes = res
	})
	return s.stopRes, s.stopErr
}

// Close stops the runtime if it is still running, closes the servers and
// removes the temporary project folder. It is safe to call more than once.
func (s *Session) Close() error {
	s.closed.Do(func() {
		if s.proc != nil {
			s.stop()
		}
		if s.manager != nil {
			s.manager.Close()
		}
		for _, srv := range s.servers {
			srv.Close()
		}
		s.serveWG.Wait()
		if s.tempDir != "" {
			os.RemoveAll(s.tempDir)
		}
	})
	return nil
}
