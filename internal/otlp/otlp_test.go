package otlp

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"go.uber.org/goleak"
	"google.golang.org/protobuf/proto"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// env returns a getenv over m.
func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestConfigFromEnv(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		want Config
	}{
		{name: "nothing set", env: nil, want: Config{}},
		{name: "headers without endpoint", env: map[string]string{"OTEL_EXPORTER_OTLP_HEADERS": "a=b"}, want: Config{}},
		{
			name: "base endpoint",
			env:  map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"},
			want: Config{Endpoint: "http://127.0.0.1:4318/v1/traces"},
		},
		{
			name: "base endpoint with a trailing slash",
			env:  map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "https://collector.example/"},
			want: Config{Endpoint: "https://collector.example/v1/traces"},
		},
		{
			name: "base endpoint with a path",
			env:  map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "https://gateway.example/otlp"},
			want: Config{Endpoint: "https://gateway.example/otlp/v1/traces"},
		},
		{
			name: "traces endpoint is used as is",
			env:  map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://localhost:9999/custom/traces"},
			want: Config{Endpoint: "http://localhost:9999/custom/traces"},
		},
		{
			name: "traces endpoint takes precedence",
			env: map[string]string{
				"OTEL_EXPORTER_OTLP_ENDPOINT":        "http://base.example:4318",
				"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://traces.example:4318/v1/traces",
			},
			want: Config{Endpoint: "http://traces.example:4318/v1/traces"},
		},
		{
			name: "headers, percent-decoded",
			env: map[string]string{
				"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318",
				"OTEL_EXPORTER_OTLP_HEADERS":  "api-key=s3cr%3Dt, x-tenant = team%20a ,",
			},
			want: Config{Endpoint: "http://127.0.0.1:4318/v1/traces",
				Headers: map[string]string{"api-key": "s3cr=t", "x-tenant": "team a"}},
		},
		{
			name: "traces headers take precedence",
			env: map[string]string{
				"OTEL_EXPORTER_OTLP_ENDPOINT":       "http://127.0.0.1:4318",
				"OTEL_EXPORTER_OTLP_HEADERS":        "a=1",
				"OTEL_EXPORTER_OTLP_TRACES_HEADERS": "b=2",
			},
			want: Config{Endpoint: "http://127.0.0.1:4318/v1/traces", Headers: map[string]string{"b": "2"}},
		},
		{
			name: "timeout, compression and protocol",
			env: map[string]string{
				"OTEL_EXPORTER_OTLP_ENDPOINT":           "http://127.0.0.1:4318",
				"OTEL_EXPORTER_OTLP_TIMEOUT":            "3000",
				"OTEL_EXPORTER_OTLP_TRACES_TIMEOUT":     "1500",
				"OTEL_EXPORTER_OTLP_COMPRESSION":        "gzip",
				"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL":    "http/json",
				"OTEL_EXPORTER_OTLP_TRACES_COMPRESSION": "",
			},
			want: Config{Endpoint: "http://127.0.0.1:4318/v1/traces", Timeout: 1500 * time.Millisecond, Gzip: true, JSON: true},
		},
		{
			name: "certificates, the traces ones first",
			env: map[string]string{
				"OTEL_EXPORTER_OTLP_ENDPOINT":                  "https://collector.example",
				"OTEL_EXPORTER_OTLP_CERTIFICATE":               "/etc/ca.pem",
				"OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE":        " /etc/traces-ca.pem ",
				"OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE":        "/etc/client.pem",
				"OTEL_EXPORTER_OTLP_CLIENT_KEY":                "/etc/client-key.pem",
				"OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE": "/etc/traces-client.pem",
				"OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY":         "/etc/traces-client-key.pem",
			},
			want: Config{Endpoint: "https://collector.example/v1/traces", Certificate: "/etc/traces-ca.pem",
				ClientCertificate: "/etc/traces-client.pem", ClientKey: "/etc/traces-client-key.pem"},
		},
		{
			name: "general client certificate",
			env: map[string]string{
				"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT":    "https://collector.example/v1/traces",
				"OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE": "/etc/client.pem",
				"OTEL_EXPORTER_OTLP_CLIENT_KEY":         "/etc/client-key.pem",
			},
			want: Config{Endpoint: "https://collector.example/v1/traces", ClientCertificate: "/etc/client.pem", ClientKey: "/etc/client-key.pem"},
		},
		{
			name: "OTEL_TRACES_EXPORTER=none",
			env:  map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_TRACES_EXPORTER": "none"},
			want: Config{},
		},
		{
			name: "explicit defaults",
			env: map[string]string{
				"OTEL_TRACES_EXPORTER":           "otlp",
				"OTEL_EXPORTER_OTLP_ENDPOINT":    "http://127.0.0.1:4318",
				"OTEL_EXPORTER_OTLP_COMPRESSION": "none",
				"OTEL_EXPORTER_OTLP_PROTOCOL":    "http/protobuf",
			},
			want: Config{Endpoint: "http://127.0.0.1:4318/v1/traces"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ConfigFromEnv(env(tc.env))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ConfigFromEnv (-want +got):\n%s", diff)
			}
		})
	}
}

