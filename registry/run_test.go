package registry_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/genkit-runtime/genkit-runtime/registry"
	"github.com/genkit-runtime/genkit-runtime/status"
)

// TestRunSpanAttributes pins the attributes of every span a run makes to
// what the JS runtime records (protocol.md 6.1).
func TestRunSpanAttributes(t *testing.T) {
	type run struct {
		key     string
		input   string
		context map[string]any
	}
	tests := []struct {
		name  string
		run   run
		spans map[string]map[string]any // span name → all its attributes
	}{
		{
			name: "echo",
			run:  run{key: "/flow/echo", input: `{"a": [1, 2]}`},
			spans: map[string]map[string]any{"echo": {
				"genkit:type":             "action",
				"genkit:metadata:subtype": "flow",
				"genkit:key":              "/flow/echo",
				"genkit:name":             "echo",
				"genkit:path":             "/{echo,t:flow}",
				"genkit:input":            `{"a":[1,2]}`,
				"genkit:output":           `{"a":[1,2]}`,
				"genkit:state":            "success",
				"genkit:isRoot":           true,
				"genkit:metadata:context": "{}",
			}},
		},
		{
			name: "no input",
			run:  run{key: "/flow/echo"},
			spans: map[string]map[string]any{"echo": {
				"genkit:type":             "action",
				"genkit:metadata:subtype": "flow",
				"genkit:key":              "/flow/echo",
				"genkit:name":             "echo",
				"genkit:path":             "/{echo,t:flow}",
				"genkit:output":           `null`,
				"genkit:state":            "success",
				"genkit:isRoot":           true,
				"genkit:metadata:context": "{}",
			}},
		},
		{
			name: "context redacted",
			run: run{key: "/flow/echo", input: `1`, context: map[string]any{
				"auth": map[string]any{"uid": "u1"}, "secrets": "s3cr3t", "locale": "fr",
			}},
			spans: map[string]map[string]any{"echo": {
				"genkit:type":             "action",
				"genkit:metadata:subtype": "flow",
				"genkit:key":              "/flow/echo",
				"genkit:name":             "echo",
				"genkit:path":             "/{echo,t:flow}",
				"genkit:input":            `1`,
				"genkit:output":           `1`,
				"genkit:state":            "success",
				"genkit:isRoot":           true,
				"genkit:metadata:context": `{"auth":"<redacted>","locale":"fr","secrets":"<redacted>"}`,
			}},
		},
		{
			name: "tool root",
			run:  run{key: "/tool/add", input: `{"a":1,"b":2}`},
			spans: map[string]map[string]any{"add": {
				"genkit:type":             "action",
				"genkit:metadata:subtype": "tool",
				"genkit:key":              "/tool/add",
				"genkit:name":             "add",
				"genkit:path":             "/{add,t:action}",
				"genkit:input":            `{"a":1,"b":2}`,
				"genkit:output":           `3`,
				"genkit:state":            "success",
				"genkit:isRoot":           true,
				"genkit:metadata:context": "{}",
			}},
		},
		{
			name: "steps",
			run:  run{key: "/flow/steps", input: `{"steps":2}`},
			spans: map[string]map[string]any{
				"steps": {
					"genkit:type":             "action",
					"genkit:metadata:subtype": "flow",
					"genkit:key":              "/flow/steps",
					"genkit:name":             "steps",
					"genkit:path":             "/{steps,t:flow}",
					"genkit:input":            `{"steps":2}`,
					"genkit:output":           `["step-1","step-2"]`,
					"genkit:state":            "success",
					"genkit:isRoot":           true,
					"genkit:metadata:context": "{}",
				},
				"step-1": {
					"genkit:type":   "flowStep",
					"genkit:name":   "step-1",
					"genkit:path":   "/{steps,t:flow}/{step-1,t:flowStep}",
					"genkit:output": `"step-1"`,
					"genkit:state":  "success",
				},
				"step-2": {
					"genkit:type":   "flowStep",
					"genkit:name":   "step-2",
					"genkit:path":   "/{steps,t:flow}/{step-2,t:flowStep}",
					"genkit:output": `"step-2"`,
					"genkit:state":  "success",
				},
			},
		},
		{
			name: "nested tool",
			run:  run{key: "/flow/f", input: `{"a":1,"b":2}`},
			spans: map[string]map[string]any{
				"f": {
					"genkit:type":             "action",
					"genkit:metadata:subtype": "flow",
					"genkit:key":              "/flow/f",
					"genkit:name":             "f",
					"genkit:path":             "/{f,t:flow}",
					"genkit:input":            `{"a":1,"b":2}`,
					"genkit:output":           `3`,
					"genkit:state":            "success",
					"genkit:isRoot":           true,
					"genkit:metadata:context": "{}",
				},
				"add": {
					"genkit:type":             "action",
					"genkit:metadata:subtype": "tool",
					"genkit:key":              "/tool/add",
					"genkit:name":             "add",
					"genkit:path":             "/{f,t:flow}/{add,t:action,s:tool}",
					"genkit:input":            `{"a":1,"b":2}`,
					"genkit:output":           `3`,
					"genkit:state":            "success",
				},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := newTracing(t)
			r := fixtureRegistry(t)
			defineNestedToolFlow(t, r)
			a, _ := r.Lookup(tt.run.key)
			req := &registry.Request{Context: tt.run.context}
			if tt.run.input != "" {
				req.Input = json.RawMessage(tt.run.input)
			}
			res, err := a.Run(context.Background(), req, &registry.RunOptions{TracerProvider: tr.tp})
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			spans := tr.spans(t)
			got := map[string]map[string]any{}
			for name, s := range spans {
				got[name] = attrMap(s.Attributes)
				if s.Status.Code != codes.Unset {
					t.Errorf("span %s status = %v, want unset", name, s.Status)
				}
				if s.InstrumentationScope.Name != registry.TracerName || s.InstrumentationScope.Version != registry.TracerVersion {
					t.Errorf("span %s scope = %+v", name, s.InstrumentationScope)
				}
				if s.SpanContext.TraceID().String() != res.TraceID {
					t.Errorf("span %s is in trace %s, want the run's %s", name, s.SpanContext.TraceID(), res.TraceID)
				}
			}
			if diff := cmp.Diff(tt.spans, got); diff != "" {
				t.Errorf("span attributes (-want +got):\n%s", diff)
			}
			root := spans[a.Descriptor().Name]
			if root.Parent.IsValid() {
				t.Errorf("root span has parent %v", root.Parent)
			}
			if root.SpanContext.SpanID().String() != res.SpanID {
				t.Errorf("Result.SpanID = %s, want the root span's %s", res.SpanID, root.SpanContext.SpanID())
			}
			for name, s := range spans {
				if name != root.Name && s.Parent.SpanID() != root.SpanContext.SpanID() {
					t.Errorf("span %s has parent %s, want the root %s", name, s.Parent.SpanID(), root.SpanContext.SpanID())
				}
			}
		})
	}
}

