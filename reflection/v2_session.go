package reflection

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/sourcegraph/jsonrpc2"

	"github.com/genkit-runtime/genkit-runtime/registry"
	"github.com/genkit-runtime/genkit-runtime/status"
)

// Bounds on buffered bidirectional input, per connection.
const (
	// maxInputChunks is how many input chunks a run may have buffered and
	// not yet consumed; one more cancels the run with RESOURCE_EXHAUSTED.
	maxInputChunks = 1024
	// maxPendingChunks and maxPendingRuns bound the input that arrives for
	// a request id with no run yet; more is dropped. maxPendingChunks must
	// not exceed maxInputChunks.
	maxPendingChunks = 256
	maxPendingRuns   = 64
	// maxFinished is how many finished request ids are remembered, so that
	// input arriving after its run is dropped rather than buffered.
	maxFinished = 256
)

// Wire types of Reflection API v2 (genkit-tools/common/src/types/reflection.ts).
type (
	registerParams struct {
		ID                       string   `json:"id"`
		PID                      int      `json:"pid"`
		Name                     string   `json:"name,omitempty"`
		GenkitVersion            string   `json:"genkitVersion,omitempty"`
		ReflectionAPISpecVersion int      `json:"reflectionApiSpecVersion"`
		Envs                     []string `json:"envs"`
	}
	registerResult struct {
		TelemetryServerURL string `json:"telemetryServerUrl"`
	}
	configureParams struct {
		TelemetryServerURL string `json:"telemetryServerUrl"`
	}
	listActionsResult struct {
		Actions json.RawMessage `json:"actions"`
	}
	listValuesParams struct {
		Type *string `json:"type"`
	}
	listValuesResult struct {
		Values map[string]any `json:"values"`
	}
	// v2RunParams are the params of runAction: the v1 body plus the
	// streaming switches. runtimeId, which the CLI spreads in, is ignored.
	v2RunParams struct {
		v1RunRequest
		Stream      bool `json:"stream"`
		StreamInput bool `json:"streamInput"`
	}
	runStateParams struct {
		RequestID string   `json:"requestId"`
		State     runState `json:"state"`
	}
	runState struct {
		TraceID string `json:"traceId"`
	}
	streamChunkParams struct {
		RequestID string `json:"requestId"`
		Chunk     any    `json:"chunk"`
	}
	cancelParams struct {
		TraceID *string `json:"traceId"`
	}
	cancelResult struct {
		Message string `json:"message"`
	}
	inputChunkParams struct {
		RequestID *string         `json:"requestId"`
		Chunk     json.RawMessage `json:"chunk"`
	}
	endInputParams struct {
		RequestID *string `json:"requestId"`
	}
)

// errInputOverflow is the cause of a run cancelled because its input
// arrived faster than it consumed it.
var errInputOverflow = errors.New("input stream buffer is full")

// session serves one connection to the manager.
type session struct {
	c      *Client
	stream *wsStream // set before the first message is handled

	mu       sync.Mutex // guards draining, active, pending, pendingChunks and finished
	draining bool       // shutting down: no new work is taken
	work     sync.WaitGroup
	// listCtx is the context of listings; cancelLists ends them when
	// shutdown has waited its grace period.
	listCtx       context.Context
	cancelLists   context.CancelFunc
	active        map[string]*activeRun
	pending       map[string]*pendingInput
	pendingChunks int
	finished      []string // recently finished request ids, oldest first
}

// activeRun is a run in progress, keyed by its request id.
type activeRun struct {
	input  chan json.RawMessage // nil when the run has no input stream
	ended  bool                 // input closed, or no more accepted
	cancel context.CancelCauseFunc
}

// pendingInput is input for a request id that has no run yet.
type pendingInput struct {
	chunks []json.RawMessage
	ended  bool
}

var _ jsonrpc2.Handler = (*session)(nil)

