package reflection_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.opentelemetry.io/otel/codes"

	"github.com/genkit-runtime/genkit-runtime/reflection"
	"github.com/genkit-runtime/genkit-runtime/reflection/v2manager"
)

func TestV2Register(t *testing.T) {
	tests := []struct {
		name   string
		edit   func(*reflection.ClientOptions)
		params string
		info   v2manager.RuntimeInfo
	}{
		{
			name:   "options",
			params: `{"id":"rt-test","pid":4242,"name":"v2 test","genkitVersion":"genkit-runtime/test","reflectionApiSpecVersion":1,"envs":["dev"]}`,
			info: v2manager.RuntimeInfo{ID: "rt-test", PID: 4242, Name: "v2 test", GenkitVersion: "genkit-runtime/test",
				ReflectionAPISpecVersion: 1, Envs: []string{"dev"}},
		},
		{
			name: "defaults from the pid",
			edit: func(o *reflection.ClientOptions) {
				o.RuntimeID, o.Name, o.GenkitVersion, o.Envs = "", "", "", []string{"dev", "prod"}
			},
			params: `{"id":"4242","pid":4242,"name":"4242","reflectionApiSpecVersion":1,"envs":["dev","prod"]}`,
			info:   v2manager.RuntimeInfo{ID: "4242", PID: 4242, Name: "4242", ReflectionAPISpecVersion: 1, Envs: []string{"dev", "prod"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newV2Env(t, &v2EnvConfig{client: tt.edit, noWait: true})
			rt, err := e.mgr.WaitRuntime(v2Ctx(t), "")
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.info, rt.Info()); diff != "" {
				t.Errorf("Info (-want +got):\n%s", diff)
			}
			if id, ok := rt.RegisterID(); !ok || id.IsNumber() || id.String() != "1" {
				t.Errorf("register id = %v (request %v), want the string \"1\"", id, ok)
			}
			// The answer to register follows its processing.
			if _, _, err := e.rec.Wait(v2Ctx(t), 1, func(v2manager.Message) bool { return true }); err != nil {
				t.Fatalf("no answer to register: %v", err)
			}
			msgs := e.rec.Messages()
			want := []string{
				`{"jsonrpc":"2.0","method":"register","id":"1","params":` + tt.params + `}`,
				`{"jsonrpc":"2.0","id":"1","result":{"telemetryServerUrl":"` + v2TelemetryURL + `"}}`,
			}
			got := []string{v2JSON(t, string(msgs[0].Data)), v2JSON(t, string(msgs[1].Data))}
			for i := range want {
				want[i] = v2JSON(t, want[i])
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("register exchange (-want +got):\n%s", diff)
			}
			if msgs[0].Direction != v2manager.Received || msgs[1].Direction != v2manager.Sent {
				t.Errorf("directions = %v, %v", msgs[0].Direction, msgs[1].Direction)
			}
			select {
			case u := <-e.telemetry:
				if u != v2TelemetryURL {
					t.Errorf("OnTelemetryURL(%q), want %q", u, v2TelemetryURL)
				}
			case <-v2Ctx(t).Done():
				t.Error("OnTelemetryURL was not called")
			}
			v2CheckNoViolations(t, rt)
		})
	}
}

func TestV2Configure(t *testing.T) {
	e := newV2Env(t, nil)
	<-e.telemetry // from register
	if err := e.rt.Notify(v2Ctx(t), "configure", map[string]string{"telemetryServerUrl": "http://127.0.0.1:9999"}); err != nil {
		t.Fatal(err)
	}
	if got := <-e.telemetry; got != "http://127.0.0.1:9999" {
		t.Errorf("OnTelemetryURL(%q) after configure", got)
	}
}

