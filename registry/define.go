package registry

import (
	"context"
	"encoding/json"
	"reflect"

	"github.com/google/jsonschema-go/jsonschema"

	"github.com/genkit-runtime/genkit-runtime/status"
)

// ActionOptions are the optional parts of an action defined through the
// typed front door.
type ActionOptions struct {
	// Description is listed with the action.
	Description string
	// Metadata is listed with the action.
	Metadata map[string]any
	// InputSchema and OutputSchema replace the schemas inferred from the Go
	// types, for constraints Go types cannot express (minLength, ranges).
	InputSchema, OutputSchema *jsonschema.Schema
}

// SchemaFor returns the JSON Schema inferred for T, or nil when T accepts
// any JSON value (interfaces and json.RawMessage). Structs get their exported
// fields as properties, required unless tagged omitempty or omitzero, and no
// additional properties.
func SchemaFor[T any]() (*jsonschema.Schema, error) {
	t := reflect.TypeFor[T]()
	if t.Kind() == reflect.Interface || t == reflect.TypeFor[json.RawMessage]() {
		return nil, nil
	}
	return jsonschema.For[T](nil)
}

// define builds and registers the action of the typed front door.
func define[In any](r *Registry, typ, name string, opts *ActionOptions, out *jsonschema.Schema, metadata map[string]any, fn Func) (*Action, error) {
	if opts == nil {
		opts = &ActionOptions{}
	}
	in := opts.InputSchema
	if in == nil {
		var err error
		if in, err = SchemaFor[In](); err != nil {
			return nil, err
		}
	}
	if opts.OutputSchema != nil {
		out = opts.OutputSchema
	}
	md := metadata
	if opts.Metadata != nil {
		md = make(map[string]any, len(opts.Metadata)+len(metadata))
		for k, v := range opts.Metadata {
			md[k] = v
		}
		for k, v := range metadata {
			md[k] = v
		}
	}
	a, err := NewAction(Descriptor{
		Type: typ, Name: name, Description: opts.Description,
		InputSchema: in, OutputSchema: out, Metadata: md,
	}, fn)
	if err != nil {
		return nil, err
	}
	if err := r.Register(a); err != nil {
		return nil, err
	}
	return a, nil
}

// decodeInput unmarshals the run's input into a T. Empty input leaves the
// zero value. A json.RawMessage T receives the input itself, which Run has
// checked, without a copy.
func decodeInput[T any](req *Request) (T, error) {
	var in T
	if len(req.Input) == 0 {
		return in, nil
	}
	if raw, ok := any(&in).(*json.RawMessage); ok {
		*raw = req.Input
		return in, nil
	}
	if err := json.Unmarshal(req.Input, &in); err != nil {
		return in, status.Errorf(status.InvalidArgument, "decoding input: %v", err)
	}
	return in, nil
}

func outputSchema[Out any]() *jsonschema.Schema {
	s, err := SchemaFor[Out]()
	if err != nil {
		return nil
	}
	return s
}

// DefineFlow registers a flow, "/flow/<name>", running fn. Its input and
// output schemas are inferred from In and Out unless opts replaces them;
// input that fails the schema is rejected with INVALID_ARGUMENT before fn
// runs. opts may be nil.
func DefineFlow[In, Out any](r *Registry, name string, fn func(context.Context, In) (Out, error), opts *ActionOptions) (*Action, error) {
	return define[In](r, "flow", name, opts, outputSchema[Out](), nil, func(ctx context.Context, req *Request) (any, error) {
		in, err := decodeInput[In](req)
		if err != nil {
			return nil, err
		}
		return fn(ctx, in)
	})
}

// DefineStreamingFlow registers a flow that streams chunks of type Chunk
// through send while it runs. send returns an error when the caller has gone
// away; send is a no-op when the caller did not ask for a stream.
func DefineStreamingFlow[In, Out, Chunk any](r *Registry, name string,
	fn func(ctx context.Context, in In, send func(Chunk) error) (Out, error), opts *ActionOptions) (*Action, error) {
	return define[In](r, "flow", name, opts, outputSchema[Out](), nil, func(ctx context.Context, req *Request) (any, error) {
		in, err := decodeInput[In](req)
		if err != nil {
			return nil, err
		}
		return fn(ctx, in, streamer[Chunk](req))
	})
}

