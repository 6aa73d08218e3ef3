package e2e

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/genkit-runtime/genkit-runtime/e2e/internal/clitest"
)

// TestCLIDynamicActions starts the binary with an MCP config naming the
// real @modelcontextprotocol/server-everything over stdio, under "genkit
// start", and checks that the Developer UI backend lists and runs the
// fixture provider's tools and the MCP tools.
func TestCLIDynamicActions(t *testing.T) {
	nm := clitest.NodeModules(t)
	server := filepath.Join(nm, "@modelcontextprotocol", "server-everything", "dist", "index.js")
	if _, err := os.Stat(server); err != nil {
		t.Skipf("server-everything is not installed: %v", err)
	}
	p := clitest.NewProject(t)
	cfgPath := filepath.Join(p.Dir(), "mcp.json")
	cfg := `{"mcpServers": {"everything": {"command": "node", "args": [` + jsonString(server) + `, "stdio"]}}}`
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	s := p.Start(t, clitest.StartOptions{Command: []string{binary, "--mcp-config", cfgPath}})
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	if _, err := s.WaitRuntimeFile(ctx); err != nil {
		t.Fatalf("no runtime file: %v\n%s", err, s.Log())
	}

	want := []string{
		"/dynamic-action-provider/fixtureTools",
		"/dynamic-action-provider/fixtureTools:tool/multiply",
		"/dynamic-action-provider/fixtureTools:tool/negate",
		"/dynamic-action-provider/mcp",
		"/dynamic-action-provider/mcp:tool/everything/echo",
	}
	// The MCP server connects in the background; poll the listing until
	// its tools appear, bounded by ctx.
	var listed map[string]json.RawMessage
	for {
		// Until the CLI has health-checked the runtime, it has none.
		acts, err := s.ToolsGet(ctx, "listActions", nil)
		listed = nil
		if err == nil {
			if err := json.Unmarshal(acts, &listed); err != nil {
				t.Fatal(err)
			}
		} else if ctx.Err() != nil {
			t.Fatal(err)
		}
		if _, ok := listed["/dynamic-action-provider/mcp:tool/everything/echo"]; ok || ctx.Err() != nil {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
	for _, k := range want {
		if _, ok := listed[k]; !ok {
			t.Errorf("listActions lacks %s", k)
		}
	}

	run := func(key string, input any) string {
		t.Helper()
		resp, err := s.ToolsPost(ctx, "/api/runAction", map[string]any{"key": key, "input": input})
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	if got := run("/dynamic-action-provider/fixtureTools:tool/multiply", map[string]any{"a": 3, "b": 4}); !strings.HasPrefix(got, `{"result":12,`) {
		t.Errorf("multiply = %s", got)
	}
	if got := run("/dynamic-action-provider/mcp:tool/everything/echo", map[string]any{"message": "over mcp"}); !strings.Contains(got, "over mcp") || strings.Contains(got, `"error"`) {
		t.Errorf("mcp echo = %s", got)
	}
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
