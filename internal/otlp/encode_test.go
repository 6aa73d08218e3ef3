package otlp

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
)

// allValues holds an attribute of every type the OpenTelemetry API has,
// with edge values: empty strings and slices, extreme integers, non-finite
// doubles, nested slices and maps, the empty value.
var allValues = []attribute.KeyValue{
	attribute.String("string", "héllo \"wörld\"\n\t<&>\u2028"),
	attribute.String("empty string", ""),
	attribute.Bool("bool true", true),
	attribute.Bool("bool false", false),
	attribute.Int64("int zero", 0),
	attribute.Int64("int min", math.MinInt64),
	attribute.Int64("int max", math.MaxInt64),
	attribute.Int("int negative", -42),
	attribute.Float64("double", 3.141592653589793),
	attribute.Float64("double zero", 0),
	attribute.Float64("double tiny", 5e-324),
	attribute.Float64("double huge", 1.7976931348623157e308),
	attribute.Float64("double +inf", math.Inf(1)),
	attribute.Float64("double -inf", math.Inf(-1)),
	attribute.Float64("double nan", math.NaN()),
	attribute.BoolSlice("bools", []bool{true, false, true}),
	attribute.Int64Slice("ints", []int64{1, -1, math.MaxInt64, 0}),
	attribute.Float64Slice("doubles", []float64{0.5, -2, math.Inf(1)}),
	attribute.StringSlice("strings", []string{"a", "", "ü"}),
	attribute.StringSlice("no strings", []string{}),
	attribute.Slice("mixed", attribute.StringValue("s"), attribute.Int64Value(7),
		attribute.SliceValue(attribute.BoolValue(true)), attribute.MapValue(attribute.String("k", "v"))),
	attribute.Slice("empty slice"),
	attribute.ByteSlice("bytes", []byte{0, 1, 2, 0xff, 0xfe}),
	attribute.ByteSlice("no bytes", []byte{}),
	attribute.Map("map", attribute.String("a", "b"), attribute.Int64("n", 3),
		attribute.Map("nested", attribute.Float64("f", 1.5)), attribute.StringSlice("ss", []string{"x"})),
	attribute.Map("empty map"),
	{Key: "empty value"},
}

// testSpans returns spans that exercise every field of the protocol: two
// resources (one with a schema URL), three scopes (one the zero scope,
// one with a version, schema URL and attributes), remote and local
// parents, trace state and flags, every kind, every status, events and
// links with their attributes and dropped counts, and an unended span.
func testSpans(t *testing.T) []sdktrace.ReadOnlySpan {
	t.Helper()
	res1 := resource.NewWithAttributes("https://opentelemetry.io/schemas/1.26.0",
		attribute.String("service.name", "shop"), attribute.Int64("process.pid", 42))
	res2 := resource.NewSchemaless(attribute.String("service.name", "billing"))
	scopeFull := instrumentation.Scope{Name: "genkit", Version: "1.2.3", SchemaURL: "https://example.com/schema",
		Attributes: attribute.NewSet(attribute.String("scope.attr", "x"), attribute.Bool("on", true))}
	scopeName := instrumentation.Scope{Name: "other"}

	ts, err := trace.ParseTraceState("vendor=value,other=1")
	if err != nil {
		t.Fatal(err)
	}
	tid := trace.TraceID{0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0xff}
	sc := func(sid byte, flags trace.TraceFlags, remote bool) trace.SpanContext {
		return trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: trace.SpanID{0xaa, 0, 0, 0, 0, 0, 0, sid},
			TraceFlags: flags, TraceState: ts, Remote: remote})
	}
	start := time.Date(2026, 3, 4, 5, 6, 7, 890123456, time.UTC)
	end := start.Add(1500 * time.Millisecond)
	linkTS, err := trace.ParseTraceState("l=1")
	if err != nil {
		t.Fatal(err)
	}
	otherTrace := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{0xfe, 1}, SpanID: trace.SpanID{0xfe, 2},
		TraceFlags: trace.FlagsSampled, TraceState: linkTS, Remote: true})

	stubs := tracetest.SpanStubs{
		{
			Name: "root", SpanContext: sc(1, trace.FlagsSampled, false), Parent: sc(9, trace.FlagsSampled, true),
			SpanKind: trace.SpanKindServer, StartTime: start, EndTime: end,
			Attributes: allValues,
			Events: []sdktrace.Event{
				{Name: "started", Time: start.Add(time.Millisecond), Attributes: []attribute.KeyValue{attribute.Int("n", 1)}, DroppedAttributeCount: 2},
				{Name: "", Time: start.Add(2 * time.Millisecond)},
			},
			Links: []sdktrace.Link{
				{SpanContext: otherTrace, Attributes: []attribute.KeyValue{attribute.String("why", "follows")}, DroppedAttributeCount: 1},
				{SpanContext: sc(7, 0, false)},
			},
			Status:            sdktrace.Status{Code: codes.Error, Description: "no such order"},
			DroppedAttributes: 3, DroppedEvents: 4, DroppedLinks: 5,
			Resource: res1, InstrumentationScope: scopeFull,
		},
		{
			Name: "child", SpanContext: sc(2, trace.FlagsSampled, false), Parent: sc(1, trace.FlagsSampled, false),
			SpanKind: trace.SpanKindInternal, StartTime: start, EndTime: end,
			Status:   sdktrace.Status{Code: codes.Ok},
			Resource: res1, InstrumentationScope: scopeFull,
		},
		{
			Name: "client", SpanContext: sc(3, 0, false), SpanKind: trace.SpanKindClient, StartTime: start, EndTime: end,
			Resource: res1, InstrumentationScope: scopeName,
		},
		{
			Name: "producer", SpanContext: sc(4, trace.FlagsSampled, false), SpanKind: trace.SpanKindProducer, StartTime: start,
			Resource: res2,
		},
		{
			Name: "consumer", SpanContext: sc(5, trace.FlagsSampled, false), SpanKind: trace.SpanKindConsumer,
			StartTime: start, EndTime: end, Resource: res2, InstrumentationScope: scopeName,
		},
		{
			Name: "unspecified", SpanContext: sc(6, trace.FlagsSampled, false), StartTime: start, EndTime: end,
			Resource: res1, InstrumentationScope: scopeFull,
		},
	}
	return stubs.Snapshots()
}

