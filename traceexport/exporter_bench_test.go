package traceexport

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// benchTrace records a trace of n Genkit-like spans with ~1 KB input and
// output each, and returns it as queued for one post.
func benchTrace(b *testing.B, n int) (string, *pendingTrace) {
	b.Helper()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer func() { _ = tp.Shutdown(context.Background()) }()
	tracer := tp.Tracer("genkit-tracer")
	ctx, root := tracer.Start(context.Background(), "flow")
	payload := `{"data":"` + strings.Repeat("x", 1000) + `"}`
	for i := range n - 1 {
		_, s := tracer.Start(ctx, fmt.Sprintf("step-%d", i))
		s.SetAttributes(attribute.String("genkit:type", "flowStep"), attribute.String("genkit:output", payload))
		s.End()
	}
	root.SetAttributes(attribute.String("genkit:input", payload), attribute.String("genkit:output", payload))
	root.End()
	pt := &pendingTrace{spans: map[string]*pendingSpan{}}
	for _, s := range rec.Ended() {
		id := s.SpanContext().SpanID().String()
		pt.spans[id] = &pendingSpan{end: s}
		pt.order = append(pt.order, id)
	}
	return root.SpanContext().TraceID().String(), pt
}

// BenchmarkBatchEncode measures building and encoding the body of one
// post: a trace of 1 and of 4 spans.
func BenchmarkBatchEncode(b *testing.B) {
	for _, n := range []int{1, 4} {
		id, pt := benchTrace(b, n)
		b.Run(fmt.Sprintf("spans=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				body := appendBatch(make([]byte, 0, bodyCap), id, pt)
				b.SetBytes(int64(len(body)))
			}
		})
	}
}

// BenchmarkEnqueue measures OnEnd, the cost a traced run pays per span
// when exporting is on, for a span whose earlier state is still queued
// (the server at the URL refuses connections, so the queue stays full).
func BenchmarkEnqueue(b *testing.B) {
	_, pt := benchTrace(b, 1)
	var span sdktrace.ReadOnlySpan
	for _, ps := range pt.spans {
		span = ps.end
	}
	exp := New(&Options{URL: "http://127.0.0.1:1", QueueSize: 1 << 20})
	defer func() {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_ = exp.Shutdown(ctx)
	}()
	b.ReportAllocs()
	for b.Loop() {
		exp.OnEnd(span)
	}
}
