package tracestore

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// listFixture stores five listed traces and one without a root. By root
// start, newest first: u1 (400), f2 (300), m1 (200), f1 (100), x1 (50).
func listFixture(t testing.TB) *Store {
	s := New(nil)
	root := func(id, name string, start, end float64, code *int, attrs map[string]any) TraceData {
		sd := span(id, id+"-root", "", start, end, attrs)
		sd.DisplayName = name
		sd.Status = nil
		if code != nil {
			sd.Status = &Status{Code: *code}
		}
		return batch(id, sd)
	}
	zero, two := 0, 2
	mustIngest(t, s,
		root("f1", "alpha", 100, 200, &zero, map[string]any{
			"genkit:type": "action", "genkit:metadata:subtype": "flow", "genkitx:team": "blue", "genkitx:n": json.Number("42"),
		}),
		root("f2", "beta", 300, 0, &zero, map[string]any{"genkit:type": "action", "genkit:metadata:subtype": "flow"}),
		root("m1", "gemini", 200, 250, &two, map[string]any{"genkit:type": "action", "genkit:metadata:subtype": "model"}),
		root("u1", "helper", 400, 410, nil, map[string]any{"genkit:type": "util", "genkit:metadata:subtype": ""}),
		root("x1", "", 50, 60, &zero, nil),
		batch("orphan", span("orphan", "child", "missing-root", 500, 501, nil)),
	)
	return s
}

func listedIDs(r ListResult) []string {
	ids := []string{}
	for _, td := range r.Traces {
		ids = append(ids, td.TraceID)
	}
	return ids
}

func TestList(t *testing.T) {
	s := listFixture(t)
	tests := []struct {
		name      string
		query     Query
		want      []string
		wantToken string
	}{
		{"all, newest first", Query{}, []string{"u1", "f2", "m1", "f1", "x1"}, ""},
		{"first page", Query{Limit: 2}, []string{"u1", "f2"}, "2"},
		{"second page", Query{Limit: 2, ContinuationToken: "2"}, []string{"m1", "f1"}, "4"},
		{"last page", Query{Limit: 2, ContinuationToken: "4"}, []string{"x1"}, ""},
		{"exact last page has no token", Query{Limit: 5}, []string{"u1", "f2", "m1", "f1", "x1"}, ""},
		{"past the end", Query{ContinuationToken: "9"}, []string{}, ""},
		{"token with trailing junk", Query{Limit: 2, ContinuationToken: "4x"}, []string{"x1"}, ""},
		{"invalid token", Query{ContinuationToken: "abc"}, []string{}, ""},
		{"eq type", Query{Filter: &Filter{Eq: map[string]any{"type": "flow"}}}, []string{"f2", "f1"}, ""},
		{"eq type one of", Query{Filter: &Filter{Eq: map[string]any{"type": []any{"model", "util"}}}}, []string{"u1", "m1"}, ""},
		{"eq type UNKNOWN", Query{Filter: &Filter{Eq: map[string]any{"type": "UNKNOWN"}}}, []string{"x1"}, ""},
		{"neq type", Query{Filter: &Filter{Neq: map[string]any{"type": "flow"}}}, []string{"u1", "m1", "x1"}, ""},
		{"neq type list", Query{Filter: &Filter{Neq: map[string]any{"type": []string{"flow", "model"}}}}, []string{"u1", "x1"}, ""},
		{"eq status number", Query{Filter: &Filter{Eq: map[string]any{"status": 2.0}}}, []string{"m1"}, ""},
		{"eq status is strict", Query{Filter: &Filter{Eq: map[string]any{"status": "2"}}}, []string{}, ""},
		{"status UNKNOWN without a status", Query{Filter: &Filter{Eq: map[string]any{"status": "UNKNOWN"}}}, []string{"u1"}, ""},
		{"neq passes a missing field", Query{Filter: &Filter{Neq: map[string]any{"status": 0}}}, []string{"u1", "m1", "x1"}, ""},
		{"eq fails a missing field", Query{Filter: &Filter{Eq: map[string]any{"name": ""}}}, []string{}, ""},
		{"gt start", Query{Filter: &Filter{Gt: map[string]float64{"start": 200}}}, []string{"u1", "f2"}, ""},
		{"gte start", Query{Filter: &Filter{Gte: map[string]float64{"start": 200}}}, []string{"u1", "f2", "m1"}, ""},
		{"lt start", Query{Filter: &Filter{Lt: map[string]float64{"start": 200}}}, []string{"f1", "x1"}, ""},
		{"lte end skips running", Query{Filter: &Filter{Lte: map[string]float64{"end": 250}}}, []string{"m1", "f1", "x1"}, ""},
		{"gt on a string field", Query{Filter: &Filter{Gt: map[string]float64{"name": 0}}}, []string{}, ""},
		{"contains is case-insensitive", Query{Filter: &Filter{Contains: map[string]any{"name": "ALP"}}}, []string{"f1"}, ""},
		{"contains any of", Query{Filter: &Filter{Contains: map[string]any{"name": []any{"et", "gem"}}}}, []string{"f2", "m1"}, ""},
		{"contains on type", Query{Filter: &Filter{Contains: map[string]any{"type": "o"}}}, []string{"f2", "m1", "f1", "x1"}, ""},
		{"contains on a number field", Query{Filter: &Filter{Contains: map[string]any{"start": "1"}}}, []string{}, ""},
		{"genkitx attribute", Query{Filter: &Filter{Eq: map[string]any{"genkitx:team": "blue"}}}, []string{"f1"}, ""},
		{"genkitx numbers are strings", Query{Filter: &Filter{Eq: map[string]any{"genkitx:n": "42"}}}, []string{"f1"}, ""},
		{"genkitx number operand", Query{Filter: &Filter{Eq: map[string]any{"genkitx:n": 42}}}, []string{}, ""},
		{"id", Query{Filter: &Filter{Eq: map[string]any{"id": "m1"}}}, []string{"m1"}, ""},
		{"all conditions", Query{Filter: &Filter{Eq: map[string]any{"type": "flow"}, Lt: map[string]float64{"start": 200}}}, []string{"f1"}, ""},
		{"filtered paging", Query{Limit: 1, Filter: &Filter{Eq: map[string]any{"type": "flow"}}}, []string{"f2"}, "1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := s.List(tt.query)
			if diff := cmp.Diff(tt.want, listedIDs(got)); diff != "" {
				t.Errorf("listed ids (-want +got):\n%s", diff)
			}
			if got.ContinuationToken != tt.wantToken {
				t.Errorf("continuationToken = %q, want %q", got.ContinuationToken, tt.wantToken)
			}
		})
	}
}

