package mcp_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/genkit-runtime/genkit-runtime/dap"
	"github.com/genkit-runtime/genkit-runtime/dap/mcp"
	"github.com/genkit-runtime/genkit-runtime/registry"
)

type greetInput struct {
	Name string `json:"name"`
}

func ExampleHost() {
	// An MCP server with one tool, served over streamable HTTP.
	server := sdk.NewServer(&sdk.Implementation{Name: "demo", Version: "v1"}, nil)
	sdk.AddTool(server, &sdk.Tool{Name: "greet", Description: "Greets someone."},
		func(ctx context.Context, req *sdk.CallToolRequest, in greetInput) (*sdk.CallToolResult, any, error) {
			return &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: "Hello, " + in.Name + "!"}}}, nil, nil
		})
	srv := httptest.NewServer(sdk.NewStreamableHTTPHandler(func(*http.Request) *sdk.Server { return server }, nil))
	defer srv.Close()

	// A configuration file naming it.
	dir, err := os.MkdirTemp("", "mcp-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	config := filepath.Join(dir, "mcp.json")
	if err := os.WriteFile(config, []byte(`{"mcpServers": {"demo": {"url": "`+srv.URL+`"}}}`), 0o600); err != nil {
		log.Fatal(err)
	}

	// The host: registered as a dynamic action provider, run until done.
	host, err := mcp.NewHost(config, nil)
	if err != nil {
		log.Fatal(err)
	}
	reg := registry.New(nil)
	if err := dap.Register(reg, host.Provider()); err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- host.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			log.Fatal(err)
		}
	}()

	// The server connects in the background; wait for its tool.
	const key = "/dynamic-action-provider/mcp:tool/demo/greet"
	var tool *registry.Action
	for deadline := time.Now().Add(10 * time.Second); tool == nil; {
		if tool, err = reg.Resolve(ctx, key); err != nil && time.Now().After(deadline) {
			log.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond) // polling interval
	}
	res, err := tool.Run(ctx, &registry.Request{Input: json.RawMessage(`{"name":"Ada"}`)}, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(tool.Descriptor().Name, string(res.Output))
	// Output: demo/greet "Hello, Ada!"
}
