package reflection_test

import (
	"bufio"
	"context"
	"net/http"
	"testing"

	"go.opentelemetry.io/otel/codes"

	"github.com/genkit-runtime/genkit-runtime/reflection"
	"github.com/genkit-runtime/genkit-runtime/registry"
)

// v1DefineStepStream registers /flow/stepStream, a streaming flow that
// streams {index} chunks without pause from inside a step, until sending
// fails or the run is cancelled: a run whose spans are a root and a child.
func v1DefineStepStream(t testing.TB, reg *registry.Registry) {
	t.Helper()
	_, err := registry.DefineStreamingFlow(reg, "stepStream", func(ctx context.Context, _ any, send func(map[string]int) error) (int, error) {
		return registry.Step(ctx, "emit", func(ctx context.Context) (int, error) {
			for i := 0; ; i++ {
				if err := ctx.Err(); err != nil {
					return i, err
				}
				if err := send(map[string]int{"index": i}); err != nil {
					return i, err
				}
			}
		})
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
}

// TestV1DisconnectCancelsSpans hangs up on streaming runs after their first
// chunk and checks that every span of each run ends as cancelled: status
// Error with the message "Action was cancelled" and genkit:state "error",
// whether the action notices the disconnect through its context (a paced
// stream) or through a failed write (a stream that never pauses).
func TestV1DisconnectCancelsSpans(t *testing.T) {
	e := newV1Env(t, func(reg *registry.Registry, _ *reflection.Options) { v1DefineStepStream(t, reg) })
	for _, tc := range []struct {
		name      string
		body      string
		wantSpans int
	}{
		{"paced stream", `{"key":"/flow/count","input":{"count":100000,"delayMs":20}}`, 1},
		{"unpaced stream", `{"key":"/flow/count","input":{"count":100000}}`, 1},
		{"stream from a step", `{"key":"/flow/stepStream","input":null}`, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := e.start(t, http.MethodPost, "/api/runAction?stream=true", tc.body)
			traceID := resp.Header.Get(reflection.HeaderTraceID)
			if _, err := bufio.NewReader(resp.Body).ReadString('\n'); err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			// The root span ends last, so once it is exported every span
			// of the run is.
			e.rootSpan(t, traceID)
			var n int
			for _, s := range e.exp.GetSpans() {
				if s.SpanContext.TraceID().String() != traceID {
					continue
				}
				n++
				if s.Status.Code != codes.Error || s.Status.Description != "Action was cancelled" {
					t.Errorf("span %s: status %+v; want Error \"Action was cancelled\"", s.Name, s.Status)
				}
				if got := v1Attrs(s)["genkit:state"]; got != "error" {
					t.Errorf("span %s: genkit:state = %v; want error", s.Name, got)
				}
			}
			if n != tc.wantSpans {
				t.Errorf("the run has %d spans; want %d", n, tc.wantSpans)
			}
		})
	}
}
