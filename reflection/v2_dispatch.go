package reflection

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/sourcegraph/jsonrpc2"

	"github.com/genkit-runtime/genkit-runtime/internal/wsrpc"
	"github.com/genkit-runtime/genkit-runtime/status"
)

// dispatcher is the jsonrpc2 Handler of one connection to the manager. It
// owns the handling of the manager's requests: it decodes each request's
// params, answers the quick requests itself on the read loop, and starts
// runs ([v2Run]) and listings on goroutines it tracks, bounded by the
// client's request slots. It also owns the connection's work accounting:
// the runs and listings in progress, the refusal of new work while the
// session drains, and their cancellation at the end of the grace period.
// A run's input stream is the [inputStreams]'.
type dispatcher struct {
	c      *Client
	stream *wsrpc.Stream
	inputs *inputStreams

	work sync.WaitGroup // runs and listings in progress

	mu       sync.Mutex // guards draining, runs and listings
	draining bool       // shutting down: no new work is taken
	// runs are the runs in progress by request id, with the cancellation
	// of each; listings the listings in progress, by request.
	runs     map[string]context.CancelCauseFunc
	listings map[*jsonrpc2.Request]context.CancelFunc
}

var _ jsonrpc2.Handler = (*dispatcher)(nil)

func newDispatcher(c *Client, stream *wsrpc.Stream) *dispatcher {
	return &dispatcher{
		c: c, stream: stream, inputs: newInputStreams(c.opts.Logger),
		runs: map[string]context.CancelCauseFunc{}, listings: map[*jsonrpc2.Request]context.CancelFunc{},
	}
}

// takeWork counts one more piece of work, which the caller ends with
// d.work.Done, and reports true, unless the session is draining. d.mu is
// held.
func (d *dispatcher) takeWork() bool {
	if d.draining {
		return false
	}
	d.work.Add(1)
	return true
}

// stopTaking makes d refuse new work, and returns the number of runs in
// progress.
func (d *dispatcher) stopTaking() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.draining = true
	return len(d.runs)
}

// cancelWork cancels the runs in progress with cause, and the listings.
func (d *dispatcher) cancelWork(cause error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, cancel := range d.runs {
		cancel(cause)
	}
	for _, cancel := range d.listings {
		cancel()
	}
}

// Handle implements jsonrpc2.Handler. It runs on the connection's read
// loop, so it does only quick work itself; runs and listings go to tracked
// goroutines.
func (d *dispatcher) Handle(ctx context.Context, conn *jsonrpc2.Conn, req *jsonrpc2.Request) {
	switch req.Method {
	case "listActions":
		d.listActions(ctx, conn, req)
	case "listValues":
		d.listValues(ctx, conn, req)
	case "runAction":
		d.runAction(ctx, conn, req)
	case "cancelAction":
		d.cancelAction(ctx, conn, req)
	case "sendInputStreamChunk":
		d.input(ctx, conn, req, false)
	case "endInputStream":
		d.input(ctx, conn, req, true)
	case "configure":
		d.configure(ctx, conn, req)
	default:
		if req.Notif {
			d.c.opts.Logger.Debug("ignoring unknown reflection v2 notification", "method", req.Method)
			return
		}
		d.replyError(ctx, conn, req, codeMethodNotFound, "Method not found: "+req.Method, nil)
	}
}

func (d *dispatcher) reply(ctx context.Context, conn *jsonrpc2.Conn, req *jsonrpc2.Request, result any) {
	if req.Notif {
		return
	}
	if err := conn.Reply(ctx, req.ID, result); err != nil {
		d.c.opts.Logger.Debug("reflection v2 reply not sent", "method", req.Method, "id", req.ID.String(), "err", err)
	}
}

func (d *dispatcher) replyError(ctx context.Context, conn *jsonrpc2.Conn, req *jsonrpc2.Request, code int64, msg string, data any) {
	if req.Notif {
		return
	}
	e := &jsonrpc2.Error{Code: code, Message: msg}
	if data != nil {
		if b, err := json.Marshal(data); err == nil {
			raw := json.RawMessage(b)
			e.Data = &raw
		}
	}
	if err := conn.ReplyWithError(ctx, req.ID, e); err != nil {
		d.c.opts.Logger.Debug("reflection v2 reply not sent", "method", req.Method, "id", req.ID.String(), "err", err)
	}
}