// serve registers and serves the connection until it is lost or ctx is
// done, and returns why it ended. When ctx ends, the runs in progress get
// ShutdownGrace to finish and are then cancelled, each answered before the
// connection closes; when the connection is lost, they are cancelled and
// their results dropped.
func (s *session) serve(ctx context.Context, ws *websocket.Conn) error {
	o := &s.c.opts
	stream := newWSStream(ws, o.WriteTimeout, o.PongWait, o.MaxMessageBytes)
	s.stream = stream
	// The connection's context, from which runs derive, is cancelled only
	// after the connection is closed, so that shutdown can wait for runs
	// and answer them.
	cctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.listCtx, s.cancelLists = context.WithCancel(cctx)
	defer s.cancelLists()
	conn := jsonrpc2.NewConn(cctx, stream, s, jsonrpc2.SetLogger(printfLogger{o.Logger}))
	var wg sync.WaitGroup
	if o.PingInterval > 0 {
		wg.Go(func() { s.heartbeat(cctx, conn, stream) })
	}
	wg.Go(func() { s.register(cctx, conn) })
	select {
	case <-ctx.Done():
		s.drain(conn)
	case <-conn.DisconnectNotify():
	}
	conn.Close()
	cancel()
	wg.Wait()
	<-stream.readerDone
	return stream.readErr
}

// errShuttingDown is the cause of runs cancelled at the end of the
// shutdown grace period.
var errShuttingDown = errors.New("the runtime is shutting down")

// drain stops taking work and waits for the work in progress: runs and
// listings get ShutdownGrace, then are cancelled and waited for again, at most
// FlushTimeout plus a second, so that each is answered. It returns early if
// the connection is lost.
func (s *session) drain(conn *jsonrpc2.Conn) {
	o := &s.c.opts
	s.mu.Lock()
	s.draining = true
	n := len(s.active)
	s.mu.Unlock()
	done := make(chan struct{})
	s.c.runs.Go(func() {
		s.work.Wait()
		close(done)
	})
	wait := func(d time.Duration) bool {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-done:
			return true
		case <-conn.DisconnectNotify():
			return true
		case <-t.C:
			return false
		}
	}
	if n > 0 {
		o.Logger.Info("waiting for runs in progress", "runs", n, "grace", o.ShutdownGrace)
	}
	if o.ShutdownGrace > 0 && wait(o.ShutdownGrace) {
		return
	}
	s.mu.Lock()
	for _, ar := range s.active {
		ar.cancel(errShuttingDown)
	}
	s.mu.Unlock()
	s.cancelLists()
	if !wait(o.FlushTimeout + time.Second) {
		o.Logger.Warn("runs still in progress at shutdown; their answers are lost")
	}
}

// takeWork counts one more piece of work, which the caller ends with
// s.work.Done, and reports true, unless the session is shutting down.
// s.mu is held.
func (s *session) takeWork() bool {
	if s.draining {
		return false
	}
	s.work.Add(1)
	return true
}

// replyShuttingDown refuses req because the session is shutting down.
func (s *session) replyShuttingDown(ctx context.Context, conn *jsonrpc2.Conn, req *jsonrpc2.Request) {
	s.replyStatus(ctx, conn, req, status.FromError(status.Errorf(status.Unavailable, "%v", errShuttingDown)))
}

// register sends the register request and passes the telemetry URL of its
// result on.
func (s *session) register(ctx context.Context, conn *jsonrpc2.Conn) {
	o := &s.c.opts
	params := registerParams{
		ID: o.RuntimeID, PID: o.PID, Name: o.Name, GenkitVersion: o.GenkitVersion,
		ReflectionAPISpecVersion: SpecVersion, Envs: o.Envs,
	}
	ctx, cancel := context.WithTimeout(ctx, o.RegisterTimeout)
	defer cancel()
	var res registerResult
	// The CLI answers only requests with a truthy id, so never 0: ids are
	// strings, "1" first, as the JS and Go runtimes send.
	err := conn.Call(ctx, "register", params, &res, jsonrpc2.PickID(jsonrpc2.ID{Str: "1", IsString: true}))
	switch {
	case err == nil:
		o.Logger.Info("registered with the reflection v2 manager", "server", o.ServerURL, "id", o.RuntimeID)
		s.telemetryURL(res.TelemetryServerURL)
	case errors.Is(err, jsonrpc2.ErrClosed) || errors.Is(err, context.Canceled):
	case errors.Is(err, context.DeadlineExceeded):
		o.Logger.Warn("the reflection v2 manager did not answer register", "server", o.ServerURL, "timeout", o.RegisterTimeout)
	default:
		o.Logger.Warn("the reflection v2 manager refused register", "server", o.ServerURL, "err", err)
	}
}