func TestConfigFromEnvErrors(t *testing.T) {
	base := "http://127.0.0.1:4318"
	for _, tc := range []struct {
		name    string
		env     map[string]string
		wantErr string // a substring of the error
	}{
		{"endpoint without scheme", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "localhost:4318"},
			`OTEL_EXPORTER_OTLP_ENDPOINT="localhost:4318": want an http or https URL`},
		{"endpoint without host", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://"},
			"OTEL_EXPORTER_OTLP_ENDPOINT"},
		{"endpoint of another scheme", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "grpc://127.0.0.1:4317"},
			"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"},
		{"endpoint that does not parse", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://[::1"},
			"OTEL_EXPORTER_OTLP_ENDPOINT"},
		{"endpoint with a query", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": base + "?a=b"},
			"query or fragment"},
		{"endpoint with credentials", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "https://user:s3cret@collector.example"},
			`OTEL_EXPORTER_OTLP_ENDPOINT="https://user:xxxxx@collector.example": credentials in the URL are not sent`},
		{"header without value", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": base, "OTEL_EXPORTER_OTLP_HEADERS": "a=1,b"},
			`OTEL_EXPORTER_OTLP_HEADERS: "b" is not a key=value pair`},
		{"header badly encoded", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": base, "OTEL_EXPORTER_OTLP_TRACES_HEADERS": "a=%zz"},
			"OTEL_EXPORTER_OTLP_TRACES_HEADERS"},
		{"timeout not a number", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": base, "OTEL_EXPORTER_OTLP_TIMEOUT": "10s"},
			`OTEL_EXPORTER_OTLP_TIMEOUT="10s": want a number of milliseconds`},
		{"unknown compression", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": base, "OTEL_EXPORTER_OTLP_COMPRESSION": "zstd"},
			"OTEL_EXPORTER_OTLP_COMPRESSION"},
		{"another exporter", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": base, "OTEL_TRACES_EXPORTER": "zipkin"},
			`OTEL_TRACES_EXPORTER="zipkin": want otlp or none`},
		{"grpc", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": base, "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
			`OTEL_EXPORTER_OTLP_PROTOCOL="grpc": want http/protobuf or http/json`},
		{"client key without certificate", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "https://collector.example",
			"OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY": "/etc/key.pem"},
			"OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY is set without OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE"},
		{"client certificate without key", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "https://collector.example",
			"OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE": "/etc/cert.pem"},
			"OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE is set without OTEL_EXPORTER_OTLP_CLIENT_KEY"},
		{"certificate for an http endpoint", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": base,
			"OTEL_EXPORTER_OTLP_CERTIFICATE": "/etc/ca.pem"},
			"OTEL_EXPORTER_OTLP_CERTIFICATE: TLS certificates for the endpoint http://127.0.0.1:4318/v1/traces, which is not https"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ConfigFromEnv(env(tc.env))
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("ConfigFromEnv = %+v, %v; want an error containing %q", got, err, tc.wantErr)
			}
		})
	}
}

