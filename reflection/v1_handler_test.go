package reflection_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/google/jsonschema-go/jsonschema"

	"github.com/genkit-runtime/genkit-runtime/reflection"
	"github.com/genkit-runtime/genkit-runtime/registry"
	"github.com/genkit-runtime/genkit-runtime/status"
)

func TestV1Health(t *testing.T) {
	e := newV1Env(t, nil)
	tests := []struct {
		path     string
		wantCode int
		wantBody string // a substring
	}{
		{"/api/__health", 200, ""},
		{"/api/__health?id=123-3100", 200, ""},
		{"/api/__health?id=custom-id", 200, ""},
		{"/api/__health?id=", 200, ""},
		{"/api/__health?id=999-1", 503, "Invalid runtime ID"},
		{"/api/__health?id=custom", 503, "Invalid runtime ID"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			resp, body := e.do(t, http.MethodGet, tt.path, "")
			if resp.StatusCode != tt.wantCode {
				t.Errorf("status = %d, want %d", resp.StatusCode, tt.wantCode)
			}
			if !strings.Contains(body, tt.wantBody) {
				t.Errorf("body %q does not contain %q", body, tt.wantBody)
			}
			if got := resp.Header.Get(reflection.HeaderVersion); got != "0.1.0" {
				t.Errorf("%s = %q, want 0.1.0", reflection.HeaderVersion, got)
			}
		})
	}
}

// TestV1HealthAnyID checks that a handler told of no runtime IDs accepts any.
func TestV1HealthAnyID(t *testing.T) {
	e := newV1Env(t, func(_ *registry.Registry, o *reflection.Options) { o.RuntimeIDs = nil })
	if resp, _ := e.do(t, http.MethodGet, "/api/__health?id=whatever", ""); resp.StatusCode != 200 {
		t.Errorf("status = %d, want 200", resp.StatusCode)
	}
}

