package reflection_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/genkit-runtime/genkit-runtime/reflection"
	"github.com/genkit-runtime/genkit-runtime/registry"
	"github.com/genkit-runtime/genkit-runtime/status"
)

var (
	v1TraceIDRe = regexp.MustCompile(`^[0-9a-f]{32}$`)
	v1SpanIDRe  = regexp.MustCompile(`^[0-9a-f]{16}$`)
)

// v1DefineExtras registers actions the fixture lacks: a stream that fails
// midway, and actions that panic before and while streaming.
func v1DefineExtras(t testing.TB, reg *registry.Registry) {
	t.Helper()
	_, err := registry.DefineStreamingFlow(reg, "streamFail", func(_ context.Context, _ any, send func(int) error) (int, error) {
		for i := range 2 {
			if err := send(i); err != nil {
				return 0, err
			}
		}
		return 0, &status.Error{Code: status.FailedPrecondition, Message: "mid"}
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = registry.DefineFlow(reg, "panicBefore", func(context.Context, any) (int, error) { panic("early") }, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = registry.DefineStreamingFlow(reg, "panicDuring", func(_ context.Context, _ any, send func(string) error) (int, error) {
		if err := send("one"); err != nil {
			return 0, err
		}
		panic("midstream")
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
}

func TestV1RunSuccess(t *testing.T) {
	e := newV1Env(t, nil)
	resp, body := e.run(t, false, `{"key":"/flow/echo","input":{"a":[1,"<b>"]},"runtimeId":"123-3100"}`)
	if resp.StatusCode != 200 {
		t.Fatalf("status = %d: %s", resp.StatusCode, body)
	}
	traceID := resp.Header.Get(reflection.HeaderTraceID)
	if !v1TraceIDRe.MatchString(traceID) {
		t.Fatalf("%s = %q, want 32 lowercase hex digits", reflection.HeaderTraceID, traceID)
	}
	spanID := resp.Header.Get(reflection.HeaderSpanID)
	if !v1SpanIDRe.MatchString(spanID) {
		t.Errorf("%s = %q, want 16 lowercase hex digits", reflection.HeaderSpanID, spanID)
	}
	if got := resp.Header.Get(reflection.HeaderVersion); got != "0.1.0" {
		t.Errorf("%s = %q, want 0.1.0", reflection.HeaderVersion, got)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	want := `{"result":{"a":[1,"<b>"]},"telemetry":{"traceId":"` + traceID + `"}}`
	if body != want {
		t.Errorf("body =\n%s\nwant\n%s", body, want)
	}
	root := e.rootSpan(t, traceID)
	if root.SpanContext.SpanID().String() != spanID {
		t.Errorf("%s = %s, want the root span's %s", reflection.HeaderSpanID, spanID, root.SpanContext.SpanID())
	}
}

func TestV1RunResults(t *testing.T) {
	e := newV1Env(t, nil)
	tests := []struct {
		name, body, result string
	}{
		{"greet", `{"key":"/flow/greet","input":{"name":"Ada","count":2}}`, `"Hello, Ada! Hello, Ada!"`},
		{"no input", `{"key":"/flow/echo"}`, `null`},
		{"null input", `{"key":"/flow/echo","input":null,"context":null,"init":null}`, `null`},
		{"steps", `{"key":"/flow/steps","input":{"steps":2}}`, `["step-1","step-2"]`},
		{"tool", `{"key":"/tool/add","input":{"a":1,"b":2}}`, `3`},
		{"tool v2", `{"key":"/tool.v2/add","input":{"a":1,"b":2}}`, `{"output":3}`},
		{"model", `{"key":"/model/echoModel","input":{"messages":[{"role":"user","content":[{"text":"hi"}]}]}}`,
			`{"message":{"role":"model","content":[{"text":"hi"}]},"finishReason":"stop"}`},
		{"labels and context", `{"key":"/flow/echo","input":1,"context":{"x":1},"telemetryLabels":{"l":"v"}}`, `1`},
		{"spaced input compacted", "{\"key\":\"/flow/echo\",\"input\": { \"a b\" : [ 1,\n 2 ], \"c\":\"\\\" d\" } }", `{"a b":[1,2],"c":"\" d"}`},
		{"escaped key", `{"key":"\/flow\/echo","input":"\u003c"}`, `"\u003c"`},
	}
	for _, tt := range tests {
		for _, stream := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s stream=%v", tt.name, stream), func(t *testing.T) {
				resp, body := e.run(t, stream, tt.body)
				if resp.StatusCode != 200 {
					t.Fatalf("status = %d: %s", resp.StatusCode, body)
				}
				traceID := resp.Header.Get(reflection.HeaderTraceID)
				final := body
				if stream {
					_, final = v1SplitStream(t, body)
				}
				want := `{"result":` + tt.result + `,"telemetry":{"traceId":"` + traceID + `"}}`
				if final != want {
					t.Errorf("final = %s, want %s", final, want)
				}
			})
		}
	}
}

func TestV1RunStream(t *testing.T) {
	e := newV1Env(t, nil)
	resp, body := e.run(t, true, `{"key":"/flow/count","input":{"count":5}}`)
	if resp.StatusCode != 200 {
		t.Fatalf("status = %d: %s", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/plain" {
		t.Errorf("Content-Type = %q, want text/plain", ct)
	}
	traceID := resp.Header.Get(reflection.HeaderTraceID)
	want := `{"index":0}` + "\n" + `{"index":1}` + "\n" + `{"index":2}` + "\n" + `{"index":3}` + "\n" + `{"index":4}` + "\n" +
		`{"result":{"count":5},"telemetry":{"traceId":"` + traceID + `"}}`
	if body != want {
		t.Errorf("body =\n%q\nwant\n%q", body, want)
	}
	// Without ?stream=true the same flow answers with its result only.
	resp, body = e.run(t, false, `{"key":"/flow/count","input":{"count":5}}`)
	if want := `{"result":{"count":5},"telemetry":{"traceId":"` + resp.Header.Get(reflection.HeaderTraceID) + `"}}`; body != want {
		t.Errorf("non-stream body = %s, want %s", body, want)
	}
}

func TestV1RunStreamErrors(t *testing.T) {
	e := newV1Env(t, func(reg *registry.Registry, _ *reflection.Options) { v1DefineExtras(t, reg) })
	tests := []struct {
		name, body string
		chunks     []string
		code       status.Code
		message    string
		stack      bool
	}{
		{"error midway", `{"key":"/flow/streamFail"}`, []string{"0", "1"}, status.FailedPrecondition, "FAILED_PRECONDITION: mid", false},
		{"panic midway", `{"key":"/flow/panicDuring"}`, []string{`"one"`}, status.Internal, "INTERNAL: action panicked: midstream", true},
		{"panic first", `{"key":"/flow/panicBefore"}`, nil, status.Internal, "INTERNAL: action panicked: early", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := e.run(t, true, tt.body)
			if resp.StatusCode != 200 {
				t.Fatalf("status = %d: %s", resp.StatusCode, body)
			}
			traceID := resp.Header.Get(reflection.HeaderTraceID)
			chunks, final := v1SplitStream(t, body)
			if diff := cmp.Diff(tt.chunks, chunks); diff != "" {
				t.Errorf("chunks (-want +got):\n%s", diff)
			}
			f := v1CheckFinal(t, final)
			if f.Error == nil {
				t.Fatalf("final %s is not an error", final)
			}
			if *f.Error.Code != int(tt.code) || *f.Error.Message != tt.message || f.Error.Details["traceId"] != traceID {
				t.Errorf("error = %s, want code %d, message %q, details.traceId %s", final, tt.code, tt.message, traceID)
			}
			if stack, _ := f.Error.Details["stack"].(string); tt.stack != strings.Contains(stack, "goroutine") {
				t.Errorf("details.stack = %q, want a stack: %v", stack, tt.stack)
			}
		})
	}
	// The server still serves after the panics.
	if resp, body := e.run(t, false, `{"key":"/flow/echo","input":2}`); resp.StatusCode != 200 || !strings.HasPrefix(body, `{"result":2,`) {
		t.Errorf("after panics: %d %s", resp.StatusCode, body)
	}
}

func TestV1RunPanicNonStream(t *testing.T) {
	e := newV1Env(t, func(reg *registry.Registry, _ *reflection.Options) { v1DefineExtras(t, reg) })
	for range 2 {
		resp, body := e.run(t, false, `{"key":"/flow/panicBefore"}`)
		f := v1CheckFinal(t, body)
		if resp.StatusCode != 200 || f.Error == nil || *f.Error.Code != 13 || f.Error.Details["stack"] == nil {
			t.Errorf("panicking run = %d %s, want 200 and an INTERNAL error with a stack", resp.StatusCode, body)
		}
		if f.Error != nil && f.Error.Details["traceId"] != resp.Header.Get(reflection.HeaderTraceID) {
			t.Errorf("details.traceId = %v, want the trace header", f.Error.Details["traceId"])
		}
	}
	if resp, _ := e.run(t, false, `{"key":"/flow/echo","input":2}`); resp.StatusCode != 200 {
		t.Errorf("after a panic: %d", resp.StatusCode)
	}
}

func TestV1RunFailStatuses(t *testing.T) {
	e := newV1Env(t, nil)
	for c := status.OK; c <= status.Unauthenticated; c++ {
		for _, stream := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s stream=%v", c, stream), func(t *testing.T) {
				resp, body := e.run(t, stream, fmt.Sprintf(`{"key":"/flow/fail","input":{"status":%q,"message":"msg"}}`, c))
				if resp.StatusCode != 200 {
					t.Fatalf("status = %d, want 200: %s", resp.StatusCode, body)
				}
				traceID := resp.Header.Get(reflection.HeaderTraceID)
				if !v1TraceIDRe.MatchString(traceID) {
					t.Errorf("no trace header")
				}
				final := body
				if stream {
					var chunks []string
					chunks, final = v1SplitStream(t, body)
					if len(chunks) != 0 {
						t.Errorf("chunks = %q, want none", chunks)
					}
				}
				want := fmt.Sprintf(`{"error":{"code":%d,"message":"%s: msg","details":{"traceId":%q}}}`, c, c, traceID)
				if final != want {
					t.Errorf("final = %s, want %s", final, want)
				}
			})
		}
	}
}