// capture is an OTLP/HTTP endpoint that keeps the last body it received.
type capture struct {
	mu   sync.Mutex
	body []byte
	ct   string
}

func (c *capture) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	c.mu.Lock()
	c.body, c.ct = b, r.Header.Get("Content-Type")
	c.mu.Unlock()
}

// referenceBody returns the request body the OpenTelemetry SDK's own
// OTLP/HTTP exporter sends for spans, as protobuf or JSON.
func referenceBody(t *testing.T, spans []sdktrace.ReadOnlySpan, json bool) []byte {
	t.Helper()
	c := &capture{}
	srv := httptest.NewServer(c)
	defer srv.Close()
	enc := otlptracehttp.EncodingProtobuf
	if json {
		enc = otlptracehttp.EncodingJSON
	}
	exp, err := otlptracehttp.New(t.Context(), otlptracehttp.WithEndpointURL(srv.URL+"/v1/traces"), otlptracehttp.WithEncoding(enc))
	if err != nil {
		t.Fatal(err)
	}
	if err := exp.ExportSpans(t.Context(), spans); err != nil {
		t.Fatal(err)
	}
	if err := exp.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.body
}

// byFirstSpan orders resource spans by the ID of their first span: the SDK
// exporter orders resources at random (from a map), ours in the order of
// the batch.
func byFirstSpan(req *coltracepb.ExportTraceServiceRequest) {
	slices.SortFunc(req.ResourceSpans, func(a, b *tracepb.ResourceSpans) int {
		return bytes.Compare(a.ScopeSpans[0].Spans[0].SpanId, b.ScopeSpans[0].Spans[0].SpanId)
	})
}

// withLinkTraceState sets the trace state of the links in req from spans:
// the SDK exporter leaves it out, ours sends it (Span.Link.trace_state).
func withLinkTraceState(req *coltracepb.ExportTraceServiceRequest, spans []sdktrace.ReadOnlySpan) {
	states := map[string]string{}
	for _, s := range spans {
		for _, l := range s.Links() {
			states[l.SpanContext.SpanID().String()] = l.SpanContext.TraceState().String()
		}
	}
	for _, rs := range req.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			for _, s := range ss.Spans {
				for _, l := range s.Links {
					l.TraceState = states[hex.EncodeToString(l.SpanId)]
				}
			}
		}
	}
}

