package main

import (
	"bytes"
	"io"
	"strings"
	"testing"
)

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