// defineNestedToolFlow registers /flow/f, which runs /tool/add as a nested
// action (the tracer provider comes from the flow's span).
func defineNestedToolFlow(t testing.TB, r *registry.Registry) {
	t.Helper()
	_, err := registry.DefineFlow(r, "f", func(ctx context.Context, in json.RawMessage) (json.RawMessage, error) {
		add, ok := r.Lookup("/tool/add")
		if !ok {
			return nil, errors.New("no /tool/add")
		}
		res, err := add.Run(ctx, &registry.Request{Input: in}, nil)
		return res.Output, err
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
}

func TestRunTelemetryLabelsAtStart(t *testing.T) {
	tr := newTracing(t)
	r := fixtureRegistry(t)
	a, _ := r.Lookup("/flow/steps")
	labels := map[string]string{"myLabel": "v1", "genkitx:foo": "bar"}
	res, err := a.Run(context.Background(), &registry.Request{Input: json.RawMessage(`{"steps":1}`)},
		&registry.RunOptions{TracerProvider: tr.tp, TelemetryLabels: labels})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"genkit:type":             "action",
		"genkit:metadata:subtype": "flow",
		"genkit:key":              "/flow/steps",
		"myLabel":                 "v1",
		"genkitx:foo":             "bar",
		// Known before the span starts, so given at its start too.
		"genkit:metadata:context": "{}",
		"genkit:input":            `{"steps":1}`,
	}
	if diff := cmp.Diff(want, tr.starts.get(res.SpanID)); diff != "" {
		t.Errorf("root attributes at start (-want +got):\n%s", diff)
	}
	spans := tr.spans(t)
	if got := attrMap(spans["steps"].Attributes)["myLabel"]; got != "v1" {
		t.Errorf("root myLabel at end = %v, want v1", got)
	}
	if _, ok := attrMap(spans["step-1"].Attributes)["myLabel"]; ok {
		t.Error("a telemetry label was propagated to a child span")
	}
}

func TestRunOnStart(t *testing.T) {
	tr := newTracing(t)
	r := fixtureRegistry(t)
	a, _ := r.Lookup("/flow/echo")
	var started []trace.SpanContext
	res, err := a.Run(context.Background(), &registry.Request{Input: json.RawMessage(`1`)},
		&registry.RunOptions{TracerProvider: tr.tp, OnStart: func(sc trace.SpanContext) { started = append(started, sc) }})
	if err != nil {
		t.Fatal(err)
	}
	if len(started) != 1 || started[0].TraceID().String() != res.TraceID || started[0].SpanID().String() != res.SpanID {
		t.Errorf("OnStart calls = %v, want one with the run's IDs %s/%s", started, res.TraceID, res.SpanID)
	}
	// A run whose input fails validation never starts a span.
	g, _ := r.Lookup("/flow/greet")
	started = nil
	_, err = g.Run(context.Background(), &registry.Request{Input: json.RawMessage(`{"name":""}`)},
		&registry.RunOptions{TracerProvider: tr.tp, OnStart: func(sc trace.SpanContext) { started = append(started, sc) }})
	if status.CodeOf(err) != status.InvalidArgument || len(started) != 0 {
		t.Errorf("invalid run: err %v, OnStart calls %d; want INVALID_ARGUMENT and none", err, len(started))
	}
	if n := len(tr.exp.GetSpans()); n != 1 {
		t.Errorf("%d spans exported, want 1 (the invalid run has none)", n)
	}
}

// exceptionEvents returns the attributes of the span's "exception" events.
func exceptionEvents(evs []sdktrace.Event) []map[string]any {
	var out []map[string]any
	for _, e := range evs {
		if e.Name == "exception" {
			out = append(out, attrMap(e.Attributes))
		}
	}
	return out
}

func TestRunErrorSpans(t *testing.T) {
	tests := []struct {
		name string
		// fn is the body of flow "outer"; "inner" names its failing step when
		// it has one.
		fn          func(ctx context.Context) (any, error)
		inner       string
		wantCode    status.Code
		wantMsg     string
		cancelFirst bool
	}{
		{
			name: "status error",
			fn: func(context.Context) (any, error) {
				return nil, &status.Error{Code: status.NotFound, Message: "nope"}
			},
			wantCode: status.NotFound, wantMsg: "NOT_FOUND: nope",
		},
		{
			name:     "plain error",
			fn:       func(context.Context) (any, error) { return nil, errors.New("boom") },
			wantCode: status.Internal, wantMsg: "boom",
		},
		{
			name: "failing step",
			fn: func(ctx context.Context) (any, error) {
				return registry.Step(ctx, "inner", func(context.Context) (int, error) {
					return 0, &status.Error{Code: status.Aborted, Message: "step broke"}
				})
			},
			inner:    "inner",
			wantCode: status.Aborted, wantMsg: "ABORTED: step broke",
		},
		{
			name: "failing nested step, wrapped by outer step",
			fn: func(ctx context.Context) (any, error) {
				return registry.Step(ctx, "middle", func(ctx context.Context) (int, error) {
					v, err := registry.Step(ctx, "inner", func(context.Context) (int, error) {
						return 0, status.Errorf(status.DataLoss, "lost")
					})
					if err != nil {
						return 0, errors.Join(errors.New("middle"), err)
					}
					return v, nil
				})
			},
			inner:    "inner",
			wantCode: status.DataLoss, wantMsg: "DATA_LOSS: lost",
		},
		{
			name: "cancelled",
			fn: func(ctx context.Context) (any, error) {
				<-ctx.Done()
				return nil, ctx.Err()
			},
			cancelFirst: true,
			wantCode:    status.Cancelled, wantMsg: "Action was cancelled",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := newTracing(t)
			r := registry.New(nil)
			a, err := registry.DefineFlow(r, "outer", func(ctx context.Context, _ any) (any, error) { return tt.fn(ctx) }, nil)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tt.cancelFirst {
				cancel()
			}
			_, err = a.Run(ctx, &registry.Request{}, &registry.RunOptions{TracerProvider: tr.tp})
			if got := status.CodeOf(err); got != tt.wantCode {
				t.Errorf("code = %v, want %v (err %v)", got, tt.wantCode, err)
			}
			if got := status.FromError(err).Message; got != tt.wantMsg {
				t.Errorf("message = %q, want %q", got, tt.wantMsg)
			}
			spans := tr.spans(t)
			if id := registry.TraceIDOf(err); id == "" || id != spans["outer"].SpanContext.TraceID().String() {
				t.Errorf("TraceIDOf(err) = %q, want the run's trace %s", id, spans["outer"].SpanContext.TraceID())
			}
			source := "outer"
			if tt.inner != "" {
				source = tt.inner
			}
			for name, s := range spans {
				attrs := attrMap(s.Attributes)
				if attrs["genkit:state"] != "error" {
					t.Errorf("span %s state = %v, want error", name, attrs["genkit:state"])
				}
				_, isSource := attrs["genkit:isFailureSource"]
				if want := name == source; isSource != want || (want && attrs["genkit:isFailureSource"] != true) {
					t.Errorf("span %s isFailureSource = %v, want present: %v", name, attrs["genkit:isFailureSource"], want)
				}
				if s.Status.Code != codes.Error {
					t.Errorf("span %s status = %v, want Error", name, s.Status.Code)
				}
				if name == source && s.Status.Description != tt.wantMsg {
					t.Errorf("span %s status message = %q, want %q", name, s.Status.Description, tt.wantMsg)
				}
				evs := exceptionEvents(s.Events)
				if len(evs) != 1 {
					t.Errorf("span %s has %d exception events, want 1", name, len(evs))
					continue
				}
				if name == source && evs[0]["exception.message"] != tt.wantMsg {
					t.Errorf("span %s exception.message = %v, want %q", name, evs[0]["exception.message"], tt.wantMsg)
				}
				if evs[0]["exception.message"] != s.Status.Description {
					t.Errorf("span %s: exception.message %v differs from the status message %q", name, evs[0]["exception.message"], s.Status.Description)
				}
				if _, ok := evs[0]["exception.type"]; !ok {
					t.Errorf("span %s exception event lacks exception.type: %v", name, evs[0])
				}
			}
		})
	}
}

