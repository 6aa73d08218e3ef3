package v2manager

import (
	"context"
	"encoding/json"
	"slices"
	"sync"
)

// Direction says whether the manager sent or received a message.
type Direction int

// The directions of a message.
const (
	Received Direction = iota + 1 // from the runtime
	Sent                          // to the runtime
)

func (d Direction) String() string {
	switch d {
	case Received:
		return "received"
	case Sent:
		return "sent"
	}
	return "Direction(?)"
}

// Message is one WebSocket data frame exchanged with a runtime, byte for
// byte.
type Message struct {
	// Runtime is the connection the frame went over; before register it
	// has no info yet.
	Runtime   *Runtime
	Direction Direction
	Data      json.RawMessage
}

// Recorder keeps every message it is given, for assertions on the exact
// JSON-RPC exchange. Pass its Record method as [Options.OnMessage]. It is
// safe for concurrent use.
type Recorder struct {
	mu      sync.Mutex // guards msgs and changed
	msgs    []Message
	changed chan struct{} // closed and replaced when a message is added
}

// Record appends m.
func (r *Recorder) Record(m Message) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, m)
	if r.changed != nil {
		close(r.changed)
		r.changed = nil
	}
}

// Messages returns a copy of the messages recorded so far, in order.
func (r *Recorder) Messages() []Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.msgs)
}

// Len returns the number of messages recorded so far.
func (r *Recorder) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.msgs)
}

// Wait returns the first message at index from or later for which match
// returns true, waiting for it if needed, and its index. It returns ctx's
// error if ctx ends first.
func (r *Recorder) Wait(ctx context.Context, from int, match func(Message) bool) (int, Message, error) {
	for {
		r.mu.Lock()
		for i := max(from, 0); i < len(r.msgs); i++ {
			if match(r.msgs[i]) {
				m := r.msgs[i]
				r.mu.Unlock()
				return i, m, nil
			}
		}
		from = len(r.msgs)
		if r.changed == nil {
			r.changed = make(chan struct{})
		}
		ch := r.changed
		r.mu.Unlock()
		select {
		case <-ctx.Done():
			return -1, Message{}, ctx.Err()
		case <-ch:
		}
	}
}
