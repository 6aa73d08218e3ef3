// Package v2manager is the manager side of the Genkit Reflection API v2:
// the WebSocket JSON-RPC 2.0 server that Genkit runtimes dial, the role the
// Genkit CLI plays under `genkit start --experimental-reflection-v2`.
//
// A [Manager] is an http.Handler. Serve it on a listener of your own (an
// httptest.Server in tests) and hand its ws:// URL to a runtime, which
// connects and registers. [Manager.WaitRuntime] then returns the runtime's
// [Runtime] handle, through which the caller lists actions and values, runs
// actions (streaming, bidirectional input, cancellation) and sends
// arbitrary messages.
//
// The manager is strict where the CLI is: results are validated against
// the CLI's schemas (genkit-tools/common/src/types, 1.43), so a runtime the
// manager accepts is one the CLI accepts. Where the CLI only logs a
// violation (a malformed notification, a frame that is not JSON-RPC), the
// manager records it in [Runtime.ProtocolErrors]. [Options.OnMessage] sees
// every frame byte for byte, for assertions on the exact exchange.
// [Options.SkipValidation] turns the checks made on every message off, for
// load generators, whose own cost per message must stay small.
package v2manager

import (
	"context"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// Defaults of [Options].
const (
	// DefaultRequestTimeout is the CLI's timeout for requests other than
	// runAction.
	DefaultRequestTimeout = 30 * time.Second
	DefaultWriteTimeout   = 10 * time.Second
	// DefaultMaxMessageBytes is the largest frame read, the ws library's
	// default, which the CLI uses.
	DefaultMaxMessageBytes = 100 << 20
)

// Options configures a Manager. The zero value is ready to use.
type Options struct {
	// TelemetryServerURL is answered to register as telemetryServerUrl. If
	// empty, the member is left out, as the CLI does without a telemetry
	// server.
	TelemetryServerURL string
	// RequestTimeout bounds listActions, listValues, cancelAction and
	// [Runtime.Call]; runAction has none. If zero, DefaultRequestTimeout.
	RequestTimeout time.Duration
	// WriteTimeout bounds each write. If zero, DefaultWriteTimeout.
	WriteTimeout time.Duration
	// MaxMessageBytes is the largest frame accepted. If zero,
	// DefaultMaxMessageBytes.
	MaxMessageBytes int64
	// OnMessage, if not nil, is called with every data frame sent to or
	// received from any runtime, in order for each direction of each
	// connection. It must be safe for concurrent use and must not block;
	// [Recorder.Record] fits.
	OnMessage func(Message)
	// CheckOrigin, if not nil, decides whether to accept a WebSocket
	// handshake. If nil, any origin is accepted, as by the CLI.
	CheckOrigin func(r *http.Request) bool
	// Logger receives diagnostics. If nil, nothing is logged.
	Logger *slog.Logger
	// SkipValidation, if set, turns off the checks the manager makes on
	// every message, for load generators, whose own cost per message must
	// stay small and the same whatever the runtime: frames from the
	// runtime are not checked against JSON-RPC 2.0, and the params of
	// runActionState and streamChunk and the results of runAction are
	// decoded without the CLI's schema checks. The manager then also
	// decodes runActionState and streamChunk notifications itself, once,
	// instead of through the JSON-RPC library, which decodes every message
	// several times over; they reach the run the same way, in order. A
	// runtime that breaks the protocol in these messages may go
	// unnoticed: only a message that cannot be decoded at all is a
	// protocol error, or the error of its run. register params and the
	// results of listActions, listValues and cancelAction, which are not
	// sent for every run, are validated either way.
	SkipValidation bool
}

// Manager accepts runtime connections. Create it with [New]; it is safe
// for concurrent use.
type Manager struct {
	opts     Options
	upgrader websocket.Upgrader

	mu      sync.Mutex // guards closed, conns, byID, order and changed
	closed  bool
	conns   map[*Runtime]struct{} // every open connection
	byID    map[string]*Runtime   // registered runtimes by id
	order   []*Runtime            // registered runtimes, oldest first
	changed chan struct{}         // closed and replaced when byID changes

	wg sync.WaitGroup // ServeHTTP calls serving a connection
}

var _ http.Handler = (*Manager)(nil)

// New returns a manager. opts may be nil.
func New(opts *Options) *Manager {
	m := &Manager{conns: map[*Runtime]struct{}{}, byID: map[string]*Runtime{}, changed: make(chan struct{})}
	if opts != nil {
		m.opts = *opts
	}
	o := &m.opts
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = DefaultRequestTimeout
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = DefaultWriteTimeout
	}
	if o.MaxMessageBytes <= 0 {
		o.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	checkOrigin := o.CheckOrigin
	if checkOrigin == nil {
		checkOrigin = func(*http.Request) bool { return true }
	}
	m.upgrader = websocket.Upgrader{CheckOrigin: checkOrigin}
	return m
}

// ServeHTTP upgrades the request to a WebSocket and serves the runtime on
// it until the connection ends or the manager is closed.
func (m *Manager) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		http.Error(w, "manager closed", http.StatusServiceUnavailable)
		return
	}
	m.wg.Add(1)
	m.mu.Unlock()
	defer m.wg.Done()

	ws, err := m.upgrader.Upgrade(w, r, nil)
	if err != nil {
		m.opts.Logger.Debug("websocket upgrade failed", "err", err)
		return
	}
	rt := newRuntime(m, ws)
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		ws.Close()
		return
	}
	m.conns[rt] = struct{}{}
	m.mu.Unlock()
	// The connection outlives the handshake request; it ends when either
	// side closes it, or with Close.
	rt.serve(context.WithoutCancel(r.Context()))
	m.mu.Lock()
	delete(m.conns, rt)
	for id, v := range m.byID {
		if v == rt {
			delete(m.byID, id)
		}
	}
	if i := slices.Index(m.order, rt); i >= 0 {
		m.order = slices.Delete(m.order, i, i+1)
		m.notifyLocked()
	}
	m.mu.Unlock()
	rt.disconnected()
}

