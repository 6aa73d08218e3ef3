package reflection

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/sourcegraph/jsonrpc2"

	"github.com/genkit-runtime/genkit-runtime/internal/jsontext"
	"github.com/genkit-runtime/genkit-runtime/registry"
)

// viaJSONRPC2 is what a message encoded by jsonrpc2 is on the wire: what
// wsrpc.Stream.WriteObject writes for it.
func viaJSONRPC2(t *testing.T, msg any) string {
	t.Helper()
	b, err := json.Marshal(msg)
	if err != nil {
		t.Fatal(err)
	}
	return string(jsontext.UnescapeHTML(b))
}

// v2FrameIDs are request ids as jsonrpc2 decodes them.
var v2FrameIDs = []jsonrpc2.ID{
	{Str: "12", IsString: true},
	{Str: "", IsString: true},
	{Str: "a<b>&c", IsString: true},
	{Str: "ré-1\u2028\x01\"\\", IsString: true},
	{Num: 0},
	{Num: 9},
	{Num: 9223372036854775807},
}

// TestV2FramesMatchJSONRPC2 checks that the frames a run builds itself are
// byte for byte those jsonrpc2's Notify and Reply wrote through wsrpc.
func TestV2FramesMatchJSONRPC2(t *testing.T) {
	const traceID = "0af7651916cd43dd8448eb211c80319c"
	outputs := []string{`{"data":"x"}`, `"<b>&amp;</b>"`, `[1,2.5e3,null,true]`, `"é\u00e9\\u003c"`, `"\u003c\u003e\u0026"`, `{}`}
	chunks := []any{
		struct {
			Index int `json:"index"`
		}{7},
		"<tag> & \x01 \u2028",
		json.RawMessage(`{"a":[1,"<\u003c>"]}`),
		nil,
		map[string]any{"z": 1, "a": "b"},
	}
	for _, id := range v2FrameIDs {
		idj := idJSON(id)
		if want := viaJSONRPC2(t, id); string(idj) != want {
			t.Errorf("idJSON(%v) = %s, want %s", id, idj, want)
		}
		rid := requestIDJSON(id, idj)

		req := &jsonrpc2.Request{Method: "runActionState", Notif: true}
		req.SetParams(runStateParams{RequestID: idString(id), State: runState{TraceID: traceID}})
		if got, want := string(appendStateFrame(nil, rid, traceID)), viaJSONRPC2(t, req); got != want {
			t.Errorf("runActionState of id %v:\n got %s\nwant %s", id, got, want)
		}

		var r v2Run
		r.ridJSON = rid
		for _, c := range chunks {
			req := &jsonrpc2.Request{Method: "streamChunk", Notif: true}
			req.SetParams(streamChunkParams{RequestID: idString(id), Chunk: c})
			frame, err := r.chunkFrameLocked(c)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := string(frame), viaJSONRPC2(t, req); got != want {
				t.Errorf("streamChunk %v of id %v:\n got %s\nwant %s", c, id, got, want)
			}
		}

		for _, out := range outputs {
			res := registry.Result{Output: json.RawMessage(out), TraceID: traceID}
			resp := &jsonrpc2.Response{ID: id}
			resp.SetResult(finalOf(res, nil))
			if got, want := string(appendResultFrame(nil, idj, res)), viaJSONRPC2(t, resp); got != want {
				t.Errorf("result %s of id %v:\n got %s\nwant %s", out, id, got, want)
			}
		}
	}

	// Line and paragraph separators in raw JSON are not escaped, as
	// JSON.stringify and v1 leave them; the value is the same.
	raw := "\"a\u2028b\u2029c\""
	res := registry.Result{Output: json.RawMessage(raw), TraceID: traceID}
	frame := appendResultFrame(nil, []byte(`"s"`), res)
	if want := `{"id":"s","result":{"result":` + raw + `,"telemetry":{"traceId":"` + traceID + `"}},"jsonrpc":"2.0"}`; string(frame) != want {
		t.Errorf("result with separators:\n got %s\nwant %s", frame, want)
	}
	resp := &jsonrpc2.Response{ID: jsonrpc2.ID{Str: "s", IsString: true}}
	resp.SetResult(finalOf(res, nil))
	var got, want any
	if err := json.Unmarshal(frame, &got); err != nil {
		t.Fatal(err)
	}
	json.Unmarshal([]byte(viaJSONRPC2(t, resp)), &want)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("result with separators: %v, jsonrpc2's %v", got, want)
	}
}