func TestRunPanic(t *testing.T) {
	tests := []struct {
		name string
		fn   func(ctx context.Context) (any, error)
	}{
		{"in the action", func(context.Context) (any, error) { panic("kaboom") }},
		{"in a step", func(ctx context.Context) (any, error) {
			return registry.Step(ctx, "s", func(context.Context) (int, error) { panic("kaboom") })
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := newTracing(t)
			r := registry.New(nil)
			a, err := registry.DefineFlow(r, "p", func(ctx context.Context, _ any) (any, error) { return tt.fn(ctx) }, nil)
			if err != nil {
				t.Fatal(err)
			}
			_, err = a.Run(context.Background(), nil, &registry.RunOptions{TracerProvider: tr.tp})
			st := status.FromError(err)
			if st.Code != status.Internal || !strings.Contains(st.Message, "kaboom") {
				t.Errorf("status = %d %q, want INTERNAL mentioning the panic", st.Code, st.Message)
			}
			stack, _ := st.Details["stack"].(string)
			if !strings.Contains(stack, "goroutine") {
				t.Errorf("details.stack = %q, want a goroutine stack", stack)
			}
			spans := tr.spans(t)
			p, ok := spans["p"]
			if !ok {
				t.Fatal("the panicking action's span was not ended")
			}
			if got := attrMap(p.Attributes)["genkit:state"]; got != "error" {
				t.Errorf("state = %v, want error", got)
			}
			if p.Status.Code != codes.Error {
				t.Errorf("status = %v, want Error", p.Status)
			}
			if len(spans) == 2 && spans["s"].EndTime.IsZero() {
				t.Error("the panicking step's span was not ended")
			}
		})
	}
}

