package conformance_test

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/genkit-runtime/genkit-runtime/conformance"
	"github.com/genkit-runtime/genkit-runtime/dap"
	"github.com/genkit-runtime/genkit-runtime/fixture"
	"github.com/genkit-runtime/genkit-runtime/guard"
	"github.com/genkit-runtime/genkit-runtime/reflection"
	"github.com/genkit-runtime/genkit-runtime/reflection/v2manager"
	"github.com/genkit-runtime/genkit-runtime/registry"
	"github.com/genkit-runtime/genkit-runtime/runtimefile"
	"github.com/genkit-runtime/genkit-runtime/traceexport"
	"github.com/genkit-runtime/genkit-runtime/tracestore"
)

// The in-process runtimes are built the way cmd/genkit-runtime builds
// the binary's (serve.go): the fixture registry with its dynamic action
// provider, a tracer provider feeding the in-memory trace store and the
// telemetry exporter, and the v1 handler behind the guard middleware, or
// the v2 client.

// runtimeVersion is the version the in-process runtimes report.
const runtimeVersion = "0.1.0"

// telemetry is an in-process runtime's tracing.
type telemetry struct {
	tp       *sdktrace.TracerProvider
	exporter *traceexport.Exporter
}

// newTelemetry builds the tracing of cmd/genkit-runtime: spans go to the
// trace store and to the exporter, which has no telemetry server until
// the suite announces one.
func newTelemetry(t *testing.T, realtime bool) *telemetry {
	t.Helper()
	store := tracestore.New(nil)
	// A post to the sink may take longer than the default stall timeout
	// on a loaded machine (the race detector, parallel suites); the
	// runtime would then stop waiting for its trace before the result,
	// and trace/exported-before-result fail for a reason no breakage is
	// about. The flush stays bounded by the handler's flush timeout.
	exp := traceexport.New(&traceexport.Options{Concurrency: 8, Linger: 20 * time.Millisecond, Realtime: realtime,
		StallTimeout: 5 * time.Second})
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithSampler(sdktrace.AlwaysSample()),
		sdktrace.WithSpanProcessor(store),
		sdktrace.WithSpanProcessor(exp),
	)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := tp.Shutdown(ctx); err != nil {
			t.Errorf("tracer provider shutdown: %v", err)
		}
		if err := exp.Shutdown(ctx); err != nil {
			t.Errorf("exporter shutdown: %v", err)
		}
	})
	return &telemetry{tp: tp, exporter: exp}
}

// newRegistry registers the fixture actions and the fixture's dynamic
// action provider.
func newRegistry(t *testing.T, tel *telemetry) *registry.Registry {
	t.Helper()
	reg := registry.New(nil)
	if err := fixture.Register(reg); err != nil {
		t.Fatal(err)
	}
	if _, err := fixture.RegisterDAP(reg, &dap.Options{TracerProvider: tel.tp}); err != nil {
		t.Fatal(err)
	}
	return reg
}

