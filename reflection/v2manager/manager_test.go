package v2manager_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/gorilla/websocket"

	"github.com/genkit-runtime/genkit-runtime/reflection/v2manager"
)

// fakeRuntime is a runtime written by hand, frame by frame, to drive the
// manager through exchanges a real runtime would not produce.
type fakeRuntime struct {
	t  *testing.T
	ws *websocket.Conn
}

func newManager(t testing.TB, opts *v2manager.Options) (*v2manager.Manager, string) {
	t.Helper()
	m := v2manager.New(opts)
	srv := httptest.NewServer(m)
	t.Cleanup(func() {
		m.Close()
		srv.Close()
	})
	return m, "ws" + strings.TrimPrefix(srv.URL, "http")
}

func dialFake(t *testing.T, url string) *fakeRuntime {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	return &fakeRuntime{t: t, ws: ws}
}

func (f *fakeRuntime) send(msg string) {
	f.t.Helper()
	if err := f.ws.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
		f.t.Fatal(err)
	}
}

// read returns the next message from the manager.
func (f *fakeRuntime) read() map[string]json.RawMessage {
	f.t.Helper()
	f.ws.SetReadDeadline(time.Now().Add(20 * time.Second))
	_, data, err := f.ws.ReadMessage()
	if err != nil {
		f.t.Fatal(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		f.t.Fatalf("%s: %v", data, err)
	}
	return m
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

const registerFake = `{"jsonrpc":"2.0","method":"register","id":"1","params":{"id":"fake","pid":1}}`

func TestRegisterAnswer(t *testing.T) {
	tests := []struct {
		name   string
		msg    string
		answer string // "" for no answer
		listed bool
	}{
		{name: "string id", msg: registerFake, answer: `{"id":"1","jsonrpc":"2.0","result":{"telemetryServerUrl":"http://t"}}`, listed: true},
		{name: "numeric id", msg: `{"jsonrpc":"2.0","method":"register","id":5,"params":{"id":"fake","pid":1}}`,
			answer: `{"id":5,"jsonrpc":"2.0","result":{"telemetryServerUrl":"http://t"}}`, listed: true},
		// The CLI answers only truthy ids.
		{name: "id 0", msg: `{"jsonrpc":"2.0","method":"register","id":0,"params":{"id":"fake","pid":1}}`, listed: true},
		{name: "empty id", msg: `{"jsonrpc":"2.0","method":"register","id":"","params":{"id":"fake","pid":1}}`, listed: true},
		{name: "notification", msg: `{"jsonrpc":"2.0","method":"register","params":{"id":"fake","pid":1}}`, listed: true},
		{name: "invalid params", msg: `{"jsonrpc":"2.0","method":"register","id":"1","params":{"id":"fake"}}`,
			answer: `{"error":{"code":-32602,"message":"invalid register params: params.pid: expected number, received undefined"},"id":"1","jsonrpc":"2.0"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &v2manager.Recorder{}
			m, url := newManager(t, &v2manager.Options{TelemetryServerURL: "http://t", OnMessage: rec.Record})
			f := dialFake(t, url)
			f.send(tt.msg)
			// A marker request: its answer comes after any answer to register.
			f.send(`{"jsonrpc":"2.0","method":"marker","id":"m"}`)
			var answers []string
			for {
				msg := f.read()
				if string(msg["id"]) == `"m"` {
					break
				}
				b, _ := json.Marshal(msg)
				answers = append(answers, string(b))
			}
			var want []string
			if tt.answer != "" {
				want = []string{tt.answer}
			}
			if diff := cmp.Diff(want, answers); diff != "" {
				t.Errorf("answers (-want +got):\n%s", diff)
			}
			rt, listed := m.Runtime("fake")
			if listed != tt.listed {
				t.Fatalf("listed = %v, want %v", listed, tt.listed)
			}
			if listed && (rt.Info().ID != "fake" || rt.Info().PID != 1) {
				t.Errorf("info = %+v", rt.Info())
			}
		})
	}
}

// serveRun registers the fake and returns the id of the runAction it then
// receives from start.
func (f *fakeRuntime) register(m *v2manager.Manager) *v2manager.Runtime {
	f.t.Helper()
	f.send(registerFake)
	f.read()
	rt, err := m.WaitRuntime(testCtx(f.t), "fake")
	if err != nil {
		f.t.Fatal(err)
	}
	return rt
}

func TestProtocolErrors(t *testing.T) {
	m, url := newManager(t, nil)
	f := dialFake(t, url)
	rt := f.register(m)
	ctx := testCtx(t)

	var states []v2manager.RunState
	run, err := rt.StartAction(ctx, &v2manager.RunRequest{Key: "/flow/x", Stream: true},
		&v2manager.RunCallbacks{OnState: func(s v2manager.RunState) { states = append(states, s) }})
	if err != nil {
		t.Fatal(err)
	}
	req := f.read()
	if diff := cmp.Diff(`{"key":"/flow/x","stream":true,"streamInput":false}`, string(req["params"])); diff != "" {
		t.Errorf("runAction params (-want +got):\n%s", diff)
	}
	if string(req["id"]) != `"1"` {
		t.Errorf("runAction id = %s, want \"1\"", req["id"])
	}
	for _, msg := range []string{
		`{"jsonrpc":"2.0","method":"runActionState","params":{"requestId":"1","state":{"traceId":"t1"}}}`,
		`{"jsonrpc":"2.0","method":"runActionState","params":{"requestId":"1","state":{"traceId":"t1"}}}`, // a second one
		`{"jsonrpc":"2.0","method":"streamChunk","params":{"requestId":1,"chunk":"numeric"}}`,             // numeric requestId
		`{"jsonrpc":"2.0","method":"streamChunk","params":{"requestId":"9","chunk":"stray"}}`,             // no such run
		`{"method":"streamChunk","params":{"requestId":"1","chunk":{"b":1,"a":"<"}}}`,                     // no version, still used
		`not json`,
		`{"jsonrpc":"2.0","id":"1","result":{"result":"ok","telemetry":{"traceId":"t1"}}}`,
		`{"jsonrpc":"2.0","method":"streamChunk","params":{"requestId":"1","chunk":"late"}}`, // after the result
		`{"jsonrpc":"2.0","method":"bogus"}`,
	} {
		f.send(msg)
	}
	res, err := run.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if string(res.Result) != `"ok"` || res.TraceID != "t1" || run.TraceID() != "t1" {
		t.Errorf("result = %+v", res)
	}
	var chunks []string
	for _, c := range res.Chunks {
		chunks = append(chunks, string(c))
	}
	// Chunks keep their bytes, member order included.
	if diff := cmp.Diff([]string{`{"b":1,"a":"<"}`}, chunks); diff != "" {
		t.Errorf("chunks (-want +got):\n%s", diff)
	}
	if len(states) != 2 {
		t.Errorf("OnState saw %d states, want 2", len(states))
	}
	// The last violation is recorded once the read loop gets to it: wait
	// for the answer to a request sent after it.
	f.send(`{"jsonrpc":"2.0","method":"marker","id":"m"}`)
	f.read()
	var got []string
	for _, err := range rt.ProtocolErrors() {
		got = append(got, err.Error())
	}
	want := []string{
		`runActionState #2 for requestId "1"`,
		`requestId: expected string, received number`,
		`streamChunk for requestId "9", which is no run in progress`,
		`"jsonrpc" must be "2.0"`,
		`not JSON`,
		`streamChunk for requestId "1", which is no run in progress`,
		`unknown method "bogus"`,
		`unknown method "marker"`,
	}
	if len(got) != len(want) {
		t.Fatalf("protocol errors:\n%s\nwant %d", strings.Join(got, "\n"), len(want))
	}
	for i := range want {
		if !strings.Contains(got[i], want[i]) {
			t.Errorf("protocol error %d = %q, want it to contain %q", i, got[i], want[i])
		}
	}
}

func TestRejectedResults(t *testing.T) {
	m, url := newManager(t, nil)
	f := dialFake(t, url)
	rt := f.register(m)
	ctx := testCtx(t)
	tests := []struct {
		name   string
		call   func() error
		answer string
		err    string
	}{
		{name: "null description", call: func() error { _, err := rt.ListActions(ctx); return err },
			answer: `{"actions":{"/flow/a":{"key":"/flow/a","name":"a","description":null}}}`, err: "listActions result rejected"},
		{name: "no values", call: func() error { _, err := rt.ListValues(ctx, "defaultModel"); return err },
			answer: `{}`, err: "listValues result rejected"},
		{name: "cancel without message", call: func() error { _, err := rt.CancelAction(ctx, "t"); return err },
			answer: `{"msg":"x"}`, err: "cancelAction result rejected"},
		{name: "run result not an object", call: func() error {
			_, err := rt.RunAction(ctx, &v2manager.RunRequest{Key: "/flow/x"}, nil)
			return err
		}, answer: `"done"`, err: "runAction result rejected"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errc := make(chan error, 1)
			go func() { errc <- tt.call() }()
			req := f.read()
			f.send(`{"jsonrpc":"2.0","id":` + string(req["id"]) + `,"result":` + tt.answer + `}`)
			if err := <-errc; err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("error = %v, want %q", err, tt.err)
			}
		})
	}
}

func TestErrorResponse(t *testing.T) {
	m, url := newManager(t, nil)
	f := dialFake(t, url)
	rt := f.register(m)
	errc := make(chan error, 1)
	go func() {
		_, err := rt.RunAction(testCtx(t), &v2manager.RunRequest{Key: "/flow/x"}, nil)
		errc <- err
	}()
	req := f.read()
	f.send(`{"jsonrpc":"2.0","id":` + string(req["id"]) +
		`,"error":{"code":-32000,"message":"boom","data":{"code":13,"message":"boom","details":{"traceId":"t"}}}}`)
	err := <-errc
	var e *v2manager.Error
	if !errors.As(err, &e) || !errors.Is(err, v2manager.ErrAction) {
		t.Fatalf("error = %v, want an action error", err)
	}
	st, ok := e.Status()
	if !ok || st.Code != 13 || st.TraceID() != "t" || e.Message != "boom" {
		t.Errorf("error = %+v, status %+v", e, st)
	}
}

func TestTimeoutAndDisconnect(t *testing.T) {
	m, url := newManager(t, &v2manager.Options{RequestTimeout: 50 * time.Millisecond})
	f := dialFake(t, url)
	rt := f.register(m)
	ctx := testCtx(t)
	// The fake never answers.
	if _, err := rt.ListActions(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("ListActions = %v, want a timeout", err)
	}
	run, err := rt.StartAction(ctx, &v2manager.RunRequest{Key: "/flow/x"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := run.Wait(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Wait = %v, want the context's deadline", err)
	}
	f.ws.Close()
	<-rt.Done()
	if _, err := run.Wait(ctx); !errors.Is(err, v2manager.ErrDisconnected) {
		t.Errorf("Wait after disconnect = %v", err)
	}
	select {
	case <-run.Started():
	default:
		t.Error("Started not closed for a run that ended")
	}
	if _, err := rt.ListActions(ctx); !errors.Is(err, v2manager.ErrDisconnected) {
		t.Errorf("ListActions after disconnect = %v", err)
	}
	if err := rt.WriteRaw(ctx, []byte(`{}`)); !errors.Is(err, v2manager.ErrDisconnected) {
		t.Errorf("WriteRaw after disconnect = %v", err)
	}
	if _, ok := m.Runtime("fake"); ok || len(m.Runtimes()) != 0 {
		t.Error("a disconnected runtime is still listed")
	}
	m.Close()
	if _, err := m.WaitRuntime(ctx, ""); !errors.Is(err, v2manager.ErrClosed) {
		t.Errorf("WaitRuntime after Close = %v", err)
	}
}

func TestRecorderWait(t *testing.T) {
	var r v2manager.Recorder
	r.Record(v2manager.Message{Direction: v2manager.Sent, Data: json.RawMessage(`1`)})
	ctx := testCtx(t)
	go r.Record(v2manager.Message{Direction: v2manager.Received, Data: json.RawMessage(`2`)})
	i, m, err := r.Wait(ctx, 0, func(m v2manager.Message) bool { return m.Direction == v2manager.Received })
	if err != nil || i != 1 || string(m.Data) != `2` {
		t.Errorf("Wait = %d, %s, %v", i, m.Data, err)
	}
	short, cancel := context.WithTimeout(ctx, time.Millisecond)
	defer cancel()
	if _, _, err := r.Wait(short, 2, func(v2manager.Message) bool { return true }); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Wait past the end = %v", err)
	}
	if r.Len() != 2 || len(r.Messages()) != 2 {
		t.Errorf("Len = %d", r.Len())
	}
}