func TestStepNesting(t *testing.T) {
	tr := newTracing(t)
	r := registry.New(nil)
	a, err := registry.DefineFlow(r, "f", func(ctx context.Context, _ any) (string, error) {
		return registry.Step(ctx, "a", func(ctx context.Context) (string, error) {
			return registry.Step(ctx, "b", func(ctx context.Context) (string, error) { return "deep", nil })
		})
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := a.Run(context.Background(), nil, &registry.RunOptions{TracerProvider: tr.tp})
	if err != nil || string(res.Output) != `"deep"` {
		t.Fatalf("Run = %s, %v", res.Output, err)
	}
	spans := tr.spans(t)
	want := map[string]string{"f": "/{f,t:flow}", "a": "/{f,t:flow}/{a,t:flowStep}", "b": "/{f,t:flow}/{a,t:flowStep}/{b,t:flowStep}"}
	got := map[string]string{}
	for name, s := range spans {
		got[name], _ = attrMap(s.Attributes)["genkit:path"].(string)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("paths (-want +got):\n%s", diff)
	}
	if spans["b"].Parent.SpanID() != spans["a"].SpanContext.SpanID() || spans["a"].Parent.SpanID() != spans["f"].SpanContext.SpanID() {
		t.Error("steps are not nested span by span")
	}
}

// TestRunWithoutTracing checks that runs stay distinguishable by trace ID
// when no tracer provider records spans: the v1 and v2 APIs cancel runs by
// trace ID.
func TestRunWithoutTracing(t *testing.T) {
	r := fixtureRegistry(t)
	a, _ := r.Lookup("/flow/echo")
	seen := map[string]bool{}
	for range 3 {
		res, err := a.Run(context.Background(), &registry.Request{Input: json.RawMessage(`1`)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.TraceID) != 32 || len(res.SpanID) != 16 || strings.Trim(res.TraceID, "0") == "" {
			t.Errorf("IDs %q/%q, want valid lowercase hex", res.TraceID, res.SpanID)
		}
		if seen[res.TraceID] {
			t.Errorf("trace ID %s reused by another run", res.TraceID)
		}
		seen[res.TraceID] = true
	}
	// Outside any action, a step just runs.
	v, err := registry.Step(context.Background(), "lonely", func(context.Context) (int, error) { return 7, nil })
	if err != nil || v != 7 {
		t.Errorf("Step outside an action = %v, %v", v, err)
	}
}

// TestRunInputChecked checks the runs of a json.RawMessage flow: the
// output is the input, compacted; input that is not JSON is refused before
// the action runs, compact or not.
func TestRunInputChecked(t *testing.T) {
	reg := registry.New(nil)
	echo, err := registry.DefineFlow(reg, "echo", func(ctx context.Context, in json.RawMessage) (json.RawMessage, error) {
		return in, nil
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		input    string
		want     string
		wantCode status.Code
	}{
		{name: "compact", input: `{"a b":"c d","e":[1,2]}`, want: `{"a b":"c d","e":[1,2]}`},
		{name: "spaced", input: ` {"a b": "c d", "e": [1, 2]}` + "\n", want: `{"a b":"c d","e":[1,2]}`},
		{name: "escaped quote", input: `"x\" y"`, want: `"x\" y"`},
		{name: "repeated member", input: `{"a":1,"a":2}`, want: `{"a":1,"a":2}`},
		{name: "lone surrogate", input: `"\ud800"`, want: `"\ud800"`},
		{name: "truncated", input: `{"a":`, wantCode: status.InvalidArgument},
		{name: "compact but not JSON", input: `[1,}`, wantCode: status.InvalidArgument},
		{name: "two values", input: `1 2`, wantCode: status.InvalidArgument},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := echo.Run(context.Background(), &registry.Request{Input: json.RawMessage(tc.input)}, nil)
			if tc.wantCode != 0 {
				if status.CodeOf(err) != tc.wantCode || res.TraceID != "" {
					t.Errorf("input %s: %+v, %v; want code %v before the span starts", tc.input, res, err, tc.wantCode)
				}
				return
			}
			if err != nil || string(res.Output) != tc.want {
				t.Errorf("input %s: output %s, %v; want %s", tc.input, res.Output, err, tc.want)
			}
		})
	}
}

// TestRunRawOutput checks the json.RawMessage outputs of an action: compact
// ones are returned as they are, others compacted, invalid ones refused.
func TestRunRawOutput(t *testing.T) {
	reg := registry.New(nil)
	a, err := registry.DefineFlow(reg, "raw", func(_ context.Context, in string) (json.RawMessage, error) {
		return json.RawMessage(in), nil
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ out, want string }{
		{`{"a":"b c"}`, `{"a":"b c"}`},
		{`{ "a" : [1, 2] }`, `{"a":[1,2]}`},
		{`{"a":`, ""},
		{`{"a" 1}`, ""},
	} {
		in, _ := json.Marshal(tc.out)
		res, err := a.Run(context.Background(), &registry.Request{Input: in}, nil)
		if tc.want == "" {
			if status.CodeOf(err) != status.Internal {
				t.Errorf("output %s: %v; want INTERNAL", tc.out, err)
			}
			continue
		}
		if err != nil || string(res.Output) != tc.want {
			t.Errorf("output %s: %s, %v; want %s", tc.out, res.Output, err, tc.want)
		}
	}
}

// TestSpan checks the span of a piece of an action's work: a child of the
// action's span, with no step type in its path or attributes, failed by
// fn's error without failing the action.
func TestSpan(t *testing.T) {
	tr := newTracing(t)
	r := registry.New(nil)
	a, err := registry.DefineFlow(r, "f", func(ctx context.Context, _ any) (string, error) {
		err := registry.Span(ctx, "piece", []attribute.KeyValue{attribute.String("k", "v")}, func(context.Context, trace.Span) error {
			return errors.New("piece failed")
		})
		return err.Error(), nil
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := a.Run(context.Background(), nil, &registry.RunOptions{TracerProvider: tr.tp})
	if err != nil || string(res.Output) != `"piece failed"` {
		t.Fatalf("Run = %s, %v", res.Output, err)
	}
	spans := tr.spans(t)
	piece := spans["piece"]
	if piece.Parent.SpanID() != spans["f"].SpanContext.SpanID() {
		t.Error("the span is not a child of the action's")
	}
	got := attrMap(piece.Attributes)
	want := map[string]any{"k": "v", "genkit:name": "piece", "genkit:path": "/{f,t:flow}/{piece}", "genkit:state": "error", "genkit:isFailureSource": true}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("attributes (-want +got):\n%s", diff)
	}
	if st, _ := attrMap(spans["f"].Attributes)["genkit:state"].(string); st != "success" {
		t.Errorf("action state %q, want success", st)
	}
}