func TestListRootOnlyTruncated(t *testing.T) {
	s := New(nil)
	long := strings.Repeat("é", 1200) // 1200 UTF-16 units, 2400 bytes
	root := span(tid, "root", "", 1, 9, map[string]any{
		"genkit:input":  long,
		"genkit:output": strings.Repeat("o", 1000),
		"genkitx:list":  []any{long},
		"genkit:isRoot": true,
	})
	mustIngest(t, s,
		batch(tid, span(tid, "child", "root", 2, 3, map[string]any{"genkit:output": long})),
		batch(tid, root),
	)
	got := s.List(Query{})
	wantRoot := root.Clone()
	wantRoot.Attributes["genkit:input"] = strings.Repeat("é", 1000) + "..."
	want := ListResult{Traces: []TraceData{{
		TraceID: tid, DisplayName: ptr("root"), StartTime: ptr(1.0), EndTime: ptr(9.0),
		Spans: map[string]SpanData{"root": wantRoot},
	}}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("List (-want +got):\n%s", diff)
	}
	full, _ := s.Get(tid)
	if full.Spans["root"].Attributes["genkit:input"] != long || len(full.Spans) != 2 {
		t.Error("Get returned a truncated trace")
	}
}

func TestListFirstRootWins(t *testing.T) {
	s := New(nil)
	mustIngest(t, s,
		batch(tid, span(tid, "first", "", 5, 6, map[string]any{"genkit:type": "action"})),
		batch(tid, span(tid, "second", "", 1, 2, map[string]any{"genkit:type": "util"})),
	)
	got := s.List(Query{})
	if len(got.Traces) != 1 {
		t.Fatalf("listed %d traces, want 1", len(got.Traces))
	}
	if _, ok := got.Traces[0].Spans["first"]; !ok || len(got.Traces[0].Spans) != 1 {
		t.Errorf("listed spans = %v, want only the first root", got.Traces[0].Spans)
	}
	if r := s.List(Query{Filter: &Filter{Eq: map[string]any{"type": "action"}}}); len(r.Traces) != 1 {
		t.Errorf("type index does not come from the first root")
	}
}

