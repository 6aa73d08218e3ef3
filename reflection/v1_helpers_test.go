package reflection_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/genkit-runtime/genkit-runtime/fixture"
	"github.com/genkit-runtime/genkit-runtime/reflection"
	"github.com/genkit-runtime/genkit-runtime/registry"
	"github.com/genkit-runtime/genkit-runtime/status"
)

// v1Env is a v1 handler over the fixture registry, served over a real
// loopback HTTP server, with spans exported synchronously to memory.
type v1Env struct {
	reg    *registry.Registry
	tp     *sdktrace.TracerProvider
	exp    *tracetest.InMemoryExporter
	srv    *httptest.Server
	client *http.Client
}

// newV1Env starts the server. edit, when not nil, adjusts the options and
// may register more actions before the server starts.
func newV1Env(t testing.TB, edit func(*registry.Registry, *reflection.Options)) *v1Env {
	t.Helper()
	reg := registry.New(nil)
	if err := fixture.Register(reg); err != nil {
		t.Fatal(err)
	}
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	opts := &reflection.Options{TracerProvider: tp, Version: "0.1.0", RuntimeIDs: []string{"123-3100", "custom-id"}}
	if edit != nil {
		edit(reg, opts)
	}
	srv := httptest.NewServer(reflection.NewHandler(reg, opts))
	t.Cleanup(func() {
		srv.Close()
		tp.Shutdown(context.Background())
	})
	return &v1Env{reg: reg, tp: tp, exp: exp, srv: srv, client: srv.Client()}
}

// do sends a request and returns the response with its whole body read.
func (e *v1Env) do(t testing.TB, method, path, body string) (*http.Response, string) {
	t.Helper()
	resp := e.start(t, method, path, body)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, path, err)
	}
	return resp, string(b)
}

// start sends a request and returns as soon as the response headers are in.
func (e *v1Env) start(t testing.TB, method, path, body string) *http.Response {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return resp
}

// run posts a runAction request.
func (e *v1Env) run(t testing.TB, stream bool, body string) (*http.Response, string) {
	t.Helper()
	path := "/api/runAction"
	if stream {
		path += "?stream=true"
	}
	return e.do(t, http.MethodPost, path, body)
}

// rootSpan returns the ended root span of the trace, waiting for it at most
// a few seconds: a run's span may end after the client saw the run end (a
// cancelled or disconnected run), and the SDK offers nothing to wait on but
// the exporter's contents.
func (e *v1Env) rootSpan(t testing.TB, traceID string) tracetest.SpanStub {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, s := range e.exp.GetSpans() {
			if s.SpanContext.TraceID().String() == traceID && !s.Parent.IsValid() {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no ended root span in trace %s", traceID)
		}
		time.Sleep(5 * time.Millisecond) // polling the exporter; see above
	}
}

func v1Attrs(s tracetest.SpanStub) map[string]any {
	m := map[string]any{}
	for _, kv := range s.Attributes {
		m[string(kv.Key)] = kv.Value.AsInterface()
	}
	return m
}

// v1SplitStream splits an NDJSON run body into its chunk lines and its final
// segment, checking the framing the CLI relies on: every chunk line is JSON
// and the final segment is one JSON object with no trailing newline.
func v1SplitStream(t testing.TB, body string) (chunks []string, final string) {
	t.Helper()
	i := strings.LastIndexByte(body, '\n')
	final = body[i+1:]
	if i >= 0 {
		chunks = strings.Split(body[:i], "\n")
	}
	for _, c := range chunks {
		if !json.Valid([]byte(c)) {
			t.Errorf("chunk line %q is not JSON", c)
		}
	}
	if final == "" {
		t.Fatalf("stream %q has no final line after its last newline", body)
	}
	v1CheckFinal(t, final)
	return chunks, final
}

// v1Final is the final object of a run.
type v1Final struct {
	Result    json.RawMessage `json:"result"`
	Telemetry *struct {
		TraceID string `json:"traceId"`
	} `json:"telemetry"`
	Error *v1Status `json:"error"`
}

// v1Status is a wire Status, decoded strictly enough to tell an object
// details from a missing one.
type v1Status struct {
	Code    *int           `json:"code"`
	Message *string        `json:"message"`
	Details map[string]any `json:"details"`
}

// v1CheckFinal checks the shape of a final object: exactly one of result
// (with telemetry) and error, and a well-formed Status for an error.
func v1CheckFinal(t testing.TB, final string) v1Final {
	t.Helper()
	var f v1Final
	dec := json.NewDecoder(strings.NewReader(final))
	if err := dec.Decode(&f); err != nil {
		t.Fatalf("final %q is not a JSON object: %v", final, err)
	}
	if dec.More() {
		t.Fatalf("final %q has data after its object", final)
	}
	switch {
	case f.Error != nil && f.Telemetry == nil && f.Result == nil:
		v1CheckStatus(t, final, *f.Error)
	case f.Error == nil && f.Telemetry != nil:
		if len(f.Telemetry.TraceID) != 32 {
			t.Errorf("final %q: traceId is not 32 hex digits", final)
		}
	default:
		t.Errorf("final %q: want {result,telemetry} or {error}", final)
	}
	return f
}

func v1CheckStatus(t testing.TB, where string, st v1Status) {
	t.Helper()
	if st.Code == nil || *st.Code < 0 || *st.Code > 16 {
		t.Errorf("%s: code is not a canonical status code", where)
	}
	if st.Message == nil {
		t.Errorf("%s: no message", where)
	}
	if st.Details == nil {
		t.Errorf("%s: details is not an object", where)
	}
}

// v1DecodeStatus decodes a bare Status body.
func v1DecodeStatus(t testing.TB, body string) v1Status {
	t.Helper()
	var st v1Status
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatalf("body %q is not a Status: %v", body, err)
	}
	v1CheckStatus(t, body, st)
	return st
}

// v1Code returns c as an int, for building expected Status values.
func v1Code(c status.Code) int { return int(c) }

func newV1Server(t testing.TB, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}