// serve serves h on a loopback port until the test ends.
func serve(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// newSink serves a recording telemetry sink, with wrap (if not nil)
// around it.
func newSink(t *testing.T, wrap func(http.Handler) http.Handler) (*conformance.Sink, string) {
	t.Helper()
	sink := conformance.NewSink()
	var h http.Handler = sink
	if wrap != nil {
		h = wrap(sink)
	}
	return sink, serve(t, h).URL
}

// config is how an in-process runtime is started, and how it is broken.
type config struct {
	// wrap, if not nil, wraps the v1 handler.
	wrap func(http.Handler) http.Handler
	// relay, if not nil, rewrites the v2 runtime's frames on their way to
	// the manager (see startRelay).
	relay func(frame []byte) [][]byte
	// sink, if not nil, wraps the telemetry sink: it sees the runtime's
	// exports before the sink records them.
	sink func(http.Handler) http.Handler
	// launchEnv, if not nil, edits the environment a case launches a
	// runtime with, before the runtime reads it.
	launchEnv func(env map[string]string)
	// env is the runtime's environment, as the binary reads it:
	// GENKIT_RUNTIME_ID and GENKIT_ENABLE_REALTIME_TELEMETRY.
	env map[string]string
	// managerDelay (v2) starts the manager this long after the runtime.
	managerDelay time.Duration
	// firstDialFatal (v2) makes the runtime give up when its first dial
	// fails, as the Go SDK does (it panics).
	firstDialFatal bool
}

// launcher returns the target's Launch: each launch starts another
// in-process runtime with cfg and the case's environment, stopped when
// the test ends.
func (cfg config) launcher(t *testing.T, start func(*testing.T, config) (*conformance.Target, error)) func(context.Context, *conformance.Launch) (*conformance.Target, func(), error) {
	return func(_ context.Context, l *conformance.Launch) (*conformance.Target, func(), error) {
		c := cfg
		c.env = maps.Clone(l.Env)
		if c.env == nil {
			c.env = map[string]string{}
		}
		if cfg.launchEnv != nil {
			cfg.launchEnv(c.env)
		}
		c.managerDelay = time.Duration(l.ManagerDelayMs) * time.Millisecond
		target, err := start(t, c)
		return target, func() {}, err
	}
}

// launchV1 is startV1 as a launcher's start.
func launchV1(t *testing.T, cfg config) (*conformance.Target, error) { return startV1(t, cfg), nil }

// newClient returns the client the suite makes its v1 requests with; its
// connections are closed when the test ends.
func newClient(t *testing.T) *http.Client {
	t.Helper()
	tr := &http.Transport{Proxy: nil, DisableCompression: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// startV1 serves the v1 API of an in-process runtime configured by cfg,
// writes its runtime file and returns the target for the suite. Its
// runtime id is GENKIT_RUNTIME_ID, else <pid>-<port>, and its health check
// accepts both, as the binary's does. Nothing stops the runtime, so the
// cases needing that are unsupported; a case controlling the launch gets
// another in-process runtime.
func startV1(t *testing.T, cfg config) *conformance.Target {
	t.Helper()
	sink, sinkURL := newSink(t, cfg.sink)
	tel := newTelemetry(t, cfg.env["GENKIT_ENABLE_REALTIME_TELEMETRY"] == "true")
	reg := newRegistry(t, tel)

	// The handler needs the port, known once the listener is made.
	var handler http.Handler
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		handler.ServeHTTP(w, r)
	}))
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	defaultID := fmt.Sprintf("%d-%s", os.Getpid(), port)
	id := cfg.env["GENKIT_RUNTIME_ID"]
	if id == "" {
		id = defaultID
	}
	h := reflection.NewHandler(reg, &reflection.Options{
		TracerProvider: tel.tp,
		Flusher:        tel.exporter,
		Version:        runtimeVersion,
		RuntimeIDs:     []string{id, defaultID},
		OnNotify: func(n reflection.Notification) {
			if n.TelemetryServerURL != "" {
				tel.exporter.SetURL(n.TelemetryServerURL)
			}
		},
	})
	mux := http.NewServeMux()
	mux.Handle("/", h)
	handler = guard.Chain(
		guard.Recover(nil),
		guard.Hosts(guard.LoopbackHosts),
		guard.Origins(guard.DefaultOrigins()),
	)(mux)
	if cfg.wrap != nil {
		handler = cfg.wrap(handler)
	}
	srv.Start()
	t.Cleanup(srv.Close)
	client := newClient(t)

	rf, err := runtimefile.Write(t.TempDir(), runtimefile.Info{
		ID: id, PID: os.Getpid(), Name: "conformance-selftest", ReflectionServerURL: srv.URL,
		GenkitVersion: "genkit-runtime/" + runtimeVersion, ReflectionAPISpecVersion: reflection.SpecVersion,
		Timestamp: time.Now(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rf.Remove() })
	data, err := os.ReadFile(rf.Path())
	if err != nil {
		t.Fatal(err)
	}
	file := &conformance.RuntimeFile{Path: rf.Path(), Data: data}
	// The first health check, as the harness makes it on discovery.
	file.HealthStatus, file.HealthError = healthStatus(t, client, srv.URL+"/api/__health?id="+id)

	return &conformance.Target{
		Name: "genkit-runtime (in-process)", Transport: conformance.V1,
		URL: srv.URL, HTTPClient: client,
		Sink: sink, SinkURL: sinkURL,
		RuntimeFile: file,
		Launch:      cfg.launcher(t, launchV1),
	}
}

// healthStatus makes one health check and returns its status, or 0 and
// why it failed.
func healthStatus(t *testing.T, client *http.Client, url string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, ""
}

// startV2 serves a v2 manager, connects an in-process v2 runtime
// configured by cfg to it and returns the target for the suite once the
// runtime has registered. Its frames pass through cfg.relay, if set, on
// their way to the manager (see startRelay). Its runtime id is
// GENKIT_RUNTIME_ID, else "conformance-selftest".
func startV2(t *testing.T, cfg config) *conformance.Target {
	t.Helper()
	target, err := launchV2(t, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return target
}

// launchV2 is startV2, returning an error for a runtime that does not
// register.
func launchV2(t *testing.T, cfg config) (*conformance.Target, error) {
	t.Helper()
	sink, sinkURL := newSink(t, cfg.sink)
	tel := newTelemetry(t, cfg.env["GENKIT_ENABLE_REALTIME_TELEMETRY"] == "true")
	reg := newRegistry(t, tel)
	rec := &v2manager.Recorder{}
	m := v2manager.New(&v2manager.Options{TelemetryServerURL: sinkURL, OnMessage: rec.Record})
	t.Cleanup(func() { m.Close() })
	msrv := httptest.NewUnstartedServer(m)
	t.Cleanup(msrv.Close)
	addr := msrv.Listener.Addr().String()
	if cfg.managerDelay > 0 {
		// Nothing listens there until the delay is over.
		msrv.Listener.Close()
	} else {
		msrv.Start()
	}
	url := "ws://" + addr
	if cfg.relay != nil {
		url = startRelay(t, url, cfg.relay)
	}
	id := cfg.env["GENKIT_RUNTIME_ID"]
	if id == "" {
		id = "conformance-selftest"
	}
	c := reflection.NewClient(reg, &reflection.ClientOptions{
		ServerURL:      url,
		RuntimeID:      id,
		PID:            os.Getpid(),
		GenkitVersion:  "genkit-runtime/" + runtimeVersion,
		TracerProvider: tel.tp,
		Flusher:        tel.exporter,
		OnTelemetryURL: tel.exporter.SetURL,
	})
	// A runtime giving up on a failed first dial never runs its client.
	if !cfg.firstDialFatal || cfg.managerDelay == 0 {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			c.Run(ctx)
		}()
		t.Cleanup(func() {
			cancel()
			<-done
		})
	}
	if cfg.managerDelay > 0 {
		timer := time.NewTimer(cfg.managerDelay)
		select {
		case <-timer.C:
		case <-t.Context().Done():
			timer.Stop()
			return nil, t.Context().Err()
		}
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, err
		}
		msrv.Listener = l
		msrv.Start()
	}
	wctx, wcancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer wcancel()
	if _, err := m.WaitRuntime(wctx, ""); err != nil {
		return nil, fmt.Errorf("the in-process v2 runtime did not register: %w", err)
	}
	return &conformance.Target{
		Name: "genkit-runtime (in-process)", Transport: conformance.V2,
		Manager: m, Messages: rec,
		Sink: sink, SinkURL: sinkURL,
		Launch: cfg.launcher(t, launchV2),
	}, nil
}

