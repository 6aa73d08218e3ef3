package tracestore

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/genkit-runtime/genkit-runtime/internal/telemetrytest"
)

func httpDo(t *testing.T, method, u string, body []byte) (int, []byte) {
	t.Helper()
	code, _, b := httpDoHeader(t, method, u, body)
	return code, b
}

func httpDoHeader(t *testing.T, method, u string, body []byte) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, u, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

func jsonValue(t *testing.T, b []byte) any {
	t.Helper()
	if len(b) == 0 {
		return nil
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return v
}

// TestAgainstRealTelemetryServer posts the same batches to the real
// telemetry server and to a Handler, then compares what both answer.
func TestAgainstRealTelemetryServer(t *testing.T) {
	realURL := telemetrytest.Start(t)
	ours, _ := newServer(t, New(nil), nil)

	// A flow recorded through the OTel SDK, converted by FromSpan and sent
	// as the Genkit realtime exporter would: root start, then each end.
	otelStore := New(nil)
	runGenkitFlow(t, newProvider(t, otelStore))
	flow, _ := otelStore.Get("00000000000000000000000000000001")
	flowRoot := flow.Spans["0000000000000001"]
	flowRootStart := flowRoot.Clone()
	flowRootStart.EndTime = 0

	long := strings.Repeat("L", 1500)
	zero, two := 0, 2
	root := func(traceID, name string, start, end float64, code *int, attrs map[string]any) SpanData {
		sd := span(traceID, traceID+"-root", "", start, end, attrs)
		sd.DisplayName = name
		sd.Status = nil
		if code != nil {
			sd.Status = &Status{Code: *code}
		}
		return sd
	}
	batches := []TraceData{
		batch(flow.TraceID, flowRootStart),
		batch(flow.TraceID, flow.Spans["0000000000000002"], flow.Spans["0000000000000003"]),
		batch(flow.TraceID, flowRoot),
		batch("f1", root("f1", "alpha", 100, 200, &zero, map[string]any{
			"genkit:type": "action", "genkit:metadata:subtype": "flow", "genkitx:team": "blue", "genkitx:n": 42, "genkit:input": long,
		})),
		batch("f1", span("f1", "f1-child", "f1-root", 110, 120, map[string]any{"genkit:output": long})),
		batch("f2", root("f2", "beta", 300, 0, &zero, map[string]any{"genkit:type": "action", "genkit:metadata:subtype": "flow"})),
		batch("m1", root("m1", "gemini", 200, 250, &two, map[string]any{"genkit:type": "action", "genkit:metadata:subtype": "model"})),
		batch("u1", root("u1", "helper", 400, 410, nil, map[string]any{"genkit:type": "util"})),
		batch("x1", root("x1", "", 50, 60, &zero, nil)),
		batch("orphan", span("orphan", "c", "nowhere", 500, 501, nil)),
		// A prompt span is dropped and its already stored child promoted.
		batch("p1", span("p1", "render", "prompt", 600, 601, nil)),
		batch("p1", span("p1", "prompt", "", 599, 602, map[string]any{"genkit:metadata:subtype": "prompt"})),
		// A stale start after the end does not reopen the span.
		batch("s1", root("s1", "stale", 700, 710, &zero, nil)),
		batch("s1", root("s1", "stale", 700, 0, &zero, nil)),
		// A child batch with trace-level fields set overwrites them.
		{TraceID: "g1", DisplayName: ptr(""), StartTime: ptr(0.0), EndTime: ptr(0.0),
			Spans: map[string]SpanData{"g1-c": span("g1", "g1-c", "g1-root", 801, 802, nil)}},
		batch("g1", root("g1", "goflow", 800, 803, &zero, nil)),
		{TraceID: "g1", DisplayName: ptr(""), StartTime: ptr(0.0), EndTime: ptr(0.0),
			Spans: map[string]SpanData{"g1-d": span("g1", "g1-d", "g1-root", 801, 802, nil)}},
	}
	for _, b := range batches {
		body, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		for _, base := range []string{realURL, ours.URL} {
			if code, resp := httpDo(t, "POST", base+"/api/traces", body); code != 200 || string(resp) != "OK" {
				t.Fatalf("POST %s to %s: %d %s", b.TraceID, base, code, resp)
			}
		}
	}

	compare := func(t *testing.T, path string) {
		t.Helper()
		wantCode, wantHdr, wantBody := httpDoHeader(t, "GET", realURL+path, nil)
		gotCode, gotHdr, gotBody := httpDoHeader(t, "GET", ours.URL+path, nil)
		if gotCode != wantCode {
			t.Errorf("GET %s: status %d, real server %d", path, gotCode, wantCode)
		}
		if got, want := gotHdr.Get("Content-Type"), wantHdr.Get("Content-Type"); got != want {
			t.Errorf("GET %s: Content-Type %q, real server %q", path, got, want)
		}
		if diff := cmp.Diff(jsonValue(t, wantBody), jsonValue(t, gotBody)); diff != "" {
			t.Errorf("GET %s (-real +ours):\n%s", path, diff)
		}
	}
	for _, id := range []string{flow.TraceID, "f1", "f2", "m1", "u1", "x1", "orphan", "p1", "s1", "g1", "unknown"} {
		t.Run("get/"+id, func(t *testing.T) { compare(t, "/api/traces/"+id) })
	}
	queries := []string{
		"", "?limit=3", "?limit=3&continuationToken=3", "?limit=3&continuationToken=6", "?continuationToken=100",
		"?limit=100",
	}
	for _, f := range []string{
		`{"eq":{"type":"flow"}}`, `{"eq":{"type":["model","util"]}}`, `{"neq":{"type":"flow"}}`,
		`{"eq":{"status":2}}`, `{"eq":{"status":"2"}}`, `{"eq":{"status":"UNKNOWN"}}`, `{"neq":{"status":0}}`,
		`{"gt":{"start":200}}`, `{"gte":{"start":200}}`, `{"lt":{"start":200}}`, `{"lte":{"end":250}}`,
		`{"gt":{"name":1}}`, `{"contains":{"name":"ALP"}}`, `{"contains":{"name":["et","gem"]}}`,
		`{"contains":{"type":"o"}}`, `{"contains":{"start":"1"}}`, `{"eq":{"genkitx:team":"blue"}}`,
		`{"eq":{"genkitx:n":"42"}}`, `{"eq":{"genkitx:n":42}}`, `{"eq":{"id":"m1"}}`,
		`{"eq":{"type":"flow"},"lt":{"start":200}}`, `{"eq":{"name":"myFlow"}}`,
	} {
		queries = append(queries, "?filter="+encodeURI(f), "?limit=1&filter="+encodeURI(f))
	}
	for _, q := range queries {
		t.Run("list"+q, func(t *testing.T) { compare(t, "/api/traces"+q) })
	}
}

// TestStreamAgainstRealTelemetryServer compares the SSE messages of both
// servers for the same posts.
func TestStreamAgainstRealTelemetryServer(t *testing.T) {
	realURL := telemetrytest.Start(t)
	ours, _ := newServer(t, New(nil), nil)
	const id = "stream1"
	first := batch(id, span(id, "root", "", 1, 0, nil))
	later := []TraceData{
		batch(id, span(id, "a", "root", 2, 5, nil), span(id, "b", "root", 3, 0, nil), span(id, "c", "root", 5, 6, nil)),
		batch(id, span(id, "a", "root", 2, 0, nil)),
		batch(id, span(id, "root", "", 1, 9, nil)),
	}
	post := func(base string, td TraceData) {
		body, err := json.Marshal(td)
		if err != nil {
			t.Fatal(err)
		}
		if code, resp := httpDo(t, "POST", base+"/api/traces", body); code != 200 {
			t.Fatalf("POST to %s: %d %s", base, code, resp)
		}
	}
	messages := func(base string) []any {
		post(base, first)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		_, r := openStream(t, ctx, base+"/api/traces/"+id+"/stream")
		var out []any
		msg, err := r.next() // the snapshot; the real server sends headers with it
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, jsonValue(t, []byte(msg)))
		for _, td := range later {
			post(base, td)
		}
		for range 7 { // a, b, c starts; a, c ends; root start and end
			msg, err := r.next()
			if err != nil {
				t.Fatalf("%s stream: %v", base, err)
			}
			out = append(out, jsonValue(t, []byte(msg)))
		}
		return out
	}
	want := messages(realURL)
	got := messages(ours.URL)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("stream messages (-real +ours):\n%s", diff)
	}
	if n := len(want); n != 8 {
		t.Errorf("real server sent %d messages, want 8", n)
	}
}
