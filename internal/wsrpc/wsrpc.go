// Package wsrpc carries JSON-RPC 2.0 over a WebSocket, one message per text
// frame, as Genkit's Reflection API v2 does. Its [Stream] is the
// jsonrpc2.ObjectStream both ends of that API use: the runtime's client in
// package reflection and the manager in package reflection/v2manager.
//
// # Params hand-off
//
// jsonrpc2 decodes a message's params into a json.RawMessage and encodes
// them again before a handler sees them, which loses nothing but the
// member order and the exact bytes. The Reflection API decodes params with
// exact member names and reports problems by byte offset, so handlers
// need the params as received. [Stream.Params] returns them: the params of
// the message ReadObject returned last.
//
// This hand-off is sound because of how jsonrpc2.Conn reads: one goroutine,
// the read loop, calls ReadObject and then, for a request or notification,
// calls the connection's Handler before it reads the next message. A
// Handler that is not wrapped in jsonrpc2.AsyncHandler therefore runs while
// Params still holds its own message's params. Params may be called only
// from that Handler, and only before it returns; work the Handler hands to
// other goroutines must take the params with it.
package wsrpc

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/sourcegraph/jsonrpc2"

	"github.com/genkit-runtime/genkit-runtime/internal/jsontext"
)

// Options configures a [Stream]. WriteTimeout is required.
type Options struct {
	// WriteTimeout bounds each write; a write that fails or times out
	// closes the connection, since gorilla/websocket leaves it unusable.
	WriteTimeout time.Duration
	// ReadTimeout, if positive, is how long a read may wait for any frame:
	// every frame read extends the deadline, and so does every ping or
	// pong, so a peer that stops answering pings is noticed. If zero,
	// reads have no deadline.
	ReadTimeout time.Duration
	// MaxMessageBytes is the largest frame read; a larger one ends the
	// connection.
	MaxMessageBytes int64
	// Check, if not nil, looks at every frame read before jsonrpc2 decodes
	// it. It returns the message's raw params (nil when absent) and a nil
	// error for a message to use. For a message to skip it returns an
	// error, and a reply to write back (such as a JSON-RPC error response),
	// or nil for none. If nil, every frame is used, with its params.
	Check func(data []byte) (params json.RawMessage, reply []byte, err error)
	// OnFrame, if not nil, sees every frame: each frame read, with sent
	// false, as it arrives, and each frame written, with sent true, before
	// it is written (the peer may answer before the write returns). It is
	// called from the read loop and from writers, and must not keep data.
	OnFrame func(sent bool, data []byte)
	// OnSkip, if not nil, is told of a frame Check accepted that jsonrpc2
	// cannot decode; the frame is skipped.
	OnSkip func(data []byte, err error)
}

// Stream is a jsonrpc2.ObjectStream over a WebSocket connection: one
// JSON-RPC message per text frame. Writes are serialized (gorilla/websocket
// allows one writer at a time) and have a deadline. Reads are made only by
// jsonrpc2's read loop. A frame that Check refuses is skipped, never ending
// the connection.
type Stream struct {
	ws          *websocket.Conn
	opts        Options
	ignorePings atomic.Bool

	wmu sync.Mutex // guards writes of data frames to ws

	done     chan struct{} // closed when ReadObject has returned its final error
	doneOnce sync.Once
	err      error // the final read error; set before done is closed

	// params are the params of the message ReadObject returned last; see
	// the package documentation. Only the read loop touches it.
	params json.RawMessage
}

var _ jsonrpc2.ObjectStream = (*Stream)(nil)

// New returns a Stream over ws configured by opts, and sets ws's read
// limit, read deadline and ping and pong handlers. Pings are answered with
// pongs unless [Stream.IgnorePings] is set.
func New(ws *websocket.Conn, opts Options) *Stream {
	s := &Stream{ws: ws, opts: opts, done: make(chan struct{})}
	if opts.MaxMessageBytes > 0 {
		ws.SetReadLimit(opts.MaxMessageBytes)
	}
	s.extendReadDeadline()
	ws.SetPongHandler(func(string) error {
		s.extendReadDeadline()
		return nil
	})
	ws.SetPingHandler(func(data string) error {
		if s.ignorePings.Load() {
			return nil
		}
		s.extendReadDeadline()
		err := ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(opts.WriteTimeout))
		if errors.Is(err, websocket.ErrCloseSent) {
			return nil
		}
		var ne interface{ Timeout() bool }
		if errors.As(err, &ne) && ne.Timeout() {
			return nil
		}
		return err
	})
	return s
}

