package traceexport

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"

	"github.com/genkit-runtime/genkit-runtime/tracestore"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// recorder is a telemetry server that validates and records every POST.
type recorder struct {
	srv *httptest.Server
	// arrived receives a value as each request arrives.
	arrived chan struct{}
	// hold, when set, is called with the 1-based request number and
	// returns a channel the handler waits on before answering (nil: no
	// wait).
	hold   func(n int) <-chan struct{}
	status int

	mu    sync.Mutex // guards posts, errs and n
	posts []tracestore.TraceData
	errs  []string
	n     int
}

func newRecorder(t *testing.T) *recorder {
	t.Helper()
	r := &recorder{arrived: make(chan struct{}, 1000), status: http.StatusOK}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *recorder) serve(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	r.n++
	n := r.n
	r.mu.Unlock()
	r.arrived <- struct{}{}
	if r.hold != nil {
		if ch := r.hold(n); ch != nil {
			select {
			case <-ch:
			case <-req.Context().Done():
				return
			}
		}
	}
	body, err := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case err != nil:
		r.errs = append(r.errs, err.Error())
	case req.Method != http.MethodPost || req.URL.Path != "/api/traces":
		r.errs = append(r.errs, "unexpected "+req.Method+" "+req.URL.Path)
	case req.Header.Get("Content-Type") != "application/json":
		r.errs = append(r.errs, "Content-Type "+req.Header.Get("Content-Type"))
	default:
		td, err := tracestore.DecodeTraceData(body)
		if err != nil {
			r.errs = append(r.errs, "invalid TraceData: "+err.Error())
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.posts = append(r.posts, td)
	}
	w.WriteHeader(r.status)
	_, _ = io.WriteString(w, "OK")
}

// snapshot returns the recorded posts and fails the test on any invalid
// request.
func (r *recorder) snapshot(t *testing.T) []tracestore.TraceData {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.errs {
		t.Errorf("recorder: %s", e)
	}
	return append([]tracestore.TraceData(nil), r.posts...)
}

// spanState is one span state as received.
type spanState struct {
	Name    string
	Ended   bool
	Post    int
	TraceID string
}

func states(posts []tracestore.TraceData) []spanState {
	var out []spanState
	for i, td := range posts {
		for _, sd := range td.Spans {
			out = append(out, spanState{Name: sd.DisplayName, Ended: sd.EndTime > 0, Post: i, TraceID: td.TraceID})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Post != out[j].Post {
			return out[i].Post < out[j].Post
		}
		return out[i].Name < out[j].Name
	})
	return out
}

func newTracer(t *testing.T, exp *Exporter) trace.Tracer {
	t.Helper()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(exp))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = tp.Shutdown(ctx) // shuts the exporter down too
	})
	return tp.Tracer("genkit-tracer", trace.WithInstrumentationVersion("v1"))
}

// noStall turns off the stall timeout in tests that check that FlushTrace
// waits for every span: on a loaded machine a healthy post may take longer
// than DefaultStallTimeout, after which FlushTrace stops waiting by design.
const noStall = -1

func flushCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestExportOnEnd(t *testing.T) {
	rec := newRecorder(t)
	exp := New(&Options{URL: rec.srv.URL, StallTimeout: noStall})
	tracer := newTracer(t, exp)

	ctx, root := tracer.Start(context.Background(), "flow")
	_, a := tracer.Start(ctx, "a")
	a.End()
	_, b := tracer.Start(ctx, "b")
	b.SetStatus(codes.Error, "boom")
	b.End()
	root.End()
	traceID := root.SpanContext().TraceID().String()
	if err := exp.FlushTrace(flushCtx(t), traceID); err != nil {
		t.Fatal(err)
	}

	posts := rec.snapshot(t)
	var got []spanState
	for _, s := range states(posts) {
		s.Post = 0 // batching depends on timing here
		got = append(got, s)
	}
	sort.Slice(got, func(i, j int) bool { return got[i].Name < got[j].Name })
	want := []spanState{{"a", true, 0, traceID}, {"b", true, 0, traceID}, {"flow", true, 0, traceID}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("exported span states (-want +got):\n%s", diff)
	}
	for _, td := range posts {
		_, hasRoot := td.Spans[root.SpanContext().SpanID().String()]
		if hasRoot != (td.DisplayName != nil) {
			t.Errorf("trace-level fields set = %v in a batch with root = %v", td.DisplayName != nil, hasRoot)
		}
		for _, sd := range td.Spans {
			if sd.DisplayName == "b" && (sd.Status == nil || sd.Status.Code != 2 || sd.Status.Message != "boom") {
				t.Errorf("error span status = %+v", sd.Status)
			}
		}
	}
	if st := exp.Stats(); st.SentSpans != 3 || st.Failures != 0 || st.Queued != 0 {
		t.Errorf("Stats = %+v", st)
	}
}

