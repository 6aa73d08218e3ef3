package traceexport_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/genkit-runtime/genkit-runtime/traceexport"
	"github.com/genkit-runtime/genkit-runtime/tracestore"
)

// Exporting a run's spans to a telemetry server and waiting, briefly, until
// they have arrived before answering the caller.
func ExampleExporter() {
	received := make(chan tracestore.TraceData, 10)
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var td tracestore.TraceData
		if err := json.NewDecoder(r.Body).Decode(&td); err == nil {
			received <- td
		}
		fmt.Fprint(w, "OK")
	}))
	defer server.Close()

	exp := traceexport.New(&traceexport.Options{URL: server.URL})
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(exp))
	defer func() { _ = tp.Shutdown(context.Background()) }() // also shuts exp down

	_, span := tp.Tracer("genkit-tracer").Start(context.Background(), "greet")
	span.End()

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := exp.FlushTrace(ctx, span.SpanContext().TraceID().String()); err != nil {
		fmt.Println("flush:", err)
	}
	for len(received) > 0 {
		td := <-received
		for _, s := range td.Spans {
			fmt.Printf("%s ended=%v\n", s.DisplayName, s.EndTime > 0)
		}
	}
	// Output:
	// greet ended=true
}
