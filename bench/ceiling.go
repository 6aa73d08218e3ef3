package main

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// The ceiling is the least a server can do for each scenario with plain
// net/http and encoding/json: it decodes the run request, echoes the input
// as {"result","telemetry"}, streams {"index":i} lines flushing each, and
// serves the listing as fixed bytes. It runs as a child process of the
// harness (-serve-ceiling), so its CPU is measured the same way as the
// servers under test.

// ceilingTraceID is the fixed trace ID the ceiling reports.
const ceilingTraceID = "00000000000000000000000000000001"

type ceilingRequest struct {
	Key   string          `json:"key"`
	Input json.RawMessage `json:"input"`
}

type ceilingTelemetry struct {
	TraceID string `json:"traceId"`
}

type ceilingResult struct {
	Result    any              `json:"result"`
	Telemetry ceilingTelemetry `json:"telemetry"`
}

type ceilingChunk struct {
	Index int `json:"index"`
}

// ceilingHandler returns the bare handler; listing is the body of GET
// /api/actions.
func ceilingHandler(listing []byte) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/__health", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("OK"))
	})
	mux.HandleFunc("GET /api/actions", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(listing)
	})
	mux.HandleFunc("POST /api/runAction", func(w http.ResponseWriter, r *http.Request) {
		var req ceilingRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if r.URL.Query().Get("stream") != "true" {
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(ceilingResult{Result: req.Input, Telemetry: ceilingTelemetry{TraceID: ceilingTraceID}})
			return
		}
		var in struct {
			Count int `json:"count"`
		}
		json.Unmarshal(req.Input, &in)
		w.Header().Set("Content-Type", "text/plain")
		rc := http.NewResponseController(w)
		enc := json.NewEncoder(w)
		for i := range in.Count {
			if err := enc.Encode(ceilingChunk{Index: i}); err != nil {
				return
			}
			if err := rc.Flush(); err != nil {
				return
			}
		}
		b, _ := json.Marshal(ceilingResult{Result: in, Telemetry: ceilingTelemetry{TraceID: ceilingTraceID}})
		w.Write(b)
	})
	return mux
}

// serveCeiling is the -serve-ceiling mode: serve the ceiling on
// 127.0.0.1:$GENKIT_REFLECTION_PORT until SIGTERM.
func serveCeiling(listingPath string) error {
	var listing []byte
	if listingPath != "" {
		b, err := os.ReadFile(listingPath)
		if err != nil {
			return err
		}
		listing = b
	}
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", os.Getenv("GENKIT_REFLECTION_PORT")))
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	srv := &http.Server{Handler: ceilingHandler(listing), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	if err := srv.Serve(l); err != http.ErrServerClosed {
		return err
	}
	return nil
}