func TestRealtimeSendsStartBeforeEnd(t *testing.T) {
	rec := newRecorder(t)
	exp := New(&Options{URL: rec.srv.URL, Realtime: true, StallTimeout: noStall})
	tracer := newTracer(t, exp)

	ctx, root := tracer.Start(context.Background(), "flow")
	traceID := root.SpanContext().TraceID().String()
	if err := exp.FlushTrace(flushCtx(t), traceID); err != nil {
		t.Fatal(err)
	}
	posts := rec.snapshot(t)
	if len(posts) != 1 {
		t.Fatalf("%d posts before the root ended, want 1", len(posts))
	}
	rootSD := posts[0].Spans[root.SpanContext().SpanID().String()]
	if rootSD.EndTime != 0 || posts[0].EndTime == nil || *posts[0].EndTime != 0 {
		t.Errorf("running root exported with endTime %v (trace %v), want 0", rootSD.EndTime, posts[0].EndTime)
	}

	_, child := tracer.Start(ctx, "child")
	if err := exp.FlushTrace(flushCtx(t), traceID); err != nil {
		t.Fatal(err)
	}
	child.End()
	root.End()
	if err := exp.FlushTrace(flushCtx(t), traceID); err != nil {
		t.Fatal(err)
	}

	// Each span: one start state then one end state, never duplicated.
	seen := map[spanState]int{}
	var order []spanState
	for _, s := range states(rec.snapshot(t)) {
		key := spanState{Name: s.Name, Ended: s.Ended, TraceID: s.TraceID}
		seen[key]++
		order = append(order, key)
	}
	for key, n := range seen {
		if n != 1 {
			t.Errorf("span state %+v sent %d times", key, n)
		}
	}
	for _, name := range []string{"flow", "child"} {
		start, end := -1, -1
		for i, s := range order {
			if s.Name == name && !s.Ended {
				start = i
			}
			if s.Name == name && s.Ended {
				end = i
			}
		}
		if start < 0 || end < 0 || start > end {
			t.Errorf("%s: start at %d, end at %d; want both, start first", name, start, end)
		}
	}
}

func TestCoalesceAndBatch(t *testing.T) {
	rec := newRecorder(t)
	release := make(chan struct{})
	rec.hold = func(n int) <-chan struct{} {
		if n == 1 {
			return release
		}
		return nil
	}
	exp := New(&Options{URL: rec.srv.URL, Realtime: true, StallTimeout: noStall})
	tracer := newTracer(t, exp)

	// The first post (another trace) holds the sender.
	_, blocker := tracer.Start(context.Background(), "blocker")
	<-rec.arrived

	ctx, root := tracer.Start(context.Background(), "flow")
	for _, name := range []string{"a", "b", "c"} {
		_, s := tracer.Start(ctx, name)
		s.End()
	}
	root.End()
	close(release)
	blocker.End()

	traceID := root.SpanContext().TraceID().String()
	if err := exp.FlushTrace(flushCtx(t), traceID); err != nil {
		t.Fatal(err)
	}
	var got []spanState
	for _, td := range rec.snapshot(t) {
		if td.TraceID == traceID {
			for _, sd := range td.Spans {
				got = append(got, spanState{Name: sd.DisplayName, Ended: sd.EndTime > 0})
			}
		}
	}
	sort.Slice(got, func(i, j int) bool { return got[i].Name < got[j].Name })
	want := []spanState{{Name: "a", Ended: true}, {Name: "b", Ended: true}, {Name: "c", Ended: true}, {Name: "flow", Ended: true}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("span states of the queued trace (-want +got):\n%s", diff)
	}
	if st := exp.Stats(); st.Coalesced != 4 || st.Posts < 2 {
		t.Errorf("Stats = %+v, want 4 coalesced", st)
	}
	posts := 0
	for _, td := range rec.snapshot(t) {
		if td.TraceID == traceID {
			posts++
		}
	}
	if posts != 1 {
		t.Errorf("queued trace sent in %d posts, want 1", posts)
	}
}

