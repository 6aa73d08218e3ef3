package wsrpc_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/gorilla/websocket"
	"github.com/sourcegraph/jsonrpc2"
	"go.uber.org/goleak"

	"github.com/genkit-runtime/genkit-runtime/internal/wsrpc"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// seen is what the server side of a test saw.
type seen struct {
	mu      sync.Mutex // guards the fields below
	params  []string   // method=params of each request handled
	frames  []string   // "<" for received, ">" for sent, then the frame
	skipped []string
}

func (s *seen) add(list *[]string, v string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	*list = append(*list, v)
}

// TestStream drives a Stream over a real WebSocket: params reach the
// handler byte for byte, a frame the check refuses is answered with its
// reply and skipped, a frame jsonrpc2 cannot decode is skipped and
// reported, and every frame is seen by OnFrame.
func TestStream(t *testing.T) {
	var s seen
	handled := make(chan struct{}, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
		if err != nil {
			t.Error(err)
			return
		}
		stream := wsrpc.New(ws, wsrpc.Options{
			WriteTimeout:    time.Second,
			MaxMessageBytes: 1 << 20,
			Check: func(data []byte) (json.RawMessage, []byte, error) {
				if strings.Contains(string(data), "refuse") {
					return nil, []byte(`{"refused":true}`), errors.New("refused")
				}
				var m struct{ Params json.RawMessage }
				if err := json.Unmarshal(data, &m); err != nil {
					return nil, nil, err
				}
				return m.Params, nil, nil
			},
			OnFrame: func(sent bool, data []byte) {
				dir := "<"
				if sent {
					dir = ">"
				}
				s.add(&s.frames, dir+string(data))
			},
			OnSkip: func(data []byte, err error) { s.add(&s.skipped, string(data)) },
		})
		h := jsonrpc2.HandlerWithError(func(ctx context.Context, conn *jsonrpc2.Conn, req *jsonrpc2.Request) (any, error) {
			s.add(&s.params, req.Method+"="+string(stream.Params()))
			handled <- struct{}{}
			return "ok", nil
		})
		conn := jsonrpc2.NewConn(r.Context(), stream, h, jsonrpc2.SetLogger(wsrpc.DebugLogger(nil)))
		<-conn.DisconnectNotify()
		<-stream.Done()
	}))
	defer srv.Close()

	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	send := func(frame string) {
		t.Helper()
		if err := ws.WriteMessage(websocket.TextMessage, []byte(frame)); err != nil {
			t.Fatal(err)
		}
	}
	read := func() string {
		t.Helper()
		ws.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, data, err := ws.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	}

	send(`{"jsonrpc":"2.0","method":"refuse"}`)
	if got := read(); got != `{"refused":true}` {
		t.Errorf("reply to a refused frame: %s", got)
	}
	send(`{"jsonrpc":"2.0","id":1,"error":5}`) // passes the check; jsonrpc2 cannot decode it
	send(`{"jsonrpc":"2.0","id":2,"method":"a","params":{ "z" : 1, "a":"<&>" }}`)
	if got := read(); got != `{"id":2,"result":"ok","jsonrpc":"2.0"}` {
		t.Errorf("answer: %s", got)
	}
	send(`{"jsonrpc":"2.0","method":"b"}`)
	<-handled
	<-handled
	ws.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
	ws.Close()
	srv.Close() // waits for the handler, so s is complete

	if diff := cmp.Diff([]string{`a={ "z" : 1, "a":"<&>" }`, `b=`}, s.params); diff != "" {
		t.Errorf("params seen by the handler (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{`{"jsonrpc":"2.0","id":1,"error":5}`}, s.skipped); diff != "" {
		t.Errorf("skipped (-want +got):\n%s", diff)
	}
	wantFrames := []string{
		`<{"jsonrpc":"2.0","method":"refuse"}`,
		`>{"refused":true}`,
		`<{"jsonrpc":"2.0","id":1,"error":5}`,
		`<{"jsonrpc":"2.0","id":2,"method":"a","params":{ "z" : 1, "a":"<&>" }}`,
		`>{"id":2,"result":"ok","jsonrpc":"2.0"}`,
		`<{"jsonrpc":"2.0","method":"b"}`,
	}
	if diff := cmp.Diff(wantFrames, s.frames); diff != "" {
		t.Errorf("frames (-want +got):\n%s", diff)
	}
}
