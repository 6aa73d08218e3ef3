package v2manager

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/sourcegraph/jsonrpc2"

	"github.com/genkit-runtime/genkit-runtime/internal/jsontext"
)

// stream is a jsonrpc2.ObjectStream over a runtime's WebSocket: one
// message per frame, every frame reported to the message hook. Frames that
// are not JSON-RPC messages jsonrpc2 can decode are recorded as protocol
// errors and skipped, as the Genkit CLI logs and ignores them.
type stream struct {
	ws           *websocket.Conn
	writeTimeout time.Duration
	onFrame      func(Direction, []byte)
	onViolation  func(error)
	ignorePings  atomic.Bool

	wmu sync.Mutex // guards writes of data frames to ws

	readerDone chan struct{} // closed when ReadObject has returned its final error
	doneOnce   sync.Once

	// lastParams are the params of the message ReadObject returned last,
	// byte for byte: jsonrpc2 re-encodes params, losing member order. Only
	// the read loop uses it, from the handler.
	lastParams json.RawMessage
}

var _ jsonrpc2.ObjectStream = (*stream)(nil)

func newStream(ws *websocket.Conn, writeTimeout time.Duration, maxMessageBytes int64,
	onFrame func(Direction, []byte), onViolation func(error)) *stream {
	s := &stream{ws: ws, writeTimeout: writeTimeout, onFrame: onFrame, onViolation: onViolation,
		readerDone: make(chan struct{})}
	ws.SetReadLimit(maxMessageBytes)
	ws.SetPingHandler(func(data string) error {
		if s.ignorePings.Load() {
			return nil
		}
		err := ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(writeTimeout))
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

// ReadObject implements jsonrpc2.ObjectStream.
func (s *stream) ReadObject(v any) error {
	for {
		_, data, err := s.ws.ReadMessage()
		if err != nil {
			s.doneOnce.Do(func() { close(s.readerDone) })
			return err
		}
		s.onFrame(Received, data)
		params, err := classify(data)
		if err != nil {
			s.onViolation(err)
			var fatal *fatalViolation
			if errors.As(err, &fatal) {
				continue
			}
		}
		if err := json.Unmarshal(data, v); err != nil {
			s.onViolation(fmt.Errorf("undecodable message %.200s: %v", data, err))
			continue
		}
		s.lastParams = params
		return nil
	}
}

// WriteObject implements jsonrpc2.ObjectStream.
func (s *stream) WriteObject(obj any) error {
	data, err := json.Marshal(obj)
	if err != nil {
		return err
	}
	return s.write(jsontext.UnescapeHTML(data))
}

func (s *stream) write(data []byte) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	// Recorded before it is written: the runtime may answer before the
	// write returns.
	s.onFrame(Sent, data)
	s.ws.SetWriteDeadline(time.Now().Add(s.writeTimeout))
	if err := s.ws.WriteMessage(websocket.TextMessage, data); err != nil {
		s.ws.Close()
		return err
	}
	return nil
}

// Close implements jsonrpc2.ObjectStream.
func (s *stream) Close() error {
	s.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""),
		time.Now().Add(s.writeTimeout))
	return s.ws.Close()
}

// fatalViolation is a protocol violation that makes a message unusable.
type fatalViolation struct{ msg string }

func (e *fatalViolation) Error() string { return e.msg }

// classify checks a frame from a runtime and returns its raw params. A
// *fatalViolation means the frame cannot be used; another error is a
// violation the CLI tolerates (a missing "jsonrpc" member), and the message
// is still used.
func classify(data []byte) (json.RawMessage, error) {
	fatal := func(format string, args ...any) error {
		return &fatalViolation{fmt.Sprintf("message %.200s: ", data) + fmt.Sprintf(format, args...)}
	}
	data = bytes.TrimSpace(data)
	if !json.Valid(data) {
		return nil, fatal("not JSON")
	}
	if k := kind(data); k != "object" {
		return nil, fatal("a JSON-RPC message must be an object, not %s", k)
	}
	// Members by presence: a null member is present.
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fatal("%v", err)
	}
	method, isRequest := m["method"]
	_, hasResult := m["result"]
	errMember, hasError := m["error"]
	switch {
	case isRequest && (hasResult || hasError):
		return nil, fatal("both a method and a result or error")
	case !isRequest && !hasResult && (!hasError || kind(errMember) == "null"):
		return nil, fatal("neither a method nor a result or error")
	case isRequest && kind(method) != "string":
		return nil, fatal("method must be a string")
	case hasError && kind(errMember) != "object" && kind(errMember) != "null":
		return nil, fatal("error must be an object")
	}
	if id, ok := m["id"]; ok {
		var rid jsonrpc2.ID
		if k := kind(id); k != "null" && (k != "string" && k != "number" || json.Unmarshal(id, &rid) != nil) {
			return nil, fatal("id must be a string or a non-negative integer")
		}
	}
	params := m["params"]
	if string(m["jsonrpc"]) != `"2.0"` {
		return params, fmt.Errorf("message %.200s: \"jsonrpc\" must be \"2.0\"", data)
	}
	return params, nil
}
