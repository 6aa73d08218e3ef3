package otlp

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/go-logr/logr"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/resource"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
)

// Resource returns the resource that names a runtime's spans to a tracing
// backend: the SDK's usual attributes (telemetry.sdk.*), the host and
// process ones (host.name, process.pid, process.executable.name,
// process.runtime.*) and service.name, which is, by the standard
// precedence:
//
//  1. OTEL_SERVICE_NAME, if set;
//  2. else service.name in OTEL_RESOURCE_ATTRIBUTES, if there;
//  3. else serviceName, or "unknown_service:<program>" if it is empty.
//
// The other attributes of OTEL_RESOURCE_ATTRIBUTES (comma-separated
// key=value pairs with percent-encoded values) are added, overriding the
// detected ones. The variables are read through getenv (nil reads an empty
// environment); a malformed OTEL_RESOURCE_ATTRIBUTES is an error.
func Resource(ctx context.Context, serviceName string, getenv func(string) string) (*resource.Resource, error) {
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	if serviceName == "" {
		serviceName = "unknown_service:go"
		if exe, err := os.Executable(); err == nil {
			serviceName = "unknown_service:" + filepath.Base(exe)
		}
	}
	kvs, err := parsePairs(getenv("OTEL_RESOURCE_ATTRIBUTES"))
	if err != nil {
		return nil, fmt.Errorf("OTEL_RESOURCE_ATTRIBUTES: %w", err)
	}
	attrs := []attribute.KeyValue{semconv.ServiceName(serviceName)}
	for _, kv := range kvs {
		attrs = append(attrs, attribute.String(kv.key, kv.value))
	}
	if v := strings.TrimSpace(getenv("OTEL_SERVICE_NAME")); v != "" {
		attrs = append(attrs, semconv.ServiceName(v))
	}
	// Later options take precedence over earlier ones, and later
	// attributes of one option over earlier ones.
	return resource.New(ctx,
		resource.WithTelemetrySDK(),
		resource.WithHost(),
		resource.WithProcessPID(),
		resource.WithProcessExecutableName(),
		resource.WithProcessRuntimeName(),
		resource.WithProcessRuntimeVersion(),
		resource.WithProcessRuntimeDescription(),
		resource.WithAttributes(attrs...),
	)
}

// SetErrorHandler routes what OpenTelemetry reports about itself to logger:
// the errors given to its global error handler (otel.Handle), as warnings,
// and the lines of its internal logger (otel.SetLogger), errors as errors
// and the rest below the info level. It replaces the process-wide handler
// and logger, whose defaults print to standard error in their own format;
// a program calls it once at start. A nil logger discards both.
func SetErrorHandler(logger *slog.Logger) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		logger.Warn("OpenTelemetry error", "err", err)
	}))
	otel.SetLogger(logr.FromSlogHandler(logger.Handler()))
}
