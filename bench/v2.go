package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/genkit-runtime/genkit-runtime/reflection/v2manager"
)

// In the v2 configuration a server speaks Reflection API v2: it dials a
// manager the harness serves (the role the Genkit CLI plays), given in
// GENKIT_REFLECTION_V2_SERVER, registers, and runs what the manager asks
// for over that one connection. Each server process gets a manager of its
// own, on its own loopback port, so a server's measurements never share a
// manager with another's.

// v2RuntimeWait bounds the wait for a server's runtime to be registered
// with its manager before a measurement (a runtime that lost its
// connection reconnects).
const v2RuntimeWait = 10 * time.Second

// v2endpoint is a manager served on a loopback port for one server.
type v2endpoint struct {
	m   *v2manager.Manager
	srv *http.Server
	url string // ws://127.0.0.1:<port>
}

// newV2Endpoint serves a new manager on a free loopback port.
func newV2Endpoint() (*v2endpoint, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	m := v2manager.New(v2Options())
	srv := &http.Server{Handler: m, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(l)
	return &v2endpoint{m: m, srv: srv, url: "ws://" + l.Addr().String()}, nil
}

// v2Options is how the harness's managers are configured: no telemetry
// server in the register answer (the servers keep their spans, as in the
// off configuration), no frame recorded (no OnMessage), and no validation
// of each message against the CLI's schemas, whose cost would be the
// harness's and would cap what it can measure (the conformance suite
// checks the messages; here the load checks only that every run has a
// result and every stream its chunks).
func v2Options() *v2manager.Options {
	return &v2manager.Options{SkipValidation: true}
}

// close disconnects the runtime and stops serving.
func (e *v2endpoint) close() {
	e.m.Close()
	e.srv.Close()
}

// runtime returns the runtime registered with the endpoint's manager,
// waiting for one at most v2RuntimeWait.
func (e *v2endpoint) runtime(ctx context.Context) (*v2manager.Runtime, error) {
	ctx, cancel := context.WithTimeout(ctx, v2RuntimeWait)
	defer cancel()
	rt, err := e.m.WaitRuntime(ctx, "")
	if err != nil {
		return nil, fmt.Errorf("no runtime registered with %s: %w", e.url, err)
	}
	return rt, nil
}

// v2ListPoll is how often startV2 asks a registered runtime for its
// actions until it lists those the scenarios run.
const v2ListPoll = 50 * time.Millisecond

// startV2 starts s in the v2 configuration: it serves a manager for it,
// runs s with GENKIT_REFLECTION_V2_SERVER pointing there, and waits until
// the process has registered and lists every key in keys (the SDKs
// register before the app has defined its actions). The server's ready
// time is the time from exec to register.
func startV2(ctx context.Context, s spec, logDir string, timeout time.Duration, keys []string) (*server, error) {
	ep, err := newV2Endpoint()
	if err != nil {
		return nil, err
	}
	s.env = append(slices.Clip(s.env), "GENKIT_REFLECTION_V2_SERVER="+ep.url)
	srv, err := launch(s, logDir)
	if err != nil {
		ep.close()
		return nil, err
	}
	srv.v2, srv.url = ep, ep.url
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	go func() {
		select {
		case <-srv.proc.Done():
			cancel()
		case <-wctx.Done():
		}
	}()
	fail := func(what string, err error) (*server, error) {
		if !srv.alive() {
			srv.stop()
			return nil, fmt.Errorf("%s exited before it %s (%v); log: %s", s.name, what, srv.proc.ExitErr(), tail(srv.logPath))
		}
		srv.stop()
		return nil, fmt.Errorf("%s never %s: %w; log: %s", s.name, what, err, tail(srv.logPath))
	}
	rt, err := ep.m.WaitRuntime(wctx, "")
	if err != nil {
		return fail("registered", err)
	}
	srv.ready = time.Since(srv.started)
	what := "listed " + strings.Join(keys, ", ")
	for {
		actions, err := rt.ListActions(wctx)
		if err == nil {
			missing := missingKeys(actions, keys)
			if len(missing) == 0 {
				return srv, nil
			}
			err = fmt.Errorf("%s missing", strings.Join(missing, ", "))
		}
		select {
		case <-wctx.Done():
			return fail(what, err)
		case <-time.After(v2ListPoll):
		}
	}
}

// missingKeys returns the keys that actions lacks.
func missingKeys(actions map[string]v2manager.Action, keys []string) []string {
	var out []string
	for _, k := range keys {
		if _, ok := actions[k]; !ok {
			out = append(out, k)
		}
	}
	return out
}

// oneV2 runs the load's action once over v2 and waits for its result. For
// streams it returns the time to the first chunk and the number of chunks;
// n is the bytes of the result and the chunks.
func (ld load) oneV2(ctx context.Context) (first time.Duration, n int64, chunks int, err error) {
	// The callbacks run on the connection's read loop; a run cut off by
	// ctx may still get chunks after RunAction has returned.
	var nChunks, chunkBytes, firstAt atomic.Int64
	t := time.Now()
	var cb *v2manager.RunCallbacks
	if ld.kind == stream {
		cb = &v2manager.RunCallbacks{OnChunk: func(c json.RawMessage) {
			if nChunks.Add(1) == 1 {
				firstAt.Store(int64(time.Since(t)))
			}
			chunkBytes.Add(int64(len(c)))
		}}
	}
	res, err := ld.rt.RunAction(ctx, &v2manager.RunRequest{Key: ld.key, Input: ld.input, Stream: ld.kind == stream}, cb)
	first, n, chunks = time.Duration(firstAt.Load()), chunkBytes.Load(), int(nChunks.Load())
	if err != nil {
		return first, n, chunks, err
	}
	n += int64(len(res.Raw))
	switch {
	case res.Result == nil:
		return first, n, chunks, fmt.Errorf("no result: %.200s", res.Raw)
	case ld.kind == stream && chunks != ld.chunks:
		return first, n, chunks, fmt.Errorf("stream carried %d chunks, want %d", chunks, ld.chunks)
	}
	return first, n, chunks, nil
}
