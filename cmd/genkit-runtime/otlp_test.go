package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.uber.org/goleak"

	"github.com/genkit-runtime/genkit-runtime/fixture"
	"github.com/genkit-runtime/genkit-runtime/registry"
)

// TestOTLPExport configures OTLP export the standard way, through
// OTEL_EXPORTER_OTLP_ENDPOINT, and checks that a run's spans reach an
// OTLP/HTTP collector with their Genkit attributes.
func TestOTLPExport(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	var (
		mu     sync.Mutex
		bodies [][]byte
		paths  []string
	)
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, b)
		paths = append(paths, r.Method+" "+r.URL.Path+" "+r.Header.Get("Content-Type"))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	defer collector.Close()
	cfg, err := parseConfig(nil, io.Discard, func(k string) string {
		if k == "OTEL_EXPORTER_OTLP_ENDPOINT" {
			return collector.URL
		}
		return ""
	})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.otlp.Endpoint != collector.URL+"/v1/traces" {
		t.Fatalf("OTLP endpoint %q; want %s/v1/traces", cfg.otlp.Endpoint, collector.URL)
	}
	ctx := context.Background()
	proc, err := newOTLPProcessor(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil || proc == nil {
		t.Fatalf("newOTLPProcessor = %v, %v", proc, err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(proc))
	defer tp.Shutdown(ctx)

	reg := registry.New(nil)
	if err := fixture.Register(reg); err != nil {
		t.Fatal(err)
	}
	a, _ := reg.Lookup("/flow/steps")
	if _, err := a.Run(ctx, &registry.Request{Input: []byte(`{"steps":1}`)}, &registry.RunOptions{TracerProvider: tp}); err != nil {
		t.Fatal(err)
	}
	if err := tp.ForceFlush(ctx); err != nil {
		t.Fatal(err)
	}

	mu.Lock()
	defer mu.Unlock()
	if len(paths) == 0 {
		t.Fatal("the collector received nothing")
	}
	if paths[0] != "POST /v1/traces application/x-protobuf" {
		t.Errorf("collector request = %q; want POST /v1/traces application/x-protobuf", paths[0])
	}
	all := bytes.Join(bodies, nil)
	for _, want := range []string{"genkit-tracer", "genkit:path", "/{steps,t:flow}/{step-1,t:flowStep}", "step-1"} {
		if !bytes.Contains(all, []byte(want)) {
			t.Errorf("exported spans lack %q", want)
		}
	}
}

// TestOTLPMalformedEndpoint checks that the binary refuses to start with a
// malformed OTLP endpoint, naming the variable, instead of exporting
// nowhere.
func TestOTLPMalformedEndpoint(t *testing.T) {
	var stderr bytes.Buffer
	code := run(t.Context(), nil, io.Discard, &stderr, func(k string) string {
		if k == "OTEL_EXPORTER_OTLP_ENDPOINT" {
			return "localhost:4318"
		}
		return ""
	})
	if code != 2 || !strings.Contains(stderr.String(), `OTEL_EXPORTER_OTLP_ENDPOINT="localhost:4318": want an http or https URL`) {
		t.Errorf("exit %d, stderr %q; want 2 and an error naming OTEL_EXPORTER_OTLP_ENDPOINT", code, stderr.String())
	}
}