func TestNewProcessorRejects(t *testing.T) {
	for _, cfg := range []Config{{}, {Endpoint: "localhost:4318"}} {
		if p, err := NewProcessor(cfg, nil); err == nil {
			p.Shutdown(t.Context())
			t.Errorf("NewProcessor(%+v) succeeded; want an error", cfg)
		}
	}
}

// collector is an OTLP/HTTP trace receiver that records what it receives
// and answers with the status set by setStatus (200 at first).
type collector struct {
	*httptest.Server

	mu       sync.Mutex // guards the fields below
	status   int
	requests []*http.Request
	spans    []string // names of the spans received
	resource map[string]string
}

func newCollector(t *testing.T) *collector {
	c := &collector{status: http.StatusOK}
	c.Server = httptest.NewServer(c)
	t.Cleanup(c.Close)
	return c
}

func (c *collector) setStatus(code int) {
	c.mu.Lock()
	c.status = code
	c.mu.Unlock()
}

func (c *collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, ok := requestBody(w, r)
	if !ok {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.requests = append(c.requests, r)
	if c.status != http.StatusOK {
		http.Error(w, "unavailable", c.status)
		return
	}
	var req coltracepb.ExportTraceServiceRequest
	if err := proto.Unmarshal(b, &req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	for _, rs := range req.ResourceSpans {
		c.resource = map[string]string{}
		for _, kv := range rs.Resource.GetAttributes() {
			c.resource[kv.Key] = kv.Value.GetStringValue()
		}
		for _, ss := range rs.ScopeSpans {
			for _, s := range ss.Spans {
				c.spans = append(c.spans, s.Name)
			}
		}
	}
	w.Header().Set("Content-Type", "application/x-protobuf")
}

func (c *collector) received() (spans []string, resource map[string]string, requests []*http.Request) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.spans...), c.resource, append([]*http.Request(nil), c.requests...)
}

