package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"testing"
	"time"
)

// TestSIGHUP: a closed terminal stops the runtime the graceful way, exit
// status 0 and its runtime file removed.
func TestSIGHUP(t *testing.T) {
	p := startRuntime(t, nil, nil)
	p.signal(t, sigHUP)
	if code := p.wait(t, 10*time.Second); code != 0 {
		t.Errorf("exit status after SIGHUP = %d; want 0\n%s", code, p.Output())
	}
	if _, err := os.Stat(p.rfPath); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("runtime file left after SIGHUP: %v", err)
	}
}

// TestQuitAnswered starts the binary afresh many times and asks each to
// quit: the answer always arrives whole before the process goes, which
// then exits 0 with its runtime file removed.
func TestQuitAnswered(t *testing.T) {
	n := 200
	if testing.Short() {
		n = 20
	}
	for i := range n {
		p := startRuntime(t, nil, nil)
		client := newTestClient(t)
		resp, err := client.Get(p.url + "/api/__quitquitquit")
		if err != nil {
			t.Fatalf("start %d: quit: %v\n%s", i, err, p.Output())
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || string(body) != "OK" {
			t.Fatalf("start %d: quit = %d %q, %v", i, resp.StatusCode, body, err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		code, err := p.Wait(ctx)
		cancel()
		if err != nil || code != 0 {
			t.Fatalf("start %d: exit %d, %v\n%s", i, code, err, p.Output())
		}
		if _, err := os.Stat(p.rfPath); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("start %d: runtime file left after quit: %v", i, err)
		}
	}
}