// DefineBidiFlow registers a bidirectional flow: it receives the caller's
// input chunks on the in channel (closed when the caller ends its input, or
// nil when the run has no input stream), streams chunks through send, and
// returns its output. init is the run's decoded init value.
func DefineBidiFlow[Init, InChunk, Out, Chunk any](r *Registry, name string,
	fn func(ctx context.Context, init Init, in <-chan InChunk, send func(Chunk) error) (Out, error), opts *ActionOptions) (*Action, error) {
	md := map[string]any{"bidi": true}
	return define[json.RawMessage](r, "flow", name, opts, outputSchema[Out](), md, func(ctx context.Context, req *Request) (any, error) {
		var init Init
		if len(req.Init) > 0 {
			if err := json.Unmarshal(req.Init, &init); err != nil {
				return nil, status.Errorf(status.InvalidArgument, "decoding init: %v", err)
			}
		}
		var ch chan InChunk
		if req.InputStream != nil {
			ch = make(chan InChunk)
			errc := make(chan error, 1)
			ctx, cancel := context.WithCancel(ctx)
			defer cancel()
			go func() { errc <- pumpInput(ctx, req.InputStream, ch) }()
			out, err := fn(ctx, init, ch, streamer[Chunk](req))
			cancel()
			if perr := <-errc; perr != nil {
				// fn saw its input end early because of perr.
				return nil, perr
			}
			return out, err
		}
		return fn(ctx, init, ch, streamer[Chunk](req))
	})
}

// pumpInput decodes raw input chunks into dst until src closes, a chunk
// fails to decode or ctx ends. It always closes dst, so a function ranging
// over dst never waits for input that cannot come.
func pumpInput[T any](ctx context.Context, src <-chan json.RawMessage, dst chan<- T) error {
	defer close(dst)
	for {
		select {
		case <-ctx.Done():
			return nil
		case raw, ok := <-src:
			if !ok {
				return nil
			}
			var v T
			if err := json.Unmarshal(raw, &v); err != nil {
				return status.Errorf(status.InvalidArgument, "decoding input chunk: %v", err)
			}
			select {
			case dst <- v:
			case <-ctx.Done():
				return nil
			}
		}
	}
}

func streamer[Chunk any](req *Request) func(Chunk) error {
	if req.Stream == nil {
		return func(Chunk) error { return nil }
	}
	return func(c Chunk) error { return req.Stream(c) }
}

// DefineTool registers a tool the way Genkit does: "/tool/<name>", which
// returns fn's output, and "/tool.v2/<name>", which returns it wrapped as
// {"output": ...}. It returns the "/tool/<name>" action.
func DefineTool[In, Out any](r *Registry, name, description string, fn func(context.Context, In) (Out, error), opts *ActionOptions) (*Action, error) {
	o := ActionOptions{Description: description}
	if opts != nil {
		o = *opts
		o.Description = description
	}
	run := func(ctx context.Context, req *Request) (Out, error) {
		in, err := decodeInput[In](req)
		if err != nil {
			var zero Out
			return zero, err
		}
		return fn(ctx, in)
	}
	a, err := define[In](r, "tool", name, &o, outputSchema[Out](), map[string]any{"type": "tool"},
		func(ctx context.Context, req *Request) (any, error) { return run(ctx, req) })
	if err != nil {
		return nil, err
	}
	v2 := o
	v2.OutputSchema = &jsonschema.Schema{Type: "object", Properties: map[string]*jsonschema.Schema{"output": outputSchema[Out]()}}
	if v2.OutputSchema.Properties["output"] == nil {
		v2.OutputSchema.Properties["output"] = &jsonschema.Schema{}
	}
	_, err = define[In](r, "tool.v2", name, &v2, nil,
		map[string]any{"type": "tool.v2", "tool": map[string]any{"multipart": true}, "dynamic": true},
		func(ctx context.Context, req *Request) (any, error) {
			out, err := run(ctx, req)
			if err != nil {
				return nil, err
			}
			return toolV2Output[Out]{Output: out}, nil
		})
	if err != nil {
		r.Unregister(a.Key())
		return nil, err
	}
	return a, nil
}

type toolV2Output[T any] struct {
	Output T `json:"output"`
}
