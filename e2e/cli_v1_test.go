package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/genkit-runtime/genkit-runtime/e2e/internal/clitest"
	"github.com/genkit-runtime/genkit-runtime/runtimefile"
)

// mustContain fails unless out matches every pattern.
func mustContain(t *testing.T, what, out string, patterns ...string) {
	t.Helper()
	for _, p := range patterns {
		if !regexp.MustCompile(p).MatchString(out) {
			t.Errorf("%s: output does not match %q:\n%s", what, p, out)
		}
	}
}

// TestCLIStartV1 runs the binary under "genkit start" (v1, with the
// Developer UI backend) and drives it with flow:run and the tools API.
func TestCLIStartV1(t *testing.T) {
	clitest.NodeModules(t)
	p := clitest.NewProject(t)
	s := p.Start(t, clitest.StartOptions{Command: []string{binary}})
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()

	raw, err := s.WaitRuntimeFile(ctx)
	if err != nil {
		t.Fatalf("no runtime file: %v\n%s", err, s.Log())
	}
	info, err := runtimefile.Parse(raw)
	if err != nil {
		t.Fatalf("runtime file fails the CLI's validation: %v\n%s", err, raw)
	}
	var fields map[string]any
	if err := json.Unmarshal(raw, &fields); err != nil {
		t.Fatal(err)
	}
	if fields["reflectionApiSpecVersion"] != float64(1) || !strings.Contains(fields["timestamp"].(string), ":") {
		t.Errorf("runtime file = %s; want reflectionApiSpecVersion 1 and an ISO timestamp with colons", raw)
	}

	t.Run("flow:run echo", func(t *testing.T) {
		out, err := s.Run(ctx, "flow:run", "echo", `"hello"`)
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		mustContain(t, "flow:run echo", out, `(?m)^Result:`, `hello`, `Trace ID: [0-9a-f]{32}`)
	})
	t.Run("flow:run greet", func(t *testing.T) {
		out, _ := s.Run(ctx, "flow:run", "greet", `{"name":"Ann","count":2}`)
		mustContain(t, "flow:run greet", out, `(?m)^Result:`, `Hello, Ann! Hello, Ann!`)
	})
	t.Run("flow:run greet invalid", func(t *testing.T) {
		out, _ := s.Run(ctx, "flow:run", "greet", `{"name":""}`)
		mustContain(t, "flow:run greet invalid", out, `Command exited with an Error`, `Code: 3`, `INVALID_ARGUMENT`, `name`)
		if strings.Contains(out, "\nResult:") {
			t.Errorf("invalid input produced a result:\n%s", out)
		}
	})
	t.Run("flow:run unknown", func(t *testing.T) {
		out, _ := s.Run(ctx, "flow:run", "nosuch", `{}`)
		mustContain(t, "flow:run nosuch", out, `Code: 5`, `action /flow/nosuch not found`)
	})
	t.Run("flow:run count stream", func(t *testing.T) {
		out, err := s.Run(ctx, "flow:run", "count", `{"count":3}`, "--stream")
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		mustContain(t, "flow:run count --stream", out, `"index": 0`, `"index": 1`, `"index": 2`, `(?m)^Result:`, `"count": 3`)
		if strings.Contains(out, "Bad stream") || strings.Contains(out, "Unexpected end of JSON") {
			t.Errorf("the CLI failed to parse the stream:\n%s", out)
		}
	})

	t.Run("tools API", func(t *testing.T) {
		// The CLI adds a runtime once its watcher has seen the file and
		// its health check has answered: on a loaded machine that can
		// come after the flow:run commands above, which read the file
		// themselves. Wait for it, bounded by ctx.
		var rts json.RawMessage
		for {
			var err error
			if rts, err = s.ToolsGet(ctx, "getActiveRuntimes", nil); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(rts), `"`+info.ID+`"`) || ctx.Err() != nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if !strings.Contains(string(rts), `"`+info.ID+`"`) {
			t.Errorf("getActiveRuntimes = %s; want runtime %s\n%s", rts, info.ID, s.Log())
		}
		acts, err := s.ToolsGet(ctx, "listActions", nil)
		if err != nil {
			t.Fatal(err)
		}
		var listed map[string]struct {
			Key  string `json:"key"`
			Name string `json:"name"`
		}
		if err := json.Unmarshal(acts, &listed); err != nil {
			t.Fatalf("listActions: %v: %s", err, acts)
		}
		for _, k := range []string{"/flow/echo", "/flow/greet", "/flow/count", "/flow/fail", "/flow/steps", "/flow/wait", "/model/echoModel", "/tool/add", "/evaluator/fixture/nonEmpty"} {
			if listed[k].Key != k {
				t.Errorf("listActions lacks %s", k)
			}
		}

		resp, err := s.ToolsPost(ctx, "/api/runAction", map[string]any{"key": "/flow/echo", "input": "from the UI"})
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var rr struct {
			Result    string `json:"result"`
			Telemetry struct {
				TraceID string `json:"traceId"`
			} `json:"telemetry"`
			GenkitVersion string `json:"genkitVersion"`
		}
		if err := json.Unmarshal(body, &rr); err != nil || rr.Result != "from the UI" || rr.Telemetry.TraceID == "" {
			t.Errorf("tools runAction = %d %s", resp.StatusCode, body)
		}
		if h := resp.Header.Get("X-Genkit-Trace-Id"); h != rr.Telemetry.TraceID {
			t.Errorf("tools runAction X-Genkit-Trace-Id = %q, body traceId %q", h, rr.Telemetry.TraceID)
		}

		resp, err = s.ToolsPost(ctx, "/api/streamAction", map[string]any{"key": "/flow/count", "input": map[string]any{"count": 4}})
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		all, _ := io.ReadAll(resp.Body)
		lines := strings.Split(string(all), "\n")
		if len(lines) != 5 {
			t.Fatalf("streamAction = %q; want 4 chunk lines and a final object", all)
		}
		for i, l := range lines[:4] {
			var c struct{ Index int }
			if err := json.Unmarshal([]byte(l), &c); err != nil || c.Index != i {
				t.Errorf("chunk %d = %q", i, l)
			}
		}
		if !strings.Contains(lines[4], `"result":{"count":4}`) {
			t.Errorf("final = %q", lines[4])
		}
	})

	path := filepath.Join(p.Dir(), ".genkit", "runtimes")
	if err := s.Stop(); err != nil {
		t.Errorf("stopping: %v\n%s", err, s.Log())
	}
	entries, _ := os.ReadDir(path)
	for _, e := range entries {
		t.Errorf("runtime file %s left behind after shutdown", e.Name())
	}
	sc := bufio.NewScanner(strings.NewReader(s.Log()))
	for sc.Scan() {
		if strings.Contains(sc.Text(), "UNCAUGHT") || strings.Contains(sc.Text(), "Unexpected end of JSON input") {
			t.Errorf("CLI log: %s", sc.Text())
		}
	}
}
