// Package devruntime makes a Go program a Genkit runtime: its own actions
// show up in the Genkit Developer UI, where they can be listed, run,
// streamed, cancelled, traced and evaluated, and the Genkit CLI (genkit
// flow:run, eval:flow, trace:get) can drive them.
//
// # Serve your actions
//
// Define actions on a [registry.Registry] and serve it with one call:
//
//	reg := registry.New(nil)
//	registry.DefineFlow(reg, "greet", func(ctx context.Context, name string) (string, error) {
//		return "Hello, " + name + "!", nil
//	}, nil)
//	opts, err := devruntime.OptionsFromEnv(nil) // what genkit start asks for
//	if err != nil { ... }
//	err = devruntime.Serve(ctx, reg, opts)
//
// Then start it under the CLI from the project folder:
//
//	genkit start -- go run .
//
// [Serve] listens on loopback (the first free port in 3100..3199), writes
// the runtime file through which the CLI discovers the runtime
// (.genkit/runtimes in the project root), serves the Reflection API and
// the trace store, and exports spans to the CLI's telemetry server. When
// ctx ends (make it end on SIGINT and SIGTERM), when the CLI asks it to
// quit, or when the process that started it exits, it removes the runtime
// file, gives runs in flight [Options.ShutdownGrace] to finish, answers
// each, and returns nil. It returns an error when it cannot start: no free
// port, a port already taken, a project root where the runtime file cannot
// be written. When the Genkit CLI runs the program with reflection v2
// (genkit start --experimental-reflection-v2, or genkit flow:run ... --
// <program>), [OptionsFromEnv] sets [Options.ReflectionV2Server] and Serve
// dials the CLI instead of listening.
//
// # Mount it in your server
//
// An app that already serves HTTP can serve the runtime on the same port:
// every route of [Runtime.Handler] is under /api/.
//
//	rt, err := devruntime.New(ctx, reg, opts)
//	defer rt.Close(ctx)
//	mux.Handle("/api/", rt.Handler())
//	l, err := net.Listen("tcp", "127.0.0.1:8080")
//	go srv.Serve(l)
//	rf, err := rt.Announce(l.Addr()) // the runtime file, for the CLI
//	defer rf.Remove()
//
// The app then decides when to stop: on its own signals, on [Runtime.Quit]
// (the CLI's quit request) and on [WatchParent].
//
// # Traces
//
// Every run is a trace of spans in Genkit's shape: the action's span, one
// per [registry.Step], nested actions. Spans the app makes inside an
// action join the run's trace when they are made with the runtime's
// tracer provider: give the runtime the app's own provider in
// [Options.TracerProvider] (the runtime adds its span processors to it), or
// use [Runtime.TracerProvider]. Instrumented libraries that use the global
// provider, such as otelhttp, need otel.SetTracerProvider with it. Such
// spans, an outgoing HTTP request or a database query, then show in the
// Developer UI under the action's span, and are exported with it.
//
// Spans go to the in-memory trace store (served at /api/traces, bounded
// by [Options.MaxTraces] and [Options.MaxTraceBytes]), to the Genkit
// telemetry server the CLI announces (or [Options.TelemetryServerURL]),
// and, with [Options.OTLP], to any OpenTelemetry backend over
// OTLP/HTTP.
//
// # Safe by default
//
// The runtime runs code on request, so it listens on loopback, refuses
// requests whose Host header is not a loopback name (DNS rebinding) and
// requests from browser origins other than the local Developer UI's, and
// allows CORS only for those origins. [Options.CORSOrigins] and
// [Options.AllowedHosts] widen that.
//
// # No orphans
//
// A runtime started by `go run` under `genkit start` is a grandchild of
// the CLI: when the go command is killed, the program it built would keep
// its port and its runtime file. [Runtime.Serve] watches the process that
// started it (on Linux through a pidfd, which the kernel signals when the
// process exits; elsewhere by polling the parent pid) and stops the
// graceful way when it goes. [Options.KeepRunningWhenOrphaned] turns that
// off. At start, runtime files of the project whose process no longer
// exists are removed.
package devruntime
