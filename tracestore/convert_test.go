package tracestore

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

// runGenkitFlow records, through a real TracerProvider, a flow with a
// successful step and a failing model call, all with fixed times.
func runGenkitFlow(t testing.TB, tracer trace.Tracer) {
	t.Helper()
	ctx := context.Background()
	ctx, root := tracer.Start(ctx, "myFlow", trace.WithTimestamp(at(0)), trace.WithAttributes(
		attribute.String("genkit:type", "action"),
		attribute.String("genkit:metadata:subtype", "flow"),
		attribute.String("genkitx:team", "blue"),
	))
	stepCtx, step := tracer.Start(ctx, "step1", trace.WithTimestamp(at(1.25)), trace.WithAttributes(
		attribute.String("genkit:type", "flowStep"),
	))
	_ = stepCtx
	step.SetAttributes(
		attribute.String("genkit:name", "step1"),
		attribute.String("genkit:path", "/{myFlow,t:flow}/{step1,t:flowStep}"),
		attribute.String("genkit:output", `"ok"`),
		attribute.String("genkit:state", "success"),
		attribute.Int64("genkitx:tokens", 42),
		attribute.Float64("genkitx:ratio", 0.5),
		attribute.StringSlice("genkitx:tags", []string{"a", "b"}),
	)
	step.End(trace.WithTimestamp(at(2.5)))

	_, model := tracer.Start(ctx, "echoModel", trace.WithTimestamp(at(3)), trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("genkit:type", "action"), attribute.String("genkit:metadata:subtype", "model")))
	err := errors.New("model exploded")
	model.RecordError(err, trace.WithTimestamp(at(4)), trace.WithAttributes(
		attribute.String("exception.stacktrace", "Error: model exploded\n    at echoModel"),
	))
	model.SetStatus(codes.Error, err.Error())
	model.SetAttributes(
		attribute.String("genkit:name", "echoModel"),
		attribute.String("genkit:state", "error"),
		attribute.Bool("genkit:isFailureSource", true),
	)
	model.End(trace.WithTimestamp(at(5)))

	root.SetAttributes(
		attribute.String("genkit:name", "myFlow"),
		attribute.String("genkit:path", "/{myFlow,t:flow}"),
		attribute.String("genkit:input", `"hi"`),
		attribute.String("genkit:state", "error"),
		attribute.Bool("genkit:isRoot", true),
	)
	root.SetStatus(codes.Error, "model exploded")
	root.End(trace.WithTimestamp(at(6)))
}

