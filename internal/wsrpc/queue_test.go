package wsrpc_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/gorilla/websocket"
	"github.com/sourcegraph/jsonrpc2"

	"github.com/genkit-runtime/genkit-runtime/internal/wsrpc"
)

// peer serves one WebSocket connection that reads every frame into
// frames until the connection ends, and can write to it.
type peer struct {
	srv    *httptest.Server
	frames chan string
	conn   chan *websocket.Conn
}

func newPeer(t *testing.T) *peer {
	t.Helper()
	p := &peer{frames: make(chan string, 100000), conn: make(chan *websocket.Conn, 1)}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
		if err != nil {
			t.Error(err)
			return
		}
		defer ws.Close()
		p.conn <- ws
		for {
			_, data, err := ws.ReadMessage()
			if err != nil {
				close(p.frames)
				return
			}
			p.frames <- string(data)
		}
	}))
	t.Cleanup(p.srv.Close)
	return p
}

// dial connects to the peer through wsrpc.NetDialContext and returns a
// stream over the connection, closed at the end of the test.
func (p *peer) dial(t *testing.T, opts wsrpc.Options) *wsrpc.Stream {
	t.Helper()
	d := websocket.Dialer{NetDialContext: wsrpc.NetDialContext}
	ws, _, err := d.Dial("ws"+strings.TrimPrefix(p.srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if opts.WriteTimeout == 0 {
		opts.WriteTimeout = 5 * time.Second
	}
	s := wsrpc.New(ws, opts)
	t.Cleanup(func() { s.Close() })
	return s
}

// next returns the next frame the peer read.
func (p *peer) next(t *testing.T) string {
	t.Helper()
	select {
	case f, ok := <-p.frames:
		if !ok {
			t.Fatal("connection ended")
		}
		return f
	case <-time.After(10 * time.Second):
		t.Fatal("no frame")
	}
	return ""
}

// TestWriteOrder writes frames from many goroutines at once, queued and
// waited for: every frame arrives once, and each goroutine's frames arrive
// in the order it wrote them, its last (waited for) after the others.
func TestWriteOrder(t *testing.T) {
	p := newPeer(t)
	s := p.dial(t, wsrpc.Options{})
	const writers, frames = 8, 300
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range frames {
				f := fmt.Appendf(nil, `{"w":%d,"i":%d,"pad":"%s"}`, w, i, strings.Repeat("x", i))
				var err error
				if i%50 == 49 {
					err = s.WriteFrame(f)
				} else {
					err = s.QueueFrame(f)
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	next := make([]int, writers)
	for range writers * frames {
		var w, i int
		f := p.next(t)
		if _, err := fmt.Sscanf(f, `{"w":%d,"i":%d,`, &w, &i); err != nil {
			t.Fatalf("frame %q: %v", f, err)
		}
		if i != next[w] {
			t.Fatalf("writer %d: frame %d arrived when %d was due", w, i, next[w])
		}
		if want := fmt.Sprintf(`{"w":%d,"i":%d,"pad":"%s"}`, w, i, strings.Repeat("x", i)); f != want {
			t.Fatalf("frame %q, want %q", f, want)
		}
		next[w]++
	}
}

// TestWriteAfterClose checks that nothing is written once the stream is
// closed, and that writes say so.
func TestWriteAfterClose(t *testing.T) {
	p := newPeer(t)
	s := p.dial(t, wsrpc.Options{})
	if err := s.WriteFrame([]byte(`"first"`)); err != nil {
		t.Fatal(err)
	}
	if err := s.QueueFrame([]byte(`"second"`)); err != nil {
		t.Fatal(err)
	}
	if got := p.next(t) + p.next(t); got != `"first""second"` {
		t.Errorf("frames %s", got)
	}
	s.Close()
	if err := s.WriteFrame([]byte(`"late"`)); err == nil {
		t.Error("WriteFrame after Close: no error")
	}
	if err := s.QueueFrame([]byte(`"late"`)); err == nil {
		t.Error("QueueFrame after Close: no error")
	}
	for f := range p.frames {
		t.Errorf("frame %s after Close", f)
	}
}

// TestWriteFailure checks that a write to a connection the peer closed
// fails, and every write after it.
func TestWriteFailure(t *testing.T) {
	p := newPeer(t)
	s := p.dial(t, wsrpc.Options{WriteTimeout: time.Second})
	if err := s.WriteFrame([]byte(`1`)); err != nil {
		t.Fatal(err)
	}
	(<-p.conn).NetConn().Close()
	var err error
	deadline := time.Now().Add(10 * time.Second)
	for err == nil && time.Now().Before(deadline) {
		// The first writes may land in the socket's buffers.
		err = s.WriteFrame([]byte(strings.Repeat("x", 1<<16)))
	}
	if err == nil {
		t.Fatal("writes to a closed connection never failed")
	}
	if err := s.QueueFrame([]byte(`2`)); err == nil {
		t.Error("QueueFrame after a failed write: no error")
	}
	if err := s.WriteFrame([]byte(`3`)); err == nil {
		t.Error("WriteFrame after a failed write: no error")
	}
}

// TestIntercept checks that frames Intercept takes never reach Check or
// jsonrpc2, and that the others do, in order.
func TestIntercept(t *testing.T) {
	p := newPeer(t)
	var mu sync.Mutex
	var taken, checked, handled []string
	add := func(list *[]string, v string) {
		mu.Lock()
		defer mu.Unlock()
		*list = append(*list, v)
	}
	done := make(chan struct{})
	s := p.dial(t, wsrpc.Options{
		Intercept: func(data []byte) bool {
			if strings.Contains(string(data), "fast") {
				add(&taken, string(data))
				return true
			}
			return false
		},
		Check: func(data []byte) (json.RawMessage, []byte, error) {
			add(&checked, string(data))
			return nil, nil, nil
		},
	})
	conn := jsonrpc2.NewConn(context.Background(), s, jsonrpc2.HandlerWithError(
		func(_ context.Context, _ *jsonrpc2.Conn, req *jsonrpc2.Request) (any, error) {
			add(&handled, req.Method)
			if req.Method == "end" {
				close(done)
			}
			return nil, nil
		}), jsonrpc2.SetLogger(wsrpc.DebugLogger(nil)))
	defer conn.Close()
	ws := <-p.conn
	for _, m := range []string{"a", "fast1", "b", "fast2", "end"} {
		if err := ws.WriteMessage(websocket.TextMessage, []byte(`{"jsonrpc":"2.0","method":"`+m+`"}`)); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("not handled")
	}
	mu.Lock()
	defer mu.Unlock()
	if diff := cmp.Diff([]string{`{"jsonrpc":"2.0","method":"fast1"}`, `{"jsonrpc":"2.0","method":"fast2"}`}, taken); diff != "" {
		t.Errorf("taken (-want +got):\n%s", diff)
	}
	if len(checked) != 3 {
		t.Errorf("checked %q, want the 3 frames not taken", checked)
	}
	if diff := cmp.Diff([]string{"a", "b", "end"}, handled); diff != "" {
		t.Errorf("handled (-want +got):\n%s", diff)
	}
}
