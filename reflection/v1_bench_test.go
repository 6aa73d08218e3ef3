package reflection

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/genkit-runtime/genkit-runtime/fixture"
	"github.com/genkit-runtime/genkit-runtime/registry"
)

// v1BenchHandler returns a handler over reg with tracing on: every span is
// recorded and handed to an exporter that drops it.
func v1BenchHandler(b *testing.B, reg *registry.Registry) *Handler {
	b.Helper()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(tracetest.NewNoopExporter()))
	b.Cleanup(func() { tp.Shutdown(context.Background()) })
	return NewHandler(reg, &Options{TracerProvider: tp, Version: "bench"})
}

func v1BenchFixture(b *testing.B) *registry.Registry {
	b.Helper()
	reg := registry.New(nil)
	if err := fixture.Register(reg); err != nil {
		b.Fatal(err)
	}
	return reg
}

// v1BenchRun serves the same runAction request b.N times.
func v1BenchRun(b *testing.B, h http.Handler, target, body string) {
	b.Helper()
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, target, strings.NewReader(body))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK || strings.Contains(rec.Body.String(), `"error"`) {
			b.Fatalf("%d %s", rec.Code, rec.Body)
		}
	}
}

func BenchmarkRunActionEcho(b *testing.B) {
	h := v1BenchHandler(b, v1BenchFixture(b))
	body := `{"key":"/flow/echo","input":{"data":"` + strings.Repeat("x", 1024-len(`{"data":""}`)) + `"}}`
	v1BenchRun(b, h, "/api/runAction", body)
}

func BenchmarkRunActionGreet(b *testing.B) {
	h := v1BenchHandler(b, v1BenchFixture(b))
	v1BenchRun(b, h, "/api/runAction", `{"key":"/flow/greet","input":{"name":"Ada","count":3}}`)
}

func BenchmarkStreamCount1000(b *testing.B) {
	h := v1BenchHandler(b, v1BenchFixture(b))
	v1BenchRun(b, h, "/api/runAction?stream=true", `{"key":"/flow/count","input":{"count":1000}}`)
}

func BenchmarkListActions10000(b *testing.B) {
	reg := registry.New(nil)
	schema, err := registry.SchemaFor[struct {
		Name string `json:"name"`
	}]()
	if err != nil {
		b.Fatal(err)
	}
	for i := range 10000 {
		reg.MustRegister(registry.MustNewAction(registry.Descriptor{
			Type: "flow", Name: fmt.Sprintf("flow%05d", i), Description: "a flow",
			InputSchema: schema, Metadata: map[string]any{"n": i},
		}, func(context.Context, *registry.Request) (any, error) { return nil, nil }))
	}
	h := v1BenchHandler(b, reg)
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/actions", nil))
		if rec.Code != http.StatusOK {
			b.Fatal(rec.Code)
		}
	}
}

func BenchmarkDecodeRunRequest(b *testing.B) {
	for _, bc := range []struct{ name, data string }{
		{"greet", `{"key":"/flow/greet","input":{"name":"Ada","count":3},"context":{"auth":{"uid":"u"}},` +
			`"telemetryLabels":{"l":"v"},"runtimeId":"123-3100"}`},
		{"echo1KB", `{"key":"/flow/echo","input":{"data":"` + strings.Repeat("x", 1000) + `"},"runtimeId":"123-3100"}`},
	} {
		data := []byte(bc.data)
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				var body runBody
				if err := body.decodeJSON(data, false); err != nil {
					b.Fatal(err)
				}
				if _, err := decodeRunRequest(&body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
