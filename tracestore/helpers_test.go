package tracestore

import (
	"context"
	"encoding/binary"
	"sync"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
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
