package reflection_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/genkit-runtime/genkit-runtime/fixture"
	"github.com/genkit-runtime/genkit-runtime/reflection"
	"github.com/genkit-runtime/genkit-runtime/reflection/v2manager"
	"github.com/genkit-runtime/genkit-runtime/registry"
)

// v2TelemetryURL is what the test manager answers to register.
const v2TelemetryURL = "http://127.0.0.1:4033"

// v2Env is a v2 client over the fixture registry connected to a real
// manager over a loopback WebSocket, with spans exported synchronously to
// memory and announced on ends.
type v2Env struct {
	reg       *registry.Registry
	tp        *sdktrace.TracerProvider
	exp       *tracetest.InMemoryExporter
	ends      *v2SpanEnds
	rec       *v2manager.Recorder
	mgr       *v2manager.Manager
	srv       *httptest.Server
	client    *reflection.Client
	rt        *v2manager.Runtime
	telemetry chan string
	stop      func() // stops the client and waits for Run to return
}

// v2EnvConfig adjusts a v2Env before it starts.
type v2EnvConfig struct {
	// client edits the client options (ServerURL is already set).
	client func(*reflection.ClientOptions)
	// listener, if not nil, is served instead of a fresh loopback one.
	listener net.Listener
	// noWait skips waiting for the runtime to register.
	noWait bool
	// noFastPath leaves every message to jsonrpc2 (see
	// reflection.NoV2FastPath).
	noFastPath bool
}

func newV2Env(t testing.TB, cfg *v2EnvConfig) *v2Env {
	t.Helper()
	if cfg == nil {
		cfg = &v2EnvConfig{}
	}
	reg := registry.New(nil)
	if err := fixture.Register(reg); err != nil {
		t.Fatal(err)
	}
	if _, err := fixture.RegisterDAP(reg, nil); err != nil {
		t.Fatal(err)
	}
	e := &v2Env{reg: reg, exp: tracetest.NewInMemoryExporter(), ends: newV2SpanEnds(), rec: &v2manager.Recorder{},
		telemetry: make(chan string, 16)}
	e.tp = sdktrace.NewTracerProvider(sdktrace.WithSyncer(e.exp), sdktrace.WithSpanProcessor(e.ends))
	e.mgr = v2manager.New(&v2manager.Options{TelemetryServerURL: v2TelemetryURL, OnMessage: e.rec.Record})
	e.srv = httptest.NewUnstartedServer(e.mgr)
	if cfg.listener != nil {
		e.srv.Listener.Close()
		e.srv.Listener = cfg.listener
	}
	e.srv.Start()
	opts := &reflection.ClientOptions{
		ServerURL:      v2WSURL(e.srv),
		RuntimeID:      "rt-test",
		PID:            4242,
		Name:           "v2 test",
		GenkitVersion:  "genkit-runtime/test",
		TracerProvider: e.tp,
		MinBackoff:     5 * time.Millisecond,
		MaxBackoff:     50 * time.Millisecond,
		OnTelemetryURL: func(u string) {
			select {
			case e.telemetry <- u:
			default:
			}
		},
	}
	if cfg.client != nil {
		cfg.client(opts)
	}
	e.client = reflection.NewClient(reg, opts)
	if cfg.noFastPath {
		reflection.NoV2FastPath(e.client)
	}
	ctx, cancel := context.WithCancel(context.Background())
	runErr := make(chan error, 1)
	go func() { runErr <- e.client.Run(ctx) }()
	stopped := false
	e.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-runErr; !errors.Is(err, context.Canceled) {
			t.Errorf("Run = %v, want context.Canceled", err)
		}
	}
	t.Cleanup(func() {
		e.stop()
		e.mgr.Close()
		e.srv.Close()
		e.tp.Shutdown(context.Background())
	})
	if !cfg.noWait {
		e.rt = e.waitRuntime(t, e.mgr)
		// Let the answer to register be recorded before the test starts.
		if _, _, err := e.rec.Wait(v2Ctx(t), 0, func(m v2manager.Message) bool { return m.Direction == v2manager.Sent }); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

func v2WSURL(srv *httptest.Server) string { return "ws" + strings.TrimPrefix(srv.URL, "http") }

// v2Ctx returns a context for one step of a test: long enough for a slow
// machine, short enough to fail rather than hang.
func v2Ctx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func (e *v2Env) waitRuntime(t testing.TB, mgr *v2manager.Manager) *v2manager.Runtime {
	t.Helper()
	rt, err := mgr.WaitRuntime(v2Ctx(t), "rt-test")
	if err != nil {
		t.Fatalf("WaitRuntime: %v", err)
	}
	return rt
}

// checkNoViolations fails the test if the manager saw protocol errors.
func v2CheckNoViolations(t testing.TB, rt *v2manager.Runtime) {
	t.Helper()
	if errs := rt.ProtocolErrors(); len(errs) > 0 {
		t.Errorf("protocol errors: %v", errs)
	}
}

// v2RPCError returns err as a *v2manager.Error, failing the test if it is
// not one.
func v2RPCError(t testing.TB, err error) *v2manager.Error {
	t.Helper()
	var e *v2manager.Error
	if !errors.As(err, &e) {
		t.Fatalf("error = %v (%T), want a JSON-RPC error", err, err)
	}
	return e
}

// v2JSON compacts a JSON text for comparison, failing on invalid JSON.
func v2JSON(t testing.TB, s string) string {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("invalid JSON %q: %v", s, err)
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// v2Fields decodes a message's top-level members.
func v2Fields(t testing.TB, data []byte) map[string]json.RawMessage {
	t.Helper()
	var f map[string]json.RawMessage
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatalf("message %s: %v", data, err)
	}
	return f
}

// v2SpanEnds announces ended spans on a channel.
type v2SpanEnds struct {
	ch chan sdktrace.ReadOnlySpan
}

var _ sdktrace.SpanProcessor = (*v2SpanEnds)(nil)

func newV2SpanEnds() *v2SpanEnds { return &v2SpanEnds{ch: make(chan sdktrace.ReadOnlySpan, 4096)} }

func (p *v2SpanEnds) OnStart(context.Context, sdktrace.ReadWriteSpan) {}
func (p *v2SpanEnds) OnEnd(s sdktrace.ReadOnlySpan) {
	select {
	case p.ch <- s:
	default:
	}
}
func (p *v2SpanEnds) Shutdown(context.Context) error   { return nil }
func (p *v2SpanEnds) ForceFlush(context.Context) error { return nil }

// waitRootEnd waits for the root span of the trace to end.
func (p *v2SpanEnds) waitRootEnd(t testing.TB, traceID string) sdktrace.ReadOnlySpan {
	t.Helper()
	ctx := v2Ctx(t)
	for {
		select {
		case s := <-p.ch:
			if s.SpanContext().TraceID().String() == traceID && !s.Parent().IsValid() {
				return s
			}
		case <-ctx.Done():
			t.Fatalf("root span of trace %s did not end", traceID)
		}
	}
}
