package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/genkit-runtime/genkit-runtime/dap"
	"github.com/genkit-runtime/genkit-runtime/dap/mcp"
	"github.com/genkit-runtime/genkit-runtime/devruntime"
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

// startExtras starts the MCP host when --mcp-config is given. The
// returned extras' stop ends it and waits until every MCP server process
// has exited.
func startExtras(ctx context.Context, cfg *config, reg *registry.Registry, rt *devruntime.Runtime, logger *slog.Logger) (*extras, error) {
	if cfg.mcpConfig == "" {
		return &extras{stop: func() {}}, nil
	}
	host, err := mcp.NewHost(cfg.mcpConfig, &mcp.Options{Logger: logger.With("component", "mcp"), TracerProvider: rt.TracerProvider()})
	if err != nil {
		return nil, err
	}
	if err := dap.Register(reg, host.Provider()); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := host.Run(ctx); err != nil {
			logger.Error("MCP host stopped", "err", err)
		}
	}()
	return &extras{stop: func() { cancel(); <-done }}, nil
}
