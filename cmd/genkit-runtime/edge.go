package main

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/rs/cors"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/genkit-runtime/genkit-runtime/guard"
	"github.com/genkit-runtime/genkit-runtime/internal/otlp"
	"github.com/genkit-runtime/genkit-runtime/reflection"
)

// edge wraps the API handler in the middleware that keeps it local: panic
// recovery, the Host guard (on loopback listeners), the Origin guard and
// CORS for the allowed origins.
func edge(cfg *config, h http.Handler, logger *slog.Logger) (http.Handler, error) {
	policy := guard.DefaultOrigins()
	if len(cfg.corsOrigins) > 0 {
		p, err := guard.NewOriginPolicy(cfg.corsOrigins)
		if err != nil {
			return nil, err
		}
		policy = p
	}
	c := cors.New(cors.Options{
		AllowOriginFunc: policy.Allowed,
		AllowedMethods:  []string{http.MethodGet, http.MethodPost, http.MethodOptions},
		AllowedHeaders:  []string{"Content-Type", "Accept"},
		ExposedHeaders:  []string{reflection.HeaderTraceID, reflection.HeaderSpanID, reflection.HeaderVersion},
	})
	ms := []guard.Middleware{guard.Recover(logger)}
	if isLoopback(cfg.host) {
		ms = append(ms, guard.Hosts(append(append([]string{}, guard.LoopbackHosts...), cfg.allowedHosts...)))
	} else if len(cfg.allowedHosts) > 0 {
		ms = append(ms, guard.Hosts(cfg.allowedHosts))
	}
	ms = append(ms, guard.Origins(policy), c.Handler)
	return guard.Chain(ms...)(h), nil
}

// newOTLPProcessor returns a batch processor exporting over OTLP/HTTP when
// an OTLP endpoint is configured through the standard OTEL_EXPORTER_OTLP_*
// variables, else nil. Export failures are logged through logger.
func newOTLPProcessor(ctx context.Context, cfg *config, logger *slog.Logger) (sdktrace.SpanProcessor, error) {
	if cfg.otlp.Endpoint == "" {
		return nil, nil
	}
	return otlp.NewProcessor(ctx, cfg.otlp, logger)
}