// TestV1RunInvalidInput checks that input failing the schema is answered
// with INVALID_ARGUMENT in both modes, before any span starts.
func TestV1RunInvalidInput(t *testing.T) {
	e := newV1Env(t, nil)
	for _, stream := range []bool{false, true} {
		t.Run(fmt.Sprintf("stream=%v", stream), func(t *testing.T) {
			resp, body := e.run(t, stream, `{"key":"/flow/greet","input":{"name":""}}`)
			if resp.StatusCode != 200 {
				t.Fatalf("status = %d: %s", resp.StatusCode, body)
			}
			if h := resp.Header.Get(reflection.HeaderTraceID); h != "" {
				t.Errorf("%s = %q for a run that never started", reflection.HeaderTraceID, h)
			}
			if h := resp.Header.Get(reflection.HeaderSpanID); h != "" {
				t.Errorf("%s = %q for a run that never started", reflection.HeaderSpanID, h)
			}
			if strings.Contains(body, "\n") {
				t.Errorf("body %q has a newline", body)
			}
			f := v1CheckFinal(t, body)
			if f.Error == nil || *f.Error.Code != 3 || !strings.Contains(*f.Error.Message, "name") {
				t.Errorf("body = %s, want an INVALID_ARGUMENT error naming the field", body)
			}
		})
	}
	if n := len(e.exp.GetSpans()); n != 0 {
		t.Errorf("%d spans for runs with invalid input, want none", n)
	}
}

