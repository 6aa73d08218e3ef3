package v2manager

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/sourcegraph/jsonrpc2"

	"github.com/genkit-runtime/genkit-runtime/internal/wsrpc"
)

// maxProtocolErrors bounds the protocol errors kept per connection.
const maxProtocolErrors = 1000

// Runtime is one runtime connection. Its methods send requests to the
// runtime; they are safe for concurrent use.
type Runtime struct {
	m      *Manager
	stream *wsrpc.Stream
	conn   *jsonrpc2.Conn // set before ready is closed
	ready  chan struct{}
	done   chan struct{}
	nextID atomic.Uint64

	mu         sync.Mutex // guards info, registerID, runs, violations and dropped
	info       RuntimeInfo
	registerID *ID // nil when register came as a notification
	runs       map[string]*Run
	violations []error
	dropped    int // violations beyond maxProtocolErrors
}

func newRuntime(m *Manager, ws *websocket.Conn) *Runtime {
	rt := &Runtime{m: m, ready: make(chan struct{}), done: make(chan struct{}), runs: map[string]*Run{}}
	check := rt.check
	if m.opts.SkipValidation {
		check = rt.checkUnvalidated
	}
	rt.stream = wsrpc.New(ws, wsrpc.Options{
		WriteTimeout:    m.opts.WriteTimeout,
		MaxMessageBytes: m.opts.MaxMessageBytes,
		Check:           check,
		OnFrame: func(sent bool, data []byte) {
			if sent {
				rt.frame(Sent, data)
			} else {
				rt.frame(Received, data)
			}
		},
		OnSkip: func(data []byte, err error) {
			rt.violation(fmt.Errorf("undecodable message %.200s: %v", data, err))
		},
	})
	return rt
}

// serve runs the connection until it ends.
func (rt *Runtime) serve(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	rt.conn = jsonrpc2.NewConn(ctx, rt.stream, handler{rt},
		jsonrpc2.SetLogger(wsrpc.DebugLogger(rt.m.opts.Logger)), jsonrpc2.OnRecv(rt.received))
	close(rt.ready)
	<-rt.conn.DisconnectNotify()
	cancel()
	<-rt.stream.Done()
}

// disconnected ends the runs still waiting and marks the runtime done.
func (rt *Runtime) disconnected() {
	rt.mu.Lock()
	runs := rt.runs
	rt.runs = map[string]*Run{}
	rt.mu.Unlock()
	for _, r := range runs {
		r.finish()
	}
	close(rt.done)
}

func (rt *Runtime) frame(d Direction, data []byte) {
	if rt.m.opts.OnMessage != nil {
		rt.m.opts.OnMessage(Message{Runtime: rt, Direction: d, Data: data})
	}
}

// check looks at a frame from the runtime (see classify): a violation the
// CLI tolerates is recorded and the message used; one that makes the frame
// unusable is recorded and the frame skipped.
func (rt *Runtime) check(data []byte) (json.RawMessage, []byte, error) {
	params, err := classify(data)
	if err == nil {
		return params, nil, nil
	}
	rt.violation(err)
	if fatal, ok := errors.AsType[*fatalViolation](err); ok {
		return nil, nil, fatal
	}
	return params, nil, nil
}

// errConsumed is how checkUnvalidated tells wsrpc that it has handled a
// frame itself, so that jsonrpc2 skips it.
var errConsumed = errors.New("v2manager: handled before jsonrpc2")

// checkUnvalidated is the frame check under [Options.SkipValidation]. It
// decodes the frame's members once, without checking them, and handles
// runActionState and streamChunk notifications itself: jsonrpc2, which
// decodes every message several times over, params included, never sees
// them. It runs on the read loop, in the order frames arrive, as a
// jsonrpc2 handler would. Other frames go on to jsonrpc2 with their params;
// one that is not a JSON object does too, and jsonrpc2 reports it
// undecodable.
func (rt *Runtime) checkUnvalidated(data []byte) (json.RawMessage, []byte, error) {
	var msg struct {
		ID     json.RawMessage `json:"id"`
		Method string          `json:"method"`
		Params json.RawMessage `json:"params"`
	}
	if json.Unmarshal(data, &msg) != nil {
		return nil, nil, nil
	}
	if msg.ID == nil && (msg.Method == "runActionState" || msg.Method == "streamChunk") {
		if msg.Params == nil {
			msg.Params = json.RawMessage("null")
		}
		rt.notification(msg.Method, msg.Params)
		return nil, nil, errConsumed
	}
	return msg.Params, nil, nil
}

