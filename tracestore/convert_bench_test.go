package tracestore

import (
	"context"
	"fmt"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// BenchmarkFromSpan measures converting one ended Genkit action span to
// its wire form, as the store and the exporter do.
func BenchmarkFromSpan(b *testing.B) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer func() { _ = tp.Shutdown(context.Background()) }()
	_, s := tp.Tracer("genkit-tracer").Start(context.Background(), "flow")
	s.SetAttributes(genkitAttrs...)
	s.End()
	span := rec.Ended()[0]
	b.ReportAllocs()
	for b.Loop() {
		if sd := FromSpan(span); sd.SpanID == "" {
			b.Fatal("no span id")
		}
	}
}

// BenchmarkStoreFill100k measures storing 100,000 spans (1,000 traces of
// 100 spans, posted a trace at a time) and then listing and reading them.
func BenchmarkStoreFill100k(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		store := New(&Options{MaxTraces: 1000, MaxBytes: 1 << 40})
		fillStore(b, store, 1000, 100, false)
		if st := store.Stats(); st.Spans != 100_000 {
			b.Fatalf("%d spans stored", st.Spans)
		}
	}
	b.ReportMetric(float64(b.N)*100_000/b.Elapsed().Seconds(), "spans/s")
}

// BenchmarkStoreGet measures reading one 100-span trace from a store
// holding 100,000 spans.
func BenchmarkStoreGet(b *testing.B) {
	store := New(&Options{MaxTraces: 1000, MaxBytes: 1 << 40})
	fillStore(b, store, 1000, 100, false)
	id := fmt.Sprintf("%032x", 500)
	b.ReportAllocs()
	for b.Loop() {
		if td, ok := store.Get(id); !ok || len(td.Spans) != 100 {
			b.Fatal("trace not found")
		}
	}
}