func (s *session) telemetryURL(u string) {
	if u != "" && s.c.opts.OnTelemetryURL != nil {
		s.c.opts.OnTelemetryURL(u)
	}
}

// heartbeat pings the manager every PingInterval. A ping that cannot be
// written ends the connection; a pong that does not come is noticed by the
// read deadline.
func (s *session) heartbeat(ctx context.Context, conn *jsonrpc2.Conn, stream *wsStream) {
	t := time.NewTicker(s.c.opts.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := stream.ping(); err != nil {
				s.c.opts.Logger.Debug("reflection v2 ping failed", "err", err)
				conn.Close()
				return
			}
		}
	}
}

// Handle implements jsonrpc2.Handler. It runs on the connection's read
// loop, so it does only quick work itself; runs and listings go to tracked
// goroutines.
func (s *session) Handle(ctx context.Context, conn *jsonrpc2.Conn, req *jsonrpc2.Request) {
	switch req.Method {
	case "listActions":
		s.listActions(ctx, conn, req)
	case "listValues":
		s.listValues(ctx, conn, req)
	case "runAction":
		s.runAction(ctx, conn, req)
	case "cancelAction":
		s.cancelAction(ctx, conn, req)
	case "sendInputStreamChunk":
		s.inputChunk(ctx, conn, req)
	case "endInputStream":
		s.endInput(ctx, conn, req)
	case "configure":
		s.configure(ctx, conn, req)
	default:
		if req.Notif {
			s.c.opts.Logger.Debug("ignoring unknown reflection v2 notification", "method", req.Method)
			return
		}
		s.replyError(ctx, conn, req, codeMethodNotFound, "Method not found: "+req.Method, nil)
	}
}

func (s *session) reply(ctx context.Context, conn *jsonrpc2.Conn, req *jsonrpc2.Request, result any) {
	if req.Notif {
		return
	}
	if err := conn.Reply(ctx, req.ID, result); err != nil {
		s.c.opts.Logger.Debug("reflection v2 reply not sent", "method", req.Method, "id", req.ID.String(), "err", err)
	}
}

func (s *session) replyError(ctx context.Context, conn *jsonrpc2.Conn, req *jsonrpc2.Request, code int64, msg string, data any) {
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
		s.c.opts.Logger.Debug("reflection v2 reply not sent", "method", req.Method, "id", req.ID.String(), "err", err)
	}
}

// replyStatus answers with an action error: -32000 with the Status as data.
func (s *session) replyStatus(ctx context.Context, conn *jsonrpc2.Conn, req *jsonrpc2.Request, st status.Status) {
	s.replyError(ctx, conn, req, codeActionError, st.Message, st)
}

// replyBusy refuses a request when every request slot is taken.
func (s *session) replyBusy(ctx context.Context, conn *jsonrpc2.Conn, req *jsonrpc2.Request) {
	s.replyStatus(ctx, conn, req, status.FromError(status.Errorf(status.ResourceExhausted,
		"too many requests in progress (at most %d)", s.c.opts.MaxConcurrentRuns)))
}

// decodeParams decodes the request's params into v; absent or null params
// leave v unchanged. Its error is the message of an invalid-params reply.
// It must be called from Handle: it decodes the params as received, with
// their members in order, not jsonrpc2's re-encoding.
func (s *session) decodeParams(req *jsonrpc2.Request, v any) error {
	raw := s.stream.lastParams
	if raw == nil && req.Params != nil {
		raw = *req.Params
	}
	if raw == nil || string(raw) == "null" {
		return nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return errors.New("invalid params: " + jsonErrorText(err))
	}
	return nil
}

