package mcp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/genkit-runtime/genkit-runtime/registry"
	"github.com/genkit-runtime/genkit-runtime/status"
)

// toolAction returns the action of one tool of a server, named
// "<server>/<tool>". Its metadata is what the JS runtime gives an MCP
// tool: {"type": "tool", "dynamic": true, "mcp": {"_meta": ...}}.
func (h *Host) toolAction(server string, tool *sdk.Tool) (*registry.Action, error) {
	if tool.Name == "" || strings.ContainsAny(tool.Name, ":*") {
		return nil, fmt.Errorf("tool name %q cannot be part of an action key", tool.Name)
	}
	meta := map[string]any(tool.Meta)
	if meta == nil {
		meta = map[string]any{}
	}
	d := registry.Descriptor{
		Type:        "tool",
		Name:        server + "/" + tool.Name,
		Description: tool.Description,
		Metadata:    map[string]any{"type": "tool", "dynamic": true, "mcp": map[string]any{"_meta": meta}},
	}
	name := tool.Name
	run := func(ctx context.Context, req *registry.Request) (any, error) {
		return h.callTool(ctx, server, name, req.Input)
	}
	schema, err := toSchema(tool.InputSchema)
	if err != nil {
		h.logger.Warn("MCP tool input schema not understood; listing the tool without it",
			"server", server, "tool", tool.Name, "err", err)
		return registry.NewAction(d, run)
	}
	d.InputSchema = schema
	a, err := registry.NewAction(d, run)
	if err != nil {
		// The schema does not compile for validation; the server still
		// validates the arguments itself.
		h.logger.Warn("MCP tool input schema does not compile; listing the tool without it",
			"server", server, "tool", tool.Name, "err", err)
		d.InputSchema = nil
		return registry.NewAction(d, run)
	}
	return a, nil
}

// toSchema converts the input schema of a tool, as the SDK decodes it
// (a map), to a *jsonschema.Schema. It returns nil for no schema.
func toSchema(v any) (*jsonschema.Schema, error) {
	if v == nil {
		return nil, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var s jsonschema.Schema
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// callTool calls a tool on its server and converts the result.
func (h *Host) callTool(ctx context.Context, server, tool string, input json.RawMessage) (any, error) {
	cs := h.session(server)
	if cs == nil {
		return nil, status.Errorf(status.Unavailable, "MCP server %s is not connected", server)
	}
	args := input
	if len(bytes.TrimSpace(args)) == 0 || string(args) == "null" {
		args = json.RawMessage("{}")
	}
	res, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: tool, Arguments: args})
	if err != nil {
		return nil, callError(ctx, server, tool, err)
	}
	return toolOutput(server, tool, res)
}

// callError converts the error of a tool call to a status error.
func callError(ctx context.Context, server, tool string, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	where := fmt.Sprintf("MCP server %s, tool %s", server, tool)
	var werr *jsonrpc.Error
	switch {
	case errors.As(err, &werr):
		code := status.Internal
		switch werr.Code {
		case jsonrpc.CodeInvalidParams:
			code = status.InvalidArgument
		case jsonrpc.CodeMethodNotFound:
			code = status.Unimplemented
		}
		return &status.Error{Code: code, Message: where + ": " + werr.Message, Err: err}
	default:
		// The connection broke or the request could not be delivered.
		return &status.Error{Code: status.Unavailable, Message: where + ": " + err.Error(), Err: err}
	}
}

// toolOutput converts a tool's result to the action's output (see
// Host.Provider).
func toolOutput(server, tool string, res *sdk.CallToolResult) (any, error) {
	if res.IsError {
		return nil, &status.Error{
			Code:    status.Internal,
			Message: fmt.Sprintf("MCP server %s, tool %s: %s", server, tool, contentText(res.Content)),
			Details: map[string]any{"mcp": map[string]any{"server": server, "tool": tool, "isError": true}},
		}
	}
	if res.StructuredContent != nil {
		return res.StructuredContent, nil
	}
	if allText(res.Content) {
		text := contentText(res.Content)
		if t := strings.TrimSpace(text); strings.HasPrefix(t, "{") || strings.HasPrefix(t, "[") {
			if json.Valid([]byte(t)) {
				return json.RawMessage(t), nil
			}
		}
		return text, nil
	}
	if len(res.Content) == 1 {
		return res.Content[0], nil
	}
	return res, nil
}

// allText reports whether every part is non-empty text (true for none).
func allText(content []sdk.Content) bool {
	for _, c := range content {
		t, ok := c.(*sdk.TextContent)
		if !ok || t.Text == "" {
			return false
		}
	}
	return true
}

// contentText joins the text parts of content.
func contentText(content []sdk.Content) string {
	var b strings.Builder
	for _, c := range content {
		if t, ok := c.(*sdk.TextContent); ok {
			b.WriteString(t.Text)
		}
	}
	return b.String()
}
