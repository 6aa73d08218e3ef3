package tracestore_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/genkit-runtime/genkit-runtime/tracestore"
)

// Reading traces from the store: register it as a span processor, run
// something traced, then list and fetch.
func ExampleStore() {
	store := tracestore.New(nil) // 1000 traces / 64 MiB by default
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(store))
	defer func() { _ = tp.Shutdown(context.Background()) }()
	tracer := tp.Tracer("genkit-tracer", trace.WithInstrumentationVersion("v1"))

	ctx, root := tracer.Start(context.Background(), "greet", trace.WithAttributes(
		attribute.String("genkit:type", "action"),
		attribute.String("genkit:metadata:subtype", "flow"),
	))
	_, step := tracer.Start(ctx, "lookup")
	step.SetStatus(codes.Error, "not found")
	step.End()
	root.End()

	page := store.List(tracestore.Query{Filter: &tracestore.Filter{Eq: map[string]any{"type": "flow"}}})
	for _, listed := range page.Traces {
		// Listed traces carry only their root span; Get returns them whole.
		full, _ := store.Get(listed.TraceID)
		fmt.Printf("%s: %d listed span, %d spans\n", *listed.DisplayName, len(listed.Spans), len(full.Spans))
		for _, s := range full.Spans {
			if s.Status.Code == tracestore.StatusError {
				fmt.Printf("failed: %s (%s)\n", s.DisplayName, s.Status.Message)
			}
		}
	}
	// Output:
	// greet: 1 listed span, 2 spans
	// failed: lookup (not found)
}

// Serving the store's trace API from an existing mux, so that the Genkit
// CLI can use it as its telemetry server.
func ExampleNewHandler() {
	store := tracestore.New(nil)
	err := store.Ingest(tracestore.TraceData{
		TraceID: "4bf92f3577b34da6a3ce929d0e0e4736",
		Spans: map[string]tracestore.SpanData{"00f067aa0ba902b7": {
			SpanID: "00f067aa0ba902b7", TraceID: "4bf92f3577b34da6a3ce929d0e0e4736",
			StartTime: 1700000000000, EndTime: 1700000000042,
			Attributes:  map[string]any{"genkit:type": "action", "genkit:metadata:subtype": "flow"},
			DisplayName: "greet", SpanKind: "INTERNAL",
			InstrumentationLibrary: tracestore.InstrumentationLibrary{Name: "genkit-tracer", Version: "v1"},
		}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}

	h := tracestore.NewHandler(store, nil)
	defer h.Close()
	mux := http.NewServeMux()
	mux.Handle("/api/traces", h)
	mux.Handle("/api/traces/", h)
	srv := httptest.NewServer(mux)
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/api/traces?limit=1")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var page tracestore.ListResult
	if err := json.Unmarshal(body, &page); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(resp.StatusCode, len(page.Traces), page.Traces[0].TraceID)
	// Output:
	// 200 1 4bf92f3577b34da6a3ce929d0e0e4736
}