func TestSetURL(t *testing.T) {
	a, b := newRecorder(t), newRecorder(t)
	exp := New(&Options{StallTimeout: noStall})
	tracer := newTracer(t, exp)
	if exp.URL() != "" {
		t.Fatalf("URL() = %q, want empty", exp.URL())
	}
	run := func(name string) string {
		_, s := tracer.Start(context.Background(), name)
		s.End()
		id := s.SpanContext().TraceID().String()
		if err := exp.FlushTrace(flushCtx(t), id); err != nil {
			t.Fatal(err)
		}
		return id
	}
	run("disabled")
	exp.SetURL(a.srv.URL)
	run("toA")
	exp.SetURL(b.srv.URL + "/")
	run("toB")
	exp.SetURL("")
	run("disabledAgain")

	names := func(r *recorder) []string {
		var out []string
		for _, s := range states(r.snapshot(t)) {
			out = append(out, s.Name)
		}
		return out
	}
	if diff := cmp.Diff([]string{"toA"}, names(a)); diff != "" {
		t.Errorf("server A (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"toB"}, names(b)); diff != "" {
		t.Errorf("server B (-want +got):\n%s", diff)
	}
}

func TestClearingURLDiscardsQueued(t *testing.T) {
	rec := newRecorder(t)
	release := make(chan struct{})
	rec.hold = func(int) <-chan struct{} { return release }
	exp := New(&Options{URL: rec.srv.URL})
	tracer := newTracer(t, exp)

	_, first := tracer.Start(context.Background(), "first")
	first.End()
	<-rec.arrived
	_, second := tracer.Start(context.Background(), "second")
	second.End()
	exp.SetURL("")
	close(release)
	if err := exp.FlushTrace(flushCtx(t), second.SpanContext().TraceID().String()); err != nil {
		t.Fatal(err)
	}
	if st := exp.Stats(); st.Discarded != 1 || st.SentSpans != 1 {
		t.Errorf("Stats = %+v, want 1 sent and 1 discarded", st)
	}
}

func TestDeadServer(t *testing.T) {
	dead := httptest.NewServer(http.NotFoundHandler())
	url := dead.URL
	dead.Close() // nothing listens there now

	exp := New(&Options{URL: url})
	tracer := newTracer(t, exp)
	_, s := tracer.Start(context.Background(), "lost")
	s.End()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := exp.FlushTrace(ctx, s.SpanContext().TraceID().String()); err != nil {
		t.Fatalf("FlushTrace = %v; a refused connection should fail fast", err)
	}
	if st := exp.Stats(); st.Failures != 1 || st.FailedSpans != 1 {
		t.Errorf("Stats = %+v, want 1 failure", st)
	}
}

func TestErrorStatusCounted(t *testing.T) {
	rec := newRecorder(t)
	rec.status = http.StatusInternalServerError
	exp := New(&Options{URL: rec.srv.URL})
	tracer := newTracer(t, exp)
	_, s := tracer.Start(context.Background(), "x")
	s.End()
	if err := exp.FlushTrace(flushCtx(t), s.SpanContext().TraceID().String()); err != nil {
		t.Fatal(err)
	}
	if st := exp.Stats(); st.Failures != 1 || st.Posts != 0 {
		t.Errorf("Stats = %+v, want 1 failure", st)
	}
}

func TestHangingServer(t *testing.T) {
	rec := newRecorder(t)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) }) // runs before the server closes
	rec.hold = func(int) <-chan struct{} { return release }
	exp := New(&Options{URL: rec.srv.URL, QueueSize: 10, Timeout: time.Minute})
	tracer := newTracer(t, exp)

	_, s := tracer.Start(context.Background(), "stuck")
	s.End()
	<-rec.arrived

	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err := exp.FlushTrace(ctx, s.SpanContext().TraceID().String())
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("FlushTrace = %v, want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("FlushTrace held the caller for %v", d)
	}

	// Spans keep coming without blocking; the overflow is dropped.
	for range 50 {
		_, s := tracer.Start(context.Background(), "more")
		s.End()
	}
	if st := exp.Stats(); st.Dropped != 40 || st.Queued != 10 {
		t.Errorf("Stats = %+v, want 10 queued and 40 dropped", st)
	}

	start = time.Now()
	ctx, cancel = context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := exp.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Shutdown = %v, want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Shutdown took %v", d)
	}
	if st := exp.Stats(); st.Discarded != 10 || st.Failures != 1 {
		t.Errorf("Stats after Shutdown = %+v, want the in-flight post failed and 10 discarded", st)
	}
	if err := exp.Shutdown(context.Background()); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("second Shutdown = %v, want the first result", err)
	}
}

