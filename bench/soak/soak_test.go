package main

import (
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestSoak is a short soak of the real binary: 2,000 mixed runs from 50
// clients, 15 of which hang up on every run, after a warm-up that fills the
// trace store. The runtime must end with no more goroutines than its
// baseline (plus the slack) and heap in-use within the tolerance, every
// completed run must have had its exact result, and the runtime must exit
// with status 0 on SIGTERM.
func TestSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("a soak of the built binary")
	}
	cfg := DefaultConfig()
	cfg.Runs = 2000
	cfg.Concurrency = 50
	cfg.Timeout = 2 * time.Minute
	rep, err := Run(t.Context(), cfg)
	if rep != nil {
		var b strings.Builder
		rep.WriteTable(&b)
		t.Logf("soak report:\n%s", b.String())
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range rep.Problems() {
		t.Error(p)
	}
	if rep.Soak.OK == 0 || rep.Soak.HungUp == 0 {
		t.Errorf("soak: %d runs completed, %d hung up; want both kinds", rep.Soak.OK, rep.Soak.HungUp)
	}
}