// TestV1RunRequestErrors covers requests rejected before any run: they get
// a non-2xx status and a bare Status body.
func TestV1RunRequestErrors(t *testing.T) {
	e := newV1Env(t, func(_ *registry.Registry, o *reflection.Options) { o.MaxBodyBytes = 256 })
	big := `{"key":"/flow/echo","input":"` + strings.Repeat("x", 300) + `"}`
	tests := []struct {
		name, query, body string
		wantHTTP          int
		wantCode          status.Code
		wantMsg           string
	}{
		{"unknown key", "", `{"key":"/flow/nope"}`, 404, status.NotFound, "NOT_FOUND: action /flow/nope not found"},
		{"unknown key streaming", "?stream=true", `{"key":"/flow/nope"}`, 404, status.NotFound, "/flow/nope"},
		{"malformed JSON", "", `{"key":`, 400, status.InvalidArgument, "malformed"},
		{"empty body", "", ``, 400, status.InvalidArgument, "empty"},
		{"key a number", "", `{"key":5}`, 400, status.InvalidArgument, "key"},
		{"missing key", "", `{"input":1}`, 400, status.InvalidArgument, "key is required"},
		{"empty key", "", `{"key":""}`, 404, status.NotFound, "action  not found"},
		{"body an array", "", `[]`, 400, status.InvalidArgument, "object"},
		{"body null", "", `null`, 400, status.InvalidArgument, "key"},
		{"context not an object", "", `{"key":"/flow/echo","context":[1]}`, 400, status.InvalidArgument, "context"},
		{"label not a string", "", `{"key":"/flow/echo","telemetryLabels":{"a":1}}`, 400, status.InvalidArgument, "telemetryLabels"},
		{"label null", "", `{"key":"/flow/echo","telemetryLabels":{"a":null}}`, 400, status.InvalidArgument, "telemetryLabels"},
		{"stream garbage", "?stream=garbage", `{"key":"/flow/echo"}`, 400, status.InvalidArgument, "stream"},
		{"body too large", "", big, 413, status.ResourceExhausted, "256 bytes"},
		{"body too large streaming", "?stream=true", big, 413, status.ResourceExhausted, "limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := e.do(t, http.MethodPost, "/api/runAction"+tt.query, tt.body)
			if resp.StatusCode != tt.wantHTTP {
				t.Errorf("status = %d, want %d: %s", resp.StatusCode, tt.wantHTTP, body)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", ct)
			}
			if h := resp.Header.Get(reflection.HeaderTraceID); h != "" {
				t.Errorf("%s = %q on a request error", reflection.HeaderTraceID, h)
			}
			st := v1DecodeStatus(t, body)
			if *st.Code != int(tt.wantCode) || !strings.Contains(*st.Message, tt.wantMsg) {
				t.Errorf("Status = %d %q, want %d containing %q", *st.Code, *st.Message, tt.wantCode, tt.wantMsg)
			}
			// The server keeps serving.
			if resp, body := e.run(t, false, `{"key":"/flow/echo","input":1}`); resp.StatusCode != 200 {
				t.Errorf("next request: %d %s", resp.StatusCode, body)
			}
		})
	}
}