// v2FastFrames are frames the fast path takes, or must leave to jsonrpc2.
var v2FastFrames = []string{
	`{"jsonrpc":"2.0","method":"runAction","params":{"key":"/flow/echo","input":{"a":1}},"id":"1"}`,
	`{"id":7,"jsonrpc":"2.0","method":"runAction","params":{"key":"/flow/echo"}}`,
	` { "params" : { "input" : [1, 2] , "key" : "\/flow\/echo" } , "method" : "runAction" , "jsonrpc" : "2.0" , "id" : "w" } `,
	`{"jsonrpc":"2.0","method":"runAction","params":{"key":"/flow/count","stream":true,"streamInput":null,"runtimeId":"x"},"id":"s"}`,
	`{"jsonrpc":"2.0","method":"sendInputStreamChunk","params":{"requestId":"b1","chunk":"hi"}}`,
	`{"jsonrpc":"2.0","method":"sendInputStreamChunk","params":{"chunk":{"x":[1]},"requestId":"b1"},"id":"c"}`,
	`{"jsonrpc":"2.0","method":"sendInputStreamChunk","params":{"requestId":"b1"}}`,

	`{"jsonrpc":"2.0","method":"runAction","params":{"key":"/flow/echo"},"id":"1","id":"2"}`,
	`{"jsonrpc":"2.0","method":"runAction","params":{"key":"/flow/echo"},"id":"i\u0064"}`,
	`{"jsonrpc":"2.0","method":"runAction","params":{"key":"/flow/echo"},"id":"ré"}`,
	`{"jsonrpc":"2.0","method":"runAction","params":{"key":"/flow/echo"},"id":null}`,
	`{"jsonrpc":"2.0","method":"runAction","params":{"key":"/flow/echo"}}`,
	`{"jsonrpc":"2.0","method":"runAction","params":{"key":"/flow/echo"},"id":-1}`,
	`{"jsonrpc":"2.0","method":"runAction","params":{"key":"/flow/echo"},"id":1.0}`,
	`{"jsonrpc":"2.0","method":"runAction","params":{"key":"/flow/echo"},"id":01}`,
	`{"jsonrpc":"2.0","method":"runAction","params":{"key":"/flow/echo"},"id":99999999999999999999}`,
	`{"jsonrpc":"2.0","method":"runAction","params":{"key":"/flow/echo","stream":"yes"},"id":"p"}`,
	`{"jsonrpc":"2.0","method":"runAction","params":{"input":1},"id":"p"}`,
	`{"jsonrpc":"2.0","method":"runAction","params":null,"id":"p"}`,
	`{"jsonrpc":"2.0","method":"runAction","params":[],"id":"p"}`,
	`{"jsonrpc":"2.0","method":"runAction","id":"p"}`,
	`{"jsonrpc":"2.0","method":"runAction","params":{"key":"/flow/echo"},"id":"1","Method":"x"}`,
	`{"jsonrpc":"2.0","method":"runAction","params":{"key":"/flow/echo"},"id":"1","meta":{}}`,
	`{"jsonrpc":"2.0","method":"runAction","params":{"key":"/flow/echo"},"id":"1","result":1}`,
	`{"jsonrpc":"2.0","method":"run\u0041ction","params":{"key":"/flow/echo"},"id":"1"}`,
	`{"jsonrpc":"1.0","method":"runAction","params":{"key":"/flow/echo"},"id":"1"}`,
	`{"jsonrpc":"2.0","method":"runAction","params":{"key":"/flow/echo"},"id":"1"} x`,
	`{"jsonrpc":"2.0","method":"runAction","params":{"key":"/flow/echo"},"id":"1"`,
	`[{"jsonrpc":"2.0","method":"runAction","params":{"key":"/flow/echo"},"id":"1"}]`,
	`{"jsonrpc":"2.0","method":"sendInputStreamChunk","params":{"chunk":1}}`,
	`{"jsonrpc":"2.0","method":"sendInputStreamChunk","params":{"requestId":"b\u0031","chunk":1}}`,
	`{"jsonrpc":"2.0","method":"sendInputStreamChunk","params":{"requestId":"b1","RequestId":"b2"}}`,
	`{"jsonrpc":"2.0","method":"sendInputStreamChunk","params":{"requestId":"b1","chunk":1,"chunk":2}}`,
	`{"jsonrpc":"2.0","method":"sendInputStreamChunk","params":{"requestId":null}}`,
	`{"jsonrpc":"2.0","method":"endInputStream","params":{"requestId":"b1"}}`,
}

