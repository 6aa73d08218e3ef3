package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/google/jsonschema-go/jsonschema"

	"github.com/genkit-runtime/genkit-runtime/status"
)

// Descriptor describes an action the way Genkit clients list it. Encoded
// as JSON it is the wire form of a listed action, shared by every listing
// (GET /api/actions, listActions, a dynamic action provider's output):
// absent fields are left out, never null, because clients reject null
// descriptions and metadata, and the type is not part of it.
type Descriptor struct {
	// Key is the registry key, "/<type>/<name>". When empty, [NewAction]
	// derives it from Type and Name.
	Key string `json:"key"`
	// Type is the action type ("flow", "model", "tool", ...). Any string is
	// accepted.
	Type string `json:"-"`
	// Name is the action name; it may contain slashes.
	Name string `json:"name"`
	// Description is optional.
	Description string `json:"description,omitempty"`
	// InputSchema and OutputSchema are JSON Schemas; nil means "any".
	InputSchema  *jsonschema.Schema `json:"inputSchema,omitempty"`
	OutputSchema *jsonschema.Schema `json:"outputSchema,omitempty"`
	// Metadata is free-form metadata listed with the action. Values must be
	// JSON-encodable and must not be nil (clients reject null metadata values).
	Metadata map[string]any `json:"metadata,omitempty"`
}

// Request is one invocation of an action, as its function sees it.
type Request struct {
	// Input is the raw JSON input; empty when the caller sent none. Run
	// refuses input that is not JSON and hands the function the input
	// compacted; when the action has an input schema, Input has been
	// validated against it. An action must not change its bytes (it may
	// return them as its output).
	Input json.RawMessage
	// Init is the raw JSON init value of a bidirectional action, if any.
	Init json.RawMessage
	// Context is the caller-provided action context (auth and the like).
	Context map[string]any
	// Stream, when not nil, delivers a chunk to the caller. It is nil when
	// the caller did not ask for streaming.
	Stream func(chunk any) error
	// InputStream, when not nil, yields the caller's input chunks of a
	// bidirectional run; it is closed when the caller ends its input.
	InputStream <-chan json.RawMessage
}

// Func is the function behind an action. It returns the output, which must
// be JSON-encodable (a json.RawMessage is passed through as is).
type Func func(ctx context.Context, req *Request) (any, error)

// Action is a runnable, listable unit of work: a descriptor, an input
// validator compiled once, and a function.
type Action struct {
	desc     Descriptor
	fn       Func
	validate *jsonschema.Resolved // nil when the input is unconstrained
}

// NewAction returns an action for d and fn. It fills d.Key from d.Type and
// d.Name when empty and compiles d.InputSchema for validation. It fails when
// the key is malformed or the schema does not compile.
func NewAction(d Descriptor, fn Func) (*Action, error) {
	if fn == nil {
		return nil, fmt.Errorf("action %q: nil function", d.Name)
	}
	if d.Key == "" {
		if d.Type == "" || d.Name == "" {
			return nil, fmt.Errorf("action needs a key, or a type and a name")
		}
		d.Key = "/" + d.Type + "/" + d.Name
	}
	if t, n, ok := ParseKey(d.Key); !ok {
		return nil, fmt.Errorf("action key %q: want /<type>/<name>", d.Key)
	} else {
		if d.Type == "" {
			d.Type = t
		}
		if d.Name == "" {
			d.Name = n
		}
	}
	a := &Action{desc: d, fn: fn}
	if d.InputSchema != nil {
		rs, err := d.InputSchema.Resolve(&jsonschema.ResolveOptions{ValidateDefaults: false})
		if err != nil {
			return nil, fmt.Errorf("action %s: input schema: %w", d.Key, err)
		}
		a.validate = rs
	}
	return a, nil
}

// MustNewAction is like [NewAction] but panics on error. It is meant for
// set-up code with constant arguments.
func MustNewAction(d Descriptor, fn Func) *Action {
	a, err := NewAction(d, fn)
	if err != nil {
		panic(err)
	}
	return a
}

// Key returns the action's registry key.
func (a *Action) Key() string { return a.desc.Key }

// Descriptor returns a copy of the action's descriptor. The schemas and
// metadata are shared and must not be modified.
func (a *Action) Descriptor() Descriptor { return a.desc }

// WithKey returns a copy of a listed and traced under another key, such as
// the expanded key of an action provided by a dynamic action provider.
func (a *Action) WithKey(key string) *Action {
	b := *a
	b.desc.Key = key
	return &b
}

// ValidateInput checks input against the action's input schema. It returns
// an INVALID_ARGUMENT *status.Error naming the offending field, or nil.
// Empty input is checked as JSON null.
func (a *Action) ValidateInput(input json.RawMessage) error {
	if a.validate == nil {
		return nil
	}
	var v any
	if len(input) > 0 {
		if err := json.Unmarshal(input, &v); err != nil {
			return status.Errorf(status.InvalidArgument, "input is not valid JSON: %v", err)
		}
	}
	if err := a.validate.Validate(v); err != nil {
		if len(input) == 0 {
			return status.Errorf(status.InvalidArgument, "invalid input for %s: input is required", a.desc.Key)
		}
		return status.Errorf(status.InvalidArgument, "invalid input for %s: %s", a.desc.Key, strings.TrimPrefix(err.Error(), "validating root: "))
	}
	return nil
}

// ParseKey splits a key "/<type>/<name>" into its type and name. The name
// may contain slashes; both parts must be non-empty.
func ParseKey(key string) (typ, name string, ok bool) {
	rest, found := strings.CutPrefix(key, "/")
	if !found {
		return "", "", false
	}
	typ, name, found = strings.Cut(rest, "/")
	if !found || typ == "" || name == "" {
		return "", "", false
	}
	return typ, name, true
}
