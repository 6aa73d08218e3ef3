package tracestore

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.opentelemetry.io/otel/trace"
)

type evKey struct {
	Type EventType
	Span string
	End  float64
}

func keys(evs []Event) []evKey {
	out := []evKey{}
	for _, e := range evs {
		out = append(out, evKey{e.Type, e.Span.SpanID, e.Span.EndTime})
	}
	return out
}

// drain returns the events buffered in sub without blocking.
func drain(sub *Subscription) []Event {
	var out []Event
	for {
		select {
		case ev, ok := <-sub.Events():
			if !ok {
				return out
			}
			out = append(out, ev)
		default:
			return out
		}
	}
}

func TestSubscribeEventOrder(t *testing.T) {
	tests := []struct {
		name    string
		before  []TraceData
		batch   TraceData
		want    []evKey
		wantErr error
	}{
		{
			name: "time order, start before end on ties",
			batch: batch(tid,
				span(tid, "a", "", 1, 5, nil),
				span(tid, "b", "a", 2, 0, nil),
				span(tid, "c", "a", 5, 6, nil)),
			want: []evKey{
				{SpanStart, "a", 5}, {SpanStart, "b", 0}, {SpanStart, "c", 6}, {SpanEnd, "a", 5}, {SpanEnd, "c", 6},
			},
		},
		{
			name:   "stale start of an ended span is skipped",
			before: []TraceData{batch(tid, span(tid, "a", "", 1, 5, nil))},
			batch:  batch(tid, span(tid, "a", "", 1, 0, nil), span(tid, "b", "a", 2, 0, nil)),
			want:   []evKey{{SpanStart, "b", 0}},
		},
		{
			name:  "dropped spans send nothing",
			batch: batch(tid, span(tid, "p", "", 1, 2, map[string]any{"genkit:metadata:subtype": "prompt"})),
			want:  []evKey{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(nil)
			mustIngest(t, s, tt.before...)
			sub := s.Subscribe(tid)
			defer sub.Close()
			mustIngest(t, s, tt.batch)
			if diff := cmp.Diff(tt.want, keys(drain(sub))); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSubscribeProcessorEvents(t *testing.T) {
	s := New(nil)
	tracer := newProvider(t, s)
	traceID := "00000000000000000000000000000001"
	sub := s.Subscribe(traceID)
	defer sub.Close()
	if _, ok := sub.Snapshot(); ok {
		t.Error("snapshot of a trace that does not exist yet")
	}
	ctx, root := tracer.Start(context.Background(), "flow", trace.WithTimestamp(at(0)))
	_, child := tracer.Start(ctx, "step", trace.WithTimestamp(at(1)))
	child.End(trace.WithTimestamp(at(2)))
	root.End(trace.WithTimestamp(at(3)))

	rootEnd, childEnd := Millis(at(3)), Millis(at(2))
	want := []evKey{
		{SpanStart, "0000000000000001", 0},
		{SpanStart, "0000000000000002", 0},
		{SpanStart, "0000000000000002", childEnd}, {SpanEnd, "0000000000000002", childEnd},
		{SpanStart, "0000000000000001", rootEnd}, {SpanEnd, "0000000000000001", rootEnd},
	}
	if diff := cmp.Diff(want, keys(drain(sub))); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

func TestSubscribeSnapshot(t *testing.T) {
	s := New(nil)
	mustIngest(t, s, batch(tid, span(tid, "a", "", 1, 0, nil)))
	sub := s.Subscribe(tid)
	defer sub.Close()
	snap, ok := sub.Snapshot()
	if !ok || len(snap.Spans) != 1 {
		t.Fatalf("Snapshot = %v, %v", snap, ok)
	}
	mustIngest(t, s, batch(tid, span(tid, "a", "", 1, 2, nil)))
	if snap, _ := sub.Snapshot(); snap.Spans["a"].EndTime != 0 {
		t.Error("snapshot changed after subscribing")
	}
	if got := keys(drain(sub)); len(got) != 2 {
		t.Errorf("events after the snapshot = %v, want start and end", got)
	}
}

func TestSubscribeSlowConsumer(t *testing.T) {
	s := New(&Options{SubscriberBuffer: 2})
	slow := s.Subscribe(tid)
	fast := s.Subscribe(tid)
	defer fast.Close()
	defer slow.Close()
	other := s.Subscribe("another")
	defer other.Close()

	mustIngest(t, s, batch(tid, span(tid, "a", "", 1, 2, nil)))
	if got := len(drain(fast)); got != 2 {
		t.Fatalf("fast subscriber got %d events, want 2", got)
	}
	mustIngest(t, s, batch(tid, span(tid, "b", "a", 3, 0, nil)))
	if got := len(drain(fast)); got != 1 {
		t.Fatalf("fast subscriber got %d events, want 1", got)
	}

	// slow never read: 2 buffered, then dropped at the third event.
	got := drain(slow)
	if len(got) != 2 {
		t.Errorf("slow subscriber got %d events before closing, want 2", len(got))
	}
	if _, ok := <-slow.Events(); ok {
		t.Error("slow subscriber's channel is open")
	}
	if err := slow.Err(); err != ErrSlowConsumer {
		t.Errorf("slow.Err() = %v, want ErrSlowConsumer", err)
	}
	if err := fast.Err(); err != nil {
		t.Errorf("fast.Err() = %v", err)
	}
	if st := s.Stats(); st.DroppedSubscribers != 1 || st.Subscribers != 2 {
		t.Errorf("Stats = %+v, want 1 dropped, 2 active", st)
	}
	slow.Close() // idempotent after a drop
}

func TestSubscribeShutdown(t *testing.T) {
	s := New(nil)
	sub := s.Subscribe(tid)
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, ok := <-sub.Events(); ok {
		t.Error("subscription open after Shutdown")
	}
	if err := sub.Err(); err != ErrClosed {
		t.Errorf("Err() = %v, want ErrClosed", err)
	}
	late := s.Subscribe(tid)
	if _, ok := <-late.Events(); ok || late.Err() != ErrClosed {
		t.Error("Subscribe after Shutdown returned a live subscription")
	}
	late.Close()
	sub.Close()
	if st := s.Stats(); st.Subscribers != 0 {
		t.Errorf("Subscribers = %d after Shutdown", st.Subscribers)
	}
}

func TestSubscriberGetsCopies(t *testing.T) {
	s := New(nil)
	a, b := s.Subscribe(tid), s.Subscribe(tid)
	defer a.Close()
	defer b.Close()
	mustIngest(t, s, batch(tid, span(tid, "x", "", 1, 0, map[string]any{"k": "v"})))
	ea, eb := <-a.Events(), <-b.Events()
	ea.Span.Attributes["k"] = "changed"
	if eb.Span.Attributes["k"] != "v" {
		t.Error("subscribers share span data")
	}
	if got, _ := s.Get(tid); got.Spans["x"].Attributes["k"] != "v" {
		t.Error("subscriber changed the store")
	}
}
