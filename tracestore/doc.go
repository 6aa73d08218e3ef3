// Package tracestore keeps Genkit traces in memory and serves them the way
// the Genkit telemetry server (@genkit-ai/telemetry-server) does.
//
// A [Store] is an OpenTelemetry [go.opentelemetry.io/otel/sdk/trace.SpanProcessor]:
// added to a TracerProvider, it records each span when it starts and when
// it ends, converted as [FromSpan] converts it to the Genkit wire shape
// ([TraceData], [SpanData]). It keeps each span compactly encoded, in about
// the size of its strings, and decodes it when it is read. It also merges TraceData sent by other processes
// ([Store.Ingest]) with the telemetry server's rules, lists traces by their
// root span ([Store.List], with the server's filters and paging), and
// publishes live span events to subscribers ([Store.Subscribe]).
//
// [NewHandler] serves a Store over the telemetry server's HTTP trace API
// (GET/POST /api/traces, GET /api/traces/{id} and its SSE stream), so the
// Genkit CLI and Developer UI can read it as they read the telemetry server.
//
// The store is bounded (see [Options]): it evicts whole traces, oldest
// first, beyond a number of traces or an approximate byte size.
package tracestore
