package main

import (
	"errors"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/genkit-runtime/genkit-runtime/reflection/v2manager"
	"github.com/genkit-runtime/genkit-runtime/status"
)

// TestShutdownGraceV2 sends SIGTERM to a runtime connected to a reflection
// v2 manager with runs in flight: a run that ends within --shutdown-grace
// gets its result, the other is cancelled when the grace period ends and
// still gets its JSON-RPC answer, and the process exits with status 0.
func TestShutdownGraceV2(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the binary")
	}
	const grace = 1500 * time.Millisecond
	mgr := v2manager.New(nil)
	srv := httptest.NewServer(mgr)
	t.Cleanup(func() {
		mgr.Close()
		srv.Close()
	})

	p := startV2Runtime(t, []string{"--shutdown-grace", grace.String()}, []string{
		"GENKIT_REFLECTION_V2_SERVER=ws" + strings.TrimPrefix(srv.URL, "http"),
		"GENKIT_RUNTIME_ID=v2-shutdown",
	})

	ctx := t.Context()
	rt, err := mgr.WaitRuntime(ctx, "v2-shutdown")
	if err != nil {
		t.Fatal(err)
	}
	start := func(ms int) *v2manager.Run {
		t.Helper()
		run, err := rt.StartAction(ctx, &v2manager.RunRequest{Key: "/flow/wait", Input: map[string]int{"ms": ms}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		<-run.Started()
		return run
	}
	long, short := start(60000), start(500)

	sent := time.Now()
	p.signal(t, syscall.SIGTERM)
	if res, err := short.Wait(ctx); err != nil || string(res.Result) != `{"waitedMs":500}` {
		t.Errorf("run within the grace period: %+v, %v; want its result", res, err)
	}
	_, err = long.Wait(ctx)
	re, ok := errors.AsType[*v2manager.Error](err)
	if !ok {
		t.Fatalf("long run: %v; want a JSON-RPC error", err)
	}
	if st, ok := re.Status(); !ok || st.Code != int(status.Cancelled) || st.TraceID() != long.TraceID() {
		t.Errorf("long run: %v (status %+v); want CANCELLED of trace %s", err, st, long.TraceID())
	}
	if d := time.Since(sent); d < grace || d > grace+3*time.Second {
		t.Errorf("long run answered %v after SIGTERM; want the grace period %v, plus a little", d, grace)
	}
	if code := p.wait(t, 10*time.Second); code != 0 {
		t.Errorf("exit status %d; want 0", code)
	}
}