func TestV1RunContextAndLabelsInSpan(t *testing.T) {
	e := newV1Env(t, nil)
	resp, _ := e.run(t, false, `{"key":"/flow/echo","input":1,"context":{"auth":{"token":"t0k3n"},"secrets":["s"],"tenant":"a"},`+
		`"telemetryLabels":{"myLabel":"v1","genkitx:foo":"bar"}}`)
	attrs := v1Attrs(e.rootSpan(t, resp.Header.Get(reflection.HeaderTraceID)))
	want := map[string]any{
		"genkit:metadata:context": `{"auth":"<redacted>","secrets":"<redacted>","tenant":"a"}`,
		"myLabel":                 "v1",
		"genkitx:foo":             "bar",
		"genkit:isRoot":           true,
		"genkit:state":            "success",
	}
	got := map[string]any{}
	for k := range want {
		got[k] = attrs[k]
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("root span attributes (-want +got):\n%s", diff)
	}
	if strings.Contains(fmt.Sprint(attrs), "t0k3n") {
		t.Error("the auth token reached the span")
	}
	resp, _ = e.run(t, false, `{"key":"/flow/echo","input":1}`)
	if got := v1Attrs(e.rootSpan(t, resp.Header.Get(reflection.HeaderTraceID)))["genkit:metadata:context"]; got != "{}" {
		t.Errorf("context attribute without a context = %v, want {}", got)
	}
}

