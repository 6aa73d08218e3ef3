package otlp

import (
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

func TestResource(t *testing.T) {
	for _, tc := range []struct {
		name        string
		serviceName string
		env         map[string]string
		want        map[string]string // attributes expected with these values
	}{
		{name: "the runtime's name", serviceName: "genkit-runtime",
			want: map[string]string{"service.name": "genkit-runtime"}},
		{name: "OTEL_RESOURCE_ATTRIBUTES names it", serviceName: "genkit-runtime",
			env:  map[string]string{"OTEL_RESOURCE_ATTRIBUTES": "service.name=shop,deployment.environment.name=staging%201"},
			want: map[string]string{"service.name": "shop", "deployment.environment.name": "staging 1"}},
		{name: "OTEL_SERVICE_NAME names it", serviceName: "genkit-runtime",
			env:  map[string]string{"OTEL_SERVICE_NAME": "shop"},
			want: map[string]string{"service.name": "shop"}},
		{name: "OTEL_SERVICE_NAME takes precedence", serviceName: "genkit-runtime",
			env:  map[string]string{"OTEL_SERVICE_NAME": "shop", "OTEL_RESOURCE_ATTRIBUTES": "service.name=cart,team=checkout"},
			want: map[string]string{"service.name": "shop", "team": "checkout"}},
		{name: "environment overrides detected attributes", serviceName: "genkit-runtime",
			env:  map[string]string{"OTEL_RESOURCE_ATTRIBUTES": "host.name=box-1"},
			want: map[string]string{"service.name": "genkit-runtime", "host.name": "box-1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Resource(t.Context(), tc.serviceName, env(tc.env))
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for _, kv := range res.Attributes() {
				got[string(kv.Key)] = kv.Value.String()
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("%s = %q; want %q", k, got[k], v)
				}
			}
			for _, k := range []string{"telemetry.sdk.name", "telemetry.sdk.language", "telemetry.sdk.version",
				"host.name", "process.pid", "process.executable.name", "process.runtime.name"} {
				if got[k] == "" {
					t.Errorf("resource lacks %s: %v", k, got)
				}
			}
		})
	}
}

func TestResourceDefaultName(t *testing.T) {
	res, err := Resource(t.Context(), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	name, _ := res.Set().Value(attribute.Key("service.name"))
	if !strings.HasPrefix(name.AsString(), "unknown_service:") {
		t.Errorf("service.name = %q; want unknown_service:<program>", name.AsString())
	}
}

func TestResourceMalformed(t *testing.T) {
	for _, v := range []string{"service.name", "=x", "a=%zz"} {
		_, err := Resource(t.Context(), "genkit-runtime", env(map[string]string{"OTEL_RESOURCE_ATTRIBUTES": v}))
		if err == nil || !strings.Contains(err.Error(), "OTEL_RESOURCE_ATTRIBUTES") {
			t.Errorf("OTEL_RESOURCE_ATTRIBUTES=%q: err = %v; want an error naming the variable", v, err)
		}
	}
}

// TestSetErrorHandler checks that OpenTelemetry's global error handler and
// its internal logger write to the given logger.
func TestSetErrorHandler(t *testing.T) {
	var logs logSink
	SetErrorHandler(logs.logger(slog.LevelInfo))
	t.Cleanup(func() { SetErrorHandler(nil) })
	otel.Handle(errors.New("exporter exploded"))
	got := logs.records(t, "")
	want := []map[string]any{{"level": "WARN", "msg": "OpenTelemetry error", "err": "exporter exploded"}}
	if diff := cmp.Diff(want, got, cmp.FilterPath(func(p cmp.Path) bool {
		return p.Last().String() == `["time"]`
	}, cmp.Ignore())); diff != "" {
		t.Errorf("logged (-want +got):\n%s", diff)
	}
}

// TestSetErrorHandlerLogger checks that OpenTelemetry's internal logger
// writes to the given logger, its informational lines below the info
// level.
func TestSetErrorHandlerLogger(t *testing.T) {
	var logs logSink
	SetErrorHandler(logs.logger(slog.LevelDebug))
	t.Cleanup(func() { SetErrorHandler(nil) })
	tp := sdktrace.NewTracerProvider()
	defer tp.Shutdown(t.Context())
	got := logs.records(t, "TracerProvider created")
	if len(got) != 1 || got[0]["level"] != "DEBUG" {
		t.Errorf("logged %v; want one DEBUG line about the TracerProvider", got)
	}
}
