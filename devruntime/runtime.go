package devruntime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rs/cors"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/genkit-runtime/genkit-runtime/guard"
	"github.com/genkit-runtime/genkit-runtime/reflection"
	"github.com/genkit-runtime/genkit-runtime/registry"
	"github.com/genkit-runtime/genkit-runtime/runtimefile"
	"github.com/genkit-runtime/genkit-runtime/tracestore"
)

// Runtime is a dev runtime over a registry: the Reflection API, the trace
// store and its telemetry API, and the exporters, behind the guards that
// keep a local server local. Make one with [New]; serve it with
// [Runtime.Serve], or mount [Runtime.Handler] in a server of your own and
// announce it with [Runtime.Announce]. Release it with [Runtime.Close].
type Runtime struct {
	reg     *registry.Registry
	opts    Options
	logger  *slog.Logger
	tel     *telemetry
	api     *reflection.Handler
	traces  *tracestore.Handler
	handler http.Handler
	root    string

	quitOnce sync.Once
	quit     chan struct{}

	closeOnce sync.Once
	closeErr  error
}

// New makes a runtime serving reg with opts (nil: the defaults). It starts
// no server and writes no file; it fails if opts are invalid (a CORS origin
// or OTLP endpoint that does not parse). Actions may be added to reg after
// New; the Developer UI sees the registry as it is when it asks.
func New(ctx context.Context, reg *registry.Registry, opts *Options) (*Runtime, error) {
	rt := &Runtime{reg: reg, quit: make(chan struct{})}
	if opts != nil {
		rt.opts = *opts
	}
	o := &rt.opts
	if o.Name == "" {
		o.Name = strings.TrimSuffix(filepath.Base(os.Args[0]), ".exe")
	}
	if o.Host == "" {
		o.Host = DefaultHost
	}
	if o.MaxTraces == 0 {
		o.MaxTraces = DefaultMaxTraces
	}
	if o.MaxTraceBytes == 0 {
		o.MaxTraceBytes = DefaultMaxTraceBytes
	}
	if o.ShutdownGrace == 0 {
		o.ShutdownGrace = DefaultShutdownGrace
	} else if o.ShutdownGrace < 0 {
		o.ShutdownGrace = 0
	}
	if o.Port < 0 || o.Port > 65535 {
		return nil, fmt.Errorf("devruntime: port %d is out of range", o.Port)
	}
	rt.logger = o.Logger
	if rt.logger == nil {
		rt.logger = slog.New(slog.DiscardHandler)
	}
	root := o.ProjectRoot
	if root == "" {
		wd, err := os.Getwd()
		if err != nil {
			return nil, fmt.Errorf("devruntime: finding the project root: %w", err)
		}
		if root, err = runtimefile.FindRoot(wd); err != nil {
			root = wd
		}
	}
	rt.root = root

	tel, err := newTelemetry(ctx, o, rt.logger)
	if err != nil {
		return nil, fmt.Errorf("devruntime: %w", err)
	}
	rt.tel = tel
	rt.api = reflection.NewHandler(reg, &reflection.Options{
		TracerProvider: tel.tp,
		Flusher:        tel.exporter,
		Version:        Version,
		RuntimeIDs:     nonEmpty(o.RuntimeID), // completed by Announce, which knows the port
		MaxBodyBytes:   o.MaxBodyBytes,
		OnNotify:       func(n reflection.Notification) { tel.notified(n.TelemetryServerURL) },
		OnQuit:         func() { rt.quitOnce.Do(func() { close(rt.quit) }) },
		Logger:         rt.logger,
	})
	rt.traces = tracestore.NewHandler(tel.store, nil)
	mux := http.NewServeMux()
	mux.Handle("/api/traces", rt.traces)
	mux.Handle("/api/traces/", rt.traces)
	mux.Handle("/", rt.api)
	h, err := rt.edge(mux)
	if err != nil {
		rt.tel.shutdown(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("devruntime: %w", err)
	}
	rt.handler = h
	return rt, nil
}

// nonEmpty returns s as a list, or nil when it is empty.
func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

// Handler returns the runtime's HTTP API: the Reflection API v1 and the
// trace store's telemetry API (/api/traces), behind panic recovery, the
// Host guard (on a loopback Host option), the Origin guard and CORS for the
// allowed origins. Every route it serves is under /api/, so an app mounts
// it with mux.Handle("/api/", rt.Handler()).
func (rt *Runtime) Handler() http.Handler { return rt.handler }

// TracerProvider returns the provider that makes the runtime's spans: the
// app's own ([Options.TracerProvider]) or the runtime's. Spans made with it
// inside an action, such as those of an instrumented HTTP client, are
// children of the run's span: they are kept in the trace store and exported
// with the run's trace. Inside an action,
// trace.SpanFromContext(ctx).TracerProvider() returns it too.
func (rt *Runtime) TracerProvider() *sdktrace.TracerProvider { return rt.tel.tp }

// Registry returns the registry the runtime serves.
func (rt *Runtime) Registry() *registry.Registry { return rt.reg }

// ProjectRoot returns the folder whose .genkit/runtimes holds the runtime
// file.
func (rt *Runtime) ProjectRoot() string { return rt.root }

// Quit returns a channel that is closed when a client asks the runtime to
// stop (GET /api/__quitquitquit), once its answer is sent. [Runtime.Serve]
// shuts down on it; an app serving [Runtime.Handler] itself decides.
func (rt *Runtime) Quit() <-chan struct{} { return rt.quit }

// CancelAction cancels the run in flight with the given trace ID, as the
// Developer UI's cancel does, and reports whether there was one.
func (rt *Runtime) CancelAction(traceID string) bool { return rt.api.CancelAction(traceID) }

// Close flushes and stops the runtime's telemetry: spans still queued are
// exported (within ctx), and a provider the runtime made is shut down.
// Call it once nothing runs any more. It is safe to call more than once.
func (rt *Runtime) Close(ctx context.Context) error {
	rt.closeOnce.Do(func() {
		rt.traces.Close()
		rt.closeErr = rt.tel.shutdown(ctx)
	})
	return rt.closeErr
}

// edge wraps h in the middleware that keeps it local: panic recovery, the
// Host guard (on loopback hosts), the Origin guard and CORS for the allowed
// origins.
func (rt *Runtime) edge(h http.Handler) (http.Handler, error) {
	o := &rt.opts
	policy := guard.DefaultOrigins()
	if len(o.CORSOrigins) > 0 {
		p, err := guard.NewOriginPolicy(o.CORSOrigins)
		if err != nil {
			return nil, err
		}
		policy = p
	}
	c := cors.New(cors.Options{
		AllowOriginFunc: policy.Allowed,
		AllowedMethods:  []string{http.MethodGet, http.MethodPost, http.MethodOptions},
		AllowedHeaders:  []string{"Content-Type", "Accept"},
		ExposedHeaders:  []string{reflection.HeaderTraceID, reflection.HeaderSpanID, reflection.HeaderVersion},
	})
	ms := []guard.Middleware{guard.Recover(rt.logger)}
	if guard.IsLoopback(o.Host) {
		ms = append(ms, guard.Hosts(append(append([]string{}, guard.LoopbackHosts...), o.AllowedHosts...)))
	} else if len(o.AllowedHosts) > 0 {
		ms = append(ms, guard.Hosts(o.AllowedHosts))
	}
	ms = append(ms, guard.Origins(policy), c.Handler)
	return guard.Chain(ms...)(h), nil
}

// Announce writes the runtime file that lets the Genkit CLI discover a
// runtime whose [Runtime.Handler] an app serves itself, at addr (the
// address its listener is bound to; an unspecified IP is advertised as
// 127.0.0.1). Call it once the server accepts connections: the CLI checks a
// new runtime's health at once. Remove the returned file when the server
// stops. It fails if the file cannot be written.
func (rt *Runtime) Announce(addr net.Addr) (*runtimefile.File, error) {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return nil, fmt.Errorf("devruntime: Announce: %w", err)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	self := "http://" + net.JoinHostPort(host, port)
	pid := os.Getpid()
	defaultID := strconv.Itoa(pid) + "-" + port
	id := rt.opts.RuntimeID
	if id == "" {
		id = defaultID
	}
	rt.api.SetRuntimeIDs(id, defaultID)
	rt.tel.setSelf(self, rt.opts.TelemetryServerURL)
	rt.removeStale()
	rf, err := runtimefile.Write(rt.root, runtimefile.Info{
		ID: id, PID: pid, Name: rt.opts.Name, ReflectionServerURL: self,
		GenkitVersion: "genkit-runtime/" + Version, ReflectionAPISpecVersion: reflection.SpecVersion,
		Timestamp: time.Now(),
	})
	if err != nil {
		return nil, fmt.Errorf("devruntime: the Genkit CLI could not discover this runtime: %w", err)
	}
	rt.logger.Info("runtime file written", "path", rf.Path())
	return rf, nil
}

// removeStale removes the runtime files of the project that name a process
// that no longer exists, so the CLI does not list runtimes that are gone.
func (rt *Runtime) removeStale() {
	removed, err := runtimefile.RemoveStale(rt.root)
	if len(removed) > 0 {
		rt.logger.Info("removed runtime files of processes that no longer exist", "dir", runtimefile.Dir(rt.root), "files", len(removed))
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		rt.logger.Debug("looking for stale runtime files", "err", err)
	}
}
