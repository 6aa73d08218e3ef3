package tracestore

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

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
	ended, running := everySpan(t)
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
	ended, running := everySpan(t)
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
