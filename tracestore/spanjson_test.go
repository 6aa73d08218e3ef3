package tracestore

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// jsonSpans records spans with every kind of field and attribute, strings
// that need escaping included, and returns the ended ones and one still
// running.
func jsonSpans(t *testing.T) (ended []sdktrace.ReadOnlySpan, running sdktrace.ReadOnlySpan) {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	tracer := tp.Tracer("genkit-tracer", trace.WithInstrumentationVersion("v1"), trace.WithSchemaURL("https://example.com/schema"))
	every := []attribute.KeyValue{
		attribute.String("genkit:input", `{"q":"<a & b>","n":[1,2]}`),
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
		attribute.StringSlice("strings", []string{"a", "<b>"}),
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

// sameJSON fails unless got and want are JSON texts of the same value.
func sameJSON(t *testing.T, what string, got, want []byte) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("%s: not JSON: %v\n%s", what, err, got)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(w, g); diff != "" {
		t.Errorf("%s (-json.Marshal +appended):\n%s", what, diff)
	}
}

func TestAppendSpanJSON(t *testing.T) {
	ended, running := jsonSpans(t)
	for _, s := range append(ended, running) {
		for _, asStarted := range []bool{false, true} {
			sd := FromSpan(s)
			if asStarted {
				sd.EndTime = 0
			}
			want, err := json.Marshal(sd)
			if err != nil {
				t.Fatal(err)
			}
			appended := AppendSpanJSON([]byte("prefix"), s, asStarted)
			got, found := strings.CutPrefix(string(appended), "prefix")
			if !found {
				t.Fatal("dst not kept")
			}
			sameJSON(t, fmt.Sprintf("span %q (as started: %v)", s.Name(), asStarted), []byte(got), want)
			// <, > and & are written as they are, as JSON.stringify does.
			if strings.Contains(got, `\u003c`) {
				t.Errorf("span %q: HTML characters escaped: %s", s.Name(), got)
			}
		}
	}
}

func TestAppendTraceJSON(t *testing.T) {
	ended, running := jsonSpans(t)
	var same []sdktrace.ReadOnlySpan
	for _, s := range append(ended, running) {
		if s.SpanContext().TraceID() == running.SpanContext().TraceID() {
			same = append(same, s)
		}
	}
	started := func(s sdktrace.ReadOnlySpan) bool { return s == running || s.Name() == "root <flow>" }
	for _, spans := range [][]sdktrace.ReadOnlySpan{same, same[:1]} {
		td := TraceData{TraceID: same[0].SpanContext().TraceID().String(), Spans: map[string]SpanData{}}
		for _, s := range spans {
			sd := FromSpan(s)
			if started(s) {
				sd.EndTime = 0
			}
			td.Spans[sd.SpanID] = sd
			if sd.ParentSpanID == "" {
				td.DisplayName, td.StartTime, td.EndTime = &sd.DisplayName, &sd.StartTime, &sd.EndTime
			}
		}
		want, err := json.Marshal(td)
		if err != nil {
			t.Fatal(err)
		}
		got := AppendTraceJSON(nil, td.TraceID, len(spans), func(i int) (sdktrace.ReadOnlySpan, bool) {
			return spans[i], started(spans[i])
		})
		sameJSON(t, fmt.Sprintf("trace of %d spans", len(spans)), got, want)
	}
}