// TestNewProcessor exports through the processor over real HTTP, with the
// configured headers, compression and resource.
func TestNewProcessor(t *testing.T) {
	c := newCollector(t)
	cfg, err := ConfigFromEnv(env(map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT":    c.URL,
		"OTEL_EXPORTER_OTLP_HEADERS":     "api-key=k1",
		"OTEL_EXPORTER_OTLP_COMPRESSION": "gzip",
	}))
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	proc, err := NewProcessor(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Resource(ctx, "my-runtime", nil)
	if err != nil {
		t.Fatal(err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(proc), sdktrace.WithResource(res))
	_, span := tp.Tracer("test").Start(ctx, "work")
	span.End()
	if err := tp.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	spans, resource, requests := c.received()
	if diff := cmp.Diff([]string{"work"}, spans); diff != "" {
		t.Errorf("spans received (-want +got):\n%s", diff)
	}
	if got := resource["service.name"]; got != "my-runtime" {
		t.Errorf("service.name = %q; want my-runtime", got)
	}
	if len(requests) == 0 {
		t.Fatal("no request")
	}
	r := requests[0]
	got := []string{r.Method, r.URL.Path, r.Header.Get("Content-Type"), r.Header.Get("Content-Encoding"), r.Header.Get("api-key")}
	want := []string{"POST", "/v1/traces", "application/x-protobuf", "gzip", "k1"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("request (-want +got):\n%s", diff)
	}
}

// logSink collects the lines of a JSON slog handler.
type logSink struct {
	mu  sync.Mutex // guards buf
	buf bytes.Buffer
}

func (s *logSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

// logger returns a logger writing to s at level and above.
func (s *logSink) logger(level slog.Level) *slog.Logger {
	return slog.New(slog.NewJSONHandler(s, &slog.HandlerOptions{Level: level}))
}

// records returns the logged records whose message starts with prefix,
// each as its decoded JSON object.
func (s *logSink) records(t *testing.T, prefix string) []map[string]any {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	for line := range strings.SplitSeq(strings.TrimSpace(s.buf.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if msg, _ := m["msg"].(string); strings.HasPrefix(msg, prefix) {
			out = append(out, m)
		}
	}
	return out
}

// fakeClock is a clock the test moves.
type fakeClock struct {
	mu  sync.Mutex // guards now
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// TestReporterRateLimit drives the reporter over a real OTLP/HTTP exporter
// through an outage of the collector (it answers 400, which the exporter
// does not retry) and its recovery, on a fake clock: the failure is
// reported when it starts and then at most once a minute, the recovery
// once, and no error reaches the batch processor.
func TestReporterRateLimit(t *testing.T) {
	c := newCollector(t)
	ctx := t.Context()
	inner, err := newExporter(Config{Endpoint: c.URL + "/v1/traces", Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var logs logSink
	clock := &fakeClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	rep := newReporter(inner, c.URL, logs.logger(slog.LevelDebug), clock.Now)
	t.Cleanup(func() { rep.Shutdown(context.Background()) })

	spans := recordSpans(t, 3)
	export := func() {
		t.Helper()
		if err := rep.ExportSpans(ctx, spans); err != nil {
			t.Fatalf("ExportSpans = %v; want nil, the failure being reported through the logger", err)
		}
	}
	counts := func() (failing, still, recovered int) {
		return len(logs.records(t, "OTLP export failing")), len(logs.records(t, "OTLP export still failing")),
			len(logs.records(t, "OTLP export recovered"))
	}
	step := func(name string, wantFailing, wantStill, wantRecovered int) {
		t.Helper()
		f, s, r := counts()
		if f != wantFailing || s != wantStill || r != wantRecovered {
			t.Fatalf("after %s: %d failing, %d still failing, %d recovered lines; want %d, %d, %d",
				name, f, s, r, wantFailing, wantStill, wantRecovered)
		}
	}

	export()
	step("a successful export", 0, 0, 0)

	c.setStatus(http.StatusBadRequest)
	export()
	step("the first failure", 1, 0, 0)
	for range 10 {
		clock.advance(5 * time.Second) // 50 s in all: under a minute
		export()
	}
	step("failures within the minute", 1, 0, 0)
	clock.advance(10 * time.Second)
	export()
	step("a failure a minute after the first", 1, 1, 0)
	still := logs.records(t, "OTLP export still failing")[0]
	if still["failed_exports"] != float64(11) || still["lost_spans"] != float64(33) || still["level"] != "WARN" {
		t.Errorf("still failing line = %v; want 11 failed exports, 33 lost spans, at WARN", still)
	}
	clock.advance(30 * time.Second)
	export()
	step("a failure half a minute later", 1, 1, 0)

	c.setStatus(http.StatusOK)
	clock.advance(time.Second)
	export()
	step("recovery", 1, 1, 1)
	rec := logs.records(t, "OTLP export recovered")[0]
	if rec["failed_exports"] != float64(13) || rec["lost_spans"] != float64(39) || rec["after"] != float64(91*time.Second) || rec["level"] != "INFO" {
		t.Errorf("recovered line = %v; want 13 failed exports, 39 lost spans, after 1m31s, at INFO", rec)
	}
	export()
	step("a success after recovery", 1, 1, 1)

	c.setStatus(http.StatusBadRequest)
	clock.advance(time.Second)
	export()
	step("a new failure", 2, 1, 1)
	first := logs.records(t, "OTLP export failing")[1]
	if first["endpoint"] != c.URL || !strings.Contains(first["err"].(string), "400 Bad Request") || first["level"] != "WARN" {
		t.Errorf("failing line = %v; want the endpoint and the 400 error at WARN", first)
	}
}

// TestProcessorOutage runs spans through NewProcessor's processor in a
// TracerProvider while nothing listens on the endpoint, then after a
// collector starts there: the outage is logged once, recovery once, the
// spans ended after recovery arrive, and nothing reaches the global error
// handler.
func TestProcessorOutage(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()

	var logs, global logSink
	SetErrorHandler(global.logger(slog.LevelInfo))
	t.Cleanup(func() { SetErrorHandler(nil) })

	ctx := t.Context()
	proc, err := NewProcessor(Config{Endpoint: "http://" + addr + "/v1/traces", Timeout: 200 * time.Millisecond}, logs.logger(slog.LevelDebug))
	if err != nil {
		t.Fatal(err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(proc))
	t.Cleanup(func() { tp.Shutdown(context.Background()) })
	tracer := tp.Tracer("test")

	for i := range 5 {
		_, span := tracer.Start(ctx, "lost")
		span.End()
		start := time.Now()
		tp.ForceFlush(ctx)
		if i == 0 {
			t.Logf("a failed export took %v", time.Since(start))
		}
	}
	if n := len(logs.records(t, "OTLP export failing")); n != 1 {
		t.Fatalf("%d failing lines after 5 failed exports; want 1", n)
	}

	l2, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("cannot listen again on %s: %v", addr, err)
	}
	c := &collector{status: http.StatusOK}
	c.Server = httptest.NewUnstartedServer(c)
	c.Listener.Close()
	c.Listener = l2
	c.Start()
	t.Cleanup(c.Close)

	_, span := tracer.Start(ctx, "kept")
	span.End()
	if err := tp.ForceFlush(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(logs.records(t, "OTLP export recovered")); n != 1 {
		t.Errorf("%d recovered lines; want 1", n)
	}
	spans, _, _ := c.received()
	if diff := cmp.Diff([]string{"kept"}, spans); diff != "" {
		t.Errorf("spans received after recovery (-want +got):\n%s", diff)
	}
	if got := global.records(t, ""); len(got) != 0 {
		t.Errorf("the global error handler got %v; want nothing", got)
	}
}

// recordSpans returns n ended spans.
func recordSpans(t *testing.T, n int) []sdktrace.ReadOnlySpan {
	t.Helper()
	stubs := make(tracetest.SpanStubs, n)
	for i := range stubs {
		stubs[i] = tracetest.SpanStub{Name: "span", StartTime: time.Now(), EndTime: time.Now()}
	}
	return stubs.Snapshots()
}

// TestProcessorHangingBackend exports to a backend that accepts requests
// and never answers: each export gives up at the configured timeout, and
// the failure is logged once.
func TestProcessorHangingBackend(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) }) // runs before srv.Close

	var logs logSink
	ctx := t.Context()
	proc, err := NewProcessor(Config{Endpoint: srv.URL + "/v1/traces", Timeout: 200 * time.Millisecond}, logs.logger(slog.LevelDebug))
	if err != nil {
		t.Fatal(err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(proc))
	t.Cleanup(func() { tp.Shutdown(context.Background()) })
	for range 3 {
		_, span := tp.Tracer("test").Start(ctx, "stuck")
		span.End()
		tp.ForceFlush(ctx)
	}
	got := logs.records(t, "OTLP export")
	if len(got) != 1 || got[0]["msg"] != "OTLP export failing; spans are dropped until it recovers" ||
		!strings.Contains(got[0]["err"].(string), "processor export timeout") {
		t.Errorf("logged %v; want one failing line with the export timeout", got)
	}
}

// requestBody reads the body of an export request, gunzipped when it is
// sent so. On a body it cannot read it answers 400 and reports false.
func requestBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return nil, false
		}
		body = zr
	}
	b, err := io.ReadAll(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return nil, false
	}
	return b, true
}
