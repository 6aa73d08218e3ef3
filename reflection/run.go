package reflection

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strconv"
	"sync"
	"unicode/utf8"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace"

	"github.com/genkit-runtime/genkit-runtime/internal/jsontext"
	"github.com/genkit-runtime/genkit-runtime/registry"
	"github.com/genkit-runtime/genkit-runtime/status"
)

func otelTracerProvider() trace.TracerProvider { return otel.GetTracerProvider() }

// decodeRunBody reads and decodes a run request body in one pass (see
// decodeJSON). Its errors are decodeBody's.
func (h *Handler) decodeRunBody(w http.ResponseWriter, r *http.Request, v *runBody) error {
	data, err := h.readBody(w, r)
	if err != nil {
		return err
	}
	if !utf8.Valid(data) {
		return errInvalidUTF8
	}
	if err := v.decodeJSON(data, false); err != nil {
		return status.Errorf(status.InvalidArgument, "malformed request body: %s", err.Error())
	}
	return nil
}

// decodeRunRequest checks and converts a decoded body, for both transports.
func decodeRunRequest(body *runBody) (*runRequest, error) {
	// An empty key is a key no action has (404, as the JS runtime
	// answers); only a missing one is a malformed request.
	if body.Key == nil {
		return nil, status.Errorf(status.InvalidArgument, "key is required")
	}
	rr := &runRequest{Key: *body.Key, Input: nullToEmpty(body.Input), Init: nullToEmpty(body.Init), TelemetryLabels: body.TelemetryLabels}
	if c := nullToEmpty(body.Context); len(c) > 0 {
		if err := json.Unmarshal(c, &rr.Context); err != nil {
			return nil, status.Errorf(status.InvalidArgument, "context must be a JSON object")
		}
	}
	return rr, nil
}

// nullToEmpty treats an explicit JSON null like an absent value.
func nullToEmpty(raw json.RawMessage) json.RawMessage {
	if string(raw) == "null" {
		return nil
	}
	return raw
}

// parseStream interprets the ?stream= query parameter: absent or "false"
// means no streaming, "true" streaming, anything else is an error.
func parseStream(r *http.Request) (bool, error) {
	q := r.URL.Query()
	if !q.Has("stream") {
		return r.Header.Get("Accept") == "text/event-stream", nil
	}
	b, err := strconv.ParseBool(q.Get("stream"))
	if err != nil {
		return false, status.Errorf(status.InvalidArgument, "stream must be true or false, not %q", q.Get("stream"))
	}
	return b, nil
}

func (h *Handler) runAction(w http.ResponseWriter, r *http.Request) {
	stream, err := parseStream(r)
	if err != nil {
		h.writeStatus(w, r, http.StatusBadRequest, err)
		return
	}
	if stream && !canFlush(w) {
		h.writeStatus(w, r, http.StatusInternalServerError,
			status.Errorf(status.Internal, "streaming needs a ResponseWriter that can flush"))
		return
	}
	var body runBody
	if err := h.decodeRunBody(w, r, &body); err != nil {
		h.writeStatus(w, r, httpStatusOf(err), err)
		return
	}
	rr, err := decodeRunRequest(&body)
	if err != nil {
		h.writeStatus(w, r, http.StatusBadRequest, err)
		return
	}
	rw := newRunWriter(w, stream)
	defer rw.close()
	hooks := runHooks{started: rw.start}
	if stream {
		hooks.chunk = rw.chunk
	}
	out := h.core.run(r.Context(), rr, hooks)
	if c, ok := out.rejected(); ok && !rw.headersSent() {
		// No action to run because of the request: a request-level error,
		// 404 for an unknown key, 400 for a malformed one.
		h.writeStatus(w, r, c.HTTPStatus(), out.err)
		return
	}
	if werr := rw.finalRun(out.res, out.err); werr != nil {
		h.opts.Logger.Debug("writing run result failed", "key", rr.Key, "err", werr)
	}
}

// runWriter writes one v1 run: early headers when the root span starts,
// NDJSON chunks, and the final object with no trailing newline.
//
// Chunks are not written by the action's goroutine: chunk encodes a line
// and queues it, and a sender goroutine of the writer's own writes what is
// queued and flushes it. The sender starts when there is something to send
// and stops when the queue is empty, so a chunk is sent at once when the
// connection keeps up, and chunks queued while a write is under way (the
// client reads slower than the action writes, or the cores are busy) leave
// together in the next write. The queue is bounded: beyond maxQueued bytes,
// chunk waits for the sender.
type runWriter struct {
	w      http.ResponseWriter
	rc     *http.ResponseController
	stream bool

	// sender is the goroutine that sends the headers start wrote and the
	// queued lines; close waits for it.
	sender sync.WaitGroup

	mu        sync.Mutex // guards every field below
	drained   sync.Cond  // L is &mu; broadcast when the sender takes the queue or finishes a write
	sent      bool       // headers written
	unflushed bool       // headers written by start and not yet sent
	sending   bool       // the sender goroutine is running
	writing   bool       // the sender is using w without holding mu
	done      bool       // the final object is being written, or the handler has returned
	err       error      // first write error; later writes are skipped
	queue     []byte     // lines not yet taken by the sender
	spare     []byte     // the buffer of the previous write, for the next queue
	// line and enc encode chunks; enc writes to line.
	line bytes.Buffer
	enc  *json.Encoder
}

