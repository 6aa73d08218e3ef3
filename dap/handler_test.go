package dap_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/jsonschema-go/jsonschema"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/genkit-runtime/genkit-runtime/dap"
	"github.com/genkit-runtime/genkit-runtime/reflection"
	"github.com/genkit-runtime/genkit-runtime/registry"
	"github.com/genkit-runtime/genkit-runtime/status"
)

// runtime is a registry with providers served by a real reflection handler,
// traced by a real TracerProvider into an in-memory exporter.
type runtime struct {
	srv  *httptest.Server
	exp  *tracetest.InMemoryExporter
	tp   *sdktrace.TracerProvider
	good *dap.Provider
}

func newRuntime(t *testing.T) *runtime {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() {
		if err := tp.Shutdown(context.Background()); err != nil {
			t.Error(err)
		}
	})
	reg := registry.New(nil)
	if _, err := registry.DefineFlow(reg, "echo", func(ctx context.Context, in string) (string, error) { return in, nil }, nil); err != nil {
		t.Fatal(err)
	}
	multiply, err := registry.NewAction(registry.Descriptor{
		Type: "tool", Name: "multiply", Description: "Multiplies.",
		InputSchema: mustSchema[pair](t),
		Metadata:    map[string]any{"type": "tool", "dynamic": true},
	}, func(ctx context.Context, req *registry.Request) (any, error) {
		var in pair
		if err := json.Unmarshal(req.Input, &in); err != nil {
			return nil, err
		}
		return in.A * in.B, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	good, err := dap.New("good", func(ctx context.Context) (dap.Actions, error) {
		// Spans started from ctx show whether the fetch joined a trace:
		// one through the OpenTelemetry span in ctx, one through the
		// Genkit span state (a step).
		_, span := trace.SpanFromContext(ctx).TracerProvider().Tracer("probe").Start(ctx, "fetch-probe")
		span.End()
		if _, err := registry.Step(ctx, "fetch-step", func(context.Context) (int, error) { return 0, nil }); err != nil {
			return nil, err
		}
		return dap.Actions{"tool": {multiply, echoTool(t, "remote/one")}}, nil
	}, &dap.Options{TracerProvider: tp})
	if err != nil {
		t.Fatal(err)
	}
	bad, err := dap.New("bad", func(ctx context.Context) (dap.Actions, error) {
		return nil, status.Errorf(status.Unavailable, "backend down")
	}, &dap.Options{TracerProvider: tp})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []*dap.Provider{bad, good} {
		if err := dap.Register(reg, p); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer(reflection.NewHandler(reg, &reflection.Options{TracerProvider: tp}))
	t.Cleanup(srv.Close)
	return &runtime{srv: srv, exp: exp, tp: tp, good: good}
}

type pair struct {
	A float64 `json:"a"`
	B float64 `json:"b"`
}

func mustSchema[T any](t testing.TB) *jsonschema.Schema {
	t.Helper()
	s, err := registry.SchemaFor[T]()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (rt *runtime) listActions(t *testing.T) map[string]map[string]any {
	t.Helper()
	resp, err := rt.srv.Client().Get(rt.srv.URL + "/api/actions")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

// runAction posts a run and returns the HTTP status and decoded body.
func (rt *runtime) runAction(t *testing.T, key string, input any) (int, map[string]any) {
	t.Helper()
	body, err := json.Marshal(map[string]any{"key": key, "input": input})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := rt.srv.Client().Post(rt.srv.URL+"/api/runAction", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("decoding %s: %v", b, err)
	}
	return resp.StatusCode, out
}

func attr(s tracetest.SpanStub, key string) string {
	for _, kv := range s.Attributes {
		if kv.Key == attribute.Key(key) {
			return kv.Value.String()
		}
	}
	return ""
}

func spanNames(spans tracetest.SpanStubs) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.Name)
	}
	slices.Sort(out)
	return out
}

func TestListingThroughHandler(t *testing.T) {
	rt := newRuntime(t)
	got := rt.listActions(t)
	var keys []string
	for k := range got {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	// The failing provider's own action is listed; its expansion is not,
	// and it does not keep the other provider's from being listed.
	want := []string{
		"/dynamic-action-provider/bad",
		"/dynamic-action-provider/good",
		"/dynamic-action-provider/good:tool/multiply",
		"/dynamic-action-provider/good:tool/remote/one",
		"/flow/echo",
	}
	if diff := cmp.Diff(want, keys); diff != "" {
		t.Errorf("listed keys (-want +got):\n%s", diff)
	}
	wantEntry := map[string]any{
		"key":         "/dynamic-action-provider/good:tool/multiply",
		"name":        "multiply",
		"description": "Multiplies.",
		"metadata":    map[string]any{"type": "tool", "dynamic": true},
		"inputSchema": map[string]any{
			"type":                 "object",
			"properties":           map[string]any{"a": map[string]any{"type": "number"}, "b": map[string]any{"type": "number"}},
			"required":             []any{"a", "b"},
			"additionalProperties": false,
		},
	}
	if diff := cmp.Diff(wantEntry, got["/dynamic-action-provider/good:tool/multiply"]); diff != "" {
		t.Errorf("expanded entry (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]any{"type": "dynamic-action-provider"}, got["/dynamic-action-provider/good"]["metadata"]); diff != "" {
		t.Errorf("provider metadata (-want +got):\n%s", diff)
	}
	if spans := rt.exp.GetSpans(); len(spans) != 0 {
		t.Errorf("listing recorded spans %v, want none", spanNames(spans))
	}
}

func TestListingInsideASpanRecordsNoSpan(t *testing.T) {
	rt := newRuntime(t)
	ctx, outer := rt.tp.Tracer("test").Start(t.Context(), "outer")
	if _, err := rt.good.ListActions(ctx); err != nil {
		t.Fatal(err)
	}
	outer.End()
	if diff := cmp.Diff([]string{"outer"}, spanNames(rt.exp.GetSpans())); diff != "" {
		t.Errorf("spans (-want +got):\n%s", diff)
	}

	// Listing from inside a running action does not join its trace either.
	rt.exp.Reset()
	rt.good.Invalidate()
	lister := registry.MustNewAction(registry.Descriptor{Type: "flow", Name: "lister"},
		func(ctx context.Context, _ *registry.Request) (any, error) {
			ds, err := rt.good.ListActions(ctx)
			return len(ds), err
		})
	res, err := lister.Run(t.Context(), nil, &registry.RunOptions{TracerProvider: rt.tp})
	if err != nil {
		t.Fatal(err)
	}
	if string(res.Output) != "2" {
		t.Errorf("lister output = %s, want 2", res.Output)
	}
	if diff := cmp.Diff([]string{"lister"}, spanNames(rt.exp.GetSpans())); diff != "" {
		t.Errorf("spans (-want +got):\n%s", diff)
	}
}

func TestRunExpandedKey(t *testing.T) {
	rt := newRuntime(t)
	const key = "/dynamic-action-provider/good:tool/multiply"

	// The cache is empty: resolving for the run refreshes it by running the
	// provider's own action, in a trace of its own.
	code, body := rt.runAction(t, key, map[string]any{"a": 3, "b": 4})
	if code != http.StatusOK || body["result"] != 12.0 {
		t.Fatalf("run: HTTP %d, body %v; want 200 with result 12", code, body)
	}
	traceID, _ := body["telemetry"].(map[string]any)["traceId"].(string)
	spans := rt.exp.GetSpans()
	if diff := cmp.Diff([]string{"fetch-probe", "fetch-step", "good", "multiply"}, spanNames(spans)); diff != "" {
		t.Fatalf("spans (-want +got):\n%s", diff)
	}
	byName := map[string]tracetest.SpanStub{}
	for _, s := range spans {
		byName[s.Name] = s
	}
	tool, provider, probe, step := byName["multiply"], byName["good"], byName["fetch-probe"], byName["fetch-step"]
	if got := tool.SpanContext.TraceID().String(); got != traceID {
		t.Errorf("tool span trace %s, want the run's %s", got, traceID)
	}
	if got := attr(tool, registry.AttrKey); got != key {
		t.Errorf("tool span genkit:key = %q, want %q", got, key)
	}
	if got := attr(provider, registry.AttrKey); got != "/dynamic-action-provider/good" {
		t.Errorf("provider span genkit:key = %q", got)
	}
	if got := attr(provider, registry.AttrSubtype); got != "dynamic-action-provider" {
		t.Errorf("provider span subtype = %q", got)
	}
	if provider.SpanContext.TraceID() == tool.SpanContext.TraceID() {
		t.Error("the refresh shares the run's trace; want a trace of its own")
	}
	if probe.Parent.SpanID() != provider.SpanContext.SpanID() || step.Parent.SpanID() != provider.SpanContext.SpanID() {
		t.Error("the fetch function's spans are not children of the provider's span")
	}
	if got, want := attr(step, registry.AttrPath), "/{good,t:action}/{fetch-step,t:flowStep}"; got != want {
		t.Errorf("step path = %q, want %q", got, want)
	}

	// Now the cache is fresh: the run records only its own span.
	rt.exp.Reset()
	code, body = rt.runAction(t, key, map[string]any{"a": 2, "b": -5})
	if code != http.StatusOK || body["result"] != -10.0 {
		t.Fatalf("second run: HTTP %d, body %v", code, body)
	}
	if diff := cmp.Diff([]string{"multiply"}, spanNames(rt.exp.GetSpans())); diff != "" {
		t.Errorf("spans of a run with a fresh cache (-want +got):\n%s", diff)
	}
}

func TestRunErrorsThroughHandler(t *testing.T) {
	rt := newRuntime(t)
	tests := []struct {
		name     string
		key      string
		input    any
		wantHTTP int
		wantCode status.Code
	}{
		{name: "missing action", key: "/dynamic-action-provider/good:tool/nope", wantHTTP: 404, wantCode: status.NotFound},
		{name: "pattern", key: "/dynamic-action-provider/good:tool/*", wantHTTP: 404, wantCode: status.NotFound},
		{name: "malformed", key: "/dynamic-action-provider/good:tool/", wantHTTP: 400, wantCode: status.InvalidArgument},
		{name: "invalid input", key: "/dynamic-action-provider/good:tool/multiply", input: map[string]any{"a": "x"},
			wantHTTP: 200, wantCode: status.InvalidArgument},
		{name: "failing provider", key: "/dynamic-action-provider/bad:tool/x", wantHTTP: 200, wantCode: status.Unavailable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, body := rt.runAction(t, tc.key, tc.input)
			st := body
			if e, ok := body["error"].(map[string]any); ok {
				st = e
			}
			if code != tc.wantHTTP || st["code"] != float64(tc.wantCode) {
				t.Errorf("HTTP %d, body %v; want HTTP %d with code %d", code, body, tc.wantHTTP, tc.wantCode)
			}
		})
	}
}

func TestRunProviderActionThroughHandler(t *testing.T) {
	rt := newRuntime(t)
	code, body := rt.runAction(t, "/dynamic-action-provider/good", nil)
	if code != http.StatusOK {
		t.Fatalf("HTTP %d, body %v", code, body)
	}
	var names []string
	for _, m := range body["result"].([]any) {
		names = append(names, m.(map[string]any)["key"].(string))
	}
	want := []string{"/dynamic-action-provider/good:tool/multiply", "/dynamic-action-provider/good:tool/remote/one"}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("provided keys (-want +got):\n%s", diff)
	}
	// The run refreshed the cache, so resolving now records no refresh.
	rt.exp.Reset()
	if code, body := rt.runAction(t, "/dynamic-action-provider/good:tool/remote/one", map[string]any{"x": "hi"}); code != 200 || !cmp.Equal(body["result"], map[string]any{"x": "hi"}) {
		t.Fatalf("HTTP %d, body %v", code, body)
	}
	if diff := cmp.Diff([]string{"remote/one"}, spanNames(rt.exp.GetSpans())); diff != "" {
		t.Errorf("spans (-want +got):\n%s", diff)
	}
}