// TestV2ListActions checks that listActions lists what GET /api/actions
// does, dynamic action providers included, in a shape the CLI accepts.
func TestV2ListActions(t *testing.T) {
	e := newV2Env(t, nil)
	got, err := e.rt.ListActions(v2Ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	reflection.NewHandler(e.reg, nil).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/actions", nil))
	var want map[string]v2manager.Action
	if err := json.Unmarshal(rec.Body.Bytes(), &want); err != nil {
		t.Fatalf("GET /api/actions: %v\n%s", err, rec.Body)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("listActions vs /api/actions (-want +got):\n%s", diff)
	}
	for _, key := range []string{"/flow/echo", "/flow/chat", "/tool/add", "/dynamic-action-provider/fixtureTools:tool/multiply"} {
		if _, ok := got[key]; !ok {
			t.Errorf("%s not listed", key)
		}
	}
	v2CheckNoViolations(t, e.rt)
}

func TestV2ListValues(t *testing.T) {
	e := newV2Env(t, nil)
	tests := []struct {
		typ     string
		want    string // the raw result
		code    int64
		message string
	}{
		{typ: "defaultModel", want: `{"values":{"defaultModel":{"name":"echoModel"}}}`},
		{typ: "middleware", want: `{"values":{}}`},
		{typ: "prompt", code: -32602, message: "'type' prompt is not supported. Only 'defaultModel' and 'middleware' are supported"},
	}
	for _, tt := range tests {
		t.Run(tt.typ, func(t *testing.T) {
			var raw json.RawMessage
			err := e.rt.Call(v2Ctx(t), "listValues", map[string]string{"type": tt.typ}, &raw)
			if tt.code != 0 {
				re := v2RPCError(t, err)
				if re.Code != tt.code || re.Message != tt.message {
					t.Errorf("error = %d %q, want %d %q", re.Code, re.Message, tt.code, tt.message)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(v2JSON(t, tt.want), v2JSON(t, string(raw))); diff != "" {
				t.Errorf("result (-want +got):\n%s", diff)
			}
			if _, err := e.rt.ListValues(v2Ctx(t), tt.typ); err != nil {
				t.Errorf("ListValues: %v", err)
			}
		})
	}
}

func TestV2RunAction(t *testing.T) {
	e := newV2Env(t, nil)
	tests := []struct {
		name   string
		params string // runAction params
		result string // want this result, or:
		code   int64  // want this JSON-RPC error code
		msg    string // and message
		status int    // and, when not -1, this Status code in data
		traced bool   // and a traceId in data.details
	}{
		{name: "echo", params: `{"key":"/flow/echo","input":{"a":[1,"<b>"]},"runtimeId":"ignored"}`, result: `{"a":[1,"<b>"]}`},
		{name: "greet", params: `{"key":"/flow/greet","input":{"name":"Ada","count":2},"context":{"auth":{"uid":"u"}},"telemetryLabels":{"l":"v"}}`,
			result: `"Hello, Ada! Hello, Ada!"`},
		{name: "dynamic tool", params: `{"key":"/dynamic-action-provider/fixtureTools:tool/multiply","input":{"a":6,"b":7}}`, result: `42`},
		{name: "chat without input stream", params: `{"key":"/flow/chat"}`, result: `{"received":0}`},
		{name: "schema failure", params: `{"key":"/flow/greet","input":{"name":""}}`, code: -32000, status: 3},
		{name: "action error", params: `{"key":"/flow/fail","input":{"status":"NOT_FOUND","message":"nope"}}`,
			code: -32000, msg: "NOT_FOUND: nope", status: 5, traced: true},
		{name: "permission denied", params: `{"key":"/flow/fail","input":{"status":"PERMISSION_DENIED","message":"no"}}`,
			code: -32000, msg: "PERMISSION_DENIED: no", status: 7, traced: true},
		{name: "unknown key", params: `{"key":"/flow/nope"}`, code: -32602, msg: "action /flow/nope not found", status: 5},
		{name: "no key", params: `{"input":1}`, code: -32602, msg: "invalid params: key is required", status: -1},
		{name: "no params", params: ``, code: -32602, msg: "invalid params: key is required", status: -1},
		{name: "key not a string", params: `{"key":5}`, code: -32602, status: -1},
		{name: "context not an object", params: `{"key":"/flow/echo","context":[1]}`, code: -32602,
			msg: "invalid params: context must be a JSON object", status: -1},
		{name: "params an array", params: `[1]`, code: -32602, status: -1},
		{name: "stream not a boolean", params: `{"key":"/flow/echo","stream":"yes"}`, code: -32602,
			msg: `invalid params: field "stream" must be a boolean, not a string`, status: -1},
		{name: "streamInput null", params: `{"key":"/flow/echo","input":1,"streamInput":null}`, result: `1`},
		{name: "switches in other case", params: `{"key":"/flow/echo","input":1,"Stream":"x","STREAMINPUT":7}`, result: `1`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var params any
			if tt.params != "" {
				params = json.RawMessage(tt.params)
			}
			var raw json.RawMessage
			err := e.rt.Call(v2Ctx(t), "runAction", params, &raw)
			if tt.code == 0 {
				if err != nil {
					t.Fatal(err)
				}
				var res struct {
					Result    json.RawMessage `json:"result"`
					Telemetry struct {
						TraceID string `json:"traceId"`
					} `json:"telemetry"`
				}
				if err := json.Unmarshal(raw, &res); err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(v2JSON(t, tt.result), v2JSON(t, string(res.Result))); diff != "" {
					t.Errorf("result (-want +got):\n%s", diff)
				}
				if len(res.Telemetry.TraceID) != 32 {
					t.Errorf("telemetry.traceId = %q", res.Telemetry.TraceID)
				}
				if !e.traced(res.Telemetry.TraceID) {
					t.Errorf("no span exported for trace %s", res.Telemetry.TraceID)
				}
				return
			}
			re := v2RPCError(t, err)
			if re.Code != tt.code || (tt.msg != "" && re.Message != tt.msg) {
				t.Errorf("error = %d %q, want %d %q", re.Code, re.Message, tt.code, tt.msg)
			}
			if tt.code == -32602 && tt.status == -1 && !strings.HasPrefix(re.Message, "invalid params: ") {
				t.Errorf("message %q does not say the params are invalid", re.Message)
			}
			if tt.status == -1 {
				return
			}
			st, ok := re.Status()
			if !ok {
				t.Fatalf("error data %s is not a Status", re.Data)
			}
			if st.Code != tt.status {
				t.Errorf("data.code = %d, want %d (%s)", st.Code, tt.status, st.Message)
			}
			if re.Code == -32000 && st.Message != re.Message {
				t.Errorf("data.message %q != message %q", st.Message, re.Message)
			}
			if st.Details == nil {
				t.Errorf("data.details missing: %s", re.Data)
			}
			if got := st.TraceID() != ""; got != tt.traced {
				t.Errorf("data.details.traceId present = %v, want %v (%s)", got, tt.traced, re.Data)
			}
		})
	}
	v2CheckNoViolations(t, e.rt)
}

// v2Traced reports whether a span of the trace was exported.
func (e *v2Env) traced(traceID string) bool {
	for _, s := range e.exp.GetSpans() {
		if s.SpanContext.TraceID().String() == traceID {
			return true
		}
	}
	return false
}

// v2Kind names a received message for order checks: the notification
// method for the run with request id rid, "result"/"error" for its
// response, "" for anything else.
func v2Kind(t testing.TB, m v2manager.Message, rid string) string {
	t.Helper()
	if m.Direction != v2manager.Received {
		return ""
	}
	f := v2Fields(t, m.Data)
	if method, ok := f["method"]; ok {
		var p struct {
			RequestID string `json:"requestId"`
		}
		json.Unmarshal(f["params"], &p)
		if p.RequestID != rid {
			return ""
		}
		var name string
		json.Unmarshal(method, &name)
		return name
	}
	var id string
	if json.Unmarshal(f["id"], &id) != nil || id != rid {
		return ""
	}
	if _, ok := f["error"]; ok {
		return "error"
	}
	return "result"
}

func TestV2StreamingOrder(t *testing.T) {
	e := newV2Env(t, nil)
	tests := []struct {
		name   string
		stream bool
		kinds  []string
		chunks []string
	}{
		{name: "stream", stream: true,
			kinds:  []string{"runActionState", "streamChunk", "streamChunk", "streamChunk", "result"},
			chunks: []string{`{"index":0}`, `{"index":1}`, `{"index":2}`}},
		{name: "no stream", kinds: []string{"runActionState", "result"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			from := e.rec.Len()
			var mu sync.Mutex
			var live []string // chunks as the callback saw them
			res, err := e.rt.RunAction(v2Ctx(t), &v2manager.RunRequest{Key: "/flow/count", Input: map[string]int{"count": 3}, Stream: tt.stream},
				&v2manager.RunCallbacks{OnChunk: func(c json.RawMessage) {
					mu.Lock()
					defer mu.Unlock()
					live = append(live, string(c))
				}})
			if err != nil {
				t.Fatal(err)
			}
			if got := v2JSON(t, string(res.Result)); got != `{"count":3}` {
				t.Errorf("result = %s", got)
			}
			var rid string
			for _, m := range e.rec.Messages()[from:] {
				if m.Direction == v2manager.Sent {
					var req struct {
						Method string `json:"method"`
						ID     string `json:"id"`
					}
					json.Unmarshal(m.Data, &req)
					if req.Method == "runAction" {
						rid = req.ID
					}
				}
			}
			var kinds []string
			for _, m := range e.rec.Messages()[from:] {
				if k := v2Kind(t, m, rid); k != "" {
					kinds = append(kinds, k)
				}
			}
			if diff := cmp.Diff(tt.kinds, kinds); diff != "" {
				t.Errorf("message order (-want +got):\n%s", diff)
			}
			var chunks []string
			for _, c := range res.Chunks {
				chunks = append(chunks, string(c))
			}
			if diff := cmp.Diff(tt.chunks, chunks); diff != "" {
				t.Errorf("chunks (-want +got):\n%s", diff)
			}
			mu.Lock()
			if diff := cmp.Diff(tt.chunks, live); diff != "" {
				t.Errorf("OnChunk (-want +got):\n%s", diff)
			}
			mu.Unlock()
			if len(res.States) != 1 || res.States[0].TraceID != res.TraceID {
				t.Errorf("states = %+v, want one with trace %s", res.States, res.TraceID)
			}
		})
	}
	v2CheckNoViolations(t, e.rt)
}

// TestV2RunActionStateOnce checks that nested spans do not send more
// runActionState notifications.
func TestV2RunActionStateOnce(t *testing.T) {
	e := newV2Env(t, nil)
	res, err := e.rt.RunAction(v2Ctx(t), &v2manager.RunRequest{Key: "/flow/steps", Input: map[string]int{"steps": 3}, Stream: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := v2JSON(t, string(res.Result)); got != `["step-1","step-2","step-3"]` {
		t.Errorf("result = %s", got)
	}
	if diff := cmp.Diff([]v2manager.RunState{{TraceID: res.TraceID}}, res.States); diff != "" {
		t.Errorf("states (-want +got):\n%s", diff)
	}
	n := 0
	for _, s := range e.exp.GetSpans() {
		if s.SpanContext.TraceID().String() == res.TraceID {
			n++
		}
	}
	if n != 4 {
		t.Errorf("trace has %d spans, want 4 (flow and 3 steps)", n)
	}
	v2CheckNoViolations(t, e.rt)
}

func TestV2Cancel(t *testing.T) {
	e := newV2Env(t, nil)
	ctx := v2Ctx(t)
	run, err := e.rt.StartAction(ctx, &v2manager.RunRequest{Key: "/flow/wait", Input: map[string]int{"ms": 600000}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	<-run.Started()
	traceID := run.TraceID()
	if traceID == "" {
		t.Fatal("no runActionState before the run ended")
	}
	msg, err := e.rt.CancelAction(ctx, traceID)
	if err != nil || msg != "Action cancelled" {
		t.Fatalf("CancelAction = %q, %v", msg, err)
	}
	_, err = run.Wait(ctx)
	re := v2RPCError(t, err)
	st, _ := re.Status()
	if re.Code != -32000 || re.Message != "Action was cancelled" || st.Code != 1 || st.TraceID() != traceID {
		t.Errorf("run error = %d %q data %s, want -32000, Status code 1 with the trace id", re.Code, re.Message, re.Data)
	}
	span := e.ends.waitRootEnd(t, traceID)
	if span.Status().Code != codes.Error {
		t.Errorf("span status = %v", span.Status())
	}

	_, err = e.rt.CancelAction(ctx, traceID)
	re = v2RPCError(t, err)
	if re.Code != -32602 || re.Message != "Action not found or already completed" {
		t.Errorf("second cancel = %d %q", re.Code, re.Message)
	}
	err = e.rt.Call(ctx, "cancelAction", map[string]any{}, nil)
	if re := v2RPCError(t, err); re.Code != -32602 || re.Message != "invalid params: traceId is required" {
		t.Errorf("cancel without traceId = %d %q", re.Code, re.Message)
	}
	v2CheckNoViolations(t, e.rt)
}

func TestV2Bidi(t *testing.T) {
	e := newV2Env(t, nil)
	ctx := v2Ctx(t)
	t.Run("input after start", func(t *testing.T) {
		run, err := e.rt.StartAction(ctx, &v2manager.RunRequest{Key: "/flow/chat", Stream: true, StreamInput: true}, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range []string{"hello", "wörld", "<&>"} {
			if err := run.SendInput(ctx, s); err != nil {
				t.Fatal(err)
			}
		}
		if err := run.EndInput(ctx); err != nil {
			t.Fatal(err)
		}
		res, err := run.Wait(ctx)
		if err != nil {
			t.Fatal(err)
		}
		v2CheckChat(t, res, []string{`"HELLO"`, `"WÖRLD"`, `"<&>"`})
	})
	t.Run("input before start", func(t *testing.T) {
		// Input that arrives before its run is buffered for it.
		id := v2manager.StringID("early")
		for _, s := range []string{"a", "b"} {
			if err := e.rt.SendInputChunk(ctx, id.String(), s); err != nil {
				t.Fatal(err)
			}
		}
		if err := e.rt.EndInput(ctx, id.String()); err != nil {
			t.Fatal(err)
		}
		res, err := e.rt.RunAction(ctx, &v2manager.RunRequest{Key: "/flow/chat", Stream: true, StreamInput: true}, nil, v2manager.WithID(id))
		if err != nil {
			t.Fatal(err)
		}
		v2CheckChat(t, res, []string{`"A"`, `"B"`})
	})
	t.Run("input after its run", func(t *testing.T) {
		id := v2manager.StringID("reused")
		if _, err := e.rt.RunAction(ctx, &v2manager.RunRequest{Key: "/flow/echo", Input: 1}, nil, v2manager.WithID(id)); err != nil {
			t.Fatal(err)
		}
		// A chunk for a finished run is dropped, not kept for a later run
		// that happens to reuse the id.
		if err := e.rt.SendInputChunk(ctx, id.String(), "late"); err != nil {
			t.Fatal(err)
		}
		run, err := e.rt.StartAction(ctx, &v2manager.RunRequest{Key: "/flow/chat", Stream: true, StreamInput: true}, nil, v2manager.WithID(id))
		if err != nil {
			t.Fatal(err)
		}
		if err := run.SendInput(ctx, "x"); err != nil {
			t.Fatal(err)
		}
		if err := run.EndInput(ctx); err != nil {
			t.Fatal(err)
		}
		res, err := run.Wait(ctx)
		if err != nil {
			t.Fatal(err)
		}
		v2CheckChat(t, res, []string{`"X"`})
	})
	v2CheckNoViolations(t, e.rt)
}

func v2CheckChat(t *testing.T, res *v2manager.RunResult, want []string) {
	t.Helper()
	var chunks []string
	for _, c := range res.Chunks {
		chunks = append(chunks, string(c))
	}
	if diff := cmp.Diff(want, chunks); diff != "" {
		t.Errorf("chunks (-want +got):\n%s", diff)
	}
	wantRes := `{"received":` + strconv.Itoa(len(want)) + `}`
	if got := v2JSON(t, string(res.Result)); got != wantRes {
		t.Errorf("result = %s, want %s", got, wantRes)
	}
}