// TestV1EarlyHeadersAndCancel starts a long run, reads its trace ID from
// the headers while the body is still open, and cancels it by that ID.
func TestV1EarlyHeadersAndCancel(t *testing.T) {
	e := newV1Env(t, nil)
	for _, stream := range []bool{false, true} {
		t.Run(fmt.Sprintf("stream=%v", stream), func(t *testing.T) {
			path := "/api/runAction"
			if stream {
				path += "?stream=true"
			}
			// Client.Do returns once the headers are in; the run waits an hour.
			resp := e.start(t, http.MethodPost, path, `{"key":"/flow/wait","input":{"ms":3600000}}`)
			defer resp.Body.Close()
			traceID := resp.Header.Get(reflection.HeaderTraceID)
			if !v1TraceIDRe.MatchString(traceID) || !v1SpanIDRe.MatchString(resp.Header.Get(reflection.HeaderSpanID)) {
				t.Fatalf("early headers = %v", resp.Header)
			}
			if resp.Header.Get(reflection.HeaderVersion) != "0.1.0" {
				t.Errorf("early headers lack %s", reflection.HeaderVersion)
			}
			wantType := map[bool]string{false: "application/json", true: "text/plain"}[stream]
			if ct := resp.Header.Get("Content-Type"); ct != wantType {
				t.Errorf("Content-Type = %q, want %q", ct, wantType)
			}

			cresp, cbody := e.do(t, http.MethodPost, "/api/cancelAction", `{"traceId":"`+traceID+`"}`)
			if cresp.StatusCode != 200 || cbody != `{"message":"Action cancelled"}` {
				t.Errorf("cancel = %d %s", cresp.StatusCode, cbody)
			}
			if ct := cresp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("cancel Content-Type = %q", ct)
			}
			b, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			want := `{"error":{"code":1,"message":"Action was cancelled","details":{"traceId":"` + traceID + `"}}}`
			if string(b) != want {
				t.Errorf("body after cancel = %q, want %q", b, want)
			}
			root := e.rootSpan(t, traceID)
			if got := v1Attrs(root)["genkit:state"]; got != "error" || root.Status.Code != codes.Error || root.Status.Description != "Action was cancelled" {
				t.Errorf("cancelled span: state %v, status %+v", got, root.Status)
			}

			cresp, cbody = e.do(t, http.MethodPost, "/api/cancelAction", `{"traceId":"`+traceID+`"}`)
			if cresp.StatusCode != 404 {
				t.Errorf("second cancel = %d, want 404", cresp.StatusCode)
			}
			var nf struct{ Message string }
			if err := json.Unmarshal([]byte(cbody), &nf); err != nil || nf.Message != "Action not found or already completed" {
				t.Errorf("second cancel body = %s", cbody)
			}
		})
	}
}