func TestFromSpanGolden(t *testing.T) {
	store := New(nil)
	runGenkitFlow(t, newProvider(t, store))

	td, ok := store.Get("00000000000000000000000000000001")
	if !ok {
		t.Fatal("trace not stored")
	}
	got, err := json.MarshalIndent(td, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "flow_trace.golden.json")
	if *update {
		if err := os.WriteFile(golden, append(got, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	var wantV, gotV any
	if err := json.Unmarshal(want, &wantV); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(got, &gotV); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(wantV, gotV); diff != "" {
		t.Errorf("stored trace mismatch (-want +got):\n%s", diff)
	}
}

func TestFromSpanFields(t *testing.T) {
	store := New(nil)
	runGenkitFlow(t, newProvider(t, store))
	td, _ := store.Get("00000000000000000000000000000001")

	root := td.Spans["0000000000000001"]
	if root.ParentSpanID != "" {
		t.Errorf("root parentSpanId = %q, want empty", root.ParentSpanID)
	}
	if diff := cmp.Diff(&Status{Code: StatusError, Message: "model exploded"}, root.Status); diff != "" {
		t.Errorf("root status (-want +got):\n%s", diff)
	}
	if root.Attributes["genkit:isRoot"] != true {
		t.Errorf("genkit:isRoot = %#v, want bool true", root.Attributes["genkit:isRoot"])
	}
	step := td.Spans["0000000000000002"]
	if diff := cmp.Diff(&Status{Code: StatusUnset}, step.Status); diff != "" {
		t.Errorf("step status (-want +got):\n%s", diff)
	}
	if step.ParentSpanID != root.SpanID {
		t.Errorf("step parentSpanId = %q, want %q", step.ParentSpanID, root.SpanID)
	}
	if step.StartTime != 1_700_000_000_001.25 || step.EndTime != 1_700_000_000_002.5 {
		t.Errorf("step times = %v..%v, want fractional ms", step.StartTime, step.EndTime)
	}
	model := td.Spans["0000000000000003"]
	wantEvents := &TimeEvents{TimeEvent: []TimeEvent{{
		Time: 1_700_000_000_004,
		Annotation: Annotation{
			Description: "exception",
			Attributes: map[string]any{
				"exception.type":       "*errors.errorString",
				"exception.message":    "model exploded",
				"exception.stacktrace": "Error: model exploded\n    at echoModel",
			},
		},
	}}}
	if diff := cmp.Diff(wantEvents, model.TimeEvents); diff != "" {
		t.Errorf("model timeEvents (-want +got):\n%s", diff)
	}
	if model.SpanKind != "CLIENT" {
		t.Errorf("model spanKind = %q, want CLIENT", model.SpanKind)
	}
	if diff := cmp.Diff(&TimeEvents{TimeEvent: []TimeEvent{}}, step.TimeEvents); diff != "" {
		t.Errorf("step timeEvents (-want +got):\n%s", diff)
	}
}

func TestFromSpanRunning(t *testing.T) {
	store := New(nil)
	tracer := newProvider(t, store)
	ctx, root := tracer.Start(context.Background(), "slowFlow", trace.WithTimestamp(at(0)),
		trace.WithAttributes(attribute.String("genkit:type", "action")))
	_, child := tracer.Start(ctx, "child", trace.WithTimestamp(at(1)))

	td, ok := store.Get(root.SpanContext().TraceID().String())
	if !ok {
		t.Fatal("running trace not stored")
	}
	for _, s := range []trace.Span{root, child} {
		sd := td.Spans[s.SpanContext().SpanID().String()]
		if sd.EndTime != 0 {
			t.Errorf("running span %s endTime = %v, want 0", sd.DisplayName, sd.EndTime)
		}
	}
	if td.EndTime == nil || *td.EndTime != 0 {
		t.Errorf("running trace endTime = %v, want 0", td.EndTime)
	}
	if td.DisplayName == nil || *td.DisplayName != "slowFlow" {
		t.Errorf("trace displayName = %v, want slowFlow", td.DisplayName)
	}

	child.End(trace.WithTimestamp(at(2)))
	root.End(trace.WithTimestamp(at(3)))
	td, _ = store.Get(root.SpanContext().TraceID().String())
	if got := *td.EndTime; got != 1_700_000_000_003 {
		t.Errorf("ended trace endTime = %v", got)
	}
}

func TestFromSpanRemoteParentAndLinks(t *testing.T) {
	store := New(nil)
	tracer := newProvider(t, store)
	remote := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    trace.TraceID{0xaa, 15: 1},
		SpanID:     trace.SpanID{0xbb, 7: 1},
		TraceFlags: trace.FlagsSampled,
		Remote:     true,
	})
	ctx := trace.ContextWithRemoteSpanContext(context.Background(), remote)
	_, s := tracer.Start(ctx, "served", trace.WithLinks(trace.Link{
		SpanContext: remote,
		Attributes:  []attribute.KeyValue{attribute.String("why", "because")},
	}))
	s.End()

	td, ok := store.Get(remote.TraceID().String())
	if !ok {
		t.Fatal("trace not stored")
	}
	sd := td.Spans[s.SpanContext().SpanID().String()]
	if sd.ParentSpanID != remote.SpanID().String() {
		t.Errorf("parentSpanId = %q, want %q", sd.ParentSpanID, remote.SpanID())
	}
	if diff := cmp.Diff(&BoolValue{Value: false}, sd.SameProcessAsParentSpan); diff != "" {
		t.Errorf("sameProcessAsParentSpan (-want +got):\n%s", diff)
	}
	wantLinks := []Link{{
		Context:    &SpanContext{TraceID: remote.TraceID().String(), SpanID: remote.SpanID().String(), IsRemote: true, TraceFlags: 1},
		Attributes: map[string]any{"why": "because"},
	}}
	if diff := cmp.Diff(wantLinks, sd.Links); diff != "" {
		t.Errorf("links (-want +got):\n%s", diff)
	}
	if td.DisplayName != nil {
		t.Errorf("trace displayName = %q for a batch without a root, want unset", *td.DisplayName)
	}
}

func TestFromSpanStatusOK(t *testing.T) {
	store := New(nil)
	tracer := newProvider(t, store)
	_, s := tracer.Start(context.Background(), "ok")
	s.SetStatus(codes.Ok, "ignored")
	s.End()
	td, _ := store.Get(s.SpanContext().TraceID().String())
	if diff := cmp.Diff(&Status{Code: StatusOK}, td.Spans[s.SpanContext().SpanID().String()].Status); diff != "" {
		t.Errorf("status (-want +got):\n%s", diff)
	}
}

func TestAttrValueTypes(t *testing.T) {
	tests := []struct {
		name string
		in   attribute.Value
		want any
	}{
		{"bool", attribute.BoolValue(true), true},
		{"int", attribute.Int64Value(7), int64(7)},
		{"float", attribute.Float64Value(1.5), 1.5},
		{"nan", attribute.Float64Value(nan()), "NaN"},
		{"string", attribute.StringValue("s"), "s"},
		{"strings", attribute.StringSliceValue([]string{"a"}), []string{"a"}},
		{"ints", attribute.Int64SliceValue([]int64{1, 2}), []int64{1, 2}},
		{"bools", attribute.BoolSliceValue([]bool{true}), []bool{true}},
		{"floats", attribute.Float64SliceValue([]float64{0.5}), []any{0.5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, attrValue(tt.in)); diff != "" {
				t.Errorf("attrValue (-want +got):\n%s", diff)
			}
		})
	}
}

func nan() float64 {
	zero := 0.0
	return zero / zero
}
