package tracestore_test

import (
	"testing"

	"github.com/genkit-runtime/genkit-runtime/internal/spectest"
	"github.com/genkit-runtime/genkit-runtime/tracestore"
)

// TestDecodeTraceDataMatchesSchema holds the hand-written validator of
// DecodeTraceData to the TraceData schema generated from the telemetry
// server's zod schema (spec/schemas/TraceData.json): every variant of a
// trace, each member removed or given a value of each JSON type, is
// accepted exactly when the schema accepts it, but for the integer rules
// DecodeTraceData adds on purpose.
func TestDecodeTraceDataMatchesSchema(t *testing.T) {
	t.Parallel()
	const trace = `{"traceId":"0123456789abcdef0123456789abcdef","displayName":"flow","startTime":1,"endTime":2.5,` +
		`"spans":{"s1":{"spanId":"s1","traceId":"0123456789abcdef0123456789abcdef","parentSpanId":"p",` +
		`"startTime":1,"endTime":2.5,"attributes":{"genkit:name":"flow","n":1},"displayName":"flow",` +
		`"links":[{"context":{"traceId":"t","spanId":"s","isRemote":false,"traceFlags":1},"attributes":{"a":"b"},"droppedAttributesCount":0}],` +
		`"instrumentationLibrary":{"name":"genkit-tracer","version":"v1","schemaUrl":"u"},"spanKind":"INTERNAL",` +
		`"sameProcessAsParentSpan":{"value":true},"status":{"code":2,"message":"boom"},` +
		`"timeEvents":{"timeEvent":[{"time":1.5,"annotation":{"attributes":{"exception.message":"boom"},"description":"exception"}}]},` +
		`"truncated":false}}}`
	integer := "DecodeTraceData takes this count as an integer (the schema: any number)"
	spectest.Agree(t, "TraceData", trace,
		func(b []byte) error { _, err := tracestore.DecodeTraceData(b); return err },
		map[string]string{
			"$.spans.s1.status.code = 1.5":                     integer,
			"$.spans.s1.links[0].context.traceFlags = 1.5":     integer,
			"$.spans.s1.links[0].droppedAttributesCount = 1.5": integer,
		})
}

// TestTypesMatchSchema holds the Go types of a trace to the members of the
// TraceData schema, part by part.
func TestTypesMatchSchema(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		schema string
		v      any
	}{
		{"TraceData", tracestore.TraceData{}},
		{"SpanData", tracestore.SpanData{}},
		{"SpanData#/properties/links/items", tracestore.Link{}},
		{"SpanData#/properties/links/items/properties/context", tracestore.SpanContext{}},
		{"SpanData#/properties/instrumentationLibrary", tracestore.InstrumentationLibrary{}},
		{"SpanData#/properties/sameProcessAsParentSpan", tracestore.BoolValue{}},
		{"SpanData#/properties/status", tracestore.Status{}},
		{"SpanData#/properties/timeEvents", tracestore.TimeEvents{}},
		{"SpanData#/properties/timeEvents/properties/timeEvent/items", tracestore.TimeEvent{}},
		{"SpanData#/properties/timeEvents/properties/timeEvent/items/properties/annotation", tracestore.Annotation{}},
	} {
		t.Run(tc.schema, func(t *testing.T) { spectest.SameMembers(t, tc.schema, tc.v, nil) })
	}
}