func TestV1CancelRequestErrors(t *testing.T) {
	e := newV1Env(t, nil)
	tests := []struct {
		name, body string
		wantHTTP   int
	}{
		{"missing traceId", `{}`, 400},
		{"empty traceId", `{"traceId":""}`, 400},
		{"traceId a number", `{"traceId":5}`, 400},
		{"malformed", `{"traceId":`, 400},
		{"empty body", ``, 400},
		{"unknown trace", `{"traceId":"0123456789abcdef0123456789abcdef"}`, 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := e.do(t, http.MethodPost, "/api/cancelAction", tt.body)
			if resp.StatusCode != tt.wantHTTP {
				t.Errorf("status = %d, want %d", resp.StatusCode, tt.wantHTTP)
			}
			st := v1DecodeStatus(t, body)
			if tt.wantHTTP == 400 && *st.Code != 3 {
				t.Errorf("code = %d, want 3", *st.Code)
			}
		})
	}
}

// TestV1CancelStream cancels a stream after its first chunk: the stream
// ends with exactly one final line carrying the CANCELLED error.
func TestV1CancelStream(t *testing.T) {
	e := newV1Env(t, nil)
	resp := e.start(t, http.MethodPost, "/api/runAction?stream=true", `{"key":"/flow/count","input":{"count":100000,"delayMs":3600000}}`)
	defer resp.Body.Close()
	traceID := resp.Header.Get(reflection.HeaderTraceID)
	br := bufio.NewReader(resp.Body)
	first, err := br.ReadString('\n')
	if err != nil || first != "{\"index\":0}\n" {
		t.Fatalf("first line = %q, %v", first, err)
	}
	if cresp, _ := e.do(t, http.MethodPost, "/api/cancelAction", `{"traceId":"`+traceID+`"}`); cresp.StatusCode != 200 {
		t.Fatalf("cancel = %d", cresp.StatusCode)
	}
	rest, err := io.ReadAll(br)
	if err != nil {
		t.Fatal(err)
	}
	chunks, final := v1SplitStream(t, first+string(rest))
	if len(chunks) != 1 {
		t.Errorf("chunks = %q, want only the first", chunks)
	}
	want := `{"error":{"code":1,"message":"Action was cancelled","details":{"traceId":"` + traceID + `"}}}`
	if final != want {
		t.Errorf("final = %q, want %q", final, want)
	}
}

// TestV1ClientDisconnect closes the response body after the first chunk:
// the run's context ends, so the action stops and its span ends in error.
func TestV1ClientDisconnect(t *testing.T) {
	e := newV1Env(t, nil)
	resp := e.start(t, http.MethodPost, "/api/runAction?stream=true", `{"key":"/flow/count","input":{"count":100000,"delayMs":20}}`)
	traceID := resp.Header.Get(reflection.HeaderTraceID)
	if _, err := bufio.NewReader(resp.Body).ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	// The run would take more than half an hour; its span ending within
	// rootSpan's bound shows the disconnect stopped it.
	root := e.rootSpan(t, traceID)
	if got := v1Attrs(root)["genkit:state"]; got != "error" || root.Status.Code != codes.Error {
		t.Errorf("span after disconnect: state %v, status %+v; want error", got, root.Status)
	}
	if cresp, _ := e.do(t, http.MethodPost, "/api/cancelAction", `{"traceId":"`+traceID+`"}`); cresp.StatusCode != 404 {
		t.Errorf("cancel after disconnect = %d, want 404 (the run is over)", cresp.StatusCode)
	}
}

