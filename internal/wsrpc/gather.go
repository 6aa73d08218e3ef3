package wsrpc

import (
	"context"
	"net"
	"sync"
	"time"
)

// maxGather bounds the bytes a gathering connection holds before it writes
// them; a write larger than that is passed on as it is.
const maxGather = 64 << 10

// NetDialContext dials network and addr as a net.Dialer does, and returns
// a connection that lets a [Stream] made over it gather its writes: the
// frames a Stream writes together (those queued while a write was under
// way) leave in one write to the connection, not one each. Use it as the
// NetDialContext of a websocket.Dialer; wss:// works too, since TLS is
// layered over it.
func NetDialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return &gatherConn{Conn: c}, nil
}

// gatherConn is a net.Conn that, between hold and flush, keeps what is
// written to it (up to maxGather bytes) and writes it in one go at flush.
// Outside that it writes through. Writes made by others while it holds,
// such as gorilla/websocket's control frames, are gathered in their place
// in the order they come.
type gatherConn struct {
	net.Conn

	mu       sync.Mutex // guards the fields below, and writes to Conn
	holding  bool
	buf      []byte
	deadline time.Time // the write deadline set while holding
	newDL    bool      // deadline is to be set before the next write
	err      error     // the first write error; every later write fails with it
}

// hold starts gathering.
func (g *gatherConn) hold() {
	g.mu.Lock()
	g.holding = true
	g.mu.Unlock()
}

// flush writes what was gathered since hold, in one write, and stops
// gathering.
func (g *gatherConn) flush() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.holding = false
	return g.flushLocked()
}

func (g *gatherConn) flushLocked() error {
	if len(g.buf) == 0 {
		return g.err
	}
	_, err := g.writeLocked(g.buf)
	g.buf = g.buf[:0]
	return err
}

// writeLocked writes p to the connection. g.mu is held.
func (g *gatherConn) writeLocked(p []byte) (int, error) {
	if g.err != nil {
		return 0, g.err
	}
	if g.newDL {
		g.newDL = false
		if err := g.Conn.SetWriteDeadline(g.deadline); err != nil {
			g.err = err
			return 0, err
		}
	}
	n, err := g.Conn.Write(p)
	if err != nil {
		g.err = err
	}
	return n, err
}

// Write implements net.Conn: it writes p, or, while gathering, keeps it.
func (g *gatherConn) Write(p []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.err != nil {
		return 0, g.err
	}
	if !g.holding {
		return g.writeLocked(p)
	}
	if len(g.buf)+len(p) > maxGather {
		if err := g.flushLocked(); err != nil {
			return 0, err
		}
		if len(p) >= maxGather {
			return g.writeLocked(p)
		}
	}
	if g.buf == nil {
		// Never grown: what is gathered stays within maxGather.
		g.buf = make([]byte, 0, maxGather)
	}
	g.buf = append(g.buf, p...)
	return len(p), nil
}

// SetWriteDeadline implements net.Conn. While gathering, the deadline is
// set when the gathered bytes are written, so that setting it before each
// frame costs nothing.
func (g *gatherConn) SetWriteDeadline(t time.Time) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.holding {
		g.deadline, g.newDL = t, true
		return nil
	}
	g.newDL = false
	return g.Conn.SetWriteDeadline(t)
}

// SetDeadline implements net.Conn.
func (g *gatherConn) SetDeadline(t time.Time) error {
	if err := g.SetWriteDeadline(t); err != nil {
		return err
	}
	return g.Conn.SetReadDeadline(t)
}

// gatherer finds the gatherConn under c, looking through connections that
// wrap another (TLS), or returns nil.
func gatherer(c net.Conn) *gatherConn {
	for c != nil {
		switch t := c.(type) {
		case *gatherConn:
			return t
		case interface{ NetConn() net.Conn }:
			c = t.NetConn()
		default:
			return nil
		}
	}
	return nil
}
