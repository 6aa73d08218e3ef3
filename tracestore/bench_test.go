package tracestore

import (
	"context"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// genkitAttrs are the attributes of a typical Genkit action span.
var genkitAttrs = []attribute.KeyValue{
	attribute.String("genkit:type", "action"),
	attribute.String("genkit:metadata:subtype", "model"),
	attribute.String("genkit:name", "googleai/gemini-2.5-flash"),
	attribute.String("genkit:path", "/{myFlow,t:flow}/{generate,t:util}/{googleai/gemini-2.5-flash,t:action,s:model}"),
	attribute.String("genkit:input", `{"messages":[{"role":"user","content":[{"text":"`+strings.Repeat("hello ", 40)+`"}]}]}`),
	attribute.String("genkit:output", `{"message":{"role":"model","content":[{"text":"`+strings.Repeat("world ", 40)+`"}]}}`),
	attribute.String("genkit:state", "success"),
}

// BenchmarkStoreOnEnd measures recording spans through a real
// TracerProvider: start (OnStart) and end (OnEnd), 100 spans per trace.
func BenchmarkStoreOnEnd(b *testing.B) {
	store := New(nil)
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(store))
	defer func() { _ = tp.Shutdown(context.Background()) }()
	tracer := tp.Tracer("genkit-tracer")
	ctx, root := tracer.Start(context.Background(), "root")
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		if n++; n%100 == 0 {
			root.End()
			ctx, root = tracer.Start(context.Background(), "root")
		}
		_, s := tracer.Start(ctx, "span", trace.WithAttributes(genkitAttrs[:2]...))
		s.SetAttributes(genkitAttrs[2:]...)
		s.End()
	}
	root.End()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "spans/s")
}

// BenchmarkStoreIngest measures merging posted batches of one span.
func BenchmarkStoreIngest(b *testing.B) {
	store := New(nil)
	attrs := attrsToMap(genkitAttrs)
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		id := strconv.Itoa(i / 100)
		sid := strconv.Itoa(i)
		parent := "r"
		if i%100 == 0 {
			parent = ""
			sid = "r"
		}
		if err := store.Ingest(batch(id, span(id, sid, parent, float64(i), float64(i+1), attrs))); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "spans/s")
}

// fillStore stores traces×spansPer spans with Genkit-like attributes. With
// unique, every span gets its own copy of the attribute strings, as real
// spans have.
func fillStore(tb testing.TB, s *Store, traces, spansPer int, unique bool) {
	attrs := attrsToMap(genkitAttrs)
	for t := range traces {
		id := fmt.Sprintf("%032x", t+1)
		td := TraceData{TraceID: id, Spans: map[string]SpanData{}}
		for i := range spansPer {
			parent := fmt.Sprintf("%016x", 1)
			if i == 0 {
				parent = ""
			}
			a := attrs
			if unique {
				a = make(map[string]any, len(attrs))
				for k, v := range attrs {
					a[k] = strings.Clone(v.(string))
				}
			}
			if i == 0 {
				a = map[string]any{"genkit:type": "action", "genkit:metadata:subtype": []string{"flow", "model"}[t%2], "genkit:name": "f"}
			}
			sd := span(id, fmt.Sprintf("%016x", i+1), parent, float64(t*1000+i), float64(t*1000+i+1), a)
			td.Spans[sd.SpanID] = sd
		}
		mustIngest(tb, s, td)
	}
}

// BenchmarkStoreList measures List with 100,000 spans stored.
func BenchmarkStoreList(b *testing.B) {
	for _, shape := range []struct{ traces, spansPer int }{{1000, 100}, {100_000, 1}} {
		store := New(&Options{MaxTraces: shape.traces, MaxBytes: 1 << 40})
		fillStore(b, store, shape.traces, shape.spansPer, false)
		queries := map[string]Query{
			"first-page": {},
			"filtered":   {Filter: &Filter{Eq: map[string]any{"type": "model"}, Gt: map[string]float64{"start": 1000}}},
			"deep-page":  {ContinuationToken: strconv.Itoa(shape.traces / 2)},
		}
		for name, q := range queries {
			b.Run(fmt.Sprintf("%dx%d/%s", shape.traces, shape.spansPer, name), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if r := store.List(q); len(r.Traces) == 0 {
						b.Fatal("empty page")
					}
				}
			})
		}
	}
}

// BenchmarkStoreBytesPerSpan reports the heap held per stored span next to
// the store's own estimate.
func BenchmarkStoreBytesPerSpan(b *testing.B) {
	const traces, spansPer = 100, 100
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		store := New(&Options{MaxBytes: 1 << 40})
		fillStore(b, store, traces, spansPer, true)
		runtime.GC()
		runtime.ReadMemStats(&after)
		spans := float64(store.Stats().Spans)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/spans, "heap-B/span")
		b.ReportMetric(float64(store.Stats().Bytes)/spans, "est-B/span")
		runtime.KeepAlive(store)
	}
}
