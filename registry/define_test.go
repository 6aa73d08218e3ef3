package registry_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/jsonschema-go/jsonschema"

	"github.com/genkit-runtime/genkit-runtime/fixture"
	"github.com/genkit-runtime/genkit-runtime/registry"
	"github.com/genkit-runtime/genkit-runtime/status"
)

type person struct {
	Name string   `json:"name"`
	Age  int      `json:"age,omitempty"`
	Nick string   `json:"nick,omitzero"`
	Tags []string `json:"tags"`
	//lint:ignore U1000 present so that the tests see it left out of the inferred schema
	private int
}

func schemaJSON(t *testing.T, s *jsonschema.Schema) any {
	t.Helper()
	if s == nil {
		return nil
	}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestSchemaFor(t *testing.T) {
	tests := []struct {
		name string
		fn   func() (*jsonschema.Schema, error)
		want any
	}{
		{"any", registry.SchemaFor[any], nil},
		{"interface", registry.SchemaFor[error], nil},
		{"raw JSON", registry.SchemaFor[json.RawMessage], nil},
		{"string", registry.SchemaFor[string], map[string]any{"type": "string"}},
		{"struct", registry.SchemaFor[person], map[string]any{
			"type": "object",
			"properties": map[string]any{
				"name": map[string]any{"type": "string"},
				"age":  map[string]any{"type": "integer"},
				"nick": map[string]any{"type": "string"},
				"tags": map[string]any{"type": []any{"null", "array"}, "items": map[string]any{"type": "string"}},
			},
			"required":             []any{"name", "tags"},
			"additionalProperties": false,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := tt.fn()
			if err != nil {
				t.Fatalf("SchemaFor: %v", err)
			}
			if diff := cmp.Diff(tt.want, schemaJSON(t, s)); diff != "" {
				t.Errorf("SchemaFor mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func fixtureRegistry(t testing.TB) *registry.Registry {
	t.Helper()
	r := registry.New(nil)
	if err := fixture.Register(r); err != nil {
		t.Fatalf("fixture.Register: %v", err)
	}
	return r
}

func TestValidateInput(t *testing.T) {
	r := fixtureRegistry(t)
	tests := []struct {
		key, input string
		wantOK     bool
		mention    []string // substrings the error message must contain
	}{
		{"/flow/greet", `{"name":"Ada"}`, true, nil},
		{"/flow/greet", `{"name":"Ada","count":10}`, true, nil},
		{"/flow/greet", `{"name":""}`, false, []string{"name", "/flow/greet"}},
		{"/flow/greet", `{"count":2}`, false, []string{"name"}},
		{"/flow/greet", `{"name":"Ada","count":11}`, false, []string{"count"}},
		{"/flow/greet", `{"name":"Ada","count":0}`, false, []string{"count"}},
		{"/flow/greet", `{"name":"Ada","count":"2"}`, false, []string{"count"}},
		{"/flow/greet", `{"name":"Ada","extra":1}`, false, []string{"extra"}},
		{"/flow/greet", `"Ada"`, false, []string{"object"}},
		{"/flow/greet", ``, false, []string{"input"}},
		{"/flow/greet", `{"name":`, false, []string{"JSON"}},
		{"/flow/count", `{"count":-1}`, false, []string{"count"}},
		{"/flow/count", `{"count":3,"delayMs":-5}`, false, []string{"delayMs"}},
		{"/flow/steps", `{"steps":21}`, false, []string{"steps"}},
		{"/flow/wait", `{}`, false, []string{"ms"}},
		{"/tool/add", `{"a":1}`, false, []string{"b"}},
		{"/model/echoModel", `{"messages":[]}`, true, nil},
		{"/model/echoModel", `{"config":{}}`, false, []string{"messages"}},
		{"/flow/echo", ``, true, nil},
		{"/flow/echo", `[1,"x",null]`, true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.key+" "+tt.input, func(t *testing.T) {
			a, ok := r.Lookup(tt.key)
			if !ok {
				t.Fatalf("no action %s", tt.key)
			}
			err := a.ValidateInput(json.RawMessage(tt.input))
			if tt.wantOK {
				if err != nil {
					t.Fatalf("ValidateInput(%s) = %v, want nil", tt.input, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("ValidateInput(%s) = nil, want an error", tt.input)
			}
			if c := status.CodeOf(err); c != status.InvalidArgument {
				t.Errorf("code = %v, want INVALID_ARGUMENT", c)
			}
			msg := status.FromError(err).Message
			if !strings.HasPrefix(msg, "INVALID_ARGUMENT: ") {
				t.Errorf("message %q lacks the status prefix", msg)
			}
			for _, s := range tt.mention {
				if !strings.Contains(msg, s) {
					t.Errorf("message %q does not mention %q", msg, s)
				}
			}
			if strings.Contains(msg, "invalid reflect.Value") {
				t.Errorf("message %q leaks Go internals", msg)
			}
		})
	}
}

// TestValidatedBeforeRun checks that an action's function never sees input
// that fails its schema.
func TestValidatedBeforeRun(t *testing.T) {
	r := registry.New(nil)
	called := false
	a, err := registry.DefineFlow(r, "f", func(_ context.Context, in person) (string, error) {
		called = true
		return in.Name, nil
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = a.Run(context.Background(), &registry.Request{Input: json.RawMessage(`{"name":1,"tags":[]}`)}, nil)
	if status.CodeOf(err) != status.InvalidArgument {
		t.Errorf("Run error = %v, want INVALID_ARGUMENT", err)
	}
	if registry.TraceIDOf(err) != "" {
		t.Errorf("a validation error has trace ID %q; it happens before any span", registry.TraceIDOf(err))
	}
	if called {
		t.Error("the flow ran with invalid input")
	}
}

func TestDefineFlowDescriptor(t *testing.T) {
	r := registry.New(nil)
	a, err := registry.DefineFlow(r, "f", func(_ context.Context, in person) (int, error) { return in.Age, nil },
		&registry.ActionOptions{Description: "d", Metadata: map[string]any{"k": "v"}})
	if err != nil {
		t.Fatal(err)
	}
	d := a.Descriptor()
	if d.Key != "/flow/f" || d.Type != "flow" || d.Name != "f" || d.Description != "d" {
		t.Errorf("descriptor = %+v", d)
	}
	if diff := cmp.Diff(map[string]any{"k": "v"}, d.Metadata); diff != "" {
		t.Errorf("metadata (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]any{"type": "integer"}, schemaJSON(t, d.OutputSchema)); diff != "" {
		t.Errorf("output schema (-want +got):\n%s", diff)
	}
	if d.InputSchema == nil || d.InputSchema.Type != "object" {
		t.Errorf("input schema = %+v, want the inferred object schema", d.InputSchema)
	}
	// A second definition under the same name is a duplicate.
	_, err = registry.DefineFlow(r, "f", func(context.Context, any) (any, error) { return nil, nil }, nil)
	var dup *registry.DuplicateError
	if !errors.As(err, &dup) {
		t.Errorf("redefining a flow: err = %v, want *DuplicateError", err)
	}
}

func TestDefineTool(t *testing.T) {
	r := fixtureRegistry(t)
	ctx := context.Background()
	tests := []struct {
		key      string
		metadata map[string]any
		output   string
	}{
		{"/tool/add", map[string]any{"type": "tool"}, `5.5`},
		{"/tool.v2/add", map[string]any{"type": "tool.v2", "tool": map[string]any{"multipart": true}, "dynamic": true}, `{"output":5.5}`},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			a, ok := r.Lookup(tt.key)
			if !ok {
				t.Fatalf("%s is not registered", tt.key)
			}
			d := a.Descriptor()
			if d.Name != "add" || d.Description != "Adds two numbers." {
				t.Errorf("descriptor = %+v", d)
			}
			if diff := cmp.Diff(tt.metadata, d.Metadata); diff != "" {
				t.Errorf("metadata (-want +got):\n%s", diff)
			}
			res, err := a.Run(ctx, &registry.Request{Input: json.RawMessage(`{"a":2,"b":3.5}`)}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if string(res.Output) != tt.output {
				t.Errorf("output = %s, want %s", res.Output, tt.output)
			}
		})
	}
	// A tool whose v2 key is taken is not half-registered.
	r2 := registry.New(nil)
	r2.MustRegister(newAction(t, "/tool.v2/x"))
	if _, err := registry.DefineTool(r2, "x", "", func(context.Context, any) (any, error) { return nil, nil }, nil); err == nil {
		t.Error("DefineTool with a taken v2 key succeeded")
	}
	if _, ok := r2.Lookup("/tool/x"); ok {
		t.Error("DefineTool left /tool/x registered after failing")
	}
}

func TestDefineStreamingFlow(t *testing.T) {
	r := registry.New(nil)
	a, err := registry.DefineStreamingFlow(r, "s", func(_ context.Context, n int, send func(string) error) (int, error) {
		for i := range n {
			if err := send(strings.Repeat("x", i)); err != nil {
				return 0, err
			}
		}
		return n, nil
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var chunks []any
	res, err := a.Run(context.Background(), &registry.Request{
		Input:  json.RawMessage(`3`),
		Stream: func(c any) error { chunks = append(chunks, c); return nil },
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]any{"", "x", "xx"}, chunks); diff != "" {
		t.Errorf("chunks (-want +got):\n%s", diff)
	}
	if string(res.Output) != "3" {
		t.Errorf("output = %s, want 3", res.Output)
	}
	// Without a stream, send is a no-op.
	if res, err := a.Run(context.Background(), &registry.Request{Input: json.RawMessage(`2`)}, nil); err != nil || string(res.Output) != "2" {
		t.Errorf("Run without stream = %s, %v", res.Output, err)
	}
	// A send error ends the flow with that error.
	stop := errors.New("client gone")
	_, err = a.Run(context.Background(), &registry.Request{
		Input:  json.RawMessage(`3`),
		Stream: func(any) error { return stop },
	}, nil)
	if !errors.Is(err, stop) {
		t.Errorf("Run with failing stream = %v, want %v", err, stop)
	}
}

func TestDefineBidiFlow(t *testing.T) {
	r := registry.New(nil)
	a, err := registry.DefineBidiFlow(r, "chat", func(_ context.Context, init string, in <-chan string, send func(string) error) (string, error) {
		if in == nil {
			return init + ":none", nil
		}
		n := 0
		for s := range in {
			n++
			if err := send(strings.ToUpper(s)); err != nil {
				return "", err
			}
		}
		return init + ":" + strings.Repeat("i", n), nil
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]any{"bidi": true}, a.Descriptor().Metadata); diff != "" {
		t.Errorf("metadata (-want +got):\n%s", diff)
	}
	input := make(chan json.RawMessage, 2)
	input <- json.RawMessage(`"a"`)
	input <- json.RawMessage(`"b"`)
	close(input)
	var chunks []any
	res, err := a.Run(context.Background(), &registry.Request{
		Init:        json.RawMessage(`"hi"`),
		InputStream: input,
		Stream:      func(c any) error { chunks = append(chunks, c); return nil },
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if string(res.Output) != `"hi:ii"` {
		t.Errorf("output = %s", res.Output)
	}
	if diff := cmp.Diff([]any{"A", "B"}, chunks); diff != "" {
		t.Errorf("chunks (-want +got):\n%s", diff)
	}
	res, err = a.Run(context.Background(), &registry.Request{Init: json.RawMessage(`"x"`)}, nil)
	if err != nil || string(res.Output) != `"x:none"` {
		t.Errorf("Run without input stream = %s, %v", res.Output, err)
	}
	// A malformed input chunk fails the run with INVALID_ARGUMENT.
	bad := make(chan json.RawMessage, 1)
	bad <- json.RawMessage(`7`)
	close(bad)
	_, err = a.Run(context.Background(), &registry.Request{InputStream: bad}, nil)
	if status.CodeOf(err) != status.InvalidArgument {
		t.Errorf("Run with a bad chunk = %v, want INVALID_ARGUMENT", err)
	}
}