// startRelay serves a WebSocket relay to the manager at upstream and
// returns its ws:// URL. Every text frame the runtime sends is replaced
// by what rewrite returns for it (none, itself, or several frames);
// frames from the manager pass unchanged.
func startRelay(t *testing.T, upstream string, rewrite func(frame []byte) [][]byte) string {
	t.Helper()
	var wg sync.WaitGroup // the connections being relayed
	up := websocket.Upgrader{}
	srv := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rt, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		mg, _, err := websocket.DefaultDialer.DialContext(r.Context(), upstream, nil)
		if err != nil {
			rt.Close()
			return
		}
		// Either side closing ends both directions.
		closeBoth := func() {
			mg.Close()
			rt.Close()
		}
		wg.Go(func() {
			pump(mg, rt, rewrite)
			closeBoth()
		})
		wg.Go(func() {
			pump(rt, mg, nil)
			closeBoth()
		})
	}))
	// Runs after the runtime and the manager have closed their ends.
	t.Cleanup(wg.Wait)
	return "ws" + strings.TrimPrefix(srv.URL, "http")
}

// pump copies frames from src to dst until either fails, passing text
// frames through rewrite when it is not nil.
func pump(dst, src *websocket.Conn, rewrite func([]byte) [][]byte) {
	for {
		typ, data, err := src.ReadMessage()
		if err != nil {
			return
		}
		frames := [][]byte{data}
		if rewrite != nil && typ == websocket.TextMessage {
			frames = rewrite(data)
		}
		for _, f := range frames {
			if err := dst.WriteMessage(typ, f); err != nil {
				return
			}
		}
	}
}