// replyStatus answers with an action error: -32000 with the Status as data.
func (d *dispatcher) replyStatus(ctx context.Context, conn *jsonrpc2.Conn, req *jsonrpc2.Request, st status.Status) {
	d.replyError(ctx, conn, req, codeActionError, st.Message, st)
}

// replyBusy refuses a request when every request slot is taken.
func (d *dispatcher) replyBusy(ctx context.Context, conn *jsonrpc2.Conn, req *jsonrpc2.Request) {
	d.replyStatus(ctx, conn, req, status.FromError(status.Errorf(status.ResourceExhausted,
		"too many requests in progress (at most %d)", d.c.opts.MaxConcurrentRuns)))
}

// replyShuttingDown refuses req because the session is draining.
func (d *dispatcher) replyShuttingDown(ctx context.Context, conn *jsonrpc2.Conn, req *jsonrpc2.Request) {
	d.replyStatus(ctx, conn, req, status.FromError(status.Errorf(status.Unavailable, "%v", errShuttingDown)))
}

// params returns the params of the request being handled, as received
// (see package wsrpc). It must be called from Handle.
func (d *dispatcher) params(req *jsonrpc2.Request) json.RawMessage {
	if raw := d.stream.Params(); raw != nil {
		return raw
	}
	if req.Params != nil {
		return *req.Params
	}
	return nil
}

// decodeParams decodes the request's params into v; absent or null params
// leave v unchanged. It reports whether it did; if not, it has answered
// with an invalid-params error. It must be called from Handle.
func (d *dispatcher) decodeParams(ctx context.Context, conn *jsonrpc2.Conn, req *jsonrpc2.Request, v any) bool {
	raw := d.params(req)
	if raw == nil || string(raw) == "null" {
		return true
	}
	if err := json.Unmarshal(raw, v); err != nil {
		d.invalidParams(ctx, conn, req, "invalid params: "+jsonErrorText(err))
		return false
	}
	return true
}

// invalidParams answers req with an invalid-params error.
func (d *dispatcher) invalidParams(ctx context.Context, conn *jsonrpc2.Conn, req *jsonrpc2.Request, msg string) {
	d.c.opts.Logger.Debug("reflection v2 request with invalid params", "method", req.Method, "err", msg)
	d.replyError(ctx, conn, req, codeInvalidParams, msg, nil)
}

func (d *dispatcher) listActions(ctx context.Context, conn *jsonrpc2.Conn, req *jsonrpc2.Request) {
	if req.Notif {
		return
	}
	d.mu.Lock()
	if !d.takeWork() {
		d.mu.Unlock()
		d.replyShuttingDown(ctx, conn, req)
		return
	}
	if !d.c.acquire() {
		d.mu.Unlock()
		d.work.Done()
		d.replyBusy(ctx, conn, req)
		return
	}
	lctx, cancel := context.WithCancel(ctx)
	d.listings[req] = cancel
	d.mu.Unlock()
	// Sources (dynamic action providers) may be slow to list: list off the
	// read loop.
	d.c.runs.Go(func() {
		defer d.work.Done()
		b, err := d.c.lister.list(lctx)
		d.mu.Lock()
		delete(d.listings, req)
		d.mu.Unlock()
		cancel()
		d.c.release()
		if err != nil {
			d.replyStatus(ctx, conn, req, status.FromError(err))
			return
		}
		d.reply(ctx, conn, req, listActionsResult{Actions: b})
	})
}

func (d *dispatcher) listValues(ctx context.Context, conn *jsonrpc2.Conn, req *jsonrpc2.Request) {
	var p listValuesParams
	if !d.decodeParams(ctx, conn, req, &p) {
		return
	}
	if p.Type == nil {
		d.invalidParams(ctx, conn, req, "invalid params: type is required")
		return
	}
	if !slices.Contains(supportedValueTypes, *p.Type) {
		d.invalidParams(ctx, conn, req, fmt.Sprintf(
			"'type' %s is not supported. Only 'defaultModel' and 'middleware' are supported", *p.Type))
		return
	}
	d.reply(ctx, conn, req, listValuesResult{Values: d.c.core.reg.Values(*p.Type)})
}

