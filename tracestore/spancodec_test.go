package tracestore

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/genkit-runtime/genkit-runtime/internal/jsontext"
)

// point is an attribute value of a type the span encoding has no tag for.
type point struct{ X, Y int }

// everyAttr holds an attribute value of every kind a span can carry.
func everyAttr() map[string]any {
	long := strings.Repeat("long value ", 20)
	return map[string]any{
		"genkit:type":            "action", // a static key and value
		"genkit:name":            "myFlow", // equal to the display name
		"genkit:input":           long,
		"genkit:output":          long, // a repeat, stored as a reference
		"empty":                  "",
		"short":                  "abc",
		"s63":                    strings.Repeat("x", 63),
		"s64":                    strings.Repeat("y", 64),
		"s127":                   strings.Repeat("z", 127),
		"s128":                   strings.Repeat("w", 128),
		"unicode":                "héllo, 世界 🌍 \u2028 \x00 <&>",
		"invalid utf-8":          "a\xffb",
		"true":                   true,
		"false":                  false,
		"int64":                  int64(-1 << 62),
		"int64 max":              int64(math.MaxInt64),
		"int64 min":              int64(math.MinInt64),
		"int":                    -42,
		"float":                  1.0 / 3,
		"float negative":         -2.5e-300,
		"float zero":             0.0,
		"float max":              math.MaxFloat64,
		"number":                 json.Number("12345678901234567890.5e-3"),
		"null":                   nil,
		"strings":                []string{"a", "", "genkit:type", long},
		"strings empty":          []string{},
		"strings nil":            []string(nil),
		"bools":                  []bool{true, false, true},
		"bools empty":            []bool{},
		"bools nil":              []bool(nil),
		"int64s":                 []int64{0, -1, math.MaxInt64, math.MinInt64},
		"int64s empty":           []int64{},
		"int64s nil":             []int64(nil),
		"float64s":               []float64{0.5, -1e300},
		"float64s empty":         []float64{},
		"float64s nil":           []float64(nil),
		"list":                   []any{"x", 1.5, json.Number("2"), true, nil, []any{"nested", map[string]any{"k": "v"}}, map[string]any{}},
		"list empty":             []any{},
		"list nil":               []any(nil),
		"map":                    map[string]any{"a": "b", "genkit:name": long, "deep": map[string]any{"n": json.Number("-0")}},
		"map empty":              map[string]any{},
		"map nil":                map[string]any(nil),
		"string map":             map[string]string{"k": "v", "": "empty key", "action": "flow"},
		"string map nil":         map[string]string(nil),
		"other int32":            int32(7),
		"other float32":          float32(0.25),
		"other struct":           point{1, 2},
		"other slice":            []int{1, 2, 3},
		"other int map":          map[string]int{"a": 1},
		"genkitx:team":           "blue",
		"genkitx:tokens":         int64(42),
		"":                       "the empty key",
		strings.Repeat("k", 200): "a long key",
	}
}

