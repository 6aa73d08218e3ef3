package mcp_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/genkit-runtime/genkit-runtime/dap/mcp"
)

var configCases = []struct {
	name    string
	json    string
	want    *mcp.Config
	wantErr []string // substrings of the error
}{
	{
		name: "stdio and url",
		json: `{"mcpServers": {
			"files": {"command": "npx", "args": ["-y", "srv"], "env": {"K": "v"}, "type": "stdio"},
			"remote": {"url": "https://example.com/mcp", "headers": {"Authorization": "Bearer t"}}
		}, "other": true}`,
		want: &mcp.Config{Servers: map[string]mcp.ServerConfig{
			"files":  {Command: "npx", Args: []string{"-y", "srv"}, Env: map[string]string{"K": "v"}},
			"remote": {URL: "https://example.com/mcp", Headers: map[string]string{"Authorization": "Bearer t"}},
		}},
	},
	{name: "no servers", json: `{"mcpServers": {}}`, want: &mcp.Config{Servers: map[string]mcp.ServerConfig{}}},
	{name: "not json", json: `{"mcpServers":`, wantErr: []string{"not a JSON object"}},
	{name: "array", json: `[]`, wantErr: []string{"not a JSON object"}},
	{name: "missing mcpServers", json: `{"servers": {}}`, wantErr: []string{`no "mcpServers"`}},
	{name: "null mcpServers", json: `{"mcpServers": null}`, wantErr: []string{`no "mcpServers"`}},
	{name: "mcpServers not an object", json: `{"mcpServers": []}`, wantErr: []string{`"mcpServers" must be an object`}},
	{name: "server not an object", json: `{"mcpServers": {"a": "npx"}}`, wantErr: []string{`server "a": want an object`}},
	{name: "wrong field type", json: `{"mcpServers": {"a": {"command": "x", "args": "y"}}}`, wantErr: []string{`server "a"`, `"args" has the wrong type`}},
	{name: "neither", json: `{"mcpServers": {"a": {"args": ["x"]}}}`, wantErr: []string{`server "a"`, `set "command"`}},
	{name: "both", json: `{"mcpServers": {"a": {"command": "x", "url": "http://h/"}}}`, wantErr: []string{"not both"}},
	{name: "relative url", json: `{"mcpServers": {"a": {"url": "/mcp"}}}`, wantErr: []string{"absolute http or https URL"}},
	{name: "other scheme", json: `{"mcpServers": {"a": {"url": "ftp://h/mcp"}}}`, wantErr: []string{"absolute http or https URL"}},
	{name: "env on url", json: `{"mcpServers": {"a": {"url": "http://h/", "env": {"K": "v"}}}}`, wantErr: []string{`"command" servers only`}},
	{name: "headers on command", json: `{"mcpServers": {"a": {"command": "x", "headers": {"K": "v"}}}}`, wantErr: []string{`"url" servers only`}},
	{name: "bad env name", json: `{"mcpServers": {"a": {"command": "x", "env": {"A=B": "v"}}}}`, wantErr: []string{"invalid variable name"}},
	{name: "slash in name", json: `{"mcpServers": {"a/b": {"command": "x"}}}`, wantErr: []string{`server "a/b"`, "must not contain"}},
	{name: "colon in name", json: `{"mcpServers": {"a:b": {"command": "x"}}}`, wantErr: []string{"must not contain"}},
	{name: "empty name", json: `{"mcpServers": {"": {"command": "x"}}}`, wantErr: []string{"name is empty"}},
	{
		name:    "every problem is reported",
		json:    `{"mcpServers": {"a": {}, "b": {"command": "x", "url": "http://h/"}, "ok": {"command": "x"}}}`,
		wantErr: []string{`server "a"`, `server "b"`},
	},
}

func TestParseConfig(t *testing.T) {
	for _, tc := range configCases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := mcp.ParseConfig([]byte(tc.json))
			if len(tc.wantErr) > 0 {
				if err == nil {
					t.Fatalf("ParseConfig = %+v, want an error", got)
				}
				for _, s := range tc.wantErr {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not mention %q", err, s)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ParseConfig (-want +got):\n%s", diff)
			}
		})
	}
}

func FuzzParseConfig(f *testing.F) {
	for _, tc := range configCases {
		f.Add(tc.json)
	}
	f.Fuzz(func(t *testing.T, data string) {
		c, err := mcp.ParseConfig([]byte(data))
		if err == nil && c.Servers == nil {
			t.Fatal("a valid config has a nil server map")
		}
	})
}

func TestLoadConfig(t *testing.T) {
	dir := t.TempDir()
	if _, err := mcp.LoadConfig(filepath.Join(dir, "missing.json")); err == nil {
		t.Error("LoadConfig of a missing file succeeded")
	}
	path := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(path, []byte(`{"mcpServers": {"a": {}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := mcp.LoadConfig(path)
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("LoadConfig of an invalid file: %v, want an error naming the file", err)
	}
	if _, err := mcp.NewHost(path, nil); err == nil {
		t.Error("NewHost with an invalid config succeeded")
	}
}