func TestListIndexUpdatesOnRootOnly(t *testing.T) {
	s := New(nil)
	mustIngest(t, s, batch(tid, span(tid, "root", "", 10, 0, nil)))
	running := &Filter{Eq: map[string]any{"end": 20}}
	if got := s.List(Query{Filter: running}); len(got.Traces) != 0 {
		t.Fatal("running trace matched end=20")
	}
	mustIngest(t, s, batch(tid, span(tid, "child", "root", 11, 12, nil)))
	mustIngest(t, s, batch(tid, span(tid, "root", "", 10, 20, nil)))
	if got := s.List(Query{Filter: running}); len(got.Traces) != 1 {
		t.Error("ended root not re-indexed")
	}
}

func TestParseFilter(t *testing.T) {
	tests := []struct {
		in      string
		want    *Filter
		wantErr bool
	}{
		{in: `{}`, want: &Filter{}},
		{in: `{"eq":{"type":"flow"}}`, want: &Filter{Eq: map[string]any{"type": "flow"}}},
		{in: `{"eq":{"type":["flow",1]},"gt":{"start":5}}`, want: &Filter{Eq: map[string]any{"type": []any{"flow", 1.0}}, Gt: map[string]float64{"start": 5}}},
		{in: `{"contains":{"name":"x"},"unknown":1}`, want: &Filter{Contains: map[string]any{"name": "x"}}},
		{in: `null`, wantErr: true},
		{in: `[]`, wantErr: true},
		{in: `{"eq":{"type":true}}`, wantErr: true},
		{in: `{"eq":{"type":[{}]}}`, wantErr: true},
		{in: `{"gt":{"start":"5"}}`, wantErr: true},
		{in: `{"eq":`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseFilter([]byte(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseFilter error = %v, wantErr %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseFilter (-want +got):\n%s", diff)
			}
		})
	}
}

func FuzzParseFilter(f *testing.F) {
	for _, seed := range []string{`{}`, `{"eq":{"type":"flow"}}`, `{"contains":{"name":["a",1]}}`, `{"gt":{"start":1}}`, `null`} {
		f.Add(seed)
	}
	s := listFixture(f)
	f.Fuzz(func(t *testing.T, in string) {
		filter, err := ParseFilter([]byte(in))
		if err != nil {
			return
		}
		s.List(Query{Filter: filter}) // must not panic
	})
}

func TestJSHelpers(t *testing.T) {
	numbers := map[float64]string{
		0: "0", 1: "1", -1.5: "-1.5", 1e21: "1e+21", 123456789012345680000: "123456789012345680000",
		0.000001: "0.000001", 1e-7: "1e-7", 1.5e-10: "1.5e-10", 1700000000001.25: "1700000000001.25", 2.5e300: "2.5e+300",
	}
	for f, want := range numbers {
		if got := jsNumber(f); got != want {
			t.Errorf("jsNumber(%v) = %q, want %q", f, got, want)
		}
	}
	strs := []struct {
		in   any
		want string
	}{
		{nil, "null"}, {true, "true"}, {json.Number("42"), "42"}, {[]any{"a", 1.0, nil}, "a,1,"},
		{map[string]any{}, "[object Object]"}, {[]string{"x", "y"}, "x,y"}, {int64(7), "7"},
	}
	for _, tt := range strs {
		if got := jsString(tt.in); got != tt.want {
			t.Errorf("jsString(%#v) = %q, want %q", tt.in, got, tt.want)
		}
	}
	ints := []struct {
		in   string
		want int
		ok   bool
	}{{"10", 10, true}, {" 7x", 7, true}, {"-3", -3, true}, {"1e3", 1, true}, {"", 0, false}, {"x1", 0, false}, {"+", 0, false}}
	for _, tt := range ints {
		if got, ok := jsParseInt(tt.in); got != tt.want || ok != tt.ok {
			t.Errorf("jsParseInt(%q) = %d, %v; want %d, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
	cuts := []struct {
		in   string
		want string
	}{
		{strings.Repeat("a", 1000), strings.Repeat("a", 1000)},
		{strings.Repeat("a", 1001), strings.Repeat("a", 1000) + "..."},
		{strings.Repeat("é", 1000), strings.Repeat("é", 1000)},
		{strings.Repeat("a", 999) + "😀", strings.Repeat("a", 999) + "..."},
		{strings.Repeat("😀", 500), strings.Repeat("😀", 500)},
	}
	for _, tt := range cuts {
		if got, _ := truncateJS(tt.in, maxListAttrLen); got != tt.want {
			t.Errorf("truncateJS(len %d) = len %d, want len %d", len(tt.in), len(got), len(tt.want))
		}
	}
}