// TestProtoEncoding decodes our protobuf encoding of spans that use every
// field with the protocol's generated types, and compares it with what
// the OpenTelemetry SDK's OTLP/HTTP exporter sends for the same spans.
func TestProtoEncoding(t *testing.T) {
	spans := testSpans(t)
	var want, got coltracepb.ExportTraceServiceRequest
	if err := proto.Unmarshal(referenceBody(t, spans, false), &want); err != nil {
		t.Fatal(err)
	}
	body := appendProtoRequest(nil, spans)
	if err := proto.Unmarshal(body, &got); err != nil {
		t.Fatalf("our encoding does not decode: %v", err)
	}
	byFirstSpan(&want)
	byFirstSpan(&got)
	withLinkTraceState(&want, spans)
	if diff := cmp.Diff(&want, &got, protocmp.Transform(), cmpopts.EquateNaNs()); diff != "" {
		t.Errorf("decoded request (-SDK exporter +ours):\n%s", diff)
	}

	// Spot checks, independent of the SDK's exporter.
	if n := len(got.ResourceSpans); n != 2 {
		t.Fatalf("%d resource spans; want 2", n)
	}
	rs := got.ResourceSpans[0]
	if rs.SchemaUrl != "https://opentelemetry.io/schemas/1.26.0" || len(rs.ScopeSpans) != 2 ||
		rs.ScopeSpans[0].Scope.GetVersion() != "1.2.3" || rs.ScopeSpans[0].SchemaUrl != "https://example.com/schema" {
		t.Errorf("first resource spans: schema %q, %d scopes, first %v (schema %q)", rs.SchemaUrl, len(rs.ScopeSpans),
			rs.ScopeSpans[0].Scope, rs.ScopeSpans[0].SchemaUrl)
	}
	root := rs.ScopeSpans[0].Spans[0]
	if hex.EncodeToString(root.TraceId) != "0102030405060708090a0b0c0d0e0fff" || hex.EncodeToString(root.SpanId) != "aa00000000000001" ||
		hex.EncodeToString(root.ParentSpanId) != "aa00000000000009" || root.Flags != 0x301 || root.TraceState != "vendor=value,other=1" ||
		root.Kind != 2 || root.StartTimeUnixNano != 1772600767890123456 || root.Status.GetCode() != 2 ||
		root.Status.GetMessage() != "no such order" || len(root.Attributes) != len(allValues) ||
		root.DroppedAttributesCount != 3 || root.DroppedEventsCount != 4 || root.DroppedLinksCount != 5 ||
		root.Links[0].TraceState != "l=1" || root.Links[0].Flags != 0x301 || root.Events[0].DroppedAttributesCount != 2 {
		t.Errorf("root span = %v", root)
	}
	if s := rs.ScopeSpans[0].Spans[1]; s.Flags != 0x101 {
		t.Errorf("child of a local parent: flags %#x; want 0x101", s.Flags)
	}
	if s := got.ResourceSpans[1].ScopeSpans[0].Spans[0]; s.EndTimeUnixNano != 0 || got.ResourceSpans[1].ScopeSpans[0].Scope != nil {
		t.Errorf("unended span of the zero scope: end %d, scope %v", s.EndTimeUnixNano, got.ResourceSpans[1].ScopeSpans[0].Scope)
	}
}

// TestJSONEncoding compares our OTLP JSON encoding of the spans of
// TestProtoEncoding with what the SDK's exporter sends, member by member,
// and decodes it with the protocol's generated types (through the
// protobuf JSON mapping, with its IDs turned from hex into base64) to
// check it against the protocol's schema and our protobuf encoding.
func TestJSONEncoding(t *testing.T) {
	spans := testSpans(t)
	body := appendJSONRequest(nil, spans)
	if !json.Valid(body) {
		t.Fatalf("our encoding is not JSON: %s", body)
	}
	decode := func(b []byte) map[string]any {
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		rss, _ := m["resourceSpans"].([]any)
		first := func(rs any) string {
			return rs.(map[string]any)["scopeSpans"].([]any)[0].(map[string]any)["spans"].([]any)[0].(map[string]any)["spanId"].(string)
		}
		slices.SortFunc(rss, func(a, b any) int { return strings.Compare(strings.ToLower(first(a)), strings.ToLower(first(b))) })
		return m
	}
	want, got := decode(referenceBody(t, spans, true)), decode(body)
	// The SDK's exporter writes IDs in uppercase hex, leaves out the trace
	// state of links, and an empty bytes value (as if the value were
	// empty).
	linkStates := map[string]string{}
	for _, s := range spans {
		for _, l := range s.Links() {
			linkStates[l.SpanContext.SpanID().String()] = l.SpanContext.TraceState().String()
		}
	}
	var fix func(v any)
	fix = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if s, ok := x.(string); ok && (k == "traceId" || k == "spanId" || k == "parentSpanId") {
					v[k] = strings.ToLower(s)
				}
				if k == "links" {
					for _, l := range x.([]any) {
						l := l.(map[string]any)
						if ts := linkStates[strings.ToLower(l["spanId"].(string))]; ts != "" {
							l["traceState"] = ts
						}
					}
				}
				if k == "key" && x == "no bytes" {
					v["value"] = map[string]any{"bytesValue": ""}
				}
				fix(x)
			}
		case []any:
			for _, x := range v {
				fix(x)
			}
		}
	}
	fix(want)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("decoded JSON (-SDK exporter +ours):\n%s", diff)
	}

	// Through the protobuf JSON mapping, whose bytes are base64.
	var ids func(v any)
	ids = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if s, ok := x.(string); ok && (k == "traceId" || k == "spanId" || k == "parentSpanId") {
					b, err := hex.DecodeString(s)
					if err != nil {
						t.Fatalf("%s %q: %v", k, s, err)
					}
					v[k] = base64.StdEncoding.EncodeToString(b)
				}
				ids(x)
			}
		case []any:
			for _, x := range v {
				ids(x)
			}
		}
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	ids(m)
	b64, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var fromJSON, fromProto coltracepb.ExportTraceServiceRequest
	if err := protojson.Unmarshal(b64, &fromJSON); err != nil {
		t.Fatalf("our JSON does not decode as an ExportTraceServiceRequest: %v", err)
	}
	if err := proto.Unmarshal(appendProtoRequest(nil, spans), &fromProto); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(&fromProto, &fromJSON, protocmp.Transform(), cmpopts.EquateNaNs()); diff != "" {
		t.Errorf("JSON and protobuf encodings differ (-protobuf +JSON):\n%s", diff)
	}
}

