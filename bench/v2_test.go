package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// serveCeilingEnv makes the test binary serve the ceiling instead of
// running the tests, so that startV2 can start it as a child process.
const serveCeilingEnv = "BENCH_TEST_SERVE_CEILING"

func TestMain(m *testing.M) {
	if os.Getenv(serveCeilingEnv) == "1" {
		if err := serveCeiling(""); err != nil {
			fmt.Fprintln(os.Stderr, "ceiling:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	goleak.VerifyTestMain(m)
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestV2Load drives the v2 ceiling, in this process, from a manager served
// as the harness serves them, with unary and streaming loads of several
// runs in flight at once over the one connection.
func TestV2Load(t *testing.T) {
	ctx := testCtx(t)
	ep, err := newV2Endpoint()
	if err != nil {
		t.Fatal(err)
	}
	defer ep.close()
	cctx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- serveCeilingV2(cctx, ep.url) }()
	defer func() {
		stop()
		if err := <-served; err != nil {
			t.Errorf("serveCeilingV2: %v", err)
		}
	}()
	rt, err := ep.runtime(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if id := rt.Info().ID; !strings.HasPrefix(id, "ceiling-") {
		t.Errorf("registered as %q", id)
	}
	echoIn := json.RawMessage(`{"data":"` + strings.Repeat("x", 1000) + `"}`)
	tests := []struct {
		name  string
		ld    load
		bytes int64 // at least, per run
	}{
		{name: "unary", ld: load{kind: unary, key: "/flow/echo", input: echoIn, conc: 8}, bytes: 1000},
		{name: "stream", ld: load{kind: stream, key: "/flow/count", input: json.RawMessage(`{"count":50}`), conc: 4, chunks: 50}, bytes: int64(50 * len(`{"index":0}`))},
		{name: "wrong chunk count", ld: load{kind: stream, key: "/flow/count", input: json.RawMessage(`{"count":3}`), conc: 2, chunks: 4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ld := tt.ld
			ld.rt, ld.dur, ld.grace, ld.maxReqs = rt, 200*time.Millisecond, 5*time.Second, 2000
			s, err := ld.run(ctx, nil, os.Getpid())
			if err != nil {
				t.Fatal(err)
			}
			if tt.ld.kind == stream && tt.ld.chunks == 4 {
				if s.OK != 0 || s.Errors == 0 || !strings.Contains(s.FirstErr, "stream carried 3 chunks, want 4") {
					t.Errorf("ok %d, errors %d (%s), want only errors", s.OK, s.Errors, s.FirstErr)
				}
				return
			}
			if s.OK == 0 || s.Errors != 0 || s.Cut != 0 {
				t.Fatalf("ok %d, errors %d (%s), cut %d", s.OK, s.Errors, s.FirstErr, s.Cut)
			}
			if s.Bytes < tt.bytes*s.OK {
				t.Errorf("%d bytes for %d runs, want at least %d each", s.Bytes, s.OK, tt.bytes)
			}
			if s.P50 <= 0 || s.P99 < s.P50 || s.Max < s.P99 {
				t.Errorf("latencies p50 %v p99 %v max %v", s.P50, s.P99, s.Max)
			}
			if ld.kind == stream && (s.Chunks != s.OK*int64(ld.chunks) || s.FirstP50 <= 0 || s.FirstP50 > s.P50) {
				t.Errorf("%d chunks for %d streams, first chunk p50 %v, whole p50 %v", s.Chunks, s.OK, s.FirstP50, s.P50)
			}
		})
	}
}

// TestStartV2 starts the ceiling as a child process in the v2
// configuration, as the harness starts every server there, and stops it.
func TestStartV2(t *testing.T) {
	ctx := testCtx(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	sp := spec{name: "ceiling-v2", path: self, env: []string{serveCeilingEnv + "=1"}}
	keys := []string{"/flow/echo", "/flow/count"}
	s, err := startV2(ctx, sp, t.TempDir(), 20*time.Second, keys)
	if err != nil {
		t.Fatal(err)
	}
	rt, err := s.v2.runtime(ctx)
	if err != nil {
		s.stop()
		t.Fatal(err)
	}
	if rt.Info().PID != s.pid() || s.ready <= 0 || !strings.HasPrefix(s.url, "ws://127.0.0.1:") {
		t.Errorf("runtime %+v, server pid %d, ready %v, url %s", rt.Info(), s.pid(), s.ready, s.url)
	}
	s.stop()
	if s.alive() {
		t.Error("the ceiling is still running")
	}
	select {
	case <-rt.Done():
	case <-time.After(5 * time.Second):
		t.Error("the runtime is still connected")
	}

	// A server that never lists a key the scenarios run is not started.
	_, err = startV2(ctx, sp, t.TempDir(), time.Second, []string{"/flow/missing"})
	if err == nil || !strings.Contains(err.Error(), "never listed /flow/missing") {
		t.Errorf("startV2 with a missing key = %v", err)
	}
	// Nor is one that exits.
	sp.env = nil
	sp.args = []string{"-test.run=^$"}
	_, err = startV2(ctx, sp, t.TempDir(), 20*time.Second, keys)
	if err == nil || !strings.Contains(err.Error(), "exited before it registered") {
		t.Errorf("startV2 of a process that exits = %v", err)
	}
}
