package v2manager

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"

	"github.com/sourcegraph/jsonrpc2"
)

// RunRequest is the params of runAction, as the CLI sends them.
type RunRequest struct {
	Key string `json:"key"`
	// Input, Init and Context are encoded as JSON; a json.RawMessage is
	// sent as is. Nil leaves them out.
	Input           any               `json:"input,omitempty"`
	Init            any               `json:"init,omitempty"`
	Context         any               `json:"context,omitempty"`
	TelemetryLabels map[string]string `json:"telemetryLabels,omitempty"`
	// RuntimeID is the id the CLI spreads into the params; runtimes ignore
	// it.
	RuntimeID string `json:"runtimeId,omitempty"`
	// Stream asks for streamChunk notifications.
	Stream bool `json:"stream"`
	// StreamInput announces input chunks ([Run.SendInput]).
	StreamInput bool `json:"streamInput"`
}

// RunState is the state of a runActionState notification.
type RunState struct {
	TraceID string `json:"traceId,omitempty"`
}

// RunCallbacks observe a run as its notifications arrive. They are called
// in order on the connection's read loop, so they must not block and must
// not wait for another response from the same runtime.
type RunCallbacks struct {
	// OnState, if not nil, receives each runActionState.
	OnState func(RunState)
	// OnChunk, if not nil, receives each streamChunk's chunk.
	OnChunk func(chunk json.RawMessage)
}

// RunResult is the result of a successful run.
type RunResult struct {
	// Result is the action's output; nil when the runtime left it out.
	Result json.RawMessage
	// TraceID is telemetry.traceId.
	TraceID string
	// Raw is the whole result object.
	Raw json.RawMessage
	// States and Chunks are the run's notifications, in order.
	States []RunState
	Chunks []json.RawMessage
}

// Run is a runAction request in progress. Create it with
// [Runtime.StartAction].
type Run struct {
	rt      *Runtime
	id      ID
	cb      RunCallbacks
	waiter  jsonrpc2.Waiter
	started chan struct{} // closed at the first runActionState, or when the run ends

	mu            sync.Mutex // guards states, chunks, startedClosed, outcome and err
	states        []RunState
	chunks        []json.RawMessage
	startedClosed bool
	outcome       *RunResult
	err           error
}

// StartAction sends runAction and returns the run without waiting for its
// result. Runs have no timeout; bound [Run.Wait] with its context instead.
// cb may be nil.
func (rt *Runtime) StartAction(ctx context.Context, req *RunRequest, cb *RunCallbacks, opts ...CallOption) (*Run, error) {
	cfg, err := rt.config(0, opts)
	if err != nil {
		return nil, err
	}
	return rt.startRun(ctx, req, cb, *cfg.id)
}

// startRun sends runAction with any params.
func (rt *Runtime) startRun(ctx context.Context, params any, cb *RunCallbacks, id ID) (*Run, error) {
	r := &Run{rt: rt, id: id, started: make(chan struct{})}
	if cb != nil {
		r.cb = *cb
	}
	key := r.id.String()
	rt.mu.Lock()
	if _, dup := rt.runs[key]; dup {
		rt.mu.Unlock()
		return nil, fmt.Errorf("v2manager: a run with request id %s is in progress", key)
	}
	rt.runs[key] = r
	rt.mu.Unlock()
	w, err := rt.conn.DispatchCall(ctx, "runAction", params, jsonrpc2.PickID(r.id.rpc()))
	if err != nil {
		rt.mu.Lock()
		delete(rt.runs, key)
		rt.mu.Unlock()
		return nil, convertError(err)
	}
	r.waiter = w
	return r, nil
}

// RunAction runs an action and waits for its result: StartAction, then
// Wait. An action error is an *Error with code -32000 (ErrAction) whose
// [Error.Status] is the Genkit Status.
func (rt *Runtime) RunAction(ctx context.Context, req *RunRequest, cb *RunCallbacks, opts ...CallOption) (*RunResult, error) {
	r, err := rt.StartAction(ctx, req, cb, opts...)
	if err != nil {
		return nil, err
	}
	return r.Wait(ctx)
}

// ID returns the run's request id.
func (r *Run) ID() ID { return r.id }

// Started returns a channel closed when the first runActionState arrives,
// or when the run ends without one.
func (r *Run) Started() <-chan struct{} { return r.started }

// TraceID returns the trace id of the first runActionState, or "".
func (r *Run) TraceID() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.states {
		if s.TraceID != "" {
			return s.TraceID
		}
	}
	return ""
}

// States returns the runActionState notifications received so far.
func (r *Run) States() []RunState {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.states)
}

// Chunks returns the stream chunks received so far.
func (r *Run) Chunks() []json.RawMessage {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.chunks)
}

// SendInput sends one chunk of the run's input stream.
func (r *Run) SendInput(ctx context.Context, chunk any) error {
	return r.rt.SendInputChunk(ctx, r.id.String(), chunk)
}

// EndInput ends the run's input stream.
func (r *Run) EndInput(ctx context.Context) error {
	return r.rt.EndInput(ctx, r.id.String())
}

// Wait waits for the run's result. The result is validated as the CLI
// does; a JSON-RPC error response is an *Error; a runtime that disconnects
// first gives ErrDisconnected. If ctx ends first, Wait returns ctx's error
// and may be called again.
func (r *Run) Wait(ctx context.Context) (*RunResult, error) {
	r.mu.Lock()
	if r.outcome != nil || r.err != nil {
		defer r.mu.Unlock()
		return r.outcome, r.err
	}
	r.mu.Unlock()
	raw, err := r.waitRaw(ctx)
	if err != nil && ctx.Err() != nil {
		return nil, err
	}
	var res *RunResult
	if err == nil {
		decode := decodeRunResult
		if r.rt.m.opts.SkipValidation {
			decode = decodeRunResultUnchecked
		}
		res, err = decode(raw)
		if err != nil {
			err = fmt.Errorf("runAction result rejected: %w", err)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if res != nil {
		res.States = slices.Clone(r.states)
		res.Chunks = slices.Clone(r.chunks)
	}
	r.outcome, r.err = res, err
	return res, err
}

// waitRaw waits for the raw result.
func (r *Run) waitRaw(ctx context.Context) (json.RawMessage, error) {
	var raw json.RawMessage
	if err := r.waiter.Wait(ctx, &raw); err != nil {
		return nil, convertError(err)
	}
	return raw, nil
}

// state records a runActionState. More than one is a violation.
func (r *Run) state(s *RunState) error {
	var st RunState
	if s != nil {
		st = *s
	}
	r.mu.Lock()
	r.states = append(r.states, st)
	n := len(r.states)
	r.closeStarted()
	r.mu.Unlock()
	if r.cb.OnState != nil {
		r.cb.OnState(st)
	}
	if n > 1 {
		return fmt.Errorf("runActionState #%d for requestId %q: a run must have exactly one", n, r.id.String())
	}
	return nil
}

func (r *Run) chunk(c json.RawMessage) {
	r.mu.Lock()
	r.chunks = append(r.chunks, c)
	r.mu.Unlock()
	if r.cb.OnChunk != nil {
		r.cb.OnChunk(c)
	}
}

// finish marks the run as answered (or abandoned by a disconnect).
func (r *Run) finish() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closeStarted()
}

// closeStarted closes the started channel once. r.mu must be held.
func (r *Run) closeStarted() {
	if !r.startedClosed {
		r.startedClosed = true
		close(r.started)
	}
}