// codecSpans are spans that differ in every field of SpanData, with
// the trace id and key they are stored under.
func codecSpans() []struct {
	name, traceID, id string
	sd                SpanData
} {
	full := SpanData{
		SpanID:       "0000000000000002",
		TraceID:      "00000000000000000000000000000001",
		ParentSpanID: "0000000000000001",
		StartTime:    1_700_000_000_001.25,
		EndTime:      1_700_000_000_002.5,
		Attributes:   everyAttr(),
		DisplayName:  "myFlow",
		Links: []Link{
			{
				Context:                &SpanContext{TraceID: "aa000000000000000000000000000001", SpanID: "bb00000000000001", IsRemote: true, TraceFlags: 1},
				Attributes:             map[string]any{"why": "because", "n": int64(3)},
				DroppedAttributesCount: 2,
			},
			{Context: &SpanContext{TraceID: "0000000000000002", SpanID: "0000000000000002"}},
			{Attributes: map[string]any{}},
			{DroppedAttributesCount: -1},
		},
		InstrumentationLibrary:  InstrumentationLibrary{Name: "genkit-tracer", Version: "v1", SchemaURL: "https://opentelemetry.io/schemas/1.26.0"},
		SpanKind:                "CLIENT",
		SameProcessAsParentSpan: &BoolValue{Value: true},
		Status:                  &Status{Code: StatusError, Message: "model exploded"},
		TimeEvents: &TimeEvents{TimeEvent: []TimeEvent{
			{Time: 1_700_000_000_001.5, Annotation: Annotation{Description: "exception", Attributes: map[string]any{
				"exception.type": "*errors.errorString", "exception.message": "model exploded", "exception.stacktrace": "at x",
			}}},
			{Time: 0, Annotation: Annotation{}},
			{Time: -1, Annotation: Annotation{Attributes: map[string]any{}, Description: strings.Repeat("d", 300)}},
		}},
		Truncated: true,
	}
	minimal := SpanData{SpanID: "r", TraceID: "t", Attributes: map[string]any{}}
	manyStrings := map[string]any{}
	for i := range 3 * maxRefs {
		manyStrings[fmt.Sprintf("key%03d", i)] = fmt.Sprintf("value %d", i%(2*maxRefs))
	}
	return []struct {
		name, traceID, id string
		sd                SpanData
	}{
		{"every field", full.TraceID, full.SpanID, full},
		{"minimal", "t", "r", minimal},
		{"span id differs from its key", "t", "key", SpanData{SpanID: "other", TraceID: "t", Attributes: map[string]any{}}},
		{"trace id differs from its trace's", "t", "r", SpanData{SpanID: "r", TraceID: "u", Attributes: map[string]any{}}},
		{"empty ids", "", "", SpanData{Attributes: map[string]any{}}},
		{"long ids", strings.Repeat("t", 300), strings.Repeat("i", 200),
			SpanData{SpanID: strings.Repeat("i", 200), TraceID: strings.Repeat("t", 300), ParentSpanID: strings.Repeat("p", 150), Attributes: map[string]any{}}},
		{"running, unset status, remote parent", "t", "r", SpanData{
			SpanID: "r", TraceID: "t", ParentSpanID: "p", StartTime: 5, Attributes: map[string]any{"genkit:state": "success"},
			SpanKind: "SERVER", SameProcessAsParentSpan: &BoolValue{}, Status: &Status{}, Links: []Link{},
			TimeEvents: &TimeEvents{TimeEvent: []TimeEvent{}},
		}},
		{"events without a list", "t", "r", SpanData{SpanID: "r", TraceID: "t", Attributes: map[string]any{}, TimeEvents: &TimeEvents{}}},
		{"status with a negative code", "t", "r", SpanData{SpanID: "r", TraceID: "t", Attributes: map[string]any{}, Status: &Status{Code: -3}}},
		{"custom span kind and library", "t", "r", SpanData{SpanID: "r", TraceID: "t", Attributes: map[string]any{},
			SpanKind: "WEIRD", InstrumentationLibrary: InstrumentationLibrary{Name: "my-lib"}}},
		{"more strings than references", "t", "r", SpanData{SpanID: "r", TraceID: "t", Attributes: manyStrings}},
	}
}

// TestSpanCodecRoundTrip checks that a stored span reads back as the
// SpanData it was made from, Go value for Go value and byte for byte in
// JSON, for every field.
func TestSpanCodecRoundTrip(t *testing.T) {
	for _, tt := range codecSpans() {
		t.Run(tt.name, func(t *testing.T) {
			sp := encodeSpan(tt.traceID, tt.id, &tt.sd)
			if got := sp.id(); got != tt.id {
				t.Errorf("id() = %q, want %q", got, tt.id)
			}
			if got := sp.parent(); got != tt.sd.ParentSpanID {
				t.Errorf("parent() = %q, want %q", got, tt.sd.ParentSpanID)
			}
			if got := sp.displayName(); got != tt.sd.DisplayName {
				t.Errorf("displayName() = %q, want %q", got, tt.sd.DisplayName)
			}
			got := sp.data(tt.traceID, nil)
			want := tt.sd
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("decoded span (-want +got):\n%s", diff)
			}
			if d := jsonDiff(t, got, want); d != "" {
				t.Errorf("JSON differs:\n%s", d)
			}
		})
	}
}

// TestSpanCodecNilAttributes checks that a span stored without attributes
// reads back with an empty map, as the telemetry server stores it.
func TestSpanCodecNilAttributes(t *testing.T) {
	sp := encodeSpan("t", "r", &SpanData{SpanID: "r", TraceID: "t"})
	if got := sp.data("t", nil).Attributes; got == nil || len(got) != 0 {
		t.Errorf("Attributes = %#v, want an empty map", got)
	}
}