func (d *dispatcher) cancelAction(ctx context.Context, conn *jsonrpc2.Conn, req *jsonrpc2.Request) {
	var p cancelParams
	if !d.decodeParams(ctx, conn, req, &p) {
		return
	}
	if p.TraceID == nil || *p.TraceID == "" {
		d.invalidParams(ctx, conn, req, "invalid params: traceId is required")
		return
	}
	if !d.c.core.cancel(*p.TraceID) {
		d.invalidParams(ctx, conn, req, "Action not found or already completed")
		return
	}
	d.reply(ctx, conn, req, cancelResult{Message: "Action cancelled"})
}

func (d *dispatcher) configure(ctx context.Context, conn *jsonrpc2.Conn, req *jsonrpc2.Request) {
	var p configureParams
	if !d.decodeParams(ctx, conn, req, &p) {
		return
	}
	d.c.telemetryURL(p.TelemetryServerURL)
	d.reply(ctx, conn, req, nil)
}

// runAction decodes a run request with the decoder v1 uses, and starts the
// run on a tracked goroutine. Its input stream, if any, is opened here, on
// the read loop, so input that follows the request always finds it.
func (d *dispatcher) runAction(ctx context.Context, conn *jsonrpc2.Conn, req *jsonrpc2.Request) {
	if req.Notif {
		d.c.opts.Logger.Debug("ignoring runAction sent as a notification")
		return
	}
	raw := d.params(req)
	if raw == nil {
		raw = json.RawMessage("null") // absent params are an empty request
	}
	var body runBody
	if err := body.decodeJSON(raw, true); err != nil {
		d.invalidParams(ctx, conn, req, "invalid params: "+err.Error())
		return
	}
	rr, err := decodeRunRequest(&body)
	if err != nil {
		msg := err.Error()
		if e, ok := errors.AsType[*status.Error](err); ok {
			msg = e.Message
		}
		d.invalidParams(ctx, conn, req, "invalid params: "+msg)
		return
	}
	rid := idString(req.ID)
	runCtx, cancel := context.WithCancelCause(ctx)
	d.mu.Lock()
	if !d.takeWork() {
		d.mu.Unlock()
		cancel(nil)
		d.replyShuttingDown(ctx, conn, req)
		return
	}
	if _, dup := d.runs[rid]; dup {
		d.mu.Unlock()
		d.work.Done()
		cancel(nil)
		d.replyError(ctx, conn, req, codeInvalidRequest, "Invalid Request: id "+req.ID.String()+" is in use by a running action", nil)
		return
	}
	if !d.c.acquire() {
		d.mu.Unlock()
		d.work.Done()
		cancel(nil)
		d.replyBusy(ctx, conn, req)
		return
	}
	d.runs[rid] = cancel
	d.mu.Unlock()
	run := &v2Run{
		core: d.c.core, conn: conn, rid: rid, stream: body.Stream, logger: d.c.opts.Logger,
		input: d.inputs.open(rid, body.StreamInput, cancel),
	}
	d.c.runs.Go(func() {
		defer d.work.Done()
		answer := run.execute(runCtx, rr)
		cancel(nil)
		d.inputs.close(rid)
		d.mu.Lock()
		delete(d.runs, rid)
		d.mu.Unlock()
		// Free the slot before answering, so a client that saw the answer
		// can start another run.
		d.c.release()
		answer.send(ctx, d, conn, req)
	})
}

// input feeds a chunk to the input stream of the run with the given
// request id (sendInputStreamChunk), or ends that input stream
// (endInputStream, when end is set); see inputStreams.
func (d *dispatcher) input(ctx context.Context, conn *jsonrpc2.Conn, req *jsonrpc2.Request, end bool) {
	var p inputParams
	if !d.decodeParams(ctx, conn, req, &p) {
		return
	}
	if p.RequestID == nil {
		d.invalidParams(ctx, conn, req, "invalid params: requestId is required")
		return
	}
	switch {
	case end:
		d.inputs.end(*p.RequestID)
	case p.Chunk == nil:
		d.inputs.chunk(*p.RequestID, json.RawMessage("null"))
	default:
		d.inputs.chunk(*p.RequestID, p.Chunk)
	}
	d.reply(ctx, conn, req, nil)
}
