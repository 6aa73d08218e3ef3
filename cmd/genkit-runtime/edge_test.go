package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"go.uber.org/goleak"

	"github.com/genkit-runtime/genkit-runtime/reflection"
	"github.com/genkit-runtime/genkit-runtime/registry"
)

// edgeServer serves a registry whose one flow counts its runs, behind the
// binary's middleware stack.
func edgeServer(t *testing.T, cfg *config) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var runs atomic.Int32
	reg := registry.New(nil)
	if _, err := registry.DefineFlow(reg, "touch", func(ctx context.Context, in string) (string, error) {
		runs.Add(1)
		return in, nil
	}, nil); err != nil {
		t.Fatal(err)
	}
	h, err := edge(cfg, reflection.NewHandler(reg, nil), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv, &runs
}

func TestEdge(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	loopback := &config{host: "127.0.0.1"}
	custom := &config{host: "127.0.0.1", corsOrigins: []string{"https://ui.example.com"}}
	for _, tc := range []struct {
		name      string
		cfg       *config
		method    string
		host      string
		origin    string
		wantCode  int
		wantRuns  int32
		wantAllow string
	}{
		{name: "CLI: no Origin, localhost", cfg: loopback, method: "POST", host: "localhost:3100", wantCode: 200, wantRuns: 1},
		{name: "foreign Host (DNS rebinding)", cfg: loopback, method: "POST", host: "evil.example:3100", wantCode: 403},
		{name: "foreign Origin", cfg: loopback, method: "POST", host: "127.0.0.1:3100", origin: "http://evil.example", wantCode: 403},
		{name: "Developer UI origin", cfg: loopback, method: "POST", host: "localhost:3100", origin: "http://localhost:4000", wantCode: 200, wantRuns: 1, wantAllow: "http://localhost:4000"},
		{name: "preflight from an allowed origin", cfg: loopback, method: "OPTIONS", host: "localhost:3100", origin: "http://127.0.0.1:4000", wantCode: 204, wantAllow: "http://127.0.0.1:4000"},
		{name: "--cors-origin replaces the default", cfg: custom, method: "POST", host: "localhost:3100", origin: "http://localhost:4000", wantCode: 403},
		{name: "--cors-origin allows its origin", cfg: custom, method: "POST", host: "localhost:3100", origin: "https://ui.example.com", wantCode: 200, wantRuns: 1, wantAllow: "https://ui.example.com"},
		{name: "--allow-host", cfg: &config{host: "127.0.0.1", allowedHosts: []string{"dev.box"}}, method: "POST", host: "dev.box:3100", wantCode: 200, wantRuns: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, runs := edgeServer(t, tc.cfg)
			req, err := http.NewRequest(tc.method, srv.URL+"/api/runAction", strings.NewReader(`{"key":"/flow/touch","input":"x"}`))
			if err != nil {
				t.Fatal(err)
			}
			req.Host = tc.host
			if tc.origin != "" {
				req.Header.Set("Origin", tc.origin)
			}
			if tc.method == "OPTIONS" {
				req.Header.Set("Access-Control-Request-Method", "POST")
				req.Header.Set("Access-Control-Request-Headers", "content-type")
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.wantCode {
				t.Errorf("status = %d (%s); want %d", resp.StatusCode, body, tc.wantCode)
			}
			if got := runs.Load(); got != tc.wantRuns {
				t.Errorf("the action ran %d times; want %d", got, tc.wantRuns)
			}
			if got := resp.Header.Get("Access-Control-Allow-Origin"); got != tc.wantAllow {
				t.Errorf("Access-Control-Allow-Origin = %q; want %q", got, tc.wantAllow)
			}
			if tc.wantAllow != "" && tc.method == "POST" {
				exposed := resp.Header.Get("Access-Control-Expose-Headers")
				for _, h := range []string{reflection.HeaderTraceID, reflection.HeaderSpanID, reflection.HeaderVersion} {
					if !strings.Contains(strings.ToLower(exposed), strings.ToLower(h)) {
						t.Errorf("Access-Control-Expose-Headers = %q lacks %s", exposed, h)
					}
				}
			}
		})
	}
}
