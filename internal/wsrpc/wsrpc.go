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
//
// # Fast paths
//
// A connection's owner may take some frames before jsonrpc2 sees them
// ([Options.Intercept]) and write frames it has encoded itself
// ([Stream.WriteFrame], [Stream.QueueFrame]), for the messages where
// jsonrpc2's generic decoding and encoding would cost the most.
//
// # Writes
//
// Every frame, jsonrpc2's and those written directly, goes through one
// queue, so frames leave in the order they were written. Frames queued
// while a write is under way are written together by the next writer,
// and, over a connection dialed with [NetDialContext], leave in one write
// to the connection.
package wsrpc

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
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
	// Intercept, if not nil, is offered every frame read, after OnFrame
	// and before Check. When it returns true it has taken the frame, which
	// jsonrpc2 never sees, and ReadObject reads the next one. It is called
	// from the read loop, so frames are offered in the order they arrive
	// and a frame it takes is handled before the next is read, as a
	// jsonrpc2 Handler's is. data is the frame's own: nothing else keeps or
	// changes it.
	Intercept func(data []byte) bool
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

	gc *gatherConn // under ws, when it gathers writes; else nil

	wmu    sync.Mutex // guards the write state below
	wcond  sync.Cond  // L is &wmu; broadcast when a batch is taken and when it is written
	queue  []qframe   // frames waiting for a writer, oldest first
	arena  []byte     // the bytes of queued frames that QueueFrame copied
	spareQ []qframe   // the queue and arena of the previous batch, for reuse
	spareA []byte
	// queuedBytes are the bytes of QueueFrame frames waiting in queue.
	queuedBytes int
	nasync      int    // QueueFrame frames in queue
	writing     bool   // a writer has taken a batch and not finished it
	queued      uint64 // frames ever queued
	written     uint64 // frames ever written: the first written of queued
	werr        error  // the error that ended writing; nothing is written after it
	sender      sync.WaitGroup

	done     chan struct{} // closed when ReadObject has returned its final error
	doneOnce sync.Once
	err      error // the final read error; set before done is closed

	// params are the params of the message ReadObject returned last; see
	// the package documentation. Only the read loop touches it.
	params json.RawMessage
	rbuf   bytes.Buffer // frames are read through it; only the read loop touches it
}

var _ jsonrpc2.ObjectStream = (*Stream)(nil)

