package tracestore

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/genkit-runtime/genkit-runtime/fixture"
	"github.com/genkit-runtime/genkit-runtime/registry"
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

// boundFlows registers the flows BenchmarkStoreAtBound runs: the fixture's
// /flow/steps, and /flow/generate3, which asks the fixture's echo model
// three times for the answer to a prompt of ~250 bytes.
func boundFlows(tb testing.TB) *registry.Registry {
	tb.Helper()
	reg := registry.New(nil)
	if err := fixture.Register(reg); err != nil {
		tb.Fatal(err)
	}
	model, ok := reg.Lookup("/model/echoModel")
	if !ok {
		tb.Fatal("no /model/echoModel")
	}
	_, err := registry.DefineFlow(reg, "generate3", func(ctx context.Context, prompt string) (string, error) {
		req := &registry.Request{Input: json.RawMessage(`{"messages":[{"role":"user","content":[{"text":` + strconv.Quote(prompt) + `}]}]}`)}
		var res registry.Result
		for range 3 {
			var err error
			if res, err = model.Run(ctx, req, nil); err != nil {
				return "", err
			}
		}
		return string(res.Output), nil
	}, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return reg
}

// BenchmarkStoreAtBound measures the store filled to one of its default
// bounds by real runs recorded through a TracerProvider, each a trace of 4
// spans: /flow/steps with 3 steps (small spans: the Genkit attributes, and
// outputs of a few bytes) or /flow/generate3 (a flow and 3 model spans, each
// with an input and output of ~250 bytes). "max-traces" runs 1,500 flows
// into a store with the default options, which keeps the last 1,000;
// "max-bytes" lifts MaxTraces and runs flows until the default MaxBytes (64
// MiB) has made the store evict. Reported: the spans held, the heap they
// hold (heap-MiB, and heap-B/span) and the store's own estimate
// (est-B/span).
func BenchmarkStoreAtBound(b *testing.B) {
	reg := boundFlows(b)
	inputs := map[string]json.RawMessage{
		"steps":     json.RawMessage(`{"steps":3}`),
		"generate3": json.RawMessage(strconv.Quote(strings.Repeat("Tell me about the weather. ", 9))),
	}
	for _, flow := range []string{"steps", "generate3"} {
		a, ok := reg.Lookup("/flow/" + flow)
		if !ok {
			b.Fatalf("no /flow/%s", flow)
		}
		req := &registry.Request{Input: inputs[flow]}
		for _, bound := range []string{"max-traces", "max-bytes"} {
			b.Run(flow+"/"+bound, func(b *testing.B) {
				for b.Loop() {
					var before, after runtime.MemStats
					runtime.GC()
					runtime.ReadMemStats(&before)
					opts := &Options{}
					if bound == "max-bytes" {
						opts.MaxTraces = 1 << 30
					}
					store := New(opts)
					tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(store))
					run := &registry.RunOptions{TracerProvider: tp}
					for n := 0; ; n++ {
						if bound == "max-traces" && n == 1500 || bound == "max-bytes" && store.Stats().EvictedTraces > 0 {
							break
						}
						if _, err := a.Run(context.Background(), req, run); err != nil {
							b.Fatal(err)
						}
					}
					if err := tp.Shutdown(context.Background()); err != nil {
						b.Fatal(err)
					}
					runtime.GC()
					runtime.ReadMemStats(&after)
					st := store.Stats()
					heap := float64(after.HeapAlloc) - float64(before.HeapAlloc)
					b.ReportMetric(float64(st.Spans), "spans")
					b.ReportMetric(heap/(1<<20), "heap-MiB")
					b.ReportMetric(heap/float64(st.Spans), "heap-B/span")
					b.ReportMetric(float64(st.Bytes)/float64(st.Spans), "est-B/span")
					runtime.KeepAlive(store)
				}
			})
		}
	}
}

// BenchmarkStoreSubscribe measures a subscription to a 100-span trace of a
// store holding 100,000 spans: taking its snapshot ("snapshot": Subscribe
// and Close), and receiving the events of a span written to it
// ("event": one span ingested, its span_start and span_end received).
func BenchmarkStoreSubscribe(b *testing.B) {
	store := New(&Options{MaxTraces: 1000, MaxBytes: 1 << 40})
	fillStore(b, store, 1000, 100, false)
	id := fmt.Sprintf("%032x", 500)
	b.Run("snapshot", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			sub := store.Subscribe(id)
			if td, ok := sub.Snapshot(); !ok || len(td.Spans) != 100 {
				b.Fatal("trace not found")
			}
			sub.Close()
		}
	})
	b.Run("event", func(b *testing.B) {
		sub := store.Subscribe(id)
		defer sub.Close()
		attrs := attrsToMap(genkitAttrs)
		sd := span(id, fmt.Sprintf("%016x", 1000), fmt.Sprintf("%016x", 1), 1, 2, attrs)
		b.ReportAllocs()
		for b.Loop() {
			mustIngest(b, store, batch(id, sd))
			for range 2 {
				if ev := <-sub.Events(); ev.Span.SpanID != sd.SpanID {
					b.Fatalf("event for span %s", ev.Span.SpanID)
				}
			}
		}
	})
}
