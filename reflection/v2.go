package reflection

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"go.opentelemetry.io/otel/trace"

	"github.com/genkit-runtime/genkit-runtime/internal/wsrpc"
	"github.com/genkit-runtime/genkit-runtime/registry"
)

// Defaults of [ClientOptions].
const (
	DefaultMinBackoff        = 500 * time.Millisecond
	DefaultMaxBackoff        = 5 * time.Second
	DefaultPingInterval      = 10 * time.Second
	DefaultDialTimeout       = 10 * time.Second
	DefaultWriteTimeout      = 10 * time.Second
	DefaultRegisterTimeout   = 30 * time.Second
	DefaultMaxConcurrentRuns = 128
	// DefaultMaxMessageBytes is the largest message read, the limit of the
	// ws library the Genkit CLI uses.
	DefaultMaxMessageBytes = 100 << 20
)

// ClientOptions configures a [Client]. Only ServerURL is required.
type ClientOptions struct {
	// ServerURL is the manager's WebSocket URL, ws:// or wss://; the Genkit
	// CLI passes it to the runtime in GENKIT_REFLECTION_V2_SERVER.
	ServerURL string
	// RuntimeID is the id the runtime registers under. If empty, the
	// decimal PID.
	RuntimeID string
	// Name is the registered display name. If empty, RuntimeID.
	Name string
	// PID is the registered process id.
	PID int
	// GenkitVersion is registered as genkitVersion, such as
	// "genkit-runtime/0.1.0".
	GenkitVersion string
	// Envs are the registered environments. If nil, ["dev"].
	Envs []string

	// TracerProvider makes the spans of runs. If nil, the global provider
	// of the otel package is used.
	TracerProvider trace.TracerProvider
	// Flusher, if not nil, is asked to deliver a run's trace before the
	// run's result is sent, waiting at most FlushTimeout.
	Flusher TraceFlusher
	// FlushTimeout bounds Flusher; if zero, 2 seconds.
	FlushTimeout time.Duration

	// OnTelemetryURL, if not nil, is called with the telemetry server URL
	// the manager announces, in the result of register and in a configure
	// notification. Whether it takes precedence over a configured URL is
	// the caller's decision. It may be called from several goroutines.
	OnTelemetryURL func(url string)

	// Logger receives diagnostics. If nil, nothing is logged.
	Logger *slog.Logger

	// MinBackoff and MaxBackoff bound the delay before reconnecting; it
	// doubles after each failed attempt and returns to MinBackoff after a
	// successful connection. If zero, DefaultMinBackoff and
	// DefaultMaxBackoff.
	MinBackoff, MaxBackoff time.Duration
	// PingInterval is how often the client pings the manager. If zero,
	// DefaultPingInterval; if negative, the client sends no pings.
	PingInterval time.Duration
	// PongWait is how long the client waits for any frame (a pong or a
	// message) before it considers the connection dead and reconnects. It
	// must exceed PingInterval; if it does not (zero included), it is three
	// times PingInterval. If negative, or when pings are off, there is no
	// read deadline.
	PongWait time.Duration
	// DialTimeout bounds the connection and WebSocket handshake. If zero,
	// DefaultDialTimeout.
	DialTimeout time.Duration
	// WriteTimeout bounds each write; a write that times out ends the
	// connection. If zero, DefaultWriteTimeout.
	WriteTimeout time.Duration
	// RegisterTimeout bounds the wait for the answer to register. A manager
	// that does not answer in time is logged and the connection kept. If
	// zero, DefaultRegisterTimeout.
	RegisterTimeout time.Duration
	// MaxConcurrentRuns bounds the runAction and listActions requests in
	// progress; more are refused with RESOURCE_EXHAUSTED. If zero,
	// DefaultMaxConcurrentRuns.
	MaxConcurrentRuns int
	// MaxMessageBytes is the largest message accepted; a larger one ends
	// the connection. If zero, DefaultMaxMessageBytes.
	MaxMessageBytes int64
	// ShutdownGrace is how long runs in progress may go on once Run's
	// context ends; then they are cancelled. Either way each is answered
	// before the connection is closed, and requests that arrive meanwhile
	// are refused with UNAVAILABLE. If zero, runs are cancelled at once.
	ShutdownGrace time.Duration
}

// Client is the runtime side of Reflection API v2: it dials the manager
// (the Genkit CLI), registers, and serves the manager's JSON-RPC requests
// over the registry until its context ends, reconnecting whenever the
// connection is lost. Create it with [NewClient] and start it with
// [Client.Run].
type Client struct {
	core   *core
	lister *lister
	opts   ClientOptions
	slots  chan struct{} // one token per request in progress (runs and listings)
	runs   sync.WaitGroup
	// workers run the runs and listings, counted in runs; quit, closed
	// when Run returns, ends the idle ones.
	workers *workers
	quit    chan struct{}
	// noFastPath leaves every message to jsonrpc2, for tests that compare
	// the fast path with it.
	noFastPath bool
}

