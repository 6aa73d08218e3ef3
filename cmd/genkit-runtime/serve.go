package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"sync"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/genkit-runtime/genkit-runtime/dap"
	"github.com/genkit-runtime/genkit-runtime/fixture"
	"github.com/genkit-runtime/genkit-runtime/internal/otlp"
	"github.com/genkit-runtime/genkit-runtime/reflection"
	"github.com/genkit-runtime/genkit-runtime/registry"
	"github.com/genkit-runtime/genkit-runtime/runtimefile"
	"github.com/genkit-runtime/genkit-runtime/traceexport"
	"github.com/genkit-runtime/genkit-runtime/tracestore"
)

// firstPort and lastPort bound the ports tried when none is configured,
// the range the Genkit SDKs use.
const firstPort, lastPort = 3100, 3199

// listen binds cfg's address: the configured port, else the first free
// port of the default range. It binds directly rather than probing, so no
// other process can take the port in between.
func listen(cfg *config) (net.Listener, error) {
	if cfg.port != 0 {
		return net.Listen("tcp", net.JoinHostPort(cfg.host, strconv.Itoa(cfg.port)))
	}
	var lastErr error
	for p := firstPort; p <= lastPort; p++ {
		l, err := net.Listen("tcp", net.JoinHostPort(cfg.host, strconv.Itoa(p)))
		if err == nil {
			return l, nil
		}
		lastErr = err
	}
	return nil, fmt.Errorf("no free port in %d..%d: %w", firstPort, lastPort, lastErr)
}

// isLoopback reports whether host (an IP or name) is a loopback address.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// advertisedURL is the reflection server URL written to the runtime file.
func advertisedURL(cfg *config, addr net.Addr) string {
	_, port, _ := net.SplitHostPort(addr.String())
	host := cfg.host
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// sameServer reports whether two URLs name the same loopback server, so a
// telemetry URL pointing at the runtime itself is recognised.
func sameServer(a, b string) bool {
	ua, err1 := url.Parse(a)
	ub, err2 := url.Parse(b)
	if err1 != nil || err2 != nil {
		return false
	}
	if ua.Port() != ub.Port() {
		return false
	}
	return ua.Hostname() == ub.Hostname() || (isLoopback(ua.Hostname()) && isLoopback(ub.Hostname()))
}

// exportConcurrency and exportLinger tune the export to a telemetry server:
// up to 8 traces are posted at once, and a span that ends within 20 ms of
// starting is sent once instead of at start and at end.
const (
	exportConcurrency = 8
	exportLinger      = 20 * time.Millisecond
)

// telemetry is the runtime's tracing: the tracer provider, the in-memory
// store and the exporter to a Genkit telemetry server.
type telemetry struct {
	tp       *sdktrace.TracerProvider
	store    *tracestore.Store
	exporter *traceexport.Exporter
	fixedURL bool // GENKIT_TELEMETRY_SERVER was set; notifications do not re-point
	logger   *slog.Logger

	mu      sync.Mutex // guards selfURL
	selfURL string     // the runtime's own URL; exporting there would store twice
}

func newTelemetry(ctx context.Context, cfg *config, logger *slog.Logger) (*telemetry, error) {
	t := &telemetry{logger: logger, fixedURL: cfg.telemetryURL != ""}
	t.store = tracestore.New(&tracestore.Options{MaxTraces: cfg.maxTraces, MaxBytes: cfg.maxTraceBytes, Logger: logger})
	t.exporter = traceexport.New(&traceexport.Options{Realtime: cfg.realtime, Logger: logger,
		Concurrency: exportConcurrency, Linger: exportLinger})
	res, err := otlp.Resource(ctx, cfg.name, cfg.getenv)
	if err != nil {
		return nil, err
	}
	opts := []sdktrace.TracerProviderOption{
		sdktrace.WithSampler(sdktrace.AlwaysSample()),
		sdktrace.WithResource(res),
		sdktrace.WithSpanProcessor(t.store),
		sdktrace.WithSpanProcessor(t.exporter),
	}
	proc, err := newOTLPProcessor(ctx, cfg, logger)
	if err != nil {
		return nil, err
	}
	if proc != nil {
		logger.Info("exporting spans over OTLP/HTTP", "endpoint", cfg.otlp.Endpoint)
		opts = append(opts, sdktrace.WithSpanProcessor(proc))
	}
	t.tp = sdktrace.NewTracerProvider(opts...)
	return t, nil
}

// setSelf records the runtime's own URL and applies the configured
// telemetry URL.
func (t *telemetry) setSelf(self string, configured string) {
	t.mu.Lock()
	t.selfURL = self
	t.mu.Unlock()
	if configured != "" {
		t.point(configured)
	}
}

// point re-points the exporter to url, unless url is the runtime itself, in
// which case spans are kept in the local store only.
func (t *telemetry) point(u string) {
	t.mu.Lock()
	self := t.selfURL
	t.mu.Unlock()
	if self != "" && sameServer(u, self) {
		t.logger.Info("telemetry server is this runtime; keeping traces in the local store only", "url", u)
		t.exporter.SetURL("")
		return
	}
	t.logger.Info("exporting traces to a Genkit telemetry server", "url", u)
	t.exporter.SetURL(u)
}

// notified handles a telemetry URL learned from the CLI (v1 notify or v2
// register). GENKIT_TELEMETRY_SERVER takes precedence.
func (t *telemetry) notified(u string) {
	if t.fixedURL || u == "" {
		return
	}
	t.point(u)
}

func (t *telemetry) shutdown(ctx context.Context) error {
	return errors.Join(t.tp.Shutdown(ctx), t.exporter.Shutdown(ctx))
}

// buildRegistry makes the registry the binary serves: the fixture and the
// configured extras.
func buildRegistry(cfg *config, tel *telemetry, logger *slog.Logger) (*registry.Registry, error) {
	reg := registry.New(&registry.Options{Logger: logger})
	if err := fixture.Register(reg); err != nil {
		return nil, err
	}
	dapOpts := &dap.Options{TracerProvider: tel.tp}
	if _, err := fixture.RegisterDAP(reg, dapOpts); err != nil {
		return nil, err
	}
	if cfg.syntheticDAP > 0 {
		if _, err := fixture.RegisterSyntheticDAP(reg, cfg.syntheticDAP, dapOpts); err != nil {
			return nil, err
		}
	}
	if err := registerExtras(reg, cfg); err != nil {
		return nil, err
	}
	return reg, nil
}

// serve runs the runtime until ctx ends.
func serve(ctx context.Context, cfg *config, stderr io.Writer) error {
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: cfg.logLevel}))
	otlp.SetErrorHandler(logger)
	tel, err := newTelemetry(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		if err := tel.shutdown(sctx); err != nil {
			logger.Warn("telemetry shutdown", "err", err)
		}
	}()
	reg, err := buildRegistry(cfg, tel, logger)
	if err != nil {
		return err
	}
	extras, err := startExtras(ctx, cfg, reg, tel, logger)
	if err != nil {
		return err
	}
	defer extras.stop()
	stopPprof, err := startPprof(cfg, logger)
	if err != nil {
		return err
	}
	defer stopPprof()

	if cfg.v2Server != "" {
		tel.setSelf("", cfg.telemetryURL)
		return serveV2(ctx, cfg, reg, tel, logger)
	}
	return serveV1(ctx, cfg, reg, tel, logger)
}