func (s *session) listActions(ctx context.Context, conn *jsonrpc2.Conn, req *jsonrpc2.Request) {
	if req.Notif {
		return
	}
	s.mu.Lock()
	took := s.takeWork()
	s.mu.Unlock()
	if !took {
		s.replyShuttingDown(ctx, conn, req)
		return
	}
	if !s.c.acquire() {
		s.work.Done()
		s.replyBusy(ctx, conn, req)
		return
	}
	// Sources (dynamic action providers) may be slow to list: list off the
	// read loop.
	s.c.runs.Go(func() {
		defer s.work.Done()
		b, err := s.c.lister.list(s.listCtx)
		s.c.release()
		if err != nil {
			s.replyStatus(ctx, conn, req, status.FromError(err))
			return
		}
		s.reply(ctx, conn, req, listActionsResult{Actions: b})
	})
}

func (s *session) listValues(ctx context.Context, conn *jsonrpc2.Conn, req *jsonrpc2.Request) {
	var p listValuesParams
	if err := s.decodeParams(req, &p); err != nil {
		s.replyError(ctx, conn, req, codeInvalidParams, err.Error(), nil)
		return
	}
	if p.Type == nil {
		s.replyError(ctx, conn, req, codeInvalidParams, "invalid params: type is required", nil)
		return
	}
	if !slices.Contains(supportedValueTypes, *p.Type) {
		s.replyError(ctx, conn, req, codeInvalidParams, fmt.Sprintf(
			"'type' %s is not supported. Only 'defaultModel' and 'middleware' are supported", *p.Type), nil)
		return
	}
	s.reply(ctx, conn, req, listValuesResult{Values: s.c.core.reg.Values(*p.Type)})
}

func (s *session) cancelAction(ctx context.Context, conn *jsonrpc2.Conn, req *jsonrpc2.Request) {
	var p cancelParams
	if err := s.decodeParams(req, &p); err != nil {
		s.replyError(ctx, conn, req, codeInvalidParams, err.Error(), nil)
		return
	}
	if p.TraceID == nil || *p.TraceID == "" {
		s.replyError(ctx, conn, req, codeInvalidParams, "invalid params: traceId is required", nil)
		return
	}
	if !s.c.core.cancel(*p.TraceID) {
		s.replyError(ctx, conn, req, codeInvalidParams, "Action not found or already completed", nil)
		return
	}
	s.reply(ctx, conn, req, cancelResult{Message: "Action cancelled"})
}

func (s *session) configure(ctx context.Context, conn *jsonrpc2.Conn, req *jsonrpc2.Request) {
	var p configureParams
	if err := s.decodeParams(req, &p); err != nil {
		s.replyError(ctx, conn, req, codeInvalidParams, err.Error(), nil)
		return
	}
	s.telemetryURL(p.TelemetryServerURL)
	s.reply(ctx, conn, req, nil)
}

