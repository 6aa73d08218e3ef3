package otlp_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"os"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/genkit-runtime/genkit-runtime/internal/otlp"
)

// Example shows a program exporting its spans to the OTLP/HTTP endpoint
// named by the standard variables, as Jaeger's receiver listens on by
// default, under its own service name unless OTEL_SERVICE_NAME says
// otherwise.
func Example() {
	env := map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318",
		"OTEL_SERVICE_NAME":           "shop",
	}
	getenv := func(k string) string { return env[k] }
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	otlp.SetErrorHandler(logger)

	ctx := context.Background()
	cfg, err := otlp.ConfigFromEnv(getenv)
	if err != nil {
		log.Fatal(err)
	}
	res, err := otlp.Resource(ctx, "genkit-runtime", getenv)
	if err != nil {
		log.Fatal(err)
	}
	opts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res)}
	if cfg.Endpoint != "" {
		proc, err := otlp.NewProcessor(cfg, logger)
		if err != nil {
			log.Fatal(err)
		}
		opts = append(opts, sdktrace.WithSpanProcessor(proc))
	}
	tp := sdktrace.NewTracerProvider(opts...)
	defer tp.Shutdown(ctx)

	name, _ := res.Set().Value(attribute.Key("service.name"))
	fmt.Println("exporting to", cfg.Endpoint, "as", name.AsString())
	// Output: exporting to http://127.0.0.1:4318/v1/traces as shop
}
