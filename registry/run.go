package registry

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"runtime/debug"

	jsontok "github.com/go-json-experiment/json/jsontext"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/genkit-runtime/genkit-runtime/internal/jsontext"
	"github.com/genkit-runtime/genkit-runtime/status"
)

// Names of the span attributes Genkit clients read. They match the JS
// runtime's (js/core/src/tracing/instrumentation.ts, js/core/src/action.ts).
const (
	AttrType            = "genkit:type"
	AttrSubtype         = "genkit:metadata:subtype"
	AttrKey             = "genkit:key"
	AttrName            = "genkit:name"
	AttrPath            = "genkit:path"
	AttrInput           = "genkit:input"
	AttrOutput          = "genkit:output"
	AttrState           = "genkit:state"
	AttrIsRoot          = "genkit:isRoot"
	AttrIsFailureSource = "genkit:isFailureSource"
	AttrContext         = "genkit:metadata:context"
	AttrInit            = "genkit:init"
)

// TracerName and TracerVersion identify the instrumentation scope of every
// Genkit span, as the JS runtime names it.
const (
	TracerName    = "genkit-tracer"
	TracerVersion = "v1"
)

// RunOptions configures one run of an action.
type RunOptions struct {
	// TracerProvider makes the run's span. When nil, the provider of the
	// span in ctx is used, so nested runs join their parent's trace.
	TracerProvider trace.TracerProvider
	// TelemetryLabels are set verbatim as attributes of the run's span when
	// it starts.
	TelemetryLabels map[string]string
	// OnStart, when not nil, is called once with the span's context right
	// after the span starts and before the action's function runs.
	OnStart func(trace.SpanContext)
	// InputCompact tells Run that Request.Input is already known to be one
	// valid JSON value without insignificant white space, because the
	// caller's decoder checked and compacted it, so Run does not scan it
	// again. Input that is not so breaks the promise Run makes to the
	// action's function.
	InputCompact bool
}

// Result is the outcome of a successful run.
type Result struct {
	// Output is the JSON-encoded output.
	Output json.RawMessage
	// TraceID and SpanID identify the run's span (lowercase hex).
	TraceID, SpanID string
}

// spanState is what a Genkit span leaves in its context for nested spans.
type spanState struct {
	path string
}

type spanStateKey struct{}

