package mcp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"go.uber.org/goleak"

	"github.com/genkit-runtime/genkit-runtime/dap"
	"github.com/genkit-runtime/genkit-runtime/dap/mcp"
	"github.com/genkit-runtime/genkit-runtime/reflection"
	"github.com/genkit-runtime/genkit-runtime/registry"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testLogger logs to the test's log.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// writeConfig writes the config file in place.
func writeConfig(t *testing.T, path string, servers map[string]any) {
	t.Helper()
	b, err := json.MarshalIndent(map[string]any{"mcpServers": servers}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// replaceConfig writes the config file the way many editors save: a new
// file renamed over the old one.
func replaceConfig(t *testing.T, path string, servers map[string]any) {
	t.Helper()
	tmp := path + ".tmp"
	writeConfig(t, tmp, servers)
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// testRuntime is a host running under a registry served by a real
// reflection handler.
type testRuntime struct {
	host *mcp.Host
	srv  *httptest.Server
	// stop stops the host and the server, waiting for Run to return; it
	// is idempotent.
	stop     func(*testing.T)
	stopOnce sync.Once
}

// startHost creates a host for the config file at path, registers its
// provider, runs it until the test ends and serves the registry.
func startHost(t *testing.T, path string, opts *mcp.Options) *testRuntime {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = testLogger(t)
	}
	defaults := mcp.Options{MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
		StopTimeout: 200 * time.Millisecond, Debounce: 20 * time.Millisecond}
	if opts.MinBackoff == 0 {
		opts.MinBackoff = defaults.MinBackoff
	}
	if opts.MaxBackoff == 0 {
		opts.MaxBackoff = defaults.MaxBackoff
	}
	if opts.StopTimeout == 0 {
		opts.StopTimeout = defaults.StopTimeout
	}
	if opts.Debounce == 0 {
		opts.Debounce = defaults.Debounce
	}
	h, err := mcp.NewHost(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	reg := registry.New(&registry.Options{Logger: opts.Logger})
	if err := dap.Register(reg, h.Provider()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	srv := httptest.NewServer(reflection.NewHandler(reg, nil))
	rt := &testRuntime{host: h, srv: srv}
	rt.stop = func(t *testing.T) {
		rt.stopOnce.Do(func() {
			srv.Close()
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(func() { rt.stop(t) })
	return rt
}

func (rt *testRuntime) listing(t *testing.T) map[string]map[string]any {
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

// waitListing polls the listing until cond holds. Servers connect and die
// in other processes, so there is no event to wait on; the poll is bounded.
func (rt *testRuntime) waitListing(t *testing.T, what string, cond func(map[string]map[string]any) bool) map[string]map[string]any {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		l := rt.listing(t)
		if cond(l) {
			return l
		}
		if time.Now().After(deadline) {
			keys := make([]string, 0, len(l))
			for k := range l {
				keys = append(keys, k)
			}
			t.Fatalf("timed out waiting until %s; listed: %v", what, keys)
		}
		time.Sleep(20 * time.Millisecond) // polling interval, not synchronisation
	}
}

func listed(keys ...string) func(map[string]map[string]any) bool {
	return func(l map[string]map[string]any) bool {
		for _, k := range keys {
			if _, ok := l[k]; !ok {
				return false
			}
		}
		return true
	}
}

func notListed(keys ...string) func(map[string]map[string]any) bool {
	return func(l map[string]map[string]any) bool {
		for _, k := range keys {
			if _, ok := l[k]; ok {
				return false
			}
		}
		return true
	}
}

// run posts a run and returns the decoded final object.
func (rt *testRuntime) run(t *testing.T, key string, input any) map[string]any {
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
	delete(out, "telemetry")
	return out
}

// errorCode returns the status code of a failed run, or -1.
func errorCode(out map[string]any) float64 {
	if e, ok := out["error"].(map[string]any); ok {
		return e["code"].(float64)
	}
	if c, ok := out["code"].(float64); ok {
		return c
	}
	return -1
}

type addInput struct {
	A int `json:"a"`
	B int `json:"b"`
}

type addOutput struct {
	Sum int `json:"sum"`
}

// goServer is an MCP server of the Go SDK served over streamable HTTP.
type goServer struct {
	server *sdk.Server
	url    string
}

func startGoServer(t *testing.T, header string) *goServer {
	t.Helper()
	s := sdk.NewServer(&sdk.Implementation{Name: "go-test", Version: "v1"}, nil)
	sdk.AddTool(s, &sdk.Tool{Name: "add", Description: "Adds a and b."},
		func(ctx context.Context, req *sdk.CallToolRequest, in addInput) (*sdk.CallToolResult, addOutput, error) {
			return nil, addOutput{Sum: in.A + in.B}, nil
		})
	obj := map[string]any{"type": "object"}
	text := func(parts ...sdk.Content) sdk.ToolHandler {
		return func(context.Context, *sdk.CallToolRequest) (*sdk.CallToolResult, error) {
			return &sdk.CallToolResult{Content: parts}, nil
		}
	}
	s.AddTool(&sdk.Tool{Name: "plain", InputSchema: obj}, text(&sdk.TextContent{Text: "just "}, &sdk.TextContent{Text: "text"}))
	s.AddTool(&sdk.Tool{Name: "json", InputSchema: obj}, text(&sdk.TextContent{Text: ` {"a": [1, 2]}`}))
	s.AddTool(&sdk.Tool{Name: "image", InputSchema: obj}, text(&sdk.ImageContent{Data: []byte{1, 2}, MIMEType: "image/png"}))
	s.AddTool(&sdk.Tool{Name: "mixed", InputSchema: obj}, text(&sdk.TextContent{Text: "see"}, &sdk.ImageContent{Data: []byte{1}, MIMEType: "image/png"}))
	s.AddTool(&sdk.Tool{Name: "broken", InputSchema: obj}, func(context.Context, *sdk.CallToolRequest) (*sdk.CallToolResult, error) {
		return &sdk.CallToolResult{IsError: true, Content: []sdk.Content{&sdk.TextContent{Text: "disk on fire"}}}, nil
	})
	var h http.Handler = sdk.NewStreamableHTTPHandler(func(*http.Request) *sdk.Server { return s }, nil)
	if header != "" {
		inner := h
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("X-Test") != header {
				http.Error(w, "unauthorised", http.StatusUnauthorized)
				return
			}
			inner.ServeHTTP(w, r)
		})
	}
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
	})
	return &goServer{server: s, url: srv.URL}
}

const hostKey = "/dynamic-action-provider/mcp"

func toolKey(server, tool string) string { return hostKey + ":tool/" + server + "/" + tool }

func TestURLServer(t *testing.T) {
	gs := startGoServer(t, "yes")
	dir := t.TempDir()
	path := filepath.Join(dir, "mcp.json")
	writeConfig(t, path, map[string]any{
		"go":   map[string]any{"url": gs.url, "headers": map[string]string{"X-Test": "yes"}},
		"gone": map[string]any{"url": "http://127.0.0.1:1/mcp"},
	})
	rt := startHost(t, path, &mcp.Options{TTL: time.Hour})

	l := rt.waitListing(t, "the Go server's tools are listed", listed(toolKey("go", "add")))
	want := map[string]any{
		"key": toolKey("go", "add"), "name": "go/add", "description": "Adds a and b.",
		"metadata": map[string]any{"type": "tool", "dynamic": true, "mcp": map[string]any{"_meta": map[string]any{}}},
		"inputSchema": map[string]any{
			"type":                 "object",
			"properties":           map[string]any{"a": map[string]any{"type": "integer"}, "b": map[string]any{"type": "integer"}},
			"required":             []any{"a", "b"},
			"additionalProperties": false,
		},
	}
	if diff := cmp.Diff(want, l[toolKey("go", "add")]); diff != "" {
		t.Errorf("listed tool (-want +got):\n%s", diff)
	}
	for k := range l {
		if strings.Contains(k, "/gone/") {
			t.Errorf("unreachable server's tool %s listed", k)
		}
	}

	tests := []struct {
		name     string
		tool     string
		input    any
		want     any
		wantCode float64
	}{
		{name: "structured content", tool: "add", input: map[string]any{"a": 2, "b": 3}, want: map[string]any{"sum": 5.0}},
		{name: "text joined", tool: "plain", want: "just text"},
		{name: "JSON text parsed", tool: "json", want: map[string]any{"a": []any{1.0, 2.0}}},
		{name: "single part", tool: "image", want: map[string]any{"type": "image", "data": "AQI=", "mimeType": "image/png"}},
		{name: "several parts", tool: "mixed", want: map[string]any{"content": []any{
			map[string]any{"type": "text", "text": "see"},
			map[string]any{"type": "image", "data": "AQ==", "mimeType": "image/png"},
		}}},
		{name: "tool error", tool: "broken", wantCode: 13},
		{name: "invalid input", tool: "add", input: map[string]any{"a": "x"}, wantCode: 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			input := tc.input
			if input == nil {
				input = map[string]any{}
			}
			out := rt.run(t, toolKey("go", tc.tool), input)
			if tc.wantCode != 0 {
				if got := errorCode(out); got != tc.wantCode {
					t.Errorf("run: %v, want error code %v", out, tc.wantCode)
				}
				return
			}
			if diff := cmp.Diff(map[string]any{"result": tc.want}, out); diff != "" {
				t.Errorf("run (-want +got):\n%s", diff)
			}
		})
	}
	if msg := rt.run(t, toolKey("go", "broken"), map[string]any{})["error"].(map[string]any)["message"].(string); !strings.Contains(msg, "disk on fire") {
		t.Errorf("tool error message %q does not carry the tool's text", msg)
	}

	// A tool removed on the server is announced; the provider's cache
	// (an hour long here) is invalidated at once.
	gs.server.RemoveTools("plain")
	rt.waitListing(t, "a removed tool disappears", notListed(toolKey("go", "plain")))
}

func TestRunTwiceFails(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mcp.json")
	writeConfig(t, path, map[string]any{})
	h, err := mcp.NewHost(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := h.Run(ctx); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if err := h.Run(t.Context()); err == nil {
		t.Error("second Run succeeded")
	}
}

func TestRunFailsWithoutDirectory(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "mcp.json")
	if err := os.Mkdir(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	writeConfig(t, path, map[string]any{})
	h, err := mcp.NewHost(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Dir(path)); err != nil {
		t.Fatal(err)
	}
	if err := h.Run(t.Context()); err == nil {
		t.Error("Run without a directory to watch succeeded")
	}
}

// syncBuffer is a log sink that tests read while the host writes.
type syncBuffer struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestInvalidEditKeepsServers(t *testing.T) {
	gs := startGoServer(t, "")
	path := filepath.Join(t.TempDir(), "mcp.json")
	writeConfig(t, path, map[string]any{"go": map[string]any{"url": gs.url}})
	var logs syncBuffer
	rt := startHost(t, path, &mcp.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	rt.waitListing(t, "the tools are listed", listed(toolKey("go", "add")))

	if err := os.WriteFile(path, []byte(`{"mcpServers": {"go": {}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	// Bounded poll on the log: the reload is reported there.
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(logs.String(), "cannot be used") {
		if time.Now().After(deadline) {
			t.Fatalf("invalid config not reported; log:\n%s", logs.String())
		}
		time.Sleep(10 * time.Millisecond) // polling interval
	}
	if !listed(toolKey("go", "add"))(rt.listing(t)) {
		t.Error("an invalid edit dropped the running servers")
	}
}

func TestEditReconnectsOnlyChangedServers(t *testing.T) {
	gs1, gs2, other := startGoServer(t, ""), startGoServer(t, ""), startGoServer(t, "")
	gs2.server.RemoveTools("plain") // tells gs2 from gs1
	path := filepath.Join(t.TempDir(), "mcp.json")
	writeConfig(t, path, map[string]any{"go": map[string]any{"url": gs1.url}, "other": map[string]any{"url": other.url}})
	var logs syncBuffer
	rt := startHost(t, path, &mcp.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	rt.waitListing(t, "both servers' tools are listed", listed(toolKey("go", "plain"), toolKey("other", "plain")))

	replaceConfig(t, path, map[string]any{"go": map[string]any{"url": gs2.url}, "other": map[string]any{"url": other.url}})
	rt.waitListing(t, "the changed server is reconnected", func(l map[string]map[string]any) bool {
		return notListed(toolKey("go", "plain"))(l) && listed(toolKey("go", "add"), toolKey("other", "plain"))(l)
	})
	if n := strings.Count(logs.String(), `msg="MCP server connected" server=other`); n != 1 {
		t.Errorf("the unchanged server connected %d times, want once; log:\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), "changed=[go]") {
		t.Errorf("the change is not logged; log:\n%s", logs.String())
	}
}
