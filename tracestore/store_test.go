package tracestore

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const tid = "trace1"

func TestIngestMerge(t *testing.T) {
	rootStart := span(tid, "root", "", 10, 0, map[string]any{"genkit:type": "action"})
	rootEnd := span(tid, "root", "", 10, 50, map[string]any{"genkit:type": "action", "genkit:state": "success"})
	child := span(tid, "child", "root", 20, 30, nil)
	childStart := span(tid, "child", "root", 20, 0, nil)

	tests := []struct {
		name    string
		batches []TraceData
		want    TraceData
	}{
		{
			name:    "end replaces start",
			batches: []TraceData{batch(tid, rootStart), batch(tid, rootEnd)},
			want: TraceData{TraceID: tid, DisplayName: ptr("root"), StartTime: ptr(10.0), EndTime: ptr(50.0),
				Spans: map[string]SpanData{"root": rootEnd}},
		},
		{
			name:    "stale start after end is ignored",
			batches: []TraceData{batch(tid, child), batch(tid, childStart)},
			want:    TraceData{TraceID: tid, Spans: map[string]SpanData{"child": child}},
		},
		{
			name: "trace fields kept when a later batch has none",
			batches: []TraceData{
				batch(tid, rootEnd),
				{TraceID: tid, Spans: map[string]SpanData{"child": child}},
			},
			want: TraceData{TraceID: tid, DisplayName: ptr("root"), StartTime: ptr(10.0), EndTime: ptr(50.0),
				Spans: map[string]SpanData{"root": rootEnd, "child": child}},
		},
		{
			name: "trace fields overwritten when defined, even by a child batch",
			batches: []TraceData{
				batch(tid, rootEnd),
				{TraceID: tid, DisplayName: ptr(""), StartTime: ptr(0.0), EndTime: ptr(0.0), Spans: map[string]SpanData{"child": child}},
			},
			want: TraceData{TraceID: tid, DisplayName: ptr(""), StartTime: ptr(0.0), EndTime: ptr(0.0),
				Spans: map[string]SpanData{"root": rootEnd, "child": child}},
		},
		{
			name: "prompt spans are dropped and their children promoted",
			batches: []TraceData{
				batch(tid, span(tid, "render", "prompt", 5, 6, nil)),
				batch(tid, span(tid, "prompt", "", 1, 9, map[string]any{"genkit:metadata:subtype": "prompt"})),
			},
			want: TraceData{TraceID: tid, DisplayName: ptr("prompt"), StartTime: ptr(1.0), EndTime: ptr(9.0),
				Spans: map[string]SpanData{"render": span(tid, "render", "", 5, 6, nil)}},
		},
		{
			name: "a lone dev-run-action-wrapper is dropped",
			batches: []TraceData{
				batch(tid, span(tid, "w", "", 1, 2, map[string]any{"genkit:name": "dev-run-action-wrapper"})),
			},
			want: TraceData{TraceID: tid, DisplayName: ptr("w"), StartTime: ptr(1.0), EndTime: ptr(2.0), Spans: map[string]SpanData{}},
		},
		{
			name: "a wrapper with company is kept",
			batches: []TraceData{
				batch(tid, span(tid, "w", "", 1, 2, map[string]any{"genkit:name": "dev-run-action-wrapper"}), child),
			},
			want: TraceData{TraceID: tid, DisplayName: ptr("w"), StartTime: ptr(1.0), EndTime: ptr(2.0), Spans: map[string]SpanData{
				"w":     span(tid, "w", "", 1, 2, map[string]any{"genkit:name": "dev-run-action-wrapper"}),
				"child": child,
			}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(nil)
			mustIngest(t, s, tt.batches...)
			got, ok := s.Get(tid)
			if !ok {
				t.Fatal("trace missing")
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("merged trace (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDropSpansOption(t *testing.T) {
	prompt := span(tid, "p", "", 1, 2, map[string]any{"genkit:metadata:subtype": "prompt"})
	s := New(&Options{DropSpans: map[string]string{}})
	mustIngest(t, s, batch(tid, prompt))
	if got, _ := s.Get(tid); len(got.Spans) != 1 {
		t.Errorf("with an empty DropSpans the prompt span was dropped: %v", got.Spans)
	}
	s = New(&Options{DropSpans: map[string]string{"genkit:type": "util"}})
	mustIngest(t, s, batch(tid, span(tid, "u", "", 1, 2, map[string]any{"genkit:type": "util"}), prompt))
	got, _ := s.Get(tid)
	if _, ok := got.Spans["u"]; ok || len(got.Spans) != 1 {
		t.Errorf("custom DropSpans: spans = %v, want only p", got.Spans)
	}
}

func TestIngestErrors(t *testing.T) {
	s := New(nil)
	if err := s.Ingest(TraceData{}); err == nil {
		t.Error("Ingest with an empty trace id succeeded")
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := s.Ingest(batch(tid, span(tid, "a", "", 1, 2, nil))); err != ErrClosed {
		t.Errorf("Ingest after Shutdown = %v, want ErrClosed", err)
	}
}

func TestReadsAreCopies(t *testing.T) {
	s := New(nil)
	in := batch(tid, span(tid, "root", "", 1, 2, map[string]any{"k": "v", "list": []any{"x"}}))
	mustIngest(t, s, in)
	in.Spans["root"].Attributes["k"] = "caller changed its input"

	got, _ := s.Get(tid)
	got.Spans["root"].Attributes["k"] = "caller changed the result"
	got.Spans["root"].Attributes["list"].([]any)[0] = "y"
	*got.DisplayName = "changed"
	listed := s.List(Query{}).Traces[0]
	listed.Spans["root"].Attributes["k"] = "changed again"

	again, _ := s.Get(tid)
	if diff := cmp.Diff(map[string]any{"k": "v", "list": []any{"x"}}, again.Spans["root"].Attributes); diff != "" {
		t.Errorf("store changed through a returned value (-want +got):\n%s", diff)
	}
	if *again.DisplayName != "root" {
		t.Errorf("displayName changed to %q", *again.DisplayName)
	}
}

func TestEvictionByCount(t *testing.T) {
	var logs bytes.Buffer
	s := New(&Options{MaxTraces: 3, Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	for i := range 5 {
		id := fmt.Sprintf("t%d", i)
		mustIngest(t, s, batch(id, span(id, "root", "", float64(i), float64(i)+1, nil)))
	}
	st := s.Stats()
	if st.Traces != 3 || st.Spans != 3 || st.EvictedTraces != 2 {
		t.Errorf("Stats = %+v, want 3 traces, 3 spans, 2 evicted", st)
	}
	for i, want := range []bool{false, false, true, true, true} {
		if _, ok := s.Get(fmt.Sprintf("t%d", i)); ok != want {
			t.Errorf("t%d present = %v, want %v", i, ok, want)
		}
	}
	if got := len(s.List(Query{}).Traces); got != 3 {
		t.Errorf("List after eviction: %d traces, want 3", got)
	}
	if n := strings.Count(logs.String(), "trace evicted"); n != 2 {
		t.Errorf("logged %d evictions, want 2:\n%s", n, logs.String())
	}
}

func TestEvictionFirstSeenOrder(t *testing.T) {
	// An old trace that keeps receiving spans is still the oldest.
	s := New(&Options{MaxTraces: 2})
	mustIngest(t, s,
		batch("a", span("a", "root", "", 1, 0, nil)),
		batch("b", span("b", "root", "", 2, 3, nil)),
		batch("a", span("a", "child", "root", 4, 5, nil)),
		batch("c", span("c", "root", "", 6, 7, nil)),
	)
	if _, ok := s.Get("a"); ok {
		t.Error("trace a (first seen) survived; want it evicted")
	}
	for _, id := range []string{"b", "c"} {
		if _, ok := s.Get(id); !ok {
			t.Errorf("trace %s evicted", id)
		}
	}
}

func TestEvictionByBytes(t *testing.T) {
	big := strings.Repeat("x", 10_000)
	one := spanSize(ptr(span("t0", "root", "", 1, 2, map[string]any{"big": big}))) + traceOverhead
	s := New(&Options{MaxBytes: 3*one + one/2})
	for i := range 5 {
		id := fmt.Sprintf("t%d", i)
		mustIngest(t, s, batch(id, span(id, "root", "", float64(i), float64(i)+1, map[string]any{"big": big})))
	}
	st := s.Stats()
	if st.Traces != 3 || st.EvictedTraces != 2 || st.Bytes != 3*one {
		t.Errorf("Stats = %+v, want 3 traces of %d bytes, 2 evicted", st, one)
	}
	if _, ok := s.Get("t4"); !ok {
		t.Error("newest trace evicted")
	}

	// A single trace larger than the bound does not stay.
	mustIngest(t, s, batch("huge", span("huge", "root", "", 9, 10, map[string]any{"big": strings.Repeat("y", 100_000)})))
	if _, ok := s.Get("huge"); ok {
		t.Error("a trace larger than MaxBytes on its own was kept")
	}
	if st := s.Stats(); st.Traces != 0 || st.Bytes != 0 || st.Spans != 0 {
		t.Errorf("Stats after the oversized trace = %+v, want empty", st)
	}
}

func TestEvictionKeepsTraceBeingWritten(t *testing.T) {
	big := strings.Repeat("x", 10_000)
	one := spanSize(ptr(span("a", "s0", "", 1, 2, map[string]any{"big": big})))
	s := New(&Options{MaxBytes: 3*one + 2*traceOverhead})
	mustIngest(t, s, batch("a", span("a", "s0", "", 1, 2, map[string]any{"big": big})))
	mustIngest(t, s, batch("b", span("b", "s0", "", 1, 2, map[string]any{"big": big})))
	// Trace a grows past the bound: b, not a, is evicted although a is older.
	mustIngest(t, s, batch("a", span("a", "s1", "s0", 1, 2, map[string]any{"big": big})))
	mustIngest(t, s, batch("a", span("a", "s2", "s0", 1, 2, map[string]any{"big": big})))
	if _, ok := s.Get("b"); ok {
		t.Error("trace b survived")
	}
	if got, ok := s.Get("a"); !ok || len(got.Spans) != 3 {
		t.Errorf("trace a = %v, %v; want 3 spans", ok, len(got.Spans))
	}
}

func TestStatsBytesTrackReplacement(t *testing.T) {
	s := New(nil)
	mustIngest(t, s, batch(tid, span(tid, "root", "", 1, 0, nil)))
	before := s.Stats().Bytes
	mustIngest(t, s, batch(tid, span(tid, "root", "", 1, 2, map[string]any{"genkit:output": strings.Repeat("o", 1000)})))
	after := s.Stats()
	if after.Spans != 1 {
		t.Errorf("Spans = %d after replacing a span, want 1", after.Spans)
	}
	if after.Bytes-before < 1000 {
		t.Errorf("Bytes grew by %d for a 1000-byte attribute", after.Bytes-before)
	}
}

func TestShutdownHonoursContext(t *testing.T) {
	s := New(nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.ForceFlush(ctx); err != context.Canceled {
		t.Errorf("ForceFlush(cancelled) = %v", err)
	}
	if err := s.Shutdown(ctx); err != context.Canceled {
		t.Errorf("Shutdown(cancelled) = %v", err)
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Errorf("second Shutdown = %v", err)
	}
}

// TestConcurrentSafeStore exercises every entry point at once; run it with
// -race (and -count=100 in CI).
func TestConcurrentSafeStore(t *testing.T) {
	s := New(&Options{MaxTraces: 20, SubscriberBuffer: 4})
	tracer := newProvider(t, s)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 50 {
				id := fmt.Sprintf("w%d-%d", w, i%25)
				mustIngest(t, s, batch(id,
					span(id, "root", "", float64(i), 0, map[string]any{"genkitx:w": w}),
					span(id, fmt.Sprint("c", i), "root", float64(i), float64(i+1), nil)))
			}
		})
		wg.Go(func() {
			for range 50 {
				ctx, root := tracer.Start(context.Background(), "flow")
				_, child := tracer.Start(ctx, "step")
				child.End()
				root.End()
			}
		})
		wg.Go(func() {
			for i := range 50 {
				s.List(Query{Limit: 5, Filter: &Filter{Eq: map[string]any{"genkitx:w": "1"}}})
				s.Get(fmt.Sprintf("w%d-%d", w, i%25))
				s.Stats()
			}
		})
		wg.Go(func() {
			for i := range 20 {
				sub := s.Subscribe(fmt.Sprintf("w%d-%d", w, i%25))
				for range 2 {
					select {
					case <-sub.Events():
					default:
					}
				}
				sub.Close()
			}
		})
	}
	wg.Wait()
	if st := s.Stats(); st.Traces > 20 || st.Subscribers != 0 {
		t.Errorf("Stats = %+v, want at most 20 traces and no subscribers", st)
	}
}

// TestEvictionLoggedAtInfoOnce checks that the first eviction for each
// bound is said at info, with the bound and how to raise it, and the later
// ones are only counted.
func TestEvictionLoggedAtInfoOnce(t *testing.T) {
	var logs bytes.Buffer
	big := strings.Repeat("x", 10_000)
	one := spanSize(ptr(span("t0", "root", "", 1, 2, map[string]any{"big": big}))) + traceOverhead
	s := New(&Options{
		MaxTraces: 50, MaxBytes: 60 * one, MaxTracesName: "--max-traces-flag",
		Logger: slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo})),
	})
	for i := range 100 {
		id := fmt.Sprintf("t%d", i)
		mustIngest(t, s, batch(id, span(id, "root", "", float64(i), float64(i)+1, nil)))
	}
	for i := range 10 {
		id := fmt.Sprintf("big%d", i)
		mustIngest(t, s, batch(id, span(id, "root", "", float64(i), float64(i)+1, map[string]any{"big": big + big + big + big + big + big + big})))
	}
	if st := s.Stats(); st.EvictedTraces < 50 {
		t.Fatalf("Stats = %+v, want at least 50 evicted", st)
	}
	var got []map[string]any
	for line := range strings.Lines(logs.String()) {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatal(err)
		}
		delete(m, "time")
		got = append(got, m)
	}
	want := []map[string]any{
		{"level": "INFO", "msg": "tracestore: the trace store is full; evicting the oldest traces from now on",
			"bound": "max traces", "maxTraces": float64(50), "raiseWith": "--max-traces-flag"},
		{"level": "INFO", "msg": "tracestore: the trace store is full; evicting the oldest traces from now on",
			"bound": "max bytes", "maxBytes": float64(60 * one), "raiseWith": "MaxBytes"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("info logs (-want +got):\n%s", diff)
	}
}

// TestReadSpansOwnTheirStructs checks that each span of a read has its own
// status, sameProcessAsParentSpan and timeEvents, although a read
// allocates them together.
func TestReadSpansOwnTheirStructs(t *testing.T) {
	s := New(nil)
	tracer := newProvider(t, s)
	ctx, root := tracer.Start(context.Background(), "root")
	_, child := tracer.Start(ctx, "child")
	child.End()
	root.End()
	traceID := root.SpanContext().TraceID().String()
	got, _ := s.Get(traceID)
	r, c := got.Spans[root.SpanContext().SpanID().String()], got.Spans[child.SpanContext().SpanID().String()]
	r.Status.Code, r.Status.Message = StatusError, "changed"
	r.SameProcessAsParentSpan.Value = false
	r.TimeEvents.TimeEvent = append(r.TimeEvents.TimeEvent, TimeEvent{Time: 1})
	if c.Status.Code != StatusUnset || !c.SameProcessAsParentSpan.Value || len(c.TimeEvents.TimeEvent) != 0 {
		t.Errorf("changing one span changed another: %+v %+v %+v", c.Status, c.SameProcessAsParentSpan, c.TimeEvents)
	}
	again, _ := s.Get(traceID)
	if a := again.Spans[r.SpanID]; *a.Status != (Status{}) || !a.SameProcessAsParentSpan.Value || len(a.TimeEvents.TimeEvent) != 0 {
		t.Errorf("the store changed through a read: %+v %+v %+v", a.Status, a.SameProcessAsParentSpan, a.TimeEvents)
	}
}