func (rt *Runtime) violation(err error) {
	rt.m.opts.Logger.Warn("reflection v2 protocol violation", "runtime", rt.Info().ID, "err", err)
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if len(rt.violations) < maxProtocolErrors {
		rt.violations = append(rt.violations, err)
	} else {
		rt.dropped++
	}
}

// ProtocolErrors returns the protocol violations seen on this connection
// so far, oldest first: frames that are not JSON-RPC 2.0 messages,
// malformed notifications, notifications for unknown requests, more than
// one runActionState for a run, invalid register params. The Genkit CLI
// logs and ignores these.
func (rt *Runtime) ProtocolErrors() []error {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	out := slices.Clone(rt.violations)
	if rt.dropped > 0 {
		out = append(out, fmt.Errorf("%d more protocol errors not kept", rt.dropped))
	}
	return out
}

// Info returns what the runtime registered.
func (rt *Runtime) Info() RuntimeInfo {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	info := rt.info
	info.Envs = slices.Clone(info.Envs)
	return info
}

// RegisterID returns the id of the runtime's register request. It reports
// false when the runtime registered with a notification.
func (rt *Runtime) RegisterID() (ID, bool) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.registerID == nil {
		return ID{}, false
	}
	return *rt.registerID, true
}

// Done returns a channel closed when the connection has ended and the
// runtime is no longer listed.
func (rt *Runtime) Done() <-chan struct{} { return rt.done }

// Close closes the connection.
func (rt *Runtime) Close() error {
	<-rt.ready
	err := rt.conn.Close()
	if errors.Is(err, jsonrpc2.ErrClosed) {
		return nil
	}
	return err
}

// IgnorePings makes the manager stop (or resume) answering the runtime's
// WebSocket pings, to play a peer that has silently died.
func (rt *Runtime) IgnorePings(ignore bool) { rt.stream.IgnorePings(ignore) }

// handler handles the messages from a runtime: the register request and
// the run notifications. It runs on the read loop. Unknown methods are
// violations; a request for one is answered -32601 (the CLI logs it and
// does not answer).
type handler struct{ rt *Runtime }

var _ jsonrpc2.Handler = handler{}

// Handle implements jsonrpc2.Handler.
func (h handler) Handle(ctx context.Context, conn *jsonrpc2.Conn, req *jsonrpc2.Request) {
	rt := h.rt
	<-rt.ready
	// The params as received, not jsonrpc2's re-encoding (see package
	// wsrpc: Handle runs on the read loop).
	params := rt.stream.Params()
	if params == nil {
		params = json.RawMessage("null")
	}
	switch req.Method {
	case "register":
		rt.handleRegister(ctx, conn, req, params)
	case "runActionState", "streamChunk":
		if !req.Notif {
			rt.violation(fmt.Errorf("%s sent as a request (id %s)", req.Method, req.ID))
		}
		rt.notification(req.Method, params)
	default:
		rt.violation(fmt.Errorf("unknown method %q from the runtime", req.Method))
		if !req.Notif {
			conn.ReplyWithError(ctx, req.ID, &jsonrpc2.Error{Code: jsonrpc2.CodeMethodNotFound, Message: "Method not found: " + req.Method})
		}
	}
}

