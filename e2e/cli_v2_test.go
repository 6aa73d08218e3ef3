package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/genkit-runtime/genkit-runtime/e2e/internal/clitest"
)

// TestCLIFlowRunV2 runs the "flow:run ... -- <binary>" forms, which always
// speak reflection v2: the CLI starts the binary with
// GENKIT_REFLECTION_V2_SERVER and the binary dials it.
func TestCLIFlowRunV2(t *testing.T) {
	clitest.NodeModules(t)
	p := clitest.NewProject(t)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()

	out, err := p.Run(ctx, "flow:run", "echo", `"hi"`, "--", binary)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	mustContain(t, "flow:run echo -- binary", out, `(?m)^Result:`, `hi`)

	out, err = p.Run(ctx, "flow:run", "count", `{"count":3}`, "--stream", "--", binary)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	mustContain(t, "flow:run count --stream -- binary", out, `"index": 0`, `"index": 2`, `(?m)^Result:`, `"count": 3`)

	out, err = p.Run(ctx, "eval:flow", "echo", `[{"testCaseId":"t1","input":"a"}]`, "--force", "--", binary)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	mustContain(t, "eval:flow -- binary", out, `(Evaluation ID: [0-9a-f-]{36}|evaluate/[0-9a-f-]{36})`)
	if strings.Contains(out, "Unable to extract any spans") {
		t.Errorf("eval:flow found no traces:\n%s", out)
	}
	checkEvalStatuses(t, p.Dir(), map[string]string{"t1": "PASS"})
}

// TestCLIStartV2 runs the binary under "genkit start
// --experimental-reflection-v2" and drives it through the Developer UI
// backend: listing, running, streaming, cancelling, and a bidirectional
// run on /flow/chat.
func TestCLIStartV2(t *testing.T) {
	clitest.NodeModules(t)
	p := clitest.NewProject(t)
	s := p.Start(t, clitest.StartOptions{Command: []string{binary}, ReflectionV2: true})
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()

	// The runtime registers over the WebSocket shortly after the CLI
	// starts it; poll the tools API until it lists the actions.
	var listed map[string]json.RawMessage
	for {
		acts, err := s.ToolsGet(ctx, "listActions", nil)
		if err == nil {
			listed = nil
			if err := json.Unmarshal(acts, &listed); err != nil {
				t.Fatal(err)
			}
			if _, ok := listed["/flow/chat"]; ok {
				break
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the runtime never showed up over v2: %v\n%s", err, s.Log())
		case <-time.After(200 * time.Millisecond):
		}
	}
	for _, k := range []string{"/flow/echo", "/flow/count", "/dynamic-action-provider/fixtureTools:tool/multiply"} {
		if _, ok := listed[k]; !ok {
			t.Errorf("listActions lacks %s", k)
		}
	}

	post := func(path string, body any) *http.Response {
		t.Helper()
		resp, err := s.ToolsPost(ctx, path, body)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	readAll := func(resp *http.Response) string {
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}

	t.Run("runAction", func(t *testing.T) {
		resp := post("/api/runAction", map[string]any{"key": "/flow/greet", "input": map[string]any{"name": "V2"}})
		body := readAll(resp)
		if !strings.HasPrefix(body, `{"result":"Hello, V2!"`) {
			t.Errorf("runAction = %d %s", resp.StatusCode, body)
		}
		if resp.Header.Get("X-Genkit-Trace-Id") == "" {
			t.Errorf("runAction has no X-Genkit-Trace-Id header")
		}
	})
	t.Run("streamAction", func(t *testing.T) {
		body := readAll(post("/api/streamAction", map[string]any{"key": "/flow/count", "input": map[string]any{"count": 3}}))
		lines := strings.Split(body, "\n")
		if len(lines) != 4 || lines[0] != `{"index":0}` || !strings.Contains(lines[3], `"result":{"count":3}`) {
			t.Errorf("streamAction = %q", body)
		}
	})
	t.Run("cancel", func(t *testing.T) {
		resp := post("/api/runAction", map[string]any{"key": "/flow/wait", "input": map[string]any{"ms": 600000}})
		traceID := resp.Header.Get("X-Genkit-Trace-Id")
		if traceID == "" {
			t.Fatal("no trace ID to cancel")
		}
		msg, err := s.ToolsMutation(ctx, "cancelAction", map[string]any{"traceId": traceID})
		if err != nil || !strings.Contains(string(msg), "Action cancelled") {
			t.Errorf("cancelAction = %s, %v", msg, err)
		}
		body := readAll(resp)
		if !strings.Contains(body, `"code":1`) || !strings.Contains(body, "Action was cancelled") {
			t.Errorf("cancelled run ended with %s", body)
		}
	})
	t.Run("bidi", func(t *testing.T) {
		resp := post("/api/streamAction?bidi=true", map[string]any{"key": "/flow/chat"})
		traceID := resp.Header.Get("X-Genkit-Trace-Id")
		if traceID == "" {
			t.Fatal("no trace ID for the bidirectional run")
		}
		lines := bufio.NewReader(resp.Body)
		for _, in := range []string{"hello", "world"} {
			r := post("/api/sendBidiInput", map[string]any{"traceId": traceID, "chunk": in})
			if got := readAll(r); r.StatusCode != 200 {
				t.Fatalf("sendBidiInput = %d %s", r.StatusCode, got)
			}
			line, err := lines.ReadString('\n')
			if err != nil || strings.TrimSpace(line) != `"`+strings.ToUpper(in)+`"` {
				t.Errorf("chunk for %q = %q, %v", in, line, err)
			}
		}
		if r := post("/api/endBidiInput", map[string]any{"traceId": traceID}); r.StatusCode != 200 {
			t.Errorf("endBidiInput = %d %s", r.StatusCode, readAll(r))
		} else {
			readAll(r)
		}
		rest, _ := io.ReadAll(lines)
		resp.Body.Close()
		if !strings.Contains(string(rest), `"result":{"received":2}`) {
			t.Errorf("bidirectional run ended with %q", rest)
		}
	})
}
