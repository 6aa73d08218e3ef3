package registry_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/genkit-runtime/genkit-runtime/registry"
)

// BenchmarkActionRun measures one run of a fixture flow with its span:
// input validation, span creation with the Genkit attributes, the
// function and the output encoding. Spans go to a span processor that
// drops them.
func BenchmarkActionRun(b *testing.B) {
	r := fixtureRegistry(b)
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(tracetest.NewNoopExporter()))
	b.Cleanup(func() { tp.Shutdown(context.Background()) })
	cases := []struct {
		key, input string
	}{
		{"/flow/echo", `{"data":"` + strings.Repeat("x", 1000) + `"}`},
		{"/flow/greet", `{"name":"Ada","count":3}`},
		{"/flow/steps", `{"steps":3}`},
	}
	for _, c := range cases {
		a, ok := r.Lookup(c.key)
		if !ok {
			b.Fatalf("%s not registered", c.key)
		}
		b.Run(strings.TrimPrefix(c.key, "/flow/"), func(b *testing.B) {
			req := &registry.Request{Input: json.RawMessage(c.input)}
			opts := &registry.RunOptions{TracerProvider: tp}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := a.Run(context.Background(), req, opts); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
