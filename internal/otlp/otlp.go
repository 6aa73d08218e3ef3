// Package otlp exports a runtime's spans over OTLP/HTTP to a tracing
// backend (an OpenTelemetry Collector, Jaeger, Grafana Tempo, ...), the way
// the OpenTelemetry specification has exporters configured:
//
//   - [ConfigFromEnv] reads the standard OTEL_EXPORTER_OTLP_* variables
//     into a [Config];
//   - [NewProcessor] returns a batch span processor for a TracerProvider
//     that exports to the configured endpoint and reports export failures
//     through a [slog.Logger], at most once a minute while they last and
//     once more when export recovers;
//   - [Resource] names the runtime to the backend: service.name and the
//     SDK's usual attributes, overridable through OTEL_SERVICE_NAME and
//     OTEL_RESOURCE_ATTRIBUTES;
//   - [SetErrorHandler] routes OpenTelemetry's own error reports to a
//     [slog.Logger].
//
// The exporter is the package's own: it encodes spans as OTLP protobuf
// (or JSON) itself and posts them with net/http, following the OTLP/HTTP
// specification and the OpenTelemetry SDKs' exporters (retries, limits),
// so that a program gets OTLP export without linking gRPC and generated
// protobuf code.
//
// The package reads no environment variable itself: callers pass a getenv
// function. The OpenTelemetry SDK does read the process environment for
// the batch processor's queue and schedule (OTEL_BSP_*), and net/http for
// a proxy (HTTPS_PROXY and the like).
package otlp

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// DefaultTimeout is how long one batch export may take, retries included,
// when [Config.Timeout] is zero: the default of OTEL_EXPORTER_OTLP_TIMEOUT.
const DefaultTimeout = 10 * time.Second

// tracesPath is what the specification appends to OTEL_EXPORTER_OTLP_ENDPOINT
// to get the traces endpoint.
const tracesPath = "v1/traces"

// Config says where and how spans are exported. The zero Config (no
// Endpoint) means no export.
type Config struct {
	// Endpoint is the URL spans are POSTed to, path included, such as
	// http://127.0.0.1:4318/v1/traces. Its scheme is http or https.
	Endpoint string
	// Headers are added to every export request (an API key, a tenant).
	// If nil, none are added.
	Headers map[string]string
	// Timeout bounds one batch export, retries included. If zero,
	// DefaultTimeout applies.
	Timeout time.Duration
	// Gzip compresses request bodies.
	Gzip bool
	// JSON sends spans as OTLP/HTTP JSON (http/json) instead of protobuf
	// (http/protobuf).
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

// ConfigFromEnv reads the OTLP trace exporter settings from the standard
// variables through getenv (os.Getenv in a program; nil reads an empty
// environment):
//
//   - OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, the traces URL used as is, else
//     OTEL_EXPORTER_OTLP_ENDPOINT, a base URL to which "v1/traces" is
//     appended; when neither is set, or OTEL_TRACES_EXPORTER is "none",
//     the zero Config is returned (OTEL_TRACES_EXPORTER may otherwise only
//     be "otlp");
//   - OTEL_EXPORTER_OTLP_TRACES_HEADERS, else OTEL_EXPORTER_OTLP_HEADERS:
//     comma-separated key=value pairs with percent-encoded values;
//   - OTEL_EXPORTER_OTLP_TRACES_TIMEOUT, else OTEL_EXPORTER_OTLP_TIMEOUT, in
//     milliseconds;
//   - OTEL_EXPORTER_OTLP_TRACES_COMPRESSION, else
//     OTEL_EXPORTER_OTLP_COMPRESSION: "gzip" or "none";
//   - OTEL_EXPORTER_OTLP_TRACES_PROTOCOL, else OTEL_EXPORTER_OTLP_PROTOCOL:
//     "http/protobuf" (the default) or "http/json"; "grpc" is not supported;
//   - OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE, else
//     OTEL_EXPORTER_OTLP_CERTIFICATE: a PEM file of trusted certificate
//     authorities;
//   - OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE and
//     OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY, else
//     OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE and OTEL_EXPORTER_OTLP_CLIENT_KEY:
//     the PEM files of a client certificate and its key, set together.
//
// A malformed value is an error naming the variable; nothing is guessed.
// An endpoint URL must not hold a query, a fragment or credentials, which
// the exporter would not send. The certificate files are read by
// [NewProcessor].
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	// lookup returns the traces-specific variable if set, else the
	// general one, and the name of the one it read.
	lookup := func(suffix string) (name, value string) {
		name = "OTEL_EXPORTER_OTLP_TRACES_" + suffix
		if v := getenv(name); v != "" {
			return name, v
		}
		name = "OTEL_EXPORTER_OTLP_" + suffix
		return name, getenv(name)
	}
	switch v := getenv("OTEL_TRACES_EXPORTER"); v {
	case "", "otlp":
	case "none":
		return Config{}, nil
	default:
		return Config{}, fmt.Errorf("OTEL_TRACES_EXPORTER=%q: want otlp or none", v)
	}
	var cfg Config
	if v := getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"); v != "" {
		u, err := parseEndpoint("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", v)
		if err != nil {
			return Config{}, err
		}
		cfg.Endpoint = u.String()
	} else if v := getenv("OTEL_EXPORTER_OTLP_ENDPOINT"); v != "" {
		u, err := parseEndpoint("OTEL_EXPORTER_OTLP_ENDPOINT", v)
		if err != nil {
			return Config{}, err
		}
		u.Path = strings.TrimSuffix(u.Path, "/") + "/" + tracesPath
		u.RawPath = ""
		cfg.Endpoint = u.String()
	} else {
		return Config{}, nil
	}
	switch name, v := lookup("PROTOCOL"); v {
	case "", "http/protobuf":
	case "http/json":
		cfg.JSON = true
	default:
		return Config{}, fmt.Errorf("%s=%q: want http/protobuf or http/json", name, v)
	}
	if name, v := lookup("HEADERS"); v != "" {
		kvs, err := parsePairs(v)
		if err != nil {
			return Config{}, fmt.Errorf("%s: %w", name, err)
		}
		cfg.Headers = make(map[string]string, len(kvs))
		for _, kv := range kvs {
			cfg.Headers[kv.key] = kv.value
		}
	}
	if name, v := lookup("TIMEOUT"); v != "" {
		ms, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || ms < 0 {
			return Config{}, fmt.Errorf("%s=%q: want a number of milliseconds", name, v)
		}
		cfg.Timeout = time.Duration(ms) * time.Millisecond
	}
	switch name, v := lookup("COMPRESSION"); v {
	case "", "none":
	case "gzip":
		cfg.Gzip = true
	default:
		return Config{}, fmt.Errorf("%s=%q: want gzip or none", name, v)
	}
	// tlsVars names the certificate variables read, for an error.
	var tlsVars []string
	if name, v := lookup("CERTIFICATE"); strings.TrimSpace(v) != "" {
		cfg.Certificate = strings.TrimSpace(v)
		tlsVars = append(tlsVars, name)
	}
	for _, prefix := range []string{"OTEL_EXPORTER_OTLP_TRACES_", "OTEL_EXPORTER_OTLP_"} {
		certName, keyName := prefix+"CLIENT_CERTIFICATE", prefix+"CLIENT_KEY"
		cert, key := strings.TrimSpace(getenv(certName)), strings.TrimSpace(getenv(keyName))
		if cert == "" && key == "" {
			continue
		}
		if cert == "" {
			return Config{}, fmt.Errorf("%s is set without %s", keyName, certName)
		}
		if key == "" {
			return Config{}, fmt.Errorf("%s is set without %s", certName, keyName)
		}
		cfg.ClientCertificate, cfg.ClientKey = cert, key
		tlsVars = append(tlsVars, certName)
		break
	}
	if len(tlsVars) > 0 && strings.HasPrefix(cfg.Endpoint, "http:") {
		return Config{}, fmt.Errorf("%s: TLS certificates for the endpoint %s, which is not https", strings.Join(tlsVars, ", "), cfg.Endpoint)
	}
	return cfg, nil
}