// notification handles the params of a runActionState or streamChunk
// notification: it hands the state or chunk to its run.
func (rt *Runtime) notification(method string, params json.RawMessage) {
	decode := decodeNotification
	if rt.m.opts.SkipValidation {
		decode = decodeNotificationUnchecked
	}
	p, err := decode(method, params)
	if err != nil {
		rt.violation(err)
		return
	}
	rt.mu.Lock()
	r := rt.runs[p.RequestID]
	rt.mu.Unlock()
	if r == nil {
		rt.violation(fmt.Errorf("%s for requestId %q, which is no run in progress", method, p.RequestID))
		return
	}
	if method == "runActionState" {
		if err := r.state(p.State); err != nil {
			rt.violation(err)
		}
	} else {
		r.chunk(p.Chunk)
	}
}

func (rt *Runtime) handleRegister(ctx context.Context, conn *jsonrpc2.Conn, req *jsonrpc2.Request, params json.RawMessage) {
	info, err := decodeRegister(params)
	if err != nil {
		// The CLI logs this and never answers; answering says why.
		rt.violation(fmt.Errorf("register: %w", err))
		if !req.Notif {
			conn.ReplyWithError(ctx, req.ID, &jsonrpc2.Error{Code: jsonrpc2.CodeInvalidParams, Message: "invalid register params: " + err.Error()})
		}
		return
	}
	rt.mu.Lock()
	rt.info = info
	if req.Notif {
		rt.registerID = nil
	} else {
		id := idOf(req.ID)
		rt.registerID = &id
	}
	rt.mu.Unlock()
	rt.m.register(rt, info.ID)
	// The CLI answers only when the id is truthy: never id 0 or "".
	if req.Notif || (!req.ID.IsString && req.ID.Num == 0) || (req.ID.IsString && req.ID.Str == "") {
		return
	}
	if err := conn.Reply(ctx, req.ID, registerResult{TelemetryServerURL: rt.m.opts.TelemetryServerURL}); err != nil {
		rt.m.opts.Logger.Debug("register answer not sent", "err", err)
	}
}

type registerResult struct {
	TelemetryServerURL string `json:"telemetryServerUrl,omitempty"`
}

// received sees every response before its caller does, on the read loop:
// a run's response ends the run, so notifications that follow it are
// violations.
func (rt *Runtime) received(req *jsonrpc2.Request, resp *jsonrpc2.Response) {
	if resp == nil {
		return
	}
	key := idOf(resp.ID).String()
	rt.mu.Lock()
	r := rt.runs[key]
	if r != nil && r.id == idOf(resp.ID) {
		delete(rt.runs, key)
	} else {
		r = nil
	}
	rt.mu.Unlock()
	if r != nil {
		r.finish()
	}
}

// CallOption configures one request.
type CallOption func(*callConfig)

type callConfig struct {
	id         *ID
	timeout    time.Duration
	setTimeout bool
}

// WithID sends the request with the given id instead of the next one of
// the manager's counter. The ids 0 and "" cannot be used (send them with
// [Runtime.WriteRaw]).
func WithID(id ID) CallOption { return func(c *callConfig) { c.id = &id } }

// WithTimeout replaces the request's default timeout; zero means none.
func WithTimeout(d time.Duration) CallOption {
	return func(c *callConfig) { c.timeout, c.setTimeout = d, true }
}

func (rt *Runtime) config(defaultTimeout time.Duration, opts []CallOption) (callConfig, error) {
	c := callConfig{timeout: defaultTimeout}
	for _, o := range opts {
		o(&c)
	}
	if c.id == nil {
		id := StringID(strconv.FormatUint(rt.nextID.Add(1), 10))
		c.id = &id
	}
	if *c.id == (ID{}) || *c.id == NumberID(0) {
		return c, errZeroID
	}
	return c, nil
}

// errZeroID refuses ids the JSON-RPC engine cannot send.
var errZeroID = errors.New(`v2manager: ids 0 and "" cannot be sent with a call; use WriteRaw`)