// TestEncodingInvalidUTF8 checks that a string that is not UTF-8, which
// would make a receiver reject the whole request, is sent with U+FFFD in
// place of its bad bytes.
func TestEncodingInvalidUTF8(t *testing.T) {
	stubs := tracetest.SpanStubs{{Name: "bad\xffname", Attributes: []attribute.KeyValue{attribute.String("k\xfe", "v\xff")}}}
	var req coltracepb.ExportTraceServiceRequest
	if err := proto.Unmarshal(appendProtoRequest(nil, stubs.Snapshots()), &req); err != nil {
		t.Fatal(err)
	}
	s := req.ResourceSpans[0].ScopeSpans[0].Spans[0]
	got := []string{s.Name, s.Attributes[0].Key, s.Attributes[0].Value.GetStringValue()}
	if want := []string{"bad\uFFFDname", "k\uFFFD", "v\uFFFD"}; !slices.Equal(got, want) {
		t.Errorf("protobuf: %q; want %q", got, want)
	}
	body := appendJSONRequest(nil, stubs.Snapshots())
	if !json.Valid(body) || !bytes.Contains(body, []byte(`"name":"bad`+"\uFFFD"+`name"`)) {
		t.Errorf("JSON: %s", body)
	}
}

// TestEncodingEmpty checks the encoding of no spans: an empty request.
func TestEncodingEmpty(t *testing.T) {
	if b := appendProtoRequest(nil, nil); len(b) != 0 {
		t.Errorf("protobuf: %x; want nothing", b)
	}
	if b := appendJSONRequest(nil, nil); string(b) != "{}" {
		t.Errorf("JSON: %s; want {}", b)
	}
}

// BenchmarkEncode measures the encoding of a batch of 512 spans (the batch
// processor's default batch) of a typical Genkit action.
func BenchmarkEncode(b *testing.B) {
	stubs := make(tracetest.SpanStubs, 512)
	res := resource.NewSchemaless(attribute.String("service.name", "shop"), attribute.String("host.name", "h"))
	for i := range stubs {
		stubs[i] = tracetest.SpanStub{Name: "greet", StartTime: time.Now(), EndTime: time.Now(), Resource: res,
			InstrumentationScope: instrumentation.Scope{Name: "genkit-tracer"},
			Attributes: []attribute.KeyValue{attribute.String("genkit:type", "action"), attribute.String("genkit:name", "greet"),
				attribute.String("genkit:path", "/{greet,t:flow}"), attribute.String("genkit:input", strings.Repeat("x", 250)),
				attribute.String("genkit:output", strings.Repeat("y", 250)), attribute.String("genkit:state", "success"),
				attribute.Bool("genkit:isRoot", true)}}
	}
	spans := stubs.Snapshots()
	for _, enc := range []struct {
		name string
		fn   func([]byte, []sdktrace.ReadOnlySpan) []byte
	}{{"protobuf", appendProtoRequest}, {"json", appendJSONRequest}} {
		b.Run(enc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				enc.fn(nil, spans)
			}
		})
	}
}