// Run checks that req.Input is one JSON value, refusing it with
// INVALID_ARGUMENT before any span starts, compacts it, validates it against
// the action's input schema, then runs the action inside a new span carrying
// the Genkit attributes. A panic in the
// action's function is recovered and reported as an INTERNAL error with the
// stack in its details. Errors from Run keep their status code (see
// [status.CodeOf]); when the span started, the error's trace ID is available
// through [TraceIDOf].
func (a *Action) Run(ctx context.Context, req *Request, opts *RunOptions) (Result, error) {
	if opts == nil {
		opts = &RunOptions{}
	}
	if req == nil {
		req = &Request{}
	}
	if !opts.InputCompact {
		input, err := checkInput(req.Input)
		if err != nil {
			return Result{}, err
		}
		if len(input) != len(req.Input) {
			// Compacted: the function sees the compact copy.
			r := *req
			r.Input = input
			req = &r
		}
	}
	if err := a.ValidateInput(req.Input); err != nil {
		return Result{}, err
	}
	tp := opts.TracerProvider
	if tp == nil {
		tp = trace.SpanFromContext(ctx).TracerProvider()
	}
	parent, _ := ctx.Value(spanStateKey{}).(*spanState)
	// Every attribute known before the span starts is given at its start,
	// so the span's attribute list grows once more, at its end.
	startAttrs := make([]attribute.KeyValue, 0, 6+len(opts.TelemetryLabels))
	startAttrs = append(startAttrs,
		attribute.String(AttrType, "action"),
		attribute.String(AttrSubtype, a.desc.Type),
		attribute.String(AttrKey, a.desc.Key),
	)
	for k, v := range opts.TelemetryLabels {
		startAttrs = append(startAttrs, attribute.String(k, v))
	}
	if req.Context != nil || parent == nil {
		startAttrs = append(startAttrs, attribute.String(AttrContext, contextAttr(req.Context)))
	}
	if len(req.Init) > 0 {
		startAttrs = append(startAttrs, attribute.String(AttrInit, compactJSON(req.Init)))
	}
	if len(req.Input) > 0 {
		startAttrs = append(startAttrs, attribute.String(AttrInput, string(req.Input)))
	}
	stepType := "action"
	if a.desc.Type == "flow" {
		stepType = "flow"
	}
	var out Result
	err := inSpanEnd(ctx, tp, parent, a.desc.Name, stepType, a.desc.Type, startAttrs, func(ctx context.Context, span trace.Span) ([]attribute.KeyValue, error) {
		sc := span.SpanContext()
		out.TraceID, out.SpanID = sc.TraceID().String(), sc.SpanID().String()
		if opts.OnStart != nil {
			opts.OnStart(sc)
		}
		v, err := callSafely(ctx, a.fn, req)
		if err != nil {
			return nil, err
		}
		output, err := marshalResult(v, req)
		if err != nil {
			return nil, status.Errorf(status.Internal, "encoding output of %s: %w", a.desc.Key, err)
		}
		out.Output = output
		return []attribute.KeyValue{attribute.String(AttrOutput, string(output))}, nil
	})
	if err != nil {
		return Result{TraceID: out.TraceID, SpanID: out.SpanID}, err
	}
	return out, nil
}

// inSpan runs fn in a new span named name with the Genkit path, state,
// root and failure-source attributes, the way the JS runtime's runInNewSpan
// does. stepType is the "t:" part of the path segment and subtype its "s:"
// part (empty for none).
func inSpan(ctx context.Context, tp trace.TracerProvider, parent *spanState, name, stepType, subtype string,
	attrs []attribute.KeyValue, fn func(context.Context, trace.Span) error) error {
	return inSpanEnd(ctx, tp, parent, name, stepType, subtype, attrs, func(ctx context.Context, span trace.Span) ([]attribute.KeyValue, error) {
		return nil, fn(ctx, span)
	})
}

// inSpanEnd is inSpan for a fn that returns attributes to set when it
// succeeds, together with the span's closing attributes.
func inSpanEnd(ctx context.Context, tp trace.TracerProvider, parent *spanState, name, stepType, subtype string,
	attrs []attribute.KeyValue, fn func(context.Context, trace.Span) ([]attribute.KeyValue, error)) error {
	var opts [2]trace.SpanStartOption
	startOpts := append(opts[:0], trace.WithAttributes(attrs...))
	if parent == nil {
		startOpts = append(startOpts, trace.WithNewRoot())
		// A recording tracer ignores this parent (the span is a new root),
		// but a no-op tracer carries the span context it finds forward.
		// Fresh IDs keep runs distinguishable, and cancellable by trace ID,
		// when tracing is off.
		ctx = trace.ContextWithSpanContext(ctx, randomSpanContext())
	}
	ctx, span := tp.Tracer(TracerName, tracerOptions...).Start(ctx, name, startOpts...)
	defer span.End()

	var parentPath string
	if parent != nil {
		parentPath = parent.path
	}
	// The path nested spans extend ends with this span's segment without
	// its subtype; the span's own path has the subtype.
	var nested string
	if stepType != "" {
		nested = parentPath + "/{" + name + ",t:" + stepType + "}"
	} else {
		nested = parentPath + "/{" + name + "}"
	}
	path := nested
	if parent != nil && subtype != "" {
		path = nested[:len(nested)-1] + ",s:" + subtype + "}"
	}
	ctx = context.WithValue(ctx, spanStateKey{}, &spanState{path: nested})

	extra, err := fn(ctx, span)

	endAttrs := make([]attribute.KeyValue, 0, len(extra)+5)
	if err == nil {
		endAttrs = append(endAttrs, extra...)
	}
	endAttrs = append(endAttrs, attribute.String(AttrName, name), attribute.String(AttrPath, path))
	if parent == nil {
		endAttrs = append(endAttrs, attribute.Bool(AttrIsRoot, true))
	}
	if err == nil {
		span.SetAttributes(append(endAttrs, attribute.String(AttrState, "success"))...)
		return nil
	}
	endAttrs = append(endAttrs, attribute.String(AttrState, "error"))
	var marked *failedSpanError
	if !errors.As(err, &marked) {
		endAttrs = append(endAttrs, attribute.Bool(AttrIsFailureSource, true))
		err = &failedSpanError{err: err, traceID: span.SpanContext().TraceID().String()}
	}
	span.SetAttributes(endAttrs...)
	msg := status.FromError(err).Message
	span.SetStatus(codes.Error, msg)
	// The exception event carries the same message as the status (and as
	// the error clients receive), not err.Error(), which may differ (for
	// example "context canceled" for a cancelled run).
	span.AddEvent("exception", trace.WithAttributes(
		attribute.String("exception.type", exceptionType(err)),
		attribute.String("exception.message", msg),
	))
	return err
}