// parseEndpoint parses the endpoint URL held by variable name.
func parseEndpoint(name, v string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(v))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "" {
		return nil, fmt.Errorf("%s=%q: want an http or https URL, such as http://127.0.0.1:4318", name, v)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("%s=%q: a query or fragment is not allowed", name, v)
	}
	if u.User != nil {
		// The exporter would drop them; they belong in a header.
		return nil, fmt.Errorf("%s=%q: credentials in the URL are not sent; put them in OTEL_EXPORTER_OTLP_HEADERS", name, u.Redacted())
	}
	return u, nil
}

// keyValue is one member of a comma-separated list of key=value pairs.
type keyValue struct{ key, value string }

// parsePairs parses comma-separated key=value pairs whose values are
// percent-encoded, the format of OTEL_EXPORTER_OTLP_HEADERS and
// OTEL_RESOURCE_ATTRIBUTES; empty members are ignored.
func parsePairs(s string) ([]keyValue, error) {
	var kvs []keyValue
	for member := range strings.SplitSeq(s, ",") {
		if strings.TrimSpace(member) == "" {
			continue
		}
		k, v, ok := strings.Cut(member, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, fmt.Errorf("%q is not a key=value pair", member)
		}
		val, err := url.PathUnescape(strings.TrimSpace(v))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
		kvs = append(kvs, keyValue{k, val})
	}
	return kvs, nil
}

// NewProcessor returns a batch span processor that exports spans to
// cfg.Endpoint over OTLP/HTTP, for a TracerProvider. Ending a
// span never waits for the backend: spans are queued, and dropped when the
// queue is full. A batch the endpoint refuses with 429, 502, 503 or 504, or
// that times out, is retried with exponential backoff (from 5 s, and no
// sooner than a Retry-After header asks) while cfg.Timeout allows; a batch
// that cannot be exported within cfg.Timeout is dropped.
//
// Export failures are reported through logger (nil: not reported) as a
// warning when they start, at most once a minute while they last, and as
// one info line when an export succeeds again; so are spans the endpoint
// rejects (an OTLP partial success). They are not passed on to the
// OpenTelemetry global error handler, which would report every one.
//
// It fails if cfg's certificate files cannot be read, or are set for an
// http endpoint. The processor's Shutdown, called by the TracerProvider's,
// exports what is queued and closes the exporter.
func NewProcessor(cfg Config, logger *slog.Logger) (sdktrace.SpanProcessor, error) {
	if cfg.Endpoint == "" {
		return nil, errors.New("otlp: no endpoint configured")
	}
	u, err := parseEndpoint("endpoint", cfg.Endpoint)
	if err != nil {
		return nil, fmt.Errorf("otlp: %w", err)
	}
	exp, err := newExporter(cfg)
	if err != nil {
		return nil, err
	}
	rep := newReporter(exp, u.Redacted(), logger, time.Now)
	return sdktrace.NewBatchSpanProcessor(rep, sdktrace.WithExportTimeout(cfg.timeout())), nil
}

// timeout is c.Timeout, or DefaultTimeout if it is zero.
func (c Config) timeout() time.Duration {
	if c.Timeout <= 0 {
		return DefaultTimeout
	}
	return c.Timeout
}