func (s *Stream) extendReadDeadline() {
	if s.opts.ReadTimeout > 0 {
		// An error here is the connection's, and the next read reports it.
		_ = s.ws.SetReadDeadline(time.Now().Add(s.opts.ReadTimeout))
	}
}

// ReadObject implements jsonrpc2.ObjectStream. It reads frames until one
// passes Check and decodes into v, and records that frame's params for
// [Stream.Params].
func (s *Stream) ReadObject(v any) error {
	for {
		_, data, err := s.ws.ReadMessage()
		if err != nil {
			return s.readFailed(err)
		}
		s.extendReadDeadline()
		if s.opts.OnFrame != nil {
			s.opts.OnFrame(false, data)
		}
		var params json.RawMessage
		if s.opts.Check != nil {
			var reply []byte
			params, reply, err = s.opts.Check(data)
			if err != nil {
				if reply != nil {
					if err := s.WriteFrame(reply); err != nil {
						return s.readFailed(err)
					}
				}
				continue
			}
		} else {
			params = paramsOf(data)
		}
		if err := json.Unmarshal(data, v); err != nil {
			if s.opts.OnSkip != nil {
				s.opts.OnSkip(data, err)
			}
			continue
		}
		s.params = params
		return nil
	}
}

// paramsOf returns the raw params member of a message, or nil.
func paramsOf(data []byte) json.RawMessage {
	var m struct {
		Params json.RawMessage `json:"params"`
	}
	if json.Unmarshal(data, &m) != nil {
		return nil
	}
	return m.Params
}

// Params returns the params of the message ReadObject returned last, byte
// for byte, or nil when it had none. Call it only from the connection's
// jsonrpc2 Handler, before the Handler returns (see the package
// documentation).
func (s *Stream) Params() json.RawMessage { return s.params }

// readFailed records the error that ends reading and returns it.
func (s *Stream) readFailed(err error) error {
	s.doneOnce.Do(func() {
		s.err = err
		close(s.done)
	})
	return err
}

// Done returns a channel closed once reading has ended for good.
func (s *Stream) Done() <-chan struct{} { return s.done }

// Err returns the error that ended reading. It is set once Done is closed.
func (s *Stream) Err() error {
	select {
	case <-s.done:
		return s.err
	default:
		return nil
	}
}

// WriteObject implements jsonrpc2.ObjectStream. It writes obj as
// JSON.stringify would: without escaping <, > and &.
func (s *Stream) WriteObject(obj any) error {
	data, err := json.Marshal(obj)
	if err != nil {
		return err
	}
	return s.WriteFrame(jsontext.UnescapeHTML(data))
}

// WriteFrame writes data as one text frame, as it is.
func (s *Stream) WriteFrame(data []byte) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.opts.OnFrame != nil {
		s.opts.OnFrame(true, data)
	}
	if err := s.ws.SetWriteDeadline(time.Now().Add(s.opts.WriteTimeout)); err != nil {
		s.ws.Close()
		return err
	}
	if err := s.ws.WriteMessage(websocket.TextMessage, data); err != nil {
		s.ws.Close()
		return err
	}
	return nil
}

// Ping sends a ping control frame.
func (s *Stream) Ping() error {
	return s.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(s.opts.WriteTimeout))
}

// IgnorePings makes the stream stop (or resume) answering the peer's
// pings, to play a peer that has silently died.
func (s *Stream) IgnorePings(ignore bool) { s.ignorePings.Store(ignore) }

// Close implements jsonrpc2.ObjectStream. It sends a normal-closure frame,
// best effort, and closes the connection.
func (s *Stream) Close() error {
	// The peer may be gone already; closing is what matters.
	_ = s.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""),
		time.Now().Add(s.opts.WriteTimeout))
	return s.ws.Close()
}

// DebugLogger adapts l to jsonrpc2's logger: jsonrpc2's messages are logged
// at debug level. A nil l logs nothing.
func DebugLogger(l *slog.Logger) jsonrpc2.Logger {
	if l == nil {
		l = slog.New(slog.DiscardHandler)
	}
	return debugLogger{l}
}

type debugLogger struct{ l *slog.Logger }

func (d debugLogger) Printf(format string, v ...any) {
	d.l.Debug(strings.TrimSpace(fmt.Sprintf(format, v...)))
}