// exceptionType names the Go type of the error behind err, for the
// exception.type attribute.
func exceptionType(err error) string {
	for {
		f, ok := err.(*failedSpanError)
		if !ok {
			break
		}
		err = f.err
	}
	t := reflect.TypeOf(err)
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.PkgPath() == "" {
		return t.String()
	}
	return t.PkgPath() + "." + t.Name()
}

// tracerOptions name the version of the Genkit instrumentation scope.
var tracerOptions = []trace.TracerOption{trace.WithInstrumentationVersion(TracerVersion)}

// randomSpanContext returns a valid, unsampled span context with random IDs.
func randomSpanContext() trace.SpanContext {
	var tid trace.TraceID
	var sid trace.SpanID
	binary.BigEndian.PutUint64(tid[:8], rand.Uint64())
	binary.BigEndian.PutUint64(tid[8:], rand.Uint64()|1)
	binary.BigEndian.PutUint64(sid[:], rand.Uint64()|1)
	return trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid})
}

// failedSpanError marks an error already recorded by the span it failed in,
// so enclosing spans do not also claim to be its source. It is transparent:
// its message and chain are those of the error it wraps.
type failedSpanError struct {
	err     error
	traceID string
}

func (e *failedSpanError) Error() string { return e.err.Error() }
func (e *failedSpanError) Unwrap() error { return e.err }

// TraceIDOf returns the ID of the trace in which err was raised by an action
// or step run, or "" when err did not come from inside a span.
func TraceIDOf(err error) string {
	var f *failedSpanError
	if errors.As(err, &f) {
		return f.traceID
	}
	return ""
}

// Step runs fn as a named step of the action running in ctx: a child span
// of type "flowStep" recording fn's JSON output. Steps nest.
func Step[T any](ctx context.Context, name string, fn func(context.Context) (T, error)) (T, error) {
	parent, _ := ctx.Value(spanStateKey{}).(*spanState)
	tp := trace.SpanFromContext(ctx).TracerProvider()
	var out T
	err := inSpanEnd(ctx, tp, parent, name, "flowStep", "", []attribute.KeyValue{attribute.String(AttrType, "flowStep")},
		func(ctx context.Context, span trace.Span) ([]attribute.KeyValue, error) {
			v, err := fn(ctx)
			if err != nil {
				return nil, err
			}
			out = v
			if b, err := marshalOutput(v); err == nil {
				return []attribute.KeyValue{attribute.String(AttrOutput, string(b))}, nil
			}
			return nil, nil
		})
	return out, err
}