// v1Listing fetches /api/actions and checks the invariants every listing
// keeps: keys equal their key fields and no field is null.
func v1Listing(t *testing.T, e *v1Env) map[string]map[string]any {
	t.Helper()
	resp, body := e.do(t, http.MethodGet, "/api/actions", "")
	if resp.StatusCode != 200 {
		t.Fatalf("status = %d, body %s", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	var raw map[string]map[string]json.RawMessage
	if err := json.Unmarshal([]byte(body), &raw); err != nil {
		t.Fatalf("listing is not an object of objects: %v\n%s", err, body)
	}
	allowed := map[string]bool{"key": true, "name": true, "description": true, "inputSchema": true, "outputSchema": true, "metadata": true}
	out := map[string]map[string]any{}
	for key, fields := range raw {
		d := map[string]any{}
		for f, v := range fields {
			if !allowed[f] {
				t.Errorf("%s: unexpected field %q", key, f)
			}
			if string(v) == "null" {
				t.Errorf("%s: field %q is null", key, f)
			}
			var x any
			if err := json.Unmarshal(v, &x); err != nil {
				t.Fatal(err)
			}
			d[f] = x
		}
		if d["key"] != key {
			t.Errorf("listing key %q has key field %v", key, d["key"])
		}
		if name, _ := d["name"].(string); name == "" {
			t.Errorf("%s: no name", key)
		}
		if md, ok := d["metadata"].(map[string]any); ok {
			for k, v := range md {
				if v == nil {
					t.Errorf("%s: metadata.%s is null", key, k)
				}
			}
		}
		out[key] = d
	}
	return out
}

func TestV1Actions(t *testing.T) {
	e := newV1Env(t, nil)
	got := v1Listing(t, e)
	var keys []string
	for k := range got {
		keys = append(keys, k)
	}
	wantKeys := []string{}
	for _, a := range e.reg.List() {
		wantKeys = append(wantKeys, a.Key())
	}
	if diff := cmp.Diff(wantKeys, keys, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
		t.Errorf("listed keys (-want +got):\n%s", diff)
	}
	addInput := map[string]any{
		"type": "object",
		"properties": map[string]any{
			"a": map[string]any{"type": "number"},
			"b": map[string]any{"type": "number"},
		},
		"required":             []any{"a", "b"},
		"additionalProperties": false,
	}
	want := map[string]map[string]any{
		"/flow/echo": {"key": "/flow/echo", "name": "echo", "description": "Returns its input unchanged."},
		"/tool/add": {
			"key": "/tool/add", "name": "add", "description": "Adds two numbers.",
			"inputSchema":  addInput,
			"outputSchema": map[string]any{"type": "number"},
			"metadata":     map[string]any{"type": "tool"},
		},
		"/tool.v2/add": {
			"key": "/tool.v2/add", "name": "add", "description": "Adds two numbers.",
			"inputSchema": addInput,
			"outputSchema": map[string]any{
				"type":       "object",
				"properties": map[string]any{"output": map[string]any{"type": "number"}},
			},
			"metadata": map[string]any{"type": "tool.v2", "tool": map[string]any{"multipart": true}, "dynamic": true},
		},
		"/model/echoModel": {
			"key": "/model/echoModel", "name": "echoModel", "description": "Echo Model",
			"inputSchema": map[string]any{
				"type":       "object",
				"required":   []any{"messages"},
				"properties": map[string]any{"messages": map[string]any{"type": "array"}},
			},
			"metadata": map[string]any{"model": map[string]any{
				"label": "Echo Model",
				"supports": map[string]any{
					"multiturn": true, "tools": false, "media": false, "systemRole": true, "output": []any{"text"},
				},
			}},
		},
	}
	for key, w := range want {
		if diff := cmp.Diff(w, got[key]); diff != "" {
			t.Errorf("%s descriptor (-want +got):\n%s", key, diff)
		}
	}
}

// TestV1ActionsCache checks that the cached listing follows the registry.
func TestV1ActionsCache(t *testing.T) {
	e := newV1Env(t, nil)
	if _, ok := v1Listing(t, e)["/flow/late"]; ok {
		t.Fatal("/flow/late listed before it was registered")
	}
	late, err := registry.DefineFlow(e.reg, "late", func(context.Context, string) (string, error) { return "", nil },
		&registry.ActionOptions{Description: "added late"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"key": "/flow/late", "name": "late", "description": "added late",
		"inputSchema": map[string]any{"type": "string"}, "outputSchema": map[string]any{"type": "string"},
	}
	if diff := cmp.Diff(want, v1Listing(t, e)["/flow/late"]); diff != "" {
		t.Errorf("/flow/late after Register (-want +got):\n%s", diff)
	}
	e.reg.Unregister(late.Key())
	if _, ok := v1Listing(t, e)["/flow/late"]; ok {
		t.Error("/flow/late still listed after Unregister")
	}
}

// v1Source is a registry.Source providing fixed actions, some listed twice
// and one shadowed by a registered action.
type v1Source struct{ descs []registry.Descriptor }

func (s v1Source) ListActions(context.Context) ([]registry.Descriptor, error) { return s.descs, nil }
func (s v1Source) ResolveAction(context.Context, string) (*registry.Action, error) {
	return nil, nil
}

func TestV1ActionsSources(t *testing.T) {
	e := newV1Env(t, func(reg *registry.Registry, _ *reflection.Options) {
		reg.AddSource(v1Source{descs: []registry.Descriptor{
			{Key: "/dynamic-action-provider/p:tool/x", Name: "x", Description: "first", Metadata: map[string]any{"type": "tool"},
				InputSchema: &jsonschema.Schema{Type: "object"}},
			{Key: "/flow/echo", Name: "shadowed"},
		}})
		reg.AddSource(v1Source{descs: []registry.Descriptor{
			{Key: "/dynamic-action-provider/p:tool/x", Name: "x", Description: "second"},
		}})
	})
	resp, body := e.do(t, http.MethodGet, "/api/actions", "")
	if resp.StatusCode != 200 {
		t.Fatal(resp.Status)
	}
	if n := strings.Count(body, `"/dynamic-action-provider/p:tool/x":`); n != 1 {
		t.Errorf("the provided key is listed %d times, want once:\n%s", n, body)
	}
	got := v1Listing(t, e)
	want := map[string]any{"key": "/dynamic-action-provider/p:tool/x", "name": "x", "description": "first",
		"metadata": map[string]any{"type": "tool"}, "inputSchema": map[string]any{"type": "object"}}
	if diff := cmp.Diff(want, got["/dynamic-action-provider/p:tool/x"]); diff != "" {
		t.Errorf("provided descriptor (-want +got):\n%s", diff)
	}
	if name := got["/flow/echo"]["name"]; name != "echo" {
		t.Errorf("/flow/echo name = %v, want the registered action's", name)
	}
}

func TestV1Notify(t *testing.T) {
	got := make(chan reflection.Notification, 1)
	e := newV1Env(t, func(_ *registry.Registry, o *reflection.Options) {
		o.OnNotify = func(n reflection.Notification) { got <- n }
	})
	resp, body := e.do(t, http.MethodPost, "/api/notify", `{"telemetryServerUrl":"http://127.0.0.1:4033","reflectionApiSpecVersion":1}`)
	if resp.StatusCode != 200 || body != "OK" {
		t.Errorf("notify = %d %q, want 200 OK", resp.StatusCode, body)
	}
	want := reflection.Notification{TelemetryServerURL: "http://127.0.0.1:4033", ReflectionAPISpecVersion: 1}
	if diff := cmp.Diff(want, <-got); diff != "" {
		t.Errorf("notification (-want +got):\n%s", diff)
	}
	resp, body = e.do(t, http.MethodPost, "/api/notify", `{"telemetryServerUrl":`)
	if resp.StatusCode != 400 {
		t.Errorf("malformed notify = %d, want 400", resp.StatusCode)
	}
	v1DecodeStatus(t, body)
	select {
	case n := <-got:
		t.Errorf("OnNotify called for a malformed body with %+v", n)
	default:
	}
}

func TestV1SimpleRoutes(t *testing.T) {
	quit := make(chan struct{})
	e := newV1Env(t, func(_ *registry.Registry, o *reflection.Options) { o.OnQuit = func() { close(quit) } })
	tests := []struct {
		name, method, path string
		wantCode           int
		wantType           string
		wantBody           string // exact when wantStatus is 0
		wantStatus         int    // the Status code of an error body
		wantMsg            string // a substring of the Status message
	}{
		{name: "default model", method: "GET", path: "/api/values?type=defaultModel", wantCode: 200,
			wantType: "application/json", wantBody: `{"defaultModel":{"name":"echoModel"}}`},
		{name: "middleware", method: "GET", path: "/api/values?type=middleware", wantCode: 200,
			wantType: "application/json", wantBody: `{}`},
		{name: "values without type", method: "GET", path: "/api/values", wantCode: 400, wantType: "application/json",
			wantStatus: v1Code(status.InvalidArgument), wantMsg: `Query parameter "type" is required.`},
		{name: "unsupported value type", method: "GET", path: "/api/values?type=prompt", wantCode: 400, wantType: "application/json",
			wantStatus: v1Code(status.InvalidArgument), wantMsg: `'type' prompt is not supported`},
		{name: "envs", method: "GET", path: "/api/envs", wantCode: 200, wantType: "application/json", wantBody: `["dev"]`},
		{name: "unknown route", method: "GET", path: "/api/nope", wantCode: 404, wantType: "application/json",
			wantStatus: v1Code(status.NotFound), wantMsg: "/api/nope"},
		{name: "wrong method", method: "PUT", path: "/api/runAction", wantCode: 404, wantType: "application/json",
			wantStatus: v1Code(status.NotFound)},
		{name: "legacy traces", method: "GET", path: "/api/envs/dev/traces", wantCode: 404, wantType: "application/json",
			wantStatus: v1Code(status.NotFound)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := e.do(t, tt.method, tt.path, "")
			if resp.StatusCode != tt.wantCode {
				t.Errorf("status = %d, want %d (body %s)", resp.StatusCode, tt.wantCode, body)
			}
			if ct := resp.Header.Get("Content-Type"); ct != tt.wantType {
				t.Errorf("Content-Type = %q, want %q", ct, tt.wantType)
			}
			if resp.Header.Get(reflection.HeaderVersion) != "0.1.0" {
				t.Errorf("no %s header", reflection.HeaderVersion)
			}
			if tt.wantStatus == 0 {
				if body != tt.wantBody {
					t.Errorf("body = %q, want %q", body, tt.wantBody)
				}
				return
			}
			st := v1DecodeStatus(t, body)
			if *st.Code != tt.wantStatus || !strings.Contains(*st.Message, tt.wantMsg) {
				t.Errorf("Status = %d %q, want %d containing %q", *st.Code, *st.Message, tt.wantStatus, tt.wantMsg)
			}
		})
	}

	resp, body := e.do(t, http.MethodGet, "/api/__quitquitquit", "")
	if resp.StatusCode != 200 || body != "OK" {
		t.Errorf("quit = %d %q, want 200 OK", resp.StatusCode, body)
	}
	<-quit // OnQuit is called once the answer is written
}

func TestV1EnvsOption(t *testing.T) {
	e := newV1Env(t, func(_ *registry.Registry, o *reflection.Options) { o.Envs = []string{"dev", "prod"} })
	if _, body := e.do(t, http.MethodGet, "/api/envs", ""); body != `["dev","prod"]` {
		t.Errorf("envs = %s", body)
	}
}
