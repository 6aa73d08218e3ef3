package reflection

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"github.com/sourcegraph/jsonrpc2"

	"github.com/genkit-runtime/genkit-runtime/status"
)

// v2Run is the run adapter of one runAction request: it runs the request
// on the run core, sending runActionState when the root span starts and a
// streamChunk notification for each chunk when streaming, feeds the run
// the input stream it was given, and turns the run's outcome into the
// request's answer.
type v2Run struct {
	core   *core
	conn   *jsonrpc2.Conn
	rid    string                 // the request id, as notifications carry it
	stream bool                   // send chunks as streamChunk notifications
	input  <-chan json.RawMessage // the run's input stream; nil for none
	logger *slog.Logger
}

// v2Answer is the answer to a runAction request: a result, or an error
// with its JSON-RPC code.
type v2Answer struct {
	result any
	code   int64 // 0 for a result
	msg    string
	data   any
}

// send sends the answer through d.
func (a v2Answer) send(ctx context.Context, d *dispatcher, conn *jsonrpc2.Conn, req *jsonrpc2.Request) {
	if a.code == 0 {
		d.reply(ctx, conn, req, a.result)
		return
	}
	d.replyError(ctx, conn, req, a.code, a.msg, a.data)
}

// execute runs the action and returns the answer to send.
func (r *v2Run) execute(ctx context.Context, rr *runRequest) v2Answer {
	hooks := runHooks{
		started: func(traceID, _ string) {
			if err := r.conn.Notify(ctx, "runActionState", runStateParams{RequestID: r.rid, State: runState{TraceID: traceID}}); err != nil {
				r.logger.Debug("reflection v2 runActionState not sent", "requestId", r.rid, "err", err)
			}
		},
		input: r.input,
	}
	if r.stream {
		hooks.chunk = func(c any) error {
			if err := r.conn.Notify(ctx, "streamChunk", streamChunkParams{RequestID: r.rid, Chunk: c}); err != nil {
				// The connection is gone: the run ends as cancelled.
				return clientGone(err)
			}
			return nil
		}
	}
	out := r.core.run(ctx, rr, hooks)
	if out.err == nil {
		return v2Answer{result: finalOf(out.res, nil)}
	}
	st := wireStatus(out.err)
	if errors.Is(context.Cause(ctx), errInputOverflow) {
		st.Code = status.ResourceExhausted
		st.Message = status.ResourceExhausted.String() + ": " + errInputOverflow.Error() +
			fmt.Sprintf(" (more than %d unread chunks)", maxInputChunks)
	}
	if c, ok := out.rejected(); ok && c == status.NotFound {
		// The action does not exist: the JS runtime's invalid-params answer.
		msg := st.Message
		if e, ok := errors.AsType[*status.Error](out.err); ok {
			msg = e.Message
		}
		return v2Answer{code: codeInvalidParams, msg: msg, data: st}
	}
	return v2Answer{code: codeActionError, msg: st.Message, data: st}
}
