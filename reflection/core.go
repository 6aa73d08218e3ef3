package reflection

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/genkit-runtime/genkit-runtime/registry"
	"github.com/genkit-runtime/genkit-runtime/status"
)

// TraceFlusher is implemented by span exporters that can confirm a trace
// has been delivered. The run core calls FlushTrace before it reports a
// run's result, so a client that then asks for the trace finds it.
type TraceFlusher interface {
	FlushTrace(ctx context.Context, traceID string) error
}

// runRequest is a run as both transports decode it.
type runRequest struct {
	Key             string            `json:"key"`
	Input           json.RawMessage   `json:"input,omitempty"`
	Init            json.RawMessage   `json:"init,omitempty"`
	Context         map[string]any    `json:"context,omitempty"`
	TelemetryLabels map[string]string `json:"telemetryLabels,omitempty"`
}

// runHooks are how a transport observes a run.
type runHooks struct {
	// started is called once when the root span starts.
	started func(traceID, spanID string)
	// chunk, when not nil, receives streamed chunks.
	chunk func(any) error
	// input, when not nil, feeds a bidirectional run.
	input <-chan json.RawMessage
}

// core is the one run core shared by the v1 and v2 transports: key
// resolution, input validation, the root span, cancellation by trace ID,
// flushing the trace and mapping errors to a Status.
type core struct {
	reg          *registry.Registry
	tp           trace.TracerProvider
	flusher      TraceFlusher
	flushTimeout time.Duration
	logger       *slog.Logger

	mu     sync.Mutex // guards active
	active map[string]context.CancelCauseFunc
}

func newCore(reg *registry.Registry, tp trace.TracerProvider, flusher TraceFlusher, flushTimeout time.Duration, logger *slog.Logger) *core {
	return &core{reg: reg, tp: tp, flusher: flusher, flushTimeout: flushTimeout, logger: logger,
		active: map[string]context.CancelCauseFunc{}}
}

// outcome is how a run request ended, as both transports answer it: the
// result, a run error (which carries the run's trace ID when the root span
// had started), or a resolve error (a *resolveError: no run started).
type outcome struct {
	res registry.Result
	err error
}

// rejected reports whether the request itself named no runnable action:
// its key is unknown (NOT_FOUND) or malformed (INVALID_ARGUMENT). It
// returns that code. Other failures to resolve (a provider that is down)
// and every error of a run are the run's, not the request's.
func (o outcome) rejected() (status.Code, bool) {
	var re *resolveError
	if !errors.As(o.err, &re) {
		return status.OK, false
	}
	switch c := status.CodeOf(re.err); c {
	case status.NotFound, status.InvalidArgument:
		return c, true
	}
	return status.OK, false
}

// run resolves and runs one action.
func (c *core) run(ctx context.Context, rr *runRequest, hooks runHooks) outcome {
	res, err := c.runAction(ctx, rr, hooks)
	return outcome{res: res, err: err}
}

func (c *core) runAction(ctx context.Context, rr *runRequest, hooks runHooks) (registry.Result, error) {
	a, err := c.reg.Resolve(ctx, rr.Key)
	if err != nil {
		return registry.Result{}, &resolveError{err}
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var traceID string
	opts := &registry.RunOptions{
		TracerProvider:  c.tp,
		TelemetryLabels: rr.TelemetryLabels,
		// runBody.decodeJSON checked and compacted the input.
		InputCompact: true,
		OnStart: func(sc trace.SpanContext) {
			traceID = sc.TraceID().String()
			c.mu.Lock()
			c.active[traceID] = cancel
			c.mu.Unlock()
			if hooks.started != nil {
				hooks.started(traceID, sc.SpanID().String())
			}
		},
	}
	req := &registry.Request{Input: rr.Input, Init: rr.Init, Context: rr.Context, InputStream: hooks.input}
	if hooks.chunk != nil {
		req.Stream = hooks.chunk
	}
	res, err := a.Run(ctx, req, opts)
	if traceID != "" {
		c.mu.Lock()
		delete(c.active, traceID)
		c.mu.Unlock()
		c.flush(ctx, traceID)
	}
	return res, err
}

// resolveError marks an error resolving a run's key: the request names no
// runnable action (NOT_FOUND) or is malformed (INVALID_ARGUMENT), as
// opposed to an error of the action itself.
type resolveError struct{ err error }

func (e *resolveError) Error() string { return e.err.Error() }
func (e *resolveError) Unwrap() error { return e.err }

// flush waits, for at most the flush timeout, until the trace has been
// delivered by the exporter. It does not depend on the run's own context,
// which may already be cancelled.
func (c *core) flush(ctx context.Context, traceID string) {
	if c.flusher == nil {
		return
	}
	// The run may have been cancelled; delivering its trace still matters.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.flushTimeout)
	defer cancel()
	if err := c.flusher.FlushTrace(ctx, traceID); err != nil {
		c.logger.Debug("trace not flushed before the result", "traceId", traceID, "err", err)
	}
}

// cancel cancels the active run with the given trace ID. It reports whether
// such a run was active.
func (c *core) cancel(traceID string) bool {
	c.mu.Lock()
	cancel, ok := c.active[traceID]
	c.mu.Unlock()
	if ok {
		cancel(errCancelled)
	}
	return ok
}

// errCancelled is the cause recorded when a client cancels a run.
var errCancelled = &status.Error{Code: status.Cancelled, Message: "Action was cancelled"}

// wireStatus converts a run error to the Status clients see, with the run's
// trace ID in its details when known.
func wireStatus(err error) status.Status {
	st := status.FromError(err)
	if id := registry.TraceIDOf(err); id != "" {
		st.Details["traceId"] = id
	}
	return st
}

// telemetry is the "telemetry" member of a run result.
type telemetry struct {
	TraceID string `json:"traceId"`
}

// finalResult is the final object of a run: {result, telemetry} or {error}.
type finalResult struct {
	Result    json.RawMessage `json:"result,omitempty"`
	Telemetry *telemetry      `json:"telemetry,omitempty"`
	Error     *status.Status  `json:"error,omitempty"`
}

func finalOf(res registry.Result, err error) finalResult {
	if err != nil {
		st := wireStatus(err)
		return finalResult{Error: &st}
	}
	return finalResult{Result: res.Output, Telemetry: &telemetry{TraceID: res.TraceID}}
}