// callSafely calls fn, turning a panic into an INTERNAL error that carries
// the stack.
func callSafely(ctx context.Context, fn Func, req *Request) (v any, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = &status.Error{
				Code:    status.Internal,
				Message: fmt.Sprintf("action panicked: %v", p),
				Details: map[string]any{"stack": string(debug.Stack())},
			}
		}
	}()
	return fn(ctx, req)
}

// marshalOutput encodes an action's output the way JSON.stringify does:
// compact, and without escaping <, > and &. A json.RawMessage is checked and
// compacted.
func marshalOutput(v any) (json.RawMessage, error) {
	if raw, ok := v.(json.RawMessage); ok {
		if len(raw) == 0 {
			return json.RawMessage("null"), nil
		}
		if jsontext.IsCompact(raw) {
			if !json.Valid(raw) {
				return nil, errors.New("output is not valid JSON")
			}
			return raw, nil
		}
		// Compact checks what it compacts.
		return jsontext.Compact(raw)
	}
	return jsontext.Marshal(v)
}

// marshalResult is marshalOutput for the result of the run of req: an
// output with the bytes of req's input, which Run has checked and
// compacted, as an echo returns it, is not checked again.
func marshalResult(v any, req *Request) (json.RawMessage, error) {
	if raw, ok := v.(json.RawMessage); ok && len(raw) > 0 && bytes.Equal(raw, req.Input) {
		return raw, nil
	}
	return marshalOutput(v)
}

// checkOptions accept what JSON.parse accepts and the JSON decoders of the
// transports pass on: repeated member names and escaped lone surrogates.
var checkOptions = []jsontok.Options{jsontok.AllowDuplicateNames(true), jsontok.AllowInvalidUTF8(true)}

// checkInput returns a run's input checked to be one JSON value and
// compacted: in itself when it is compact, else a compact copy. Empty input
// stays empty. This is the one scan of the input a run makes; the function
// and the output check rely on it.
func checkInput(in json.RawMessage) (json.RawMessage, error) {
	if len(in) == 0 {
		return in, nil
	}
	if !jsontok.Value(in).IsValid(checkOptions...) {
		var why string
		if err := json.Unmarshal(in, new(any)); err != nil {
			why = ": " + err.Error()
		}
		return nil, status.Errorf(status.InvalidArgument, "input is not valid JSON%s", why)
	}
	return jsontext.Compact(in)
}

// compactJSON returns raw without insignificant white space, or raw itself
// when it is not valid JSON.
func compactJSON(raw json.RawMessage) string {
	if b, err := jsontext.Compact(raw); err == nil {
		return string(b)
	}
	return string(raw)
}

// redactedKeys are context fields recorded as "<redacted>".
var redactedKeys = []string{"auth", "secrets"}

// contextAttr renders the run context for the genkit:metadata:context
// attribute, with credentials redacted.
func contextAttr(c map[string]any) string {
	if len(c) == 0 {
		return "{}"
	}
	shown := make(map[string]any, len(c))
	for k, v := range c {
		shown[k] = v
	}
	for _, k := range redactedKeys {
		if _, ok := shown[k]; ok {
			shown[k] = "<redacted>"
		}
	}
	b, err := jsontext.Marshal(shown)
	if err != nil {
		return "{}"
	}
	return string(b)
}

// Span runs fn in a new span named name, a child of the action or step
// running in ctx, with attrs and the Genkit path, state and failure-source
// attributes, but no step type: the span of one piece of an action's work,
// such as an evaluator's test case. Outside a run it starts a new trace
// with the tracer provider of the span in ctx. fn's error fails the span
// and is returned.
func Span(ctx context.Context, name string, attrs []attribute.KeyValue, fn func(ctx context.Context, span trace.Span) error) error {
	parent, _ := ctx.Value(spanStateKey{}).(*spanState)
	return inSpan(ctx, trace.SpanFromContext(ctx).TracerProvider(), parent, name, "", "", attrs, fn)
}
