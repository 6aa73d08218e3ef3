package tracestore

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// seqIDs generates predictable trace and span ids: trace ids 0…01, 0…02
// and span ids counting up from 1.
type seqIDs struct {
	mu    sync.Mutex // guards trace and span
	trace uint64
	span  uint64
}

func (g *seqIDs) NewIDs(context.Context) (trace.TraceID, trace.SpanID) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.trace++
	g.span++
	var tid trace.TraceID
	binary.BigEndian.PutUint64(tid[8:], g.trace)
	return tid, g.spanID()
}

func (g *seqIDs) NewSpanID(context.Context, trace.TraceID) trace.SpanID {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.span++
	return g.spanID()
}

func (g *seqIDs) spanID() trace.SpanID {
	var sid trace.SpanID
	binary.BigEndian.PutUint64(sid[:], g.span)
	return sid
}

// newProvider returns a TracerProvider feeding store, with predictable ids,
// and a Genkit-like tracer. The provider is shut down at the end of the test.
func newProvider(t testing.TB, store *Store) trace.Tracer {
	t.Helper()
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithSpanProcessor(store),
		sdktrace.WithIDGenerator(&seqIDs{}),
	)
	t.Cleanup(func() {
		if err := tp.Shutdown(context.Background()); err != nil {
			t.Errorf("TracerProvider.Shutdown: %v", err)
		}
	})
	return tp.Tracer("genkit-tracer", trace.WithInstrumentationVersion("v1"))
}

// ms returns a time at the given milliseconds after a fixed epoch offset.
func at(ms float64) time.Time {
	return time.UnixMilli(1_700_000_000_000).Add(time.Duration(ms * float64(time.Millisecond)))
}

func ptr[T any](v T) *T { return &v }

// span builds a minimal valid span.
func span(traceID, id, parent string, start, end float64, attrs map[string]any) SpanData {
	if attrs == nil {
		attrs = map[string]any{}
	}
	return SpanData{
		SpanID:                 id,
		TraceID:                traceID,
		ParentSpanID:           parent,
		StartTime:              start,
		EndTime:                end,
		Attributes:             attrs,
		DisplayName:            id,
		InstrumentationLibrary: InstrumentationLibrary{Name: "genkit-tracer", Version: "v1"},
		SpanKind:               "INTERNAL",
		Status:                 &Status{Code: 0},
	}
}

// batch builds a TraceData holding spans; trace-level fields are taken
// from a root span among them, as the Genkit exporter does.
func batch(traceID string, spans ...SpanData) TraceData {
	td := TraceData{TraceID: traceID, Spans: map[string]SpanData{}}
	for _, s := range spans {
		td.Spans[s.SpanID] = s
		if s.ParentSpanID == "" {
			td.DisplayName = ptr(s.DisplayName)
			td.StartTime = ptr(s.StartTime)
			td.EndTime = ptr(s.EndTime)
		}
	}
	return td
}

func mustIngest(t testing.TB, s *Store, tds ...TraceData) {
	t.Helper()
	for _, td := range tds {
		if err := s.Ingest(td); err != nil {
			t.Fatalf("Ingest(%s): %v", td.TraceID, err)
		}
	}
}

// spanSize returns the store's estimate (Stats.Bytes) for sd.
func spanSize(sd *SpanData) int64 {
	sp := encodeSpan(sd.TraceID, sd.SpanID, sd)
	return sp.size()
}

// traceOverhead is the store's estimate for a trace with a short id,
// without its spans.
var traceOverhead = traceSize(&storedTrace{id: "t0"})

// everySpan records spans with every kind of field and attribute (strings
// that need escaping, common Genkit strings and a long string repeated
// within a span included), through procs too, and returns the ended ones
// and one still running.
func everySpan(t *testing.T, procs ...sdktrace.SpanProcessor) (ended []sdktrace.ReadOnlySpan, running sdktrace.ReadOnlySpan) {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	opts := []sdktrace.TracerProviderOption{sdktrace.WithSpanProcessor(rec)}
	for _, p := range procs {
		opts = append(opts, sdktrace.WithSpanProcessor(p))
	}
	tp := sdktrace.NewTracerProvider(opts...)
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	tracer := tp.Tracer("genkit-tracer", trace.WithInstrumentationVersion("v1"), trace.WithSchemaURL("https://example.com/schema"))
	every := []attribute.KeyValue{
		attribute.String("genkit:type", "action"),
		attribute.String("genkit:input", `{"q":"<a & b>","n":[1,2]}`+strings.Repeat(" in", 100)),
		attribute.String("genkit:output", `{"q":"<a & b>","n":[1,2]}`+strings.Repeat(" in", 100)),
		attribute.String("escapes", "quote \" backslash \\ nl \n cr \r tab \t nul \x00 bell \x07 del \x7f"),
		attribute.String("unicode", "é 漢字 \u2028 \U0001F600"),
		attribute.String("not utf-8", "a\xffb\xc3"),
		attribute.String("empty", ""),
		attribute.String("we\"ird key\n", "v"),
		attribute.Bool("bool", true),
		attribute.Int64("int", -7),
		attribute.Int64("big", math.MaxInt64),
		attribute.Float64("float", 0.1),
		attribute.Float64("tiny", 1e-9),
		attribute.Float64("huge", 3e22),
		attribute.Float64("negzero", math.Copysign(0, -1)),
		attribute.Float64("inf", math.Inf(-1)),
		attribute.Float64("nan", math.NaN()),
		attribute.BoolSlice("bools", []bool{false, true}),
		attribute.Int64Slice("ints", []int64{1, -2}),
		attribute.Float64Slice("floats", []float64{0.5, math.NaN(), 1e300}),
		attribute.StringSlice("strings", []string{"a", "<b>", "action"}),
		attribute.StringSlice("no strings", []string{}),
		attribute.Float64Slice("no floats", []float64{}),
	}
	remote := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{0xaa, 15: 1}, SpanID: trace.SpanID{0xbb, 7: 1}, TraceFlags: trace.FlagsSampled, Remote: true,
	})
	ctx, root := tracer.Start(context.Background(), "root <flow>", trace.WithAttributes(every...), trace.WithSpanKind(trace.SpanKindServer))
	_, child := tracer.Start(ctx, "child", trace.WithLinks(
		trace.Link{SpanContext: remote, Attributes: []attribute.KeyValue{attribute.String("why", "because")}},
		trace.Link{SpanContext: remote},
	), trace.WithSpanKind(trace.SpanKindProducer))
	child.AddEvent("note", trace.WithAttributes(attribute.Int64("n", 1)))
	child.RecordError(fmt.Errorf("boom \"quoted\""))
	child.SetStatus(codes.Error, "boom \"quoted\"")
	child.End()
	_, ok := tracer.Start(ctx, "ok", trace.WithSpanKind(trace.SpanKindConsumer))
	ok.SetStatus(codes.Ok, "")
	ok.End()
	_, served := tracer.Start(trace.ContextWithRemoteSpanContext(context.Background(), remote), "served",
		trace.WithSpanKind(trace.SpanKindClient))
	served.End()
	_, run := tracer.Start(ctx, "running", trace.WithAttributes(every[:4]...))
	run.AddEvent("started")
	t.Cleanup(func() { run.End() })
	root.End()
	return rec.Ended(), run.(sdktrace.ReadOnlySpan)
}
