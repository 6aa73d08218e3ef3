package v2manager

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var actionsTests = []struct {
	name string
	raw  string
	want map[string]Action
	err  string // a substring of the error
}{
	{
		name: "complete",
		raw: `{"actions":{"/flow/a":{"key":"/flow/a","name":"a","description":"d","inputSchema":{"type":"string"},
			"metadata":{"s":"x","n":1,"b":true,"o":{"nested":null},"l":["x",2,{"k":[1]}]}}}}`,
		want: map[string]Action{"/flow/a": {Key: "/flow/a", Name: "a", Description: "d", InputSchema: json.RawMessage(`{"type":"string"}`),
			Metadata: map[string]any{"s": "x", "n": float64(1), "b": true, "o": map[string]any{"nested": nil}, "l": []any{"x", float64(2), map[string]any{"k": []any{float64(1)}}}}}},
	},
	{name: "empty", raw: `{"actions":{}}`, want: map[string]Action{}},
	{name: "key from the map", raw: `{"actions":{"/flow/b":{"name":"b"}}}`, want: map[string]Action{"/flow/b": {Key: "/flow/b", Name: "b"}}},
	{name: "null metadata dropped", raw: `{"actions":{"/flow/c":{"key":"/flow/c","name":"c","metadata":null}}}`,
		want: map[string]Action{"/flow/c": {Key: "/flow/c", Name: "c"}}},
	{name: "null description", raw: `{"actions":{"/flow/d":{"key":"/flow/d","name":"d","description":null}}}`, err: `.description: expected undefined | string, received null`},
	{name: "no name", raw: `{"actions":{"/flow/e":{"key":"/flow/e"}}}`, err: `.name: expected string, received undefined`},
	{name: "null metadata value", raw: `{"actions":{"/flow/f":{"name":"f","metadata":{"x":null}}}}`, err: `.metadata.x: expected`},
	{name: "nested array", raw: `{"actions":{"/flow/g":{"name":"g","metadata":{"x":[[1]]}}}}`, err: `.metadata.x[0]: expected`},
	{name: "metadata an array", raw: `{"actions":{"/flow/h":{"name":"h","metadata":[]}}}`, err: `.metadata: expected undefined | object, received array`},
	{name: "key not a string", raw: `{"actions":{"/flow/i":{"name":"i","key":1}}}`, err: `.key: expected`},
	{name: "json schema a string", raw: `{"actions":{"/flow/j":{"name":"j","inputJsonSchema":"x"}}}`, err: `.inputJsonSchema: expected`},
	{name: "no actions", raw: `{}`, err: `result.actions: expected object, received undefined`},
	{name: "actions an array", raw: `{"actions":[]}`, err: `result.actions: expected object, received array`},
	{name: "result null", raw: `null`, err: `result: expected object, received null`},
}

func TestDecodeActions(t *testing.T) {
	for _, tt := range actionsTests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeActions(json.RawMessage(tt.raw))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error = %v, want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("actions (-want +got):\n%s", diff)
			}
		})
	}
}

func FuzzDecodeActions(f *testing.F) {
	for _, tt := range actionsTests {
		f.Add(tt.raw)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		actions, err := decodeActions(json.RawMessage(raw))
		if err != nil {
			return
		}
		for key, a := range actions {
			if a.Key == "" && key != "" {
				t.Fatalf("%q: empty key", key)
			}
			for k, v := range a.Metadata {
				if v == nil {
					t.Fatalf("%s: metadata %s is null", key, k)
				}
			}
		}
	})
}

