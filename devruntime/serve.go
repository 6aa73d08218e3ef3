package devruntime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/genkit-runtime/genkit-runtime/guard"
	"github.com/genkit-runtime/genkit-runtime/reflection"
	"github.com/genkit-runtime/genkit-runtime/registry"
)

// Serve serves reg as a dev runtime with opts (nil: the defaults) until ctx
// ends, a client asks it to quit, or its parent process goes away; then it
// shuts down gracefully and returns nil. It is [New], then [Runtime.Serve],
// then [Runtime.Close].
func Serve(ctx context.Context, reg *registry.Registry, opts *Options) error {
	rt, err := New(ctx, reg, opts)
	if err != nil {
		return err
	}
	serveErr := rt.Serve(ctx)
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	if err := rt.Close(cctx); err != nil {
		rt.logger.Warn("telemetry shutdown", "err", err)
	}
	return serveErr
}

// Serve serves the runtime until ctx ends, a client asks it to quit, or
// (unless [Options.KeepRunningWhenOrphaned]) the process that started this
// one exits. Over reflection v1 it listens on the configured address, writes
// the runtime file once it accepts connections, and on the way out removes
// the file and gives runs in flight [Options.ShutdownGrace] to finish
// before cancelling them (each still gets its final answer). With
// [Options.ReflectionV2Server] set it dials the Genkit CLI instead and
// serves reflection v2 over that connection, reconnecting until it stops.
//
// It returns nil after a graceful stop, and an error when it cannot start:
// no free port in FirstPort..LastPort, a port already taken, a runtime file
// that cannot be written. It does not close the runtime: call
// [Runtime.Close] once it returns.
func (rt *Runtime) Serve(ctx context.Context) error {
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	if !rt.opts.KeepRunningWhenOrphaned {
		w, err := watchParent(rt.logger)
		if err != nil {
			rt.logger.Debug("not watching the parent process", "err", err)
		} else {
			defer w.stop()
			go func() {
				select {
				case <-w.gone:
					rt.logger.Info("the process that started this runtime has exited; shutting down")
					stop()
				case <-ctx.Done():
				}
			}()
		}
	}
	if rt.opts.ReflectionV2Server != "" {
		return rt.serveV2(ctx)
	}
	return rt.serveV1(ctx)
}

// listen binds the configured address: the configured port, else the first
// free port of the default range. It binds directly rather than probing, so
// no other process can take the port in between.
func (rt *Runtime) listen() (net.Listener, error) {
	host := rt.opts.Host
	if rt.opts.Port != 0 {
		l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(rt.opts.Port)))
		if err != nil {
			return nil, fmt.Errorf("devruntime: %w", err)
		}
		return l, nil
	}
	var lastErr error
	for p := FirstPort; p <= LastPort; p++ {
		l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(p)))
		if err == nil {
			return l, nil
		}
		lastErr = err
	}
	return nil, fmt.Errorf("devruntime: no free port in %d..%d: %w", FirstPort, LastPort, lastErr)
}

// serveV1 listens, writes the runtime file and serves the v1 HTTP API until
// ctx ends or a quit is asked, then shuts down gracefully.
func (rt *Runtime) serveV1(ctx context.Context) error {
	logger := rt.logger
	if !guard.IsLoopback(rt.opts.Host) {
		logger.Warn("listening on a non-loopback address: anyone who can reach it can run this runtime's actions", "host", rt.opts.Host)
	}
	l, err := rt.listen()
	if err != nil {
		return err
	}
	runCtx, cancelRuns := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelRuns()
	srv := &http.Server{
		Handler:           rt.handler,
		ReadHeaderTimeout: 10 * time.Second,
		// Kept-alive connections of clients that went quiet are closed.
		IdleTimeout: 2 * time.Minute,
		BaseContext: func(net.Listener) context.Context { return runCtx },
		ErrorLog:    slog.NewLogLogger(logger.Handler(), slog.LevelDebug),
	}
	// Open trace streams never end by themselves: end them when shutdown
	// starts, so that they do not hold it for the whole grace period.
	srv.RegisterOnShutdown(rt.traces.Close)
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(l) }()

	rf, err := rt.Announce(l.Addr())
	if err != nil {
		srv.Close()
		<-serveErr
		return err
	}
	logger.Info("serving the Reflection API", "url", rf.Info().ReflectionServerURL, "id", rf.Info().ID, "actions", len(rt.reg.List()))

	select {
	case err := <-serveErr:
		rf.Remove()
		return err
	case <-ctx.Done():
		logger.Info("shutting down")
	case <-rt.quit:
		logger.Info("quit requested; shutting down")
	}
	if err := rf.Remove(); err != nil {
		logger.Warn("removing the runtime file", "err", err)
	}
	// Runs in flight get the grace period to finish; then they are
	// cancelled, which still ends each with its final line.
	gctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rt.opts.ShutdownGrace)
	defer cancel()
	if err := srv.Shutdown(gctx); err != nil {
		cancelRuns()
		fctx, cancel2 := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel2()
		if err := srv.Shutdown(fctx); err != nil {
			srv.Close()
		}
	}
	<-serveErr
	return nil
}

// serveV2 dials the Genkit CLI's reflection v2 server and serves reflection
// v2 only, until ctx ends. It reconnects until then.
func (rt *Runtime) serveV2(ctx context.Context) error {
	o := &rt.opts
	rt.tel.setSelf("", o.TelemetryServerURL)
	rt.logger.Info("serving Reflection API v2", "server", o.ReflectionV2Server, "actions", len(rt.reg.List()))
	c := reflection.NewClient(rt.reg, &reflection.ClientOptions{
		ServerURL:      o.ReflectionV2Server,
		RuntimeID:      o.RuntimeID,
		Name:           o.Name,
		PID:            os.Getpid(),
		GenkitVersion:  "genkit-runtime/" + Version,
		TracerProvider: rt.tel.tp,
		Flusher:        rt.tel.exporter,
		OnTelemetryURL: rt.tel.notified,
		ShutdownGrace:  o.ShutdownGrace,
		Logger:         rt.logger,
	})
	if err := c.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("devruntime: %w", err)
	}
	return nil
}
