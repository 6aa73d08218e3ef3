package reflection_test

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/genkit-runtime/genkit-runtime/reflection/v2manager"
	"github.com/genkit-runtime/genkit-runtime/registry"
)

// v2TraceIDs matches trace ids, which differ from one run to the next.
var v2TraceIDs = regexp.MustCompile(`[0-9a-f]{32}`)

// TestV2FastPathSameFrames sends the same messages to a client with the
// fast path and to one without (every message through jsonrpc2): each
// writes back the same frames, byte for byte but for trace ids. The
// messages are those the fast path takes, and those it must leave to
// jsonrpc2, malformed or unusual, with their error answers.
func TestV2FastPathSameFrames(t *testing.T) {
	fast := newV2Env(t, nil)
	slow := newV2Env(t, &v2EnvConfig{noFastPath: true})
	tests := []struct {
		name    string
		send    []string
		answers []string // the raw ids of the answers to wait for
	}{
		{name: "echo", answers: []string{`"fp1"`}, send: []string{
			`{"jsonrpc":"2.0","method":"runAction","params":{"key":"/flow/echo","input":{"a":"<b>&\u003c é \u00e9 \"q\" \\"}},"id":"fp1"}`}},
		{name: "numeric id", answers: []string{`4242`}, send: []string{
			`{"jsonrpc":"2.0","method":"runAction","params":{"key":"/flow/echo","input":[1, 2.50, null]},"id":4242}`}},
		{name: "big and zero ids", answers: []string{`9223372036854775807`, `0`}, send: []string{
			`{"jsonrpc":"2.0","method":"runAction","params":{"key":"/flow/echo","input":1},"id":9223372036854775807}`,
			`{"jsonrpc":"2.0","method":"runAction","params":{"key":"/flow/echo","input":0},"id":0}`}},
		{name: "spacing and order", answers: []string{`"fp3"`}, send: []string{
			` { "params" : { "input" : { "x" : [ 1 , 2 ] } , "key" : "\/flow\/echo" } , "id" : "fp3" , "method" : "runAction" , "jsonrpc" : "2.0" } `}},
		{name: "stream", answers: []string{`"fp4"`, `77`}, send: []string{
			`{"jsonrpc":"2.0","method":"runAction","params":{"key":"/flow/count","input":{"count":3},"stream":true,"runtimeId":"rt"},"id":"fp4"}`,
			`{"jsonrpc":"2.0","method":"runAction","params":{"key":"/flow/count","input":{"count":2},"stream":true},"id":77}`}},
		{name: "labels and context", answers: []string{`"fp4b"`}, send: []string{
			`{"jsonrpc":"2.0","method":"runAction","params":{"key":"/flow/greet","input":{"name":"<Ann>"},"context":{"auth":{"uid":"u"}},"telemetryLabels":{"a":"b"},"init":null},"id":"fp4b"}`}},
		{name: "unknown key", answers: []string{`"fp5"`}, send: []string{
			`{"jsonrpc":"2.0","method":"runAction","params":{"key":"/flow/nope"},"id":"fp5"}`}},
		{name: "action error", answers: []string{`"fp6"`}, send: []string{
			`{"jsonrpc":"2.0","method":"runAction","params":{"key":"/flow/fail","input":{"status":"NOT_FOUND","message":"<gone> & \u00e9"}},"id":"fp6"}`}},
		{name: "invalid input", answers: []string{`"fp6b"`}, send: []string{
			`{"jsonrpc":"2.0","method":"runAction","params":{"key":"/flow/greet","input":{"name":""}},"id":"fp6b"}`}},
		{name: "bad params", answers: []string{`"fp7"`, `"fp7b"`, `null`, `"fp7d"`}, send: []string{
			`{"jsonrpc":"2.0","method":"runAction","params":{"key":"/flow/echo","stream":"yes"},"id":"fp7"}`,
			`{"jsonrpc":"2.0","method":"runAction","params":null,"id":"fp7b"}`,
			`{"jsonrpc":"2.0","method":"runAction","params":{"key":"/flow/echo","input":{"a":1,}},"id":"fp7c"}`,
			`{"jsonrpc":"2.0","method":"runAction","params":{"key":"/flow/echo","context":[]},"id":"fp7d"}`}},
		{name: "repeated id", answers: []string{`"fp8"`}, send: []string{
			`{"jsonrpc":"2.0","method":"runAction","params":{"key":"/flow/echo","input":8},"id":"fpa","id":"fp8"}`}},
		{name: "escaped id", answers: []string{`"fp9"`}, send: []string{
			`{"jsonrpc":"2.0","method":"runAction","params":{"key":"/flow/echo","input":9},"id":"fp\u0039"}`}},
		{name: "unicode id", answers: []string{`"fp-ré"`}, send: []string{
			`{"jsonrpc":"2.0","method":"runAction","params":{"key":"/flow/count","input":{"count":1},"stream":true},"id":"fp-ré"}`}},
		{name: "odd members", answers: []string{`"fp10"`, `"fp11"`, `"fp12"`}, send: []string{
			`{"jsonrpc":"2.0","method":"runAction","params":{"key":"/flow/echo"},"id":"fp10","Method":"x"}`,
			`{"jsonrpc":"2.0","method":"runAction","params":{"key":"/flow/echo","input":11},"id":"fp11","meta":{}}`,
			`{"jsonrpc":"2.0","method":"run\u0041ction","params":{"key":"/flow/echo","input":12},"id":"fp12"}`}},
		{name: "malformed", answers: []string{`null`, `null`, `"fp13"`}, send: []string{
			`{"jsonrpc":"2.0","method":"runAction","params":{"key":"/flow/echo"},"id":"fpx"} x`,
			`{"jsonrpc":"2.0","method":"runAction","params":{"key":"/flow/echo"},"id":"fpy"`,
			`{"jsonrpc":"2.0","method":"runAction","params":"x","id":"fp13"}`}},
		{name: "notifications", send: []string{
			`{"jsonrpc":"2.0","method":"runAction","params":{"key":"/flow/echo"}}`,
			`{"jsonrpc":"2.0","method":"runAction","params":{"key":"/flow/echo"},"id":null}`}},
		{name: "id in use", answers: []string{`"fpw"`, `"fpw"`}, send: []string{
			`{"jsonrpc":"2.0","method":"runAction","params":{"key":"/flow/wait","input":{"ms":300}},"id":"fpw"}`,
			`{"jsonrpc":"2.0","method":"runAction","params":{"key":"/flow/echo"},"id":"fpw"}`}},
		{name: "bidi", answers: []string{`"fpc"`, `"fpb"`, `"fpd"`}, send: []string{
			`{"jsonrpc":"2.0","method":"runAction","params":{"key":"/flow/chat","streamInput":true,"stream":true},"id":"fpb"}`,
			`{"jsonrpc":"2.0","method":"sendInputStreamChunk","params":{"requestId":"fpb","chunk":"one <&>"}}`,
			`{"jsonrpc":"2.0","method":"sendInputStreamChunk","params":{"chunk":"two","requestId":"fpb"},"id":"fpc"}`,
			`{"jsonrpc":"2.0","method":"sendInputStreamChunk","params":{"requestId":"fp\u0062","chunk":"three"}}`,
			`{"jsonrpc":"2.0","method":"sendInputStreamChunk","params":{"chunk":"none"},"id":"fpd"}`,
			`{"jsonrpc":"2.0","method":"endInputStream","params":{"requestId":"fpb"}}`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := v2Exchange(t, fast, tt.send, tt.answers)
			want := v2Exchange(t, slow, tt.send, tt.answers)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("frames with the fast path (+) and without (-):\n%s", diff)
			}
			if len(got) == 0 {
				t.Error("no frames")
			}
		})
	}
}