func TestDecodeRunResult(t *testing.T) {
	tests := []struct {
		raw  string
		want *RunResult
		err  string
	}{
		{raw: `{"result":"x","telemetry":{"traceId":"t"}}`, want: &RunResult{Result: json.RawMessage(`"x"`), TraceID: "t"}},
		{raw: `{"telemetry":{}}`, want: &RunResult{}},
		{raw: `{"result":null}`, want: &RunResult{Result: json.RawMessage(`null`)}},
		{raw: `{"result":1,"genkitVersion":"v","extra":true}`, want: &RunResult{Result: json.RawMessage(`1`)}},
		{raw: `{"telemetry":null}`, err: "result.telemetry: expected undefined | object, received null"},
		{raw: `{"telemetry":{"traceId":5}}`, err: "result.telemetry.traceId"},
		{raw: `{"genkitVersion":1}`, err: "result.genkitVersion"},
		{raw: `"done"`, err: "result: expected object, received string"},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			got, err := decodeRunResult(json.RawMessage(tt.raw))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error = %v, want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.want.Raw = json.RawMessage(tt.raw)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("result (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecodeRegister(t *testing.T) {
	tests := []struct {
		raw  string
		want RuntimeInfo
		err  string
	}{
		{raw: `{"id":"r","pid":12,"name":"n","genkitVersion":"go/1","reflectionApiSpecVersion":1,"envs":["dev"]}`,
			want: RuntimeInfo{ID: "r", PID: 12, Name: "n", GenkitVersion: "go/1", ReflectionAPISpecVersion: 1, Envs: []string{"dev"}}},
		{raw: `{"id":"r","pid":12}`, want: RuntimeInfo{ID: "r", PID: 12}},
		{raw: `{"id":12,"pid":12}`, err: "params.id: expected string, received number"},
		{raw: `{"id":"r"}`, err: "params.pid: expected number, received undefined"},
		{raw: `{"id":"r","pid":"12"}`, err: "params.pid"},
		{raw: `{"id":"r","pid":1,"name":null}`, err: "params.name"},
		{raw: `{"id":"r","pid":1,"envs":"dev"}`, err: "params.envs"},
		{raw: `{"id":"r","pid":1,"envs":[1]}`, err: "params"},
		{raw: `null`, err: "params: expected object, received null"},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			got, err := decodeRegister(json.RawMessage(tt.raw))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error = %v, want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("info (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecodeNotification(t *testing.T) {
	tests := []struct {
		method, raw string
		err         string
	}{
		{method: "runActionState", raw: `{"requestId":"1","state":{"traceId":"t"}}`},
		{method: "runActionState", raw: `{"requestId":"1"}`},
		{method: "runActionState", raw: `{"requestId":1,"state":{"traceId":"t"}}`, err: "requestId: expected string, received number"},
		{method: "runActionState", raw: `{"requestId":"1","state":null}`, err: "state: expected undefined | object"},
		{method: "runActionState", raw: `{"requestId":"1","state":{"traceId":1}}`, err: "traceId"},
		{method: "streamChunk", raw: `{"requestId":"1","chunk":null}`},
		{method: "streamChunk", raw: `{"requestId":"1"}`},
		{method: "streamChunk", raw: `{"chunk":1}`, err: "requestId"},
		{method: "streamChunk", raw: `null`, err: "expected object"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.raw, func(t *testing.T) {
			_, err := decodeNotification(tt.method, json.RawMessage(tt.raw))
			if tt.err == "" && err != nil || tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)) {
				t.Errorf("error = %v, want %q", err, tt.err)
			}
		})
	}
}

func TestErrorStatus(t *testing.T) {
	e := &Error{Code: -32000, Message: "NOT_FOUND: x",
		Data: json.RawMessage(`{"code":5,"message":"NOT_FOUND: x","details":{"traceId":"abc","stack":"s"}}`)}
	st, ok := e.Status()
	if !ok {
		t.Fatal("no Status")
	}
	want := Status{Code: 5, Message: "NOT_FOUND: x", Details: map[string]any{"traceId": "abc", "stack": "s"}}
	if diff := cmp.Diff(want, st); diff != "" {
		t.Errorf("Status (-want +got):\n%s", diff)
	}
	if st.TraceID() != "abc" {
		t.Errorf("TraceID = %q", st.TraceID())
	}
	if !errors.Is(fmt.Errorf("wrapped: %w", e), ErrAction) || errors.Is(e, ErrInvalidParams) {
		t.Error("errors.Is does not match by code")
	}
	for _, data := range []string{``, `null`, `{"stack":"s"}`, `{"code":"5","message":"m"}`, `[1]`} {
		if _, ok := (&Error{Data: json.RawMessage(data)}).Status(); ok {
			t.Errorf("Status of data %q reported ok", data)
		}
	}
}

func TestID(t *testing.T) {
	tests := []struct {
		id         ID
		json, text string
	}{
		{StringID("1"), `"1"`, "1"},
		{StringID(""), `""`, ""},
		{StringID(`a"b`), `"a\"b"`, `a"b`},
		{NumberID(7), `7`, "7"},
		{NumberID(0), `0`, "0"},
	}
	for _, tt := range tests {
		b, err := json.Marshal(tt.id)
		if err != nil || string(b) != tt.json || tt.id.String() != tt.text {
			t.Errorf("%#v: JSON %s (%v), text %q; want %s, %q", tt.id, b, err, tt.id.String(), tt.json, tt.text)
		}
		if idOf(tt.id.rpc()) != tt.id {
			t.Errorf("%#v does not survive the jsonrpc2 round trip", tt.id)
		}
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		data   string
		params string
		err    string // "" for none; "fatal: ..." for a fatal violation
	}{
		{data: `{"jsonrpc":"2.0","method":"register","id":"1","params":{"b":1,"a":2}}`, params: `{"b":1,"a":2}`},
		{data: `{"jsonrpc":"2.0","id":"1","result":null}`},
		{data: `{"jsonrpc":"2.0","id":"1","error":{"code":1,"message":"m"}}`},
		{data: `{"method":"streamChunk","params":{}}`, params: `{}`, err: `"jsonrpc" must be "2.0"`},
		{data: `nope`, err: "fatal: not JSON"},
		{data: `[]`, err: "fatal: a JSON-RPC message must be an object, not array"},
		{data: `{"jsonrpc":"2.0","id":"1"}`, err: "fatal: neither"},
		{data: `{"jsonrpc":"2.0","id":"1","error":null}`, err: "fatal: neither"},
		{data: `{"jsonrpc":"2.0","id":"1","error":"x"}`, err: "fatal: error must be an object"},
		{data: `{"jsonrpc":"2.0","method":"x","result":1}`, err: "fatal: both"},
		{data: `{"jsonrpc":"2.0","method":1}`, err: "fatal: method must be a string"},
		{data: `{"jsonrpc":"2.0","method":"x","id":-1}`, err: "fatal: id must be"},
		{data: `{"jsonrpc":"2.0","method":"x","id":[]}`, err: "fatal: id must be"},
	}
	for _, tt := range tests {
		t.Run(tt.data, func(t *testing.T) {
			params, err := classify([]byte(tt.data))
			var got string
			if err != nil {
				var fatal *fatalViolation
				if errors.As(err, &fatal) {
					got = "fatal: "
				}
				got += err.Error()
			}
			if want, _ := strings.CutPrefix(tt.err, "fatal: "); tt.err == "" && got != "" ||
				tt.err != "" && (!strings.HasPrefix(got, tt.err[:len(tt.err)-len(want)]) || !strings.Contains(got, want)) {
				t.Errorf("classify error = %q, want %q", got, tt.err)
			}
			if err == nil || !strings.HasPrefix(got, "fatal: ") {
				if string(params) != tt.params {
					t.Errorf("params = %s, want %s", params, tt.params)
				}
			}
		})
	}
}