// TestParseFastRequestAgrees checks the fast path's decoding of frames
// against the general way's.
func TestParseFastRequestAgrees(t *testing.T) {
	taken := 0
	for _, f := range v2FastFrames {
		if checkFastAgainstGeneral(t, []byte(f)) {
			taken++
		}
	}
	if taken != 7 {
		t.Errorf("the fast path took %d frames, want the first 7", taken)
	}
}

// FuzzParseFastRequest checks that every frame the fast path takes is one
// the general way decodes as the same request, with the same params.
func FuzzParseFastRequest(f *testing.F) {
	for _, s := range v2FastFrames {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) { checkFastAgainstGeneral(t, data) })
}

// checkFastAgainstGeneral decodes a frame both ways and reports whether the
// fast path took it. A frame it takes must pass checkMessage and decode,
// as jsonrpc2 decodes it, to a request of the same method and id (echoed
// with the same bytes), and to the same run request or input chunk.
func checkFastAgainstGeneral(t *testing.T, data []byte) bool {
	t.Helper()
	r, ok := parseFastRequest(data)
	if !ok {
		return false
	}
	// What intercept leaves to the general way besides.
	switch r.method {
	case methodRunAction:
		if _, err := decodeRunRequest(&r.body); err != nil {
			return false
		}
	case methodInputChunk:
		if _, _, ok := parseInputParams(r.params); !ok {
			return false
		}
	}
	params, reply, ok := checkMessage(data)
	if !ok {
		t.Fatalf("fast path took %q, which checkMessage refuses: %s", data, reply)
	}
	var req jsonrpc2.Request
	if err := json.Unmarshal(data, &req); err != nil {
		t.Fatalf("fast path took %q, which jsonrpc2 cannot decode: %v", data, err)
	}
	if req.Method != r.method || req.ID != r.id || req.Notif != (r.idJSON == nil) {
		t.Fatalf("frame %q: fast path %s %v (notification %v), jsonrpc2 %s %v (notification %v)",
			data, r.method, r.id, r.idJSON == nil, req.Method, req.ID, req.Notif)
	}
	if r.idJSON != nil && string(r.idJSON) != viaJSONRPC2(t, req.ID) {
		t.Fatalf("frame %q: fast path echoes id %s, jsonrpc2 %s", data, r.idJSON, viaJSONRPC2(t, req.ID))
	}
	switch r.method {
	case methodRunAction:
		var body runBody
		if err := body.decodeJSON(params, true); err != nil {
			t.Fatalf("frame %q: fast path decoded params the general way refuses: %v", data, err)
		}
		if got, want := runBodyString(&r.body), runBodyString(&body); got != want {
			t.Fatalf("frame %q: run request\nfast    %s\ngeneral %s", data, got, want)
		}
	case methodInputChunk:
		rid, chunk, _ := parseInputParams(r.params)
		var p inputParams
		if err := json.Unmarshal(params, &p); err != nil || p.RequestID == nil {
			t.Fatalf("frame %q: input params the general way refuses: %v", data, err)
		}
		if p.Chunk == nil {
			p.Chunk = json.RawMessage("null")
		}
		if rid != *p.RequestID || !bytes.Equal(chunk, p.Chunk) {
			t.Fatalf("frame %q: input chunk for %q %s, want for %q %s", data, rid, chunk, *p.RequestID, p.Chunk)
		}
	}
	return true
}

// runBodyString renders a decoded run request for comparison.
func runBodyString(b *runBody) string {
	key := "<nil>"
	if b.Key != nil {
		key = *b.Key
	}
	labels, _ := json.Marshal(b.TelemetryLabels)
	return strings.Join([]string{key, string(b.Input), string(b.Init), string(b.Context), string(labels),
		boolString(b.Stream), boolString(b.StreamInput)}, " | ")
}

func boolString(b bool) string {
	if b {
		return "true"
	}
	return "false"
}
