package reflection_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.opentelemetry.io/otel/codes"

	"github.com/genkit-runtime/genkit-runtime/reflection"
	"github.com/genkit-runtime/genkit-runtime/reflection/v2manager"
	"github.com/genkit-runtime/genkit-runtime/registry"
	"github.com/genkit-runtime/genkit-runtime/status"
)

// TestV2IDs checks that request ids are echoed exactly, strings and
// numbers alike, and copied into requestId as strings.
func TestV2IDs(t *testing.T) {
	e := newV2Env(t, nil)
	tests := []struct {
		name  string
		id    v2manager.ID
		wire  string // the id on the wire
		run   bool   // send runAction (else listActions)
		reqID string // the requestId of notifications
	}{
		{name: "string", id: v2manager.StringID("abc"), wire: `"abc"`},
		{name: "number", id: v2manager.NumberID(7), wire: `7`},
		{name: "numeric string", id: v2manager.StringID("8"), wire: `"8"`, run: true, reqID: "8"},
		{name: "number run", id: v2manager.NumberID(9), wire: `9`, run: true, reqID: "9"},
		{name: "unicode string run", id: v2manager.StringID("ré-1"), wire: `"ré-1"`, run: true, reqID: "ré-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			from := e.rec.Len()
			if tt.run {
				res, err := e.rt.RunAction(v2Ctx(t), &v2manager.RunRequest{Key: "/flow/count", Input: map[string]int{"count": 1}, Stream: true},
					nil, v2manager.WithID(tt.id))
				if err != nil {
					t.Fatal(err)
				}
				if len(res.States) != 1 || len(res.Chunks) != 1 {
					t.Errorf("states %v, chunks %v: notifications not routed by requestId %q", res.States, res.Chunks, tt.reqID)
				}
			} else if _, err := e.rt.ListActions(v2Ctx(t), v2manager.WithID(tt.id)); err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, m := range e.rec.Messages()[from:] {
				f := v2Fields(t, m.Data)
				if _, isRequest := f["method"]; isRequest && m.Direction == v2manager.Received {
					var p struct {
						RequestID any `json:"requestId"`
					}
					json.Unmarshal(f["params"], &p)
					if p.RequestID != tt.reqID {
						t.Errorf("requestId = %#v, want the string %q", p.RequestID, tt.reqID)
					}
					continue
				}
				ids = append(ids, m.Direction.String()+" "+string(f["id"]))
			}
			want := []string{"sent " + tt.wire, "received " + tt.wire}
			if diff := cmp.Diff(want, ids); diff != "" {
				t.Errorf("ids (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("raw", func(t *testing.T) {
		// Ids the manager API cannot send: 0, "", and numbers as big as
		// int64 allows.
		for _, id := range []string{`0`, `""`, `9223372036854775807`} {
			from := e.rec.Len()
			req := `{"jsonrpc":"2.0","method":"listValues","id":` + id + `,"params":{"type":"middleware"}}`
			if err := e.rt.WriteRaw(v2Ctx(t), []byte(req)); err != nil {
				t.Fatal(err)
			}
			_, m, err := e.rec.Wait(v2Ctx(t), from, func(m v2manager.Message) bool { return m.Direction == v2manager.Received })
			if err != nil {
				t.Fatal(err)
			}
			want := v2JSON(t, `{"jsonrpc":"2.0","id":`+id+`,"result":{"values":{}}}`)
			if got := v2JSON(t, string(m.Data)); got != want {
				t.Errorf("answer = %s, want %s", got, want)
			}
		}
	})
	if _, err := e.rt.ListActions(v2Ctx(t), v2manager.WithID(v2manager.NumberID(0))); err == nil {
		t.Error("ListActions with id 0 did not fail")
	}
	v2CheckNoViolations(t, e.rt)
}

// TestV2BadMessages sends malformed and unexpected messages: each gets the
// JSON-RPC error it calls for, and none ends the connection.
func TestV2BadMessages(t *testing.T) {
	e := newV2Env(t, nil)
	tests := []struct {
		name string
		send string
		id   string // the id of the answer
		code int64
		msg  string // the message, or its prefix when it ends in "*"
	}{
		{name: "not JSON", send: `{"jsonrpc":"2.0",`, id: `null`, code: -32700, msg: "Parse error"},
		{name: "batch", send: `[{"jsonrpc":"2.0","method":"listActions","id":"b"}]`, id: `null`, code: -32600, msg: "Invalid Request: batches are not supported"},
		{name: "string", send: `"listActions"`, id: `null`, code: -32600, msg: "Invalid Request: *"},
		{name: "no version", send: `{"method":"listActions","id":"v"}`, id: `"v"`, code: -32600, msg: `Invalid Request: "jsonrpc" must be "2.0"`},
		{name: "old version", send: `{"jsonrpc":"1.0","method":"listActions","id":3}`, id: `3`, code: -32600, msg: "Invalid Request: *"},
		{name: "method not a string", send: `{"jsonrpc":"2.0","method":5,"id":"m5"}`, id: `"m5"`, code: -32600, msg: "Invalid Request: method must be a string"},
		{name: "neither request nor response", send: `{"jsonrpc":"2.0","id":"n"}`, id: `"n"`, code: -32600, msg: "Invalid Request: *"},
		{name: "negative id", send: `{"jsonrpc":"2.0","method":"listActions","id":-1}`, id: `-1`, code: -32600, msg: "Invalid Request: id must be*"},
		{name: "fractional id", send: `{"jsonrpc":"2.0","method":"listActions","id":1.5}`, id: `1.5`, code: -32600, msg: "Invalid Request: id must be*"},
		{name: "object id", send: `{"jsonrpc":"2.0","method":"listActions","id":{}}`, id: `null`, code: -32600, msg: "Invalid Request: id must be*"},
		{name: "params a string", send: `{"jsonrpc":"2.0","method":"runAction","id":"ps","params":"x"}`, id: `"ps"`, code: -32600, msg: "Invalid Request: params*"},
		{name: "unknown method", send: `{"jsonrpc":"2.0","method":"nope","id":"u"}`, id: `"u"`, code: -32601, msg: "Method not found: nope"},
		{name: "bad run params", send: `{"jsonrpc":"2.0","method":"runAction","id":"r","params":{"key":"/flow/echo","stream":"yes"}}`, id: `"r"`, code: -32602, msg: "invalid params: *"},
		{name: "bad labels", send: `{"jsonrpc":"2.0","method":"runAction","id":"l","params":{"key":"/flow/echo","telemetryLabels":{"a":1}}}`, id: `"l"`, code: -32602, msg: "invalid params: *"},
		{name: "values without type", send: `{"jsonrpc":"2.0","method":"listValues","id":"t","params":{}}`, id: `"t"`, code: -32602, msg: "invalid params: type is required"},
		{name: "values type not a string", send: `{"jsonrpc":"2.0","method":"listValues","id":"t2","params":{"type":1}}`, id: `"t2"`, code: -32602, msg: "invalid params: *"},
		{name: "input chunk without requestId", send: `{"jsonrpc":"2.0","method":"sendInputStreamChunk","id":"c","params":{"chunk":1}}`, id: `"c"`, code: -32602, msg: "invalid params: requestId is required"},
	}
	ctx := v2Ctx(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			from := e.rec.Len()
			if err := e.rt.WriteRaw(ctx, []byte(tt.send)); err != nil {
				t.Fatal(err)
			}
			_, m, err := e.rec.Wait(ctx, from, func(m v2manager.Message) bool { return m.Direction == v2manager.Received })
			if err != nil {
				t.Fatal(err)
			}
			var got struct {
				JSONRPC string          `json:"jsonrpc"`
				ID      json.RawMessage `json:"id"`
				Error   struct {
					Code    int64  `json:"code"`
					Message string `json:"message"`
				} `json:"error"`
			}
			if err := json.Unmarshal(m.Data, &got); err != nil {
				t.Fatalf("answer %s: %v", m.Data, err)
			}
			if got.JSONRPC != "2.0" || string(got.ID) != tt.id || got.Error.Code != tt.code {
				t.Errorf("answer = %s, want id %s and code %d", m.Data, tt.id, tt.code)
			}
			if prefix, ok := strings.CutSuffix(tt.msg, "*"); ok && !strings.HasPrefix(got.Error.Message, prefix) ||
				!ok && got.Error.Message != tt.msg {
				t.Errorf("message = %q, want %q", got.Error.Message, tt.msg)
			}
		})
	}
	t.Run("unknown notification", func(t *testing.T) {
		// Not answered: the next answer is the one to the next request.
		from := e.rec.Len()
		for _, m := range []string{`{"jsonrpc":"2.0","method":"nope"}`, `{"jsonrpc":"2.0","method":"listActions","id":"after"}`} {
			if err := e.rt.WriteRaw(ctx, []byte(m)); err != nil {
				t.Fatal(err)
			}
		}
		_, m, err := e.rec.Wait(ctx, from, func(m v2manager.Message) bool { return m.Direction == v2manager.Received })
		if err != nil {
			t.Fatal(err)
		}
		if id := string(v2Fields(t, m.Data)["id"]); id != `"after"` {
			t.Errorf("first answer %s, want the one to \"after\"", m.Data)
		}
	})
	t.Run("still connected", func(t *testing.T) {
		select {
		case <-e.rt.Done():
			t.Fatal("the connection ended")
		default:
		}
		if _, err := e.rt.ListActions(ctx); err != nil {
			t.Fatal(err)
		}
		registers := 0
		for _, m := range e.rec.Messages() {
			if m.Direction == v2manager.Received && bytes.Contains(m.Data, []byte(`"method":"register"`)) {
				registers++
			}
		}
		if registers != 1 {
			t.Errorf("%d registrations, want 1", registers)
		}
	})
}

