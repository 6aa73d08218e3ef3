package tracestore

import (
	"math"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// FromSpan converts an OpenTelemetry span to its Genkit wire form, the way
// the Genkit JS exporter does:
//
//   - times are milliseconds since the epoch; EndTime is 0 for a span that
//     has not ended;
//   - status is {code:0} when unset, {code:1} when ok and {code:2, message}
//     on error (the OTLP numbering, not OTel-Go's);
//   - each event becomes a time event whose annotation description is the
//     event name ("exception" for [trace.Span.RecordError]);
//   - attributes become JSON values (slices stay slices);
//   - parentSpanId is set only when the parent is valid, and
//     sameProcessAsParentSpan is false only for a remote parent;
//   - links and timeEvent are always present, possibly empty.
//
// It is safe to call on a span that is still running; it reads a consistent
// view through the span's own accessors.
func FromSpan(s sdktrace.ReadOnlySpan) SpanData {
	sc := s.SpanContext()
	parent := s.Parent()
	scope := s.InstrumentationScope()
	sd := SpanData{
		SpanID:      sc.SpanID().String(),
		TraceID:     sc.TraceID().String(),
		StartTime:   Millis(s.StartTime()),
		EndTime:     Millis(s.EndTime()),
		Attributes:  attrsToMap(s.Attributes()),
		DisplayName: s.Name(),
		Links:       []Link{},
		InstrumentationLibrary: InstrumentationLibrary{
			Name:      scope.Name,
			Version:   scope.Version,
			SchemaURL: scope.SchemaURL,
		},
		SpanKind:                spanKindName(s.SpanKind()),
		SameProcessAsParentSpan: &BoolValue{Value: !parent.IsRemote()},
		Status:                  statusOf(s.Status()),
		TimeEvents:              &TimeEvents{TimeEvent: []TimeEvent{}},
	}
	if parent.IsValid() {
		sd.ParentSpanID = parent.SpanID().String()
	}
	for _, l := range s.Links() {
		sd.Links = append(sd.Links, Link{
			Context: &SpanContext{
				TraceID:    l.SpanContext.TraceID().String(),
				SpanID:     l.SpanContext.SpanID().String(),
				IsRemote:   l.SpanContext.IsRemote(),
				TraceFlags: int(l.SpanContext.TraceFlags()),
			},
			Attributes:             attrsToMap(l.Attributes),
			DroppedAttributesCount: l.DroppedAttributeCount,
		})
	}
	for _, e := range s.Events() {
		sd.TimeEvents.TimeEvent = append(sd.TimeEvents.TimeEvent, TimeEvent{
			Time: Millis(e.Time),
			Annotation: Annotation{
				Attributes:  attrsToMap(e.Attributes),
				Description: e.Name,
			},
		})
	}
	return sd
}

// Millis converts t to fractional milliseconds since the Unix epoch, the
// wire unit for times. The zero time converts to 0.
func Millis(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return float64(t.Unix())*1e3 + float64(t.Nanosecond())/1e6
}

func statusOf(st sdktrace.Status) *Status {
	switch st.Code {
	case codes.Error:
		return &Status{Code: StatusError, Message: st.Description}
	case codes.Ok:
		return &Status{Code: StatusOK}
	default:
		return &Status{Code: StatusUnset}
	}
}

func spanKindName(k trace.SpanKind) string {
	switch k {
	case trace.SpanKindServer:
		return "SERVER"
	case trace.SpanKindClient:
		return "CLIENT"
	case trace.SpanKindProducer:
		return "PRODUCER"
	case trace.SpanKindConsumer:
		return "CONSUMER"
	default:
		return "INTERNAL"
	}
}

func attrsToMap(kvs []attribute.KeyValue) map[string]any {
	m := make(map[string]any, len(kvs))
	for _, kv := range kvs {
		m[string(kv.Key)] = attrValue(kv.Value)
	}
	return m
}

// attrValue returns v as a JSON-encodable value. Non-finite floats, which
// JSON cannot carry, become their string form.
func attrValue(v attribute.Value) any {
	switch v.Type() {
	case attribute.BOOL:
		return v.AsBool()
	case attribute.INT64:
		return v.AsInt64()
	case attribute.FLOAT64:
		return jsonFloat(v.AsFloat64())
	case attribute.STRING:
		return v.AsString()
	case attribute.BOOLSLICE:
		return v.AsBoolSlice()
	case attribute.INT64SLICE:
		return v.AsInt64Slice()
	case attribute.FLOAT64SLICE:
		fs := v.AsFloat64Slice()
		out := make([]any, len(fs))
		for i, f := range fs {
			out[i] = jsonFloat(f)
		}
		return out
	case attribute.STRINGSLICE:
		return v.AsStringSlice()
	case attribute.SLICE:
		vs := v.AsSlice()
		out := make([]any, len(vs))
		for i, e := range vs {
			out[i] = attrValue(e)
		}
		return out
	case attribute.MAP:
		return attrsToMap(v.AsMap())
	case attribute.EMPTY:
		return nil
	default:
		// BYTESLICE and any later types: their canonical string form.
		return v.String()
	}
}

func jsonFloat(f float64) any {
	if s, ok := nonFinite(f); ok {
		return s
	}
	return f
}

// nonFinite returns the string form attrValue gives a NaN or infinite f.
func nonFinite(f float64) (string, bool) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return strconv.FormatFloat(f, 'g', -1, 64), true
	}
	return "", false
}