// New returns a Stream over ws configured by opts, and sets ws's read
// limit, read deadline and ping and pong handlers. Pings are answered with
// pongs unless [Stream.IgnorePings] is set.
func New(ws *websocket.Conn, opts Options) *Stream {
	s := &Stream{ws: ws, opts: opts, done: make(chan struct{}), gc: gatherer(ws.NetConn())}
	s.wcond.L = &s.wmu
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
		data, err := s.readFrame()
		if err != nil {
			return s.readFailed(err)
		}
		s.extendReadDeadline()
		if s.opts.OnFrame != nil {
			s.opts.OnFrame(false, data)
		}
		if s.opts.Intercept != nil && s.opts.Intercept(data) {
			continue
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

// maxReadBuffer bounds the read buffer kept between frames.
const maxReadBuffer = 1 << 20

// readFrame reads the next data frame into a new slice of its exact size.
// It reads through a buffer kept between frames, which, unlike
// gorilla/websocket's ReadMessage, allocates and copies the frame once,
// not once for each time its buffer grows.
func (s *Stream) readFrame() ([]byte, error) {
	_, r, err := s.ws.NextReader()
	if err != nil {
		return nil, err
	}
	s.rbuf.Reset()
	if _, err := s.rbuf.ReadFrom(r); err != nil {
		return nil, err
	}
	data := make([]byte, s.rbuf.Len())
	copy(data, s.rbuf.Bytes())
	if s.rbuf.Cap() > maxReadBuffer {
		s.rbuf = bytes.Buffer{}
	}
	return data, nil
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

// qframe is a queued frame: data, or, when data is nil, arena[off:end].
type qframe struct {
	data     []byte
	off, end int
}

// maxQueued bounds the bytes of frames QueueFrame has queued and no writer
// has taken; beyond it, QueueFrame waits.
const maxQueued = 64 << 10

// WriteFrame writes data as one text frame, as it is, after the frames
// queued before it, and returns once it is written, or once writing has
// failed; either way the stream no longer holds data. When no write is
// under way the caller writes, and takes along the frames queued before
// it. A failed write closes the connection.
func (s *Stream) WriteFrame(data []byte) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.werr != nil {
		return s.werr
	}
	s.queue = append(s.queue, qframe{data: data})
	s.queued++
	seq := s.queued
	for s.written < seq {
		switch {
		case s.writing:
			// A writer may hold data: wait for it even when writing
			// has failed meanwhile.
			s.wcond.Wait()
		case s.werr != nil:
			return s.werr
		default:
			s.writeBatchLocked()
			if s.nasync > 0 && s.werr == nil {
				// QueueFrame frames came meanwhile, which nobody
				// waits for: the sender takes them.
				s.startSenderLocked()
			}
		}
	}
	return nil
}

// QueueFrame queues data to be written as one text frame after the frames
// queued before it, and returns without waiting for the write: a sender
// goroutine of the stream's own writes it, and with it the frames queued
// meanwhile. data is copied. QueueFrame waits only while the frames it
// queued that no writer has taken yet hold 64 KiB or more. It returns the
// error that ended writing, once a write has failed; a frame queued before
// that may be lost without an error.
func (s *Stream) QueueFrame(data []byte) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	for s.queuedBytes >= maxQueued && s.werr == nil {
		s.wcond.Wait()
	}
	if s.werr != nil {
		return s.werr
	}
	off := len(s.arena)
	s.arena = append(s.arena, data...)
	s.queue = append(s.queue, qframe{off: off, end: len(s.arena)})
	s.queued++
	s.nasync++
	s.queuedBytes += len(data)
	if !s.writing {
		s.startSenderLocked()
	}
	return nil
}

// startSenderLocked starts the sender goroutine. No writer is under way
// and s.wmu is held.
func (s *Stream) startSenderLocked() {
	s.writing = true // reserved for the sender
	s.sender.Go(s.send)
}

// send is the sender goroutine: it writes what is queued, batch after
// batch, until nothing is.
func (s *Stream) send() {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	defer s.wcond.Broadcast() // the reservation ends
	s.writing = false
	for s.werr == nil && len(s.queue) > 0 {
		s.writeBatchLocked()
	}
}

// writeBatchLocked takes every queued frame and writes them. s.wmu is held
// and no writer is under way; s.wmu is released during the write.
func (s *Stream) writeBatchLocked() {
	s.writing = true
	batch, arena := s.queue, s.arena
	s.queue, s.arena = s.spareQ[:0], s.spareA[:0]
	s.queuedBytes, s.nasync = 0, 0
	s.wcond.Broadcast() // room for QueueFrame
	s.wmu.Unlock()
	err := s.write(batch, arena)
	s.wmu.Lock()
	clear(batch) // drop the callers' data
	s.spareQ, s.spareA = batch[:0], arena[:0]
	if cap(s.spareA) > 2*maxQueued {
		s.spareA = nil
	}
	if err != nil {
		s.failLocked(err, true)
	} else {
		s.written += uint64(len(batch))
	}
	s.writing = false
	s.wcond.Broadcast()
}

// failLocked ends writing with err: the queued frames are dropped and, if
// closeWS is set, the connection is closed, since gorilla/websocket leaves
// it unusable. s.wmu is held.
func (s *Stream) failLocked(err error, closeWS bool) {
	if s.werr == nil {
		s.werr = err
		if closeWS {
			s.ws.Close()
		}
	}
	clear(s.queue)
	s.queue, s.arena, s.queuedBytes, s.nasync = s.queue[:0], s.arena[:0], 0, 0
	s.wcond.Broadcast()
}

// write writes a batch of frames, gathered into one write to the
// connection when it can.
func (s *Stream) write(batch []qframe, arena []byte) error {
	if s.gc != nil {
		s.gc.hold()
	}
	var err error
	for _, f := range batch {
		data := f.data
		if data == nil {
			data = arena[f.off:f.end]
		}
		if s.opts.OnFrame != nil {
			s.opts.OnFrame(true, data)
		}
		// Setting the deadline costs no system call while gathering.
		if err = s.ws.SetWriteDeadline(time.Now().Add(s.opts.WriteTimeout)); err != nil {
			break
		}
		if err = s.ws.WriteMessage(websocket.TextMessage, data); err != nil {
			break
		}
	}
	if s.gc != nil {
		// What was gathered before a failure is written all the same.
		if ferr := s.gc.flush(); err == nil {
			err = ferr
		}
	}
	return err
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
	// Nothing is written after the closing frame: the frames queued are
	// dropped, and a write under way (bounded by WriteTimeout) ends first.
	s.wmu.Lock()
	s.failLocked(net.ErrClosed, false)
	for s.writing {
		s.wcond.Wait()
	}
	s.wmu.Unlock()
	// The peer may be gone already; closing is what matters.
	_ = s.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""),
		time.Now().Add(s.opts.WriteTimeout))
	err := s.ws.Close()
	// A write under way fails on the closed connection.
	s.sender.Wait()
	return err
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
