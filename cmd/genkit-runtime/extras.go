package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/genkit-runtime/genkit-runtime/registry"
)

// registerExtras adds the configured extra actions: the synthetic flows
// used to measure listing costs.
func registerExtras(reg *registry.Registry, cfg *config) error {
	for i := range cfg.syntheticFlows {
		if _, err := registry.DefineFlow(reg, fmt.Sprintf("synthetic/flow%05d", i), func(ctx context.Context, in json.RawMessage) (json.RawMessage, error) {
			return in, nil
		}, &registry.ActionOptions{Description: "A trivial flow registered by --synthetic-actions."}); err != nil {
			return err
		}
	}
	return nil
}

// extras are the background parts of the runtime besides its API server.
type extras struct {
	stop func()
}

func startExtras(ctx context.Context, cfg *config, reg *registry.Registry, logger *slog.Logger) (*extras, error) {
	return &extras{stop: func() {}}, nil
}

func serveV2(ctx context.Context, cfg *config, reg *registry.Registry, tel *telemetry, logger *slog.Logger) error {
	return fmt.Errorf("reflection v2 is not available")
}
