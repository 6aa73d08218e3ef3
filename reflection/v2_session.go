package reflection

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/sourcegraph/jsonrpc2"

	"github.com/genkit-runtime/genkit-runtime/internal/wsrpc"
)

// session is the life of one connection to the manager: it opens the
// JSON-RPC connection over the shared object stream, registers, pings, and
// at the end either drains the work in progress (shutdown) or lets it be
// cancelled (connection lost). The manager's requests are the
// [dispatcher]'s.
type session struct {
	c *Client
}

// serve registers and serves the connection until it is lost or ctx is
// done, and returns why it ended. When ctx ends, the runs in progress get
// ShutdownGrace to finish and are then cancelled, each answered before the
// connection closes; when the connection is lost, they are cancelled and
// their results dropped.
func (s *session) serve(ctx context.Context, ws *websocket.Conn) error {
	o := &s.c.opts
	// The connection's context, from which runs derive, is cancelled only
	// after the connection is closed, so that shutdown can wait for runs
	// and answer them.
	cctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	d := newDispatcher(cctx, s.c)
	opts := wsrpc.Options{
		WriteTimeout:    o.WriteTimeout,
		ReadTimeout:     o.PongWait,
		MaxMessageBytes: o.MaxMessageBytes,
		Check:           checkFrame,
	}
	if !s.c.noFastPath {
		opts.Intercept = d.intercept
	}
	stream := wsrpc.New(ws, opts)
	d.stream = stream
	conn := jsonrpc2.NewConn(cctx, stream, d, jsonrpc2.SetLogger(wsrpc.DebugLogger(o.Logger)))
	var wg sync.WaitGroup
	if o.PingInterval > 0 {
		wg.Go(func() { s.heartbeat(cctx, conn, stream) })
	}
	wg.Go(func() { s.register(cctx, conn) })
	select {
	case <-ctx.Done():
		s.drain(conn, d)
	case <-conn.DisconnectNotify():
	}
	conn.Close()
	cancel()
	wg.Wait()
	<-stream.Done()
	return stream.Err()
}

// errShuttingDown is the cause of runs cancelled at the end of the
// shutdown grace period.
var errShuttingDown = errors.New("the runtime is shutting down")

// drain stops d taking work and waits for the work in progress: runs and
// listings get ShutdownGrace, then are cancelled and waited for again, at
// most FlushTimeout plus a second, so that each is answered. It returns
// early if the connection is lost.
func (s *session) drain(conn *jsonrpc2.Conn, d *dispatcher) {
	o := &s.c.opts
	n := d.stopTaking()
	done := make(chan struct{})
	s.c.runs.Go(func() {
		d.work.Wait()
		close(done)
	})
	wait := func(dur time.Duration) bool {
		t := time.NewTimer(dur)
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
	d.cancelWork(errShuttingDown)
	if !wait(o.FlushTimeout + time.Second) {
		o.Logger.Warn("runs still in progress at shutdown; their answers are lost")
	}
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
		s.c.telemetryURL(res.TelemetryServerURL)
	case errors.Is(err, jsonrpc2.ErrClosed) || errors.Is(err, context.Canceled):
	case errors.Is(err, context.DeadlineExceeded):
		o.Logger.Warn("the reflection v2 manager did not answer register", "server", o.ServerURL, "timeout", o.RegisterTimeout)
	default:
		o.Logger.Warn("the reflection v2 manager refused register", "server", o.ServerURL, "err", err)
	}
}

// heartbeat pings the manager every PingInterval. A ping that cannot be
// written ends the connection; a pong that does not come is noticed by the
// read deadline.
func (s *session) heartbeat(ctx context.Context, conn *jsonrpc2.Conn, stream *wsrpc.Stream) {
	t := time.NewTicker(s.c.opts.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := stream.Ping(); err != nil {
				s.c.opts.Logger.Debug("reflection v2 ping failed", "err", err)
				conn.Close()
				return
			}
		}
	}
}
