package tracestore

import (
	"cmp"
	"errors"
	"slices"
)

// EventType is the kind of a live span [Event].
type EventType string

// The live span event types, as the telemetry server broadcasts them.
const (
	SpanStart EventType = "span_start"
	SpanEnd   EventType = "span_end"
)

// Event is one live span update, in the wire shape of the telemetry
// server's SSE messages.
type Event struct {
	Type    EventType `json:"type"`
	TraceID string    `json:"traceId"`
	Span    SpanData  `json:"span"`
}

// ErrSlowConsumer is the [Subscription.Err] of a subscription that was
// dropped because its buffer was full.
var ErrSlowConsumer = errors.New("tracestore: subscriber too slow; events dropped")

// Subscription receives the live span events of one trace. Create it with
// [Store.Subscribe] and end it with Close.
//
// Events are buffered (Options.SubscriberBuffer). A subscriber whose buffer
// is full when an event arrives is dropped: its channel is closed and Err
// returns [ErrSlowConsumer]. It can subscribe again and start from a fresh
// snapshot.
type Subscription struct {
	store    *Store
	traceID  string
	ch       chan Event
	snapshot TraceData
	found    bool

	// ended and err are guarded by store.mu.
	ended bool
	err   error
}

// Subscribe starts receiving the span events of traceID. The returned
// subscription also holds a snapshot of the trace as it was at that moment
// (see [Subscription.Snapshot]); every later change arrives as an event,
// none is missed or duplicated between the two. The caller must Close the
// subscription. After [Store.Shutdown] it returns a subscription that has
// already ended.
func (s *Store) Subscribe(traceID string) *Subscription {
	sub := &Subscription{store: s, traceID: traceID, ch: make(chan Event, s.subBuf)}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.materializeLocked()
	if t := s.traces[traceID]; t != nil {
		sub.snapshot, sub.found = t.copyLocked(), true
	}
	if s.closed {
		sub.ended, sub.err = true, ErrClosed
		close(sub.ch)
		return sub
	}
	set := s.subs[traceID]
	if set == nil {
		set = make(map[*Subscription]struct{})
		s.subs[traceID] = set
	}
	set[sub] = struct{}{}
	s.nsubs++
	return sub
}

// Snapshot returns the trace as it was when the subscription started, and
// whether it existed. The caller owns the returned data.
func (sub *Subscription) Snapshot() (TraceData, bool) {
	return sub.snapshot, sub.found
}

// Events returns the channel of span events. It is closed when the
// subscription ends: by Close, by [Store.Shutdown] or as a slow consumer.
func (sub *Subscription) Events() <-chan Event {
	return sub.ch
}

// Err reports why the subscription ended: nil while it is active or after
// Close, [ErrSlowConsumer] or [ErrClosed] otherwise.
func (sub *Subscription) Err() error {
	sub.store.mu.Lock()
	defer sub.store.mu.Unlock()
	return sub.err
}

// Close ends the subscription and closes its channel. It is idempotent.
func (sub *Subscription) Close() {
	s := sub.store
	s.mu.Lock()
	defer s.mu.Unlock()
	if sub.ended {
		return
	}
	if set := s.subs[sub.traceID]; set != nil {
		delete(set, sub)
		if len(set) == 0 {
			delete(s.subs, sub.traceID)
		}
	}
	s.endSubLocked(sub, nil)
}

// endSubLocked ends sub with err. The caller removes it from s.subs.
func (s *Store) endSubLocked(sub *Subscription, err error) {
	if sub.ended {
		return
	}
	sub.ended, sub.err = true, err
	s.nsubs--
	close(sub.ch)
}

// spanEvent is a span event before it is delivered: its type and span,
// still encoded.
type spanEvent struct {
	typ  EventType
	span storedSpan
}

// spanEvents returns the events the telemetry server broadcasts for a saved
// batch: span_start for each incoming span, except a running span the trace
// already holds as finished, and span_end for each finished span; in time
// order (start time for span_start, end time for span_end), with span_start
// first on ties.
func spanEvents(t *storedTrace, incoming []storedSpan) []spanEvent {
	events := make([]spanEvent, 0, 2*len(incoming))
	for i := range incoming {
		in := &incoming[i]
		ended := in.end > 0
		if !ended {
			if j := t.find(in.id()); j >= 0 && t.spans[j].end > 0 {
				continue
			}
		}
		events = append(events, spanEvent{SpanStart, *in})
		if ended {
			events = append(events, spanEvent{SpanEnd, *in})
		}
	}
	slices.SortStableFunc(events, func(a, b spanEvent) int {
		return cmp.Or(cmp.Compare(a.time(), b.time()), cmp.Compare(a.rank(), b.rank()))
	})
	return events
}

func (e *spanEvent) time() float64 {
	if e.typ == SpanStart {
		return e.span.start
	}
	return e.span.end
}

func (e *spanEvent) rank() int {
	if e.typ == SpanStart {
		return 0
	}
	return 1
}

// broadcastLocked delivers the events of a saved batch to the trace's
// subscribers, each receiving its own copy of the span data.
func (s *Store) broadcastLocked(t *storedTrace, incoming []storedSpan) {
	set := s.subs[t.id]
	if len(set) == 0 {
		return
	}
	for _, ev := range spanEvents(t, incoming) {
		for sub := range set {
			if sub.ended {
				continue
			}
			out := Event{Type: ev.typ, TraceID: t.id, Span: ev.span.data(t.id, nil)}
			select {
			case sub.ch <- out:
			default:
				delete(set, sub)
				s.endSubLocked(sub, ErrSlowConsumer)
				s.dropped++
				s.log.Warn("tracestore: dropped a slow subscriber", "traceId", t.id, "buffer", cap(sub.ch))
			}
		}
	}
	if len(set) == 0 {
		delete(s.subs, t.id)
	}
}
