package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/genkit-runtime/genkit-runtime/e2e/internal/clitest"
	"github.com/genkit-runtime/genkit-runtime/internal/runtimeproc"
)

// The example programs, built by TestMain.
const (
	exampleHello = "github.com/genkit-runtime/genkit-runtime/examples/hello"
	exampleMount = "github.com/genkit-runtime/genkit-runtime/examples/mount"
)

// TestExampleHello runs examples/hello under "genkit start": the tools
// API, which the Developer UI calls, lists its own flows, runs and streams
// them, and the trace of the flow that calls an HTTP service holds the
// instrumented client's span below the flow's root span.
func TestExampleHello(t *testing.T) {
	clitest.NodeModules(t)
	p := clitest.NewProject(t)
	s := p.Start(t, clitest.StartOptions{Command: []string{helloBinary}})
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	if _, err := s.WaitRuntimeFile(ctx); err != nil {
		t.Fatalf("no runtime file: %v\n%s", err, s.Log())
	}

	acts := listActions(ctx, t, s)
	var listed map[string]json.RawMessage
	if err := json.Unmarshal(acts, &listed); err != nil {
		t.Fatalf("listActions: %v: %s", err, acts)
	}
	for _, k := range []string{"/flow/greet", "/flow/countdown", "/flow/plan", "/flow/forecast"} {
		if listed[k] == nil {
			t.Errorf("listActions lacks %s: %s", k, acts)
		}
	}
	for _, k := range []string{"/flow/echo", "/flow/count", "/tool/add"} {
		if listed[k] != nil {
			t.Errorf("listActions lists the fixture's %s", k)
		}
	}

	resp, err := s.ToolsPost(ctx, "/api/runAction", map[string]any{"key": "/flow/greet", "input": map[string]any{"name": "Ann"}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `"result":"Hello, Ann!"`) {
		t.Errorf("runAction greet = %d %s", resp.StatusCode, body)
	}

	resp, err = s.ToolsPost(ctx, "/api/streamAction", map[string]any{"key": "/flow/countdown", "input": 3})
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if lines := strings.Split(string(body), "\n"); len(lines) != 4 || lines[0] != "3" || lines[2] != "1" || !strings.Contains(lines[3], `"result":"liftoff"`) {
		t.Errorf("streamAction countdown = %q; want chunks 3, 2, 1 and the result", body)
	}

	resp, err = s.ToolsPost(ctx, "/api/runAction", map[string]any{"key": "/flow/forecast", "input": "Lisbon"})
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	var rr struct {
		Result struct {
			City string `json:"city"`
		} `json:"result"`
		Telemetry struct {
			TraceID string `json:"traceId"`
		} `json:"telemetry"`
	}
	if err := json.Unmarshal(body, &rr); err != nil || rr.Result.City != "Lisbon" || rr.Telemetry.TraceID == "" {
		t.Fatalf("runAction forecast = %d %s", resp.StatusCode, body)
	}
	checkClientSpan(ctx, t, s, rr.Telemetry.TraceID)
}

// listActions returns the tools API's listActions, once the CLI has
// health-checked the runtime it discovered (until then it has none).
func listActions(ctx context.Context, t *testing.T, s *clitest.Session) json.RawMessage {
	t.Helper()
	for {
		acts, err := s.ToolsGet(ctx, "listActions", nil)
		if err == nil {
			return acts
		}
		select {
		case <-ctx.Done():
			t.Fatalf("listActions: %v\n%s", err, s.Log())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// checkClientSpan reads a trace through the tools API and checks that it
// holds an HTTP client span that descends from the trace's root span.
func checkClientSpan(ctx context.Context, t *testing.T, s *clitest.Session, traceID string) {
	t.Helper()
	type span struct {
		SpanID       string         `json:"spanId"`
		ParentSpanID string         `json:"parentSpanId"`
		DisplayName  string         `json:"displayName"`
		Attributes   map[string]any `json:"attributes"`
	}
	var td struct {
		Spans map[string]span `json:"spans"`
	}
	// The trace reaches the telemetry server before the run's answer; the
	// client span ends before its parent, so it is there too.
	raw, err := s.ToolsGet(ctx, "getTrace", map[string]any{"traceId": traceID})
	if err != nil {
		t.Fatalf("getTrace: %v", err)
	}
	if err := json.Unmarshal(raw, &td); err != nil {
		t.Fatalf("getTrace: %v: %s", err, raw)
	}
	var root, client *span
	for _, sp := range td.Spans {
		if sp.ParentSpanID == "" {
			root = &sp
		}
		if _, ok := sp.Attributes["http.request.method"]; ok {
			client = &sp
		}
	}
	if root == nil || client == nil {
		t.Fatalf("trace %s lacks a root span or an HTTP client span: %s", traceID, raw)
	}
	if root.DisplayName != "forecast" {
		t.Errorf("root span = %q; want forecast", root.DisplayName)
	}
	// Walk up from the client span to the root.
	cur, hops := client, 0
	for cur.ParentSpanID != "" && hops < 10 {
		parent, ok := td.Spans[cur.ParentSpanID]
		if !ok {
			t.Fatalf("span %s (%s) has parent %s, which is not in the trace: %s", cur.SpanID, cur.DisplayName, cur.ParentSpanID, raw)
		}
		cur, hops = &parent, hops+1
	}
	if cur.SpanID != root.SpanID || hops < 2 {
		t.Errorf("the HTTP client span %q does not descend from the root through the step (%d hops): %s", client.DisplayName, hops, raw)
	}
}

// TestExampleHelloV2 runs a flow of examples/hello through reflection v2,
// the form "genkit flow:run ... -- <program>" always uses.
func TestExampleHelloV2(t *testing.T) {
	clitest.NodeModules(t)
	p := clitest.NewProject(t)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	out, err := p.Run(ctx, "flow:run", "plan", `"write test ship"`, "--", helloBinary)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	mustContain(t, "flow:run plan -- hello", out, `(?m)^Result:`, `1\. write`, `3\. ship`)
}

// TestExampleMount runs examples/mount, an app that serves its own routes
// and the dev runtime on one port: the CLI discovers it through its runtime
// file and runs its flows; SIGTERM removes the file and the app exits 0.
func TestExampleMount(t *testing.T) {
	clitest.NodeModules(t)
	p := clitest.NewProject(t)
	port := freePort(t)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	cmd := exec.Command(mountBinary, "-addr", addr)
	cmd.Dir = p.Dir()
	cmd.Env = runtimeproc.CleanEnv()
	proc, err := runtimeproc.Start(cmd)
	if err != nil {
		t.Fatal(err)
	}
	defer proc.Kill()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	rf, err := proc.AwaitReady(ctx, p.Dir())
	if err != nil {
		t.Fatalf("%v\n%s", err, proc.Output())
	}
	if rf.Info.ReflectionServerURL != "http://"+addr {
		t.Errorf("runtime file URL = %q; want http://%s", rf.Info.ReflectionServerURL, addr)
	}

	out, err := p.Run(ctx, "flow:run", "placeOrder", `{"item":"tea","count":2}`)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	mustContain(t, "flow:run placeOrder", out, `(?m)^Result:`, `"item": "tea"`)
	resp, err := http.Get("http://" + addr + "/orders")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"item":"tea"`) {
		t.Errorf("GET /orders = %d %s; want the order placed through the CLI", resp.StatusCode, body)
	}

	if err := proc.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	code, err := proc.Wait(ctx)
	if err != nil || code != 0 {
		t.Errorf("after SIGTERM: exit %d, %v\n%s", code, err, proc.Output())
	}
	if _, err := os.Stat(rf.Path); !os.IsNotExist(err) {
		t.Errorf("runtime file %s left behind: %v", filepath.Base(rf.Path), err)
	}
}