// runAction starts a run on a tracked goroutine. Its input stream, if any,
// is registered here, on the read loop, so input that follows the request
// always finds it.
func (s *session) runAction(ctx context.Context, conn *jsonrpc2.Conn, req *jsonrpc2.Request) {
	log := s.c.opts.Logger
	if req.Notif {
		log.Debug("ignoring runAction sent as a notification")
		return
	}
	var p v2RunParams
	if err := s.decodeParams(req, &p); err != nil {
		s.replyError(ctx, conn, req, codeInvalidParams, err.Error(), nil)
		return
	}
	rr, err := decodeRunRequest(&p.v1RunRequest)
	if err != nil {
		msg := err.Error()
		if e, ok := errors.AsType[*status.Error](err); ok {
			msg = e.Message
		}
		s.replyError(ctx, conn, req, codeInvalidParams, "invalid params: "+msg, nil)
		return
	}
	rid := idString(req.ID)
	runCtx, cancel := context.WithCancelCause(ctx)
	ar := &activeRun{cancel: cancel}
	if p.StreamInput {
		ar.input = make(chan json.RawMessage, maxInputChunks)
	}
	s.mu.Lock()
	if !s.takeWork() {
		s.mu.Unlock()
		cancel(nil)
		s.replyShuttingDown(ctx, conn, req)
		return
	}
	if _, dup := s.active[rid]; dup {
		s.mu.Unlock()
		s.work.Done()
		cancel(nil)
		s.replyError(ctx, conn, req, codeInvalidRequest, "Invalid Request: id "+req.ID.String()+" is in use by a running action", nil)
		return
	}
	if !s.c.acquire() {
		s.mu.Unlock()
		s.work.Done()
		cancel(nil)
		s.replyBusy(ctx, conn, req)
		return
	}
	s.active[rid] = ar
	if pi := s.pending[rid]; pi != nil {
		delete(s.pending, rid)
		s.pendingChunks -= len(pi.chunks)
		if ar.input != nil {
			for _, c := range pi.chunks {
				ar.input <- c // cannot block: maxPendingChunks <= maxInputChunks
			}
			if pi.ended {
				close(ar.input)
				ar.ended = true
			}
		}
	}
	s.mu.Unlock()
	s.c.runs.Go(func() {
		defer s.work.Done()
		reply := s.execute(runCtx, conn, rid, rr, p.Stream, ar)
		cancel(nil)
		s.finish(rid)
		// Free the slot before answering, so a client that saw the answer
		// can start another run.
		s.c.release()
		reply(ctx, conn, req)
	})
}

// replyFunc sends the answer to a request.
type replyFunc func(ctx context.Context, conn *jsonrpc2.Conn, req *jsonrpc2.Request)

// execute runs the action, sending runActionState when the root span
// starts and streamChunk for each chunk when streaming, and returns how to
// answer: with the result or the error.
func (s *session) execute(ctx context.Context, conn *jsonrpc2.Conn, rid string, rr *runRequest, stream bool, ar *activeRun) replyFunc {
	log := s.c.opts.Logger
	hooks := runHooks{
		started: func(traceID, _ string) {
			if err := conn.Notify(ctx, "runActionState", runStateParams{RequestID: rid, State: runState{TraceID: traceID}}); err != nil {
				log.Debug("reflection v2 runActionState not sent", "requestId", rid, "err", err)
			}
		},
	}
	if stream {
		hooks.chunk = func(c any) error {
			if err := conn.Notify(ctx, "streamChunk", streamChunkParams{RequestID: rid, Chunk: c}); err != nil {
				// The connection is gone: the run ends as cancelled.
				return clientGone(err)
			}
			return nil
		}
	}
	if ar.input != nil {
		hooks.input = ar.input
	}
	res, err := s.c.core.run(ctx, rr, hooks)
	if err == nil {
		return func(ctx context.Context, conn *jsonrpc2.Conn, req *jsonrpc2.Request) {
			s.reply(ctx, conn, req, finalOf(res, nil))
		}
	}
	st := wireStatus(err)
	if errors.Is(context.Cause(ctx), errInputOverflow) {
		st.Code = status.ResourceExhausted
		st.Message = status.ResourceExhausted.String() + ": " + errInputOverflow.Error() +
			fmt.Sprintf(" (more than %d unread chunks)", maxInputChunks)
	}
	if registry.IsNotFound(err) && registry.TraceIDOf(err) == "" {
		// The action does not exist: the JS runtime's invalid-params answer.
		msg := st.Message
		if e, ok := errors.AsType[*status.Error](err); ok {
			msg = e.Message
		}
		return func(ctx context.Context, conn *jsonrpc2.Conn, req *jsonrpc2.Request) {
			s.replyError(ctx, conn, req, codeInvalidParams, msg, st)
		}
	}
	return func(ctx context.Context, conn *jsonrpc2.Conn, req *jsonrpc2.Request) {
		s.replyStatus(ctx, conn, req, st)
	}
}

