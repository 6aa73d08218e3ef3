package reflection_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/genkit-runtime/genkit-runtime/fixture"
	"github.com/genkit-runtime/genkit-runtime/reflection"
	"github.com/genkit-runtime/genkit-runtime/reflection/v2manager"
	"github.com/genkit-runtime/genkit-runtime/registry"
)

// v2BenchRuntime connects a client over the fixture registry, with every
// span recorded and dropped, to a manager on a loopback WebSocket that
// skips validation, as the load harness's managers do, and returns the
// runtime.
func v2BenchRuntime(b *testing.B) *v2manager.Runtime {
	b.Helper()
	reg := registry.New(nil)
	if err := fixture.Register(reg); err != nil {
		b.Fatal(err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(tracetest.NewNoopExporter()))
	mgr := v2manager.New(&v2manager.Options{SkipValidation: true})
	srv := httptest.NewServer(mgr)
	client := reflection.NewClient(reg, &reflection.ClientOptions{ServerURL: v2WSURL(srv), RuntimeID: "bench", TracerProvider: tp})
	ctx, cancel := context.WithCancel(context.Background())
	runErr := make(chan error, 1)
	go func() { runErr <- client.Run(ctx) }()
	b.Cleanup(func() {
		cancel()
		if err := <-runErr; !errors.Is(err, context.Canceled) {
			b.Errorf("Run = %v", err)
		}
		mgr.Close()
		srv.Close()
		tp.Shutdown(context.Background())
	})
	rt, err := mgr.WaitRuntime(v2Ctx(b), "bench")
	if err != nil {
		b.Fatal(err)
	}
	return rt
}

// v2BenchRuns runs req over rt b.N times, from parallel goroutines (16 at
// a time on two CPUs) when parallel is set, and checks each result.
func v2BenchRuns(b *testing.B, rt *v2manager.Runtime, req *v2manager.RunRequest, chunks int, parallel bool) {
	b.Helper()
	ctx := context.Background()
	run := func() error {
		res, err := rt.RunAction(ctx, req, nil)
		switch {
		case err != nil:
			return err
		case res.Result == nil || len(res.Chunks) != chunks:
			return errors.New("bad result: " + string(res.Raw))
		}
		return nil
	}
	b.ReportAllocs()
	if !parallel {
		for b.Loop() {
			if err := run(); err != nil {
				b.Fatal(err)
			}
		}
		return
	}
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := run(); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkV2Run measures runs over Reflection API v2 end to end, the
// runtime's side and a manager's: the echo flow with a 1 KB input, one at
// a time and many at once, and a stream of 1,000 chunks.
func BenchmarkV2Run(b *testing.B) {
	echo := &v2manager.RunRequest{Key: "/flow/echo",
		Input: json.RawMessage(`{"data":"` + strings.Repeat("x", 1024-len(`{"data":""}`)) + `"}`)}
	count := &v2manager.RunRequest{Key: "/flow/count", Input: json.RawMessage(`{"count":1000}`), Stream: true}
	b.Run("Echo", func(b *testing.B) { v2BenchRuns(b, v2BenchRuntime(b), echo, 0, false) })
	b.Run("EchoParallel", func(b *testing.B) { v2BenchRuns(b, v2BenchRuntime(b), echo, 0, true) })
	b.Run("Count1000", func(b *testing.B) { v2BenchRuns(b, v2BenchRuntime(b), count, 1000, false) })
}