// Close disconnects every runtime and waits until every connection is
// served. It is safe to call more than once.
func (m *Manager) Close() error {
	m.mu.Lock()
	if !m.closed {
		m.closed = true
		m.notifyLocked()
	}
	conns := make([]*Runtime, 0, len(m.conns))
	for rt := range m.conns {
		conns = append(conns, rt)
	}
	m.mu.Unlock()
	for _, rt := range conns {
		rt.Close()
	}
	m.wg.Wait()
	return nil
}

// register records rt as the runtime registered under its id.
func (m *Manager) register(rt *Runtime, id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.byID[id] == rt {
		return
	}
	if old := m.byID[id]; old != nil {
		// Another connection took over the id; the old one stays open but
		// is no longer listed, as in the CLI.
		if i := slices.Index(m.order, old); i >= 0 {
			m.order = slices.Delete(m.order, i, i+1)
		}
	}
	if i := slices.Index(m.order, rt); i >= 0 {
		// The connection registered again under another id.
		m.order = slices.Delete(m.order, i, i+1)
		for k, v := range m.byID {
			if v == rt {
				delete(m.byID, k)
			}
		}
	}
	m.byID[id] = rt
	m.order = append(m.order, rt)
	m.notifyLocked()
}

func (m *Manager) notifyLocked() {
	close(m.changed)
	m.changed = make(chan struct{})
}

// Runtimes returns the registered, connected runtimes, oldest registration
// first.
func (m *Manager) Runtimes() []*Runtime {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.order)
}

// Runtime returns the connected runtime registered under id.
func (m *Manager) Runtime(id string) (*Runtime, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	rt, ok := m.byID[id]
	return rt, ok
}

// WaitRuntime returns the connected runtime registered under id, waiting
// until one registers. An empty id means any runtime: the most recently
// registered one. It returns ctx's error when ctx ends first and ErrClosed
// once the manager is closed.
//
// To wait for a runtime to reconnect, wait for the old handle's
// [Runtime.Done] first: by then it is no longer returned.
func (m *Manager) WaitRuntime(ctx context.Context, id string) (*Runtime, error) {
	for {
		m.mu.Lock()
		var rt *Runtime
		switch {
		case id != "":
			rt = m.byID[id]
		case len(m.order) > 0:
			rt = m.order[len(m.order)-1]
		}
		closed, ch := m.closed, m.changed
		m.mu.Unlock()
		switch {
		case rt != nil:
			return rt, nil
		case closed:
			return nil, ErrClosed
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-ch:
		}
	}
}
