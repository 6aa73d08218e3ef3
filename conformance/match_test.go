package conformance_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/genkit-runtime/genkit-runtime/conformance"
)

// decode decodes JSON as the suite does, numbers as json.Number.
func decode(t *testing.T, s string) any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("%s: %v", s, err)
	}
	return v
}

// TestMatch checks each part of the pattern language against a value it
// must match and one it must not, and the path the mismatch reports.
func TestMatch(t *testing.T) {
	const obs = `{
		"status": 200,
		"traceId": "0af7651916cd43dd8448eb211c80319c",
		"final": {"result": {"a": [1, "x", null]}, "telemetry": {"traceId": "0af7651916cd43dd8448eb211c80319c"}},
		"text": "<redacted>",
		"chunks": [{"index": 0}, {"index": 1}],
		"spans": {"s1": {"spanId": "s1"}, "s2": {"spanId": "s2"}},
		"attr": "{\"auth\":\"<redacted>\",\"n\":2.50}"
	}`
	for _, tc := range []struct {
		name     string
		pat      string
		mismatch string // the path of the first mismatch; "" when it matches
	}{
		{"subset of members", `{"status": 200, "final": {"result": {"a": [1, "x", null]}}}`, ""},
		{"wrong value", `{"status": 404}`, "status"},
		{"array length", `{"chunks": [{"index": 0}]}`, "chunks"},
		{"number by value", `{"status": 200.0}`, ""},
		{"placeholders", `{"traceId": "<traceId>", "status": "<int>", "final": "<object>", "chunks": "<array>"}`, ""},
		{"placeholder mismatch", `{"status": "<string>"}`, "status"},
		{"absent", `{"error": "<absent>"}`, ""},
		{"absent but present", `{"status": "<absent>"}`, "status"},
		{"missing member", `{"error": {"code": 5}}`, "error"},
		{"exact", `{"final": {"$exact": {"result": "<object>", "telemetry": "<object>"}}}`, ""},
		{"exact extra member", `{"final": {"$exact": {"result": "<object>"}}}`, "final.telemetry"},
		{"exact at depth", `{"final": {"$exact": {"result": {"a": "<array>"}, "telemetry": {}}}}`, "final.telemetry.traceId"},
		{"literal", `{"text": {"$literal": "<redacted>"}}`, ""},
		{"literal is not a placeholder", `{"status": {"$literal": "<int>"}}`, "status"},
		{"same", `{"traceId": {"$same": "final.telemetry.traceId"}}`, ""},
		{"same differs", `{"status": {"$same": "chunks[1].index"}}`, "status"},
		{"same of an absent path", `{"traceId": {"$same": "final.error.details.traceId"}}`, "traceId"},
		{"same of a quoted path", `{"spans": {"s1": {"spanId": {"$same": "spans[\"s1\"].spanId"}}}}`, ""},
		{"regex", `{"traceId": {"$regex": "^[0-9a-f]{32}$"}}`, ""},
		{"regex mismatch", `{"traceId": {"$regex": "^x"}}`, "traceId"},
		{"contains string", `{"text": {"$contains": "redact"}}`, ""},
		{"contains element", `{"chunks": {"$contains": {"index": 1}}}`, ""},
		{"contains no element", `{"chunks": {"$contains": {"index": 2}}}`, "chunks"},
		{"each", `{"chunks": {"$each": {"index": "<int>"}}}`, ""},
		{"each mismatch", `{"chunks": {"$each": {"index": 0}}}`, "chunks[1].index"},
		{"len", `{"chunks": {"$len": 2}, "text": {"$len": {"$gt": 5}}}`, ""},
		{"len mismatch", `{"chunks": {"$len": 3}}`, "chunks.length"},
		{"comparisons", `{"status": {"$allOf": [{"$gte": 200}, {"$lt": 300}, {"$range": [100, 299]}]}}`, ""},
		{"range mismatch", `{"status": {"$range": [400, 499]}}`, "status"},
		{"anyOf absent", `{"error": {"$anyOf": ["<absent>", "<object>"]}}`, ""},
		{"in", `{"status": {"$in": [200, 201]}}`, ""},
		{"not", `{"status": {"$not": 500}}`, ""},
		{"not mismatch", `{"status": {"$not": "<int>"}}`, "status"},
		{"json", `{"attr": {"$json": {"auth": {"$literal": "<redacted>"}, "n": 2.5}}}`, ""},
		{"json mismatch", `{"attr": {"$json": {"n": 3}}}`, "attr(json).n"},
		{"keyed", `{"spans": {"$keyed": "spanId"}}`, ""},
		{"keyed mismatch", `{"final": {"$keyed": "traceId"}}`, "final.result.traceId"},
		{"keys", `{"spans": {"$keys": ["s1", "s2"]}}`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ms := conformance.Match(decode(t, tc.pat), decode(t, obs))
			switch {
			case tc.mismatch == "" && len(ms) > 0:
				t.Errorf("want a match, got %v", ms)
			case tc.mismatch != "" && len(ms) == 0:
				t.Errorf("want a mismatch at %s, got a match", tc.mismatch)
			case tc.mismatch != "" && ms[0].Path != tc.mismatch:
				t.Errorf("mismatch at %s, want %s: %v", ms[0].Path, tc.mismatch, ms)
			}
		})
	}
}

// TestParseCaseRejectsBadPatterns checks that malformed patterns fail when
// the case is loaded, not when it runs.
func TestParseCaseRejectsBadPatterns(t *testing.T) {
	for _, tc := range []struct{ pat, err string }{
		{`{"x": {"$nope": 1}}`, "unknown operator $nope"},
		{`{"x": {"$same": 3}}`, "$same wants a path"},
		{`{"x": {"$same": "a[b"}}`, "$same"},
		{`{"x": {"$regex": "("}}`, "$regex"},
		{`{"x": {"$range": [1]}}`, "$range wants [low, high]"},
		{`{"x": {"$anyOf": []}}`, "$anyOf wants a non-empty array"},
		{`{"x": {"$gt": "1"}}`, "$gt wants a number"},
		{`{"x": "<nosuch>"}`, "unknown placeholder <nosuch>"},
		{`{"x": {"$len": 1, "y": 2}}`, "must be the only member"},
	} {
		c := `{"title": "t", "rules": ["r"], "transport": "v1",
			"steps": [{"http": {"method": "GET", "path": "/"}, "expect": ` + tc.pat + `}]}`
		_, err := conformance.ParseCase("bad", []byte(c))
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: error %v, want one containing %q", tc.pat, err, tc.err)
		}
	}
	// The same case with a sound pattern loads.
	ok := `{"title": "t", "rules": ["r"], "transport": "v1",
		"steps": [{"http": {"method": "GET", "path": "/"}, "expect": {"x": {"$literal": "<nosuch>"}}}]}`
	if _, err := conformance.ParseCase("ok", []byte(ok)); err != nil {
		t.Errorf("a $literal holding placeholder-like text: %v", err)
	}
}