// NewClient returns a client serving reg. opts must set ServerURL.
func NewClient(reg *registry.Registry, opts *ClientOptions) *Client {
	c := &Client{}
	if opts != nil {
		c.opts = *opts
	}
	o := &c.opts
	if o.RuntimeID == "" {
		o.RuntimeID = strconv.Itoa(o.PID)
	}
	if o.Name == "" {
		o.Name = o.RuntimeID
	}
	if o.Envs == nil {
		o.Envs = []string{"dev"}
	}
	if o.TracerProvider == nil {
		o.TracerProvider = otelTracerProvider()
	}
	if o.FlushTimeout == 0 {
		o.FlushTimeout = 2 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = DefaultMinBackoff
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = DefaultMaxBackoff
	}
	o.MaxBackoff = max(o.MaxBackoff, o.MinBackoff)
	if o.PingInterval == 0 {
		o.PingInterval = DefaultPingInterval
	}
	if o.PingInterval > 0 && o.PongWait >= 0 && o.PongWait <= o.PingInterval {
		o.PongWait = 3 * o.PingInterval
	}
	if o.PingInterval < 0 || o.PongWait < 0 {
		o.PongWait = 0
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = DefaultDialTimeout
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = DefaultWriteTimeout
	}
	if o.RegisterTimeout <= 0 {
		o.RegisterTimeout = DefaultRegisterTimeout
	}
	if o.MaxConcurrentRuns <= 0 {
		o.MaxConcurrentRuns = DefaultMaxConcurrentRuns
	}
	if o.MaxMessageBytes <= 0 {
		o.MaxMessageBytes = DefaultMaxMessageBytes
	}
	c.core = newCore(reg, o.TracerProvider, o.Flusher, o.FlushTimeout, o.Logger)
	c.lister = &lister{reg: reg}
	c.slots = make(chan struct{}, o.MaxConcurrentRuns)
	c.quit = make(chan struct{})
	c.workers = newWorkers(&c.runs, c.quit)
	return c
}

// CancelAction cancels the active run with the given trace ID, as the
// cancelAction request does. It reports whether such a run was active.
func (c *Client) CancelAction(traceID string) bool { return c.core.cancel(traceID) }

// Run connects to the manager and serves it until ctx is done. A failed
// dial or a lost connection is retried forever, with a delay between
// MinBackoff and MaxBackoff; the runtime registers again on every
// connection. Runs in progress when a connection is lost are cancelled and
// their results dropped.
//
// Run returns ctx's error once ctx is done and every goroutine it started
// has stopped, or at once an error for an unusable ServerURL. Call it once.
func (c *Client) Run(ctx context.Context) error {
	u, err := url.Parse(c.opts.ServerURL)
	if err != nil {
		return fmt.Errorf("reflection v2: server URL: %w", err)
	}
	if u.Scheme != "ws" && u.Scheme != "wss" {
		return fmt.Errorf("reflection v2: server URL %q: want a ws:// or wss:// URL", c.opts.ServerURL)
	}
	defer c.runs.Wait()
	defer close(c.quit)
	log := c.opts.Logger.With("server", c.opts.ServerURL)
	delay := c.opts.MinBackoff
	failures := 0 // dials failed in a row
	for {
		connected, err := c.connect(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		switch {
		case connected:
			delay, failures = c.opts.MinBackoff, 0
			log.Info("reflection v2 connection lost; reconnecting", "err", err, "in", delay)
		case failures == 0:
			failures++
			log.Warn("reflection v2 dial failed; retrying", "err", err, "in", delay)
		default:
			failures++
			log.Debug("reflection v2 dial failed; retrying", "err", err, "in", delay, "failures", failures)
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		delay = min(2*delay, c.opts.MaxBackoff)
	}
}

// connect dials the manager and serves the connection until it is lost or
// ctx is done. It reports whether the dial succeeded, and why the
// connection ended.
func (c *Client) connect(ctx context.Context) (bool, error) {
	// The connection gathers the frames written together into one write.
	d := websocket.Dialer{HandshakeTimeout: c.opts.DialTimeout, NetDialContext: wsrpc.NetDialContext}
	dctx, cancel := context.WithTimeout(ctx, c.opts.DialTimeout)
	ws, resp, err := d.DialContext(dctx, c.opts.ServerURL, nil)
	cancel()
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		return false, err
	}
	s := &session{c: c}
	return true, s.serve(ctx, ws)
}

// telemetryURL passes on a telemetry server URL the manager announced.
func (c *Client) telemetryURL(u string) {
	if u != "" && c.opts.OnTelemetryURL != nil {
		c.opts.OnTelemetryURL(u)
	}
}

// acquire takes a request slot, or reports that none is free.
func (c *Client) acquire() bool {
	select {
	case c.slots <- struct{}{}:
		return true
	default:
		return false
	}
}

func (c *Client) release() { <-c.slots }
