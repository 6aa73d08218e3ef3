package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/genkit-runtime/genkit-runtime/guard"
)

// startPprof serves the Go profiles of net/http/pprof on cfg.pprofAddr, a
// loopback address, when it is set. The returned function stops it.
func startPprof(cfg *config, logger *slog.Logger) (func(), error) {
	if cfg.pprofAddr == "" {
		return func() {}, nil
	}
	host, _, err := net.SplitHostPort(cfg.pprofAddr)
	if err != nil {
		return nil, fmt.Errorf("--pprof-addr: %w", err)
	}
	if !guard.IsLoopback(host) {
		return nil, fmt.Errorf("--pprof-addr %s: profiles are served on loopback addresses only", cfg.pprofAddr)
	}
	l, err := net.Listen("tcp", cfg.pprofAddr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(l); err != http.ErrServerClosed {
			logger.Warn("pprof server stopped", "err", err)
		}
	}()
	logger.Info("serving Go profiles", "url", "http://"+l.Addr().String()+"/debug/pprof/")
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		<-done
	}, nil
}