func TestRequestTimeout(t *testing.T) {
	rec := newRecorder(t)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	rec.hold = func(int) <-chan struct{} { return release }
	exp := New(&Options{URL: rec.srv.URL, Timeout: 50 * time.Millisecond})
	tracer := newTracer(t, exp)
	_, s := tracer.Start(context.Background(), "slow")
	s.End()
	if err := exp.FlushTrace(flushCtx(t), s.SpanContext().TraceID().String()); err != nil {
		t.Fatalf("FlushTrace = %v; the post should have timed out", err)
	}
	if st := exp.Stats(); st.Failures != 1 {
		t.Errorf("Stats = %+v, want 1 failure", st)
	}
}

func TestShutdownDrainsAndStops(t *testing.T) {
	rec := newRecorder(t)
	exp := New(&Options{URL: rec.srv.URL})
	tracer := newTracer(t, exp)
	for range 5 {
		_, s := tracer.Start(context.Background(), "s")
		s.End()
	}
	if err := exp.Shutdown(flushCtx(t)); err != nil {
		t.Fatal(err)
	}
	if n := len(states(rec.snapshot(t))); n != 5 {
		t.Errorf("sent %d spans before Shutdown returned, want 5", n)
	}
	_, late := tracer.Start(context.Background(), "late")
	late.End()
	exp.SetURL(rec.srv.URL) // does not revive a stopped exporter
	_, later := tracer.Start(context.Background(), "later")
	later.End()
	if st := exp.Stats(); st.Enqueued != 5 {
		t.Errorf("Enqueued = %d after Shutdown, want 5", st.Enqueued)
	}
	if err := exp.FlushTrace(flushCtx(t), late.SpanContext().TraceID().String()); err != nil {
		t.Error(err)
	}
	if err := exp.ForceFlush(flushCtx(t)); err != nil {
		t.Error(err)
	}
}

func TestForceFlush(t *testing.T) {
	rec := newRecorder(t)
	exp := New(&Options{URL: rec.srv.URL})
	tracer := newTracer(t, exp)
	for range 3 {
		_, s := tracer.Start(context.Background(), "s")
		s.End()
	}
	if err := exp.ForceFlush(flushCtx(t)); err != nil {
		t.Fatal(err)
	}
	if n := len(rec.snapshot(t)); n != 3 {
		t.Errorf("%d posts after ForceFlush, want 3 (one per trace)", n)
	}
}

// TestConcurrentSafeExporter runs spans, flushes and re-pointing at once;
// run it with -race.
func TestConcurrentSafeExporter(t *testing.T) {
	a, b := newRecorder(t), newRecorder(t)
	exp := New(&Options{URL: a.srv.URL, Realtime: true, QueueSize: 64})
	tracer := newTracer(t, exp)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 30 {
				ctx, root := tracer.Start(context.Background(), "root")
				_, c := tracer.Start(ctx, "child")
				c.End()
				root.End()
				if i%5 == 0 {
					fctx, cancel := context.WithTimeout(context.Background(), time.Second)
					_ = exp.FlushTrace(fctx, root.SpanContext().TraceID().String())
					cancel()
				}
			}
		})
		wg.Go(func() {
			for i := range 10 {
				if (i+w)%2 == 0 {
					exp.SetURL(a.srv.URL)
				} else {
					exp.SetURL(b.srv.URL)
				}
				exp.Stats()
			}
		})
	}
	wg.Wait()
	if err := exp.ForceFlush(flushCtx(t)); err != nil {
		t.Fatal(err)
	}
	st := exp.Stats()
	if got := st.SentSpans + st.FailedSpans + st.Discarded + uint64(st.Queued); got != st.Enqueued-st.Coalesced {
		t.Errorf("Stats = %+v: sent+failed+discarded+queued = %d, want enqueued-coalesced", st, got)
	}
	a.snapshot(t)
	b.snapshot(t)
}