// TestSpanCodecAttrLookup checks reading single attributes, which skips
// over the others: every value is found, whatever comes before it.
func TestSpanCodecAttrLookup(t *testing.T) {
	attrs := everyAttr()
	sp := encodeSpan("t", "r", &SpanData{SpanID: "r", TraceID: "t", Attributes: attrs})
	seen := map[string]bool{}
	for k := range sp.attrs() { // values not read: each is skipped
		seen[k] = true
	}
	for k, want := range attrs {
		if !seen[k] {
			t.Errorf("attrs() missed %q", k)
		}
		got, ok := attr(&sp, k)
		if !ok {
			t.Errorf("attr(%q) not found", k)
			continue
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("attr(%q) (-want +got):\n%s", k, diff)
		}
	}
	if len(seen) != len(attrs) {
		t.Errorf("attrs() yielded %d keys, want %d", len(seen), len(attrs))
	}
	if _, ok := attr(&sp, "absent"); ok {
		t.Error("attr found an absent key")
	}
}

// attr returns the value of sp's attribute key, read on its own.
func attr(sp *storedSpan, key string) (any, bool) {
	for k, r := range sp.attrs() {
		if k == key {
			return r.value(), true
		}
	}
	return nil, false
}

// TestSpanCodecWithParent checks that changing a span's parent keeps the
// rest of it, references included.
func TestSpanCodecWithParent(t *testing.T) {
	sd := codecSpans()[0].sd
	sp := encodeSpan(sd.TraceID, sd.SpanID, &sd)
	for _, parent := range []string{"", "p", strings.Repeat("p", 300)} {
		moved := sp.withParent(parent)
		got := moved.data(sd.TraceID, nil)
		want := sd
		want.ParentSpanID = parent
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("withParent(%q) (-want +got):\n%s", parent, diff)
		}
	}
}

// TestSpanCodecIsCompact checks that a typical Genkit span is stored in
// little more than its own strings.
func TestSpanCodecIsCompact(t *testing.T) {
	sd := span(strings.Repeat("a", 32), "0000000000000002", "0000000000000001", 1, 2, attrsToMap(genkitAttrs))
	sd.DisplayName = "googleai/gemini-2.5-flash"
	var payload int
	for _, v := range sd.Attributes {
		if s := v.(string); !staticString(s) {
			payload += len(s)
		}
	}
	payload += len(sd.SpanID) + len(sd.ParentSpanID)
	sp := encodeSpan(sd.TraceID, sd.SpanID, &sd)
	if over := len(sp.enc) - payload; over > 40 {
		t.Errorf("encoded span is %d bytes for %d bytes of strings: %d bytes of overhead, want at most 40", len(sp.enc), payload, over)
	}
	t.Logf("%d bytes of strings, encoded in %d, estimated at %d", payload, len(sp.enc), sp.size())
	if sp.size() > 1024 {
		t.Errorf("span estimated at %d bytes, want at most 1 KB", sp.size())
	}
}

func staticString(s string) bool {
	_, ok := staticIndex[s]
	return ok
}

// TestStoredSpansMatchFromSpan records spans of every shape through a real
// TracerProvider and checks that the store serves each exactly as
// FromSpan converts it.
func TestStoredSpansMatchFromSpan(t *testing.T) {
	store := New(&Options{DropSpans: map[string]string{}})
	ended, running := everySpan(t, store)

	// The running span is kept aside by OnStart and recorded when the
	// store is read, as it is then.
	for _, s := range append(ended, running) {
		want := FromSpan(s)
		td, found := store.Get(want.TraceID)
		if !found {
			t.Fatalf("trace %s not stored", want.TraceID)
		}
		got, found := td.Spans[want.SpanID]
		if !found {
			t.Fatalf("span %s (%s) not stored", want.SpanID, want.DisplayName)
		}
		if d := jsonDiff(t, got, want); d != "" {
			t.Errorf("span %s:\n%s", want.DisplayName, d)
		}
		if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b float64) bool { return a == b || a != a && b != b })); diff != "" {
			t.Errorf("span %s (-want +got):\n%s", want.DisplayName, diff)
		}
	}
}

