package devruntime

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"net/url"
	"sync"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/genkit-runtime/genkit-runtime/guard"
	"github.com/genkit-runtime/genkit-runtime/internal/otlp"
	"github.com/genkit-runtime/genkit-runtime/traceexport"
	"github.com/genkit-runtime/genkit-runtime/tracestore"
)

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
	ownTP    bool // tp was made here, and is shut down here
	procs    []sdktrace.SpanProcessor
	store    *tracestore.Store
	exporter *traceexport.Exporter
	fixedURL bool // a telemetry URL was configured; notifications do not re-point
	logger   *slog.Logger

	mu      sync.Mutex // guards selfURL
	selfURL string     // the runtime's own URL; exporting there would store twice
}

func newTelemetry(ctx context.Context, o *Options, logger *slog.Logger) (*telemetry, error) {
	t := &telemetry{logger: logger, fixedURL: o.TelemetryServerURL != ""}
	var otlpProc sdktrace.SpanProcessor
	if o.OTLP.Endpoint != "" {
		p, err := otlp.NewProcessor(otlp.Config(o.OTLP), logger)
		if err != nil {
			return nil, err
		}
		logger.Info("exporting spans over OTLP/HTTP", "endpoint", o.OTLP.Endpoint)
		otlpProc = p
	}
	t.store = tracestore.New(&tracestore.Options{
		MaxTraces: o.MaxTraces, MaxBytes: o.MaxTraceBytes, Logger: logger,
		MaxTracesName: cmp.Or(o.MaxTracesName, "MaxTraces"), MaxBytesName: cmp.Or(o.MaxTraceBytesName, "MaxTraceBytes"),
	})
	t.exporter = traceexport.New(&traceexport.Options{Realtime: o.RealtimeTelemetry, Logger: logger,
		Concurrency: exportConcurrency, Linger: exportLinger})
	t.procs = []sdktrace.SpanProcessor{t.store, t.exporter}
	if otlpProc != nil {
		t.procs = append(t.procs, otlpProc)
	}
	if o.TracerProvider != nil {
		t.tp = o.TracerProvider
		for _, p := range t.procs {
			t.tp.RegisterSpanProcessor(p)
		}
		return t, nil
	}
	res := o.Resource
	if res == nil {
		var err error
		res, err = otlp.Resource(ctx, o.Name, o.getenv)
		if err != nil {
			return nil, err
		}
	}
	opts := []sdktrace.TracerProviderOption{sdktrace.WithSampler(sdktrace.AlwaysSample()), sdktrace.WithResource(res)}
	for _, p := range t.procs {
		opts = append(opts, sdktrace.WithSpanProcessor(p))
	}
	t.tp = sdktrace.NewTracerProvider(opts...)
	t.ownTP = true
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

// point re-points the exporter to u, unless u is the runtime itself, in
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
// register). A configured URL takes precedence.
func (t *telemetry) notified(u string) {
	if t.fixedURL || u == "" {
		return
	}
	t.point(u)
}

// shutdown flushes and stops what the runtime added: its own provider
// whole, or its processors on the app's provider.
func (t *telemetry) shutdown(ctx context.Context) error {
	if t.ownTP {
		return errors.Join(t.tp.Shutdown(ctx), t.exporter.Shutdown(ctx))
	}
	var errs []error
	for _, p := range t.procs {
		t.tp.UnregisterSpanProcessor(p)
		errs = append(errs, p.Shutdown(ctx))
	}
	return errors.Join(errs...)
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
	return ua.Hostname() == ub.Hostname() || (guard.IsLoopback(ua.Hostname()) && guard.IsLoopback(ub.Hostname()))
}