// TestConcurrentSafeV1Runs runs, streams, lists and cancels concurrently;
// run it with -race.
func TestConcurrentSafeV1Runs(t *testing.T) {
	e := newV1Env(t, nil)
	const n = 16
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			resp := e.start(t, http.MethodPost, "/api/runAction", `{"key":"/flow/wait","input":{"ms":3600000}}`)
			defer resp.Body.Close()
			traceID := resp.Header.Get(reflection.HeaderTraceID)
			if cresp, _ := e.do(t, http.MethodPost, "/api/cancelAction", `{"traceId":"`+traceID+`"}`); cresp.StatusCode != 200 {
				t.Errorf("cancel %d = %d", i, cresp.StatusCode)
			}
			b, _ := io.ReadAll(resp.Body)
			if f := v1CheckFinal(t, string(b)); f.Error == nil || *f.Error.Code != 1 || f.Error.Details["traceId"] != traceID {
				t.Errorf("cancelled run %d = %s", i, b)
			}
		})
		wg.Go(func() {
			resp, body := e.run(t, true, fmt.Sprintf(`{"key":"/flow/count","input":{"count":%d}}`, i))
			chunks, final := v1SplitStream(t, body)
			want := `{"result":{"count":` + fmt.Sprint(i) + `},"telemetry":{"traceId":"` + resp.Header.Get(reflection.HeaderTraceID) + `"}}`
			if len(chunks) != i || final != want {
				t.Errorf("stream %d: %d chunks, final %s", i, len(chunks), final)
			}
		})
		wg.Go(func() {
			if resp, _ := e.do(t, http.MethodGet, "/api/actions", ""); resp.StatusCode != 200 {
				t.Errorf("listing = %d", resp.StatusCode)
			}
		})
		wg.Go(func() {
			_, err := registry.DefineFlow(e.reg, fmt.Sprintf("dyn%d", i), func(context.Context, any) (any, error) { return i, nil }, nil)
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	listing := v1Listing(t, e)
	for i := range n {
		if _, ok := listing[fmt.Sprintf("/flow/dyn%d", i)]; !ok {
			t.Errorf("/flow/dyn%d not listed", i)
		}
	}
}

// TestV1CancelWithoutTracing checks that with a tracer provider that records
// nothing, concurrent runs still get distinct trace IDs, so cancelling one
// leaves the other running.
func TestV1CancelWithoutTracing(t *testing.T) {
	e := newV1Env(t, func(_ *registry.Registry, o *reflection.Options) { o.TracerProvider = noop.NewTracerProvider() })
	a := e.start(t, http.MethodPost, "/api/runAction", `{"key":"/flow/wait","input":{"ms":3600000}}`)
	defer a.Body.Close()
	b := e.start(t, http.MethodPost, "/api/runAction", `{"key":"/flow/wait","input":{"ms":3600000}}`)
	defer b.Body.Close()
	ida, idb := a.Header.Get(reflection.HeaderTraceID), b.Header.Get(reflection.HeaderTraceID)
	if !v1TraceIDRe.MatchString(ida) || ida == idb || strings.Trim(ida, "0") == "" {
		t.Fatalf("trace IDs %q and %q, want distinct valid IDs", ida, idb)
	}
	for _, id := range []string{ida, idb} {
		if resp, body := e.do(t, http.MethodPost, "/api/cancelAction", `{"traceId":"`+id+`"}`); resp.StatusCode != 200 {
			t.Errorf("cancel %s = %d %s", id, resp.StatusCode, body)
		}
	}
	for _, r := range []*http.Response{a, b} {
		body, _ := io.ReadAll(r.Body)
		want := `{"error":{"code":1,"message":"Action was cancelled","details":{"traceId":"` + r.Header.Get(reflection.HeaderTraceID) + `"}}}`
		if string(body) != want {
			t.Errorf("body = %s, want %s", body, want)
		}
	}
}

// v1NoFlushWriter hides the Flush method of the writer it wraps, like a
// logging middleware that does not pass it on.
type v1NoFlushWriter struct{ w http.ResponseWriter }

func (n v1NoFlushWriter) Header() http.Header         { return n.w.Header() }
func (n v1NoFlushWriter) Write(b []byte) (int, error) { return n.w.Write(b) }
func (n v1NoFlushWriter) WriteHeader(code int)        { n.w.WriteHeader(code) }

func TestV1WriterWithoutFlush(t *testing.T) {
	reg := registry.New(nil)
	if _, err := registry.DefineFlow(reg, "echo", func(_ context.Context, in any) (any, error) { return in, nil }, nil); err != nil {
		t.Fatal(err)
	}
	h := reflection.NewHandler(reg, &reflection.Options{TracerProvider: noop.NewTracerProvider()})
	wrapped := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(v1NoFlushWriter{w}, r) })
	e := &v1Env{srv: newV1Server(t, wrapped)}
	e.client = e.srv.Client()

	resp, body := e.run(t, false, `{"key":"/flow/echo","input":"x"}`)
	if resp.StatusCode != 200 || !strings.HasPrefix(body, `{"result":"x","telemetry":`) {
		t.Errorf("non-stream run through a writer without Flush = %d %q, want the result", resp.StatusCode, body)
	}
	resp, body = e.run(t, true, `{"key":"/flow/echo","input":"x"}`)
	if resp.StatusCode != 500 {
		t.Errorf("stream run through a writer without Flush = %d %q, want 500", resp.StatusCode, body)
	}
	v1DecodeStatus(t, body)
}