// finish forgets a finished run, remembering its id for a while so late
// input for it is dropped.
func (s *session) finish(rid string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.active, rid)
	if len(s.finished) == maxFinished {
		s.finished = slices.Delete(s.finished, 0, 1)
	}
	s.finished = append(s.finished, rid)
}

// inputChunk feeds a chunk to the input stream of the run with the given
// request id, or buffers it until that run starts.
func (s *session) inputChunk(ctx context.Context, conn *jsonrpc2.Conn, req *jsonrpc2.Request) {
	log := s.c.opts.Logger
	var p inputChunkParams
	if err := s.decodeParams(req, &p); err != nil {
		log.Debug("bad sendInputStreamChunk", "err", err)
		s.replyError(ctx, conn, req, codeInvalidParams, err.Error(), nil)
		return
	}
	if p.RequestID == nil {
		log.Debug("sendInputStreamChunk without a requestId")
		s.replyError(ctx, conn, req, codeInvalidParams, "invalid params: requestId is required", nil)
		return
	}
	rid, chunk := *p.RequestID, p.Chunk
	if chunk == nil {
		chunk = json.RawMessage("null")
	}
	s.mu.Lock()
	switch ar := s.active[rid]; {
	case ar != nil:
		if ar.input == nil || ar.ended {
			log.Debug("input chunk for a run that takes no more input; dropped", "requestId", rid)
			break
		}
		select {
		case ar.input <- chunk:
		default:
			ar.ended = true
			ar.cancel(errInputOverflow)
			log.Warn("input stream overflow; cancelling the run", "requestId", rid, "limit", maxInputChunks)
		}
	case slices.Contains(s.finished, rid):
		log.Debug("input chunk for a finished run; dropped", "requestId", rid)
	default:
		pi := s.pendingFor(rid)
		switch {
		case pi == nil || s.pendingChunks >= maxPendingChunks:
			log.Warn("too much input for runs not started; chunk dropped", "requestId", rid)
		case pi.ended:
			log.Debug("input chunk after endInputStream; dropped", "requestId", rid)
		default:
			pi.chunks = append(pi.chunks, chunk)
			s.pendingChunks++
		}
	}
	s.mu.Unlock()
	s.reply(ctx, conn, req, nil)
}

// endInput closes the input stream of the run with the given request id.
func (s *session) endInput(ctx context.Context, conn *jsonrpc2.Conn, req *jsonrpc2.Request) {
	log := s.c.opts.Logger
	var p endInputParams
	if err := s.decodeParams(req, &p); err != nil {
		s.replyError(ctx, conn, req, codeInvalidParams, err.Error(), nil)
		return
	}
	if p.RequestID == nil {
		s.replyError(ctx, conn, req, codeInvalidParams, "invalid params: requestId is required", nil)
		return
	}
	rid := *p.RequestID
	s.mu.Lock()
	switch ar := s.active[rid]; {
	case ar != nil:
		if ar.input != nil && !ar.ended {
			close(ar.input)
			ar.ended = true
		}
	case slices.Contains(s.finished, rid):
	default:
		if pi := s.pendingFor(rid); pi != nil {
			pi.ended = true
		} else {
			log.Warn("too much input for runs not started; end of input dropped", "requestId", rid)
		}
	}
	s.mu.Unlock()
	s.reply(ctx, conn, req, nil)
}

// pendingFor returns the pending input of rid, creating it if there is
// room. s.mu must be held.
func (s *session) pendingFor(rid string) *pendingInput {
	if pi := s.pending[rid]; pi != nil {
		return pi
	}
	if len(s.pending) >= maxPendingRuns {
		return nil
	}
	pi := &pendingInput{}
	s.pending[rid] = pi
	return pi
}

// printfLogger logs jsonrpc2's messages at debug level.
type printfLogger struct{ l *slog.Logger }

func (p printfLogger) Printf(format string, v ...any) {
	p.l.Debug(strings.TrimSpace(fmt.Sprintf(format, v...)))
}