// serveV1 listens, writes the runtime file and serves the v1 HTTP API until
// ctx ends, then shuts down gracefully.
func serveV1(ctx context.Context, cfg *config, reg *registry.Registry, tel *telemetry, logger *slog.Logger) error {
	if !isLoopback(cfg.host) {
		logger.Warn("listening on a non-loopback address: anyone who can reach it can run this runtime's actions", "host", cfg.host)
	}
	l, err := listen(cfg)
	if err != nil {
		return err
	}
	_, portStr, _ := net.SplitHostPort(l.Addr().String())
	self := advertisedURL(cfg, l.Addr())
	pid := os.Getpid()
	defaultID := strconv.Itoa(pid) + "-" + portStr
	id := cfg.runtimeID
	if id == "" {
		id = defaultID
	}
	tel.setSelf(self, cfg.telemetryURL)

	quit := make(chan struct{})
	var quitOnce sync.Once
	h := reflection.NewHandler(reg, &reflection.Options{
		TracerProvider: tel.tp,
		Flusher:        tel.exporter,
		Version:        version,
		RuntimeIDs:     []string{id, defaultID},
		MaxBodyBytes:   cfg.maxBodyBytes,
		OnNotify:       func(n reflection.Notification) { tel.notified(n.TelemetryServerURL) },
		OnQuit:         func() { quitOnce.Do(func() { close(quit) }) },
		Logger:         logger,
	})
	mux := http.NewServeMux()
	traces := tracestore.NewHandler(tel.store, nil)
	mux.Handle("/api/traces", traces)
	mux.Handle("/api/traces/", traces)
	mux.Handle("/", h)
	handler, err := edge(cfg, mux, logger)
	if err != nil {
		l.Close()
		return err
	}

	runCtx, cancelRuns := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelRuns()
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		// Kept-alive connections of clients that went quiet are closed.
		IdleTimeout: 2 * time.Minute,
		BaseContext: func(net.Listener) context.Context { return runCtx },
		ErrorLog:    slog.NewLogLogger(logger.Handler(), slog.LevelDebug),
	}
	// Open trace streams never end by themselves: end them when shutdown
	// starts, so that they do not hold it for the whole grace period.
	srv.RegisterOnShutdown(traces.Close)
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(l) }()

	root, err := runtimefile.FindRoot(cfg.root)
	if err != nil {
		root = cfg.root
	}
	rf, err := runtimefile.Write(root, runtimefile.Info{
		ID: id, PID: pid, Name: cfg.name, ReflectionServerURL: self,
		GenkitVersion: "genkit-runtime/" + version, ReflectionAPISpecVersion: reflection.SpecVersion,
		Timestamp: time.Now(),
	})
	if err != nil {
		logger.Error("writing the runtime file failed; the Genkit CLI will not discover this runtime", "err", err)
	} else {
		logger.Info("runtime file written", "path", rf.Path())
	}
	logger.Info("genkit-runtime serving the Reflection API", "url", self, "id", id, "actions", len(reg.List()))

	select {
	case err := <-serveErr:
		if rf != nil {
			rf.Remove()
		}
		return err
	case <-ctx.Done():
		logger.Info("shutting down")
	case <-quit:
		logger.Info("quit requested; shutting down")
	}
	if rf != nil {
		if err := rf.Remove(); err != nil {
			logger.Warn("removing the runtime file", "err", err)
		}
	}
	// Runs in flight get the grace period to finish; then they are
	// cancelled, which still ends each with its final line.
	gctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(gctx); err != nil {
		cancelRuns()
		fctx, cancel2 := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel2()
		if err := srv.Shutdown(fctx); err != nil {
			srv.Close()
		}
	}
	<-serveErr
	return nil
}
