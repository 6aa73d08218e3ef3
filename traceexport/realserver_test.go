package traceexport

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/genkit-runtime/genkit-runtime/internal/telemetrytest"
	"github.com/genkit-runtime/genkit-runtime/tracestore"
)

// getTrace reads a trace back from the telemetry server.
func getTrace(t *testing.T, base, traceID string) (tracestore.TraceData, bool) {
	t.Helper()
	resp, err := http.Get(base + "/api/traces/" + traceID)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("GET trace: %d %s", resp.StatusCode, b)
	}
	if len(b) == 0 {
		return tracestore.TraceData{}, false
	}
	td, err := tracestore.DecodeTraceData(b)
	if err != nil {
		t.Fatalf("GET trace: %v: %s", err, b)
	}
	return td, true
}

func TestRealTelemetryServer(t *testing.T) {
	base := telemetrytest.Start(t)
	for _, realtime := range []bool{true, false} {
		name := map[bool]string{true: "realtime", false: "on-end"}[realtime]
		t.Run(name, func(t *testing.T) {
			exp := New(&Options{URL: base, Realtime: realtime})
			tracer := newTracer(t, exp)

			ctx, root := tracer.Start(context.Background(), "myFlow", trace.WithAttributes(
				attribute.String("genkit:type", "action"),
				attribute.String("genkit:metadata:subtype", "flow"),
				attribute.String("genkitx:suite", name),
			))
			traceID := root.SpanContext().TraceID().String()
			rootID := root.SpanContext().SpanID().String()
			if err := exp.FlushTrace(flushCtx(t), traceID); err != nil {
				t.Fatal(err)
			}
			td, ok := getTrace(t, base, traceID)
			if realtime {
				if !ok || td.Spans[rootID].EndTime != 0 {
					t.Fatalf("running root in the server: %v %+v; want it with endTime 0", ok, td.Spans[rootID])
				}
			} else if ok {
				t.Fatal("on-end exporter sent a running span")
			}

			_, model := tracer.Start(ctx, "echoModel", trace.WithAttributes(attribute.String("genkit:metadata:subtype", "model")))
			err := errors.New("model exploded")
			model.RecordError(err, trace.WithStackTrace(true))
			model.SetStatus(codes.Error, err.Error())
			model.End()
			root.SetAttributes(attribute.String("genkit:state", "error"), attribute.Bool("genkit:isRoot", true))
			root.End()
			if err := exp.FlushTrace(flushCtx(t), traceID); err != nil {
				t.Fatal(err)
			}

			td, ok = getTrace(t, base, traceID)
			if !ok || len(td.Spans) != 2 {
				t.Fatalf("trace in the server: %v, %d spans; want 2", ok, len(td.Spans))
			}
			if r := td.Spans[rootID]; r.EndTime == 0 || td.EndTime == nil || *td.EndTime != r.EndTime || *td.DisplayName != "myFlow" {
				t.Errorf("root not finished in the server: %+v (trace end %v)", r, td.EndTime)
			}
			m := td.Spans[model.SpanContext().SpanID().String()]
			if m.Status == nil || m.Status.Code != 2 || m.Status.Message != "model exploded" {
				t.Errorf("error span status = %+v", m.Status)
			}
			if m.TimeEvents == nil || len(m.TimeEvents.TimeEvent) != 1 ||
				m.TimeEvents.TimeEvent[0].Annotation.Description != "exception" ||
				m.TimeEvents.TimeEvent[0].Annotation.Attributes["exception.message"] != "model exploded" {
				t.Errorf("error span events = %+v", m.TimeEvents)
			}

			filter := `{"eq":{"genkitx:suite":"` + name + `","type":"flow"}}`
			resp, err := http.Get(base + "/api/traces?filter=" + strings.NewReplacer("{", "%7B", "}", "%7D", `"`, "%22").Replace(filter))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var page tracestore.ListResult
			if err := json.NewDecoder(resp.Body).Decode(&page); err != nil {
				t.Fatal(err)
			}
			if len(page.Traces) != 1 || page.Traces[0].TraceID != traceID {
				t.Errorf("listed %+v, want the trace", page.Traces)
			}
			if st := exp.Stats(); st.Failures != 0 || st.Posts == 0 {
				t.Errorf("Stats = %+v; the server rejected a post", st)
			}
		})
	}
}
