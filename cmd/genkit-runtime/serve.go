package main

import (
	"context"
	"io"
	"log/slog"
	"time"

	"github.com/genkit-runtime/genkit-runtime/dap"
	"github.com/genkit-runtime/genkit-runtime/devruntime"
	"github.com/genkit-runtime/genkit-runtime/fixture"
	"github.com/genkit-runtime/genkit-runtime/internal/otlp"
	"github.com/genkit-runtime/genkit-runtime/registry"
)

// serve runs the runtime over the fixture registry until ctx ends.
func serve(ctx context.Context, cfg *config, stderr io.Writer) error {
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: cfg.logLevel}))
	cfg.opts.Logger = logger
	// What OpenTelemetry reports about itself goes to the same log.
	otlp.SetErrorHandler(logger)
	reg := registry.New(&registry.Options{Logger: logger})
	rt, err := devruntime.New(ctx, reg, cfg.opts)
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		if err := rt.Close(cctx); err != nil {
			logger.Warn("telemetry shutdown", "err", err)
		}
	}()
	if err := registerActions(reg, cfg, rt); err != nil {
		return err
	}
	extras, err := startExtras(ctx, cfg, reg, rt, logger)
	if err != nil {
		return err
	}
	defer extras.stop()
	stopPprof, err := startPprof(cfg, logger)
	if err != nil {
		return err
	}
	defer stopPprof()
	return rt.Serve(ctx)
}

// registerActions adds what the binary serves: the fixture and the
// configured synthetic actions.
func registerActions(reg *registry.Registry, cfg *config, rt *devruntime.Runtime) error {
	if err := fixture.Register(reg); err != nil {
		return err
	}
	dapOpts := &dap.Options{TracerProvider: rt.TracerProvider()}
	if _, err := fixture.RegisterDAP(reg, dapOpts); err != nil {
		return err
	}
	if cfg.syntheticDAP > 0 {
		if _, err := fixture.RegisterSyntheticDAP(reg, cfg.syntheticDAP, dapOpts); err != nil {
			return err
		}
	}
	return registerExtras(reg, cfg)
}