// v2ListenSame listens on addr again after its previous listener closed.
func v2ListenSame(t testing.TB, addr string) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listening on %s again: %v", addr, err)
	}
	return ln
}

// TestV2ManagerRestart closes the manager in the middle of a run: the run
// is cancelled (its span ends) and the runtime registers with the new
// manager on the same address.
func TestV2ManagerRestart(t *testing.T) {
	e := newV2Env(t, nil)
	ctx := v2Ctx(t)
	run, err := e.rt.StartAction(ctx, &v2manager.RunRequest{Key: "/flow/wait", Input: map[string]int{"ms": 600000}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	<-run.Started()
	traceID := run.TraceID()
	addr := e.srv.Listener.Addr().String()

	e.mgr.Close()
	e.srv.Close()
	if _, err := run.Wait(ctx); !errors.Is(err, v2manager.ErrDisconnected) {
		t.Errorf("Wait = %v, want ErrDisconnected", err)
	}
	span := e.ends.waitRootEnd(t, traceID)
	if span.Status().Code != codes.Error || span.Status().Description != "Action was cancelled" {
		t.Errorf("span status = %+v, want the cancelled error", span.Status())
	}

	rec := &v2manager.Recorder{}
	mgr := v2manager.New(&v2manager.Options{OnMessage: rec.Record})
	srv := httptest.NewUnstartedServer(mgr)
	srv.Listener.Close()
	srv.Listener = v2ListenSame(t, addr)
	srv.Start()
	t.Cleanup(func() {
		e.stop()
		mgr.Close()
		srv.Close()
	})
	rt := e.waitRuntime(t, mgr)
	res, err := rt.RunAction(ctx, &v2manager.RunRequest{Key: "/flow/echo", Input: "again"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if string(res.Result) != `"again"` {
		t.Errorf("result = %s", res.Result)
	}
	// Only the new run's result crosses the new connection.
	for _, m := range rec.Messages() {
		if bytes.Contains(m.Data, []byte(traceID)) {
			t.Errorf("the interrupted run leaked onto the new connection: %s", m.Data)
		}
	}
	v2CheckNoViolations(t, rt)
}

// TestV2DeadPeer plays a manager that stops answering pings: the runtime
// notices within its pong wait and connects again.
func TestV2DeadPeer(t *testing.T) {
	e := newV2Env(t, &v2EnvConfig{client: func(o *reflection.ClientOptions) {
		o.PingInterval = 20 * time.Millisecond
		o.PongWait = 200 * time.Millisecond
	}})
	// Pongs keep a live connection open across many ping intervals.
	for range 3 {
		if _, err := e.rt.ListActions(v2Ctx(t)); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	e.rt.IgnorePings(true)
	select {
	case <-e.rt.Done():
	case <-v2Ctx(t).Done():
		t.Fatal("the runtime kept a connection to a dead peer")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("noticed after %v", d)
	}
	rt := e.waitRuntime(t, e.mgr)
	if rt == e.rt {
		t.Fatal("same connection")
	}
	if _, err := rt.ListActions(v2Ctx(t)); err != nil {
		t.Fatal(err)
	}
}

// v2FlakyListener fails the first connection: it accepts it and closes it
// at once, so the WebSocket handshake fails.
type v2FlakyListener struct {
	net.Listener
	once   sync.Once
	failed chan struct{}
}

func (l *v2FlakyListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		first := false
		l.once.Do(func() { first = true })
		if !first {
			return c, nil
		}
		c.Close()
		close(l.failed)
	}
}

// v2Logs is a slog handler that passes records to a channel.
type v2Logs struct{ ch chan slog.Record }

func (h v2Logs) Enabled(context.Context, slog.Level) bool { return true }
func (h v2Logs) Handle(_ context.Context, r slog.Record) error {
	select {
	case h.ch <- r:
	default:
	}
	return nil
}
func (h v2Logs) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h v2Logs) WithGroup(string) slog.Handler      { return h }

func TestV2FirstDialFails(t *testing.T) {
	t.Run("handshake fails", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		flaky := &v2FlakyListener{Listener: ln, failed: make(chan struct{})}
		e := newV2Env(t, &v2EnvConfig{listener: flaky})
		select {
		case <-flaky.failed:
		default:
			t.Error("the first connection did not fail")
		}
		if _, err := e.rt.ListActions(v2Ctx(t)); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("nothing listening", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		logs := v2Logs{ch: make(chan slog.Record, 64)}
		reg := registry.New(nil)
		client := reflection.NewClient(reg, &reflection.ClientOptions{
			ServerURL: "ws://" + addr, RuntimeID: "rt-test", Logger: slog.New(logs),
			MinBackoff: time.Millisecond, MaxBackoff: 20 * time.Millisecond,
		})
		ctx, cancel := context.WithCancel(context.Background())
		runErr := make(chan error, 1)
		go func() { runErr <- client.Run(ctx) }()
		defer func() {
			cancel()
			if err := <-runErr; !errors.Is(err, context.Canceled) {
				t.Errorf("Run = %v", err)
			}
		}()
		// Wait for two failed dials: the client keeps trying.
		for failures := 0; failures < 2; {
			select {
			case r := <-logs.ch:
				if strings.Contains(r.Message, "dial failed") {
					failures++
				}
			case <-v2Ctx(t).Done():
				t.Fatal("no failed dial logged")
			}
		}
		mgr := v2manager.New(nil)
		srv := httptest.NewUnstartedServer(mgr)
		srv.Listener.Close()
		srv.Listener = v2ListenSame(t, addr)
		srv.Start()
		defer srv.Close()
		defer mgr.Close()
		defer cancel()
		rt, err := mgr.WaitRuntime(v2Ctx(t), "rt-test")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := rt.ListActions(v2Ctx(t)); err != nil {
			t.Fatal(err)
		}
	})
}

func TestV2BadServerURL(t *testing.T) {
	for _, u := range []string{"http://127.0.0.1:1", "127.0.0.1:1", "ws://[::1"} {
		c := reflection.NewClient(registry.New(nil), &reflection.ClientOptions{ServerURL: u})
		if err := c.Run(context.Background()); err == nil || errors.Is(err, context.Canceled) {
			t.Errorf("Run with %q = %v, want an error", u, err)
		}
	}
}

// TestV2StopCancelsRuns stops the client in the middle of a run, with no
// grace period: the run is cancelled at once and still answered before the
// connection closes.
func TestV2StopCancelsRuns(t *testing.T) {
	e := newV2Env(t, nil)
	run, err := e.rt.StartAction(v2Ctx(t), &v2manager.RunRequest{Key: "/flow/wait", Input: map[string]int{"ms": 600000}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	<-run.Started()
	e.stop() // returns once the run has ended
	if s := e.ends.waitRootEnd(t, run.TraceID()); s.Status().Code != codes.Error {
		t.Errorf("span status = %+v", s.Status())
	}
	_, err = run.Wait(v2Ctx(t))
	if st, ok := v2RPCError(t, err).Status(); !ok || st.Code != int(status.Cancelled) || st.TraceID() != run.TraceID() {
		t.Errorf("Wait = %v (status %+v), want CANCELLED of trace %s", err, st, run.TraceID())
	}
}

// TestV2ShutdownGrace stops the client with runs in progress and a grace
// period: a run that ends within it gets its result, a stream keeps
// streaming, requests that arrive meanwhile are refused with UNAVAILABLE,
// and at the end of the grace period the rest are cancelled, each answered
// before the connection closes.
func TestV2ShutdownGrace(t *testing.T) {
	const grace = 800 * time.Millisecond
	e := newV2Env(t, &v2EnvConfig{client: func(o *reflection.ClientOptions) { o.ShutdownGrace = grace }})
	ctx := v2Ctx(t)
	start := func(key string, input any, stream bool) *v2manager.Run {
		t.Helper()
		run, err := e.rt.StartAction(ctx, &v2manager.RunRequest{Key: key, Input: input, Stream: stream}, nil)
		if err != nil {
			t.Fatal(err)
		}
		<-run.Started()
		return run
	}
	short := start("/flow/wait", map[string]int{"ms": 300}, false)
	long := start("/flow/wait", map[string]int{"ms": 600000}, false)
	stream := start("/flow/count", map[string]int{"count": 1000, "delayMs": 20}, true)

	stopped := make(chan time.Time, 1)
	began := time.Now()
	go func() {
		e.stop()
		stopped <- time.Now()
	}()
	// Until the client notices the stop, runs are still taken; after it,
	// they are refused.
	for {
		_, err := e.rt.RunAction(ctx, &v2manager.RunRequest{Key: "/flow/echo", Input: 1}, nil)
		if err == nil {
			continue
		}
		st, ok := v2RPCError(t, err).Status()
		if !ok || st.Code != int(status.Unavailable) {
			t.Fatalf("run during shutdown: %v (status %+v), want UNAVAILABLE", err, st)
		}
		break
	}

	if res, err := short.Wait(ctx); err != nil || string(res.Result) != `{"waitedMs":300}` {
		t.Errorf("short run: %v, %v; want its result", res, err)
	}
	for _, run := range []*v2manager.Run{long, stream} {
		_, err := run.Wait(ctx)
		if st, ok := v2RPCError(t, err).Status(); !ok || st.Code != int(status.Cancelled) {
			t.Errorf("run %s: %v (status %+v), want CANCELLED", run.ID(), err, st)
		}
	}
	end := <-stopped
	if d := end.Sub(began); d < grace || d > grace+3*time.Second {
		t.Errorf("stopped after %v; want the grace period %v, plus a little", d, grace)
	}
	if n := len(stream.Chunks()); n < 10 {
		t.Errorf("the stream sent %d chunks during the grace period; want it to go on streaming", n)
	}
}

func TestV2ConcurrentRuns(t *testing.T) {
	e := newV2Env(t, nil)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			res, err := e.rt.RunAction(v2Ctx(t), &v2manager.RunRequest{Key: "/flow/count", Input: map[string]int{"count": 50}, Stream: i%2 == 0}, nil)
			if err != nil {
				t.Error(err)
				return
			}
			if want := map[bool]int{true: 50, false: 0}[i%2 == 0]; len(res.Chunks) != want || len(res.States) != 1 {
				t.Errorf("run %d: %d chunks, %d states", i, len(res.Chunks), len(res.States))
			}
		})
	}
	wg.Wait()
	v2CheckNoViolations(t, e.rt)
}

func TestV2MaxConcurrentRuns(t *testing.T) {
	e := newV2Env(t, &v2EnvConfig{client: func(o *reflection.ClientOptions) { o.MaxConcurrentRuns = 1 }})
	ctx := v2Ctx(t)
	run, err := e.rt.StartAction(ctx, &v2manager.RunRequest{Key: "/flow/wait", Input: map[string]int{"ms": 600000}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	<-run.Started()
	_, err = e.rt.RunAction(ctx, &v2manager.RunRequest{Key: "/flow/echo", Input: 1}, nil)
	if st, _ := v2RPCError(t, err).Status(); st.Code != 8 {
		t.Errorf("second run: %v, want RESOURCE_EXHAUSTED", err)
	}
	if _, err := e.rt.ListActions(ctx); !errors.Is(err, v2manager.ErrAction) {
		t.Errorf("listActions while busy: %v, want an action error", err)
	}
	if _, err := e.rt.CancelAction(ctx, run.TraceID()); err != nil {
		t.Fatal(err)
	}
	if _, err := run.Wait(ctx); err == nil {
		t.Fatal("cancelled run succeeded")
	}
	// The slot is free once the run's answer is out.
	if _, err := e.rt.RunAction(ctx, &v2manager.RunRequest{Key: "/flow/echo", Input: 1}, nil); err != nil {
		t.Fatal(err)
	}
}

// TestV2InputOverflow sends input to a run that never reads it: past the
// buffer, the run is cancelled with RESOURCE_EXHAUSTED.
func TestV2InputOverflow(t *testing.T) {
	e := newV2Env(t, nil)
	_, err := registry.DefineBidiFlow(e.reg, "deaf", func(ctx context.Context, _ json.RawMessage, in <-chan string, send func(string) error) (string, error) {
		<-ctx.Done()
		return "", ctx.Err()
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := v2Ctx(t)
	run, err := e.rt.StartAction(ctx, &v2manager.RunRequest{Key: "/flow/deaf", StreamInput: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for range 1100 {
		if err := run.SendInput(ctx, "x"); err != nil {
			t.Fatal(err)
		}
	}
	_, err = run.Wait(ctx)
	st, ok := v2RPCError(t, err).Status()
	if !ok || st.Code != 8 || st.TraceID() == "" {
		t.Errorf("run error = %v (%+v), want RESOURCE_EXHAUSTED with a trace id", err, st)
	}
}

// v2StuckSource is an action source whose listing never ends by itself.
type v2StuckSource struct{ listing chan struct{} }

func (s v2StuckSource) ListActions(ctx context.Context) ([]registry.Descriptor, error) {
	s.listing <- struct{}{}
	<-ctx.Done()
	return nil, ctx.Err()
}

func (v2StuckSource) ResolveAction(context.Context, string) (*registry.Action, error) {
	return nil, nil
}

// TestV2ShutdownCancelsListing stops the client while a listing waits on a
// source that never answers: at the end of the grace period the listing is
// cancelled like the runs, and answered before the connection closes.
func TestV2ShutdownCancelsListing(t *testing.T) {
	src := v2StuckSource{listing: make(chan struct{}, 1)}
	e := newV2Env(t, &v2EnvConfig{client: func(o *reflection.ClientOptions) { o.ShutdownGrace = 100 * time.Millisecond }})
	e.reg.AddSource(src)
	ctx := v2Ctx(t)
	answered := make(chan error, 1)
	go func() {
		var raw json.RawMessage
		answered <- e.rt.Call(ctx, "listActions", nil, &raw)
	}()
	<-src.listing
	e.stop()
	select {
	case err := <-answered:
		if errors.Is(err, v2manager.ErrDisconnected) {
			t.Errorf("listActions = %v; want an answer before the connection closed", err)
		}
	case <-ctx.Done():
		t.Fatal("listActions not answered")
	}
}
