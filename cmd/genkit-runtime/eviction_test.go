package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestTraceEvictionLogged starts the binary with a trace store of 50
// traces, makes 100 runs, and checks that the runtime has said at info that
// it evicts traces, naming the flag that raises the bound, once.
func TestTraceEvictionLogged(t *testing.T) {
	p := startRuntime(t, []string{"--trace-store-max-traces", "50"}, nil)
	for i := range 100 {
		resp, err := http.Post(p.url+"/api/runAction", "application/json",
			strings.NewReader(`{"key":"/flow/echo","input":1}`))
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("run %d: HTTP %d %s, %v", i, resp.StatusCode, body, err)
		}
	}
	var lines []string
	for line := range strings.Lines(p.Output()) {
		if strings.Contains(line, "evicting the oldest traces") {
			lines = append(lines, line)
		}
	}
	if len(lines) != 1 {
		t.Fatalf("logged %d lines about eviction, want 1:\n%s", len(lines), p.Output())
	}
	for _, want := range []string{"INFO", "max traces", "50", "--trace-store-max-traces"} {
		if !strings.Contains(lines[0], want) {
			t.Errorf("eviction line %q does not say %q", lines[0], want)
		}
	}
}