// v2Exchange sends frames to e's runtime, then a listValues request, and
// waits for the answers with the given raw ids and to listValues. It
// returns the frames the runtime wrote meanwhile, trace ids replaced, by
// the id they answer or the requestId they carry, each in the order
// written.
func v2Exchange(t *testing.T, e *v2Env, frames, answers []string) map[string][]string {
	t.Helper()
	ctx := v2Ctx(t)
	from := e.rec.Len()
	for _, f := range append(frames, `{"jsonrpc":"2.0","method":"listValues","params":{"type":"middleware"},"id":"fp-sync"}`) {
		if err := e.rt.WriteRaw(ctx, []byte(f)); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]int{`"fp-sync"`: 1}
	for _, id := range answers {
		want[id]++
	}
	out := map[string][]string{}
	for i := from; len(want) > 0; i++ {
		at, m, err := e.rec.Wait(ctx, i, func(m v2manager.Message) bool { return m.Direction == v2manager.Received })
		if err != nil {
			t.Fatalf("waiting for answers %v: %v (frames so far %v)", want, err, out)
		}
		i = at
		var f struct {
			ID     json.RawMessage `json:"id"`
			Method string          `json:"method"`
			Params struct {
				RequestID json.RawMessage `json:"requestId"`
			} `json:"params"`
		}
		if err := json.Unmarshal(m.Data, &f); err != nil {
			t.Fatalf("frame %s: %v", m.Data, err)
		}
		key := "answer " + string(f.ID)
		if f.Method != "" {
			key = f.Method + " " + string(f.Params.RequestID)
		} else if n := want[string(f.ID)]; n > 1 {
			want[string(f.ID)] = n - 1
		} else {
			delete(want, string(f.ID))
		}
		out[key] = append(out[key], v2TraceIDs.ReplaceAllString(string(m.Data), "<trace>"))
	}
	return out
}

// TestV2ChunkAfterRun checks that a chunk sent after its run has ended is
// refused rather than written after the answer.
func TestV2ChunkAfterRun(t *testing.T) {
	e := newV2Env(t, nil)
	kept := make(chan func(string) error, 1)
	if _, err := registry.DefineStreamingFlow(e.reg, "late", func(ctx context.Context, _ json.RawMessage, send func(string) error) (string, error) {
		kept <- send
		return "done", send("during")
	}, nil); err != nil {
		t.Fatal(err)
	}
	res, err := e.rt.RunAction(v2Ctx(t), &v2manager.RunRequest{Key: "/flow/late", Stream: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Chunks) != 1 || string(res.Chunks[0]) != `"during"` {
		t.Errorf("chunks %s, want the one sent during the run", res.Chunks)
	}
	send := <-kept
	if err := send("after"); err == nil || !strings.Contains(err.Error(), "after the run ended") {
		t.Errorf("send after the run = %v, want an error", err)
	}
	if _, err := e.rt.ListActions(v2Ctx(t)); err != nil {
		t.Fatal(err)
	}
	for _, m := range e.rec.Messages() {
		if strings.Contains(string(m.Data), `"after"`) {
			t.Errorf("frame %s written after the run", m.Data)
		}
	}
}
