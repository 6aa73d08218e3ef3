package mcp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"os"
	"slices"
	"strings"
)

// Config is an MCP configuration file, in the format MCP hosts share:
//
//	{"mcpServers": {
//	    "files": {"command": "npx", "args": ["-y", "some-server"], "env": {"KEY": "v"}},
//	    "remote": {"url": "https://example.com/mcp", "headers": {"Authorization": "Bearer t"}}
//	}}
//
// Fields other than these are ignored, so files written for other hosts
// load as long as their servers are of a supported kind.
type Config struct {
	// Servers maps a server's name to how to reach it. The name prefixes
	// the names of the server's tools, "<server>/<tool>".
	Servers map[string]ServerConfig `json:"mcpServers"`
}

// ServerConfig says how to reach one MCP server: either a command spoken
// to over stdio, or the URL of a streamable-HTTP endpoint.
type ServerConfig struct {
	// Command is the program to run; Args are its arguments.
	Command string   `json:"command,omitempty"`
	Args    []string `json:"args,omitempty"`
	// Env is added to the environment the command inherits.
	Env map[string]string `json:"env,omitempty"`
	// URL is the streamable-HTTP endpoint of a remote server.
	URL string `json:"url,omitempty"`
	// Headers are sent with every request to URL.
	Headers map[string]string `json:"headers,omitempty"`
}

// equal reports whether c and d describe the same server.
func (c ServerConfig) equal(d ServerConfig) bool {
	return c.Command == d.Command && slices.Equal(c.Args, d.Args) && maps.Equal(c.Env, d.Env) &&
		c.URL == d.URL && maps.Equal(c.Headers, d.Headers)
}

// LoadConfig reads and checks the configuration file at path.
func LoadConfig(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("mcp config: %w", err)
	}
	c, err := ParseConfig(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// ParseConfig decodes and checks a configuration. Its error names every
// problem found.
func ParseConfig(data []byte) (*Config, error) {
	var raw struct {
		Servers json.RawMessage `json:"mcpServers"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("mcp config is not a JSON object: %w", err)
	}
	if len(raw.Servers) == 0 || bytes.Equal(raw.Servers, []byte("null")) {
		return nil, errors.New(`mcp config has no "mcpServers" object`)
	}
	var servers map[string]json.RawMessage
	if err := json.Unmarshal(raw.Servers, &servers); err != nil {
		return nil, errors.New(`mcp config: "mcpServers" must be an object mapping server names to servers`)
	}
	c := &Config{Servers: make(map[string]ServerConfig, len(servers))}
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(servers)) {
		var s ServerConfig
		if err := json.Unmarshal(servers[name], &s); err != nil {
			errs = append(errs, fmt.Errorf("server %q: %s", name, jsonProblem(err)))
			continue
		}
		if err := s.check(name); err != nil {
			errs = append(errs, fmt.Errorf("server %q: %w", name, err))
			continue
		}
		c.Servers[name] = s
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("invalid mcp config: %w", errors.Join(errs...))
	}
	return c, nil
}

func (s ServerConfig) check(name string) error {
	switch {
	case name == "":
		return errors.New("the server name is empty")
	case strings.ContainsAny(name, "/:*"):
		return errors.New(`a server name must not contain '/', ':' or '*', which would make its tools' keys ambiguous`)
	case s.Command != "" && s.URL != "":
		return errors.New(`set either "command" (stdio) or "url" (streamable HTTP), not both`)
	case s.Command == "" && s.URL == "":
		return errors.New(`set "command" (stdio) or "url" (streamable HTTP)`)
	case s.URL != "":
		u, err := url.Parse(s.URL)
		if err != nil {
			return fmt.Errorf("url: %w", err)
		}
		if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("url %q: want an absolute http or https URL", s.URL)
		}
		if len(s.Args) > 0 || len(s.Env) > 0 {
			return errors.New(`"args" and "env" apply to "command" servers only`)
		}
	case len(s.Headers) > 0:
		return errors.New(`"headers" apply to "url" servers only`)
	}
	for k := range s.Env {
		if k == "" || strings.ContainsAny(k, "=\x00") {
			return fmt.Errorf("env: invalid variable name %q", k)
		}
	}
	return nil
}

// jsonProblem describes a decoding error of one server's object.
func jsonProblem(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return fmt.Sprintf("%q has the wrong type (%s)", te.Field, te.Value)
	}
	if errors.As(err, &te) {
		return "want an object"
	}
	return err.Error()
}