// maxQueued bounds the bytes of chunk lines waiting for the sender.
const maxQueued = 64 << 10

func newRunWriter(w http.ResponseWriter, stream bool) *runWriter {
	rw := &runWriter{w: w, rc: http.NewResponseController(w), stream: stream}
	rw.drained.L = &rw.mu
	return rw
}

func (rw *runWriter) contentType() string {
	if rw.stream {
		return contentTypeStream
	}
	return contentTypeJSON
}

// start writes the headers with the trace and span IDs and has them sent
// at once, so the client learns the trace ID while the action body runs, as
// the JS runtime does (flushHeaders in its onTraceStart). The flush is made
// by the sender: the action starts without waiting for the write, and an
// action that ends before the flush is made sends its result in the same
// write as the headers. Both modes are chunked, as in JS.
func (rw *runWriter) start(traceID, spanID string) {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	if rw.sent || rw.done {
		return
	}
	hd := rw.w.Header()
	hd.Set(HeaderTraceID, traceID)
	hd.Set(HeaderSpanID, spanID)
	hd.Set("Content-Type", rw.contentType())
	hd.Set("Transfer-Encoding", "chunked")
	rw.w.WriteHeader(http.StatusOK)
	rw.sent = true
	rw.unflushed = true
	rw.kickLocked()
}

// kickLocked starts the sender unless it is running. rw.mu is held.
func (rw *runWriter) kickLocked() {
	if !rw.sending {
		rw.sending = true
		rw.sender.Go(rw.send)
	}
}

// send is the sender goroutine: it writes and flushes the queued lines,
// taking the whole queue each time, and sends headers written by start
// that nothing has sent yet, until there is nothing left to send. Lines
// taken once the final object is being written are written without a
// flush: they leave with the final object.
func (rw *runWriter) send() {
	rw.mu.Lock()
	defer func() {
		rw.sending = false
		rw.drained.Broadcast()
		rw.mu.Unlock()
	}()
	for rw.err == nil {
		switch {
		case len(rw.queue) > 0:
			lines := rw.queue
			rw.queue = rw.spare[:0]
			flush := !rw.done
			rw.unflushed = false
			rw.writing = true
			rw.drained.Broadcast()
			rw.mu.Unlock()
			_, err := rw.w.Write(lines)
			if err == nil && flush {
				err = rw.rc.Flush()
			}
			rw.mu.Lock()
			rw.writing = false
			rw.spare = lines[:0]
			if err != nil {
				rw.err = err
			}
			rw.drained.Broadcast()
		case rw.unflushed && !rw.done:
			rw.unflushed = false
			// A writer that cannot flush (only possible when not
			// streaming, see canFlush) sends the headers with the body
			// instead.
			if err := rw.rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
				rw.err = fmt.Errorf("flushing headers: %w", err)
			}
		default:
			return
		}
	}
}

// close marks the writer finished and waits for the sender, if one was
// started; after it w is not used.
func (rw *runWriter) close() {
	rw.mu.Lock()
	rw.done = true
	rw.mu.Unlock()
	rw.sender.Wait()
}

// canFlush reports whether w, or a writer it wraps, can flush, the way
// http.ResponseController finds out.
func canFlush(w http.ResponseWriter) bool {
	for {
		switch t := w.(type) {
		case interface{ FlushError() error }, http.Flusher:
			return true
		case interface{ Unwrap() http.ResponseWriter }:
			w = t.Unwrap()
		default:
			return false
		}
	}
}

func (rw *runWriter) headersSent() bool {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	return rw.sent
}

// chunk encodes one NDJSON line and queues it for the sender. It returns an
// error when the client has gone away, which ends a streaming action early.
func (rw *runWriter) chunk(c any) error {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	if rw.done {
		// The action kept send and called it after its run ended: the
		// final object is written, or the handler has returned.
		return errChunkAfterRun
	}
	if rw.enc == nil {
		rw.enc = json.NewEncoder(&rw.line)
		rw.enc.SetEscapeHTML(false)
	}
	rw.line.Reset()
	// Encode ends the line with the newline NDJSON wants.
	if err := rw.enc.Encode(c); err != nil {
		return status.Errorf(status.Internal, "encoding stream chunk: %w", err)
	}
	// The sender runs while the queue holds anything, so a full queue
	// empties.
	for len(rw.queue) >= maxQueued && rw.err == nil && !rw.done {
		rw.drained.Wait()
	}
	if rw.err != nil {
		return clientGone(rw.err)
	}
	if rw.done {
		return errChunkAfterRun
	}
	if !rw.sent {
		rw.w.Header().Set("Content-Type", rw.contentType())
		rw.w.WriteHeader(http.StatusOK)
		rw.sent = true
	}
	rw.queue = append(rw.queue, rw.line.Bytes()...)
	rw.kickLocked()
	return nil
}

