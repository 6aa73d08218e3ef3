package v2manager_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"testing"

	"github.com/gorilla/websocket"

	"github.com/genkit-runtime/genkit-runtime/reflection/v2manager"
)

// BenchmarkStreamedRun measures the manager's cost of a streamed run: a
// hand-written runtime answers each runAction with a runActionState, 100
// streamChunk notifications and the result, frames encoded beforehand, so
// that what varies is the manager's reading of them, with and without
// Options.SkipValidation.
func BenchmarkStreamedRun(b *testing.B) {
	const chunks = 100
	for _, skip := range []bool{false, true} {
		b.Run(fmt.Sprintf("SkipValidation=%v", skip), func(b *testing.B) {
			m, url := newManager(b, &v2manager.Options{SkipValidation: skip})
			ws, _, err := websocket.DefaultDialer.Dial(url, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer ws.Close()
			send := func(msg []byte) {
				if err := ws.WriteMessage(websocket.TextMessage, msg); err != nil {
					b.Fatal(err)
				}
			}
			send([]byte(registerFake))
			if _, _, err := ws.ReadMessage(); err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			rt, err := m.WaitRuntime(ctx, "fake")
			if err != nil {
				b.Fatal(err)
			}
			// The runtime's side, in a goroutine of its own: it answers
			// runs until the connection ends.
			go func() {
				for {
					_, data, err := ws.ReadMessage()
					if err != nil {
						return
					}
					var req struct{ ID string }
					if json.Unmarshal(data, &req) != nil {
						return
					}
					id := strconv.Quote(req.ID)
					frames := [][]byte{[]byte(`{"jsonrpc":"2.0","method":"runActionState","params":{"requestId":` + id + `,"state":{"traceId":"0af7651916cd43dd8448eb211c80319c"}}}`)}
					for i := range chunks {
						frames = append(frames, []byte(`{"jsonrpc":"2.0","method":"streamChunk","params":{"requestId":`+id+`,"chunk":{"index":`+strconv.Itoa(i)+`}}}`))
					}
					frames = append(frames, []byte(`{"jsonrpc":"2.0","id":`+id+`,"result":{"result":{"count":100},"telemetry":{"traceId":"0af7651916cd43dd8448eb211c80319c"}}}`))
					for _, f := range frames {
						if ws.WriteMessage(websocket.TextMessage, f) != nil {
							return
						}
					}
				}
			}()
			n := 0
			cb := &v2manager.RunCallbacks{OnChunk: func(json.RawMessage) { n++ }}
			for b.Loop() {
				res, err := rt.RunAction(ctx, &v2manager.RunRequest{Key: "/flow/count", Input: json.RawMessage(`{"count":100}`), Stream: true}, cb)
				if err != nil {
					b.Fatal(err)
				}
				if len(res.Chunks) != chunks || res.TraceID == "" {
					b.Fatalf("%d chunks, trace %q", len(res.Chunks), res.TraceID)
				}
			}
			b.StopTimer()
			if n != b.N*chunks {
				b.Fatalf("OnChunk saw %d chunks, want %d", n, b.N*chunks)
			}
		})
	}
}
