package wsrpc

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// countingConn records the writes made to it and the write deadline, and
// passes them on to Conn when it is not nil.
type countingConn struct {
	net.Conn
	mu       sync.Mutex
	writes   [][]byte
	deadline time.Time
	fail     error
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fail != nil {
		return 0, c.fail
	}
	c.writes = append(c.writes, bytes.Clone(p))
	if c.Conn != nil {
		return c.Conn.Write(p)
	}
	return len(p), nil
}

func (c *countingConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.deadline = t
	if c.Conn != nil {
		return c.Conn.SetWriteDeadline(t)
	}
	return nil
}

// TestGatherConn checks that what is written between hold and flush is
// written in one write, a write too large to gather is passed on after
// what was gathered, the deadline set while holding applies at flush, and
// a failed write fails every later one.
func TestGatherConn(t *testing.T) {
	cc := &countingConn{}
	g := &gatherConn{Conn: cc}
	g.Write([]byte("direct"))
	g.hold()
	g.Write([]byte("a"))
	dl := time.Now().Add(time.Hour)
	g.SetWriteDeadline(dl)
	g.Write([]byte("b"))
	if len(cc.writes) != 1 || !cc.deadline.IsZero() {
		t.Fatalf("writes %q and deadline %v while holding", cc.writes, cc.deadline)
	}
	if err := g.flush(); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(strings.Fields(string(bytes.Join(cc.writes, []byte(" ")))), " "); got != "direct ab" || !cc.deadline.Equal(dl) {
		t.Errorf("writes %q, deadline %v; want direct, then ab at %v", got, cc.deadline, dl)
	}

	cc.writes = nil
	big := bytes.Repeat([]byte("x"), maxGather)
	g.hold()
	g.Write([]byte("c"))
	g.Write(big)
	g.Write([]byte("d"))
	g.flush()
	if len(cc.writes) != 3 || string(cc.writes[0]) != "c" || len(cc.writes[1]) != maxGather || string(cc.writes[2]) != "d" {
		t.Errorf("%d writes, want c, the large one, then d", len(cc.writes))
	}
	if cap(g.buf) != maxGather {
		t.Errorf("gather buffer of %d bytes, want %d", cap(g.buf), maxGather)
	}

	cc.fail = errors.New("broken")
	g.hold()
	g.Write([]byte("e"))
	if err := g.flush(); err == nil {
		t.Error("flush to a broken connection: no error")
	}
	cc.fail = nil
	if _, err := g.Write([]byte("f")); err == nil {
		t.Error("write after a failure: no error")
	}
}

// TestStreamGathers checks that a batch of frames is written to a
// gathering connection in one write.
func TestStreamGathers(t *testing.T) {
	frames := make(chan string, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
		if err != nil {
			t.Error(err)
			return
		}
		defer ws.Close()
		for {
			_, data, err := ws.ReadMessage()
			if err != nil {
				return
			}
			frames <- string(data)
		}
	}))
	defer srv.Close()
	cc := &countingConn{}
	d := websocket.Dialer{NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		cc.Conn = c
		return &gatherConn{Conn: cc}, err
	}}
	ws, _, err := d.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	s := New(ws, Options{WriteTimeout: time.Second})
	defer s.Close()
	cc.mu.Lock()
	cc.writes = nil // the handshake's
	cc.mu.Unlock()
	batch := []qframe{{data: []byte("one")}, {data: []byte("two")}, {off: 0, end: 5}}
	if err := s.write(batch, []byte("three")); err != nil {
		t.Fatal(err)
	}
	cc.mu.Lock()
	n := len(cc.writes)
	cc.mu.Unlock()
	if n != 1 {
		t.Errorf("%d writes for a batch of 3 frames, want 1", n)
	}
	for _, want := range []string{"one", "two", "three"} {
		select {
		case f := <-frames:
			if f != want {
				t.Errorf("frame %q, want %q", f, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("frames not received")
		}
	}
}
