package devruntime

import (
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// Version is the genkit-runtime version a dev runtime reports to the Genkit
// CLI: in the X-Genkit-Version header, and as "genkit-runtime/<Version>" in
// its runtime file and its reflection v2 registration.
const Version = "0.1.0"

// FirstPort and LastPort bound the ports tried when [Options.Port] is zero:
// the range the Genkit SDKs use, which the Genkit CLI expects.
const FirstPort, LastPort = 3100, 3199

// Defaults of the zero [Options].
const (
	DefaultHost          = "127.0.0.1"
	DefaultMaxTraces     = 1000
	DefaultMaxTraceBytes = 64 << 20
	DefaultShutdownGrace = 5 * time.Second
)

// Options configures a dev runtime. The zero value (or nil) is a complete
// local runtime: loopback on the first free port in 3100..3199, its
// runtime file in the project found from the working directory, traces
// kept in memory, reflection v1. Options holds what an app decides; read
// the environment the Genkit CLI sets with [OptionsFromEnv].
type Options struct {
	// Name is the runtime's name in the Developer UI and the service name
	// of its spans. If empty, the base name of the running program.
	Name string
	// Host is the address to listen on. If empty, DefaultHost. A
	// non-loopback address exposes the runtime to the network.
	Host string
	// Port is the port to listen on. If zero, the first free port in
	// FirstPort..LastPort.
	Port int
	// ProjectRoot is where the runtime file goes (in .genkit/runtimes). If
	// empty, it is found from the working directory the way the Genkit CLI
	// finds it: the nearest folder holding go.mod, package.json and the
	// like.
	ProjectRoot string
	// RuntimeID is the ID advertised in the runtime file and accepted by
	// /api/__health?id=. If empty, "<pid>-<port>"; that default is
	// accepted too when RuntimeID is set.
	RuntimeID string
	// MaxBodyBytes limits request bodies. If zero, 30 MiB.
	MaxBodyBytes int64

	// MaxTraces and MaxTraceBytes bound the in-memory trace store; the
	// oldest traces are evicted first. If zero, DefaultMaxTraces and
	// DefaultMaxTraceBytes.
	MaxTraces     int
	MaxTraceBytes int64
	// MaxTracesName and MaxTraceBytesName say how a user raises MaxTraces
	// and MaxTraceBytes, such as the program's command-line flags; the log
	// line that says the store has started evicting traces names them. If
	// empty, "MaxTraces" and "MaxTraceBytes".
	MaxTracesName, MaxTraceBytesName string

	// TelemetryServerURL is a Genkit telemetry server to export spans to.
	// If set, it takes precedence over the URL the CLI announces (through
	// /api/notify or the v2 registration).
	TelemetryServerURL string
	// RealtimeTelemetry exports spans to the telemetry server when they
	// start as well as when they end, so the Developer UI shows runs in
	// progress.
	RealtimeTelemetry bool

	// OTLP, if its Endpoint is set, exports spans over OTLP/HTTP too, to a
	// collector, Jaeger, Tempo or any OpenTelemetry backend. Failures of
	// that export are logged through Logger when they start, at most once a
	// minute while they last, and when it recovers; runs never wait for it.
	OTLP OTLPOptions

	// TracerProvider, if not nil, is the app's own provider: the runtime
	// adds its span processors (the trace store, the exporters) to it, so
	// spans the app makes with it inside an action join the run's trace. The
	// app owns it: the runtime does not shut it down. If nil, the runtime
	// makes its own; see [Runtime.TracerProvider].
	TracerProvider *sdktrace.TracerProvider
	// Resource describes the runtime in exported spans when the runtime
	// makes its own TracerProvider. If nil, service.name is Name (unless
	// OTEL_SERVICE_NAME or OTEL_RESOURCE_ATTRIBUTES, read by
	// [OptionsFromEnv], say otherwise), with the OpenTelemetry SDK's host
	// and process attributes.
	Resource *resource.Resource

	// ReflectionV2Server, if set, is the ws:// URL of a Genkit CLI
	// reflection v2 server: [Runtime.Serve] dials it and serves reflection
	// v2 only (no HTTP listener, no runtime file). The CLI passes it in
	// GENKIT_REFLECTION_V2_SERVER.
	ReflectionV2Server string

	// CORSOrigins are the browser origins allowed to call the API; a "*"
	// in the port matches any port. If nil, http://localhost:* and
	// http://127.0.0.1:*.
	CORSOrigins []string
	// AllowedHosts are Host header values accepted besides localhost,
	// 127.0.0.1 and [::1]; "*" disables the check.
	AllowedHosts []string

	// ShutdownGrace is how long runs in flight get to finish once the
	// runtime is asked to stop; then they are cancelled, each still
	// answered. If zero, DefaultShutdownGrace; if negative, none.
	ShutdownGrace time.Duration

	// KeepRunningWhenOrphaned keeps the runtime serving when the process
	// that started it exits. By default [Runtime.Serve] shuts down the
	// graceful way when its parent process goes away (as when `go run`
	// under `genkit start` is killed), so no orphan keeps the port and its
	// runtime file.
	KeepRunningWhenOrphaned bool

	// Logger receives the runtime's logs. If nil, nothing is logged.
	Logger *slog.Logger

	// getenv is the environment OptionsFromEnv read, for the resource's
	// OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES; nil: none.
	getenv func(string) string
}

// OTLPOptions says where and how spans are exported over OTLP/HTTP. The
// zero value exports nothing. [OptionsFromEnv] reads it from the standard
// OTEL_EXPORTER_OTLP_* variables.
type OTLPOptions struct {
	// Endpoint is the URL spans are posted to, path included, such as
	// http://127.0.0.1:4318/v1/traces.
	Endpoint string
	// Headers are added to every export request (an API key, a tenant).
	Headers map[string]string
	// Timeout bounds one batch export, retries included. If zero, 10 s.
	Timeout time.Duration
	// Gzip compresses request bodies.
	Gzip bool
	// JSON sends spans as OTLP/HTTP JSON instead of protobuf.
	JSON bool
	// Certificate is the path of a PEM file of the certificate authorities
	// an https Endpoint's certificate is checked against, instead of the
	// system's.
	Certificate string
	// ClientCertificate and ClientKey are the paths of the PEM files of a
	// client certificate and its private key, presented to an https
	// Endpoint (mutual TLS). Both or neither are set.
	ClientCertificate, ClientKey string
}