// TestV1EarlyHeadersBusyAction checks that the trace headers reach the
// client while an action that never blocks is still computing, and that
// a run's answer is chunked whether or not its headers went out first.
func TestV1EarlyHeadersBusyAction(t *testing.T) {
	const busy = 400 * time.Millisecond
	e := newV1Env(t, func(reg *registry.Registry, _ *reflection.Options) {
		_, err := registry.DefineFlow(reg, "spin", func(ctx context.Context, _ any) (int, error) {
			n := 0
			for end := time.Now().Add(busy); time.Now().Before(end) && ctx.Err() == nil; {
				n++
			}
			return n, nil
		}, nil)
		if err != nil {
			t.Fatal(err)
		}
	})
	began := time.Now()
	resp := e.start(t, http.MethodPost, "/api/runAction", `{"key":"/flow/spin"}`)
	headers := time.Since(began)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	whole := time.Since(began)
	if err != nil || !strings.HasPrefix(string(body), `{"result":`) {
		t.Fatalf("body %s, %v", body, err)
	}
	if !v1TraceIDRe.MatchString(resp.Header.Get(reflection.HeaderTraceID)) {
		t.Errorf("headers = %v", resp.Header)
	}
	// The action computes for 400 ms; the headers must not wait for it.
	if whole-headers < busy/2 {
		t.Errorf("headers after %v, whole answer after %v: the headers waited for the action", headers, whole)
	}
	for _, stream := range []bool{false, true} {
		resp, _ := e.run(t, stream, `{"key":"/flow/echo","input":1}`)
		if len(resp.TransferEncoding) != 1 || resp.TransferEncoding[0] != "chunked" || resp.ContentLength != -1 {
			t.Errorf("stream=%v: Transfer-Encoding %v, Content-Length %d; want chunked, as the JS runtime answers",
				stream, resp.TransferEncoding, resp.ContentLength)
		}
	}
}

// TestV1ChunkAfterRun has an action keep its send function and call it
// after its run has ended: the call fails, and the answer, already
// complete, is left as it was.
func TestV1ChunkAfterRun(t *testing.T) {
	kept := make(chan func(int) error, 1)
	e := newV1Env(t, func(reg *registry.Registry, _ *reflection.Options) {
		_, err := registry.DefineStreamingFlow(reg, "leaky", func(_ context.Context, _ any, send func(int) error) (int, error) {
			if err := send(1); err != nil {
				return 0, err
			}
			kept <- send
			return 2, nil
		}, nil)
		if err != nil {
			t.Fatal(err)
		}
	})
	resp, body := e.run(t, true, `{"key":"/flow/leaky"}`)
	send := <-kept
	err := send(3)
	if status.CodeOf(err) != status.FailedPrecondition {
		t.Errorf("send after the run = %v; want FAILED_PRECONDITION", err)
	}
	want := "1\n" + `{"result":2,"telemetry":{"traceId":"` + resp.Header.Get(reflection.HeaderTraceID) + `"}}`
	if body != want {
		t.Errorf("body = %q; want %q", body, want)
	}
}
