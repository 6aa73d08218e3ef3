package traceexport

import (
	"context"
	"net/http"
	"testing"
	"time"
)

// TestConcurrentPostsOfDifferentTraces holds the first post and checks
// that, with Concurrency 2, the post of another trace still goes out, and
// that more of the held trace waits for its post to finish.
func TestConcurrentPostsOfDifferentTraces(t *testing.T) {
	rec := newRecorder(t)
	release := make(chan struct{})
	rec.hold = func(n int) <-chan struct{} {
		if n == 1 {
			return release
		}
		return nil
	}
	exp := New(&Options{URL: rec.srv.URL, Concurrency: 2, Realtime: true})
	tracer := newTracer(t, exp)

	ctx, held := tracer.Start(context.Background(), "held")
	<-rec.arrived // the start of "held" is in flight, and held there
	_, child := tracer.Start(ctx, "child")
	child.End()

	_, other := tracer.Start(context.Background(), "other")
	other.End()
	if err := exp.FlushTrace(flushCtx(t), other.SpanContext().TraceID().String()); err != nil {
		t.Fatalf("FlushTrace(other) = %v; its post should not wait for the held one", err)
	}
	// The other trace is at the sink, ended (its start went out on its own
	// or with its end, depending on when the sender picked it up), while
	// the child of the held trace waits behind the held post.
	if st := exp.Stats(); st.Queued != 1 {
		t.Errorf("Stats while held = %+v, want the child queued behind the held post", st)
	}
	otherEnded := false
	for _, s := range states(rec.snapshot(t)) {
		if s.TraceID == other.SpanContext().TraceID().String() && s.Ended {
			otherEnded = true
		}
		if s.TraceID == held.SpanContext().TraceID().String() {
			t.Errorf("a post of the held trace completed while held: %+v", s)
		}
	}
	if !otherEnded {
		t.Error("the other trace's ended span is not at the sink while the held post is in flight")
	}
	// The held span ends while its start is still in flight, so that its
	// end and the child's are both queued when the held post finishes and
	// leave together in the second post, whenever the sender runs.
	held.End()
	close(release)
	if err := exp.FlushTrace(flushCtx(t), held.SpanContext().TraceID().String()); err != nil {
		t.Fatal(err)
	}
	posts := 0
	for _, td := range rec.snapshot(t) {
		if td.TraceID == held.SpanContext().TraceID().String() {
			posts++
		}
	}
	if posts != 2 {
		t.Errorf("held trace sent in %d posts, want 2 (its start, then the rest)", posts)
	}
}

// TestLinger checks that a start state waits up to Linger: a span that
// ends meanwhile is sent once, a span still running is sent after Linger,
// and a FlushTrace sends at once.
func TestLinger(t *testing.T) {
	tests := []struct {
		name   string
		linger time.Duration
		// run starts a span, does what the case is about and returns the
		// trace ID to flush (empty: do not flush).
		run         func(t *testing.T, exp *Exporter, rec *recorder, start func() (end func(), traceID string)) string
		wantPosts   int
		wantEnded   []bool // per post, of its single span
		wantCoalesc uint64
	}{
		{
			name:   "ended within the linger: one post",
			linger: time.Hour,
			run: func(t *testing.T, exp *Exporter, rec *recorder, start func() (func(), string)) string {
				end, id := start()
				end()
				return id
			},
			wantPosts: 1, wantEnded: []bool{true}, wantCoalesc: 1,
		},
		{
			name:   "running past the linger: start sent on its own",
			linger: 20 * time.Millisecond,
			run: func(t *testing.T, exp *Exporter, rec *recorder, start func() (func(), string)) string {
				end, id := start()
				select {
				case <-rec.arrived:
				case <-time.After(5 * time.Second):
					t.Fatal("the start state was not sent after the linger")
				}
				end()
				return id
			},
			wantPosts: 2, wantEnded: []bool{false, true},
		},
		{
			name:   "FlushTrace does not wait for the linger",
			linger: time.Hour,
			run: func(t *testing.T, exp *Exporter, rec *recorder, start func() (func(), string)) string {
				end, id := start()
				if err := exp.FlushTrace(flushCtx(t), id); err != nil {
					t.Fatal(err)
				}
				end()
				return id
			},
			wantPosts: 2, wantEnded: []bool{false, true},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := newRecorder(t)
			exp := New(&Options{URL: rec.srv.URL, Realtime: true, Linger: tt.linger})
			tracer := newTracer(t, exp)
			start := func() (func(), string) {
				_, s := tracer.Start(context.Background(), "flow")
				return func() { s.End() }, s.SpanContext().TraceID().String()
			}
			id := tt.run(t, exp, rec, start)
			if err := exp.FlushTrace(flushCtx(t), id); err != nil {
				t.Fatal(err)
			}
			posts := rec.snapshot(t)
			if len(posts) != tt.wantPosts {
				t.Fatalf("%d posts, want %d", len(posts), tt.wantPosts)
			}
			for i, td := range posts {
				for _, sd := range td.Spans {
					if ended := sd.EndTime > 0; ended != tt.wantEnded[i] {
						t.Errorf("post %d: ended = %v, want %v", i, ended, tt.wantEnded[i])
					}
				}
			}
			if st := exp.Stats(); st.Coalesced != tt.wantCoalesc {
				t.Errorf("Coalesced = %d, want %d", st.Coalesced, tt.wantCoalesc)
			}
		})
	}
}

// TestFlushStopsWaitingForAnUnhealthyServer checks that FlushTrace returns
// nil well before its context ends when the server hangs past the stall
// timeout, or after a post failed.
func TestFlushStopsWaitingForAnUnhealthyServer(t *testing.T) {
	tests := []struct {
		name  string
		stall time.Duration
		// first answers the first post; later posts hang.
		firstStatus int
	}{
		{name: "stalled post", stall: 50 * time.Millisecond, firstStatus: 0},
		{name: "failed post", stall: time.Hour, firstStatus: http.StatusInternalServerError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := newRecorder(t)
			release := make(chan struct{})
			t.Cleanup(func() { close(release) }) // runs before the server closes
			rec.hold = func(n int) <-chan struct{} {
				if n == 1 && tt.firstStatus != 0 {
					return nil
				}
				return release
			}
			if tt.firstStatus != 0 {
				rec.status = tt.firstStatus
			}
			exp := New(&Options{URL: rec.srv.URL, StallTimeout: tt.stall, Timeout: time.Minute, Concurrency: 2})
			tracer := newTracer(t, exp)
			if tt.firstStatus != 0 {
				_, s := tracer.Start(context.Background(), "fails")
				s.End()
				if err := exp.FlushTrace(flushCtx(t), s.SpanContext().TraceID().String()); err != nil {
					t.Fatal(err)
				}
				if st := exp.Stats(); st.Failures != 1 {
					t.Fatalf("Stats = %+v, want the first post failed", st)
				}
			}
			_, s := tracer.Start(context.Background(), "stuck")
			s.End()
			begin := time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := exp.FlushTrace(ctx, s.SpanContext().TraceID().String()); err != nil {
				t.Fatalf("FlushTrace = %v, want nil once the server is unhealthy", err)
			}
			if d := time.Since(begin); d > 5*time.Second {
				t.Errorf("FlushTrace held the caller for %v", d)
			}
			ctx, cancel = context.WithTimeout(context.Background(), 100*time.Millisecond)
			defer cancel()
			_ = exp.Shutdown(ctx) // the hanging post is abandoned
		})
	}
}
