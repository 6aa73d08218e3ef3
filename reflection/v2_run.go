package reflection

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/sourcegraph/jsonrpc2"

	"github.com/genkit-runtime/genkit-runtime/internal/jsontext"
	"github.com/genkit-runtime/genkit-runtime/internal/wsrpc"
	"github.com/genkit-runtime/genkit-runtime/registry"
	"github.com/genkit-runtime/genkit-runtime/status"
)

// v2Run is the run adapter of one runAction request: it runs the request
// on the run core, sending runActionState when the root span starts and a
// streamChunk notification for each chunk when streaming, feeds the run
// the input stream it was given, and answers the request with the run's
// outcome. It writes its frames itself (see v2_fast.go): the notifications
// are queued on the stream, so the action goes on while they are written,
// and the answer follows them.
type v2Run struct {
	core      *core
	d         *dispatcher
	stream    *wsrpc.Stream
	id        jsonrpc2.ID
	idJSON    []byte                 // the id as the answer echoes it
	ridJSON   []byte                 // the requestId of notifications, as JSON
	streaming bool                   // send chunks as streamChunk notifications
	input     <-chan json.RawMessage // the run's input stream; nil for none
	logger    *slog.Logger

	mu    sync.Mutex // guards the fields below
	done  bool       // the answer is being sent: no more chunks
	chunk bytes.Buffer
	enc   *json.Encoder // writes to chunk
	frame []byte
}

// v2Answer is the answer to a runAction request: a result, or an error
// with its JSON-RPC code.
type v2Answer struct {
	res  registry.Result
	code int64 // 0 for a result
	msg  string
	data any
}

// execute runs the action and returns the answer to send.
func (r *v2Run) execute(ctx context.Context, rr *runRequest) v2Answer {
	hooks := runHooks{started: r.started, input: r.input}
	if r.streaming {
		hooks.chunk = r.sendChunk
	}
	out := r.core.run(ctx, rr, hooks)
	if out.err == nil {
		return v2Answer{res: out.res}
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

// started queues the runActionState notification.
func (r *v2Run) started(traceID, _ string) {
	var a [160]byte
	if err := r.stream.QueueFrame(appendStateFrame(a[:0], r.ridJSON, traceID)); err != nil {
		r.logger.Debug("reflection v2 runActionState not sent", "requestId", string(r.ridJSON), "err", err)
	}
}

// sendChunk queues a streamChunk notification. It returns an error when
// the connection is gone, which ends the run as cancelled.
func (r *v2Run) sendChunk(c any) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done {
		// The action kept its send function and called it after its run
		// ended.
		return errChunkAfterRun
	}
	frame, err := r.chunkFrameLocked(c)
	if err != nil {
		return err
	}
	if err := r.stream.QueueFrame(frame); err != nil {
		return clientGone(err)
	}
	return nil
}

// chunkFrameLocked builds the streamChunk frame of c in r.frame. r.mu is
// held.
func (r *v2Run) chunkFrameLocked(c any) ([]byte, error) {
	if r.enc == nil {
		r.enc = json.NewEncoder(&r.chunk)
		r.enc.SetEscapeHTML(false)
	}
	r.chunk.Reset()
	if err := r.enc.Encode(c); err != nil {
		return nil, status.Errorf(status.Internal, "encoding stream chunk: %w", err)
	}
	// Encode ends the value with a newline. A json.RawMessage chunk is
	// written as it is, escapes of <, > and & included, which jsonrpc2's
	// encoding and wsrpc undid.
	chunk := jsontext.UnescapeHTML(bytes.TrimSuffix(r.chunk.Bytes(), []byte{'\n'}))
	r.frame = appendChunkFrame(r.frame[:0], r.ridJSON, chunk)
	return r.frame, nil
}

// send answers the request with a, after the run's notifications, and
// returns once the answer is written.
func (r *v2Run) send(a v2Answer) {
	r.mu.Lock()
	r.done = true
	r.mu.Unlock()
	if a.code != 0 {
		r.d.writeError(r.id, methodRunAction, a.code, a.msg, a.data)
		return
	}
	buf := finalBufs.Get().(*[]byte)
	b := appendResultFrame((*buf)[:0], r.idJSON, a.res)
	if err := r.stream.WriteFrame(b); err != nil {
		r.logger.Debug("reflection v2 reply not sent", "method", methodRunAction, "id", r.id.String(), "err", err)
	}
	// The frame is written (or failed): its buffer can be reused.
	if cap(b) <= maxPooledFinal {
		*buf = b
		finalBufs.Put(buf)
	}
}
