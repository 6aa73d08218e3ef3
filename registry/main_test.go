package registry_test

import (
	"context"
	"sync"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// tracing is a real SDK tracer provider exporting synchronously to memory,
// plus a record of each span's attributes as they were when it started.
type tracing struct {
	tp     *sdktrace.TracerProvider
	exp    *tracetest.InMemoryExporter
	starts *startRecorder
}

func newTracing(t testing.TB) *tracing {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	starts := &startRecorder{attrs: map[string]map[string]any{}}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp), sdktrace.WithSpanProcessor(starts))
	t.Cleanup(func() { tp.Shutdown(context.Background()) })
	return &tracing{tp: tp, exp: exp, starts: starts}
}

// spans returns the ended spans by name; names must be unique in a test.
func (tr *tracing) spans(t testing.TB) map[string]tracetest.SpanStub {
	t.Helper()
	out := map[string]tracetest.SpanStub{}
	for _, s := range tr.exp.GetSpans() {
		if _, dup := out[s.Name]; dup {
			t.Fatalf("two spans named %q", s.Name)
		}
		out[s.Name] = s
	}
	return out
}

// startRecorder is a span processor keeping a copy of the attributes each
// span had at the moment it started, keyed by span ID.
type startRecorder struct {
	mu    sync.Mutex // guards attrs
	attrs map[string]map[string]any
}

func (r *startRecorder) OnStart(_ context.Context, s sdktrace.ReadWriteSpan) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.attrs[s.SpanContext().SpanID().String()] = attrMap(s.Attributes())
}

func (r *startRecorder) get(spanID string) map[string]any {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.attrs[spanID]
}

func (*startRecorder) OnEnd(sdktrace.ReadOnlySpan)      {}
func (*startRecorder) Shutdown(context.Context) error   { return nil }
func (*startRecorder) ForceFlush(context.Context) error { return nil }

func attrMap(kvs []attribute.KeyValue) map[string]any {
	m := make(map[string]any, len(kvs))
	for _, kv := range kvs {
		m[string(kv.Key)] = kv.Value.AsInterface()
	}
	return m
}