// errChunkAfterRun refuses a chunk an action sends after its run has ended
// (it kept the stream function): the final object is written, or being
// written.
var errChunkAfterRun = status.Errorf(status.FailedPrecondition, "stream chunk sent after the run ended")

// clientGone is the error a stream chunk returns when it cannot be written:
// the client has gone away, which cancels the run exactly as the end of the
// request context does, so the run's spans end as cancelled rather than
// with a network error.
func clientGone(err error) error {
	return fmt.Errorf("client went away: %w (%w)", context.Canceled, err)
}

// finalRun writes the final object of a run's outcome, with no trailing
// newline.
func (rw *runWriter) finalRun(res registry.Result, runErr error) error {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	buf := finalBufs.Get().(*[]byte)
	b, err := appendFinal((*buf)[:0], res, runErr)
	if err != nil {
		st := wireStatus(status.Errorf(status.Internal, "encoding result: %v", err))
		b, _ = json.Marshal(finalResult{Error: &st})
	}
	err = rw.writeFinalLocked(b)
	// The response writer has copied b (or failed): it can be reused.
	if cap(b) <= maxPooledFinal {
		*buf = b
		finalBufs.Put(buf)
	}
	return err
}

// finalBufs holds buffers for final objects; those larger than
// maxPooledFinal are left to the garbage collector.
var finalBufs = sync.Pool{New: func() any { return new([]byte) }}

const maxPooledFinal = 64 << 10

// final writes the final object f, with no trailing newline.
func (rw *runWriter) final(f finalResult) error {
	b, err := jsontext.Marshal(f)
	if err != nil {
		st := wireStatus(status.Errorf(status.Internal, "encoding result: %v", err))
		b, _ = json.Marshal(finalResult{Error: &st})
	}
	rw.mu.Lock()
	defer rw.mu.Unlock()
	return rw.writeFinalLocked(b)
}

// writeFinalLocked writes the final line b once the queued lines are
// written. rw.mu is held.
func (rw *runWriter) writeFinalLocked(b []byte) error {
	rw.done = true
	for rw.err == nil && (rw.writing || len(rw.queue) > 0) {
		rw.drained.Wait()
	}
	if rw.err != nil {
		return rw.err
	}
	if !rw.sent {
		rw.w.Header().Set("Content-Type", rw.contentType())
		rw.w.WriteHeader(http.StatusOK)
		rw.sent = true
	}
	_, err := rw.w.Write(b)
	return err
}

// appendFinal appends the final object of a run to dst: the bytes
// jsontext.Marshal(finalOf(res, err)) gives, built directly on success since the
// output is already compact JSON.
func appendFinal(dst []byte, res registry.Result, err error) ([]byte, error) {
	if err != nil {
		b, err := jsontext.Marshal(finalOf(res, err))
		return append(dst, b...), err
	}
	if need := len(dst) + len(res.Output) + len(res.TraceID) + 40; cap(dst) < need {
		dst = append(make([]byte, 0, need), dst...)
	}
	dst = append(dst, '{')
	if len(res.Output) > 0 {
		dst = append(dst, `"result":`...)
		dst = append(dst, res.Output...)
		dst = append(dst, ',')
	}
	dst = append(dst, `"telemetry":{"traceId":`...)
	dst = strconv.AppendQuote(dst, res.TraceID)
	return append(dst, "}}"...), nil
}

// jsonErrorText describes a JSON decoding error for a client.
func jsonErrorText(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("%v (at byte %d)", se, se.Offset)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if te.Field != "" {
			return fmt.Sprintf("field %q must be %s, not %s", te.Field, jsontext.Described(jsonKindOfGo(te.Type.Kind())), te.Value)
		}
		return fmt.Sprintf("want a JSON object, not %s", te.Value)
	}
	return err.Error()
}

// jsonKindOfGo names the JSON type a Go value of kind k is decoded from,
// for a message; a pointer is a string's, the only pointers decoded here.
func jsonKindOfGo(k reflect.Kind) string {
	switch k {
	case reflect.String, reflect.Pointer:
		return "string"
	case reflect.Map, reflect.Struct:
		return "object"
	case reflect.Slice, reflect.Array:
		return "array"
	case reflect.Bool:
		return "boolean"
	}
	return "number"
}

// formatBytes renders n bytes for a message.
func formatBytes(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return strconv.FormatInt(n>>20, 10) + " MiB"
	case n >= 1<<10 && n%(1<<10) == 0:
		return strconv.FormatInt(n>>10, 10) + " KiB"
	}
	return strconv.FormatInt(n, 10) + " bytes"
}
