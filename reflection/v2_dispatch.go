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
	stream *wsrpc.Stream // set before the stream is read
	inputs *inputStreams
	// ctx is the connection's: runs the fast path starts derive from it,
	// as those Handle starts derive from jsonrpc2's.
	ctx context.Context

	work sync.WaitGroup // runs and listings in progress

	mu       sync.Mutex // guards draining, runs and listings
	draining bool       // shutting down: no new work is taken
	// runs are the runs in progress by request id, with the cancellation
	// of each; listings the listings in progress, by request.
	runs     map[string]context.CancelCauseFunc
	listings map[*jsonrpc2.Request]context.CancelFunc
}

var _ jsonrpc2.Handler = (*dispatcher)(nil)

// newDispatcher returns the dispatcher of a connection whose context is
// ctx; its stream is set before the stream is read.
func newDispatcher(ctx context.Context, c *Client) *dispatcher {
	return &dispatcher{
		c: c, ctx: ctx, inputs: newInputStreams(c.opts.Logger),
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
	if err := conn.ReplyWithError(ctx, req.ID, rpcError(code, msg, data)); err != nil {
		d.c.opts.Logger.Debug("reflection v2 reply not sent", "method", req.Method, "id", req.ID.String(), "err", err)
	}
}

// rpcError is a JSON-RPC error with data, when not nil, as its JSON
// encoding.
func rpcError(code int64, msg string, data any) *jsonrpc2.Error {
	e := &jsonrpc2.Error{Code: code, Message: msg}
	if data != nil {
		if b, err := json.Marshal(data); err == nil {
			raw := json.RawMessage(b)
			e.Data = &raw
		}
	}
	return e
}

// replyStatus answers with an action error: -32000 with the Status as data.
func (d *dispatcher) replyStatus(ctx context.Context, conn *jsonrpc2.Conn, req *jsonrpc2.Request, st status.Status) {
	d.replyError(ctx, conn, req, codeActionError, st.Message, st)
}

// replyBusy refuses a request when every request slot is taken.
func (d *dispatcher) replyBusy(ctx context.Context, conn *jsonrpc2.Conn, req *jsonrpc2.Request) {
	d.replyStatus(ctx, conn, req, d.busyStatus())
}

// busyStatus is the refusal of a request when every request slot is
// taken.
func (d *dispatcher) busyStatus() status.Status {
	return status.FromError(status.Errorf(status.ResourceExhausted,
		"too many requests in progress (at most %d)", d.c.opts.MaxConcurrentRuns))
}

// replyShuttingDown refuses req because the session is draining.
func (d *dispatcher) replyShuttingDown(ctx context.Context, conn *jsonrpc2.Conn, req *jsonrpc2.Request) {
	d.replyStatus(ctx, conn, req, shuttingDownStatus())
}

// shuttingDownStatus is the refusal of a request while the session drains.
func shuttingDownStatus() status.Status {
	return status.FromError(status.Errorf(status.Unavailable, "%v", errShuttingDown))
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
	d.c.workers.Go(func() {
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
// run (see startRun). It answers the requests the fast path leaves to
// jsonrpc2 (see intercept).
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
	d.startRun(ctx, req.ID, idJSON(req.ID), &body, rr)
}

// startRun starts the run of a decoded runAction request on a tracked
// goroutine, or refuses it. Its input stream, if any, is opened here, on
// the read loop, so input that follows the request always finds it. The
// run writes its notifications and its answer itself (see v2Run). idJSON
// is id as the answer echoes it.
func (d *dispatcher) startRun(ctx context.Context, id jsonrpc2.ID, idJSON []byte, body *runBody, rr *runRequest) {
	rid := idString(id)
	runCtx, cancel := context.WithCancelCause(ctx)
	d.mu.Lock()
	if !d.takeWork() {
		d.mu.Unlock()
		cancel(nil)
		d.writeStatus(id, methodRunAction, shuttingDownStatus())
		return
	}
	if _, dup := d.runs[rid]; dup {
		d.mu.Unlock()
		d.work.Done()
		cancel(nil)
		d.writeError(id, methodRunAction, codeInvalidRequest, "Invalid Request: id "+id.String()+" is in use by a running action", nil)
		return
	}
	if !d.c.acquire() {
		d.mu.Unlock()
		d.work.Done()
		cancel(nil)
		d.writeStatus(id, methodRunAction, d.busyStatus())
		return
	}
	d.runs[rid] = cancel
	d.mu.Unlock()
	run := &v2Run{
		core: d.c.core, d: d, stream: d.stream, id: id, idJSON: idJSON, ridJSON: requestIDJSON(id, idJSON),
		streaming: body.Stream, logger: d.c.opts.Logger,
		input: d.inputs.open(rid, body.StreamInput, cancel),
	}
	d.c.workers.Go(func() {
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
		run.send(answer)
	})
}

// intercept is the stream's Intercept (see v2_fast.go): it takes the
// runAction requests and sendInputStreamChunk messages that are plainly
// written and decode without error, and handles them as Handle would.
// Every other frame, and any that would be refused, goes on to checkFrame
// and jsonrpc2, which answer it as they would without this.
func (d *dispatcher) intercept(data []byte) bool {
	r, ok := parseFastRequest(data)
	if !ok {
		return false
	}
	switch r.method {
	case methodRunAction:
		rr, err := decodeRunRequest(&r.body)
		if err != nil {
			return false
		}
		d.startRun(d.ctx, r.id, r.idJSON, &r.body, rr)
	case methodInputChunk:
		rid, chunk, ok := parseInputParams(r.params)
		if !ok {
			return false
		}
		d.inputs.chunk(rid, chunk)
		if r.idJSON != nil {
			null := json.RawMessage("null")
			d.writeResponse(&jsonrpc2.Response{ID: r.id, Result: &null}, methodInputChunk)
		}
	default:
		return false
	}
	return true
}

// writeResponse writes resp on the stream, with the bytes conn.Reply and
// conn.ReplyWithError write.
func (d *dispatcher) writeResponse(resp *jsonrpc2.Response, method string) {
	if err := d.stream.WriteObject(resp); err != nil {
		d.c.opts.Logger.Debug("reflection v2 reply not sent", "method", method, "id", resp.ID.String(), "err", err)
	}
}

// writeError answers the request id with an error, as replyError does.
func (d *dispatcher) writeError(id jsonrpc2.ID, method string, code int64, msg string, data any) {
	d.writeResponse(&jsonrpc2.Response{ID: id, Error: rpcError(code, msg, data)}, method)
}

// writeStatus answers the request id with an action error, as replyStatus
// does.
func (d *dispatcher) writeStatus(id jsonrpc2.ID, method string, st status.Status) {
	d.writeError(id, method, codeActionError, st.Message, st)
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