// Call sends a request and decodes its result into result (which may be
// nil, or a *json.RawMessage for the raw result), unvalidated. A JSON-RPC
// error response is returned as an *Error. The request times out after
// [Options.RequestTimeout] unless [WithTimeout] says otherwise. A runAction
// sent with Call is tracked like one from [Runtime.StartAction], so its
// notifications are accounted for, but not returned.
func (rt *Runtime) Call(ctx context.Context, method string, params, result any, opts ...CallOption) error {
	cfg, err := rt.config(rt.m.opts.RequestTimeout, opts)
	if err != nil {
		return err
	}
	if cfg.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cfg.timeout)
		defer cancel()
	}
	var raw json.RawMessage
	if method == "runAction" {
		r, err := rt.startRun(ctx, params, nil, *cfg.id)
		if err != nil {
			return err
		}
		if raw, err = r.waitRaw(ctx); err != nil {
			return err
		}
	} else if err := rt.conn.Call(ctx, method, params, &raw, jsonrpc2.PickID(cfg.id.rpc())); err != nil {
		return convertError(err)
	}
	if result == nil {
		return nil
	}
	if p, ok := result.(*json.RawMessage); ok {
		*p = raw
		return nil
	}
	if err := json.Unmarshal(raw, result); err != nil {
		return fmt.Errorf("%s result: %w", method, err)
	}
	return nil
}

// Notify sends a notification.
func (rt *Runtime) Notify(ctx context.Context, method string, params any) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return convertError(rt.conn.Notify(ctx, method, params))
}

// WriteRaw sends data as one text frame, unchecked: for malformed messages
// and ids the API does not produce. Responses to it match no call; find
// them with [Options.OnMessage].
func (rt *Runtime) WriteRaw(ctx context.Context, data []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case <-rt.done:
		return ErrDisconnected
	default:
	}
	if err := rt.stream.WriteFrame(data); err != nil {
		return fmt.Errorf("%w: %v", ErrDisconnected, err)
	}
	return nil
}

// ListActions sends listActions and returns the actions by key. The result
// is validated as the CLI does; a result the CLI would reject is an error.
func (rt *Runtime) ListActions(ctx context.Context, opts ...CallOption) (map[string]Action, error) {
	var raw json.RawMessage
	if err := rt.Call(ctx, "listActions", nil, &raw, opts...); err != nil {
		return nil, err
	}
	actions, err := decodeActions(raw)
	if err != nil {
		return nil, fmt.Errorf("listActions result rejected: %w", err)
	}
	return actions, nil
}

// ListValues sends listValues for the given type ("defaultModel",
// "middleware") and returns the values by name.
func (rt *Runtime) ListValues(ctx context.Context, typ string, opts ...CallOption) (map[string]json.RawMessage, error) {
	var raw json.RawMessage
	if err := rt.Call(ctx, "listValues", map[string]string{"type": typ}, &raw, opts...); err != nil {
		return nil, err
	}
	values, err := decodeValues(raw)
	if err != nil {
		return nil, fmt.Errorf("listValues result rejected: %w", err)
	}
	return values, nil
}

// CancelAction sends cancelAction for the run with the given trace id and
// returns the runtime's message ("Action cancelled"). A run that is not
// active is an *Error with code -32602 (ErrInvalidParams).
func (rt *Runtime) CancelAction(ctx context.Context, traceID string, opts ...CallOption) (string, error) {
	var raw json.RawMessage
	if err := rt.Call(ctx, "cancelAction", map[string]string{"traceId": traceID}, &raw, opts...); err != nil {
		return "", err
	}
	msg, err := decodeCancel(raw)
	if err != nil {
		return "", fmt.Errorf("cancelAction result rejected: %w", err)
	}
	return msg, nil
}

// SendInputChunk sends a sendInputStreamChunk notification: chunk for the
// input stream of the run with the given request id.
func (rt *Runtime) SendInputChunk(ctx context.Context, requestID string, chunk any) error {
	return rt.Notify(ctx, "sendInputStreamChunk", inputChunkParams{RequestID: requestID, Chunk: chunk})
}

// EndInput sends an endInputStream notification for the run with the given
// request id.
func (rt *Runtime) EndInput(ctx context.Context, requestID string) error {
	return rt.Notify(ctx, "endInputStream", map[string]string{"requestId": requestID})
}

type inputChunkParams struct {
	RequestID string `json:"requestId"`
	Chunk     any    `json:"chunk"`
}