// FuzzSpanCodec checks that every span the telemetry API accepts is stored
// and read back unchanged.
func FuzzSpanCodec(f *testing.F) {
	f.Add(`{"traceId":"t","spans":{"a":{"spanId":"a","traceId":"t","startTime":1,"endTime":2,"attributes":{},"displayName":"a","instrumentationLibrary":{"name":"x"},"spanKind":"INTERNAL"}}}`)
	f.Add(`{"traceId":"t","spans":{"a":{"spanId":"b","traceId":"u","parentSpanId":"p","startTime":1.5,"endTime":0,"attributes":{"genkit:type":"action","genkit:name":"a","n":1e400,"m":-0,"x":[1,"s",null,{"k":[true]}],"o":{"a":{"b":"c"}},"e":""},"displayName":"a","instrumentationLibrary":{"name":"genkit-tracer","version":"v1","schemaUrl":"u"},"spanKind":"X","sameProcessAsParentSpan":{"value":false},"truncated":true,"links":[{"context":{"traceId":"a","spanId":"b","isRemote":true,"traceFlags":1},"attributes":{"k":"v"},"droppedAttributesCount":3},{}],"status":{"code":2,"message":"m"},"timeEvents":{"timeEvent":[{"time":1,"annotation":{"attributes":{"a":"a"},"description":"exception"}}]}}}}`)
	f.Add(`{"traceId":"t","spans":{"a":{"spanId":"a","traceId":"t","startTime":1,"endTime":2,"attributes":{"s":"repeated string","t":"repeated string"},"displayName":"repeated string","instrumentationLibrary":{"name":"repeated string"},"spanKind":"INTERNAL","timeEvents":{}}}}`)
	f.Fuzz(func(t *testing.T, in string) {
		td, err := DecodeTraceData([]byte(in))
		if err != nil {
			return
		}
		for id, sd := range td.Spans {
			sp := encodeSpan(td.TraceID, id, &sd)
			got := sp.data(td.TraceID, nil)
			if sd.Attributes == nil {
				sd.Attributes = map[string]any{}
			}
			if diff := cmp.Diff(sd, got); diff != "" {
				t.Fatalf("span %q (-want +got):\n%s", id, diff)
			}
			if d := jsonDiff(t, got, sd); d != "" {
				t.Fatalf("span %q:\n%s", id, d)
			}
		}
	})
}

// TestRecordedSpansFiltered checks that the drop rules apply to recorded
// spans as to posted ones: on the converted attribute values.
func TestRecordedSpansFiltered(t *testing.T) {
	store := New(&Options{DropSpans: map[string]string{"genkit:metadata:subtype": "prompt", "ratio": "NaN"}})
	tracer := newProvider(t, store)
	ctx, root := tracer.Start(context.Background(), "root")
	for _, attrs := range [][]attribute.KeyValue{
		{attribute.String("genkit:metadata:subtype", "prompt")},
		{attribute.Float64("ratio", math.NaN())},
		{attribute.String("genkit:name", "dev-run-action-wrapper")},
		{attribute.String("genkit:metadata:subtype", "model"), attribute.String("genkit:name", "kept")},
		{attribute.Int64("genkit:name", 1)},
		{attribute.Float64("ratio", 0.5)},
	} {
		_, s := tracer.Start(ctx, "child", trace.WithAttributes(attrs...))
		s.End()
	}
	root.End()
	td, _ := store.Get(root.SpanContext().TraceID().String())
	var kept []string
	for _, sd := range td.Spans {
		kept = append(kept, fmt.Sprint(sd.Attributes))
	}
	slices.Sort(kept)
	want := []string{"map[]", "map[genkit:metadata:subtype:model genkit:name:kept]", "map[genkit:name:1]", "map[ratio:0.5]"}
	if diff := cmp.Diff(want, kept); diff != "" {
		t.Errorf("kept spans' attributes (-want +got):\n%s", diff)
	}
}

// jsonDiff returns got's and want's JSON, as the telemetry API serves them,
// when they differ, and "" when they are the same bytes.
func jsonDiff(t *testing.T, got, want SpanData) string {
	t.Helper()
	wantJSON, err := jsontext.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	gotJSON, err := jsontext.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	if string(gotJSON) == string(wantJSON) {
		return ""
	}
	return fmt.Sprintf(" got %s\nwant %s", gotJSON, wantJSON)
}
