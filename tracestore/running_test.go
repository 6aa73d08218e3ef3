package tracestore

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestRunningSpansVisible checks that spans that have started and not
// ended are seen as running (EndTime 0) by every reader, whether or not
// someone subscribed before they started, and as ended once they end.
func TestRunningSpansVisible(t *testing.T) {
	type view struct {
		Spans    map[string]float64 // display name → end time (0: running)
		Listed   bool
		Stats    int
		EndTimeP bool // trace-level end time present
	}
	read := func(s *Store, traceID string) view {
		v := view{Spans: map[string]float64{}, Stats: s.Stats().Spans}
		td, _ := s.Get(traceID)
		for _, sd := range td.Spans {
			v.Spans[sd.DisplayName] = min(sd.EndTime, 1)
		}
		v.EndTimeP = td.EndTime != nil
		for _, l := range s.List(Query{Limit: 100}).Traces {
			v.Listed = v.Listed || l.TraceID == traceID
		}
		return v
	}
	for _, subscribed := range []bool{false, true} {
		name := "no subscriber"
		if subscribed {
			name = "subscriber"
		}
		t.Run(name, func(t *testing.T) {
			s := New(nil)
			tracer := newProvider(t, s)
			var sub *Subscription
			if subscribed {
				other := s.Subscribe("other-trace")
				defer other.Close()
			}
			ctx, root := tracer.Start(context.Background(), "flow")
			traceID := root.SpanContext().TraceID().String()
			_, child := tracer.Start(ctx, "step")
			if subscribed {
				sub = s.Subscribe(traceID)
				defer sub.Close()
				snap, found := sub.Snapshot()
				if !found || len(snap.Spans) != 2 {
					t.Fatalf("snapshot found=%v with %d spans, want both running spans", found, len(snap.Spans))
				}
			}
			want := view{Spans: map[string]float64{"flow": 0, "step": 0}, Listed: true, Stats: 2, EndTimeP: true}
			if diff := cmp.Diff(want, read(s, traceID)); diff != "" {
				t.Errorf("while running (-want +got):\n%s", diff)
			}
			child.End()
			want.Spans["step"] = 1
			if diff := cmp.Diff(want, read(s, traceID)); diff != "" {
				t.Errorf("after the step ended (-want +got):\n%s", diff)
			}
			root.End()
			want.Spans["flow"] = 1
			if diff := cmp.Diff(want, read(s, traceID)); diff != "" {
				t.Errorf("after the flow ended (-want +got):\n%s", diff)
			}
			if sub != nil {
				var got []string
				for len(sub.Events()) > 0 {
					e := <-sub.Events()
					got = append(got, string(e.Type)+" "+e.Span.DisplayName)
				}
				// An ended span is broadcast as a start and an end, as the
				// telemetry server does.
				want := []string{"span_start step", "span_end step", "span_start flow", "span_end flow"}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("events after the snapshot (-want +got):\n%s", diff)
				}
			}
		})
	}
}

// TestEvictedTracesReleased checks that evicted traces do not stay
// reachable from the list index when nobody lists: the index stays within
// a bound of the stored traces however many traces went through.
func TestEvictedTracesReleased(t *testing.T) {
	s := New(&Options{MaxTraces: 10})
	tracer := newProvider(t, s)
	for range 5000 {
		_, root := tracer.Start(context.Background(), "flow")
		root.End()
	}
	s.mu.Lock()
	indexed, stored := len(s.indexed), len(s.traces)
	s.mu.Unlock()
	if stored != 10 || indexed > stored+65 {
		t.Errorf("%d traces stored, %d indexed; want 10 stored and at most 75 indexed", stored, indexed)
	}
	if got := len(s.List(Query{Limit: 100}).Traces); got != 10 {
		t.Errorf("List returned %d traces, want 10", got)
	}
}
